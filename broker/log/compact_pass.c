/*
 * The steps of a compaction pass (compact_job.h): read segments chunk by
 * chunk through the ring (one chunk of CPU work per completion, so the
 * shard's loop never waits on a pass), map the dirty part's keys, then
 * rewrite each segment that loses a record into temp files, durable before
 * the swap. docs/STORAGE.md, "Compaction".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_job.h"

enum { STEP_NEXT = 0, STEP_PAUSE = 1, STEP_STOP = -1 };

static void read_more(struct compact_job *j);
static void clean_segment(struct compact_job *j, int64_t base);

/* Pins the closed segment at `base` for reading from its start; false when there is none. */
static bool open_segment(struct compact_job *j, int64_t base)
{
    struct partition_log *log = j->log;
    int k = log_find_segment(log, base);
    if (k < 0 || (uint32_t)k + 1 >= log->nsegs || log->segs[k]->base_offset != base)
        return false;
    j->seg = log->segs[k];
    segment_pin(j->seg);
    j->seg_base = base;
    j->seg_end = j->seg->end_offset;
    j->pos = 0;
    j->have = j->used = 0;
    assert(j->seg_end >= base);
    return true;
}

static void close_segment(struct compact_job *j)
{
    if (j->seg != NULL)
        segment_unpin(j->seg);
    j->seg = NULL;
}

/* ------------------------------------------------------------------- map */

static bool map_record(void *ctx, const struct rl_record *r, int64_t offset)
{
    struct compact_job *j = ctx;
    if (r->key_len >= 0 && !j->map_full &&
        compact_map_put(&j->map, compact_digest_of(r->key, (size_t)r->key_len), offset) != 0)
        j->map_full = true;
    return true;
}

static void start_clean(struct compact_job *j)
{
    close_segment(j);
    j->phase = COMPACT_CLEAN;
    struct partition_log *log = j->log;
    assert(j->map_end <= j->limit);
    clean_segment(j, log->segs[0]->base_offset);
}

/*
 * The map is full. The segments mapped whole are the pass; when not even
 * the first one fit, the pass still covers it (every record the map knows
 * a newer version of goes, the others stay) so that compaction moves on.
 */
static void map_stop(struct compact_job *j)
{
    if (j->map_end == j->map_from) {
        j->map_end = j->seg_end;
        j->map_partial = true;
        log_msg(j->log, LOG_LEVEL_WARN,
                "compaction: segment %s has more keys than the key map holds (%u); some older "
                "values stay until a later pass",
                j->seg->name, j->map.max_entries);
    }
    start_clean(j);
}

static int map_batch(struct compact_job *j, const uint8_t *b, const struct rl_batch_header *h)
{
    const uint8_t *out;
    size_t len;
    int r = compact_batch_filter(b, h, map_record, j, &j->scratch, &out, &len);
    if (r < 0) {
        compact_fail(j, LOG_ERR_STORAGE, "a batch does not decode", 0);
        return STEP_STOP;
    }
    assert(r == COMPACT_BATCH_WHOLE);
    if (j->map_full) {
        map_stop(j);
        return STEP_STOP;
    }
    return STEP_NEXT;
}

void compact_pass_begin(struct compact_job *j)
{
    struct partition_log *log = j->log;
    j->phase = COMPACT_MAP;
    int k = log_find_segment(log, j->map_from);
    if (k >= 0)
        j->map_from = j->map_end = log->segs[k]->base_offset;
    if (j->map_from >= j->limit || !open_segment(j, j->map_from)) {
        start_clean(j);
        return;
    }
    read_more(j);
}

/* ----------------------------------------------------------------- clean */

/* Records the offset and time index entries of an output batch at pos (as recovery does). */
static int index_out(struct compact_job *j, uint64_t pos, const struct rl_batch_header *h)
{
    struct log_segment *o = j->out;
    if (h->max_timestamp > o->max_timestamp) {
        o->max_timestamp = h->max_timestamp;
        o->max_ts_offset = h->base_offset;
    }
    if (pos < o->last_index_pos + j->log->cfg.index_interval_bytes)
        return 0;
    if (segment_index_reserve(&o->idx, o->idx.count + 1) != 0 ||
        segment_index_reserve(&o->tidx, o->tidx.count + 1) != 0)
        return -ENOMEM;
    uint8_t e[LOG_TIME_ENTRY];
    idx_put_u32(e, (uint32_t)(h->base_offset - o->base_offset));
    idx_put_u32(e + 4, (uint32_t)pos);
    segment_index_append(&o->idx, e, 1);
    o->last_index_pos = pos;
    if (o->max_timestamp > o->last_time_entry_ts) {
        idx_put_u64(e, (uint64_t)o->max_timestamp);
        idx_put_u32(e + 8, (uint32_t)(o->max_ts_offset - o->base_offset));
        segment_index_append(&o->tidx, e, 1);
        o->last_time_entry_ts = o->max_timestamp;
    }
    return 0;
}

static int append_out(struct compact_job *j, const uint8_t *b, size_t len,
                      const struct rl_batch_header *h)
{
    if (j->wlen + len > j->wcap) {
        size_t cap = j->wcap ? j->wcap : COMPACT_WRITE_BYTES;
        while (cap < j->wlen + len)
            cap *= 2;
        uint8_t *p = realloc(j->wbuf, cap);
        if (p == NULL)
            return -ENOMEM;
        j->wbuf = p;
        j->wcap = cap;
    }
    uint64_t pos = j->wpos + j->wlen;
    memcpy(j->wbuf + j->wlen, b, len);
    j->wlen += len;
    j->out->size = pos + len;
    return index_out(j, pos, h);
}

static void written_then_process(struct compact_job *j, int32_t res);

static void flush_out(struct compact_job *j, void (*next)(struct compact_job *, int32_t))
{
    assert(j->out_fd >= 0 && j->wlen > 0);
    compact_io(
        j,
        &(struct log_io_req){
            .op = LOG_IO_WRITE, .fd = j->out_fd, .buf = j->wbuf, .len = j->wlen, .off = j->wpos},
        next);
}

/* A write of the output is back: whole, or the pass fails (a short write is a full disk). */
static bool write_ok(struct compact_job *j, int32_t res)
{
    if (res < 0 || (size_t)res != j->wlen) {
        int st = res < 0 ? log_status_from_errno(-res) : LOG_ERR_NO_SPACE;
        compact_fail(j, st, "writing the compacted segment", res < 0 ? res : -ENOSPC);
        return false;
    }
    j->wpos += j->wlen;
    j->wlen = 0;
    return true;
}

static void on_tmp_open(struct compact_job *j, int32_t res)
{
    if (res < 0) {
        compact_fail(j, log_status_from_errno(-res), "creating the compacted segment", res);
        return;
    }
    j->out_fd = res;
    read_more(j); /* from the segment's start again */
}

/*
 * The first record of the segment goes: from now on the segment is written
 * out, from its start (the bytes before were all kept, and are read again).
 */
static void start_rewrite(struct compact_job *j)
{
    struct partition_log *log = j->log;
    j->out = segment_new(log, j->seg_base);
    if (j->out == NULL) {
        compact_fail(j, LOG_ERR_NOMEM, "out of memory", 0);
        return;
    }
    j->out->end_offset = j->seg_end;
    j->writing = true;
    j->seg_removed_records = 0;
    j->pos = 0;
    j->have = j->used = 0;
    j->wpos = j->wlen = 0;
    const char *names[3] = {j->seg->name, j->seg->idx.name, j->seg->tidx.name};
    for (int i = 0; i < 3; i++)
        snprintf(j->tmp[i], sizeof(j->tmp[i]), "%s%s", names[i], COMPACT_TMP_SUFFIX);
    j->tmp_exists[0] = true;
    compact_io(j,
               &(struct log_io_req){.op = LOG_IO_OPENAT,
                                    .fd = j->dir_fd,
                                    .path = j->tmp[0],
                                    .flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                                    .mode = 0644},
               on_tmp_open);
}

static int clean_batch(struct compact_job *j, const uint8_t *b, const struct rl_batch_header *h)
{
    const uint8_t *out;
    size_t len;
    int r = compact_batch_filter(b, h, compact_keep_record, j, &j->scratch, &out, &len);
    if (r < 0) {
        compact_fail(j, r == RL_ERR_NOMEM ? LOG_ERR_NOMEM : LOG_ERR_STORAGE,
                     "a batch does not decode or encode", 0);
        return STEP_STOP;
    }
    if (!j->writing) {
        if (r == COMPACT_BATCH_WHOLE)
            return STEP_NEXT;
        start_rewrite(j);
        return STEP_STOP;
    }
    if (r == COMPACT_BATCH_DROPPED)
        return STEP_NEXT;
    struct rl_batch_header nh = *h;
    if (r == COMPACT_BATCH_REBUILT)
        rl_batch_header_read(out, len, &nh);
    if (append_out(j, out, len, &nh) != 0) {
        compact_fail(j, LOG_ERR_NOMEM, "out of memory", 0);
        return STEP_STOP;
    }
    if (j->wlen < COMPACT_WRITE_BYTES)
        return STEP_NEXT;
    flush_out(j, written_then_process);
    return STEP_PAUSE;
}

/* --------------------------------------------------------------- reading */

static void segment_read_done(struct compact_job *j);

/* Grows the read buffer for a batch larger than it (bounded by max_batch_bytes). */
static bool fit_batch(struct compact_job *j, size_t total)
{
    if (total > j->log->cfg.max_batch_bytes || j->pos + j->used + total > j->seg->size) {
        compact_fail(j, LOG_ERR_STORAGE, "a segment holds a bad batch", 0);
        return false;
    }
    if (total <= j->cap)
        return true;
    uint8_t *p = malloc(total);
    if (p == NULL) {
        compact_fail(j, LOG_ERR_NOMEM, "out of memory", 0);
        return false;
    }
    free(j->buf);
    j->buf = p;
    j->cap = total;
    return true;
}

/* One chunk's worth of batches; at its end, the next read. */
static void process(struct compact_job *j)
{
    struct partition_log *log = j->log;
    while (j->have - j->used >= RL_BATCH_HEADER_BYTES) {
        const uint8_t *b = j->buf + j->used;
        struct rl_batch_header h;
        rl_batch_header_read(b, j->have - j->used, &h);
        size_t total = rl_batch_total_bytes(&h);
        if (total > j->have - j->used) {
            if (!fit_batch(j, total))
                return;
            break;
        }
        if (rl_batch_validate_control(b, total, log->cfg.max_batch_bytes, &h) != RL_OK) {
            compact_fail(j, LOG_ERR_STORAGE, "a segment holds a corrupt batch", 0);
            return;
        }
        int r = j->phase == COMPACT_MAP ? map_batch(j, b, &h) : clean_batch(j, b, &h);
        if (r == STEP_STOP)
            return;
        j->used += total;
        if (r == STEP_PAUSE)
            return;
    }
    read_more(j);
}

static void written_then_process(struct compact_job *j, int32_t res)
{
    if (write_ok(j, res))
        process(j);
}

static void on_read(struct compact_job *j, int32_t res)
{
    if (res <= 0) {
        compact_fail(j, LOG_ERR_STORAGE, "reading a segment", res < 0 ? res : -EIO);
        return;
    }
    j->have = (size_t)res;
    j->used = 0;
    j->log->compact.stats.bytes_read += (uint64_t)res;
    compact_count(&j->log->engine->compact.bytes_read, (uint64_t)res);
    process(j);
}

static void read_more(struct compact_job *j)
{
    j->pos += j->used;
    j->have = j->used = 0;
    uint64_t size = j->seg->size;
    if (j->pos >= size) {
        segment_read_done(j);
        return;
    }
    uint64_t want = size - j->pos < j->cap ? size - j->pos : j->cap;
    compact_io(j,
               &(struct log_io_req){
                   .op = LOG_IO_READ, .fd = j->seg->fd, .buf = j->buf, .len = want, .off = j->pos},
               on_read);
}

/* ------------------------------------------------------- segment written */

static void index_step(struct compact_job *j, int32_t res);

/* The closed segment's last time entry carries its max timestamp (as a roll writes it). */
static void final_time_entry(struct compact_job *j)
{
    struct log_segment *o = j->out, *old = j->seg;
    if (old->max_timestamp == INT64_MIN || old->max_timestamp <= o->last_time_entry_ts)
        return;
    int64_t rel = old->max_ts_offset - o->base_offset;
    if (o->tidx.count > 0) {
        int64_t last = idx_get_u32(segment_index_entry(&o->tidx, o->tidx.count - 1) + 8);
        rel = rel > last ? rel : last;
    }
    if (segment_index_reserve(&o->tidx, o->tidx.count + 1) != 0)
        return; /* without it, recovery rebuilds the index: slower, not wrong */
    uint8_t t[LOG_TIME_ENTRY];
    idx_put_u64(t, (uint64_t)old->max_timestamp);
    idx_put_u32(t + 8, (uint32_t)rel);
    segment_index_append(&o->tidx, t, 1);
    o->last_time_entry_ts = o->max_timestamp = old->max_timestamp;
    o->max_ts_offset = o->base_offset + rel;
}

/*
 * Index files: for each, create the temp file, write the entries, fdatasync,
 * close (ix_step 0..3 for .index, 4..7 for .timeindex). Then the segment
 * waits for its swap.
 */
static void index_step(struct compact_job *j, int32_t res)
{
    int step = j->ix_step++;
    struct seg_index *ix = step < 4 ? &j->out->idx : &j->out->tidx;
    const char *name = j->tmp[step < 4 ? 1 : 2];
    if (step > 0 &&
        (res < 0 || (step % 4 == 2 && (uint64_t)res != (uint64_t)ix->count * ix->entry_size))) {
        compact_fail(j, res < 0 ? log_status_from_errno(-res) : LOG_ERR_NO_SPACE,
                     "writing the compacted segment's index", res < 0 ? res : -ENOSPC);
        return;
    }
    struct log_io_req req;
    switch (step % 4) {
    case 0:
        if (step == 8) {
            close_segment(j);
            j->log->compact.swap_ready = true;
            log_mark_ready(j->log);
            return;
        }
        j->tmp_exists[step < 4 ? 1 : 2] = true;
        req = (struct log_io_req){.op = LOG_IO_OPENAT,
                                  .fd = j->dir_fd,
                                  .path = name,
                                  .flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                                  .mode = 0644};
        break;
    case 1:
        j->ix_fd = res;
        req = (struct log_io_req){.op = LOG_IO_WRITE,
                                  .fd = j->ix_fd,
                                  .buf = ix->mem,
                                  .len = (uint64_t)ix->count * ix->entry_size};
        if (ix->count == 0) { /* nothing to write: go straight to the sync */
            j->ix_step++;
            req = (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = j->ix_fd};
        }
        break;
    case 2:
        req = (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = j->ix_fd};
        break;
    default:
        req = (struct log_io_req){.op = LOG_IO_CLOSE, .fd = j->ix_fd};
        j->ix_fd = -1;
        break;
    }
    compact_io(j, &req, index_step);
}

static void on_out_synced(struct compact_job *j, int32_t res)
{
    if (res < 0) {
        compact_fail(j, log_status_from_errno(-res), "fdatasync of the compacted segment", res);
        return;
    }
    final_time_entry(j);
    j->ix_step = 0;
    index_step(j, 0);
}

static void on_last_write(struct compact_job *j, int32_t res)
{
    if (!write_ok(j, res))
        return;
    compact_io(j, &(struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = j->out_fd}, on_out_synced);
}

static void pass_done(struct compact_job *j)
{
    close_segment(j);
    log_msg(j->log, LOG_LEVEL_DEBUG, "compaction pass done: offsets below %lld compacted",
            (long long)j->map_end);
    compact_cleanup(j);
}

static void segment_read_done(struct compact_job *j)
{
    if (j->phase == COMPACT_MAP) {
        j->map_end = j->seg_end;
        close_segment(j);
        if (j->map_end < j->limit && open_segment(j, j->map_end))
            read_more(j);
        else
            start_clean(j);
        return;
    }
    if (!j->writing) {
        close_segment(j);
        clean_segment(j, j->seg_end);
        return;
    }
    if (j->wlen > 0)
        flush_out(j, on_last_write);
    else
        on_last_write(j, 0);
}

/* Cleans the segment at base when it is below the map's end; otherwise the pass is over. */
static void clean_segment(struct compact_job *j, int64_t base)
{
    j->writing = false;
    j->seg_removed_records = 0;
    if (base >= j->map_end || !open_segment(j, base)) {
        pass_done(j);
        return;
    }
    read_more(j);
}

void compact_pass_after_swap(struct compact_job *j)
{
    assert(j->out == NULL && j->seg == NULL);
    clean_segment(j, j->seg_end);
}

/* ------------------------------------------------------------ the rule */

/*
 * Keep the record at `offset`? Not when the map knows a newer record of its
 * key. A tombstone (null value) that is its key's newest record goes once
 * delete_retention_ms have passed since its timestamp, if nothing older of
 * its key can be left: it is in the map, or it is in the compacted part and
 * every pass so far mapped whole segments. Records without a key stay.
 */
bool compact_keep_record(void *ctx, const struct rl_record *r, int64_t offset)
{
    struct compact_job *j = ctx;
    if (r->key_len < 0)
        return true;
    int64_t newest = compact_map_get(&j->map, compact_digest_of(r->key, (size_t)r->key_len));
    bool keep = newest <= offset;
    if (keep && r->value_len < 0) {
        struct partition_log *log = j->log;
        bool alone =
            newest == offset || (newest < 0 && offset < j->map_from && log->compact.dedup_complete);
        int64_t keep_ms = log->cfg.delete_retention_ms;
        int64_t due = r->timestamp > INT64_MAX - keep_ms ? INT64_MAX : r->timestamp + keep_ms;
        if (alone && due <= j->started_ms)
            keep = false;
        else if (due < j->tombstone_due_ms)
            j->tombstone_due_ms = due;
    }
    if (!keep)
        j->seg_removed_records++;
    return keep;
}
