/*
 * A compaction pass of one partition (private to compact*.c). The pass
 * reads closed, committed segments through the ring in bounded chunks:
 * first the dirty ones, to build the key map (newest offset of every key),
 * then every segment up to where the map reaches, rewriting each one that
 * loses a record into temp files that a short control operation swaps in
 * (ctl.c, LOG_CTL_COMPACT_SWAP). docs/STORAGE.md, "Compaction".
 */
#ifndef RINGLOG_BROKER_LOG_COMPACT_JOB_H
#define RINGLOG_BROKER_LOG_COMPACT_JOB_H

#include "compact_batch.h"
#include "compact_map.h"
#include "log_internal.h"

/* One read of a segment, and the output buffered before a write. */
#define COMPACT_READ_BYTES (1u << 20)
#define COMPACT_WRITE_BYTES (1u << 20)
#define COMPACT_TMP_SUFFIX ".cleaned"
#define COMPACT_TMP_NAME_MAX (LOG_NAME_MAX + 8)

enum compact_phase { COMPACT_MAP, COMPACT_CLEAN };

struct compact_job {
    struct partition_log *log;
    struct rl_completion c;
    void (*next)(struct compact_job *j, int32_t res); /* the I/O in flight continues here */
    bool io_busy;
    bool aborted;
    int status; /* the first failure: the pass ends */
    int dir_fd;
    int64_t started_ms;
    uint8_t phase;
    struct compact_map map;
    struct compact_scratch scratch;
    int64_t map_from; /* the dirty part starts here */
    int64_t limit;    /* the end of the last cleanable segment */
    int64_t map_end;  /* the map holds every key of [map_from, map_end) */
    bool map_partial; /* one segment had more keys than the map */
    bool map_full;
    int64_t tombstone_due_ms;
    /* the segment being read */
    int64_t seg_base, seg_end;
    struct log_segment *seg; /* pinned while read */
    uint64_t pos;            /* file position of buf[0] */
    uint8_t *buf;
    size_t cap, have, used;
    /* the segment being written (COMPACT_CLEAN) */
    bool writing;               /* a record goes: the segment is rewritten from its start */
    bool tmp_exists[3];         /* temp files that may exist (.log, .index, .timeindex) */
    int out_fd, ix_fd, ix_step; /* ix_step: 0 .index, 1 .timeindex */
    struct log_segment *out;    /* the new segment: size, index entries, max timestamp */
    uint8_t *wbuf;
    size_t wlen, wcap;
    uint64_t wpos; /* file position of wbuf[0] */
    uint64_t seg_removed_records;
    bool renamed; /* the swap renamed the new .log over the old one */
    int cleanup_step;
    char tmp[3][COMPACT_TMP_NAME_MAX];
};

/* compact.c: I/O through the ring, continuing at `next`. */
void compact_io(struct compact_job *j, const struct log_io_req *req,
                void (*next)(struct compact_job *, int32_t));
void compact_fail(struct compact_job *j, int status, const char *what, int32_t res);

/* compact_pass.c: the passes' steps. */
void compact_pass_begin(struct compact_job *j);
void compact_pass_after_swap(struct compact_job *j);
bool compact_keep_record(void *ctx, const struct rl_record *r, int64_t offset);

/* compact.c */
void compact_cleanup(struct compact_job *j);

static inline void compact_count(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

#endif
