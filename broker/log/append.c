/*
 * The write path: the per-partition FIFO of appends and control operations,
 * the pump that decides what runs next, and write groups (group commit).
 *
 * Appends queued while groups are in flight are taken together by the next
 * group, so under flush=always one fdatasync covers every batch that arrived
 * in the meantime (group commit). Up to max_inflight_groups groups are in
 * flight at once (pipelining): a new group is written and synced while the
 * previous one's fdatasync runs, so an append waits for about one fdatasync,
 * not a queue of them. Groups retire strictly in order, and a failed group
 * fails every later one in flight, so nothing after a hole is ever visible.
 * A control operation runs alone, once every group has retired.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "batch.h"
#include "log_internal.h"

/* ------------------------------------------------------------- reporting */

/* The first failure is an error in the log; the ones that follow it, until
 * a write succeeds again, are only debug lines. */
void log_note_failure(struct partition_log *log, const char *what, int err)
{
    err = err > 0 ? err : -err;
    bool full = log_status_from_errno(err) == LOG_ERR_NO_SPACE;
    snprintf(log->last_error, sizeof(log->last_error), "%s failed: %s", what, strerror(err));
    if (!log->failed) {
        log_msg(log, LOG_LEVEL_ERROR, "%s; appends fail with %s until %s, reads continue",
                log->last_error, full ? "NO_SPACE" : "STORAGE_ERROR",
                full ? "space is freed" : "a write succeeds again");
        log->failed = true;
    } else {
        log_msg(log, LOG_LEVEL_DEBUG, "%s failed again: %s", what, strerror(err));
    }
}

void log_note_success(struct partition_log *log)
{
    if (log->failed) {
        log_msg(log, LOG_LEVEL_INFO, "writes succeed again");
        log->failed = false;
        log->last_error[0] = 0;
    }
}

/* ------------------------------------------------------------- the queue */

static void enqueue(struct partition_log *log, struct log_op *op)
{
    op->next = NULL;
    if (log->queue_tail != NULL)
        log->queue_tail->next = op;
    else
        log->queue_head = op;
    log->queue_tail = op;
}

static struct log_op *dequeue(struct partition_log *log)
{
    struct log_op *op = log->queue_head;
    if (op == NULL)
        return NULL;
    log->queue_head = op->next;
    if (log->queue_head == NULL)
        log->queue_tail = NULL;
    op->next = NULL;
    return op;
}

static void append_finish(struct log_append *a, int status)
{
    a->status = status;
    void (*on_durable)(struct log_append *, int) = a->on_durable;
    a->on_written(a, status);
    if (status != LOG_OK && on_durable != NULL)
        on_durable(a, status);
}

/*
 * Fails queued operations: the leading appends only (a roll or repair that
 * failed), or everything (the partition is going away).
 */
void log_fail_queue(struct partition_log *log, int status)
{
    bool everything = status == LOG_ERR_CLOSED;
    while (log->queue_head != NULL) {
        if (!everything && log->queue_head->kind != LOG_OP_APPEND)
            break;
        struct log_op *op = dequeue(log);
        if (op->kind == LOG_OP_APPEND) {
            append_finish((struct log_append *)op, status);
        } else {
            struct log_ctl *c = (struct log_ctl *)op;
            c->offset = log->next_offset;
            c->on_complete(c, status);
        }
    }
}

/* -------------------------------------------------------------- durable */

void log_durable_advance(struct partition_log *log, int64_t offset, uint64_t pos)
{
    assert(offset <= log->next_offset);
    if (offset < log->durable_offset)
        return;
    bool moved = offset > log->durable_offset;
    log->durable_offset = offset;
    log->durable_pos = pos;
    while (log->durable_head != NULL && log->durable_head->last_offset < offset) {
        struct log_append *a = log->durable_head;
        log->durable_head = a->next_durable;
        if (log->durable_head == NULL)
            log->durable_tail = NULL;
        a->on_durable(a, LOG_OK);
    }
    if (moved && log->cfg.on_durable_advance != NULL)
        log->cfg.on_durable_advance(log, offset, log->cfg.ctx);
}

void log_durable_fail(struct partition_log *log, int status)
{
    while (log->durable_head != NULL) {
        struct log_append *a = log->durable_head;
        log->durable_head = a->next_durable;
        if (log->durable_head == NULL)
            log->durable_tail = NULL;
        a->on_durable(a, status);
    }
}

static void durable_wait(struct partition_log *log, struct log_append *a)
{
    a->next_durable = NULL;
    if (log->durable_tail != NULL)
        log->durable_tail->next_durable = a;
    else
        log->durable_head = a;
    log->durable_tail = a;
}

/* --------------------------------------------------------------- append */

/*
 * Checks the batches of an append before it is queued: whole, of a known
 * format, inside the limits, and (exact offsets) in growing order: a
 * compacted range copied from a replica has offset gaps between batches
 * (docs/STORAGE.md, "Compaction"). Checksums only with LOG_APPEND_VALIDATE:
 * the broker has usually verified them already.
 */
static int check_batches(const struct partition_log *log, const struct log_append *a)
{
    size_t p = 0;
    int64_t expect = -1;
    while (p < a->len) {
        struct rl_batch_header h;
        int rc;
        bool control_ok = (a->flags & LOG_APPEND_CONTROL) != 0;
        if ((a->flags & LOG_APPEND_VALIDATE) && control_ok)
            rc = rl_batch_validate_control(a->data + p, a->len - p, log->cfg.max_batch_bytes, &h);
        else if (a->flags & LOG_APPEND_VALIDATE)
            rc = rl_batch_validate(a->data + p, a->len - p, log->cfg.max_batch_bytes, &h);
        else
            rc = rl_batch_header_read(a->data + p, a->len - p, &h);
        if (rc != RL_OK || (rl_batch_is_control(&h) && !control_ok))
            return LOG_ERR_CORRUPT_BATCH;
        size_t total = rl_batch_total_bytes(&h);
        if (h.magic != RL_BATCH_MAGIC || total < RL_BATCH_HEADER_BYTES || total > a->len - p ||
            h.last_offset_delta < 0 || total > log->cfg.max_batch_bytes)
            return LOG_ERR_CORRUPT_BATCH;
        if (a->flags & LOG_APPEND_EXACT_OFFSETS) {
            if (h.base_offset < 0 || (expect >= 0 && h.base_offset < expect))
                return LOG_ERR_INVALID;
            expect = rl_batch_last_offset(&h) + 1;
        }
        p += total;
    }
    return LOG_OK;
}

int partition_log_append(struct partition_log *log, struct log_append *a)
{
    if (log->state != LOG_STATE_OPEN)
        return LOG_ERR_CLOSED;
    if (a->data == NULL || a->len == 0 || a->on_written == NULL)
        return LOG_ERR_INVALID;
    if (a->len > log->cfg.max_append_bytes)
        return LOG_ERR_TOO_LARGE;
    int rc = check_batches(log, a);
    if (rc != LOG_OK)
        return rc;
    a->op.kind = LOG_OP_APPEND;
    a->status = 1; /* pending */
    a->base_offset = a->last_offset = -1;
    a->batch_count = 0;
    a->next_durable = NULL;
    enqueue(log, &a->op);
    log_mark_ready(log);
    return LOG_OK;
}

static int enqueue_ctl(struct partition_log *log, struct log_ctl *c, uint8_t kind)
{
    if (log->state != LOG_STATE_OPEN)
        return LOG_ERR_CLOSED;
    if (c == NULL || c->on_complete == NULL)
        return LOG_ERR_INVALID;
    c->op.kind = kind;
    if (kind == LOG_OP_CLOSE || kind == LOG_OP_DELETE)
        log->state = LOG_STATE_CLOSING; /* later requests get LOG_ERR_CLOSED */
    enqueue(log, &c->op);
    log_mark_ready(log);
    return LOG_OK;
}

int partition_log_flush(struct partition_log *log, struct log_ctl *c)
{
    return enqueue_ctl(log, c, LOG_OP_FLUSH);
}

int partition_log_truncate(struct partition_log *log, int64_t offset, struct log_ctl *c)
{
    if (c != NULL)
        c->offset = offset;
    return enqueue_ctl(log, c, LOG_OP_TRUNCATE);
}

int partition_log_close(struct partition_log *log, struct log_ctl *c)
{
    return enqueue_ctl(log, c, LOG_OP_CLOSE);
}

int partition_log_delete(struct partition_log *log, struct log_ctl *c)
{
    return enqueue_ctl(log, c, LOG_OP_DELETE);
}

int partition_log_enforce_retention(struct partition_log *log, struct log_ctl *c)
{
    return enqueue_ctl(log, c, LOG_OP_RETENTION);
}

int partition_log_advance_start(struct partition_log *log, int64_t offset, struct log_ctl *c)
{
    assert(c != NULL);
    c->offset = offset;
    return offset < 0 ? LOG_ERR_INVALID : enqueue_ctl(log, c, LOG_OP_ADVANCE_START);
}

int partition_log_reset(struct partition_log *log, int64_t offset, int32_t start_epoch,
                        struct log_ctl *c)
{
    if (offset < 0 || start_epoch < 0)
        return LOG_ERR_INVALID;
    if (c != NULL) {
        c->offset = offset;
        c->epoch = start_epoch;
    }
    return enqueue_ctl(log, c, LOG_OP_RESET);
}

int partition_log_overwrite(struct partition_log *log, const uint8_t *data, size_t len,
                            struct log_ctl *c)
{
    struct rl_batch_header h;
    if (c == NULL || data == NULL ||
        rl_batch_validate_control(data, len, log->cfg.max_batch_bytes, &h) != RL_OK ||
        rl_batch_total_bytes(&h) != len)
        return LOG_ERR_INVALID;
    const struct log_bad_batch *b = bad_find(log, h.base_offset);
    if (b == NULL)
        return LOG_ERR_OUT_OF_RANGE;
    if (b->len != len || b->last_offset != rl_batch_last_offset(&h) || b->epoch != h.leader_epoch)
        return LOG_ERR_INVALID;
    c->data = data;
    c->len = len;
    c->offset = h.base_offset;
    return enqueue_ctl(log, c, LOG_OP_OVERWRITE);
}

/* ---------------------------------------------------------------- groups */

static void groups_retire(struct partition_log *log);

/* The i-th group in flight, counting from the oldest; i == groups_inflight is the next free one. */
static struct log_group *group_at(struct partition_log *log, uint32_t i)
{
    assert(i < log->cfg.max_inflight_groups);
    return &log->groups[(log->group_head + i) % log->cfg.max_inflight_groups];
}

static struct log_group *group_newest(struct partition_log *log)
{
    return log->groups_inflight > 0 ? group_at(log, log->groups_inflight - 1) : NULL;
}

static void group_op_done(struct log_group *g)
{
    log_op_done(g->log);
    assert(g->pending > 0);
    if (--g->pending == 0)
        groups_retire(g->log);
}

static bool group_written_ok(const struct log_group *g)
{
    return g->write_done && g->write_res >= 0 && (uint64_t)g->write_res == g->bytes;
}

static void report_stored(struct partition_log *log, struct log_group *g)
{
    assert(!g->stored && group_written_ok(g));
    g->stored = true;
    log->stored_offset = g->next_offset;
    for (struct log_append *a = g->first; a != NULL; a = (struct log_append *)a->op.next)
        if (a->on_stored != NULL)
            a->on_stored(a, LOG_OK);
}

/*
 * Under flush=always a group's bytes are in the file (the page cache) once
 * its writev is back, an fdatasync before they are durable. A replication
 * leader sends them to its followers from there (on_stored), so their
 * copies are not one fsync late. In group order: a group is reported once
 * its writev and every earlier group's are back and whole.
 */
static void groups_stored(struct partition_log *log)
{
    for (uint32_t i = 0; i < log->groups_inflight && !log->group_chain_failed; i++) {
        struct log_group *g = group_at(log, i);
        if (g->stored)
            continue;
        if (!group_written_ok(g))
            return;
        report_stored(log, g);
    }
}

static void on_group_write(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct log_group *g = rl_container_of(c, struct log_group, write_c);
    g->write_res = res;
    g->write_done = true;
    if (g->with_sync)
        groups_stored(g->log);
    group_op_done(g);
}

static void on_group_sync(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct log_group *g = rl_container_of(c, struct log_group, sync_c);
    g->sync_res = res;
    group_op_done(g);
}

/* Bytes of the one mapping that holds a partition's groups and their staging buffers. */
static size_t groups_map_bytes(const struct partition_log *log, uint32_t stage_cap)
{
    size_t n = log->cfg.max_inflight_groups;
    size_t bytes =
        n * sizeof(struct log_group) + n * stage_cap * (LOG_INDEX_ENTRY + LOG_TIME_ENTRY);
    return (bytes + 4095) & ~(size_t)4095;
}

/*
 * The groups and their staging buffers are one anonymous mapping, not
 * heap blocks: its pages are zero and not resident until touched, so a
 * partition that writes a message or two holds a page or so per group
 * (with calloc, 10,000 partitions with one message each held ~400 MB of
 * RSS: calloc zeroes the iovec arrays, and freed heap blocks are not given
 * back), and freeing it gives every page back.
 */
int log_groups_alloc(struct partition_log *log)
{
    uint32_t n = log->cfg.max_inflight_groups;
    /* Entries are at least index_interval_bytes apart: a group adds at most this many. */
    uint32_t stage_cap = log->cfg.max_group_bytes / log->cfg.index_interval_bytes + 2;
    assert(n >= 1 && n <= LOG_MAX_INFLIGHT_GROUPS && log->groups == NULL);
    void *map = mmap(NULL, groups_map_bytes(log, stage_cap), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -ENOMEM;
    log->groups = map;
    uint8_t *stage = (uint8_t *)map + n * sizeof(struct log_group);
    for (uint32_t i = 0; i < n; i++) {
        struct log_group *g = &log->groups[i];
        g->log = log;
        g->write_c.on_complete = on_group_write;
        g->sync_c.on_complete = on_group_sync;
        g->stage_cap = stage_cap;
        g->idx_stage = stage;
        stage += (size_t)stage_cap * LOG_INDEX_ENTRY;
        g->tidx_stage = stage;
        stage += (size_t)stage_cap * LOG_TIME_ENTRY;
    }
    return 0;
}

/*
 * An idle partition gives its groups' memory back: each group holds an
 * iovec array and staged-index buffers sized for max_group_bytes (~180 KiB
 * at the defaults), which 10,000 mostly idle partitions cannot all keep.
 * They are allocated again by the next append (log_pump).
 */
void log_groups_release_idle(struct partition_log *log, int64_t now)
{
    if (log->groups == NULL || log->groups_inflight > 0 || log->queue_head != NULL)
        return;
    if (log->idle_mark != log->groups_started) {
        log->idle_mark = log->groups_started;
        log->idle_since_ms = now;
        return;
    }
    if (now - log->idle_since_ms >= LOG_IDLE_FREE_MS) {
        assert(log->groups_inflight == 0);
        log_groups_free(log);
    }
}

void log_groups_free(struct partition_log *log)
{
    if (log->groups == NULL)
        return;
    assert(log->groups_inflight == 0);
    munmap(log->groups, groups_map_bytes(log, log->groups[0].stage_cap));
    log->groups = NULL;
}

/*
 * Stamps the batches of one append (unless their offsets are exact) and
 * stages the index entries they add. An exact-offset append may start past
 * *offset and leave gaps between its batches (a compacted range); one that
 * starts below *offset leaves the group untouched and returns
 * LOG_ERR_OFFSET_MISMATCH.
 */
static int stage_append(struct partition_log *log, struct log_group *g, struct log_append *a,
                        int64_t *offset)
{
    const struct log_segment *act = log_active(log);
    const uint32_t interval = log->cfg.index_interval_bytes;
    if ((a->flags & LOG_APPEND_EXACT_OFFSETS) != 0) {
        struct rl_batch_header h;
        int rc = rl_batch_header_read(a->data, a->len, &h);
        assert(rc == RL_OK);
        (void)rc;
        if (h.base_offset < *offset)
            return LOG_ERR_OFFSET_MISMATCH;
    }
    int64_t off = *offset;
    size_t p = 0;
    a->base_offset = -1;
    a->batch_count = 0;
    a->max_timestamp = INT64_MIN;
    while (p < a->len) {
        struct rl_batch_header h;
        int rc = rl_batch_header_read(a->data + p, a->len - p, &h);
        assert(rc == RL_OK);
        (void)rc;
        size_t total = rl_batch_total_bytes(&h);
        assert(total <= a->len - p);
        if ((a->flags & LOG_APPEND_EXACT_OFFSETS) == 0)
            rl_batch_stamp(a->data + p, off, a->leader_epoch);
        else
            off = h.base_offset; /* check_batches: at or past off */
        assert(off >= *offset);
        if (a->base_offset < 0)
            a->base_offset = off;
        uint64_t bpos = g->pos + g->bytes + p;
        if (h.max_timestamp > g->max_timestamp) {
            g->max_timestamp = h.max_timestamp;
            g->max_ts_offset = off;
        }
        if (h.max_timestamp > a->max_timestamp)
            a->max_timestamp = h.max_timestamp;
        if (bpos >= g->last_index_pos + interval) {
            assert(g->idx_n < g->stage_cap);
            uint8_t *e = g->idx_stage + (size_t)g->idx_n * LOG_INDEX_ENTRY;
            idx_put_u32(e, (uint32_t)(off - act->base_offset));
            idx_put_u32(e + 4, (uint32_t)bpos);
            g->idx_n++;
            g->last_index_pos = bpos;
            if (g->max_timestamp > g->last_time_entry_ts) {
                uint8_t *t = g->tidx_stage + (size_t)g->tidx_n * LOG_TIME_ENTRY;
                idx_put_u64(t, (uint64_t)g->max_timestamp);
                idx_put_u32(t + 8, (uint32_t)(g->max_ts_offset - act->base_offset));
                g->tidx_n++;
                g->last_time_entry_ts = g->max_timestamp;
            }
        }
        off += (int64_t)h.last_offset_delta + 1;
        a->batch_count++;
        p += total;
    }
    a->last_offset = off - 1;
    *offset = off;
    return LOG_OK;
}

/*
 * Would appending `len` bytes to the active segment break segment_bytes, segment_ms or the 32-bit
 * relative offsets? Only a non-empty segment rolls. Groups in flight count as written: the append
 * would follow them.
 */
static bool roll_needed(struct partition_log *log, size_t len)
{
    const struct log_segment *act = log_active(log);
    const struct log_group *prev = group_newest(log);
    uint64_t size = prev != NULL ? prev->pos + prev->bytes : act->size;
    int64_t next = prev != NULL ? prev->next_offset : log->next_offset;
    if (size == 0)
        return false;
    if (size + len > log->cfg.segment_bytes)
        return true;
    if (next - act->base_offset > LOG_MAX_RELATIVE_OFFSET)
        return true;
    return log_now(log) - act->created_ms >= log->cfg.segment_ms;
}

static void writeback_kick_done(struct rl_completion *c, int32_t res, uint32_t flags)
{
    /* Nothing depends on it: a failed hint is harmless, the next flush tells. */
    (void)c;
    (void)res;
    (void)flags;
}

/* Shared by every partition and never freed, so a late CQE is always safe. */
static struct rl_completion writeback_kick_c = {.on_complete = writeback_kick_done};

/*
 * Bounds a fast writer's page cache. A fast writer fills the page cache with its log, and once
 * memory is full every new page costs reclaim. In 30 s runs at ~600 MB/s the broker's CPU per
 * message doubled from the moment free memory ran out (the writes' io-wq workers reclaiming), while
 * the same bytes written in 5 s never paid it. Dropping what is already written back and far enough
 * behind the end (POSIX_FADV_DONTNEED, clean pages only) keeps memory free, as Redpanda's own
 * bounded cache does; consumers near the end still read from memory, and one further behind reads
 * the disk. `written_back` is how far the file is known to be clean: the end of what the previous
 * kick wrote back (LOG_WRITEBACK_KICK_BYTES or more ago), or under flush=always the end of the log.
 */
static void cache_drop_behind(struct partition_log *log, struct log_segment *act,
                              uint64_t written_back)
{
    int64_t keep = log->cfg.cache_keep_bytes;
    if (keep < 0 || written_back <= (uint64_t)keep)
        return;
    uint64_t end = (written_back - (uint64_t)keep) & ~(uint64_t)4095;
    if (end <= act->cache_drop_pos)
        return;
    struct log_io_req r = {.op = LOG_IO_FADVISE,
                           .fd = act->fd,
                           .off = act->cache_drop_pos,
                           .len = end - act->cache_drop_pos,
                           .flags = POSIX_FADV_DONTNEED};
    if (log_io_submit(log->engine->cfg.io, &r, &writeback_kick_c, 0) == 0)
        act->cache_drop_pos = end;
}

/*
 * Under flush none/interval nothing syncs the data between segment rolls,
 * so a segment could hold up to segment_bytes of dirty pages. Then the
 * fdatasync at the roll (which the next append waits for) would write all
 * of it at once, and the kernel's dirty-page throttling would stall writes
 * in between. Starting writeback (sync_file_range WRITE, no wait) of every
 * 2 MiB already written keeps the dirty part of a segment small, so the
 * roll's sync and the throttling cost little. It is a hint: it makes
 * nothing durable and nothing waits for it.
 *
 * Why 2 MiB (LOG_WRITEBACK_KICK_BYTES) and not more: the kick, and the
 * cache drop that follows it, run in an io-wq worker, which is kernel code
 * and on a PREEMPT_NONE kernel keeps its CPU until done. For 8 MiB each
 * took 1-2 ms of CPU, during which the appends and the shard waiting for
 * that CPU waited too: at half load (370 k 1 KiB msgs/s, 8 partitions)
 * the ack's p99 was 3.0-4.3 ms with 8 MiB and 1.2-2.0 ms with 2 MiB, for
 * the same throughput at full load (1 MiB cost 4-6 % of it).
 *
 * Only for a partition writing fast. Writeback of a range stalls the next
 * appends to the file for milliseconds on ext4 (measured: at 5,000 1 KiB
 * messages/s, p99.9 of the ack 4.4 ms with the kick, 1.1 ms without), and a
 * slow writer gains nothing from it: the kernel's flusher writes its few
 * dirty megabytes long before a roll. So a partition writing under 8 MB/s
 * (LOG_WRITEBACK_KICK_BYTES within LOG_WRITEBACK_KICK_WINDOW_MS) is left
 * to the flusher.
 *
 * Under flush=always there is nothing to start (every group was synced),
 * but a fast writer's page cache is bounded the same way, every kick.
 */
static void writeback_kick(struct partition_log *log, struct log_segment *act)
{
    if (act->size < act->writeback_pos) /* truncated meanwhile */
        act->writeback_pos = act->size;
    if (act->size < act->cache_drop_pos)
        act->cache_drop_pos = act->size;
    if (act->size - act->writeback_pos < LOG_WRITEBACK_KICK_BYTES)
        return;
    /* The clock is read only here, once per kick, not on every group. */
    int64_t now = log_now(log);
    int64_t since = act->writeback_ref_ms ? act->writeback_ref_ms : act->created_ms;
    if (now - since > LOG_WRITEBACK_KICK_WINDOW_MS) {
        act->writeback_pos = act->size; /* a slow writer: left to the flusher */
        act->writeback_ref_ms = now;
        return;
    }
    if (log->cfg.flush == LOG_FLUSH_ALWAYS) {
        /* Every retired group was fdatasync'ed: all of it is clean already. */
        act->writeback_pos = act->size;
        act->writeback_ref_ms = now;
        cache_drop_behind(log, act, act->size);
        return;
    }
    struct log_io_req r = {.op = LOG_IO_SYNC_RANGE,
                           .fd = act->fd,
                           .off = act->writeback_pos,
                           .len = act->size - act->writeback_pos,
                           .flags = SYNC_FILE_RANGE_WRITE};
    uint64_t written_back = act->writeback_pos;
    if (log_io_submit(log->engine->cfg.io, &r, &writeback_kick_c, 0) == 0) {
        act->writeback_pos = act->size;
        act->writeback_ref_ms = now;
        cache_drop_behind(log, act, written_back);
    }
}

/*
 * A new group starts where everything before it ends: after the newest
 * group in flight, as if that one succeeds (if it fails, this one fails
 * with it), or else at the end of the active segment.
 */
static void group_begin(struct partition_log *log, struct log_group *g)
{
    const struct log_segment *act = log_active(log);
    const struct log_group *prev = group_newest(log);
    g->first = g->last = NULL;
    g->appends = g->iovcnt = 0;
    g->bytes = 0;
    g->idx_n = g->tidx_n = 0;
    g->write_res = g->sync_res = 0;
    g->write_done = g->stored = false;
    g->with_sync = log->cfg.flush == LOG_FLUSH_ALWAYS;
    if (prev != NULL) {
        g->pos = prev->pos + prev->bytes;
        g->base_offset = prev->next_offset;
        g->last_index_pos = prev->last_index_pos;
        g->last_time_entry_ts = prev->last_time_entry_ts;
        g->max_timestamp = prev->max_timestamp;
        g->max_ts_offset = prev->max_ts_offset;
    } else {
        g->pos = act->size;
        g->base_offset = log->next_offset;
        g->last_index_pos = act->last_index_pos;
        g->last_time_entry_ts = act->last_time_entry_ts;
        g->max_timestamp = act->max_timestamp;
        g->max_ts_offset = act->max_ts_offset;
    }
}

/* Index entries staged by the groups in flight (not yet in the segment's memory). */
static void groups_staged(struct partition_log *log, uint32_t *idx, uint32_t *tidx)
{
    *idx = *tidx = 0;
    for (uint32_t i = 0; i < log->groups_inflight; i++) {
        *idx += group_at(log, i)->idx_n;
        *tidx += group_at(log, i)->tidx_n;
    }
}

/* Moves queued appends into the group, as many as fit. */
static void group_fill(struct partition_log *log, struct log_group *g)
{
    const struct log_segment *act = log_active(log);
    int64_t offset = g->base_offset;
    while (log->queue_head != NULL && log->queue_head->kind == LOG_OP_APPEND) {
        struct log_append *a = (struct log_append *)log->queue_head;
        if (g->iovcnt == LOG_MAX_IOV)
            break;
        if (g->bytes > 0 && (g->bytes + a->len > log->cfg.max_group_bytes ||
                             g->pos + g->bytes + a->len > log->cfg.segment_bytes ||
                             offset - act->base_offset > LOG_MAX_RELATIVE_OFFSET))
            break;
        dequeue(log);
        int rc = stage_append(log, g, a, &offset);
        if (rc != LOG_OK) {
            append_finish(a, rc);
            continue;
        }
        a->op.next = NULL;
        if (g->last != NULL)
            g->last->op.next = &a->op;
        else
            g->first = a;
        g->last = a;
        g->appends++;
        g->iov[g->iovcnt].iov_base = a->data;
        g->iov[g->iovcnt].iov_len = a->len;
        g->iovcnt++;
        g->bytes += a->len;
    }
    g->next_offset = offset;
}

/*
 * A small group's write is done on the shard thread (LOG_IO_INLINE) when no
 * earlier group's write is still out: writes of a file then stay in order
 * (the ring's workers run one file's writes in order; an inline write could
 * pass one of theirs), and the io-wq hop (a worker woken, a second thread
 * on the same two cores) leaves the path of a light-load message.
 */
static bool write_inline(const struct partition_log *log, const struct log_group *g)
{
    if (g->bytes > LOG_INLINE_WRITE_BYTES)
        return false;
    for (uint32_t i = 0; i + 1 < log->groups_inflight; i++) {
        const struct log_group *earlier =
            &log->groups[(log->group_head + i) % log->cfg.max_inflight_groups];
        assert(earlier != g);
        if (!earlier->write_done)
            return false;
    }
    return true;
}

static void count_group(struct partition_log *log, const struct log_group *g, bool inlined)
{
    struct log_write_counters *c = &log->engine->writes;
    atomic_fetch_add_explicit(&c->groups, 1, memory_order_relaxed);
    if (inlined)
        atomic_fetch_add_explicit(&c->inline_writes, 1, memory_order_relaxed);
    if (g->with_sync) {
        atomic_fetch_add_explicit(&c->fdatasyncs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->synced_bytes, g->bytes, memory_order_relaxed);
    }
}

/*
 * Takes as many queued appends as fit into one group and submits it behind
 * the groups already in flight. Returns false when no group was started
 * (every append it looked at was refused).
 */
static bool group_start(struct partition_log *log)
{
    /* A failed write is repaired before anything is written after it. */
    assert(log->groups_inflight < log->cfg.max_inflight_groups && !log->repair_needed);
    struct log_group *g = group_at(log, log->groups_inflight);
    struct log_segment *act = log_active(log);
    writeback_kick(log, act);
    group_begin(log, g);
    uint64_t index_pos0 = g->last_index_pos;
    int64_t time_entry_ts0 = g->last_time_entry_ts;
    group_fill(log, g);
    if (g->appends == 0) {
        log_mark_ready(log);
        return false;
    }
    prealloc_ahead(log, g->pos + g->bytes);
    /* In-memory room for the entries now, so success cannot fail later. */
    uint32_t idx_before, tidx_before;
    groups_staged(log, &idx_before, &tidx_before);
    if (segment_index_reserve(&act->idx, act->idx.count + idx_before + g->idx_n) != 0 ||
        segment_index_reserve(&act->tidx, act->tidx.count + tidx_before + g->tidx_n) != 0) {
        g->idx_n = g->tidx_n = 0; /* lookups scan a little further */
        g->last_index_pos = index_pos0;
        g->last_time_entry_ts = time_entry_ts0;
    }

    log->groups_inflight++;
    log->groups_started++;
    g->pending = 1; /* held until everything is submitted */
    log_io_reserve(log->engine->cfg.io, 2);
    struct log_io_req w = {
        .op = LOG_IO_WRITEV, .fd = act->fd, .iov = g->iov, .iovcnt = g->iovcnt, .off = g->pos};
    unsigned flags = (g->with_sync ? LOG_IO_LINK : 0) | (write_inline(log, g) ? LOG_IO_INLINE : 0);
    count_group(log, g, (flags & LOG_IO_INLINE) != 0);
    int rc = log_submit(log, &w, &g->write_c, flags);
    if (rc != 0) {
        g->write_res = rc;
        g->write_done = true;
    } else {
        g->pending++;
        if (g->with_sync) {
            struct log_io_req s = {.op = LOG_IO_FDATASYNC, .fd = act->fd};
            rc = log_submit(log, &s, &g->sync_c, 0);
            if (rc != 0)
                g->sync_res = rc;
            else
                g->pending++;
        }
    }
    if (--g->pending == 0)
        groups_retire(log);
    return true;
}

/* The group's batches become the end of the log (durable too under flush=always). */
static void group_commit(struct partition_log *log, struct log_group *g)
{
    struct log_segment *act = log_active(log);
    /* In order: the group starts exactly where the log ends. */
    assert(g->pos == act->size && g->base_offset == log->next_offset);
    act->size += g->bytes;
    log->total_bytes += g->bytes;
    log->next_offset = g->next_offset;
    act->end_offset = g->next_offset;
    /* In memory only: the files get them at the next checkpoint, roll or close. */
    segment_index_append(&act->idx, g->idx_stage, g->idx_n);
    segment_index_append(&act->tidx, g->tidx_stage, g->tidx_n);
    act->last_index_pos = g->last_index_pos;
    act->last_time_entry_ts = g->last_time_entry_ts;
    act->max_timestamp = g->max_timestamp;
    act->max_ts_offset = g->max_ts_offset;
    int64_t end = g->base_offset; /* where the log ended before a */
    for (const struct log_append *a = g->first; a != NULL;
         a = (const struct log_append *)a->op.next) {
        epochs_note_append(log, a, end); /* and its configs */
        end = a->last_offset + 1;
    }
    log_note_success(log);
}

/*
 * The group failed, or an earlier one did (its bytes would follow a hole).
 * The log end stays; the bytes it may have left past the end are cut by a
 * repair before anything is written there again. Only the first failure of
 * a chain is reported: the groups behind it fail because of it.
 */
static int group_fail(struct partition_log *log, struct log_group *g, bool written)
{
    if (!log->group_chain_failed) {
        /* A regular file's writev stops short when the disk fills up (ext4 returns what fit,
         * and ENOSPC only for a write that fits nothing): a short write is a full disk. */
        int err = g->write_res < 0 ? g->write_res : !written ? -ENOSPC : g->sync_res;
        if (!written && g->write_res >= 0) {
            char what[96];
            snprintf(what, sizeof(what), "write (short: %d of %llu bytes)", g->write_res,
                     (unsigned long long)g->bytes);
            log_note_failure(log, what, err);
        } else {
            log_note_failure(log, written ? "fdatasync" : "write", err);
        }
        log->chain_status = log_status_from_errno(err);
    }
    log->group_chain_failed = true;
    log->stored_offset = log->next_offset; /* what was reported stored is cut again */
    if (!log->repair_needed) {
        log->repair_needed = true;
        log->repair_from = g->pos;
        log->repair_to = g->pos + g->bytes;
    } else if (g->pos + g->bytes > log->repair_to) {
        log->repair_to = g->pos + g->bytes;
    }
    assert(log->chain_status != LOG_OK);
    return log->chain_status;
}

/*
 * Every operation of the group is back and every earlier group has
 * retired. Success makes the batches visible (and durable under
 * flush=always); any failure fails every append of the group.
 */
static void group_finish(struct partition_log *log, struct log_group *g)
{
    bool written = g->write_res >= 0 && (uint64_t)g->write_res == g->bytes;
    bool ok = !log->group_chain_failed && written && (!g->with_sync || g->sync_res >= 0);
    int status = LOG_OK;
    if (ok)
        group_commit(log, g);
    else
        status = group_fail(log, g, written);
    if (ok && !g->stored)
        report_stored(log, g); /* flush none/interval: stored and written at once */
    struct log_append *a = g->first;
    g->first = g->last = NULL;
    while (a != NULL) {
        struct log_append *next = (struct log_append *)a->op.next;
        if (status != LOG_OK) {
            append_finish(a, status);
        } else if (a->on_durable == NULL || g->with_sync) {
            void (*on_durable)(struct log_append *, int) = a->on_durable;
            a->status = LOG_OK;
            a->on_written(a, LOG_OK);
            if (on_durable != NULL)
                on_durable(a, LOG_OK);
        } else {
            a->status = LOG_OK;
            durable_wait(log, a); /* on_durable comes with a later flush */
            a->on_written(a, LOG_OK);
        }
        a = next;
    }
    if (ok && g->with_sync) {
        log_durable_advance(log, log->next_offset, log_active(log)->size);
        assert(log->durable_offset == log->next_offset);
    }
    log_mark_ready(log);
}

/*
 * Completions arrive in any order (the kernel runs the groups' writes and
 * syncs concurrently), but the log moves in group order only: the oldest
 * groups whose operations are all back retire, up to the first one still
 * in flight. A group that completed early waits for those before it.
 */
static void groups_retire(struct partition_log *log)
{
    while (log->groups_inflight > 0) {
        struct log_group *g = group_at(log, 0);
        if (g->pending > 0)
            break;
        log->group_head = (log->group_head + 1) % log->cfg.max_inflight_groups;
        log->groups_inflight--;
        group_finish(log, g);
    }
    if (log->groups_inflight == 0)
        log->group_chain_failed = false; /* the chain is over; a repair comes first */
}

/* ------------------------------------------------------------------ pump */

bool log_retention_due(struct partition_log *log, int64_t now)
{
    bool by_policy = (log->cfg.cleanup_policy & LOG_CLEANUP_DELETE) != 0 &&
                     (log->cfg.retention_bytes >= 0 || log->cfg.retention_ms >= 0);
    return (by_policy || (log->nsegs > 1 && log_below_records_start(log, 0))) && log->nsegs > 1 &&
           now - log->last_retention_ms >= log->cfg.retention_check_ms;
}

/*
 * May one more group join those in flight? Only for an append at the head
 * of the queue, with room in the pipeline, and when nothing is waiting for
 * a quiescent partition: a repair, a checkpoint, a roll, timer work. Those
 * stop new groups so that the ones in flight drain and they get their
 * turn; otherwise a steady stream of appends would starve them.
 */
static bool group_may_join(struct partition_log *log)
{
    struct log_op *head = log->queue_head;
    if (log->groups_inflight >= log->cfg.max_inflight_groups || head == NULL ||
        head->kind != LOG_OP_APPEND || log->repair_needed || log->flush_requested ||
        log->dir_sync_needed || log->compact.swap_ready)
        return false;
    if (roll_needed(log, ((struct log_append *)head)->len) || log_checkpoint_due(log))
        return false;
    return !log_retention_due(log, log_now(log));
}

/*
 * Decides what runs next. While groups are in flight only more groups may
 * start (up to max_inflight_groups); everything else waits until they have
 * retired: a repair after a failed write, a due checkpoint, then the head
 * of the FIFO (a roll first when the head append does not fit), then timer
 * work. Called by log_engine_submit.
 */
void log_pump(struct partition_log *log)
{
    if (log->state == LOG_STATE_CLOSED || log->ctl_active)
        return;
    if (log->groups_inflight > 0 || log->prealloc_busy) {
        while (group_may_join(log) && group_start(log)) {
        }
        return;
    }
    struct log_op *head = log->queue_head;
    if (head != NULL && head->kind == LOG_OP_APPEND && log->repair_needed) {
        ctl_start(log, LOG_CTL_REPAIR, NULL);
        return;
    }
    if (head != NULL && head->kind == LOG_OP_APPEND && log->dir_sync_needed) {
        ctl_start(log, LOG_CTL_DIR_SYNC, NULL);
        return;
    }
    if (log_checkpoint_due(log)) {
        ctl_start(log, LOG_CTL_CHECKPOINT, NULL);
        return;
    }
    if (log->compact.swap_ready && log->state == LOG_STATE_OPEN) {
        ctl_start(log, LOG_CTL_COMPACT_SWAP, NULL);
        return;
    }
    if (head != NULL && head->kind == LOG_OP_APPEND && log->groups == NULL &&
        log_groups_alloc(log) != 0) {
        log_fail_queue(log, LOG_ERR_NOMEM);
        return;
    }
    if (head != NULL) {
        if (head->kind == LOG_OP_APPEND) {
            if (roll_needed(log, ((struct log_append *)head)->len))
                ctl_start(log, LOG_CTL_ROLL, NULL);
            else if (group_start(log))
                while (group_may_join(log) && group_start(log)) {
                }
            return;
        }
        dequeue(log);
        ctl_start(log, head->kind, (struct log_ctl *)head);
        return;
    }
    if (log->state != LOG_STATE_OPEN)
        return;
    int64_t now = log_now(log);
    if (log->flush_requested) {
        log->flush_requested = false;
        ctl_start(log, LOG_CTL_INTERVAL_FLUSH, NULL);
        return;
    }
    struct log_segment *act = log_active(log);
    if (act->size > 0 && now - act->created_ms >= log->cfg.segment_ms) {
        ctl_start(log, LOG_CTL_ROLL, NULL);
        return;
    }
    if (log_retention_due(log, now)) {
        ctl_start(log, LOG_OP_RETENTION, NULL);
        return;
    }
}
