/*
 * DeleteRecords in the storage engine (issue 20 item 5): the records start
 * moved by partition_log_advance_start (bounded by the end, never back),
 * kept by the checkpoint across a clean close and a crash, segments wholly
 * below it deleted by retention whatever the cleanup policy; and topic
 * limits changed live (partition_log_set_limits).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "log_harness.h"

static struct harness H;

static void setup(void)
{
    h_init(&H);
}

static void teardown(void)
{
    h_fini(&H);
}

TestSuite(log_start, .init = setup, .fini = teardown, .timeout = 120);

/* n batches of 2 records and ~1 KiB each; 8 KiB segments: several segments. */
static struct partition_log *filled(struct partition_log_config *cfg, int n)
{
    h_cfg(cfg);
    cfg->segment_bytes = 8192;
    struct partition_log *log = h_open(&H, cfg, NULL);
    uint8_t buf[4096];
    for (int i = 0; i < n; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 500, 1000 + i);
        cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    }
    cr_assert_gt(partition_log_segment_count(log), 4);
    return log;
}

Test(log_start, advance_bounds_reads_and_retention)
{
    struct partition_log_config cfg;
    struct partition_log *log = filled(&cfg, 40); /* offsets [0, 80) */
    cr_assert_eq(partition_log_records_start(log), 0);
    uint32_t before = partition_log_segment_count(log);
    cr_assert_eq(h_advance_start(&H, log, 81), LOG_ERR_OUT_OF_RANGE, "past the end");
    cr_assert_eq(h_advance_start(&H, log, 45), LOG_OK, "inside a batch is fine");
    cr_assert_eq(partition_log_records_start(log), 45);
    cr_assert_eq(h_advance_start(&H, log, 10), LOG_OK);
    cr_assert_eq(partition_log_records_start(log), 45, "never moves back");
    /* Retention deletes the segments wholly below 45, and no more, without any retention
     * limit (at once: the next tick, or here). */
    cr_assert_eq(cfg.retention_bytes, -1);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    cr_assert_lt(partition_log_segment_count(log), before);
    int64_t first = partition_log_start_offset(log);
    cr_assert(first > 0 && first <= 45, "log start %lld", (long long)first);
    cr_assert_eq(partition_log_records_start(log), 45);
    /* The engine still serves whole batches from the log start (replication reads). */
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, first, 4096, &rr), LOG_OK);
    cr_assert_gt(rr.len, 0);
    free(rr.data);
    /* Bounded by the log end only: whether it is committed is the partition tier's check. */
    partition_log_set_high_watermark(log, 50);
    cr_assert_eq(h_advance_start(&H, log, 60), LOG_OK);
    cr_assert_eq(h_advance_start(&H, log, -1), LOG_ERR_INVALID);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    cr_assert_eq(partition_log_records_start(log), 60, "kept by a clean close");
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_start, kept_across_a_crash)
{
    struct partition_log_config cfg;
    struct partition_log *log = filled(&cfg, 40);
    cr_assert_eq(h_advance_start(&H, log, 33), LOG_OK);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 99, 2, 500, 5000);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    partition_log_free(log); /* no close: as after SIGKILL */
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(partition_log_records_start(log), 33);
    cr_assert_eq(partition_log_end_offset(log), 82);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_start, compacted_log_deletes_below_the_start_only)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = filled(&cfg, 40);
    struct partition_log_config c = cfg;
    c.cleanup_policy = LOG_CLEANUP_COMPACT;
    c.retention_bytes = 1; /* ignored: compact only */
    cr_assert_eq(partition_log_set_limits(log, &c), LOG_OK);
    uint32_t before = partition_log_segment_count(log);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    cr_assert_eq(partition_log_segment_count(log), before, "no retention by size when compacted");
    cr_assert_eq(h_advance_start(&H, log, 50), LOG_OK);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    cr_assert_lt(partition_log_segment_count(log), before);
    cr_assert_leq(partition_log_start_offset(log), 50);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_start, limits_change_live)
{
    struct partition_log_config cfg;
    struct partition_log *log = filled(&cfg, 40);
    struct partition_log_config c = cfg;
    c.segment_bytes = 100; /* below the engine's 4 KiB minimum */
    cr_assert_eq(partition_log_set_limits(log, &c), LOG_ERR_INVALID);
    c.segment_bytes = cfg.segment_bytes;
    c.retention_bytes = 16384;
    cr_assert_eq(partition_log_set_limits(log, &c), LOG_OK);
    cr_assert_eq(h_retention(&H, log), LOG_OK);
    cr_assert_gt(partition_log_start_offset(log), 0, "the new retention applied");
    cr_assert_leq(partition_log_size_bytes(log), 16384 + 8192 + 4096);
    cr_assert_eq(partition_log_records_start(log), partition_log_start_offset(log));
    cr_assert_eq(h_close(&H, log), LOG_OK);
}
