/* topic_change.h */
#include "topic_change.h"

#include <assert.h>
#include <string.h>

#include "diag.h"
#include "partition.h"
#include "partition_table.h"
#include "replica_group.h"
#include "server.h"
#include "shard.h"

static void change_end(struct topic_change *c, int status, const char *message)
{
    c->status = status;
    c->message = message;
    c->done(c);
}

static struct topic_change *change_of(struct topic_fanout *f)
{
    return rl_container_of(f, struct topic_change, fan);
}

/* ------------------------------------------------------------- configs */

static bool config_run(struct topic_fanout *f, struct shard *owner, uint32_t partition)
{
    struct partition *p = partition_table_find(owner->parts, f->topic->name, partition);
    return p == NULL || partition_apply_config(p, &f->topic->config) == PARTITION_OK;
}

static void config_applied(struct topic_fanout *f)
{
    struct topic_change *c = change_of(f);
    if (f->failed)
        change_end(c, -1, "the storage engine refused the config on some partitions");
    else
        change_end(c, 0, NULL);
}

void topic_change_config(struct topic_change *c, const struct topic_info *t,
                         const struct topic_config *cfg)
{
    struct server *srv = shard_current()->srv;
    assert(shard_current()->loop.id == 0);
    char err[512];
    struct topic_info *next = topic_info_next(t, t->partitions);
    if (!next) {
        change_end(c, -1, "out of memory");
        return;
    }
    next->config = *cfg;
    if (topic_registry_replace(&srv->topics, next, err, sizeof(err)) != 0) {
        DIAG_ERROR("cannot publish the config of %s: %s", t->name, err);
        topic_info_free(next);
        change_end(c, -1, "cannot write the topic table");
        return;
    }
    DIAG_INFO("topic %s: config changed", next->name);
    c->fan = (struct topic_fanout){.topic = next, .run = config_run, .done = config_applied};
    topic_fanout_start(&c->fan, 0, next->partitions);
}

/* ---------------------------------------------------------- partitions */

static bool holds_replica(const struct topic_info *t, uint32_t p, int32_t self)
{
    if (!t->replicas)
        return true;
    for (uint32_t i = 0; i < t->replication_factor; i++)
        if (t->replicas[(size_t)p * t->replication_factor + i] == self)
            return true;
    return false;
}

/* A new partition, opened (and made a replica of its group on a cluster). */
static bool open_new(struct topic_change *c, struct shard *owner, uint32_t index)
{
    const struct topic_info *t = c->next;
    char err[512];
    struct partition *p = partition_open(owner, t, index, err, sizeof(err));
    if (p && t->replicas) {
        struct rg_membership m = {.voter_count = t->replication_factor};
        for (uint32_t i = 0; i < t->replication_factor; i++)
            m.voters[i] = t->replicas[(size_t)index * t->replication_factor + i];
        if (partition_replicate(p, t->id, &m, c->new_group, err, sizeof(err)) != 0) {
            partition_close(p);
            p = NULL;
        }
    }
    if (!p) {
        DIAG_ERROR("cannot open new partition %s-%u: %s", t->name, index, err);
        return false;
    }
    partition_table_add(owner->parts, p);
    return true;
}

/* Old partitions point at the new version's stats; new ones open. */
static bool partitions_run(struct topic_fanout *f, struct shard *owner, uint32_t index)
{
    struct topic_change *c = change_of(f);
    struct partition *p = partition_table_find(owner->parts, f->topic->name, index);
    if (index >= c->old_partitions)
        return p != NULL || !holds_replica(c->next, index, owner->srv->cfg.node_id) ||
               open_new(c, owner, index);
    if (p)
        partition_set_stats(p, &c->next->stats[index]);
    return true;
}

static void partitions_opened(struct topic_fanout *f)
{
    struct topic_change *c = change_of(f);
    struct server *srv = shard_current()->srv;
    char err[512];
    /* Old partitions write into next's stats now: publish it whatever failed. */
    if (topic_registry_replace(&srv->topics, c->next, err, sizeof(err)) != 0) {
        DIAG_ERROR("cannot publish %u partitions of %s: %s (restart to retry)", c->next->partitions,
                   c->next->name, err);
        change_end(c, -1, "cannot write the topic table");
        return; /* next stays allocated: the partitions point into it */
    }
    DIAG_INFO("topic %s now has %u partitions", c->next->name, c->next->partitions);
    if (f->failed)
        change_end(c, -1, "some new partitions could not be opened (see the broker's log)");
    else
        change_end(c, 0, NULL);
}

void topic_change_partitions(struct topic_change *c, const struct topic_info *t, uint32_t count,
                             const int32_t *replicas, bool new_group)
{
    assert(count > t->partitions);
    assert(shard_current()->loop.id == 0);
    c->next = topic_info_next(t, count);
    if (!c->next) {
        change_end(c, -1, "out of memory");
        return;
    }
    if (replicas && c->next->replicas)
        memcpy(c->next->replicas + (size_t)t->partitions * t->replication_factor, replicas,
               (size_t)(count - t->partitions) * t->replication_factor * sizeof(int32_t));
    c->old_partitions = t->partitions;
    c->new_group = new_group;
    c->fan =
        (struct topic_fanout){.topic = c->next, .run = partitions_run, .done = partitions_opened};
    topic_fanout_start(&c->fan, 0, count);
}

/* -------------------------------------------------------- records start */

static bool start_run(struct topic_fanout *f, struct shard *owner, uint32_t index)
{
    struct partition *p = partition_table_find(owner->parts, f->topic->name, index);
    if (p)
        partition_records_start_target(p, change_of(f)->start_offset);
    return true;
}

static void start_set(struct topic_fanout *f)
{
    change_end(change_of(f), 0, NULL);
}

void topic_change_records_start(struct topic_change *c, const struct topic_info *t,
                                uint32_t partition, int64_t offset)
{
    assert(partition < t->partitions && offset >= 0);
    c->start_offset = offset;
    c->fan = (struct topic_fanout){.topic = t, .run = start_run, .done = start_set};
    topic_fanout_start(&c->fan, partition, partition + 1);
}
