/*
 * Compaction (cleanup.policy=compact): when a pass is due, its life cycle
 * (start, I/O, failure, abort, cleanup), the swap of a rewritten segment
 * (the control operation itself is in ctl.c), and the numbers. The steps
 * of a pass are in compact_pass.c. docs/STORAGE.md, "Compaction".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_job.h"

void compact_init(struct partition_log *log)
{
    struct log_compact *c = &log->compact;
    memset(c, 0, sizeof(*c));
    c->first_dirty = log->start_offset;
    c->dedup_complete = true;
    c->tombstone_due_ms = INT64_MAX;
    assert(c->job == NULL);
}

static bool compacted(const struct partition_log *log)
{
    return (log->cfg.cleanup_policy & LOG_CLEANUP_COMPACT) != 0;
}

/*
 * The end of the cleanable log: closed segments whose every offset is
 * durable and committed (compacting past the high watermark could drop a
 * value whose newer version a new leader truncates away) and whose newest
 * batch is at least min_compaction_lag_ms old. Sets *dirty and *total to
 * the bytes of the cleanable segments at or past first_dirty, and of all.
 */
static int64_t cleanable_end(const struct partition_log *log, int64_t now, uint64_t *dirty,
                             uint64_t *total)
{
    int64_t bound = log->durable_offset;
    if (log->high_watermark >= 0 && log->high_watermark < bound)
        bound = log->high_watermark;
    int64_t end = log->start_offset;
    *dirty = *total = 0;
    for (uint32_t i = 0; i + 1 < log->nsegs; i++) {
        const struct log_segment *seg = log->segs[i];
        if (seg->end_offset > bound)
            break;
        if (log->cfg.min_compaction_lag_ms > 0 && seg->max_timestamp != INT64_MIN &&
            seg->max_timestamp > now - log->cfg.min_compaction_lag_ms)
            break;
        end = seg->end_offset;
        *total += seg->size;
        if (seg->base_offset >= log->compact.first_dirty)
            *dirty += seg->size;
    }
    assert(*dirty <= *total);
    return end;
}

bool partition_log_compacts(const struct partition_log *log)
{
    assert(log != NULL);
    return compacted(log);
}

double partition_log_dirty_ratio(const struct partition_log *log)
{
    uint64_t dirty, total;
    cleanable_end(log, log_now((struct partition_log *)log), &dirty, &total);
    return total == 0 ? 0.0 : (double)dirty / (double)total;
}

static void on_job_io(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct compact_job *j = rl_container_of(c, struct compact_job, c);
    log_op_done(j->log);
    assert(j->io_busy);
    j->io_busy = false;
    void (*next)(struct compact_job *, int32_t) = j->next;
    j->next = NULL;
    /* An abort stops the pass at its next step, except during cleanup (which it is). */
    if (j->aborted && j->status == LOG_OK) {
        j->status = LOG_ERR_CLOSED;
        if (j->cleanup_step == 0) {
            compact_cleanup(j);
            return;
        }
    }
    next(j, res);
}

/* Submits one operation; a refused submission is reported through the ring all the same. */
void compact_io(struct compact_job *j, const struct log_io_req *req,
                void (*next)(struct compact_job *, int32_t))
{
    assert(!j->io_busy);
    j->io_busy = true;
    j->next = next;
    j->c.on_complete = on_job_io;
    int rc = log_submit(j->log, req, &j->c, 0);
    if (rc == 0)
        return;
    if (log_io_post(j->log->engine->cfg.io, &j->c, rc) == 0) {
        j->log->engine->inflight++;
        return;
    }
    /* Not even a NOP fits: the ring is broken; end the pass here. */
    j->io_busy = false;
    j->next = NULL;
    next(j, rc);
}

void compact_fail(struct compact_job *j, int status, const char *what, int32_t res)
{
    assert(status != LOG_OK);
    if (j->status == LOG_OK) {
        j->status = status;
        log_msg(j->log, LOG_LEVEL_WARN, "compaction stopped: %s%s%s (retried later)", what,
                res < 0 ? ": " : "", res < 0 ? strerror(-res) : "");
    }
    compact_cleanup(j);
}

static void job_free(struct compact_job *j)
{
    struct partition_log *log = j->log;
    assert(!j->io_busy);
    if (j->seg != NULL)
        segment_unpin(j->seg);
    if (j->out != NULL)
        segment_free(j->out);
    compact_map_free(&j->map);
    compact_scratch_free(&j->scratch);
    free(j->buf);
    free(j->wbuf);
    free(j);
    log->compact.job = NULL;
    log->compact.swap_ready = false;
    if (log->engine->compacting == log)
        log->engine->compacting = NULL;
    assert(log->reads_inflight > 0);
    log->reads_inflight--; /* a close waits for the pass like for a read */
    ctl_reads_drained(log);
}

static void count_pass(struct compact_job *j)
{
    struct partition_log *log = j->log;
    int64_t now = log_now(log);
    struct log_compact_stats *s = &log->compact.stats;
    struct log_compact_counters *e = &log->engine->compact;
    if (j->status == LOG_OK) {
        log->compact.first_dirty = j->map_end;
        log->compact.dedup_complete = !j->map_partial;
        log->compact.tombstone_due_ms = j->tombstone_due_ms;
        s->passes++;
        compact_count(&e->passes, 1);
    } else if (j->status != LOG_ERR_CLOSED) {
        s->failures++;
        compact_count(&e->failures, 1);
    }
    s->last_run_ms = now;
    s->last_run_duration_ms = now - j->started_ms;
    atomic_store_explicit(&e->last_run_ms, now, memory_order_relaxed);
}

static void cleanup_step(struct compact_job *j, int32_t res);

/*
 * The pass is over (done, failed or aborted): the temp file descriptors are
 * closed and the temp files that may be left unlinked, one operation at a
 * time through the ring, then the directory closed and the memory freed.
 */
void compact_cleanup(struct compact_job *j)
{
    assert(!j->io_busy);
    if (j->cleanup_step == 0)
        count_pass(j);
    cleanup_step(j, 0);
}

static void cleanup_step(struct compact_job *j, int32_t res)
{
    (void)res; /* best effort: recovery removes leftover temp files too */
    for (;;) {
        int step = j->cleanup_step++;
        struct log_io_req req = {.op = LOG_IO_CLOSE, .fd = -1};
        if (step == 0 || step == 1) {
            int *fd = step == 0 ? &j->out_fd : &j->ix_fd;
            req.fd = *fd;
            *fd = -1;
        } else if (step >= 2 && step <= 4) {
            if (!j->tmp_exists[step - 2] || j->dir_fd < 0)
                continue;
            j->tmp_exists[step - 2] = false;
            req = (struct log_io_req){
                .op = LOG_IO_UNLINKAT, .fd = j->dir_fd, .path = j->tmp[step - 2]};
        } else if (step == 5) {
            req.fd = j->dir_fd;
            j->dir_fd = -1;
        } else {
            job_free(j);
            return;
        }
        if (req.op == LOG_IO_CLOSE && req.fd < 0)
            continue;
        compact_io(j, &req, cleanup_step);
        return;
    }
}

static void on_dir_open(struct compact_job *j, int32_t res)
{
    if (res < 0) {
        compact_fail(j, log_status_from_errno(-res), "opening the partition's directory", res);
        return;
    }
    j->dir_fd = res;
    compact_pass_begin(j);
}

/*
 * The map's first size: a key per 64 dirty bytes (it grows up to the cap
 * when there are more), so a small partition's pass (a group log)
 * allocates and clears a small map, not the configured cap.
 */
static uint32_t map_entries_for(const struct partition_log *log, uint64_t dirty_bytes)
{
    uint32_t cap = log->cfg.compact_map_entries ? log->cfg.compact_map_entries
                                                : LOG_DEFAULT_COMPACT_MAP_ENTRIES;
    assert(cap > 0);
    uint64_t want = dirty_bytes / 64 + 64;
    return want < cap ? (uint32_t)want : cap;
}

static int job_start(struct partition_log *log, int64_t now, int64_t limit, uint64_t dirty)
{
    struct compact_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return LOG_ERR_NOMEM;
    uint32_t cap = log->cfg.compact_map_entries ? log->cfg.compact_map_entries
                                                : LOG_DEFAULT_COMPACT_MAP_ENTRIES;
    j->cap = COMPACT_READ_BYTES;
    j->buf = malloc(j->cap);
    if (j->buf == NULL || compact_map_init(&j->map, map_entries_for(log, dirty), cap) != 0) {
        free(j->buf);
        free(j);
        return LOG_ERR_NOMEM;
    }
    j->log = log;
    j->dir_fd = j->out_fd = j->ix_fd = -1;
    j->started_ms = now;
    j->limit = limit;
    j->map_from = log->compact.first_dirty;
    j->map_end = j->map_from;
    j->tombstone_due_ms = INT64_MAX;
    log->compact.job = j;
    log->compact.last_check_ms = now;
    log->engine->compacting = log;
    log->reads_inflight++;
    compact_io(j,
               &(struct log_io_req){.op = LOG_IO_OPENAT,
                                    .fd = AT_FDCWD,
                                    .path = log->dir_path,
                                    .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC},
               on_dir_open);
    return LOG_OK;
}

/* Brings first_dirty inside the log (retention, truncation and reset move the ends). */
static void clamp_dirty(struct partition_log *log)
{
    struct log_compact *c = &log->compact;
    if (c->first_dirty < log->start_offset || c->first_dirty > log->next_offset) {
        c->first_dirty = log->start_offset;
        c->dedup_complete = c->first_dirty == log->start_offset && c->dedup_complete;
    }
}

/* A partition holding a known-bad batch waits for its repair: a rewrite would give the
 * damaged records a fresh checksum. */
void compact_tick(struct partition_log *log, int64_t now)
{
    struct log_compact *c = &log->compact;
    if (!compacted(log) || log->state != LOG_STATE_OPEN || c->job != NULL ||
        log->engine->compacting != NULL || log->nsegs < 2 || log->nbad > 0 ||
        now - c->last_check_ms < log->cfg.retention_check_ms)
        return;
    c->last_check_ms = now;
    clamp_dirty(log);
    uint64_t dirty, total;
    int64_t end = cleanable_end(log, now, &dirty, &total);
    if (total == 0)
        return;
    bool ratio = dirty > 0 && (double)dirty >= log->cfg.min_cleanable_dirty_ratio * (double)total;
    bool tombstones = now >= c->tombstone_due_ms;
    if (ratio || tombstones)
        (void)job_start(log, now, end, dirty);
}

int partition_log_compact_now(struct partition_log *log)
{
    if (!compacted(log) || log->state != LOG_STATE_OPEN)
        return LOG_ERR_INVALID;
    if (log->compact.job != NULL || log->engine->compacting != NULL)
        return LOG_ERR_BUSY;
    int64_t now = log_now(log);
    clamp_dirty(log);
    uint64_t dirty, total;
    int64_t end = cleanable_end(log, now, &dirty, &total);
    if (total == 0)
        return LOG_ERR_INVALID;
    return job_start(log, now, end, dirty);
}

int64_t partition_log_compacted_offset(const struct partition_log *log)
{
    return log->compact.first_dirty;
}

bool partition_log_compacting(const struct partition_log *log)
{
    return log->compact.job != NULL;
}

void partition_log_compact_stats(const struct partition_log *log, struct log_compact_stats *out)
{
    *out = log->compact.stats;
}

void compact_abort(struct partition_log *log)
{
    struct compact_job *j = log->compact.job;
    if (j == NULL || j->aborted)
        return;
    j->aborted = true;
    log->compact.swap_ready = false;
    /* Waiting for the swap, nothing in flight: clean up now. */
    if (!j->io_busy && j->cleanup_step == 0) {
        j->status = LOG_ERR_CLOSED;
        compact_cleanup(j);
    }
}

/* ------------------------------------------------------------------ swap */

/*
 * The swap's control operation starts: is the segment the pass read still
 * the closed segment at that base (retention or truncation may have
 * retired it)? From here the old segment's index files are not mapped by
 * name any more: they are about to be replaced by the new segment's.
 */
bool compact_swap_begin(struct partition_log *log, struct compact_swap_names *names)
{
    struct compact_job *j = log->compact.job;
    log->compact.swap_ready = false;
    if (j == NULL || j->aborted || j->out == NULL)
        return false;
    int k = log_find_segment(log, j->seg_base);
    if (k < 0 || (uint32_t)k + 1 >= log->nsegs || log->segs[k]->base_offset != j->seg_base ||
        log->segs[k]->doomed)
        return false;
    struct log_segment *old = log->segs[k];
    old->idx.map_tried = old->tidx.map_tried = true;
    const char *dst[3] = {old->name, old->idx.name, old->tidx.name};
    for (int i = 0; i < 3; i++) {
        names->tmp[i] = j->tmp[i];
        names->dst[i] = dst[i];
    }
    assert(old->end_offset == j->out->end_offset);
    return true;
}

void compact_swap_renamed(struct partition_log *log)
{
    assert(log->compact.job != NULL);
    log->compact.job->renamed = true;
}

/* The new segment takes the old one's place in memory; the old one retires. */
static void swap_in(struct compact_job *j)
{
    struct partition_log *log = j->log;
    int k = log_find_segment(log, j->seg_base);
    assert(k >= 0 && log->segs[k]->base_offset == j->seg_base);
    struct log_segment *old = log->segs[k], *seg = j->out;
    seg->fd = j->out_fd;
    j->out_fd = -1;
    j->out = NULL;
    j->tmp_exists[0] = false;
    seg->created_ms = old->created_ms;
    free(seg->idx.mem);
    free(seg->tidx.mem);
    seg->idx.mem = seg->tidx.mem = NULL;
    seg->idx.count = seg->tidx.count = seg->idx.cap = seg->tidx.cap = 0;
    log->segs[k] = seg;
    log->total_bytes -= old->size - seg->size;
    struct log_compact_stats *s = &log->compact.stats;
    struct log_compact_counters *e = &log->engine->compact;
    s->segments_cleaned++;
    compact_count(&e->segments_cleaned, 1);
    s->bytes_removed += old->size - seg->size;
    compact_count(&e->bytes_removed, old->size - seg->size);
    s->records_removed += j->seg_removed_records;
    compact_count(&e->records_removed, j->seg_removed_records);
    log_msg(log, LOG_LEVEL_DEBUG, "compacted segment %s: %llu -> %llu bytes", old->name,
            (unsigned long long)old->size, (unsigned long long)seg->size);
    segment_retire(old);
}

void compact_swap_end(struct partition_log *log, int status)
{
    struct compact_job *j = log->compact.job;
    log->compact.swap_ready = false;
    if (j == NULL)
        return;
    if (j->renamed) {
        j->renamed = false;
        swap_in(j);
    }
    if (j->aborted || j->cleanup_step > 0) {
        if (j->cleanup_step == 0 && !j->io_busy)
            compact_cleanup(j);
        return;
    }
    if (status != LOG_OK) {
        compact_fail(j, status, "swapping the compacted segment in", -log->ctl.first_err);
        return;
    }
    if (j->out != NULL) { /* the segment changed under the pass: stop it */
        compact_fail(j, LOG_ERR_BUSY, "the segment changed during compaction", 0);
        return;
    }
    compact_pass_after_swap(j);
}
