/*
 * Preallocation of the active segment in bounded steps ahead of the writes.
 *
 * A segment used to be fallocate'd to its full segment_bytes (1 GiB) when
 * it was created, so an idle partition cost 1 GiB of disk: the quickstart's
 * 3 partitions took 3.1 GB for 15 KB of messages and a 5,000-partition
 * create filled the disk. Now the file is extended (fallocate mode 0: blocks
 * reserved and the file size set, so appends neither allocate nor move the
 * size) only some way ahead of the write position:
 *
 *  - a brand-new partition preallocates nothing until its first write;
 *  - once the write position comes within half a step of the preallocated
 *    end, the next step is reserved, asynchronously and off the append's
 *    path (nothing waits for it: a write past the reserved end just
 *    allocates as it goes, and a failure only means the writes allocate);
 *  - the step starts at prealloc_bytes (64 KiB) and doubles, up to
 *    LOG_PREALLOC_MAX_BYTES, while each step is used up within a second:
 *    a fast writer gets large contiguous reservations and few fallocates,
 *    an idle one holds at most one small step.
 *
 * Recovery takes the file size as the preallocated end and cuts a tail
 * larger than the biggest step (the 1 GiB reservations of older versions),
 * so a restart gives that space back.
 */
#include <errno.h>
#include <string.h>

#include "log_internal.h"

/* How fast a step must be used up for the next one to double. */
#define PREALLOC_GROW_MS 1000
/* A writer this long between steps is back to the smallest step. */
#define PREALLOC_SHRINK_MS 10000

static uint64_t round_up_page(uint64_t v)
{
    return (v + 4095) & ~(uint64_t)4095;
}

void prealloc_init(struct partition_log *log)
{
    assert(log->cfg.prealloc_bytes > 0);
    log->prealloc_step = log->cfg.prealloc_bytes;
    log->prealloc_busy = false;
}

/* The end a reservation made now for a segment written up to `pos` should reach. */
uint64_t prealloc_target(const struct partition_log *log, uint64_t pos)
{
    uint64_t end = round_up_page(pos + log->prealloc_step);
    return end < log->cfg.segment_bytes ? end : log->cfg.segment_bytes;
}

/* The file was cut to `size` (roll, truncation, repair): nothing is reserved past it. */
void prealloc_cut(struct log_segment *seg, uint64_t size)
{
    if (seg->prealloc_end > size)
        seg->prealloc_end = size;
}

static void on_prealloc(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct partition_log *log = rl_container_of(c, struct partition_log, prealloc_c);
    log_op_done(log);
    assert(log->prealloc_busy);
    log->prealloc_busy = false;
    struct log_segment *seg = log->prealloc_seg;
    log->prealloc_seg = NULL;
    if (res == -EOPNOTSUPP) {
        log->prealloc_off = true; /* the filesystem cannot: writes allocate as they go */
    } else if (res < 0) {
        /* Harmless: the writes allocate themselves, and report a full disk if it is one. */
        log_msg(log, LOG_LEVEL_DEBUG, "preallocation failed: %s", strerror(-res));
    } else if (seg == log_active(log) && log->prealloc_target > seg->prealloc_end) {
        seg->prealloc_end = log->prealloc_target;
    }
    /* A control operation may have been waiting for this to come back. */
    log_mark_ready(log);
}

/*
 * Called before a write group that ends the active segment at `end_after`
 * is submitted: reserves the next step once the writes are within half a
 * step of the reserved end. One reservation at a time per partition.
 */
void prealloc_ahead(struct partition_log *log, uint64_t end_after)
{
    struct log_segment *act = log_active(log);
    if (!log->cfg.preallocate || log->prealloc_off || log->prealloc_busy)
        return;
    if (end_after + log->prealloc_step / 2 <= act->prealloc_end ||
        act->prealloc_end >= log->cfg.segment_bytes)
        return;
    int64_t now = log_now(log);
    if (act->prealloc_end > 0 && now - log->prealloc_ms < PREALLOC_GROW_MS &&
        log->prealloc_step < LOG_PREALLOC_MAX_BYTES)
        log->prealloc_step *= 2; /* the last step went within a second: a fast writer */
    else if (now - log->prealloc_ms > PREALLOC_SHRINK_MS)
        log->prealloc_step = log->cfg.prealloc_bytes; /* slow again: small steps */
    log->prealloc_ms = now;
    uint64_t from = act->prealloc_end;
    uint64_t to = prealloc_target(log, end_after);
    if (to <= from)
        return;
    struct log_io_req r = {.op = LOG_IO_FALLOCATE, .fd = act->fd, .off = from, .len = to - from};
    log->prealloc_c.on_complete = on_prealloc;
    if (log_submit(log, &r, &log->prealloc_c, 0) != 0)
        return; /* the ring is full: the next group tries again */
    log->prealloc_busy = true;
    log->prealloc_seg = act;
    log->prealloc_target = to;
}
