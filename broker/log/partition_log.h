/*
 * The storage engine: one segmented, indexed log per partition, written and
 * read through the shard's io_uring. docs/STORAGE.md describes the files,
 * the recovery rules and the flush semantics; this header is the API.
 *
 * Driving it (one struct log_engine per shard thread):
 *
 *     log_engine_init(&engine, &cfg);           // cfg.io = &uring.io, logger, clock
 *     partition_log_open(&engine, ...);         // synchronous: at start-up
 *     for (;;) {                                // the shard loop
 *         log_engine_submit(&engine);           // this turn's appends -> SQEs
 *         io_uring_submit_and_wait(ring, 1);
 *         log_ring_dispatch_ready(ring);        // every CQE -> rl_completion
 *         log_engine_tick(&engine);             // every few ms: timers
 *     }
 *
 * Appends, reads, flushes, truncation, retention, close and delete are
 * asynchronous and report through callbacks. Every request struct is owned
 * by the caller and must stay alive, unmoved, until its last callback.
 */
#ifndef RINGLOG_BROKER_PARTITION_LOG_H
#define RINGLOG_BROKER_PARTITION_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "completion.h"
#include "log_io.h"
#include "log_status.h"

struct io_uring;
struct partition_log;
struct log_segment;

/* ------------------------------------------------------------------ engine */

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

struct log_engine_config {
    struct log_io *io;
    /* Where the engine reports (never printed by the library). May be NULL. */
    void (*log)(void *ctx, enum log_level level, const char *message);
    void *log_ctx;
    /* Wall clock in ms since the epoch; NULL: CLOCK_REALTIME. */
    int64_t (*now_ms)(void *ctx);
    void *clock_ctx;
};

/* What compaction did on a partition (or, summed, on an engine). */
struct log_compact_stats {
    uint64_t passes;           /* passes finished */
    uint64_t failures;         /* passes abandoned on an I/O error */
    uint64_t segments_cleaned; /* segments rewritten and swapped in */
    uint64_t bytes_read;       /* segment bytes read (key map and rewrite) */
    uint64_t bytes_removed;    /* segment bytes that compaction removed */
    uint64_t records_removed;  /* records removed (older values and expired tombstones) */
    int64_t last_run_ms;       /* wall clock at the end of the last pass (0: none) */
    int64_t last_run_duration_ms;
};

/* The same, summed over an engine's partitions: relaxed atomics, read by the metrics endpoint. */
struct log_compact_counters {
    _Atomic uint64_t passes, failures, segments_cleaned, bytes_read, bytes_removed, records_removed;
    _Atomic int64_t last_run_ms;
};

/* Known-bad batches of an engine's partitions (partition_log_bad_batches): relaxed atomics,
 * read by the metrics endpoint. */
struct log_bad_counters {
    _Atomic uint64_t found;       /* recorded (by recovery or a verifying read) */
    _Atomic uint64_t repaired;    /* overwritten with a good copy */
    _Atomic uint64_t outstanding; /* recorded now: not repaired, truncated or closed */
};

/* The write path's work (append.c, ctl.c's flush), summed per engine for metrics. */
struct log_write_counters {
    _Atomic uint64_t groups;        /* write groups started (one writev each) */
    _Atomic uint64_t inline_writes; /* of those, written on the shard thread (LOG_IO_INLINE) */
    _Atomic uint64_t fdatasyncs;    /* of segment data: a group's under always, a flush's */
    _Atomic uint64_t synced_bytes;  /* bytes those fdatasyncs made durable */
};

struct log_engine {
    struct log_engine_config cfg;
    struct partition_log *ready;         /* partitions with work for log_engine_submit */
    struct partition_log *partitions;    /* every open partition */
    uint64_t inflight;                   /* operations submitted and not completed */
    int64_t next_walk_ms;                /* log_engine_tick looks at the partitions from then */
    int64_t walk_ms;                     /* ... every this often (LOG_TICK_WALK_MS or less) */
    struct partition_log *compacting;    /* the one compaction pass of the engine, or NULL */
    struct log_compact_counters compact; /* summed over its partitions, for metrics */
    struct log_bad_counters bad;
    struct log_write_counters writes;
};

/* log_engine_tick walks the partitions at most this often (or the shortest flush interval). */
#define LOG_TICK_WALK_MS 50

void log_engine_init(struct log_engine *e, const struct log_engine_config *cfg);

/*
 * Turns the appends queued since the last call into write groups (one
 * writev, plus one linked fdatasync under flush=always, per partition) and
 * starts pending control work. Call once per loop turn, before submitting.
 */
void log_engine_submit(struct log_engine *e);

/* Timers: interval flushes, checkpoints, segment age rolls, retention. */
void log_engine_tick(struct log_engine *e);

/* True when no operation of the engine is in flight or queued. */
bool log_engine_idle(const struct log_engine *e);

/*
 * Runs the ring until *done is true (or, with done NULL, until the engine
 * is idle). For tests, tools and start-up/shut-down code only.
 */
int log_engine_drive(struct log_engine *e, struct io_uring *ring, const bool *done);

/* --------------------------------------------------------------- partition */

enum log_flush_policy {
    LOG_FLUSH_ALWAYS,   /* durable before acknowledged; group commit */
    LOG_FLUSH_INTERVAL, /* fdatasync every flush_interval_ms */
    LOG_FLUSH_NONE,     /* only at segment roll, flush and close */
};

/*
 * A partition writing at least LOG_WRITEBACK_KICK_BYTES within
 * LOG_WRITEBACK_KICK_WINDOW_MS (8 MB/s) starts writeback of every
 * LOG_WRITEBACK_KICK_BYTES it writes under flush none/interval, and drops
 * what is written back beyond cache_keep_bytes from the page cache
 * (append.c, writeback_kick).
 */
#define LOG_WRITEBACK_KICK_BYTES (2u << 20)
#define LOG_WRITEBACK_KICK_WINDOW_MS 250

/* partition_log_config.cleanup_policy bits */
#define LOG_CLEANUP_DELETE 1u
#define LOG_CLEANUP_COMPACT 2u
/* 24 B a slot, 4/3 slots an entry: 8 MiB while a pass runs (one per engine at a time). */
#define LOG_DEFAULT_COMPACT_MAP_ENTRIES (1u << 18)

/* Defaults of the fields below that take 0 to mean "the default". */
#define LOG_DEFAULT_INFLIGHT_GROUPS 2
#define LOG_DEFAULT_CACHE_KEEP_BYTES (64ll << 20)
/* Preallocation steps ahead of the writes: the first (and an idle
 * partition's) and the largest, for a fast writer (prealloc.c). */
#define LOG_DEFAULT_PREALLOC_BYTES (64u << 10)
#define LOG_PREALLOC_MAX_BYTES (16u << 20)

struct partition_log_config {
    uint64_t segment_bytes;        /* roll past this size (default 1 GiB, max 2 GiB) */
    int64_t segment_ms;            /* roll a segment this old (default 7 days) */
    int64_t retention_bytes;       /* -1: unlimited */
    int64_t retention_ms;          /* -1: unlimited (default 7 days) */
    enum log_flush_policy flush;   /* default LOG_FLUSH_ALWAYS */
    int64_t flush_interval_ms;     /* LOG_FLUSH_INTERVAL */
    uint32_t index_interval_bytes; /* an offset-index entry every this many bytes (4096) */
    uint32_t max_append_bytes;     /* one append (8 MiB) */
    uint32_t max_group_bytes;      /* one write group, at least max_append_bytes (32 MiB) */
    uint32_t max_batch_bytes;      /* largest batch recovery accepts (default = max_append) */
    uint32_t max_inflight_groups;  /* write groups in flight at once, 1..16 (0: default 2) */
    bool preallocate;              /* fallocate the active segment ahead of writes (true) */
    uint32_t prealloc_bytes;       /* the first step ahead (0: 64 KiB); grows to 16 MiB */
    /* A partition writing fast (8 MB/s or more: LOG_WRITEBACK_KICK_BYTES
     * above) drops from the page cache what was written back this far
     * behind its end (0: default 64 MiB; negative: keep everything). */
    int64_t cache_keep_bytes;
    int64_t checkpoint_interval_ms; /* recovery checkpoint at most this stale (1000) */
    uint64_t checkpoint_bytes;      /* ... or this many durable bytes behind (64 MiB) */
    int64_t retention_check_ms;     /* how often tick() looks at retention (1000) */
    /* Cleanup policy (docs/STORAGE.md, "Compaction"): LOG_CLEANUP_DELETE (retention by
     * size and age; 0 means this), LOG_CLEANUP_COMPACT (keep the newest record per key;
     * no retention), or both. */
    uint32_t cleanup_policy;
    int64_t delete_retention_ms;      /* compaction keeps a tombstone this long (24 h) */
    double min_cleanable_dirty_ratio; /* compact once this share of the log is dirty (0.5) */
    int64_t min_compaction_lag_ms;    /* a segment whose newest batch is younger waits (0) */
    uint32_t compact_map_entries;     /* keys one pass maps (0: LOG_DEFAULT_COMPACT_MAP_ENTRIES) */
    /* Recovery keeps a batch whose header is sane and follows on but whose checksum fails,
     * when valid data follows it (a flipped bit, not a torn tail), and records it as bad
     * (partition_log_bad_batches) instead of cutting the log there. Only for a log whose
     * copies elsewhere can repair it (a replicated partition); a torn tail is cut either way. */
    bool keep_corrupt;
    /* Called whenever the durable offset moves forward (may be NULL). */
    void (*on_durable_advance)(struct partition_log *log, int64_t durable_offset, void *ctx);
    /* Called when retention moved the log start (files gone, directory synced,
     * checkpoint written), e.g. for replica_group_log_start_advanced (may be NULL). */
    void (*on_log_start_advance)(struct partition_log *log, int64_t start_offset, void *ctx);
    void *ctx;
};

void partition_log_config_default(struct partition_log_config *cfg);

/* Parses "always", "none" or "interval:MS" into cfg. Returns LOG_OK or LOG_ERR_INVALID. */
int partition_log_parse_flush(const char *text, struct partition_log_config *cfg);

/* What open found and did; filled even when open fails. */
struct log_open_report {
    bool clean;                 /* a clean-shutdown checkpoint skipped recovery */
    bool created;               /* the partition had no segment: created empty, nothing recovered */
    uint32_t segments;          /* segments found */
    uint64_t scanned_bytes;     /* bytes checksum-verified after the recovery point */
    uint64_t truncated_bytes;   /* torn or corrupt tail dropped */
    uint32_t truncated_batches; /* batches (whole or partial) in that tail */
    uint32_t deleted_segments;  /* segments after a corrupt one, removed */
    uint32_t rebuilt_indexes;   /* segments whose index was rebuilt */
    uint32_t corrupt_kept;      /* keep_corrupt: bad batches kept and recorded, not cut */
    int64_t start_offset, end_offset;
    char message[256]; /* why open failed */
};

/*
 * Whether an open has something to tell the operator: data was verified
 * or dropped, or a crash left a non-empty log to recover. A partition
 * created empty, or an empty one after a crash, has nothing to say (a
 * 10,000-partition create logged 10,000 "partition ... recovered" lines).
 */
bool log_open_report_worth_logging(const struct log_open_report *rep);

/*
 * Opens (creating when absent) <data_dir>/topics/<topic>/<partition>/ and
 * recovers it. Synchronous: run it at start-up, before the shard serves,
 * or for a brand-new partition. Returns LOG_OK with *out set, or an error
 * with report->message saying why.
 */
int partition_log_open(struct log_engine *e, const char *data_dir, const char *topic,
                       int32_t partition, const struct partition_log_config *cfg,
                       struct partition_log **out, struct log_open_report *report);

/* Frees the memory of a log that is closed or deleted (or failed to close). */
void partition_log_free(struct partition_log *log);

int64_t partition_log_start_offset(const struct partition_log *log);
/*
 * Where clients may read from: the log start, or past it where
 * partition_log_advance_start (DeleteRecords) moved it. The engine's reads
 * still serve [log start, end) (replication copies whole batches from
 * there); the partition tier refuses client reads below this.
 */
int64_t partition_log_records_start(const struct partition_log *log);
/*
 * Topic config changed live (AlterConfigs): takes the segment, retention
 * and cleanup fields of cfg, checked as at open; the next tick applies them.
 * LOG_OK or LOG_ERR_INVALID (nothing changed).
 */
int partition_log_set_limits(struct partition_log *log, const struct partition_log_config *cfg);
/* Offset the next batch will get; readers see everything below it. */
int64_t partition_log_end_offset(const struct partition_log *log);
/* Everything below it is in the file (on_stored): at or past the end, and maybe not durable. */
int64_t partition_log_stored_offset(const struct partition_log *log);
/* Everything below it is on disk (the recovery point moves only forward past it). */
int64_t partition_log_durable_offset(const struct partition_log *log);
uint64_t partition_log_size_bytes(const struct partition_log *log);
uint32_t partition_log_segment_count(const struct partition_log *log);
/* Batches from `start` on carry leader epoch `epoch`, up to the next run's start. */
struct log_epoch_run {
    int32_t epoch;
    int64_t start;
};

/* The checkpoint keeps this many runs (the newest); memory keeps them all. */
#define LOG_MAX_EPOCH_RUNS 256

/*
 * The leader-epoch table of [start, end), oldest run first, and the epoch of
 * the entry at start - 1 (0 when there is none or it is not known). Kept
 * across restarts in the checkpoint; valid until the next call that changes
 * the log. Returns the number of runs.
 */
uint32_t partition_log_epochs(const struct partition_log *log, const struct log_epoch_run **runs,
                              int32_t *start_epoch);

/*
 * A configuration control batch (RL_CONTROL_CONFIG) of the log: its offset
 * and its record's value, the replication layer's encoding of a replica set.
 */
#define LOG_CONFIG_VALUE_MAX 64
#define LOG_MAX_CONFIGS 8
struct log_config {
    int64_t offset;
    uint16_t len;
    uint8_t value[LOG_CONFIG_VALUE_MAX];
};

/*
 * The newest LOG_MAX_CONFIGS configuration batches of the log, oldest
 * first, including the newest one below the log start (retention or a reset
 * deleted its batch, but it is still the config in effect there). Kept
 * across restarts in the checkpoint; valid until the next call that changes
 * the log. Returns their number.
 */
uint32_t partition_log_configs(const struct partition_log *log, const struct log_config **out);

/*
 * The high watermark (commit) of a replicated partition. The replication
 * driver sets it; it is written with the next checkpoint and read back by
 * open (clamped to [start, end]), and retention never deletes a segment
 * holding offsets at or past it. -1 until one is set: then retention is
 * bounded by the durable offset only.
 */
void partition_log_set_high_watermark(struct partition_log *log, int64_t hw);
int64_t partition_log_high_watermark(const struct partition_log *log);

void partition_log_compact_stats(const struct partition_log *log, struct log_compact_stats *out);
/* The partition keeps only the newest record of each key (cleanup_policy compact). */
bool partition_log_compacts(const struct partition_log *log);

/* The share of the cleanable log (closed, committed segments) not yet compacted: 0..1. */
double partition_log_dirty_ratio(const struct partition_log *log);
/*
 * Starts a compaction pass now, whatever the dirty ratio (for tests and
 * tools; the engine's tick starts them by itself). LOG_OK when started,
 * LOG_ERR_BUSY when a pass of this engine runs, LOG_ERR_INVALID when the
 * partition is not compacted or has nothing to compact.
 */
int partition_log_compact_now(struct partition_log *log);
/* Offsets below it were compacted by the last pass (against every key up to it). */
int64_t partition_log_compacted_offset(const struct partition_log *log);
/* True while a compaction pass of this partition runs. */
bool partition_log_compacting(const struct partition_log *log);

/*
 * Known-bad batches: a sane header, a failed checksum (a flipped bit on
 * disk). Found by recovery (keep_corrupt) or by a verifying read; reads
 * never return one (LOG_ERR_REPAIRING); partition_log_overwrite puts a good
 * copy in its place. Truncation, retention and reset forget those they cut.
 */
struct log_bad_batch {
    int64_t base_offset, last_offset;
    int32_t epoch;     /* its header's leader epoch */
    uint32_t len;      /* whole batch, header included */
    uint64_t checksum; /* its header's (maybe the flipped part): a compacted partition's repair
                        * takes only a copy with this one (replica_repair.c) */
    int64_t seg_base;  /* the segment holding it, and its position there */
    uint64_t pos;
};

/* At most this many are recorded per partition (more are still refused to readers when
 * found by a verifying read, but not kept for repair until some are repaired). */
#define LOG_MAX_BAD_BATCHES 256

/* The known-bad batches, oldest offset first; valid until the next call that changes
 * the log. Returns the count. */
uint32_t partition_log_bad_batches(const struct partition_log *log,
                                   const struct log_bad_batch **out);

/* Heap the partition holds (structures, in-memory indexes, write groups): not the page cache. */
size_t partition_log_memory_bytes(const struct partition_log *log);
/* True while the last write or flush failed and no later one succeeded. */
bool partition_log_failed(const struct partition_log *log);
/* While failed: what failed, for people ("write failed: No space left on device"); else "". */
const char *partition_log_failure(const struct partition_log *log);

/* ------------------------------------------------------------------ append */

enum {
    /* The batches' base offsets are already set (replication followers). */
    LOG_APPEND_EXACT_OFFSETS = 1u << 0,
    /* Checksum-validate every batch (when the caller has not). */
    LOG_APPEND_VALIDATE = 1u << 1,
    /* Control batches (RL_BATCH_ATTR_CONTROL: epoch markers, configuration entries) are
     * allowed: the broker's own appends and replicated ones. Without it they are refused
     * (LOG_ERR_CORRUPT_BATCH), as producers may not send them. */
    LOG_APPEND_CONTROL = 1u << 2,
};

struct log_op {
    struct log_op *next;
    uint8_t kind;
};

struct log_append {
    struct log_op op; /* engine-private */
    /* in */
    uint8_t *data; /* one or more whole batches back to back; stamped in place */
    size_t len;
    int32_t leader_epoch; /* stamped unless LOG_APPEND_EXACT_OFFSETS */
    uint32_t flags;
    /* Written to the log and visible to readers (or failed). Required. */
    void (*on_written)(struct log_append *a, int status);
    /* On disk (or failed). NULL: not wanted; the struct is free after on_written. */
    void (*on_durable)(struct log_append *a, int status);
    /* Optional, LOG_OK only: the batches are in the file (page cache), with offsets
     * assigned, but not yet durable nor visible to readers. Under flush=always it comes
     * an fdatasync before on_written (a replication leader sends them to followers from
     * here, not one fsync late); otherwise right before on_written. A failure after it
     * still arrives as on_written(error): the bytes were cut again. */
    void (*on_stored)(struct log_append *a, int status);
    void *user;
    /* out, valid from on_written with LOG_OK */
    int64_t base_offset; /* of the first batch */
    int64_t last_offset; /* of the last record */
    int64_t max_timestamp;
    uint32_t batch_count;
    int status;
    struct log_append *next_durable; /* engine-private */
};

/*
 * Queues an append; log_engine_submit writes it with everything else queued
 * on the partition in the same turn. data must stay valid and unchanged
 * until on_written. Returns LOG_OK (callbacks will follow) or an error
 * right away (no callback): LOG_ERR_INVALID, LOG_ERR_TOO_LARGE,
 * LOG_ERR_CORRUPT_BATCH, LOG_ERR_CLOSED. A disk failure is reported through
 * the callbacks as LOG_ERR_STORAGE (LOG_ERR_NO_SPACE for a full disk), and an
 * exact-offset append that is not
 * at the log end when its turn comes as LOG_ERR_OFFSET_MISMATCH.
 */
int partition_log_append(struct partition_log *log, struct log_append *a);

/* -------------------------------------------------------------------- read */

struct log_read {
    /* in */
    int64_t offset;     /* first offset wanted */
    int64_t max_offset; /* exclusive: no batch starting at or past it (INT64_MAX: none) */
    uint8_t *buf;       /* whole batches land here */
    size_t cap;
    void (*on_complete)(struct log_read *r, int status);
    void *user;
    /* out */
    const uint8_t *data; /* inside buf: whole batches, the first one holding `offset` */
    size_t len;          /* 0 at the log end (or the end of a segment's data) */
    int64_t next_offset; /* where the next read continues */
    size_t needed_bytes; /* LOG_ERR_BUFFER_TOO_SMALL: size of the first batch */
    int64_t log_start_offset, log_end_offset;
    /* engine-private */
    struct rl_completion io;
    struct partition_log *log;
    struct log_segment *seg;
    int64_t min_timestamp;
    uint64_t pos;
    uint32_t want;
    int attempts;
    uint64_t overwrites; /* the log's overwrite count when the read started */
    /* in: checksum-verify every batch returned; a failing one is recorded as bad
     * (partition_log_bad_batches) and the read stops before it. */
    bool verify;
};

/*
 * Reads whole batches from `offset` on, up to r->cap bytes, from the
 * segment holding it (a read never spans two segments: call again at
 * next_offset). LOG_ERR_OUT_OF_RANGE below the log start or past the end.
 * A known-bad batch (or, with r->verify, one failing its checksum) ends the
 * data before it; when it is the first wanted batch the read fails with
 * LOG_ERR_REPAIRING and next_offset just past it.
 * Returns LOG_OK when the read was started (on_complete follows) or an
 * error right away.
 */
int partition_log_read(struct partition_log *log, struct log_read *r);

/*
 * Like partition_log_read, from the first batch whose max timestamp is at or
 * after `timestamp` (time index, then a short scan). data is empty, with
 * next_offset = the log end, when no batch is that recent.
 */
int partition_log_read_by_time(struct partition_log *log, int64_t timestamp, struct log_read *r);

/*
 * The file bytes a read of `offset` would return, for sendfile/splice or
 * zero-copy send: no I/O, no copy. The range starts at a batch boundary at
 * or before `offset` (up to index_interval_bytes + one batch early; clients
 * skip batches below what they asked) and may end inside a batch (like a
 * Kafka fetch). It pins the segment: release it.
 */
struct log_file_range {
    int fd;
    uint64_t file_offset;
    uint64_t len;
    int64_t first_offset; /* base offset of the batch at file_offset */
    struct log_segment *seg;
};

int partition_log_locate(struct partition_log *log, int64_t offset, uint64_t max_bytes,
                         struct log_file_range *out);
void partition_log_range_release(struct partition_log *log, struct log_file_range *range);

/* ----------------------------------------------------------------- control */

struct log_ctl {
    struct log_op op; /* engine-private */
    void (*on_complete)(struct log_ctl *c, int status);
    void *user;
    int64_t offset; /* truncate, reset: in, the new end / start; out for every kind: the log end */
    int32_t epoch;  /* reset: in, the epoch of the entry before the new start */
    const uint8_t *data; /* overwrite: in, the good copy of a bad batch */
    size_t len;
    /* reset: in, the config in effect at the new start (config_len 0: the bootstrap's) */
    const struct log_config *config;
};

/*
 * Control operations run in order with the appends queued before them.
 *
 * flush:    everything appended before it is durable (any flush policy).
 * truncate: drops every batch at or past ctl->offset (rounded down to the
 *           batch holding it); the file bytes go and the recovery point
 *           follows. LOG_ERR_OUT_OF_RANGE outside [start, end].
 * close:    clean shutdown: flush, index files complete, checkpoint marked
 *           clean, files closed. Then partition_log_free.
 * delete:   removes every file and the directory. Then partition_log_free.
 * retention: deletes the closed segments that break retention now (tick
 *           runs it every retention_check_ms).
 */
int partition_log_flush(struct partition_log *log, struct log_ctl *ctl);
int partition_log_truncate(struct partition_log *log, int64_t offset, struct log_ctl *ctl);
int partition_log_close(struct partition_log *log, struct log_ctl *ctl);
int partition_log_delete(struct partition_log *log, struct log_ctl *ctl);
int partition_log_enforce_retention(struct partition_log *log, struct log_ctl *ctl);

/*
 * DeleteRecords: moves the records start (partition_log_records_start)
 * forward to `offset`, which may not pass the log end (LOG_ERR_OUT_OF_RANGE;
 * that it is committed is the caller's to check). What lies below is made
 * durable first, and a checkpoint naming the new start is durable before
 * on_complete: it survives a crash. Retention deletes the segments wholly
 * below it at its next run. An offset at or below the current start: LOG_OK,
 * nothing changes.
 */
int partition_log_advance_start(struct partition_log *log, int64_t offset, struct log_ctl *ctl);

/*
 * Deletes the whole log; it restarts, empty, at `offset` (>= the log end:
 * truncate first otherwise), the entry before which had leader epoch
 * start_epoch. For a follower behind the leader's log start
 * (RG_LOG_RESET). Crash-safe: a checkpoint naming the new start is made
 * durable before any file goes, and recovery finishes a reset it finds
 * half done, so a crash leaves the old log or the new empty one, never a
 * mix. LOG_ERR_OUT_OF_RANGE for an offset below the log end.
 */
int partition_log_reset(struct partition_log *log, int64_t offset, int32_t start_epoch,
                        struct log_ctl *ctl);

/*
 * Writes `data` (one whole, valid batch: a peer's copy) over the known-bad
 * batch with the same base offset, in place (same file, position, length,
 * offsets and epoch), fdatasyncs it, and forgets the bad record. Runs in
 * order with queued appends and truncations, alone on the partition.
 * Refused at once with LOG_ERR_INVALID when data is not such a batch or does
 * not match the bad one, LOG_ERR_OUT_OF_RANGE when no bad batch starts at
 * its base offset; on_complete gets LOG_ERR_OUT_OF_RANGE when a truncation
 * removed it meanwhile. data must stay valid until on_complete.
 */
int partition_log_overwrite(struct partition_log *log, const uint8_t *data, size_t len,
                            struct log_ctl *ctl);

#endif
