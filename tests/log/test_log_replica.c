/*
 * What replication needs from the storage engine (issue 15): control
 * batches appended by the broker only, a crash-safe reset of the log to
 * start at an offset, the high watermark and the leader-epoch table kept
 * in the checkpoint, and retention bounded by commit and durability.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "batch.h"
#include "log_harness.h"

static struct harness H;

static void setup(void)
{
    h_init(&H);
    H.quiet = true;
}

static void teardown(void)
{
    h_fini(&H);
}

TestSuite(log_replica, .init = setup, .fini = teardown, .timeout = 120);

/* Appends with flags and an epoch; drives until written and durable. */
static int append_flags(struct partition_log *log, uint8_t *data, size_t len, uint32_t flags,
                        int32_t epoch)
{
    struct h_append ha;
    int rc = h_append_async(&H, log, &ha, data, len, flags, epoch);
    if (rc != LOG_OK)
        return rc;
    h_drive(&H);
    cr_assert(ha.written);
    return ha.written_status;
}

Test(log_replica, control_batches_only_from_the_broker)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 1, 2, 100, 1000);
    cr_assert_eq(append_flags(log, buf, len, 0, 1), LOG_OK);
    /* A producer's append (no LOG_APPEND_CONTROL) may not carry one, validated or not. */
    len = h_control_batch(buf, sizeof(buf), RL_CONTROL_EPOCH_MARKER, 1001);
    cr_assert_eq(append_flags(log, buf, len, 0, 2), LOG_ERR_CORRUPT_BATCH);
    cr_assert_eq(append_flags(log, buf, len, LOG_APPEND_VALIDATE, 2), LOG_ERR_CORRUPT_BATCH);
    /* The broker's: accepted, read back, and kept by crash recovery (which validates it). */
    cr_assert_eq(append_flags(log, buf, len, LOG_APPEND_CONTROL | LOG_APPEND_VALIDATE, 2), LOG_OK);
    len = h_batch(buf, sizeof(buf), 3, 2, 100, 1002);
    cr_assert_eq(append_flags(log, buf, len, 0, 2), LOG_OK);
    uint64_t tags[8];
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 8), 3);
    cr_assert_eq(tags[1], UINT64_MAX, "the marker, in place");
    partition_log_free(log); /* a crash */
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 8), 3);
    cr_assert_eq(tags[2], 3);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* A data batch `tag` appended as a follower would: exact offset, carrying its epoch. */
static int append_exact(struct partition_log *log, uint64_t tag, int64_t offset, int32_t epoch)
{
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), tag, 2, 100, 1000 + (int64_t)tag);
    rl_batch_stamp(buf, offset, epoch);
    return append_flags(log, buf, len, LOG_APPEND_EXACT_OFFSETS, epoch);
}

static void expect_epochs(struct partition_log *log, const struct log_epoch_run *want, uint32_t n,
                          int32_t start_epoch)
{
    const struct log_epoch_run *runs;
    int32_t se;
    uint32_t got = partition_log_epochs(log, &runs, &se);
    cr_assert_eq(got, n, "%u runs, want %u", got, n);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(runs[i].epoch, want[i].epoch, "run %u epoch %d", i, runs[i].epoch);
        cr_assert_eq(runs[i].start, want[i].start, "run %u start %lld", i,
                     (long long)runs[i].start);
    }
    cr_assert_eq(se, start_epoch, "start epoch %d", se);
}

/* Time passes and the engine's timers run: a checkpoint is due and written. */
static void checkpoint_now(struct partition_log *log)
{
    (void)log;
    H.now_ms += 2000;
    log_engine_tick(&H.engine);
    h_drive(&H);
}

Test(log_replica, epoch_table_follows_appends_truncation_and_restarts)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    int32_t epochs[4] = {1, 1, 3, 3};
    for (int i = 0; i < 4; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 100, 1000 + i);
        cr_assert_eq(append_flags(log, buf, len, 0, epochs[i]), LOG_OK); /* offsets 2i, 2i+1 */
    }
    cr_assert_eq(append_exact(log, 4, 8, 5), LOG_OK);
    expect_epochs(log, (struct log_epoch_run[]){{1, 0}, {3, 4}, {5, 8}}, 3, 0);
    cr_assert_eq(h_truncate(&H, log, 8, NULL), LOG_OK);
    expect_epochs(log, (struct log_epoch_run[]){{1, 0}, {3, 4}}, 2, 0);
    cr_assert_eq(append_exact(log, 5, 8, 6), LOG_OK);
    /* A clean restart reads the table from the checkpoint. */
    cr_assert_eq(h_close(&H, log), LOG_OK);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    expect_epochs(log, (struct log_epoch_run[]){{1, 0}, {3, 4}, {6, 8}}, 3, 0);
    /* A crash: the checkpoint's table, extended by the batches recovery scans past it. */
    checkpoint_now(log);
    cr_assert_eq(append_exact(log, 6, 10, 6), LOG_OK);
    cr_assert_eq(append_exact(log, 7, 12, 9), LOG_OK);
    partition_log_free(log);
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    expect_epochs(log, (struct log_epoch_run[]){{1, 0}, {3, 4}, {6, 8}, {9, 12}}, 4, 0);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/*
 * A follower copying a compacted range (docs/STORAGE.md, "Compaction"):
 * exact-offset appends may start past the log end and leave gaps between
 * their batches; offsets stay where the leader put them, reads inside a gap
 * return the next batch, and a crash's recovery scan of the active segment
 * keeps them. A data batch of a new epoch after a gap (only after a reset:
 * every epoch starts with its marker, which compaction keeps) starts its run
 * at the gap, as the leader's table does.
 */
Test(log_replica, exact_appends_take_offset_gaps_and_recovery_keeps_them)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    H.allow_gaps = true;
    cr_assert_eq(h_reset(&H, log, 10, 2), LOG_OK);     /* empty, starting at 10, after epoch 2 */
    cr_assert_eq(append_exact(log, 1, 14, 3), LOG_OK); /* [10, 14) compacted away */
    cr_assert_eq(append_exact(log, 2, 16, 3), LOG_OK); /* contiguous */
    cr_assert_eq(append_exact(log, 3, 15, 3), LOG_ERR_OFFSET_MISMATCH, "below the end");
    /* Two batches in one append with a gap between them, the second of a marker-started epoch. */
    uint8_t buf[8192];
    size_t a = h_batch(buf, sizeof(buf), 4, 2, 100, 1004);
    rl_batch_stamp(buf, 21, 3);
    size_t b = h_control_batch(buf + a, sizeof(buf) - a, RL_CONTROL_EPOCH_MARKER, 1005);
    rl_batch_stamp(buf + a, 30, 4);
    cr_assert_eq(append_flags(log, buf, a + b, LOG_APPEND_EXACT_OFFSETS | LOG_APPEND_CONTROL, 4),
                 LOG_OK);
    cr_assert_eq(partition_log_end_offset(log), 31);
    struct log_epoch_run want[] = {{3, 10}, {4, 30}};
    expect_epochs(log, want, 2, 2);
    uint64_t tags[8];
    int64_t bases[8];
    cr_assert_eq(h_read_all(&H, log, tags, bases, 8), 4);
    cr_assert_eq(bases[0], 14);
    cr_assert_eq(bases[2], 21);
    cr_assert_eq(bases[3], 30);
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, 19, 4096, &rr), LOG_OK);
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_header_read(rr.data, rr.len, &h), RL_OK);
    cr_assert_eq(h.base_offset, 21, "a read inside a gap returns the next batch");
    free(rr.data);
    partition_log_free(log); /* a crash: the active segment is scanned again */
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(rep.truncated_bytes, 0, "gaps are not a torn tail");
    cr_assert_eq(partition_log_end_offset(log), 31);
    cr_assert_eq(h_read_all(&H, log, tags, bases, 8), 4);
    cr_assert_eq(bases[3], 30);
    expect_epochs(log, want, 2, 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_replica, high_watermark_is_restored_from_the_checkpoint)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_high_watermark(log), -1, "not kept until set");
    uint8_t buf[4096];
    for (int i = 0; i < 5; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 100, 1000 + i);
        cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    }
    partition_log_set_high_watermark(log, 6);
    checkpoint_now(log);     /* nothing new is durable: the new high watermark alone is due */
    partition_log_free(log); /* a crash */
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_high_watermark(log), 6, "the checkpointed commit, not 0");
    /* Clamped to the log: a watermark past the end (the tail was lost) is the end. */
    partition_log_set_high_watermark(log, 10);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_high_watermark(log), 10);
    cr_assert_eq(h_truncate(&H, log, 8, NULL), LOG_OK);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_high_watermark(log), 8);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static int64_t reported_start = -1;

static void on_start(struct partition_log *log, int64_t start, void *ctx)
{
    (void)log;
    (void)ctx;
    reported_start = start;
}

/* 12 batches of ~6 KiB in 16 KiB segments (epochs 1, then 2 from batch 6): 6 segments. */
static struct partition_log *retention_log(struct partition_log_config *cfg)
{
    h_cfg(cfg);
    cfg->segment_bytes = 16 << 10;
    cfg->retention_bytes = 1;
    cfg->on_log_start_advance = on_start;
    reported_start = -1;
    struct partition_log *log = h_open(&H, cfg, NULL);
    uint8_t buf[8192];
    for (int i = 0; i < 12; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 3000, 1000 + i);
        cr_assert_eq(append_flags(log, buf, len, 0, i < 6 ? 1 : 2), LOG_OK);
    }
    cr_assert_gt(partition_log_segment_count(log), 3);
    return log;
}

Test(log_replica, retention_stops_at_the_high_watermark_and_reports_the_start)
{
    struct partition_log_config cfg;
    struct partition_log *log = retention_log(&cfg);
    partition_log_set_high_watermark(log, 0);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    cr_assert_eq(partition_log_start_offset(log), 0, "nothing committed: nothing deleted");
    cr_assert_eq(reported_start, -1);
    partition_log_set_high_watermark(log, 12);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    int64_t start = partition_log_start_offset(log);
    cr_assert_gt(start, 0);
    cr_assert_leq(start, 12, "no segment holding offsets at or past the watermark goes");
    cr_assert_eq(reported_start, start, "the callback reports the new start");
    const struct log_epoch_run *runs;
    int32_t se;
    partition_log_epochs(log, &runs, &se);
    cr_assert_geq(runs[0].start, start);
    cr_assert_eq(se, start <= 12 ? 1 : 2, "the epoch of the entry before the start");
    /* A crash right after: the start holds (the checkpoint names it). */
    partition_log_free(log);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_start_offset(log), start);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 12 - start / 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_replica, reset_starts_an_empty_log_at_the_offset)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(append_exact(log, (uint64_t)i, 2 * i, 1), LOG_OK);
    cr_assert_eq(h_reset(&H, log, 5, 2), LOG_ERR_OUT_OF_RANGE, "below the end: truncate first");
    cr_assert_eq(h_reset(&H, log, 100, 7), LOG_OK);
    cr_assert_eq(partition_log_start_offset(log), 100);
    cr_assert_eq(partition_log_end_offset(log), 100);
    expect_epochs(log, NULL, 0, 7);
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, 0, 4096, &rr), LOG_ERR_OUT_OF_RANGE);
    free(rr.data);
    cr_assert_eq(append_exact(log, 9, 100, 8), LOG_OK);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_start_offset(log), 100);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 1);
    expect_epochs(log, (struct log_epoch_run[]){{8, 100}}, 1, 7);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/*
 * Crash points: the disk dies at the reset's k-th I/O call (every call
 * from there fails), the process "crashes" (the log is dropped without a
 * close), and the log is reopened on a working disk. It is the old log or
 * the new empty one, never anything else.
 */
Test(log_replica, reset_crash_at_every_call_leaves_the_old_log_or_the_new_one)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 8 << 10;
    int olds = 0, news = 0;
    for (uint64_t k = 1; k < 60; k++) {
        h_rm_rf(H.dir);
        mkdir(H.dir, 0755);
        struct partition_log *log = h_open(&H, &cfg, NULL);
        for (int i = 0; i < 6; i++) /* a few segments */
            cr_assert_eq(append_exact(log, (uint64_t)i, 2 * i, 1), LOG_OK);
        uint32_t segs = partition_log_segment_count(log);
        log_io_fault_arm(&H.fault, H.fault.calls + k, EIO, true);
        int rc = h_reset(&H, log, 50, 3);
        bool injected = H.fault.injected > 0;
        log_io_fault_disarm(&H.fault);
        h_drive(&H);
        partition_log_free(log);
        struct log_open_report rep;
        log = h_open(&H, &cfg, &rep);
        int64_t start = partition_log_start_offset(log);
        if (start == 0) {
            olds++;
            cr_assert_neq(rc, LOG_OK, "call %llu: the reset succeeded but the old log is back",
                          (unsigned long long)k);
            cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 6, "call %llu: the old log, whole",
                         (unsigned long long)k);
            cr_assert_eq(partition_log_segment_count(log), segs);
        } else {
            news++;
            cr_assert_eq(start, 50, "call %llu: start %lld", (unsigned long long)k,
                         (long long)start);
            cr_assert_eq(partition_log_end_offset(log), 50);
            cr_assert_eq(partition_log_segment_count(log), 1, "call %llu: old segments left",
                         (unsigned long long)k);
            expect_epochs(log, NULL, 0, 3);
        }
        cr_assert_eq(append_exact(log, 9, partition_log_end_offset(log), 4), LOG_OK);
        cr_assert_eq(h_close(&H, log), LOG_OK);
        if (!injected)
            break; /* the reset ran out of calls before k: every point is covered */
    }
    cr_assert_gt(olds, 0);
    cr_assert_gt(news, 0);
}

/*
 * Crash points of retention: the disk dies at its k-th I/O call, the
 * process "crashes", and the log reopens on a working disk: it starts at
 * the old start or at a later segment base, never with a gap, and reads
 * back whole from there.
 */
Test(log_replica, retention_crash_at_every_call_keeps_a_whole_log)
{
    struct partition_log_config cfg;
    int moved = 0;
    for (uint64_t k = 1; k < 60; k++) {
        h_rm_rf(H.dir);
        mkdir(H.dir, 0755);
        struct partition_log *log = retention_log(&cfg);
        int64_t end = partition_log_end_offset(log);
        log_io_fault_arm(&H.fault, H.fault.calls + k, EIO, true);
        h_retention(&H, log);
        bool injected = H.fault.injected > 0;
        log_io_fault_disarm(&H.fault);
        h_drive(&H);
        partition_log_free(log);
        log = h_open(&H, &cfg, NULL);
        int64_t start = partition_log_start_offset(log);
        moved += start > 0;
        cr_assert_eq(partition_log_end_offset(log), end, "call %llu", (unsigned long long)k);
        cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), (end - start) / 2, "call %llu: start %lld",
                     (unsigned long long)k, (long long)start);
        cr_assert_eq(h_close(&H, log), LOG_OK);
        if (!injected)
            break;
    }
    cr_assert_gt(moved, 0);
}

/* What an older version left: a version 1 checkpoint (80 bytes, slots 512 apart). */
Test(log_replica, a_version_1_checkpoint_is_still_read)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    uint64_t size = 0;
    for (int i = 0; i < 3; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 100, 1000 + i);
        cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
        size += len;
    }
    cr_assert_eq(h_close(&H, log), LOG_OK);
    /* Replace the checkpoint by a clean v1 record at slot 1 (offset 512), seq 7. */
    uint8_t rec[80] = {0};
    uint64_t fields[] = {7, 1, 0, size, 6, 0, 0, 1002, 4};
    uint32_t magic = 0x4b434c52u, version = 1;
    memcpy(rec, &magic, 4);
    memcpy(rec + 4, &version, 4);
    memcpy(rec + 8, &fields[0], 8);  /* seq */
    memcpy(rec + 16, &fields[1], 4); /* clean */
    memcpy(rec + 24, &fields[2], 8); /* segment_base */
    memcpy(rec + 32, &fields[3], 8); /* position */
    memcpy(rec + 40, &fields[4], 8); /* offset */
    memcpy(rec + 56, &fields[7], 8); /* max_timestamp */
    memcpy(rec + 64, &fields[8], 8); /* max_ts_offset */
    uint64_t sum = XXH64(rec, 72, 0);
    memcpy(rec + 72, &sum, 8);
    char p[512];
    snprintf(p, sizeof(p), "%s/topics/t/0/checkpoint", H.dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    uint8_t zeros[512] = {0};
    fwrite(zeros, 1, sizeof(zeros), f);
    fwrite(rec, 1, sizeof(rec), f);
    fclose(f);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean, "the v1 record is clean and matches");
    cr_assert_eq(partition_log_end_offset(log), 6);
    cr_assert_eq(partition_log_high_watermark(log), -1);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 3);
    /* Writing goes on with version 2 records, and a crash recovers from them. */
    size_t len = h_batch(buf, sizeof(buf), 3, 2, 100, 1003);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    partition_log_free(log);
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 4);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* A configuration control batch whose value is `value` (opaque to the engine), at `offset`. */
static int append_config(struct partition_log *log, int64_t offset, int32_t epoch,
                         const char *value)
{
    uint8_t buf[512];
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, buf, sizeof(buf), NULL), RL_OK);
    uint8_t key[2] = {(uint8_t)RL_CONTROL_CONFIG, 0};
    struct rl_record_in r = {.key = key,
                             .key_len = sizeof(key),
                             .value = (const uint8_t *)value,
                             .value_len = strlen(value),
                             .timestamp = 1000};
    cr_assert_eq(rl_batch_builder_add(&b, &r), RL_OK);
    size_t n = rl_batch_builder_finish(&b);
    rl_batch_make_control(buf, n);
    rl_batch_stamp(buf, offset, epoch);
    return append_flags(log, buf, n, LOG_APPEND_CONTROL | LOG_APPEND_EXACT_OFFSETS, epoch);
}

/* The log's config table is exactly these (offset, value) pairs, oldest first. */
static void expect_configs(struct partition_log *log, const int64_t *offsets,
                           const char *const *values, uint32_t n)
{
    const struct log_config *c;
    uint32_t got = partition_log_configs(log, &c);
    cr_assert_eq(got, n, "%u configs, want %u", got, n);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(c[i].offset, offsets[i], "config %u at %lld", i, (long long)c[i].offset);
        cr_assert_eq(c[i].len, strlen(values[i]));
        cr_assert_eq(memcmp(c[i].value, values[i], c[i].len), 0, "config %u's value", i);
    }
}

/*
 * The replication core restores its membership from the log's config
 * batches: the table follows appends (epoch markers and data batches are
 * not configs), truncation, clean and crashed restarts (checkpoint plus
 * recovery's scan), and a reset, which keeps only the config it is given.
 */
Test(log_replica, config_table_follows_appends_truncation_restarts_and_reset)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    cr_assert_eq(append_exact(log, 0, 0, 1), LOG_OK); /* offsets 0, 1 */
    cr_assert_eq(append_config(log, 2, 1, "A"), LOG_OK);
    cr_assert_eq(append_exact(log, 1, 3, 1), LOG_OK);
    cr_assert_eq(append_config(log, 5, 1, "BB"), LOG_OK);
    expect_configs(log, (int64_t[]){2, 5}, (const char *[]){"A", "BB"}, 2);
    cr_assert_eq(h_truncate(&H, log, 5, NULL), LOG_OK);
    expect_configs(log, (int64_t[]){2}, (const char *[]){"A"}, 1);
    cr_assert_eq(append_config(log, 5, 2, "CCC"), LOG_OK);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    expect_configs(log, (int64_t[]){2, 5}, (const char *[]){"A", "CCC"}, 2);
    /* A crash: the checkpoint's configs, then those recovery scans past it. */
    checkpoint_now(log);
    cr_assert_eq(append_config(log, 6, 2, "D"), LOG_OK);
    partition_log_free(log);
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    expect_configs(log, (int64_t[]){2, 5, 6}, (const char *[]){"A", "CCC", "D"}, 3);
    /* Only the newest LOG_MAX_CONFIGS stay. */
    for (int i = 0; i < LOG_MAX_CONFIGS; i++)
        cr_assert_eq(append_config(log, 7 + i, 2, "E"), LOG_OK);
    const struct log_config *c;
    cr_assert_eq(partition_log_configs(log, &c), LOG_MAX_CONFIGS);
    cr_assert_eq(c[0].offset, 7);
    /* A reset keeps the config in effect at its start, across a restart. */
    struct log_config keep = {.offset = 14, .len = 2, .value = "ZZ"};
    struct log_ctl ctl = {.config = &keep};
    cr_assert_eq(h_reset_with(&H, log, &ctl, 40, 2), LOG_OK);
    expect_configs(log, (int64_t[]){14}, (const char *[]){"ZZ"}, 1);
    partition_log_free(log); /* a crash right after */
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_start_offset(log), 40);
    expect_configs(log, (int64_t[]){14}, (const char *[]){"ZZ"}, 1);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}
