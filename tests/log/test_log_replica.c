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
