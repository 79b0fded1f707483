/*
 * The read path: by offset (segment by binary search, then the sparse
 * offset index, then a short scan of batch headers in the bytes read), by
 * timestamp (the time index picks where to start), and as a file range for
 * zero-copy sends. Reads pin their segment so that retention or truncation
 * can retire it while the read is in flight.
 */
#include <errno.h>
#include <string.h>

#include "batch.h"
#include "log_internal.h"

struct log_segment *log_active(const struct partition_log *log)
{
    assert(log->nsegs > 0);
    return log->segs[log->nsegs - 1];
}

int log_find_segment(const struct partition_log *log, int64_t offset)
{
    int lo = 0, hi = (int)log->nsegs; /* first segment with base > offset */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

static void read_finish(struct log_read *r, int status)
{
    struct partition_log *log = r->log;
    if (r->seg != NULL)
        segment_unpin(r->seg);
    r->seg = NULL;
    r->log_start_offset = log->start_offset;
    r->log_end_offset = log->next_offset;
    assert(log->reads_inflight > 0);
    log->reads_inflight--;
    r->on_complete(r, status);
    /* The callback may have started another read; a waiting close goes on once all are back. */
    ctl_reads_drained(log);
}

static void read_submit(struct log_read *r);

/*
 * Whether the whole batch at buf[p] must not be handed out: it is known to
 * be bad, or the read verifies and its checksum fails (then it is recorded,
 * for the replication driver to repair). A read that ran across an
 * overwrite (partition_log_overwrite) verifies too: it may hold bytes the
 * overwrite was replacing. The header was checked already.
 */
static bool batch_bad(struct log_read *r, uint64_t p, const struct rl_batch_header *h)
{
    struct partition_log *log = r->log;
    struct log_segment *seg = r->seg;
    if (log->nbad > 0 && bad_at(log, seg->base_offset, r->pos + p) != NULL)
        return true;
    if (!r->verify && r->overwrites == log->overwrites)
        return false;
    uint64_t total = rl_batch_total_bytes(h);
    assert(total >= RL_BATCH_HEADER_BYTES && p + total <= r->cap);
    if (rl_batch_compute_checksum(r->buf + p, (size_t)total) == h->checksum)
        return false;
    if (!r->verify)
        return true; /* read across an overwrite: maybe half old bytes; the reader retries */
    struct log_bad_batch b = {.base_offset = h->base_offset,
                              .last_offset = rl_batch_last_offset(h),
                              .epoch = h->leader_epoch,
                              .len = (uint32_t)total,
                              .checksum = h->checksum,
                              .seg_base = seg->base_offset,
                              .pos = r->pos + p};
    bool kept = bad_note(log, &b);
    log_msg(log, LOG_LEVEL_ERROR,
            "batch at offsets [%lld, %lld] in %s (position %llu) fails its checksum: not served%s",
            (long long)b.base_offset, (long long)b.last_offset, seg->name,
            (unsigned long long)b.pos, kept ? "" : " (too many bad batches to record it)");
    return true;
}

/*
 * Looks at what a read brought: skips the batches before the wanted offset
 * (or, by timestamp, older than wanted), keeps the whole batches that
 * follow, and reads again when the first wanted batch did not fit.
 */
static void on_read(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct log_read *r = rl_container_of(c, struct log_read, io);
    struct partition_log *log = r->log;
    struct log_segment *seg = r->seg;
    log_op_done(log);
    if (res < 0) {
        log_msg(log, LOG_LEVEL_WARN, "read of %s failed: %s", seg->name, strerror(-res));
        read_finish(r, LOG_ERR_STORAGE);
        return;
    }
    /* Truncation may have cut the segment while the read was in flight. */
    uint64_t have = (uint64_t)res;
    if (seg->doomed)
        have = 0;
    else if (r->pos + have > seg->size)
        have = seg->size > r->pos ? seg->size - r->pos : 0;
    uint64_t p = 0, start = UINT64_MAX, end = 0;
    int64_t next = -1;
    bool limit = false;
    while (p < have && have - p >= RL_BATCH_HEADER_BYTES) {
        struct rl_batch_header h;
        rl_batch_header_read(r->buf + p, (size_t)(have - p), &h);
        uint64_t total = rl_batch_total_bytes(&h);
        if (h.magic != RL_BATCH_MAGIC || total < RL_BATCH_HEADER_BYTES || h.last_offset_delta < 0) {
            log_msg(log, LOG_LEVEL_ERROR, "corrupt batch header in %s at position %llu", seg->name,
                    (unsigned long long)(r->pos + p));
            read_finish(r, LOG_ERR_STORAGE);
            return;
        }
        if (h.base_offset >= r->max_offset) {
            limit = true;
            break;
        }
        bool wanted = rl_batch_last_offset(&h) >= r->offset && h.max_timestamp >= r->min_timestamp;
        if (!wanted && start == UINT64_MAX) {
            p += total;
            continue;
        }
        if (p + total > have) {
            if (start == UINT64_MAX) {
                /* The first wanted batch did not fit in what was read. */
                if (total > r->cap) {
                    r->needed_bytes = total;
                    read_finish(r, LOG_ERR_BUFFER_TOO_SMALL);
                    return;
                }
                if (r->pos + p + total > seg->size || r->attempts++ > 2) {
                    read_finish(r, LOG_ERR_STORAGE);
                    return;
                }
                r->pos += p;
                read_submit(r);
                return;
            }
            break;
        }
        if (batch_bad(r, p, &h)) {
            if (start != UINT64_MAX)
                break; /* the data ends before it */
            r->next_offset = rl_batch_last_offset(&h) + 1;
            read_finish(r, LOG_ERR_REPAIRING);
            return;
        }
        if (start == UINT64_MAX)
            start = p;
        end = p + total;
        next = rl_batch_last_offset(&h) + 1;
        p += total;
    }
    if (start != UINT64_MAX) {
        r->data = r->buf + start;
        r->len = (size_t)(end - start);
        r->next_offset = next;
        read_finish(r, LOG_OK);
        return;
    }
    /* Nothing wanted in these bytes: go on reading, or stop at the segment's end. */
    if (!limit && p > 0 && r->pos + p < seg->size && have > 0) {
        r->pos += p;
        read_submit(r);
        return;
    }
    r->data = r->buf;
    r->len = 0;
    if (limit) {
        r->next_offset = r->offset;
        read_finish(r, LOG_OK);
        return;
    }
    /* A segment retired under the read (retention, truncation): ask again at the same offset,
     * which now gets OFFSET_OUT_OF_RANGE or the data that replaced it. */
    r->next_offset =
        seg->doomed ? r->offset : (seg == log_active(log) ? log->next_offset : seg->end_offset);
    if (r->next_offset < r->offset)
        r->next_offset = r->offset;
    read_finish(r, LOG_OK);
}

static void read_submit(struct log_read *r)
{
    struct log_segment *seg = r->seg;
    uint64_t left = seg->size > r->pos ? seg->size - r->pos : 0;
    uint64_t want = left < r->cap ? left : r->cap;
    r->io.on_complete = on_read;
    struct log_io_req req = {
        .op = LOG_IO_READ, .fd = seg->fd, .buf = r->buf, .len = want, .off = r->pos};
    int rc = log_submit(r->log, &req, &r->io, 0);
    if (rc != 0) {
        /* Report through the ring all the same: callers never see a callback inside a call. */
        if (log_io_post(r->log->engine->cfg.io, &r->io, rc) == 0)
            r->log->engine->inflight++;
        else
            read_finish(r, LOG_ERR_BUSY);
    }
}

static int read_start(struct partition_log *log, struct log_read *r, int64_t from)
{
    r->log = log;
    r->seg = NULL;
    r->data = r->buf;
    r->len = 0;
    r->needed_bytes = 0;
    r->attempts = 0;
    r->overwrites = log->overwrites;
    r->next_offset = r->offset;
    if (r->max_offset <= 0)
        r->max_offset = INT64_MAX;
    if (from < log->start_offset || from > log->next_offset)
        return LOG_ERR_OUT_OF_RANGE;
    log->reads_inflight++;
    if (from == log->next_offset) {
        /* At the end: empty, through the ring like any other answer. */
        r->io.on_complete = on_read;
        r->seg = log_active(log);
        segment_pin(r->seg);
        r->pos = r->seg->size;
        read_submit(r);
        return LOG_OK;
    }
    int k = log_find_segment(log, from);
    assert(k >= 0);
    struct log_segment *seg = log->segs[k];
    int64_t off;
    segment_lookup_offset(seg, from, &off, &r->pos);
    r->seg = seg;
    segment_pin(seg);
    read_submit(r);
    return LOG_OK;
}

int partition_log_read(struct partition_log *log, struct log_read *r)
{
    if (log->state == LOG_STATE_CLOSED)
        return LOG_ERR_CLOSED;
    if (r->buf == NULL || r->cap == 0 || r->on_complete == NULL)
        return LOG_ERR_INVALID;
    r->min_timestamp = INT64_MIN;
    return read_start(log, r, r->offset);
}

int partition_log_read_by_time(struct partition_log *log, int64_t timestamp, struct log_read *r)
{
    if (log->state == LOG_STATE_CLOSED)
        return LOG_ERR_CLOSED;
    if (r->buf == NULL || r->cap == 0 || r->on_complete == NULL)
        return LOG_ERR_INVALID;
    r->min_timestamp = timestamp;
    /* The first segment holding a batch at least that recent. */
    uint32_t k = 0;
    while (k < log->nsegs &&
           (log->segs[k]->max_timestamp == INT64_MIN || log->segs[k]->max_timestamp < timestamp))
        k++;
    if (k == log->nsegs) {
        r->offset = log->next_offset;
        return read_start(log, r, log->next_offset);
    }
    int64_t from = segment_lookup_time(log->segs[k], timestamp);
    if (from < log->records_start)
        from = log->records_start;
    r->offset = from;
    return read_start(log, r, from);
}

int partition_log_locate(struct partition_log *log, int64_t offset, uint64_t max_bytes,
                         struct log_file_range *out)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (log->state == LOG_STATE_CLOSED)
        return LOG_ERR_CLOSED;
    if (offset < log->start_offset || offset > log->next_offset)
        return LOG_ERR_OUT_OF_RANGE;
    struct log_segment *seg = log->segs[log_find_segment(log, offset)];
    int64_t off;
    uint64_t pos;
    if (offset == log->next_offset) {
        off = offset;
        pos = seg->size;
    } else {
        segment_lookup_offset(seg, offset, &off, &pos);
    }
    out->fd = seg->fd;
    out->file_offset = pos;
    out->len = seg->size - pos < max_bytes ? seg->size - pos : max_bytes;
    out->first_offset = off;
    /* Known-bad batches: the range starts after one below the offset, ends before any other. */
    for (uint32_t i = 0; i < log->nbad; i++) {
        const struct log_bad_batch *b = &log->bad[i];
        if (b->seg_base != seg->base_offset || b->pos < out->file_offset ||
            b->pos >= out->file_offset + out->len)
            continue;
        if (b->last_offset < offset) {
            uint64_t end = out->file_offset + out->len;
            out->file_offset = b->pos + b->len;
            out->len = end > out->file_offset ? end - out->file_offset : 0;
            out->first_offset = b->last_offset + 1;
            continue;
        }
        out->len = b->pos - out->file_offset;
        if (out->len == 0) {
            out->fd = -1;
            out->seg = NULL;
            return LOG_ERR_REPAIRING;
        }
    }
    out->seg = seg;
    segment_pin(seg);
    return LOG_OK;
}

void partition_log_range_release(struct partition_log *log, struct log_file_range *range)
{
    (void)log;
    if (range->seg != NULL)
        segment_unpin(range->seg);
    range->seg = NULL;
    range->fd = -1;
}
