/*
 * Storage engine unit tests: round trips across segment rolls, index
 * lookups at every boundary, reads by timestamp, retention, truncation,
 * deletion, reopening after a clean shutdown, flush policies.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "log_harness.h"
#include "test_rng.h"

static struct harness H;

static void setup(void)
{
    h_init(&H);
}

static void teardown(void)
{
    h_fini(&H);
}

TestSuite(log_basic, .init = setup, .fini = teardown, .timeout = 120);

/* Appends n batches with tags first_tag.. and random sizes; returns bases in bases[]. */
static void append_many(struct partition_log *log, struct test_rng *rng, int n, uint64_t first_tag,
                        int64_t *bases, int64_t ts0)
{
    uint8_t buf[16 << 10];
    for (int i = 0; i < n; i++) {
        int records = 1 + (int)test_rng_below(rng, 5);
        size_t vlen = 16 + test_rng_below(rng, 1500);
        size_t len = h_batch(buf, sizeof(buf), first_tag + (uint64_t)i, records, vlen, ts0 + i);
        int64_t base;
        cr_assert_eq(h_append(&H, log, buf, len, &base), LOG_OK);
        if (bases != NULL)
            bases[i] = base;
    }
}

Test(log_basic, round_trip_across_segment_rolls)
{
    struct test_rng rng;
    test_rng_seed(&rng, "round_trip_across_segment_rolls", 1);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_end_offset(log), 0);
    int64_t bases[400];
    append_many(log, &rng, 400, 1000, bases, 1000);
    cr_assert_gt(partition_log_segment_count(log), 5, "segments: %u",
                 partition_log_segment_count(log));
    cr_assert_eq(partition_log_durable_offset(log), partition_log_end_offset(log));
    uint64_t tags[400];
    int64_t got[400];
    cr_assert_eq(h_read_all(&H, log, tags, got, 400), 400);
    for (int i = 0; i < 400; i++) {
        cr_assert_eq(tags[i], 1000u + (uint64_t)i);
        cr_assert_eq(got[i], bases[i]);
    }
    cr_assert_eq(h_close(&H, log), LOG_OK);
    cr_assert_eq(H.errors, 0);
}

Test(log_basic, index_lookup_at_every_offset)
{
    struct test_rng rng;
    test_rng_seed(&rng, "index_lookup_at_every_offset", 2);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.index_interval_bytes = 256;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    int64_t bases[150];
    append_many(log, &rng, 150, 1, bases, 5000);
    int64_t end = partition_log_end_offset(log);
    for (int64_t off = 0; off < end; off++) {
        int b = 0;
        while (b + 1 < 150 && bases[b + 1] <= off)
            b++;
        struct h_read_result rr;
        cr_assert_eq(h_read(&H, log, off, 64 << 10, &rr), LOG_OK, "offset %lld", (long long)off);
        cr_assert_geq(rr.len, RL_BATCH_HEADER_BYTES);
        struct rl_batch_header hd;
        rl_batch_header_read(rr.data, rr.len, &hd);
        cr_assert_eq(hd.base_offset, bases[b], "offset %lld: batch %lld, want %lld", (long long)off,
                     (long long)hd.base_offset, (long long)bases[b]);
        uint64_t tag;
        cr_assert(h_batch_check(rr.data, rl_batch_total_bytes(&hd), &tag));
        cr_assert_eq(tag, 1u + (uint64_t)b);
        free(rr.data);

        struct log_file_range range;
        cr_assert_eq(partition_log_locate(log, off, 1 << 20, &range), LOG_OK);
        cr_assert_leq(range.first_offset, off);
        cr_assert_geq(range.fd, 0);
        uint8_t hb[RL_BATCH_HEADER_BYTES];
        cr_assert_eq(pread(range.fd, hb, sizeof(hb), (off_t)range.file_offset),
                     (ssize_t)sizeof(hb));
        rl_batch_header_read(hb, sizeof(hb), &hd);
        cr_assert_eq(hd.base_offset, range.first_offset);
        partition_log_range_release(log, &range);
    }
    /* At the end: empty; past it or below the start: out of range. */
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, end, 4096, &rr), LOG_OK);
    cr_assert_eq(rr.len, 0);
    cr_assert_eq(rr.next_offset, end);
    free(rr.data);
    cr_assert_eq(h_read(&H, log, end + 1, 4096, &rr), LOG_ERR_OUT_OF_RANGE);
    cr_assert_eq(h_read(&H, log, -1, 4096, &rr), LOG_ERR_OUT_OF_RANGE);
    /* A buffer smaller than the batch says how much it needs. */
    cr_assert_eq(h_read(&H, log, 0, 70, &rr), LOG_ERR_BUFFER_TOO_SMALL);
    cr_assert_gt(rr.needed, 70);
    free(rr.data);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, read_by_timestamp)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.index_interval_bytes = 256;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[8192];
    int64_t ts[200];
    /* Mostly increasing timestamps, with some going back. */
    for (int i = 0; i < 200; i++) {
        ts[i] = 100000 + i * 10 - ((i % 7 == 3) ? 35 : 0);
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 300 + (size_t)(i % 5) * 200, ts[i]);
        cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    }
    cr_assert_gt(partition_log_segment_count(log), 2);
    for (int64_t q = 99990; q <= 102010; q += 7) {
        int want = -1;
        for (int i = 0; i < 200 && want < 0; i++)
            if (ts[i] >= q)
                want = i;
        struct h_read_result rr;
        cr_assert_eq(h_read_by_time(&H, log, q, 64 << 10, &rr), LOG_OK);
        if (want < 0) {
            cr_assert_eq(rr.len, 0, "ts %lld", (long long)q);
            cr_assert_eq(rr.next_offset, partition_log_end_offset(log));
        } else {
            cr_assert_gt(rr.len, 0, "ts %lld", (long long)q);
            uint64_t tag;
            struct rl_batch_header hd;
            rl_batch_header_read(rr.data, rr.len, &hd);
            cr_assert(h_batch_check(rr.data, rl_batch_total_bytes(&hd), &tag));
            cr_assert_eq(tag, (uint64_t)want, "ts %lld: got batch %llu, want %d", (long long)q,
                         (unsigned long long)tag, want);
        }
        free(rr.data);
    }
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, reopen_after_clean_shutdown)
{
    struct test_rng rng;
    test_rng_seed(&rng, "reopen_after_clean_shutdown", 3);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    append_many(log, &rng, 120, 1, NULL, 1);
    int64_t end = partition_log_end_offset(log);
    uint32_t segs = partition_log_segment_count(log);
    cr_assert_eq(h_close(&H, log), LOG_OK);

    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_eq(rep.scanned_bytes, 0);
    cr_assert_eq(rep.rebuilt_indexes, 0);
    cr_assert_eq(partition_log_end_offset(log), end);
    cr_assert_eq(partition_log_segment_count(log), segs);
    append_many(log, &rng, 30, 121, NULL, 200);
    uint64_t tags[150];
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 150), 150);
    for (int i = 0; i < 150; i++)
        cr_assert_eq(tags[i], 1u + (uint64_t)i);
    cr_assert_eq(h_close(&H, log), LOG_OK);

    /* Reopened and dropped without a write: still clean (open writes no checkpoint). */
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    partition_log_free(log);
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean, "nothing was written: the clean record still holds");
    /* Reopen, write, no close (as after a crash): the first append made the record
     * "not clean" before it was written, so the unclean path gives the same log. */
    append_many(log, &rng, 1, 151, NULL, 300);
    int64_t end2 = partition_log_end_offset(log);
    partition_log_free(log);
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(partition_log_end_offset(log), end2);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 151);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, retention_by_size)
{
    struct test_rng rng;
    test_rng_seed(&rng, "retention_by_size", 4);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.retention_bytes = 200 << 10;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    append_many(log, &rng, 600, 1, NULL, 1);
    uint64_t before = partition_log_size_bytes(log);
    cr_assert_gt(before, 400 << 10);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    uint64_t after = partition_log_size_bytes(log);
    cr_assert_geq(after, (uint64_t)cfg.retention_bytes);
    cr_assert_lt(after, (uint64_t)cfg.retention_bytes + cfg.segment_bytes + (32 << 10));
    int64_t start = partition_log_start_offset(log);
    cr_assert_gt(start, 0);
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, start - 1, 4096, &rr), LOG_ERR_OUT_OF_RANGE);
    cr_assert_eq(h_read(&H, log, 0, 4096, &rr), LOG_ERR_OUT_OF_RANGE);
    long n = h_read_all(&H, log, NULL, NULL, 0);
    cr_assert_gt(n, 0);
    /* Reopen: the start offset survives. */
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_start_offset(log), start);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), n);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, retention_by_age_through_tick)
{
    struct test_rng rng;
    test_rng_seed(&rng, "retention_by_age_through_tick", 5);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.retention_ms = 60000;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    int64_t t0 = H.now_ms;
    append_many(log, &rng, 100, 1, NULL, t0 - 120000); /* two minutes old */
    int64_t old_end = partition_log_end_offset(log);
    append_many(log, &rng, 100, 101, NULL, t0); /* fresh */
    uint32_t segs = partition_log_segment_count(log);
    H.now_ms += 2000;
    log_engine_tick(&H.engine);
    h_drive(&H);
    cr_assert_lt(partition_log_segment_count(log), segs);
    int64_t start = partition_log_start_offset(log);
    cr_assert_gt(start, 0);
    cr_assert_leq(start, old_end);
    uint64_t tags[200];
    long n = h_read_all(&H, log, tags, NULL, 200);
    cr_assert_gt(n, 100);
    cr_assert_eq(tags[n - 1], 200);
    /* The active segment is never deleted, however old. */
    H.now_ms += 10 * 60000;
    log_engine_tick(&H.engine);
    h_drive(&H);
    cr_assert_geq(partition_log_segment_count(log), 1);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static void truncate_case(int64_t (*pick)(struct partition_log *, const int64_t *, int))
{
    struct test_rng rng;
    test_rng_seed(&rng, "truncate", 6);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    int64_t bases[200];
    append_many(log, &rng, 200, 1, bases, 1);
    int64_t x = pick(log, bases, 200);
    int keep = 0;
    while (keep < 200 && bases[keep] < x)
        keep++;
    /* Rounded down to the batch holding x. */
    int64_t want_end = keep < 200 && bases[keep] == x ? x : bases[keep - 1];
    if (!(keep < 200 && bases[keep] == x))
        keep--;
    int64_t new_end;
    cr_assert_eq(h_truncate(&H, log, x, &new_end), LOG_OK);
    cr_assert_eq(new_end, want_end);
    cr_assert_eq(partition_log_end_offset(log), want_end);
    uint64_t tags[400];
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 400), keep);
    append_many(log, &rng, 50, 5000, NULL, 1);
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 400), keep + 50);
    cr_assert_eq(tags[keep], 5000);
    /* And after a crash (no close), the truncated suffix stays gone. */
    partition_log_free(log);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 400), keep + 50);
    cr_assert_eq(tags[keep], 5000);
    cr_assert_eq(tags[keep + 49], 5049);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static int64_t pick_active_middle(struct partition_log *log, const int64_t *bases, int n)
{
    (void)bases;
    (void)n;
    return partition_log_end_offset(log) - 3;
}

static int64_t pick_closed_middle(struct partition_log *log, const int64_t *bases, int n)
{
    (void)log;
    (void)n;
    return bases[37] + 1;
}

static int64_t pick_exact_batch(struct partition_log *log, const int64_t *bases, int n)
{
    (void)log;
    (void)n;
    return bases[90];
}

static int64_t pick_zero(struct partition_log *log, const int64_t *bases, int n)
{
    (void)log;
    (void)n;
    return bases[1];
}

Test(log_basic, truncate_in_active_segment)
{
    truncate_case(pick_active_middle);
}

Test(log_basic, truncate_into_closed_segment)
{
    truncate_case(pick_closed_middle);
}

Test(log_basic, truncate_at_batch_boundary)
{
    truncate_case(pick_exact_batch);
}

Test(log_basic, truncate_to_first_batch)
{
    truncate_case(pick_zero);
}

Test(log_basic, truncate_out_of_range)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 1, 3, 100, 1);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(h_truncate(&H, log, 10, NULL), LOG_ERR_OUT_OF_RANGE);
    cr_assert_eq(h_truncate(&H, log, 3, NULL), LOG_OK); /* the end: nothing to do */
    cr_assert_eq(h_truncate(&H, log, 0, NULL), LOG_OK);
    cr_assert_eq(partition_log_end_offset(log), 0);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, delete_partition)
{
    struct test_rng rng;
    test_rng_seed(&rng, "delete_partition", 7);
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    append_many(log, &rng, 100, 1, NULL, 1);
    cr_assert_eq(h_delete(&H, log), LOG_OK);
    char path[512];
    snprintf(path, sizeof(path), "%s/topics/t/0", H.dir);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "%s still exists", path);
    /* A new partition of the same name starts empty. */
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_end_offset(log), 0);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, exact_offset_appends)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 1, 4, 100, 1);
    rl_batch_stamp(buf, 0, 7);
    struct h_append ha;
    cr_assert_eq(h_append_async(&H, log, &ha, buf, len, LOG_APPEND_EXACT_OFFSETS, 9), LOG_OK);
    h_drive(&H);
    cr_assert_eq(ha.written_status, LOG_OK);
    cr_assert_eq(ha.a.base_offset, 0);
    cr_assert_eq(ha.a.last_offset, 3);
    /* Below the end: refused when its turn comes (past it is a compacted gap: test_log_replica). */
    rl_batch_stamp(buf, 2, 7);
    cr_assert_eq(h_append_async(&H, log, &ha, buf, len, LOG_APPEND_EXACT_OFFSETS, 9), LOG_OK);
    h_drive(&H);
    cr_assert_eq(ha.written_status, LOG_ERR_OFFSET_MISMATCH);
    cr_assert(ha.durable);
    rl_batch_stamp(buf, 4, 7);
    cr_assert_eq(
        h_append_async(&H, log, &ha, buf, len, LOG_APPEND_EXACT_OFFSETS | LOG_APPEND_VALIDATE, 9),
        LOG_OK);
    h_drive(&H);
    cr_assert_eq(ha.written_status, LOG_OK);
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, 5, 4096, &rr), LOG_OK);
    struct rl_batch_header hd;
    rl_batch_header_read(rr.data, rr.len, &hd);
    cr_assert_eq(hd.base_offset, 4);
    cr_assert_eq(hd.leader_epoch, 7); /* followers keep the leader's epoch */
    free(rr.data);
    /* Corrupt batches are refused at once. */
    buf[100] ^= 1;
    cr_assert_eq(h_append_async(&H, log, &ha, buf, len, LOG_APPEND_VALIDATE, 1),
                 LOG_ERR_CORRUPT_BATCH);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* From here on the fault injector counts the calls of the ops in `mask` (it injects nothing). */
static void count_calls(uint32_t mask)
{
    H.fault.op_mask = mask;
    H.fault.calls = 0;
}

Test(log_basic, group_commit_one_fdatasync_per_turn)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 4 << 20;
    cfg.max_append_bytes = 1 << 20;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t bufs[64][600];
    struct h_append ha[64];
    uint64_t syncs_before = H.fault.calls;
    count_calls(1u << LOG_IO_FDATASYNC);
    (void)syncs_before;
    for (int i = 0; i < 64; i++) {
        size_t len = h_batch(bufs[i], sizeof(bufs[i]), (uint64_t)i, 1, 100, 1);
        cr_assert_eq(h_append_async(&H, log, &ha[i], bufs[i], len, 0, 1), LOG_OK);
    }
    h_drive(&H);
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(ha[i].written_status, LOG_OK);
        cr_assert(ha[i].durable);
        cr_assert_eq(ha[i].durable_status, LOG_OK);
        cr_assert_eq(ha[i].a.base_offset, i);
    }
    /* One group: one fdatasync of the data (the checkpoint's may follow later). */
    cr_assert_leq(H.fault.calls, 1 + 3, "fdatasync calls: %llu", (unsigned long long)H.fault.calls);
    H.fault.op_mask = 0;
    cr_assert_eq(partition_log_durable_offset(log), 64);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, flush_none_and_interval)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.flush = LOG_FLUSH_NONE;
    cfg.segment_bytes = 1 << 20;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 1, 2, 100, 1);
    struct h_append ha;
    cr_assert_eq(h_append_async(&H, log, &ha, buf, len, 0, 1), LOG_OK);
    h_drive(&H);
    cr_assert_eq(ha.written_status, LOG_OK);
    cr_assert(!ha.durable);
    cr_assert_eq(partition_log_durable_offset(log), 0);
    cr_assert_eq(h_flush(&H, log), LOG_OK);
    cr_assert(ha.durable);
    cr_assert_eq(ha.durable_status, LOG_OK);
    cr_assert_eq(partition_log_durable_offset(log), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);

    cr_assert_eq(partition_log_parse_flush("interval:50", &cfg), LOG_OK);
    cr_assert_eq(cfg.flush, LOG_FLUSH_INTERVAL);
    cr_assert_eq(partition_log_parse_flush("interval:x", &cfg), LOG_ERR_INVALID);
    cr_assert_eq(partition_log_parse_flush("sometimes", &cfg), LOG_ERR_INVALID);
    cr_assert_eq(partition_log_parse_flush("interval:50", &cfg), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(h_append_async(&H, log, &ha, buf, len, 0, 1), LOG_OK);
    h_drive(&H);
    cr_assert(!ha.durable);
    H.now_ms += 60;
    log_engine_tick(&H.engine);
    h_drive(&H);
    cr_assert(ha.durable);
    cr_assert_eq(partition_log_durable_offset(log), 4);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/*
 * Appends `mib` MiB in 256 KiB batches, each driven until written. The
 * append structs outlive the calls: under flush none they wait for a later
 * flush (here: the close) to report durable.
 */
static void append_mib(struct partition_log *log, int mib)
{
    static uint8_t buf[300 * 1024];
    static struct h_append ha[64];
    cr_assert_leq(mib * 4, 64);
    for (int i = 0; i < mib * 4; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 256, 1000, 1);
        cr_assert_eq(h_append_async(&H, log, &ha[i], buf, len, 0, 1), LOG_OK);
        h_drive(&H);
        cr_assert_eq(ha[i].written_status, LOG_OK);
    }
}

/* A flush=none log whose sync_file_range calls the fault injector counts. */
static struct partition_log *open_counting_writeback(struct partition_log_config *cfg)
{
    h_cfg(cfg);
    cfg->flush = LOG_FLUSH_NONE;
    cfg->segment_bytes = 64 << 20;
    cfg->max_append_bytes = 1 << 20;
    struct partition_log *log = h_open(&H, cfg, NULL);
    count_calls(1u << LOG_IO_SYNC_RANGE);
    return log;
}

static void log_close_and_reopen_with_keep(struct partition_log **log,
                                           struct partition_log_config *cfg, int64_t keep)
{
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, *log), LOG_OK);
    cfg->cache_keep_bytes = keep;
    *log = h_open(&H, cfg, NULL);
}

/* Kicks expected while a fast writer appends `mib` MiB: one per
 * LOG_WRITEBACK_KICK_BYTES not yet kicked, seen at the start of a group (the
 * kick looks at what earlier groups wrote), so one fewer when the last
 * group ends on the boundary, and `slack` fewer still when the first
 * window is judged on slower writes before. */
static void assert_kicks_for(int mib, uint64_t slack)
{
    uint64_t most = ((uint64_t)mib << 20) / LOG_WRITEBACK_KICK_BYTES;
    cr_assert(H.fault.calls + 1 + slack >= most && H.fault.calls <= most,
              "sync_file_range calls: %llu for %d MiB", (unsigned long long)H.fault.calls, mib);
}

Test(log_basic, writeback_started_every_kick_bytes_under_flush_none_only)
{
    struct partition_log_config cfg;
    struct partition_log *log = open_counting_writeback(&cfg);
    append_mib(log, 16);
    assert_kicks_for(16, 0);
    /* A failing hint costs nothing: appends and reads go on. */
    log_io_fault_arm(&H.fault, H.fault.calls + 1, EIO, true);
    append_mib(log, 10);
    cr_assert_geq(H.fault.injected, 1);
    log_io_fault_disarm(&H.fault);
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);

    cfg.flush = LOG_FLUSH_ALWAYS;
    log = h_open(&H, &cfg, NULL);
    count_calls(1u << LOG_IO_SYNC_RANGE);
    append_mib(log, 10);
    cr_assert_eq(H.fault.calls, 0, "flush=always syncs every group: no hints needed");
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* A partition writing under 8 MB/s (LOG_WRITEBACK_KICK_BYTES over more than
 * LOG_WRITEBACK_KICK_WINDOW_MS) is left to the kernel's flusher: a kick
 * would stall its next appends for nothing. */
Test(log_basic, no_writeback_kick_for_a_slow_writer)
{
    struct partition_log_config cfg;
    struct partition_log *log = open_counting_writeback(&cfg);
    for (int i = 0; i < 24; i++) {
        append_mib(log, 1);
        H.now_ms += 200; /* 5 MB/s */
    }
    _Static_assert(LOG_WRITEBACK_KICK_BYTES / (1 << 20) * 200 > LOG_WRITEBACK_KICK_WINDOW_MS,
                   "the pace above must be slow for the kick's window");
    cr_assert_eq(H.fault.calls, 0, "sync_file_range calls: %llu",
                 (unsigned long long)H.fault.calls);
    /* The same partition speeding up is kicked again (its first window still
     * spans some of the slow writes). */
    append_mib(log, 16);
    assert_kicks_for(16, 1);
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* A fast writer drops what was written back, beyond the keep window, from the
 * page cache; keep < 0 never drops; a failing hint changes nothing. */
Test(log_basic, fast_writer_drops_written_back_pages_beyond_the_window)
{
    struct partition_log_config cfg;
    struct partition_log *log = open_counting_writeback(&cfg);
    log_close_and_reopen_with_keep(&log, &cfg, 4 << 20);
    count_calls(1u << LOG_IO_FADVISE);
    append_mib(log, 16);
    append_mib(log, 16);
    /* a kick every LOG_WRITEBACK_KICK_BYTES: each drops what the one before
     * wrote back, less 4 MiB */
    cr_assert_geq(H.fault.calls, 1, "fadvise calls: %llu", (unsigned long long)H.fault.calls);
    uint64_t calls = H.fault.calls;
    log_io_fault_arm(&H.fault, H.fault.calls + 1, EIO, true);
    append_mib(log, 16);
    cr_assert_geq(H.fault.injected, 1);
    log_io_fault_disarm(&H.fault);
    cr_assert_gt(H.fault.calls, calls);

    log_close_and_reopen_with_keep(&log, &cfg, -1);
    count_calls(1u << LOG_IO_FADVISE);
    append_mib(log, 16);
    append_mib(log, 16);
    cr_assert_eq(H.fault.calls, 0, "keep < 0 keeps everything");
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* Under flush=always every group is synced, so the pages are clean at once:
 * a fast writer drops them without any writeback hint first. */
Test(log_basic, fast_writer_under_flush_always_drops_synced_pages)
{
    struct partition_log_config cfg;
    struct partition_log *log = open_counting_writeback(&cfg);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    cfg.flush = LOG_FLUSH_ALWAYS;
    cfg.cache_keep_bytes = 4 << 20;
    log = h_open(&H, &cfg, NULL);
    count_calls(1u << LOG_IO_FADVISE | 1u << LOG_IO_SYNC_RANGE);
    append_mib(log, 16);
    append_mib(log, 16);
    cr_assert_geq(H.fault.calls, 2, "fadvise calls: %llu", (unsigned long long)H.fault.calls);
    count_calls(1u << LOG_IO_SYNC_RANGE);
    append_mib(log, 16);
    cr_assert_eq(H.fault.calls, 0, "no sync_file_range under flush=always");
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_eq(partition_log_end_offset(log), 48 * 4 * 256, "every record is still there");
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_basic, segment_roll_by_age)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_ms = 1000;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 1, 2, 100, 1);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(partition_log_segment_count(log), 1);
    H.now_ms += 1500;
    log_engine_tick(&H.engine);
    h_drive(&H);
    cr_assert_eq(partition_log_segment_count(log), 2);
    len = h_batch(buf, sizeof(buf), 2, 2, 100, 1);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static long long file_size_in(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/*
 * A write group is one writev (and its fdatasync), nothing more: the index
 * entries it adds stay in memory until a checkpoint, roll or close writes
 * the ones the files lack. Lookups use them at once all the same.
 */
Test(log_basic, index_files_written_at_checkpoints_not_per_group)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.checkpoint_bytes = 1ull << 40; /* only the interval, on the fake clock */
    cfg.segment_bytes = 1 << 20;       /* no roll */
    struct partition_log *log = h_open(&H, &cfg, NULL);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/topics/t/0", H.dir);
    const char *idx = "00000000000000000000.index", *tidx = "00000000000000000000.timeindex";
    uint8_t buf[3000];
    for (int i = 0; i < 40; i++) {
        if (i == 1) { /* after the first checkpoint, which the first durable group makes due */
            count_calls(1u << LOG_IO_WRITE);
        }
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 1400, 100 + i);
        int64_t base;
        cr_assert_eq(h_append(&H, log, buf, len, &base), LOG_OK);
        cr_assert_eq(base, 2 * i);
        h_drive(&H);
    }
    cr_assert_eq(H.fault.calls, 0, "no index write by a group: %llu",
                 (unsigned long long)H.fault.calls);
    cr_assert_eq(file_size_in(dir, idx), 0, "the first checkpoint had no entry to write");
    cr_assert_eq(file_size_in(dir, tidx), 0);
    for (int64_t off = 0; off < 80; off += 7) {
        struct h_read_result r;
        cr_assert_eq(h_read(&H, log, off, 4096, &r), LOG_OK, "read at %lld", (long long)off);
        cr_assert_leq(r.next_offset - off, 2, "the batch holding %lld", (long long)off);
        free(r.data);
    }

    /* The checkpoint writes what the files lack, and only then. */
    H.now_ms += cfg.checkpoint_interval_ms;
    log_engine_tick(&H.engine);
    h_drive(&H);
    cr_assert_geq(H.fault.calls, 3, "two index files and the checkpoint record");
    long long entries = file_size_in(dir, idx) / 8;
    cr_assert_geq(entries, 20, "an entry per 1 KiB interval, so one per 2.8 KiB batch: %lld",
                  entries);
    cr_assert_gt(file_size_in(dir, tidx), 0);
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
    cr_assert_eq(file_size_in(dir, idx) / 8, entries, "close adds none: nothing new");

    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_eq(rep.rebuilt_indexes, 0);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 40);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}
