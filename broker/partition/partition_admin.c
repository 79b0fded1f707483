/*
 * The partition tier's part of topic admin (partition.h, "topic admin"):
 * a topic config applied live, and DeleteRecords moving a partition's
 * records start, on the partition's owner shard.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "partition.h"
#include "replica.h"
#include "shard.h"

void partition_log_config_from_topic(const struct topic_config *tc,
                                     struct partition_log_config *cfg)
{
    struct partition_log_config defaults;
    partition_log_config_default(&defaults);
    cfg->segment_bytes =
        tc->segment_bytes > 0 ? (uint64_t)tc->segment_bytes : defaults.segment_bytes;
    cfg->segment_ms = tc->segment_ms > 0 ? tc->segment_ms : defaults.segment_ms;
    cfg->retention_ms = tc->retention_ms != 0 ? tc->retention_ms : defaults.retention_ms;
    cfg->retention_bytes =
        tc->retention_bytes != 0 ? tc->retention_bytes : defaults.retention_bytes;
    cfg->delete_retention_ms = defaults.delete_retention_ms;
    cfg->min_cleanable_dirty_ratio = defaults.min_cleanable_dirty_ratio;
    topic_config_apply_compaction(tc, cfg);
    assert(cfg->segment_bytes > 0 && cfg->segment_ms > 0);
}

void partition_set_stats(struct partition *p, struct partition_stats *stats)
{
    assert(p->shard == shard_current());
    p->stats = stats;
    if (p->replica)
        replica_set_stats(p->replica, stats);
    partition_publish(p);
}

enum partition_error partition_apply_config(struct partition *p, const struct topic_config *tc)
{
    assert(p->shard == shard_current());
    struct partition_log_config cfg;
    partition_log_config_default(&cfg);
    partition_log_config_from_topic(tc, &cfg);
    if (partition_log_set_limits(p->log, &cfg) != LOG_OK) {
        DIAG_WARN("config of %s-%u not applied: out of range for the storage engine", p->topic,
                  p->index);
        return PARTITION_STORAGE;
    }
    return PARTITION_OK;
}

static void records_deleted(struct log_ctl *ctl, int status)
{
    struct partition_delete_records *pd =
        rl_container_of(ctl, struct partition_delete_records, ctl);
    struct partition *p = pd->part;
    assert(p->shard == shard_current());
    partition_publish(p);
    partition_fill_offsets(&pd->result, p);
    if (status == LOG_ERR_OUT_OF_RANGE) {
        pd->result.error = PARTITION_OFFSET_OUT_OF_RANGE;
        pd->result.message = "the offset is past the high watermark";
    } else if (status != LOG_OK) {
        pd->result.error = PARTITION_STORAGE;
        pd->result.detail = status;
        pd->result.message = log_status_str(status);
    }
    pd->done(pd);
}

void partition_delete_records(struct partition *p, struct partition_delete_records *pd)
{
    assert(p->shard == shard_current());
    pd->part = p;
    pd->result = (struct partition_result){.error = PARTITION_OK};
    partition_fill_offsets(&pd->result, p);
    int64_t offset = pd->offset == -1 ? pd->result.high_watermark : pd->offset;
    if (offset < 0 || offset > pd->result.high_watermark) {
        pd->result.error = PARTITION_OFFSET_OUT_OF_RANGE;
        pd->result.message = "the offset must be between 0 and the high watermark (-1: it)";
        pd->done(pd);
        return;
    }
    memset(&pd->ctl, 0, sizeof(pd->ctl));
    pd->ctl.on_complete = records_deleted;
    int rc = partition_log_advance_start(p->log, offset, &pd->ctl);
    if (rc != LOG_OK)
        records_deleted(&pd->ctl, rc);
}

static void start_target_check(struct partition *p);

static void start_moved(struct partition_delete_records *pd)
{
    struct partition *p = pd->part;
    assert(p->start_move == pd);
    p->start_move = NULL;
    bool failed = pd->result.error != PARTITION_OK;
    if (failed) /* tried again at the next commit */
        DIAG_WARN("moving the records start of %s-%u to %lld: %s", p->topic, p->index,
                  (long long)pd->offset, pd->result.message ? pd->result.message : "failed");
    else
        DIAG_INFO("%s-%u: records below %lld deleted (the cluster's DeleteRecords)", p->topic,
                  p->index, (long long)pd->offset);
    free(pd);
    if (failed)
        return;
    if (partition_log_records_start(p->log) >= p->start_target)
        p->start_target = 0;
    start_target_check(p);
}

/* Moves the start to the target once the high watermark has reached it. */
static void start_target_check(struct partition *p)
{
    if (p->start_move || p->deleting || p->start_target <= partition_log_records_start(p->log))
        return;
    int64_t hw = atomic_load(&p->stats->high_watermark);
    if (hw < p->start_target)
        return; /* partition_on_commit looks again */
    struct partition_delete_records *pd = calloc(1, sizeof(*pd));
    if (!pd)
        return; /* tried again at the next commit */
    p->start_move = pd;
    pd->offset = p->start_target;
    pd->done = start_moved;
    partition_delete_records(p, pd);
}

void partition_records_start_target(struct partition *p, int64_t offset)
{
    assert(p->shard == shard_current());
    assert(offset >= 0);
    if (offset > p->start_target)
        p->start_target = offset;
    start_target_check(p);
}

void partition_records_start_on_attach(struct partition *p)
{
    assert(p->shard == shard_current());
    int64_t target = atomic_load(&p->stats->records_target);
    if (target > 0)
        partition_records_start_target(p, target);
}

void partition_records_start_on_commit(struct partition *p)
{
    if (p->start_target > 0)
        start_target_check(p);
}
