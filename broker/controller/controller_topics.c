/*
 * Topic admin on a cluster (docs/REPLICATION.md "Controller"): AlterConfigs,
 * CreatePartitions and DeleteRecords become ClusterRecords (20..29 of its
 * oneof) proposed on the metadata leader, and are applied in log order on
 * every broker here, through the same topic_change a single broker uses.
 *
 * A record names its topic by name and id: a topic deleted and created
 * again under the name before the record is applied is another topic, and
 * the record is skipped.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "controller_internal.h"
#include "io/clock.h"
#include "diag.h"
#include "partition/topic_change.h"
#include "server.h"
#include "shard.h"

/* ----------------------------------------------------------- proposing */

void controller_config_to_wire(const struct topic_config *cfg, Ringlog__TopicConfig *tc)
{
    tc->retention_ms = cfg->retention_ms;
    tc->retention_bytes = cfg->retention_bytes;
    tc->segment_bytes = cfg->segment_bytes;
    tc->segment_ms = cfg->segment_ms;
    tc->cleanup_policy = (char *)topic_cleanup_policy_name(cfg->cleanup_policy);
    tc->delete_retention_ms = cfg->delete_retention_ms;
    tc->min_cleanable_dirty_ratio = cfg->min_cleanable_dirty_ratio;
    tc->min_compaction_lag_ms = cfg->min_compaction_lag_ms;
}

void controller_config_from_wire(const Ringlog__TopicConfig *tc, struct topic_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->retention_ms = tc->retention_ms;
    cfg->retention_bytes = tc->retention_bytes;
    cfg->segment_bytes = tc->segment_bytes;
    cfg->segment_ms = tc->segment_ms;
    if (topic_cleanup_policy_parse(tc->cleanup_policy ? tc->cleanup_policy : "",
                                   &cfg->cleanup_policy) != 0)
        cfg->cleanup_policy = TOPIC_CLEANUP_DELETE;
    cfg->delete_retention_ms = tc->delete_retention_ms;
    cfg->min_cleanable_dirty_ratio = tc->min_cleanable_dirty_ratio;
    cfg->min_compaction_lag_ms = tc->min_compaction_lag_ms;
}

void controller_alter_config(struct shard *s, struct controller_call *c, const struct topic_info *t,
                             const struct topic_config *cfg)
{
    Ringlog__TopicConfig tc = RINGLOG__TOPIC_CONFIG__INIT;
    controller_config_to_wire(cfg, &tc);
    Ringlog__ClusterTopicConfig ct = RINGLOG__CLUSTER_TOPIC_CONFIG__INIT;
    ct.name = (char *)t->name;
    ct.topic_id = t->id;
    ct.config = &tc;
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_TOPIC_CONFIG_CHANGED;
    rec.topic_config_changed = &ct;
    controller_propose(s, c, &rec.base);
}

void controller_add_partitions(struct shard *s, struct controller_call *c,
                               const struct topic_info *t, uint32_t count)
{
    assert(count > t->partitions && t->replicas != NULL);
    size_t n = (size_t)(count - t->partitions) * t->replication_factor;
    int32_t *replicas = malloc(n * sizeof(int32_t));
    bool placeable = t->replication_factor <= controller_placeable(s->controller);
    if (!replicas || !placeable) {
        free(replicas);
        c->ctl = s->controller;
        c->error = placeable ? RINGLOG__ERROR_CODE__UNKNOWN
                             : RINGLOG__ERROR_CODE__INVALID_REPLICATION_FACTOR;
        c->message = placeable ? "out of memory"
                               : "the topic's replication factor is larger than the brokers not "
                                 "decommissioned";
        c->done(c);
        return;
    }
    controller_place(s->controller, s->srv, t->name, t->partitions, count, t->replication_factor,
                     replicas);
    Ringlog__ClusterPartitionsAdded pa = RINGLOG__CLUSTER_PARTITIONS_ADDED__INIT;
    pa.name = (char *)t->name;
    pa.topic_id = t->id;
    pa.partitions = count;
    pa.n_replicas = n;
    pa.replicas = replicas;
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_PARTITIONS_ADDED;
    rec.partitions_added = &pa;
    controller_propose(s, c, &rec.base);
    free(replicas);
}

void controller_delete_records(struct shard *s, struct controller_call *c,
                               const struct topic_info *t, uint32_t partition, int64_t offset,
                               int64_t timeout_ms)
{
    assert(offset >= 0 && partition < t->partitions);
    assert(timeout_ms > 0 && c->done != NULL);
    c->then = c->done;
    c->done = controller_wait_replicas;
    c->topic_id = t->id;
    c->partition = partition;
    c->deadline_ms = clock_monotonic_ms() + timeout_ms;
    Ringlog__ClusterRecordsDeleted rd = RINGLOG__CLUSTER_RECORDS_DELETED__INIT;
    rd.name = (char *)t->name;
    rd.topic_id = t->id;
    rd.partition = partition;
    rd.offset = offset;
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_RECORDS_DELETED;
    rec.records_deleted = &rd;
    controller_propose(s, c, &rec.base);
}

/* ------------------------------------------------------------ applying */

struct apply_change {
    struct topic_change change;
    struct controller *ctl;
};

static void change_applied(struct topic_change *c)
{
    struct apply_change *a = rl_container_of(c, struct apply_change, change);
    struct controller *ctl = a->ctl;
    if (c->status != 0)
        DIAG_ERROR("applying a topic change: %s", c->message ? c->message : "failed");
    free(a);
    controller_record_applied(ctl);
}

/* The topic a record means (name and id), or NULL: then the record is skipped. */
static const struct topic_info *record_topic(struct controller *ctl, const char *name, uint64_t id)
{
    struct server *srv = controller_shard(ctl)->srv;
    const struct topic_info *t = topic_table_find(topic_registry_snapshot(&srv->topics), name);
    return t && t->id == id && t->replicas ? t : NULL;
}

static bool apply_partitions_ok(const struct topic_info *t,
                                const Ringlog__ClusterPartitionsAdded *pa)
{
    return pa->partitions > t->partitions && pa->partitions <= TOPIC_MAX_PARTITIONS &&
           pa->n_replicas == (size_t)(pa->partitions - t->partitions) * t->replication_factor;
}

bool controller_topics_apply(struct controller *ctl, const Ringlog__ClusterRecord *cr,
                             int64_t offset, int64_t ts)
{
    (void)offset;
    struct server *srv = controller_shard(ctl)->srv;
    const struct topic_info *t = NULL;
    if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_TOPIC_CONFIG_CHANGED)
        t = record_topic(ctl, cr->topic_config_changed->name, cr->topic_config_changed->topic_id);
    else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_PARTITIONS_ADDED)
        t = record_topic(ctl, cr->partitions_added->name, cr->partitions_added->topic_id);
    else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_RECORDS_DELETED)
        t = record_topic(ctl, cr->records_deleted->name, cr->records_deleted->topic_id);
    else
        return false;
    struct apply_change *a = t ? calloc(1, sizeof(*a)) : NULL;
    if (!a) {
        controller_record_applied(ctl); /* not this broker's topic any more (or no memory) */
        return true;
    }
    a->ctl = ctl;
    a->change.done = change_applied;
    if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_TOPIC_CONFIG_CHANGED &&
        cr->topic_config_changed->config) {
        struct topic_config cfg;
        controller_config_from_wire(cr->topic_config_changed->config, &cfg);
        topic_change_config(&a->change, t, &cfg);
    } else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_PARTITIONS_ADDED &&
               apply_partitions_ok(t, cr->partitions_added)) {
        /* Replicas made after this disk was are new with their group (as at create). */
        topic_change_partitions(&a->change, t, cr->partitions_added->partitions,
                                cr->partitions_added->replicas, ts >= srv->incarnation_birth_ms);
    } else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_RECORDS_DELETED &&
               cr->records_deleted->partition < t->partitions && cr->records_deleted->offset >= 0) {
        /* Kept in the stats too: a replica attached later (a reassignment) moves there. */
        struct partition_stats *st = &t->stats[cr->records_deleted->partition];
        if (atomic_load(&st->records_target) < cr->records_deleted->offset)
            atomic_store(&st->records_target, cr->records_deleted->offset);
        topic_change_records_start(&a->change, t, cr->records_deleted->partition,
                                   cr->records_deleted->offset);
    } else {
        free(a);
        controller_record_applied(ctl); /* malformed: skipped */
    }
    return true;
}
