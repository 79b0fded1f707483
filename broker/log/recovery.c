/*
 * Opening a partition's files and recovering them, synchronously (before the
 * partition serves), through struct log_io's run().
 *
 * The rules (docs/STORAGE.md):
 *  - A clean checkpoint (written by close) that matches the last segment
 *    skips recovery: the log ends where it says, its index files are loaded.
 *  - Otherwise only data after the recovery checkpoint is read: from its
 *    (segment, position) to the end, every batch checksum-verified and its
 *    offset checked to follow on. The first torn or corrupt batch ends the
 *    log: the segment is cut there, later segments are deleted, and the
 *    bytes and batches dropped are reported. A zero-filled (preallocated)
 *    tail is a clean end. Index entries for the scanned range are rebuilt.
 *    With keep_corrupt (a replicated partition), a bad batch with a sane
 *    header and valid data after it is a flipped bit: kept and recorded as
 *    known-bad (bad.c), not cut.
 *  - Closed segments before the checkpoint are not read; their index files
 *    get a constant-time check (size, last entry) and are rebuilt when
 *    missing or damaged.
 * So start-up reads O(data since the last checkpoint + segment count), not
 * O(log size).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "log_internal.h"

#define SCAN_CHUNK (1u << 20)
#define ZERO_WINDOW (64u << 10)

struct recovery {
    struct partition_log *log;
    struct log_open_report *rep;
    uint8_t *buf;
    size_t cap;
    bool note_epochs; /* scanning past the checkpoint: batches extend the epoch table */
    bool created;     /* the only segment was created by this open: nothing to recover */
};

struct scan_result {
    uint64_t end_pos;
    int64_t end_offset;
    bool cut; /* stopped before the end of the file's data */
    uint64_t dropped_bytes;
    uint32_t dropped_batches;
    const char *why;
};

static int64_t run(struct partition_log *log, struct log_io_req req)
{
    return log_io_run(log->engine->cfg.io, &req);
}

static int fail(struct log_open_report *rep, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct log_open_report *rep, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
    va_end(ap);
    return status;
}

/* Reads exactly len bytes (short reads continue; end of file is an error). */
static int read_full(struct partition_log *log, int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        int64_t n = run(log, (struct log_io_req){.op = LOG_IO_READ,
                                                 .fd = fd,
                                                 .buf = (uint8_t *)buf + done,
                                                 .len = len - done,
                                                 .off = off + done});
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

static int write_full(struct partition_log *log, int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        int64_t n = run(log, (struct log_io_req){.op = LOG_IO_WRITE,
                                                 .fd = fd,
                                                 .buf = (uint8_t *)buf + done,
                                                 .len = len - done,
                                                 .off = off + done});
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------- directory */

struct found {
    int64_t base;
    uint8_t kinds; /* 1 log, 2 index, 4 timeindex */
};

static int parse_name(const char *name, int64_t *base, uint8_t *kind)
{
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return -1;
    const char *ext = name + 20;
    if (strcmp(ext, ".log") == 0)
        *kind = 1;
    else if (strcmp(ext, ".index") == 0)
        *kind = 2;
    else if (strcmp(ext, ".timeindex") == 0)
        *kind = 4;
    else
        return -1;
    char digits[21];
    memcpy(digits, name, 20);
    digits[20] = 0;
    unsigned long long v = strtoull(digits, NULL, 10);
    if (v > (unsigned long long)INT64_MAX)
        return -1;
    *base = (int64_t)v;
    return 0;
}

/* A compaction's temp file ("<20 digits>.log.cleaned", ...): a pass a crash interrupted. */
static bool compact_leftover(const char *name)
{
    static const char suffix[] = ".cleaned";
    size_t n = strlen(name), s = sizeof(suffix) - 1;
    if (n <= 20 + s || strcmp(name + n - s, suffix) != 0)
        return false;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return name[20] == '.';
}

static int cmp_found(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

struct linux_dirent64_hdr {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Lists the segment files of the directory, merged by base offset, sorted. */
static int list_segments(struct partition_log *log, struct found **out, uint32_t *count)
{
    struct found *v = NULL;
    uint32_t n = 0, cap = 0;
    char dbuf[16384] __attribute__((aligned(8)));
    /* The directory's own fd: only this listing uses its position. */
    int dfd = log->dir_fd;
    assert(dfd >= 0);
    for (;;) {
        int64_t got =
            run(log, (struct log_io_req){
                         .op = LOG_IO_GETDENTS, .fd = dfd, .buf = dbuf, .len = sizeof(dbuf)});
        if (got < 0) {
            free(v);
            return (int)got;
        }
        if (got == 0)
            break;
        for (int64_t p = 0; p < got;) {
            struct linux_dirent64_hdr *d = (struct linux_dirent64_hdr *)(void *)(dbuf + p);
            p += d->d_reclen;
            int64_t base;
            uint8_t kind;
            if (compact_leftover(d->d_name)) {
                /* The segment it would have replaced is whole: the swap renames it last. */
                run(log, (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = dfd, .path = d->d_name});
                continue;
            }
            if (parse_name(d->d_name, &base, &kind) != 0)
                continue;
            uint32_t i = 0;
            while (i < n && v[i].base != base)
                i++;
            if (i == n) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    struct found *nv = realloc(v, cap * sizeof(*v));
                    if (nv == NULL) {
                        free(v);
                        return -ENOMEM;
                    }
                    v = nv;
                }
                v[n].base = base;
                v[n].kinds = 0;
                n++;
            }
            v[i].kinds |= kind;
        }
    }
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_found);
    *out = v;
    *count = n;
    return 0;
}

/* ------------------------------------------------------------ index work */

/*
 * Appends the entries a batch at bpos adds, by the same rule as the write
 * path: an offset entry once a batch starts index_interval_bytes after the
 * previous entry, and a time entry with it when the max timestamp grew.
 */
static int index_batch(struct partition_log *log, struct log_segment *seg, uint64_t bpos,
                       const struct rl_batch_header *h)
{
    if (h->max_timestamp > seg->max_timestamp) {
        seg->max_timestamp = h->max_timestamp;
        seg->max_ts_offset = h->base_offset;
    }
    if (bpos < seg->last_index_pos + log->cfg.index_interval_bytes)
        return 0;
    if (segment_index_reserve(&seg->idx, seg->idx.count + 1) != 0 ||
        segment_index_reserve(&seg->tidx, seg->tidx.count + 1) != 0)
        return -ENOMEM;
    uint8_t e[LOG_TIME_ENTRY];
    idx_put_u32(e, (uint32_t)(h->base_offset - seg->base_offset));
    idx_put_u32(e + 4, (uint32_t)bpos);
    segment_index_append(&seg->idx, e, 1);
    seg->last_index_pos = bpos;
    if (seg->max_timestamp > seg->last_time_entry_ts) {
        idx_put_u64(e, (uint64_t)seg->max_timestamp);
        idx_put_u32(e + 8, (uint32_t)(seg->max_ts_offset - seg->base_offset));
        segment_index_append(&seg->tidx, e, 1);
        seg->last_time_entry_ts = seg->max_timestamp;
    }
    return 0;
}

/*
 * Loads the first n entries of an index file into memory and checks them:
 * strictly increasing, inside [0, limit_pos) and below limit_offset. Zero
 * entries, a short file or a disorder means the index cannot be trusted.
 */
static int load_index(struct partition_log *log, struct log_segment *seg, struct seg_index *ix,
                      uint32_t n, uint64_t limit_pos, int64_t limit_offset)
{
    ix->count = 0;
    if (segment_index_reserve(ix, n + 1) != 0)
        return -ENOMEM;
    if (n > 0 && read_full(log, ix->fd, ix->mem, (size_t)n * ix->entry_size, 0) != 0)
        return -EIO;
    int64_t prev_rel = -1, prev_key = -1;
    int64_t prev_ts = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = ix->mem + (size_t)i * ix->entry_size;
        if (ix->entry_size == LOG_INDEX_ENTRY) {
            int64_t rel = idx_get_u32(e), pos = idx_get_u32(e + 4);
            if (rel <= prev_rel || pos <= prev_key || pos == 0 || (uint64_t)pos >= limit_pos ||
                seg->base_offset + rel >= limit_offset)
                return -EINVAL;
            prev_rel = rel;
            prev_key = pos;
        } else {
            int64_t ts = (int64_t)idx_get_u64(e), rel = idx_get_u32(e + 8);
            if (ts <= prev_ts || rel < prev_rel || seg->base_offset + rel >= limit_offset)
                return -EINVAL;
            prev_ts = ts;
            prev_rel = rel;
        }
    }
    ix->count = n;
    ix->file_count = n;
    return 0;
}

static void index_state_from_entries(struct log_segment *seg)
{
    seg->last_index_pos = seg->idx.count > 0
                              ? idx_get_u32(segment_index_entry(&seg->idx, seg->idx.count - 1) + 4)
                              : 0;
    seg->last_time_entry_ts =
        seg->tidx.count > 0
            ? (int64_t)idx_get_u64(segment_index_entry(&seg->tidx, seg->tidx.count - 1))
            : INT64_MIN;
}

/* Writes the in-memory entries the files lack, cuts the files to them, syncs. */
static int write_index_files(struct partition_log *log, struct log_segment *seg)
{
    struct seg_index *both[2] = {&seg->idx, &seg->tidx};
    for (int i = 0; i < 2; i++) {
        struct seg_index *ix = both[i];
        uint32_t from = ix->file_count < ix->count ? ix->file_count : ix->count;
        int rc = write_full(log, ix->fd, ix->mem + (size_t)from * ix->entry_size,
                            (size_t)(ix->count - from) * ix->entry_size,
                            (uint64_t)from * ix->entry_size);
        if (rc == 0)
            rc = (int)run(log, (struct log_io_req){.op = LOG_IO_FTRUNCATE,
                                                   .fd = ix->fd,
                                                   .len = (uint64_t)ix->count * ix->entry_size});
        if (rc == 0)
            rc = (int)run(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = ix->fd});
        if (rc < 0)
            return rc;
        ix->file_count = ix->count;
    }
    return 0;
}

/* Closed segments keep no entries in memory: lookups map the files. */
static void drop_index_memory(struct log_segment *seg)
{
    free(seg->idx.mem);
    free(seg->tidx.mem);
    seg->idx.mem = seg->tidx.mem = NULL;
    seg->idx.count = seg->tidx.count = seg->idx.cap = seg->tidx.cap = 0;
}

/* ------------------------------------------------------------------ scan */

/* Where the bytes past a stop end: the last non-zero byte of a window. */
static void measure_dropped(struct recovery *rc, struct log_segment *seg, uint64_t file_size,
                            struct scan_result *res)
{
    struct partition_log *log = rc->log;
    uint64_t stop = res->end_pos;
    /* Walk headers that look like batches to size the window. */
    uint64_t q = stop;
    uint32_t batches = 0;
    for (;;) {
        uint8_t hb[RL_BATCH_HEADER_BYTES];
        if (file_size - q < RL_BATCH_HEADER_BYTES ||
            read_full(log, seg->fd, hb, sizeof(hb), q) != 0)
            break;
        struct rl_batch_header h;
        rl_batch_header_read(hb, sizeof(hb), &h);
        uint64_t total = rl_batch_total_bytes(&h);
        if (h.magic != RL_BATCH_MAGIC || total < RL_BATCH_HEADER_BYTES ||
            total > log->cfg.max_batch_bytes)
            break;
        batches++;
        q += total;
        if (q >= file_size) {
            q = file_size;
            break;
        }
    }
    uint64_t window_end = q > stop + ZERO_WINDOW ? q : stop + ZERO_WINDOW;
    if (window_end > file_size)
        window_end = file_size;
    /* The last non-zero byte in [stop, window_end). */
    uint64_t last_nonzero = stop;
    for (uint64_t at = stop; at < window_end;) {
        size_t n = window_end - at < rc->cap ? (size_t)(window_end - at) : rc->cap;
        if (read_full(log, seg->fd, rc->buf, n, at) != 0)
            break;
        for (size_t i = 0; i < n; i++)
            if (rc->buf[i] != 0)
                last_nonzero = at + i + 1;
        at += n;
    }
    res->dropped_bytes = last_nonzero - stop;
    res->dropped_batches = res->dropped_bytes == 0 ? 0 : (batches > 0 ? batches : 1);
}

/*
 * Whether a valid batch starting at `offset` lies at position `at` of the
 * segment, or, at the end of a closed segment, the next segment starts at
 * `offset`: what follows a flipped bit, never a torn tail.
 */
static bool followed_by_valid(struct recovery *rc, struct log_segment *seg, uint64_t file_size,
                              uint64_t at, int64_t offset)
{
    struct partition_log *log = rc->log;
    assert(at <= file_size);
    if (at == file_size) {
        int k = log_find_segment(log, seg->base_offset);
        return k >= 0 && (uint32_t)k + 1 < log->nsegs && log->segs[k + 1]->base_offset == offset;
    }
    uint8_t hb[RL_BATCH_HEADER_BYTES];
    struct rl_batch_header h;
    if (file_size - at < sizeof(hb) || read_full(log, seg->fd, hb, sizeof(hb), at) != 0 ||
        rl_batch_header_read(hb, sizeof(hb), &h) != RL_OK)
        return false;
    uint64_t total = rl_batch_total_bytes(&h);
    if (h.magic != RL_BATCH_MAGIC || h.base_offset < offset || total < RL_BATCH_HEADER_BYTES ||
        total > log->cfg.max_batch_bytes || total > file_size - at)
        return false; /* offsets grow, with compaction's gaps */
    uint8_t *b = malloc(total);
    bool ok = b != NULL && read_full(log, seg->fd, b, total, at) == 0 &&
              rl_batch_validate_control(b, total, log->cfg.max_batch_bytes, &h) == RL_OK;
    free(b);
    return ok;
}

/*
 * A batch that fails validation is a flipped bit, not a torn write, when
 * the log keeps corrupt batches (a replicated partition), its header is
 * sane and follows on, all of it is in the file, and valid data follows it.
 * Then it is recorded as bad (for a repair from a replica) and kept.
 */
static bool keep_flipped(struct recovery *rc, struct log_segment *seg, uint64_t file_size,
                         uint64_t bpos, int64_t offset, const uint8_t *buf, size_t avail)
{
    struct partition_log *log = rc->log;
    struct rl_batch_header h;
    if (!log->cfg.keep_corrupt || rl_batch_header_read(buf, avail, &h) != RL_OK)
        return false;
    uint64_t total = rl_batch_total_bytes(&h);
    if (h.magic != RL_BATCH_MAGIC || h.base_offset < offset || total < RL_BATCH_HEADER_BYTES ||
        total > log->cfg.max_batch_bytes || total > avail || h.last_offset_delta < 0)
        return false;
    struct log_bad_batch b = {.base_offset = h.base_offset,
                              .last_offset = rl_batch_last_offset(&h),
                              .epoch = h.leader_epoch,
                              .len = (uint32_t)total,
                              .checksum = h.checksum,
                              .seg_base = seg->base_offset,
                              .pos = bpos};
    if (!followed_by_valid(rc, seg, file_size, bpos + total, b.last_offset + 1) ||
        !bad_note(log, &b))
        return false;
    rc->rep->corrupt_kept++;
    log_msg(log, LOG_LEVEL_ERROR,
            "recovery: batch at offsets [%" PRId64 ", %" PRId64 "] in %s (position %" PRIu64
            ") fails its checksum and valid data follows: a flipped bit, not a torn tail; kept "
            "(never served) for repair from a replica",
            b.base_offset, b.last_offset, seg->name, bpos);
    return true;
}

/*
 * Reads a segment from (pos, offset) to the end of its data, verifying every
 * batch (checksum, and that its base offset follows on), and adds the index
 * entries of what it reads. Stops at the end of the file, at a zero-filled
 * tail, or at the first bad batch (res->cut, with what it drops).
 */
static int scan_segment(struct recovery *rc, struct log_segment *seg, uint64_t file_size,
                        uint64_t pos, int64_t offset, struct scan_result *res)
{
    struct partition_log *log = rc->log;
    memset(res, 0, sizeof(*res));
    res->end_pos = pos;
    res->end_offset = offset;
    while (pos < file_size) {
        size_t n = file_size - pos < rc->cap ? (size_t)(file_size - pos) : rc->cap;
        int err = read_full(log, seg->fd, rc->buf, n, pos);
        if (err != 0)
            return err;
        rc->rep->scanned_bytes += n;
        size_t p = 0;
        bool stop = false, refill = false;
        while (p < n) {
            struct rl_batch_header h;
            /* Control batches are the broker's own: valid in the log. */
            int v = rl_batch_validate_control(rc->buf + p, n - p, log->cfg.max_batch_bytes, &h);
            if (v == RL_ERR_TRUNCATED && pos + n < file_size && p > 0) {
                refill = true;
                break;
            }
            bool kept = v != RL_OK && v != RL_ERR_TRUNCATED &&
                        keep_flipped(rc, seg, file_size, pos + p, offset, rc->buf + p, n - p);
            if (kept) {
                rl_batch_header_read(rc->buf + p, n - p, &h);
                v = RL_OK;
            }
            if (v != RL_OK) {
                res->why = v == RL_ERR_TRUNCATED ? "torn batch" : rl_status_str(v);
                stop = true;
                break;
            }
            /* Compaction leaves offset gaps between batches, in closed segments and, on a
             * follower that copied a compacted range, in the active one (docs/STORAGE.md,
             * "Compaction"): offsets only have to grow. */
            if (h.base_offset < offset) {
                res->why = "offset goes back";
                stop = true;
                break;
            }
            int ie = index_batch(log, seg, pos + p, &h);
            if (ie != 0)
                return ie;
            if (rc->note_epochs) {
                epochs_note_batch(log, &h, offset);
                if (!kept) /* its records cannot be trusted: noted once repaired */
                    configs_note_batch(log, rc->buf + p, &h);
            }
            offset = rl_batch_last_offset(&h) + 1;
            p += rl_batch_total_bytes(&h);
            res->end_pos = pos + p;
            res->end_offset = offset;
        }
        pos += p;
        if (stop)
            break;
        if (!refill && p == 0)
            break;
    }
    if (res->end_pos < file_size) {
        measure_dropped(rc, seg, file_size, res);
        res->cut = res->dropped_bytes > 0;
    }
    return 0;
}

/* ------------------------------------------------------------- segments */

static int open_segment_files(struct partition_log *log, struct log_segment *seg, uint8_t kinds,
                              bool create)
{
    int fl = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    seg->fd = (int)run(
        log,
        (struct log_io_req){
            .op = LOG_IO_OPENAT, .fd = log->dir_fd, .path = seg->name, .flags = fl, .mode = 0644});
    if (seg->fd < 0)
        return seg->fd;
    (void)kinds;
    if (create)
        return 0; /* a new segment's index files come with its first checkpoint (ctl.c) */
    seg->idx.fd = (int)run(log, (struct log_io_req){.op = LOG_IO_OPENAT,
                                                    .fd = log->dir_fd,
                                                    .path = seg->idx.name,
                                                    .flags = O_RDWR | O_CLOEXEC | O_CREAT,
                                                    .mode = 0644});
    if (seg->idx.fd < 0)
        return seg->idx.fd;
    seg->tidx.fd = (int)run(log, (struct log_io_req){.op = LOG_IO_OPENAT,
                                                     .fd = log->dir_fd,
                                                     .path = seg->tidx.name,
                                                     .flags = O_RDWR | O_CLOEXEC | O_CREAT,
                                                     .mode = 0644});
    return seg->tidx.fd < 0 ? seg->tidx.fd : 0;
}

static void close_segment_sync(struct partition_log *log, struct log_segment *seg)
{
    int fds[3] = {seg->fd, seg->idx.fd, seg->tidx.fd};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            run(log, (struct log_io_req){.op = LOG_IO_CLOSE, .fd = fds[i]});
    seg->fd = seg->idx.fd = seg->tidx.fd = -1;
}

static void unlink_segment_sync(struct partition_log *log, struct log_segment *seg)
{
    const char *names[3] = {seg->name, seg->idx.name, seg->tidx.name};
    for (int i = 0; i < 3; i++)
        run(log, (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = names[i]});
}

static int file_size_of(struct partition_log *log, int fd, struct stat *st)
{
    return (int)run(log, (struct log_io_req){.op = LOG_IO_FSTAT, .fd = fd, .buf = st});
}

/*
 * The constant-time check of a closed segment's index files: whole entries,
 * and a last entry inside the segment. A time index that is empty for a
 * segment with data, or any doubt, means a rebuild.
 */
static bool closed_index_ok(struct partition_log *log, struct log_segment *seg, uint8_t kinds)
{
    if ((kinds & 6) != 6)
        return false;
    struct stat st;
    int64_t isz = file_size_of(log, seg->idx.fd, &st);
    int64_t tsz = file_size_of(log, seg->tidx.fd, &st);
    if (isz < 0 || tsz < 0 || isz % LOG_INDEX_ENTRY != 0 || tsz % LOG_TIME_ENTRY != 0)
        return false;
    int64_t span = seg->end_offset - seg->base_offset;
    if (isz > 0) {
        uint8_t e[LOG_INDEX_ENTRY];
        if (read_full(log, seg->idx.fd, e, sizeof(e), (uint64_t)isz - LOG_INDEX_ENTRY) != 0)
            return false;
        if ((int64_t)idx_get_u32(e) >= span || idx_get_u32(e + 4) >= seg->size)
            return false;
    }
    if (tsz == 0)
        return seg->size == 0;
    uint8_t t[LOG_TIME_ENTRY];
    if (read_full(log, seg->tidx.fd, t, sizeof(t), (uint64_t)tsz - LOG_TIME_ENTRY) != 0)
        return false;
    if ((int64_t)idx_get_u32(t + 8) >= span)
        return false;
    seg->max_timestamp = (int64_t)idx_get_u64(t);
    seg->max_ts_offset = seg->base_offset + idx_get_u32(t + 8);
    return true;
}

/* Rebuilds a closed segment's index files from its batches. */
static int rebuild_closed_index(struct recovery *rc, struct log_segment *seg)
{
    struct partition_log *log = rc->log;
    seg->idx.count = seg->tidx.count = 0;
    seg->idx.file_count = seg->tidx.file_count = 0;
    seg->last_index_pos = 0;
    seg->last_time_entry_ts = INT64_MIN;
    seg->max_timestamp = INT64_MIN;
    struct scan_result res;
    int err = scan_segment(rc, seg, seg->size, 0, seg->base_offset, &res);
    if (err != 0)
        return err;
    if (res.end_pos < seg->size)
        log_msg(log, LOG_LEVEL_ERROR,
                "segment %s: bad batch at position %" PRIu64 " (%s), before the recovery point; "
                "its index stops there",
                seg->name, res.end_pos, res.why ? res.why : "?");
    /* The last time entry carries the segment's max timestamp, as at a roll. */
    if (seg->max_timestamp > seg->last_time_entry_ts &&
        segment_index_reserve(&seg->tidx, seg->tidx.count + 1) == 0) {
        uint8_t t[LOG_TIME_ENTRY];
        idx_put_u64(t, (uint64_t)seg->max_timestamp);
        idx_put_u32(t + 8, (uint32_t)(seg->max_ts_offset - seg->base_offset));
        segment_index_append(&seg->tidx, t, 1);
        seg->last_time_entry_ts = seg->max_timestamp;
    }
    err = write_index_files(log, seg);
    drop_index_memory(seg);
    rc->rep->rebuilt_indexes++;
    log_msg(log, LOG_LEVEL_WARN, "segment %s: index rebuilt", seg->name);
    return err;
}

static int segs_append(struct partition_log *log, struct log_segment *seg)
{
    if (log->nsegs == log->segs_cap) {
        uint32_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
        struct log_segment **segs = realloc(log->segs, cap * sizeof(*segs));
        if (segs == NULL)
            return -ENOMEM;
        log->segs = segs;
        log->segs_cap = cap;
    }
    log->segs[log->nsegs++] = seg;
    return 0;
}

/* Drops segments k+1.. (after a cut or a gap): files unlinked, memory freed. */
static void drop_segments_after(struct recovery *rc, uint32_t k)
{
    struct partition_log *log = rc->log;
    while (log->nsegs > k + 1) {
        struct log_segment *seg = log->segs[--log->nsegs];
        log_msg(log, LOG_LEVEL_WARN, "deleting segment %s: it follows the end of the log",
                seg->name);
        close_segment_sync(log, seg);
        unlink_segment_sync(log, seg);
        segment_free(seg);
        rc->rep->deleted_segments++;
    }
}

static int create_first_segment(struct partition_log *log, int64_t base)
{
    struct log_segment *seg = segment_new(log, base);
    if (seg == NULL)
        return -ENOMEM;
    int err = open_segment_files(log, seg, 7, true);
    if (err == 0)
        err = segs_append(log, seg);
    if (err != 0) {
        close_segment_sync(log, seg);
        segment_free(seg);
        return err;
    }
    if (segment_index_reserve(&seg->idx, 64) != 0 || segment_index_reserve(&seg->tidx, 64) != 0)
        return -ENOMEM;
    /* The directory is fsynced by the checkpoint before the first write (ctl.c): a
     * partition created and never written costs no fsync (10,000 of them paid ~3 ms each). */
    log->dir_sync_needed = true;
    return 0;
}

/* ------------------------------------------------------------ checkpoint */

/*
 * The newest valid record of the two slots (version 2 slots, or version 1
 * ones 512 bytes apart), with its epoch runs in `runs` (LOG_MAX_EPOCH_RUNS).
 */
static void read_checkpoint(struct partition_log *log, struct log_checkpoint *ck,
                            struct log_epoch_run *runs, struct log_config *configs, bool *valid)
{
    *valid = false;
    if (log->ckpt_fd < 0)
        return; /* a new partition: no checkpoint file yet */
    uint8_t *buf = calloc(2, LOG_CHECKPOINT_SLOT);
    struct log_epoch_run *tmp = malloc(LOG_MAX_EPOCH_RUNS * sizeof(*tmp));
    struct log_config *ctmp = malloc(LOG_MAX_CONFIGS * sizeof(*ctmp));
    int64_t n = buf == NULL || tmp == NULL || ctmp == NULL
                    ? -ENOMEM
                    : run(log, (struct log_io_req){.op = LOG_IO_READ,
                                                   .fd = log->ckpt_fd,
                                                   .buf = buf,
                                                   .len = 2 * LOG_CHECKPOINT_SLOT});
    uint64_t at[4] = {log_checkpoint_slot(0), log_checkpoint_slot(1), log_checkpoint_v1_slot(0),
                      log_checkpoint_v1_slot(1)};
    for (int i = 0; i < 4 && n > 0; i++) {
        struct log_checkpoint c;
        if ((uint64_t)n <= at[i] ||
            log_checkpoint_decode(buf + at[i], (size_t)((uint64_t)n - at[i]), &c, tmp, ctmp) != 0)
            continue;
        if (!*valid || c.seq > ck->seq) {
            *ck = c;
            memcpy(runs, tmp, c.epoch_count * sizeof(*runs));
            memcpy(configs, ctmp, c.config_count * sizeof(*configs));
            *valid = true;
        }
    }
    free(ctmp);
    free(tmp);
    free(buf);
}

static int write_checkpoint_sync(struct partition_log *log)
{
    struct log_segment *act = log_active(log);
    if (log->ckpt_fd < 0) {
        log->ckpt_fd = (int)run(log, (struct log_io_req){.op = LOG_IO_OPENAT,
                                                         .fd = log->dir_fd,
                                                         .path = "checkpoint",
                                                         .flags = O_RDWR | O_CREAT | O_CLOEXEC,
                                                         .mode = 0644});
        if (log->ckpt_fd < 0) {
            int err = log->ckpt_fd;
            log->ckpt_fd = -1;
            return err;
        }
    }
    struct log_checkpoint ck = {
        .seq = log->ckpt.seq + 1,
        .clean = 0,
        .segment_base = act->base_offset,
        .position = act->size,
        .offset = log->next_offset,
        .index_entries = act->idx.count,
        .time_entries = act->tidx.count,
        .max_timestamp = act->max_timestamp,
        .max_ts_offset = act->max_ts_offset,
        .start_offset = log->start_offset,
        .records_start = log->records_start,
        .high_watermark = log->high_watermark,
        .start_epoch = log->start_epoch,
        .epochs_known = true,
    };
    uint32_t first = log->nepochs > LOG_MAX_EPOCH_RUNS ? log->nepochs - LOG_MAX_EPOCH_RUNS : 0;
    ck.epoch_count = log->nepochs - first;
    ck.config_count = log->nconfigs; /* all below next_offset (recovery cut the rest) */
    uint8_t *buf = malloc(LOG_CHECKPOINT_SLOT);
    if (buf == NULL)
        return -ENOMEM;
    size_t len = log_checkpoint_encode(&ck, log->epochs + first, log->configs, buf);
    int rc = write_full(log, log->ckpt_fd, buf, len, log_checkpoint_slot(ck.seq));
    free(buf);
    if (rc == 0)
        rc = (int)run(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = log->ckpt_fd});
    if (rc == 0)
        log->ckpt = ck;
    return rc;
}

/*
 * The active segment's file past its logical end is zeros: preallocated
 * (prealloc.c) or cut by recovery. Up to the largest preallocation step it
 * stays, as the reservation writes go on into; a longer tail (a whole
 * segment reserved by older versions, 1 GiB per partition) is cut, so a
 * restart gives that disk back. Nothing is reserved here: an idle
 * partition costs no more than it did, and the first write reserves.
 */
static int reserved_tail(struct partition_log *log, struct log_segment *act)
{
    struct stat st;
    int64_t fsz = file_size_of(log, act->fd, &st);
    if (fsz < 0)
        return (int)fsz;
    assert((uint64_t)fsz >= act->size);
    act->prealloc_end = (uint64_t)fsz;
    if ((uint64_t)fsz <= act->size + LOG_PREALLOC_MAX_BYTES)
        return 0;
    int err =
        (int)run(log, (struct log_io_req){.op = LOG_IO_FTRUNCATE, .fd = act->fd, .len = act->size});
    if (err == 0)
        act->prealloc_end = act->size;
    return err;
}

/* --------------------------------------------------------------- recover */

/*
 * A checkpoint names the log start: segments wholly below it are leftovers
 * of a retention or a reset that a crash interrupted (their unlinks not yet
 * durable, or not yet made). They go, files and all.
 */
static void drop_below_start(struct partition_log *log, struct found *found, uint32_t *nlogs,
                             int64_t start)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < *nlogs; i++) {
        /* (A segment straddling the start only exists after a reset: it is the old log.) */
        if (found[i].base >= start) {
            found[keep++] = found[i];
            continue;
        }
        struct log_segment tmp = {0}; /* only its names are used */
        segment_names(found[i].base, tmp.name, tmp.idx.name, tmp.tidx.name);
        log_msg(log, LOG_LEVEL_WARN, "deleting segment %s: below the log start %lld", tmp.name,
                (long long)start);
        const char *names[3] = {tmp.name, tmp.idx.name, tmp.tidx.name};
        for (int j = 0; j < 3; j++)
            run(log,
                (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = names[j]});
    }
    if (keep < *nlogs)
        run(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd});
    *nlogs = keep;
}

static int recover_files(struct recovery *rc, int64_t start)
{
    struct partition_log *log = rc->log;
    struct log_open_report *rep = rc->rep;
    struct found *found = NULL;
    uint32_t nfound = 0;
    int err = list_segments(log, &found, &nfound);
    if (err != 0)
        return fail(rep, LOG_ERR_STORAGE, "listing %s: %s", log->dir_path, strerror(-err));

    /* Index files without a log file are leftovers of a deletion. */
    uint32_t nlogs = 0;
    for (uint32_t i = 0; i < nfound; i++) {
        if (found[i].kinds & 1) {
            found[nlogs++] = found[i];
            continue;
        }
        struct log_segment tmp = {0}; /* only its names are used */
        segment_names(found[i].base, tmp.name, tmp.idx.name, tmp.tidx.name);
        run(log,
            (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = tmp.idx.name});
        run(log,
            (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = tmp.tidx.name});
    }

    drop_below_start(log, found, &nlogs, start);
    for (uint32_t i = 0; i < nlogs; i++) {
        struct log_segment *seg = segment_new(log, found[i].base);
        if (seg == NULL || segs_append(log, seg) != 0) {
            if (seg != NULL)
                segment_free(seg);
            free(found);
            return fail(rep, LOG_ERR_NOMEM, "out of memory");
        }
        err = open_segment_files(log, seg, found[i].kinds, false);
        if (err != 0) {
            free(found);
            return fail(rep, LOG_ERR_STORAGE, "opening %s: %s", seg->name, strerror(-err));
        }
    }
    uint8_t *kinds = malloc(nlogs + 1);
    if (kinds == NULL) {
        free(found);
        return fail(rep, LOG_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < nlogs; i++)
        kinds[i] = found[i].kinds;
    free(found);
    rep->segments = nlogs;

    if (nlogs == 0) {
        free(kinds);
        err = create_first_segment(log, start);
        rc->created = err == 0;
        if (err != 0)
            return fail(rep, LOG_ERR_STORAGE, "creating the first segment: %s", strerror(-err));
        return LOG_OK;
    }

    /* Closed segments: sizes, ends, and the quick index check. */
    for (uint32_t i = 0; i + 1 < log->nsegs; i++) {
        struct log_segment *seg = log->segs[i];
        struct stat st;
        int64_t size = file_size_of(log, seg->fd, &st);
        if (size < 0) {
            free(kinds);
            return fail(rep, LOG_ERR_STORAGE, "fstat %s: %s", seg->name, strerror((int)-size));
        }
        seg->size = (uint64_t)size;
        seg->end_offset = log->segs[i + 1]->base_offset;
        seg->created_ms = (int64_t)st.st_mtim.tv_sec * 1000;
        if (!closed_index_ok(log, seg, kinds[i])) {
            err = rebuild_closed_index(rc, seg);
            if (err != 0) {
                free(kinds);
                return fail(rep, LOG_ERR_STORAGE, "rebuilding the index of %s: %s", seg->name,
                            strerror(-err));
            }
        }
        if (seg->max_timestamp == INT64_MIN && seg->size > 0)
            seg->max_timestamp = (int64_t)st.st_mtim.tv_sec * 1000; /* best guess */
    }
    free(kinds);
    return LOG_OK;
}

/* The active segment after a clean shutdown: trust the checkpoint. */
static bool recover_clean(struct recovery *rc, const struct log_checkpoint *ck, uint64_t file_size)
{
    struct partition_log *log = rc->log;
    struct log_segment *act = log_active(log);
    if (!ck->clean || ck->segment_base != act->base_offset || ck->position > file_size)
        return false;
    if (load_index(log, act, &act->idx, ck->index_entries, ck->position == 0 ? 1 : ck->position,
                   ck->offset) != 0 ||
        load_index(log, act, &act->tidx, ck->time_entries, UINT64_MAX, ck->offset) != 0) {
        log_msg(log, LOG_LEVEL_WARN, "index of %s damaged despite a clean shutdown", act->name);
        return false;
    }
    act->size = ck->position;
    act->end_offset = ck->offset;
    act->max_timestamp = ck->max_timestamp;
    act->max_ts_offset = ck->max_ts_offset;
    index_state_from_entries(act);
    return true;
}

/*
 * After a crash: from the checkpoint (or, when it does not match the files,
 * from the start of the last segment) to the end, verify and index.
 */
static int recover_unclean(struct recovery *rc, const struct log_checkpoint *ck, bool ck_valid)
{
    struct partition_log *log = rc->log;
    struct log_open_report *rep = rc->rep;
    uint32_t k = log->nsegs - 1;
    uint64_t start_pos = 0;
    int64_t start_off = log->segs[k]->base_offset;
    uint32_t trust_idx = 0, trust_t = 0;
    int64_t ck_max_ts = INT64_MIN, ck_max_off = 0;
    if (ck_valid) {
        int j = log_find_segment(log, ck->segment_base);
        if (j >= 0 && log->segs[j]->base_offset == ck->segment_base) {
            struct stat st;
            int64_t sz = file_size_of(log, log->segs[j]->fd, &st);
            if (sz >= 0 && ck->position <= (uint64_t)sz) {
                k = (uint32_t)j;
                start_pos = ck->position;
                start_off = ck->offset;
                trust_idx = ck->index_entries;
                trust_t = ck->time_entries;
                ck_max_ts = ck->max_timestamp;
                ck_max_off = ck->max_ts_offset;
            }
        }
        if (start_pos == 0 && k == log->nsegs - 1 && ck->segment_base != log->segs[k]->base_offset)
            log_msg(log, LOG_LEVEL_WARN,
                    "recovery checkpoint does not match the files; scanning the last segment");
    }
    for (uint32_t i = k; i < log->nsegs; i++) {
        struct log_segment *seg = log->segs[i];
        struct stat st;
        int64_t fsz = file_size_of(log, seg->fd, &st);
        if (fsz < 0)
            return fail(rep, LOG_ERR_STORAGE, "fstat %s: %s", seg->name, strerror((int)-fsz));
        uint64_t pos = 0;
        int64_t off = seg->base_offset;
        drop_index_memory(seg);
        segment_unmap_indexes(seg);
        seg->max_timestamp = INT64_MIN;
        seg->idx.count = seg->tidx.count = 0;
        if (i == k && start_pos > 0) {
            if (load_index(log, seg, &seg->idx, trust_idx, start_pos, start_off) == 0 &&
                load_index(log, seg, &seg->tidx, trust_t, UINT64_MAX, start_off) == 0 &&
                (trust_idx > 0 || start_pos < log->cfg.index_interval_bytes)) {
                pos = start_pos;
                off = start_off;
                seg->max_timestamp = ck_max_ts;
                seg->max_ts_offset = ck_max_off;
            } else {
                seg->idx.count = seg->tidx.count = 0;
                rep->rebuilt_indexes++;
            }
        } else if (i == k &&
                   !(ck_valid && ck->segment_base == seg->base_offset && ck->position == 0)) {
            rep->rebuilt_indexes++; /* the whole segment is indexed from scratch */
        }
        seg->idx.file_count = seg->idx.count;
        seg->tidx.file_count = seg->tidx.count;
        if (segment_index_reserve(&seg->idx, 64) != 0 || segment_index_reserve(&seg->tidx, 64) != 0)
            return fail(rep, LOG_ERR_NOMEM, "out of memory");
        index_state_from_entries(seg);
        if (i > k && seg->base_offset != log->segs[i - 1]->end_offset) {
            log_msg(log, LOG_LEVEL_WARN, "segment %s does not follow on from %s", seg->name,
                    log->segs[i - 1]->name);
            drop_segments_after(rc, i - 1);
            break;
        }
        struct scan_result res;
        if (i == k) {
            epochs_truncate(log, off); /* the tables are the checkpoint's below here */
            configs_truncate(log, off);
        }
        rc->note_epochs = true;
        int err = scan_segment(rc, seg, (uint64_t)fsz, pos, off, &res);
        rc->note_epochs = false;
        if (err != 0)
            return fail(rep, LOG_ERR_STORAGE, "reading %s: %s", seg->name, strerror(-err));
        seg->size = res.end_pos;
        seg->end_offset = res.end_offset;
        if (res.cut) {
            rep->truncated_bytes += res.dropped_bytes;
            rep->truncated_batches += res.dropped_batches;
            log_msg(log, LOG_LEVEL_WARN,
                    "recovery: %s at position %" PRIu64 " of %s (%s): dropped %" PRIu64
                    " bytes, %u batches",
                    res.why ? res.why : "bad data", res.end_pos, seg->name,
                    res.why ? "truncated" : "?", res.dropped_bytes, res.dropped_batches);
            err = (int)run(log, (struct log_io_req){
                                    .op = LOG_IO_FTRUNCATE, .fd = seg->fd, .len = res.end_pos});
            if (err != 0)
                return fail(rep, LOG_ERR_STORAGE, "truncating %s: %s", seg->name, strerror(-err));
            drop_segments_after(rc, i);
        }
        err = (int)run(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = seg->fd});
        if (err == 0 && i + 1 < log->nsegs) {
            /* A closed segment in the scanned range: exact size and complete index files. */
            if (seg->max_timestamp > seg->last_time_entry_ts &&
                segment_index_reserve(&seg->tidx, seg->tidx.count + 1) == 0) {
                uint8_t t[LOG_TIME_ENTRY];
                idx_put_u64(t, (uint64_t)seg->max_timestamp);
                idx_put_u32(t + 8, (uint32_t)(seg->max_ts_offset - seg->base_offset));
                segment_index_append(&seg->tidx, t, 1);
                seg->last_time_entry_ts = seg->max_timestamp;
            }
            err = (int)run(
                log, (struct log_io_req){.op = LOG_IO_FTRUNCATE, .fd = seg->fd, .len = seg->size});
            if (err == 0)
                err = (int)run(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = seg->fd});
            if (err == 0)
                err = write_index_files(log, seg);
            drop_index_memory(seg);
        }
        if (err != 0)
            return fail(rep, LOG_ERR_STORAGE, "syncing %s: %s", seg->name, strerror(-err));
    }
    struct log_segment *act = log_active(log);
    int err = write_index_files(log, act);
    if (err != 0)
        return fail(rep, LOG_ERR_STORAGE, "writing the index of %s: %s", act->name, strerror(-err));
    return LOG_OK;
}

/* The newest checkpoint, and the epoch table and high watermark it keeps. */
static int restore_checkpoint(struct partition_log *log, struct log_checkpoint *ck, bool *valid)
{
    struct log_epoch_run *runs = malloc(LOG_MAX_EPOCH_RUNS * sizeof(*runs));
    if (runs == NULL)
        return LOG_ERR_NOMEM;
    struct log_config configs[LOG_MAX_CONFIGS];
    read_checkpoint(log, ck, runs, configs, valid);
    if (*valid) {
        log->ckpt = *ck;
        log->start_epoch = ck->start_epoch;
        for (uint32_t i = 0; i < ck->epoch_count; i++)
            epochs_note(log, runs[i].epoch, runs[i].start);
        for (uint32_t i = 0; i < ck->config_count; i++)
            configs_note(log, configs[i].offset, configs[i].value, configs[i].len);
    }
    free(runs);
    return LOG_OK;
}

int log_recover(struct partition_log *log, struct log_open_report *rep)
{
    struct recovery rc = {.log = log, .rep = rep};
    rc.cap = SCAN_CHUNK;
    if (rc.cap < (size_t)log->cfg.max_batch_bytes + 4096)
        rc.cap = (size_t)log->cfg.max_batch_bytes + 4096;
    rc.buf = malloc(rc.cap);
    if (rc.buf == NULL)
        return fail(rep, LOG_ERR_NOMEM, "out of memory");

    struct log_checkpoint ck;
    bool ck_valid;
    int status = restore_checkpoint(log, &ck, &ck_valid);
    if (status == LOG_OK)
        status = recover_files(&rc, ck_valid ? ck.start_offset : 0);
    if (status != LOG_OK)
        goto out;
    struct log_segment *act = log_active(log);
    struct stat st;
    int64_t fsz = file_size_of(log, act->fd, &st);
    if (fsz < 0) {
        status = fail(rep, LOG_ERR_STORAGE, "fstat %s: %s", act->name, strerror((int)-fsz));
        goto out;
    }
    if (ck_valid && recover_clean(&rc, &ck, (uint64_t)fsz)) {
        rep->clean = true;
    } else if (!rc.created) {
        status = recover_unclean(&rc, &ck, ck_valid);
        if (status != LOG_OK)
            goto out;
    }
    act = log_active(log);
    act->created_ms = log_now(log);

    log->start_offset = log->segs[0]->base_offset;
    log->next_offset = act->end_offset;
    /* DeleteRecords' start: never below the log start nor past its end. */
    log->records_start = log->start_offset;
    if (ck_valid && ck.records_start > log->start_offset)
        log->records_start =
            ck.records_start < log->next_offset ? ck.records_start : log->next_offset;
    epochs_truncate(log, log->next_offset);
    configs_truncate(log, log->next_offset);
    if (ck_valid && ck.high_watermark >= 0)
        log->high_watermark = ck.high_watermark < log->start_offset  ? log->start_offset
                              : ck.high_watermark > log->next_offset ? log->next_offset
                                                                     : ck.high_watermark;
    log->durable_offset = log->next_offset;
    log->durable_pos = act->size;
    log->total_bytes = 0;
    for (uint32_t i = 0; i < log->nsegs; i++)
        log->total_bytes += log->segs[i]->size;

    int err = reserved_tail(log, act);
    if (err != 0) {
        status =
            fail(rep, LOG_ERR_STORAGE, "cutting the tail of %s: %s", act->name, strerror(-err));
        goto out;
    }
    /*
     * After a crash, what recovery made durable gets its checkpoint now. A
     * clean log keeps its clean record until its first write (ctl.c,
     * log_checkpoint_due: a not-clean one is made durable before the first
     * group), and a brand-new one needs none (no record: recovery scans its
     * only segment): 10,000 partitions started in 9.2 s with an fdatasync
     * each here, most of them never written before the next shutdown.
     */
    if (!rep->clean && !rc.created)
        err = write_checkpoint_sync(log);
    if (err != 0) {
        status = fail(rep, LOG_ERR_STORAGE, "writing the checkpoint: %s", strerror(-err));
        goto out;
    }
    log->last_ckpt_ms = log_now(log);
    log->ckpt_attempt_base = act->base_offset;
    log->ckpt_attempt_pos = act->size;
    rep->start_offset = log->start_offset;
    rep->end_offset = log->next_offset;
    rep->created = rc.created;
    if (log_open_report_worth_logging(rep))
        log_msg(log, LOG_LEVEL_INFO,
                "recovered: offsets [%" PRId64 ", %" PRId64 "), %u segments, %" PRIu64
                " bytes verified, %" PRIu64 " bytes (%u batches) dropped",
                log->start_offset, log->next_offset, log->nsegs, rep->scanned_bytes,
                rep->truncated_bytes, rep->truncated_batches);
out:
    free(rc.buf);
    return status;
}

bool log_open_report_worth_logging(const struct log_open_report *rep)
{
    assert(rep);
    assert(rep->start_offset <= rep->end_offset || rep->end_offset < 0);
    if (rep->created)
        return false;
    if (rep->truncated_bytes > 0 || rep->scanned_bytes > 0 || rep->deleted_segments > 0)
        return true;
    return !rep->clean && rep->end_offset > rep->start_offset;
}
