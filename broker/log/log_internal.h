/*
 * Private structures of the storage engine, shared by its source files.
 * Nothing outside broker/log/ includes this.
 */
#ifndef RINGLOG_BROKER_LOG_INTERNAL_H
#define RINGLOG_BROKER_LOG_INTERNAL_H

#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "partition_log.h"

struct rl_batch_header;

/* Segment positions and relative offsets are 32-bit in the index files. */
#define LOG_MAX_SEGMENT_BYTES (2ull << 30)
#define LOG_MAX_RELATIVE_OFFSET ((int64_t)INT32_MAX - (1 << 24))
#define LOG_MAX_IOV 1024
#define LOG_MAX_INFLIGHT_GROUPS 16
/* A write group at most this large is written on the shard thread (append.c, write_inline). */
#define LOG_INLINE_WRITE_BYTES (64u << 10)
#define LOG_INDEX_ENTRY 8 /* u32 relative offset, u32 position */
#define LOG_TIME_ENTRY 12 /* i64 max timestamp so far, u32 relative offset */
#define LOG_NAME_MAX 40
#define LOG_SCRATCH_BYTES (64u << 10) /* truncate's header scan */
/* A partition with no write group started for this long frees its groups' memory. */
#define LOG_IDLE_FREE_MS 10000

enum log_op_kind {
    LOG_OP_APPEND = 1,
    LOG_OP_FLUSH,
    LOG_OP_TRUNCATE,
    LOG_OP_CLOSE,
    LOG_OP_DELETE,
    LOG_OP_RETENTION,
    LOG_OP_RESET,
    LOG_OP_ADVANCE_START,
    LOG_OP_OVERWRITE,
};

/* ------------------------------------------------------------------ index */

/*
 * One index of one segment. The active segment keeps its entries in `mem`
 * (encoded exactly as in the file); the file gets the ones it lacks at each
 * recovery checkpoint, roll and close, the only points where recovery
 * trusts it (after a crash, entries past the checkpoint are rebuilt from
 * the data anyway), so a write group costs one write, not three. A closed
 * segment maps its file read-only on first lookup.
 */
struct seg_index {
    int fd;
    uint32_t entry_size;
    uint8_t *mem;        /* active: entries */
    uint32_t count, cap; /* entries in mem (active) or in the map (closed) */
    const uint8_t *map;  /* closed: mmap of the file, or NULL */
    size_t map_len;
    bool map_tried;
    uint32_t file_count; /* entries known to be in the file */
    bool dirty;          /* written or cut since its last fdatasync */
    char name[LOG_NAME_MAX];
};

static inline uint32_t idx_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void idx_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t idx_get_u64(const uint8_t *p)
{
    return (uint64_t)idx_get_u32(p) | (uint64_t)idx_get_u32(p + 4) << 32;
}

static inline void idx_put_u64(uint8_t *p, uint64_t v)
{
    idx_put_u32(p, (uint32_t)v);
    idx_put_u32(p + 4, (uint32_t)(v >> 32));
}

/* ---------------------------------------------------------------- segment */

struct log_segment {
    int64_t base_offset;
    int64_t end_offset;       /* next offset after its last batch */
    uint64_t size;            /* logical bytes: everything readers may see */
    uint64_t writeback_pos;   /* flush none/interval: writeback started for [0, this) */
    int64_t writeback_ref_ms; /* when writeback_pos last moved (0: since created_ms) */
    uint64_t cache_drop_pos;  /* [0, this) was dropped from the page cache */
    uint64_t prealloc_end;    /* the file is fallocate'd (size set) up to here */
    int fd;
    struct seg_index idx, tidx;
    int64_t max_timestamp; /* INT64_MIN: no batch */
    int64_t max_ts_offset; /* base offset of the batch that has it */
    int64_t last_time_entry_ts;
    uint64_t last_index_pos; /* position of the last offset-index entry (0: none) */
    int64_t created_ms;
    uint32_t refs; /* reads and ranges in flight */
    bool doomed;   /* out of the log: close and free once refs == 0 */
    struct log_segment *next_doomed;
    uint8_t closing; /* fds whose asynchronous close is in flight */
    struct rl_completion close_c[3];
    struct partition_log *log;
    char name[LOG_NAME_MAX];
};

/* ------------------------------------------------------------ checkpoint */

/*
 * The recovery checkpoint: everything before (segment_base, position) —
 * offset `offset` — is on disk, and so are the first index_entries /
 * time_entries entries of that segment's index files. clean: written by a
 * clean shutdown; the log ends exactly there.
 */
struct log_checkpoint {
    uint64_t seq;
    uint32_t clean;
    int64_t segment_base;
    uint64_t position;
    int64_t offset;
    uint32_t index_entries;
    uint32_t time_entries;
    int64_t max_timestamp; /* of that segment, up to position */
    int64_t max_ts_offset;
    int64_t start_offset;   /* the log starts here: segments wholly below it are gone */
    int64_t high_watermark; /* -1: not kept (no replication driver set one) */
    int32_t start_epoch;    /* epoch of the entry start_offset - 1 (0: none) */
    int64_t records_start;  /* DeleteRecords: readers start here (>= start_offset; v3) */
    uint32_t epoch_count;   /* runs of the epoch table below `offset` */
    uint32_t config_count;  /* configuration batches below `offset` (version 3) */
    bool epochs_known;      /* false for a version 1 record */
};

/* Two slots this far apart; a record is at most one slot. */
#define LOG_CHECKPOINT_SLOT 4096

/* Encodes the record and its epoch runs into out; returns its length. */
size_t log_checkpoint_encode(const struct log_checkpoint *ck, const struct log_epoch_run *runs,
                             const struct log_config *configs, uint8_t out[LOG_CHECKPOINT_SLOT]);
/* Returns 0 when the bytes hold a valid record (runs: LOG_MAX_EPOCH_RUNS of room; configs:
 * LOG_MAX_CONFIGS). */
int log_checkpoint_decode(const uint8_t *in, size_t len, struct log_checkpoint *ck,
                          struct log_epoch_run *runs, struct log_config *configs);
uint64_t log_checkpoint_slot(uint64_t seq);
uint64_t log_checkpoint_v1_slot(int slot);

/* ------------------------------------------------------------------ group */

/*
 * One write group: the appends taken from the queue in one turn, written by
 * one writev at the end of the active segment (plus a linked fdatasync under
 * flush=always), and the index entries they add.
 *
 * Up to cfg.max_inflight_groups groups are in flight per partition, in a
 * ring (partition_log.groups). Each starts where the previous one ends:
 * its position, offsets and index state follow on from the newest group in
 * flight, as if that group had succeeded. Groups retire strictly in order;
 * a failed one fails every later one still in flight.
 */
struct log_group {
    struct rl_completion write_c, sync_c;
    struct partition_log *log;
    struct log_append *first, *last;
    uint32_t appends;
    uint32_t iovcnt;
    uint64_t pos, bytes;
    int64_t base_offset, next_offset;
    bool with_sync;
    bool write_done; /* the writev is back (or was never submitted) */
    bool stored;     /* on_stored was reported */
    uint8_t pending; /* operations in flight */
    int write_res, sync_res;
    /* staged index state, committed when the group succeeds */
    uint8_t *idx_stage, *tidx_stage;
    uint32_t idx_n, tidx_n, stage_cap;
    uint64_t last_index_pos;
    int64_t last_time_entry_ts;
    int64_t max_timestamp, max_ts_offset;
    /* Last: a group of few appends touches only the first page or so of it. */
    struct iovec iov[LOG_MAX_IOV];
};

/* ---------------------------------------------------------------- control */

/*
 * A control operation runs a small program: I/O requests submitted one at a
 * time, each checked when it completes. A request may take its fd from an
 * earlier step (openat) and may run a hook on success. When the program
 * ends (or a required step fails) `done` decides what comes next: another
 * program, or the end of the operation.
 */
enum ctl_policy {
    CTL_MUST,     /* failure ends the program with LOG_ERR_STORAGE */
    CTL_TOLERATE, /* failure is logged as a warning and the program goes on */
    CTL_QUIET,    /* failure is ignored (best effort) */
};

struct ctl_io {
    struct log_io_req req;
    int *fdp;       /* when set, req.fd = *fdp at submission */
    int *result_fd; /* openat: where the new fd goes */
    uint8_t policy;
    void (*after)(struct partition_log *log, struct ctl_io *io, int32_t res);
    void *arg;
};

#define LOG_CTL_PROGRAM 24

struct log_ctl_run {
    struct rl_completion c;
    struct ctl_io prog[LOG_CTL_PROGRAM];
    uint8_t nprog, pc;
    void (*done)(struct partition_log *log, int status);
    void (*resume)(struct partition_log *log); /* waiting for reads and closes */
    int status;
    int end_status; /* ctl_end: what the caller hears once the files are closed */
    int first_err;
    struct log_ctl *user; /* NULL for internal work */
    uint8_t kind;         /* LOG_OP_* or an internal kind below */
    struct log_segment *seg;
    struct log_segment *doomed; /* truncate: segments still to unlink */
    int64_t target_offset;
    uint64_t target_pos;
    int64_t target_pos_offset; /* advance start: the log end target_pos is the position of */
    uint64_t scan_pos;
    uint32_t scan_len;
    uint8_t *ckpt_buf; /* LOG_CHECKPOINT_SLOT bytes while a checkpoint is written */
    struct log_checkpoint ckpt;
};

enum log_internal_kind {
    LOG_CTL_ROLL = 32,
    LOG_CTL_CHECKPOINT,
    LOG_CTL_REPAIR,
    LOG_CTL_INTERVAL_FLUSH,
    LOG_CTL_DIR_SYNC,
    LOG_CTL_COMPACT_SWAP,
};

enum log_state { LOG_STATE_OPEN, LOG_STATE_CLOSING, LOG_STATE_CLOSED };

/* compact.c: a partition's compaction state. */
struct compact_job;
struct log_compact {
    struct compact_job *job; /* the pass running, or NULL */
    int64_t first_dirty;     /* below it, the log was compacted against everything up to it */
    bool dedup_complete;     /* the compacted part has one record per key: tombstones may go */
    bool swap_ready;         /* a rewritten segment waits for a quiescent partition */
    int64_t last_check_ms;
    int64_t tombstone_due_ms; /* a kept tombstone expires then (INT64_MAX: none) */
    struct log_compact_stats stats;
};

/* -------------------------------------------------------------- partition */

struct partition_log {
    struct log_engine *engine;
    struct partition_log_config cfg;
    struct partition_log *next_ready, *next_open, *prev_open;
    bool in_ready;
    enum log_state state;
    char *dir_path;
    char *topic_dir; /* its parent: removed with the last partition in it */
    char label[272]; /* "topic/partition" for messages */
    int dir_fd;
    int ckpt_fd;

    struct log_segment **segs; /* by base offset; the last is active */
    uint32_t nsegs, segs_cap;

    int64_t start_offset;   /* of the first segment: what replication reads from */
    int64_t records_start;  /* >= start_offset: clients read from here (DeleteRecords) */
    int64_t next_offset;    /* log end: visible to readers */
    int64_t durable_offset; /* on disk below this */
    int64_t stored_offset;  /* in the file below this (maybe not durable, not yet visible) */
    uint64_t durable_pos;   /* position in the active segment of durable_offset */
    uint64_t total_bytes;   /* closed segments + active size */

    /* the FIFO of appends and user control operations */
    struct log_op *queue_head, *queue_tail;
    struct log_append *durable_head, *durable_tail; /* written, waiting for a flush */

    struct log_group *groups; /* ring of cfg.max_inflight_groups; NULL while idle */
    uint64_t groups_started;  /* write groups started so far */
    uint64_t idle_mark;       /* groups_started when idle_since_ms was taken */
    int64_t idle_since_ms;
    uint32_t group_head;      /* oldest group in flight */
    uint32_t groups_inflight; /* submitted, not yet retired */
    bool group_chain_failed;  /* a group failed: the later ones in flight fail too */
    struct log_ctl_run ctl;
    bool ctl_active;
    uint32_t reads_inflight;
    uint32_t retiring; /* segments whose fds are still being closed */

    bool failed;          /* last write or flush failed; logged once */
    int chain_status;     /* the status the failed group chain reports */
    char last_error[128]; /* what failed, while failed */
    bool repair_needed;   /* bytes past the end may hold a failed write */
    uint64_t repair_from, repair_to;

    struct log_checkpoint ckpt; /* the last one written */
    int64_t last_ckpt_ms;       /* last attempt */
    int64_t ckpt_attempt_base;  /* (segment, position) of the last attempt */
    uint64_t ckpt_attempt_pos;
    int64_t last_flush_ms;
    int64_t last_retention_ms;
    bool flush_requested;
    bool dir_sync_needed; /* new files whose names are not durable yet: fsync before writing */

    uint8_t *scratch; /* truncate's header scan */
    uint32_t scratch_cap;

    /* epochs.c: the leader-epoch table; the high watermark */
    struct log_epoch_run *epochs;
    uint32_t nepochs, epochs_cap;
    int32_t start_epoch;
    int64_t high_watermark; /* -1: not kept */
    int32_t reset_epoch;    /* reset: the start epoch asked for */
    /* configs.c: the configuration batches (newest last) */
    struct log_config configs[LOG_MAX_CONFIGS];
    uint32_t nconfigs;
    struct log_config reset_config; /* reset: the config in effect at the start (len 0: none) */
    bool reset_has_config;

    /* prealloc.c: the active segment is reserved in steps ahead of the writes */
    struct rl_completion prealloc_c;
    struct log_segment *prealloc_seg; /* the segment of the reservation in flight */
    uint64_t prealloc_target;         /* ... and the end it reserves to */
    uint64_t prealloc_step;
    int64_t prealloc_ms; /* when the last step was taken */
    bool prealloc_busy;  /* a reservation is in flight: control operations wait */
    bool prealloc_off;   /* the filesystem does not support fallocate */

    struct log_compact compact;

    /* bad.c: known-bad batches, by offset */
    struct log_bad_batch *bad;
    uint32_t nbad, bad_cap;
    /* Overwrites started: a read in flight across one verifies what it returns (it may
     * have read bytes the overwrite was replacing). */
    uint64_t overwrites;
};

/* ----------------------------------------------------- shared functions */

void log_msg(struct partition_log *log, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t log_now(struct partition_log *log);
void log_engine_note_interval(struct log_engine *e, int64_t interval_ms);
void log_mark_ready(struct partition_log *log);
int log_submit(struct partition_log *log, const struct log_io_req *req, struct rl_completion *c,
               unsigned flags);
/* Every completion handler of the engine calls this first. */
void log_op_done(struct partition_log *log);

struct log_segment *log_active(const struct partition_log *log);
/* Index of the segment holding `offset` (largest base <= offset), or -1. */
int log_find_segment(const struct partition_log *log, int64_t offset);

/* segment.c */
struct log_segment *segment_new(struct partition_log *log, int64_t base_offset);
void segment_names(int64_t base, char log_name[LOG_NAME_MAX], char idx[LOG_NAME_MAX],
                   char tidx[LOG_NAME_MAX]);
int segment_index_reserve(struct seg_index *ix, uint32_t count);
void segment_index_append(struct seg_index *ix, const uint8_t *entries, uint32_t n);
/* Closed segments: map the index files (best effort). */
void segment_map_indexes(struct log_segment *seg);
void segment_unmap_indexes(struct log_segment *seg);
/* Entry i of an index, from memory or the map. */
const uint8_t *segment_index_entry(const struct seg_index *ix, uint32_t i);
uint32_t segment_index_count(const struct seg_index *ix);
/* Largest offset-index entry with offset <= target: its (offset, position). */
void segment_lookup_offset(struct log_segment *seg, int64_t target, int64_t *offset, uint64_t *pos);
/* Offset to scan from for the first batch with max timestamp >= ts. */
int64_t segment_lookup_time(struct log_segment *seg, int64_t ts);
/* Entries of the offset index whose position is below pos. */
uint32_t segment_index_entries_below(struct log_segment *seg, uint64_t pos);
uint32_t segment_time_entries_below(struct log_segment *seg, int64_t offset);
void segment_pin(struct log_segment *seg);
void segment_unpin(struct log_segment *seg);
/* Takes the segment out of service: closes its fds asynchronously once unpinned. */
void segment_retire(struct log_segment *seg);
/* Frees memory of a segment whose fds are closed (or were never opened). */
void segment_free(struct log_segment *seg);

/* epochs.c */
void epochs_note(struct partition_log *log, int32_t epoch, int64_t offset);
void epochs_note_append(struct partition_log *log, const struct log_append *a, int64_t end);
struct rl_batch_header;
void epochs_note_batch(struct partition_log *log, const struct rl_batch_header *h, int64_t end);
void epochs_truncate(struct partition_log *log, int64_t end);
void epochs_advance_start(struct partition_log *log, int64_t start);
void epochs_reset(struct partition_log *log, int32_t start_epoch);
/* configs.c */
void configs_note(struct partition_log *log, int64_t offset, const uint8_t *value, size_t len);
void configs_note_batch(struct partition_log *log, const uint8_t *batch,
                        const struct rl_batch_header *h);
void configs_truncate(struct partition_log *log, int64_t end);

/* prealloc.c */
void prealloc_init(struct partition_log *log);
void prealloc_ahead(struct partition_log *log, uint64_t end_after);
uint64_t prealloc_target(const struct partition_log *log, uint64_t pos);
void prealloc_cut(struct log_segment *seg, uint64_t size);

/* bad.c */
/* Records a bad batch (kept in offset order); false when the set is full or out of memory. */
bool bad_note(struct partition_log *log, const struct log_bad_batch *b);
/* The known-bad batch at (segment, position), or NULL. */
const struct log_bad_batch *bad_at(const struct partition_log *log, int64_t seg_base, uint64_t pos);
/* The known-bad batch starting at base_offset, or NULL. */
const struct log_bad_batch *bad_find(const struct partition_log *log, int64_t base_offset);
void bad_forget(struct partition_log *log, int64_t base_offset);
/* The log was cut at end / now starts at start / was reset: forget what went. */
void bad_truncate(struct partition_log *log, int64_t end);
void bad_advance_start(struct partition_log *log, int64_t start);
void bad_free(struct partition_log *log);

/* recovery.c */
int log_recover(struct partition_log *log, struct log_open_report *rep);

/* compact.c */
void compact_init(struct partition_log *log);
/* Called by the tick: starts a pass when one is due and the engine has none. */
void compact_tick(struct partition_log *log, int64_t now);
/* Truncation, reset, close or delete: the pass stops (at its next I/O completion). */
void compact_abort(struct partition_log *log);
/* The swap (ctl.c, LOG_CTL_COMPACT_SWAP): which names, and what happened. */
struct compact_swap_names {
    const char *tmp[3], *dst[3]; /* .log, .index, .timeindex */
};
/* ctl.c: the segment [base, end) lies wholly below the records start (DeleteRecords). */
bool log_below_records_start(const struct partition_log *log, uint32_t seg_index);
bool compact_swap_begin(struct partition_log *log, struct compact_swap_names *names);
void compact_swap_renamed(struct partition_log *log);
void compact_swap_end(struct partition_log *log, int status);

/* ctl.c */
void ctl_start(struct partition_log *log, uint8_t kind, struct log_ctl *user);
void ctl_reads_drained(struct partition_log *log);
bool log_checkpoint_due(struct partition_log *log);

/* append.c */
void log_pump(struct partition_log *log);
bool log_retention_due(struct partition_log *log, int64_t now);
int log_groups_alloc(struct partition_log *log);
void log_groups_free(struct partition_log *log);
void log_groups_release_idle(struct partition_log *log, int64_t now);
void log_fail_queue(struct partition_log *log, int status);
void log_durable_advance(struct partition_log *log, int64_t offset, uint64_t pos);
void log_durable_fail(struct partition_log *log, int status);
void log_note_failure(struct partition_log *log, const char *what, int err);
void log_note_success(struct partition_log *log);

#endif
