/*
 * The per-shard engine: the partitions it drives, the list of those with
 * work for this turn, the in-flight count, timers, and the helpers every
 * other file uses to submit I/O and to report.
 */
#include <errno.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_internal.h"
#include "log_io_uring.h"

void log_engine_init(struct log_engine *e, const struct log_engine_config *cfg)
{
    memset(e, 0, sizeof(*e));
    e->cfg = *cfg;
    e->walk_ms = LOG_TICK_WALK_MS;
    assert(e->cfg.io != NULL);
}

static int64_t engine_now(const struct log_engine *e)
{
    if (e->cfg.now_ms != NULL)
        return e->cfg.now_ms(e->cfg.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t log_now(struct partition_log *log)
{
    return engine_now(log->engine);
}

/* An interval flush shorter than the walk period shortens it. */
void log_engine_note_interval(struct log_engine *e, int64_t interval_ms)
{
    assert(interval_ms > 0);
    if (interval_ms < e->walk_ms)
        e->walk_ms = interval_ms;
}

void log_msg(struct partition_log *log, enum log_level level, const char *fmt, ...)
{
    struct log_engine *e = log->engine;
    if (e->cfg.log == NULL)
        return;
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "log %s: ", log->label);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(msg))
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    e->cfg.log(e->cfg.log_ctx, level, msg);
}

void log_mark_ready(struct partition_log *log)
{
    if (log->in_ready)
        return;
    log->in_ready = true;
    log->next_ready = log->engine->ready;
    log->engine->ready = log;
}

int log_submit(struct partition_log *log, const struct log_io_req *req, struct rl_completion *c,
               unsigned flags)
{
    int rc = log_io_submit(log->engine->cfg.io, req, c, flags);
    if (rc == 0)
        log->engine->inflight++;
    return rc;
}

void log_op_done(struct partition_log *log)
{
    assert(log->engine->inflight > 0);
    log->engine->inflight--;
}

void log_engine_submit(struct log_engine *e)
{
    /* A pump that finishes work at once (an append refused, a flush with
     * nothing to do) marks its partition ready again; every such round
     * consumed a queued request, so this ends. */
    while (e->ready != NULL) {
        struct partition_log *list = e->ready;
        e->ready = NULL;
        while (list != NULL) {
            struct partition_log *log = list;
            list = log->next_ready;
            log->in_ready = false;
            log->next_ready = NULL;
            log_pump(log);
        }
    }
}

/*
 * The timers are of a second or so (checkpoints, retention, segment age,
 * giving idle memory back), except interval flushes, so the partitions are
 * looked at every LOG_TICK_WALK_MS (or the shortest flush interval), not
 * at every tick: with 10,000 partitions a walk at each 5 ms tick of the
 * broker cost ~19% of a core while idle.
 */
void log_engine_tick(struct log_engine *e)
{
    int64_t now = engine_now(e);
    if (now < e->next_walk_ms)
        return;
    e->next_walk_ms = now + e->walk_ms;
    for (struct partition_log *log = e->partitions; log != NULL; log = log->next_open) {
        if (log->state != LOG_STATE_OPEN)
            continue;
        struct log_segment *act = log_active(log);
        bool work = false;
        if (log->cfg.flush == LOG_FLUSH_INTERVAL && log->durable_offset < log->next_offset &&
            now - log->last_flush_ms >= log->cfg.flush_interval_ms) {
            log->flush_requested = true;
            work = true;
        }
        if (act->size > 0 && now - act->created_ms >= log->cfg.segment_ms)
            work = true;
        if (log_checkpoint_due(log))
            work = true;
        if (log_retention_due(log, now))
            work = true;
        compact_tick(log, now);
        if (work)
            log_mark_ready(log);
        else
            log_groups_release_idle(log, now);
    }
}

bool log_engine_idle(const struct log_engine *e)
{
    if (e->inflight > 0 || e->ready != NULL || e->compacting != NULL)
        return false;
    for (const struct partition_log *log = e->partitions; log != NULL; log = log->next_open)
        if (log->queue_head != NULL || log->ctl_active || log->groups_inflight > 0)
            return false;
    return true;
}

int log_engine_drive(struct log_engine *e, struct io_uring *ring, const bool *done)
{
    for (;;) {
        log_engine_submit(e);
        if (done != NULL ? *done : log_engine_idle(e))
            return 0;
        if (e->inflight == 0 && e->ready == NULL) {
            /* Nothing can make progress: a caller waiting for a callback
             * that will never come. */
            if (done != NULL)
                return -EDEADLK;
            return 0;
        }
        int rc = io_uring_submit_and_wait(ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EBUSY)
            return rc;
        log_ring_dispatch_ready(ring);
    }
}
