#include "partition.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "diag.h"
#include "producer_state.h"
#include "replica.h"
#include "server.h"
#include "shard.h"

void partition_fill_offsets(struct partition_result *res, const struct partition *p)
{
    res->log_start = partition_log_records_start(p->log);
    res->log_end = partition_log_end_offset(p->log);
    /* The cluster's DeleteRecords: reads below its offset are refused once this broker applied
     * the record, before the start itself moves (when the high watermark reaches it). */
    int64_t target = atomic_load_explicit(&p->stats->records_target, memory_order_relaxed);
    if (target > res->log_start)
        res->log_start = target < res->log_end ? target : res->log_end;
    res->high_watermark = atomic_load(&p->stats->high_watermark);
    res->leader_id = p->replica ? replica_leader_hint(p->replica)
                                : atomic_load_explicit(&p->stats->leader, memory_order_relaxed);
    res->leader_epoch = atomic_load_explicit(&p->stats->leader_epoch, memory_order_relaxed);
}

void partition_publish(struct partition *p)
{
    struct partition_stats *st = p->stats;
    int64_t end = partition_log_end_offset(p->log);
    int64_t durable = partition_log_durable_offset(p->log);
    /* Under flush=always consumers see only what is on disk, so nothing they
     * read can vanish in a crash; otherwise whatever is written. A replicated
     * partition's is the group's commit: durable on a quorum. */
    int64_t hw = p->flush == LOG_FLUSH_ALWAYS ? durable : end;
    if (p->replica)
        hw = replica_commit(p->replica) < end ? replica_commit(p->replica) : end;
    atomic_store_explicit(&st->log_start, partition_log_records_start(p->log),
                          memory_order_relaxed);
    atomic_store_explicit(&st->log_end, end, memory_order_relaxed);
    atomic_store_explicit(&st->size_bytes, (int64_t)partition_log_size_bytes(p->log),
                          memory_order_relaxed);
    int64_t old_hw = atomic_exchange_explicit(&st->high_watermark, hw, memory_order_release);
    if (hw == old_hw)
        return;
    uint64_t watchers = atomic_exchange(&st->watchers, 0);
    for (int s = 0; watchers; s++, watchers >>= 1)
        if (watchers & 1)
            loop_wake(&p->shard->loop, s);
}

static void on_durable_advance(struct partition_log *log, int64_t durable_offset, void *ctx)
{
    (void)log;
    struct partition *p = ctx;
    if (p->replica)
        replica_durable(p->replica, durable_offset);
    partition_publish(p);
}

/* Retention moved the log start: a replica's core must know, or it would send a follower far
 * behind APPENDs from offsets that are gone instead of INSTALL_START. */
static void on_log_start_advance(struct partition_log *log, int64_t start, void *ctx)
{
    (void)log;
    struct partition *p = ctx;
    if (p->replica)
        replica_log_start_advanced(p->replica, start);
    partition_publish(p);
}

/* In memory: a re-read of the log here would drive the ring from inside one of its completions. */
static void replica_truncated(struct partition *p, int64_t offset)
{
    if (offset < 0)
        partition_forget_producers(p);
    else
        producer_state_truncate(p, offset);
}

static const struct replica_events REPLICA_EVENTS = {
    .commit = partition_on_commit,
    .leadership = partition_on_leadership,
    .log_changed = partition_publish,
    .written = producer_state_note_written,
    .truncated = replica_truncated,
};

int partition_replicate(struct partition *p, uint64_t topic_id,
                        const struct rg_membership *replicas, bool new_group, char *err,
                        size_t err_len)
{
    assert(p->shard == shard_current() && p->replica == NULL);
    struct replica_host host = {.owner = p,
                                .shard = p->shard,
                                .log = p->log,
                                .stats = p->stats,
                                .flush = p->flush,
                                .topic = p->topic,
                                .index = p->index};
    struct replica *r =
        replica_attach(&host, &REPLICA_EVENTS, topic_id, replicas, new_group, err, err_len);
    if (!r)
        return -1;
    p->replica = r;
    partition_on_leadership(p, false, replica_leader(r), replica_term(r));
    partition_on_commit(p, replica_commit(r));
    partition_records_start_on_attach(p);
    return 0;
}

struct partition *partition_open(struct shard *s, const struct topic_info *t, uint32_t index,
                                 char *err, size_t err_len)
{
    assert(s == shard_current());
    assert(index < t->partitions);
    struct server *srv = s->srv;
    struct partition *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    p->shard = s;
    snprintf(p->topic, sizeof(p->topic), "%s", t->name);
    p->index = index;
    p->stats = &t->stats[index];
    p->flush = srv->cfg.flush;

    struct partition_log_config cfg;
    partition_log_config_default(&cfg);
    cfg.flush = srv->cfg.flush;
    cfg.flush_interval_ms = srv->cfg.flush_interval_ms;
    cfg.cache_keep_bytes = srv->cfg.cache_keep_bytes;
    partition_log_config_from_topic(&t->config, &cfg);
    cfg.max_append_bytes = srv->cfg.max_frame_bytes;
    cfg.max_batch_bytes = srv->cfg.max_frame_bytes;
    cfg.on_durable_advance = on_durable_advance;
    cfg.on_log_start_advance = on_log_start_advance;
    cfg.ctx = p;
    /* Other replicas can repair a flipped bit: recovery keeps it (docs/REPLICATION.md "Repair"). */
    cfg.keep_corrupt = t->replicas != NULL && t->replication_factor > 1;

    struct log_open_report report;
    memset(&report, 0, sizeof(report));
    int rc = partition_log_open(&s->engine, srv->cfg.data_dir, t->name, (int32_t)index, &cfg,
                                &p->log, &report);
    if (rc != LOG_OK) {
        snprintf(err, err_len, "%s-%u: %s", t->name, index,
                 report.message[0] ? report.message : log_status_str(rc));
        free(p);
        return NULL;
    }
    if (log_open_report_worth_logging(&report))
        DIAG_INFO("partition %s-%u recovered: %u segments, scanned %llu bytes, dropped %llu "
                  "bytes in %u batches, offsets [%lld, %lld)",
                  t->name, index, report.segments, (unsigned long long)report.scanned_bytes,
                  (unsigned long long)report.truncated_bytes, report.truncated_batches,
                  (long long)report.start_offset, (long long)report.end_offset);
    /* After a clean shutdown the saved state is exact; after a crash the
     * log's tail is the only truth. */
    if (!producer_state_load(p, srv->cfg.data_dir, report.clean))
        producer_state_rebuild(p);
    atomic_store(&p->stats->leader, srv->cfg.node_id);
    partition_publish(p);
    atomic_store(&p->stats->online, true);
    return p;
}

void partition_free(struct partition *p)
{
    if (!p)
        return;
    partition_forget_producers(p);
    if (p->log)
        partition_log_free(p->log);
    free(p);
}

struct close_wait {
    struct log_ctl ctl;
    bool done;
};

static void close_done(struct log_ctl *ctl, int status)
{
    struct close_wait *w = rl_container_of(ctl, struct close_wait, ctl);
    if (status != LOG_OK)
        DIAG_WARN("closing a partition: %s", log_status_str(status));
    w->done = true;
}

void partition_close(struct partition *p)
{
    struct shard *s = p->shard;
    assert(s == shard_current());
    partition_on_leadership(p, false, -1, 0);
    replica_detach(p->replica);
    p->replica = NULL;
    int rc = producer_state_save(p, s->srv->cfg.data_dir);
    if (rc != 0)
        DIAG_WARN("saving producer state of %s-%u: %s (the next start reads the log)", p->topic,
                  p->index, strerror(-rc));
    struct close_wait w = {.done = false};
    w.ctl.on_complete = close_done;
    if (partition_log_close(p->log, &w.ctl) == LOG_OK)
        log_engine_drive(&s->engine, &s->loop.ring, &w.done);
    partition_free(p);
}

static void delete_done(struct log_ctl *ctl, int status)
{
    struct partition_delete *pd = rl_container_of(ctl, struct partition_delete, ctl);
    struct partition *p = pd->part;
    assert(p->deleting);
    if (status != LOG_OK)
        DIAG_WARN("deleting partition %s-%u: %s", p->topic, p->index, log_status_str(status));
    pd->status = status;
    pd->part = NULL;
    partition_free(p);
    pd->done(pd);
}

void partition_delete(struct partition *p, struct partition_delete *pd)
{
    assert(p->shard == shard_current());
    assert(!p->deleting);
    p->deleting = true;
    partition_on_leadership(p, false, -1, 0);
    replica_detach(p->replica);
    p->replica = NULL;
    pd->part = p;
    atomic_store(&p->stats->online, false);
    memset(&pd->ctl, 0, sizeof(pd->ctl));
    pd->ctl.on_complete = delete_done;
    int rc = partition_log_delete(p->log, &pd->ctl);
    if (rc != LOG_OK)
        delete_done(&pd->ctl, rc);
}
