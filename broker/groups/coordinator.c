/*
 * The coordinator's life on a shard (coordinator.h): the __groups topic,
 * loading a partition's groups back, the tick (expiry), dispatching calls.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "batch.h"
#include "coordinator_internal.h"
#include "diag.h"
#include "partition/partition_table.h"
#include "partition/replica.h"
#include "server.h"
#include "shard.h"

uint32_t groups_partition_of(const char *group)
{
    return (uint32_t)(XXH64(group, strlen(group), 0) % GROUPS_PARTITIONS);
}

void groups_topic_config(const struct server *srv, struct topic_config *cfg)
{
    assert(srv != NULL && cfg != NULL);
    memset(cfg, 0, sizeof(*cfg));
    cfg->retention_ms = -1;
    cfg->retention_bytes = -1;
    cfg->segment_bytes = 16 << 20;
    cfg->segment_ms = srv->cfg.default_segment_ms;
    cfg->cleanup_policy = TOPIC_CLEANUP_COMPACT;
}

int groups_topic_ensure(struct server *srv, char *err, size_t err_len)
{
    assert(!srv->cluster);
    if (topic_table_find(topic_registry_snapshot(&srv->topics), GROUPS_TOPIC))
        return 0;
    struct topic_config cfg;
    groups_topic_config(srv, &cfg);
    struct topic_info *t =
        topic_info_new(GROUPS_TOPIC, srv->topics.next_topic_id++, GROUPS_PARTITIONS, 1, &cfg);
    if (t == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    if (topic_registry_publish(&srv->topics, t, NULL, err, err_len) != 0) {
        topic_info_free(t);
        return -1;
    }
    DIAG_INFO("created the internal topic %s (%d partitions, compacted)", GROUPS_TOPIC,
              GROUPS_PARTITIONS);
    return 0;
}

struct coordinator *coordinator_of(struct shard *s)
{
    if (s->groups != NULL)
        return s->groups;
    struct coordinator *co = calloc(1, sizeof(*co));
    if (co == NULL)
        return NULL;
    co->shard = s;
    pthread_mutex_init(&co->metrics_mu, NULL);
    for (uint32_t i = 0; i < GROUPS_PARTITIONS; i++)
        co->parts[i] = (struct coord_part){.co = co, .index = i};
    s->groups = co;
    return co;
}

struct partition *coord_partition(struct coord_part *cp)
{
    return partition_table_find(cp->co->shard->parts, GROUPS_TOPIC, cp->index);
}

void coord_member_id(struct coordinator *co, char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "%d-%d-%llu-%llx", co->shard->srv->cfg.node_id, co->shard->loop.id,
             (unsigned long long)++co->next_member,
             (unsigned long long)(ts.tv_sec * 1000000000ll + ts.tv_nsec) & 0xffffffffull);
}

/* ------------------------------------------------------------- topics */

static uint32_t view_partitions(void *ctx, const char *topic)
{
    const struct topic_info *ti = topic_table_find(ctx, topic);
    return ti && strncmp(topic, "__", 2) != 0 ? ti->partitions : 0;
}

static void view_each(void *ctx, void (*fn)(void *arg, const char *name, uint32_t partitions),
                      void *arg)
{
    const struct topic_table *t = ctx;
    for (uint32_t i = 0; i < t->count; i++)
        if (strncmp(t->topics[i]->name, "__", 2) != 0)
            fn(arg, t->topics[i]->name, t->topics[i]->partitions);
}

void coord_topics(struct group_topics *out)
{
    struct shard *s = shard_current();
    *out = (struct group_topics){.ctx = topic_registry_snapshot(&s->srv->topics),
                                 .partitions = view_partitions,
                                 .each = view_each};
}

/* -------------------------------------------------------------- loading */

static void load_next(struct coord_part *cp);

/* Applies every record of the batches read; false when one is malformed beyond reading. */
static void load_apply(struct coord_part *cp, const uint8_t *data, size_t len, int64_t now)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    it.allow_control = true; /* a replicated log's epoch markers and configs: skipped below */
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        cp->load_offset = rl_batch_last_offset(&h) + 1;
        struct rl_record_iter rit;
        struct rl_record rec;
        uint8_t *plain = NULL;
        size_t plain_len;
        if (rl_batch_is_control(&h))
            continue;
        if (rl_record_iter_init(&rit, batch, &h) != RL_OK) {
            if (rl_batch_decompress_records(batch, &h, &plain, &plain_len) != RL_OK)
                continue;
            rl_record_iter_init_raw(&rit, plain, plain_len, &h);
        }
        while (rl_record_iter_next(&rit, &rec) == RL_OK)
            if (group_records_apply(&cp->groups, rec.key, rec.key_len < 0 ? 0 : (size_t)rec.key_len,
                                    rec.value, rec.value_len, now, COORD_MAX_GROUPS) != 0)
                DIAG_WARN("%s/%u: skipping a malformed record at offset %lld", GROUPS_TOPIC,
                          cp->index, (long long)(h.base_offset + rec.offset_delta));
        free(plain);
    }
}

static void load_finish(struct coord_part *cp)
{
    struct group_topics view;
    coord_topics(&view);
    for (size_t i = 0; i < cp->groups.n; i++)
        group_settle_loaded(cp->groups.v[i], &view);
    cp->state = COORD_LOADED;
    DIAG_INFO("%s/%u: %zu groups loaded", GROUPS_TOPIC, cp->index, cp->groups.n);
    coord_migrate(cp);
}

static void load_read(struct partition_fetch *pf)
{
    struct coord_part *cp = rl_container_of(pf, struct coord_part, fetch);
    assert(cp->reading);
    cp->reading = false;
    if (cp->state != COORD_LOADING) { /* leadership moved during the read: dropped */
        free(pf->records);
        pf->records = NULL;
        return;
    }
    if (pf->result.error != PARTITION_OK) {
        DIAG_ERROR("%s/%u: cannot load groups: %s", GROUPS_TOPIC, cp->index,
                   pf->result.message ? pf->result.message : "read failed");
        free(pf->records);
        pf->records = NULL;
        cp->state = COORD_FAILED;
        return;
    }
    int64_t end = pf->result.log_end;
    int64_t before = cp->load_offset;
    load_apply(cp, pf->records, pf->records_len, shard_current()->loop.now_ms);
    free(pf->records);
    pf->records = NULL;
    if (cp->load_offset >= end || cp->load_offset == before) {
        load_finish(cp);
        return;
    }
    load_next(cp);
}

static void load_next(struct coord_part *cp)
{
    assert(cp->state == COORD_LOADING);
    struct partition *p = coord_partition(cp);
    if (p == NULL) {
        cp->state = COORD_ABSENT;
        return;
    }
    if (cp->load_offset < p->stats->log_start)
        cp->load_offset = p->stats->log_start;
    cp->fetch = (struct partition_fetch){
        .offset = cp->load_offset, .max_bytes = 1 << 20, .done = load_read};
    cp->reading = true;
    partition_fetch(p, &cp->fetch);
}

/* ---------------------------------------------------------------- tick */

#define EXPIRE_EVERY_MS 100

static void expire_written(void *ctx, bool ok)
{
    struct coord_part *cp = ctx;
    if (!ok)
        DIAG_WARN("%s/%u: cannot record expired members", GROUPS_TOPIC, cp->index);
}

static void expire_part(struct coord_part *cp, int64_t now)
{
    struct group_topics view;
    coord_topics(&view);
    for (size_t i = cp->groups.n; i-- > 0;) { /* backwards: a vacant group is removed */
        struct group *g = cp->groups.v[i];
        size_t before = g->nmembers;
        group_expire(g, now, &view);
        if (g->nmembers != before || g->meta_dirty)
            coord_write_group(cp, g, expire_written, cp);
    }
}

bool coord_part_leads(struct coord_part *cp)
{
    struct partition *p = coord_partition(cp);
    if (p == NULL || p->deleting)
        return false;
    if (p->replica == NULL)
        return true; /* a single broker's partition */
    return replica_is_leader(p->replica) &&
           (cp->state == COORD_ABSENT || replica_term(p->replica) == cp->term);
}

/*
 * This broker's replica no longer leads the partition (or leads in another
 * term): its groups go, and calls get NOT_COORDINATOR until it loads
 * again. Writes still in flight fail (NOT_LEADER) and answer that too; a
 * load's read in flight is dropped when it completes.
 */
static void drop_part(struct coord_part *cp)
{
    assert(cp->state != COORD_ABSENT);
    DIAG_INFO("%s/%u: no longer the coordinator here (%zu groups dropped)", GROUPS_TOPIC, cp->index,
              cp->groups.n);
    group_table_free(&cp->groups);
    cp->state = COORD_ABSENT;
}

/*
 * May this broker load the partition's groups now? It leads, and (on a
 * cluster) its commit covers its log end: its own term's first entry is
 * committed, so nothing it reads can be truncated by a later failover.
 */
static bool ready_to_load(struct coord_part *cp)
{
    struct partition *p = coord_partition(cp);
    if (p == NULL || p->deleting || cp->reading)
        return false;
    if (p->replica == NULL)
        return true;
    return replica_is_leader(p->replica) &&
           replica_commit(p->replica) >= partition_log_end_offset(p->log);
}

/* One partition's turn of the tick: follow leadership, expire members. */
static void tick_part(struct coord_part *cp, int64_t now, bool expire)
{
    if (cp->state != COORD_ABSENT && !coord_part_leads(cp))
        drop_part(cp);
    if (cp->state == COORD_ABSENT && ready_to_load(cp)) {
        struct partition *p = coord_partition(cp);
        cp->term = p->replica ? replica_term(p->replica) : 0;
        cp->state = COORD_LOADING;
        cp->load_offset = 0;
        load_next(cp);
    } else if (cp->state == COORD_LOADED && expire) {
        expire_part(cp, now);
    }
}

void coordinator_tick(struct shard *s)
{
    struct coordinator *co = s->groups;
    if (s->stopping || atomic_load(&s->srv->stopping))
        return; /* partitions are closing: nothing new is loaded or written */
    if (co == NULL) {
        if (topic_table_find(topic_registry_snapshot(&s->srv->topics), GROUPS_TOPIC) == NULL ||
            (co = coordinator_of(s)) == NULL)
            return;
    }
    if (s->loop.now_ms >= co->next_metrics_ms) {
        co->next_metrics_ms = s->loop.now_ms + 1000;
        coord_metrics_publish(co);
    }
    bool expire = s->loop.now_ms >= co->next_expire_ms;
    if (expire)
        co->next_expire_ms = s->loop.now_ms + EXPIRE_EVERY_MS;
    for (uint32_t i = 0; i < GROUPS_PARTITIONS; i++)
        tick_part(&co->parts[i], s->loop.now_ms, expire);
}

void coordinator_destroy(struct shard *s)
{
    struct coordinator *co = s->groups;
    if (co == NULL)
        return;
    for (uint32_t i = 0; i < GROUPS_PARTITIONS; i++)
        group_table_free(&co->parts[i].groups);
    for (int f = 0; f < COORD_METRIC_FAMILIES; f++)
        free(co->metrics[f]);
    pthread_mutex_destroy(&co->metrics_mu);
    free(co);
    s->groups = NULL;
}

/* ------------------------------------------------------------- calls */

void coordinator_call(struct shard *s, struct coord_call *c)
{
    assert(c->partition < GROUPS_PARTITIONS);
    assert(shard_current() == s && c->done != NULL);
    c->shard = s;
    struct coordinator *co = coordinator_of(s);
    if (co == NULL) {
        coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    struct coord_part *cp = &co->parts[c->partition];
    if (!coord_part_leads(cp)) {
        coord_fail(c, RINGLOG__ERROR_CODE__NOT_COORDINATOR,
                   "this broker does not lead the group's partition of __groups");
        return;
    }
    if (cp->state != COORD_LOADED) {
        coord_fail(c,
                   cp->state == COORD_FAILED ? RINGLOG__ERROR_CODE__STORAGE_ERROR
                                             : RINGLOG__ERROR_CODE__COORDINATOR_LOAD_IN_PROGRESS,
                   NULL);
        return;
    }
    switch (c->msg->body_case) {
    case RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT:
        coord_serve_heartbeat(cp, c);
        break;
    case RINGLOG__REQUEST__BODY_OFFSET_COMMIT:
        coord_serve_commit(cp, c);
        break;
    case RINGLOG__REQUEST__BODY_OFFSET_FETCH:
        coord_serve_fetch(cp, c);
        break;
    case RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS:
        coord_serve_describe(cp, c);
        break;
    case RINGLOG__REQUEST__BODY_DELETE_GROUPS:
        coord_serve_delete(cp, c);
        break;
    default:
        coord_fail(c, RINGLOG__ERROR_CODE__INVALID_REQUEST, "not a group request");
        break;
    }
}
