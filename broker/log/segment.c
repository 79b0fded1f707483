/*
 * Segments: file names, the in-memory and mapped indexes, index lookups,
 * and a segment's end of life (pinned by reads, closed asynchronously).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log_internal.h"

void segment_names(int64_t base, char log_name[LOG_NAME_MAX], char idx[LOG_NAME_MAX],
                   char tidx[LOG_NAME_MAX])
{
    assert(base >= 0);
    snprintf(log_name, LOG_NAME_MAX, "%020" PRId64 ".log", base);
    snprintf(idx, LOG_NAME_MAX, "%020" PRId64 ".index", base);
    snprintf(tidx, LOG_NAME_MAX, "%020" PRId64 ".timeindex", base);
}

struct log_segment *segment_new(struct partition_log *log, int64_t base_offset)
{
    struct log_segment *seg = calloc(1, sizeof(*seg));
    if (seg == NULL)
        return NULL;
    seg->log = log;
    seg->base_offset = base_offset;
    seg->end_offset = base_offset;
    seg->fd = -1;
    seg->idx.fd = -1;
    seg->tidx.fd = -1;
    seg->idx.entry_size = LOG_INDEX_ENTRY;
    seg->tidx.entry_size = LOG_TIME_ENTRY;
    seg->max_timestamp = INT64_MIN;
    seg->max_ts_offset = base_offset;
    seg->last_time_entry_ts = INT64_MIN;
    segment_names(base_offset, seg->name, seg->idx.name, seg->tidx.name);
    return seg;
}

/*
 * Grows the in-memory entries to hold `count`. The bound is fixed by the
 * configuration: a segment of segment_bytes cannot need more entries than
 * segment_bytes / index_interval_bytes + 2 (max_group_bytes may overshoot).
 */
int segment_index_reserve(struct seg_index *ix, uint32_t count)
{
    if (count <= ix->cap)
        return 0;
    uint32_t cap = ix->cap ? ix->cap : 64;
    while (cap < count)
        cap *= 2;
    uint8_t *mem = realloc(ix->mem, (size_t)cap * ix->entry_size);
    if (mem == NULL)
        return -ENOMEM;
    ix->mem = mem;
    ix->cap = cap;
    return 0;
}

void segment_index_append(struct seg_index *ix, const uint8_t *entries, uint32_t n)
{
    if (n == 0)
        return;
    assert(ix->map == NULL);
    assert(ix->count + n <= ix->cap);
    memcpy(ix->mem + (size_t)ix->count * ix->entry_size, entries, (size_t)n * ix->entry_size);
    ix->count += n;
}

/*
 * A closed segment keeps no index fd (ctl.c, "transient files"): the file
 * is opened for the mmap and closed again; the mapping stays valid.
 */
static void map_one(struct log_segment *seg, struct seg_index *ix)
{
    if (ix->map_tried || ix->mem != NULL)
        return;
    ix->map_tried = true;
    struct log_io *io = seg->log->engine->cfg.io;
    int fd = ix->fd;
    char path[4096];
    if (fd < 0) {
        int n = snprintf(path, sizeof(path), "%s/%s", seg->log->dir_path, ix->name);
        if (n < 0 || (size_t)n >= sizeof(path))
            return;
        fd = (int)log_io_run(io, &(struct log_io_req){.op = LOG_IO_OPENAT,
                                                      .fd = AT_FDCWD,
                                                      .path = path,
                                                      .flags = O_RDONLY | O_CLOEXEC});
        if (fd < 0)
            return;
    }
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (fd != ix->fd)
        log_io_run(io, &(struct log_io_req){.op = LOG_IO_CLOSE, .fd = fd});
    if (p == MAP_FAILED)
        return;
    ix->map = p;
    ix->map_len = (size_t)st.st_size;
    ix->count = (uint32_t)(ix->map_len / ix->entry_size);
}

/*
 * A closed segment's indexes are read through a read-only shared mapping,
 * made on first use: start-up does not read them, and the page cache, not
 * the heap, holds them. Failing to map only makes lookups scan from 0.
 */
void segment_map_indexes(struct log_segment *seg)
{
    map_one(seg, &seg->idx);
    map_one(seg, &seg->tidx);
}

void segment_unmap_indexes(struct log_segment *seg)
{
    struct seg_index *both[2] = {&seg->idx, &seg->tidx};
    for (int i = 0; i < 2; i++) {
        struct seg_index *ix = both[i];
        if (ix->map != NULL) {
            munmap((void *)ix->map, ix->map_len);
            ix->map = NULL;
            ix->map_len = 0;
            ix->count = 0;
        }
        ix->map_tried = false;
    }
}

const uint8_t *segment_index_entry(const struct seg_index *ix, uint32_t i)
{
    assert(i < ix->count);
    const uint8_t *base = ix->mem != NULL ? ix->mem : ix->map;
    return base + (size_t)i * ix->entry_size;
}

uint32_t segment_index_count(const struct seg_index *ix)
{
    if (ix->mem == NULL && ix->map == NULL)
        return 0;
    return ix->count;
}

static void ensure_index(struct log_segment *seg)
{
    if (seg->idx.mem == NULL && seg->idx.map == NULL)
        segment_map_indexes(seg);
}

/*
 * Binary search for the last entry whose relative offset is <= target. An
 * entry that points outside the segment's data (a damaged closed index) is
 * not trusted: the read then starts at 0 and scans.
 */
void segment_lookup_offset(struct log_segment *seg, int64_t target, int64_t *offset, uint64_t *pos)
{
    *offset = seg->base_offset;
    *pos = 0;
    ensure_index(seg);
    uint32_t n = segment_index_count(&seg->idx);
    if (target <= seg->base_offset || n == 0)
        return;
    int64_t rel = target - seg->base_offset;
    uint32_t lo = 0, hi = n; /* first entry with rel_offset > rel */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((int64_t)idx_get_u32(segment_index_entry(&seg->idx, mid)) <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return;
    const uint8_t *e = segment_index_entry(&seg->idx, lo - 1);
    uint32_t p = idx_get_u32(e + 4);
    if (p >= seg->size)
        return;
    *offset = seg->base_offset + idx_get_u32(e);
    *pos = p;
}

int64_t segment_lookup_time(struct log_segment *seg, int64_t ts)
{
    ensure_index(seg);
    uint32_t n = segment_index_count(&seg->tidx);
    uint32_t lo = 0, hi = n; /* first entry with timestamp >= ts */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((int64_t)idx_get_u64(segment_index_entry(&seg->tidx, mid)) < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return seg->base_offset;
    const uint8_t *e = segment_index_entry(&seg->tidx, lo - 1);
    int64_t off = seg->base_offset + idx_get_u32(e + 8);
    return off < seg->end_offset ? off : seg->base_offset;
}

uint32_t segment_index_entries_below(struct log_segment *seg, uint64_t pos)
{
    uint32_t n = segment_index_count(&seg->idx);
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (idx_get_u32(segment_index_entry(&seg->idx, mid) + 4) < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t segment_time_entries_below(struct log_segment *seg, int64_t offset)
{
    uint32_t n = segment_index_count(&seg->tidx);
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (seg->base_offset + idx_get_u32(segment_index_entry(&seg->tidx, mid) + 8) < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void segment_pin(struct log_segment *seg)
{
    seg->refs++;
}

static void close_done(struct log_segment *seg)
{
    struct partition_log *log = seg->log;
    log_op_done(log);
    assert(seg->closing > 0);
    if (--seg->closing > 0)
        return;
    segment_free(seg);
    assert(log->retiring > 0);
    log->retiring--;
    ctl_reads_drained(log);
}

static void close_done0(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    close_done(rl_container_of(c, struct log_segment, close_c[0]));
}

static void close_done1(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    close_done(rl_container_of(c, struct log_segment, close_c[1]));
}

static void close_done2(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    close_done(rl_container_of(c, struct log_segment, close_c[2]));
}

static void close_fds(struct log_segment *seg)
{
    int *fds[3] = {&seg->fd, &seg->idx.fd, &seg->tidx.fd};
    void (*done[3])(struct rl_completion *, int32_t, uint32_t) = {close_done0, close_done1,
                                                                  close_done2};
    struct partition_log *log = seg->log;
    for (int i = 0; i < 3; i++) {
        if (*fds[i] < 0)
            continue;
        struct log_io_req req = {.op = LOG_IO_CLOSE, .fd = *fds[i]};
        seg->close_c[i].on_complete = done[i];
        if (log_submit(log, &req, &seg->close_c[i], 0) == 0)
            seg->closing++;
        else
            log_io_run(log->engine->cfg.io, &req);
        *fds[i] = -1;
    }
    if (seg->closing == 0) {
        segment_free(seg);
        log->retiring--;
        ctl_reads_drained(log);
    }
}

void segment_unpin(struct log_segment *seg)
{
    assert(seg->refs > 0);
    if (--seg->refs == 0 && seg->doomed)
        close_fds(seg);
}

void segment_retire(struct log_segment *seg)
{
    assert(!seg->doomed);
    seg->doomed = true;
    segment_unmap_indexes(seg);
    seg->log->retiring++;
    if (seg->refs == 0)
        close_fds(seg);
}

void segment_free(struct log_segment *seg)
{
    segment_unmap_indexes(seg);
    free(seg->idx.mem);
    free(seg->tidx.mem);
    free(seg);
}
