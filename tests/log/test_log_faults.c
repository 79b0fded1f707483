/*
 * Fault injection through struct log_io: a scenario (open, appends across
 * segment rolls, some as pipelined write groups, flush, retention, reads,
 * close) is run once to count its
 * I/O calls, then once per call with that call failing (ENOSPC, EIO, or a
 * short write). Whatever fails, afterwards the log must be consistent and
 * usable: exactly the appends that succeeded are there, whole, in order
 * (retention may have taken a prefix), new appends work, and a reopen finds
 * the same log. A failing disk is logged once, not per batch.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "log_harness.h"

TestSuite(log_faults, .timeout = 300);

#define BATCHES 14

struct outcome {
    bool opened;
    bool ok[BATCHES];
};

static struct partition_log_config scenario_cfg(void)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 8 << 10;
    cfg.index_interval_bytes = 256;
    cfg.retention_bytes = 12 << 10;
    cfg.checkpoint_bytes = 4 << 10;
    return cfg;
}

static void scenario(struct harness *h, struct outcome *out)
{
    struct partition_log_config cfg = scenario_cfg();
    memset(out, 0, sizeof(*out));
    struct partition_log *log = NULL;
    struct log_open_report rep;
    if (h_open_status(h, &cfg, &log, &rep) != LOG_OK)
        return;
    out->opened = true;
    static uint8_t bufs[BATCHES][2048];
    struct h_append ha[3];
    for (int i = 0; i < BATCHES; i += 3) {
        int n = BATCHES - i < 3 ? BATCHES - i : 3;
        for (int j = 0; j < n; j++) {
            size_t len = h_batch(bufs[i + j], sizeof(bufs[0]), (uint64_t)(i + j), 2, 600, i + j);
            cr_assert_eq(h_append_async(h, log, &ha[j], bufs[i + j], len, 0, 1), LOG_OK);
            /* Every other round, one group per append: two groups in flight at once. */
            if ((i / 3) % 2 == 1)
                log_engine_submit(&h->engine);
        }
        h_drive(h);
        for (int j = 0; j < n; j++) {
            cr_assert(ha[j].written && ha[j].durable);
            cr_assert(ha[j].written_status == LOG_OK || ha[j].written_status == LOG_ERR_STORAGE ||
                          ha[j].written_status == LOG_ERR_NO_SPACE,
                      "status %d", ha[j].written_status);
            cr_assert_eq(ha[j].durable_status, ha[j].written_status);
            out->ok[i + j] = ha[j].written_status == LOG_OK;
        }
    }
    h_flush(h, log);
    h_retention(h, log);
    h_read_all(h, log, NULL, NULL, 0);
    h_close(h, log);
}

/* The tags read must be the successful appends, less a prefix taken by retention. */
static void check_content(struct harness *h, struct partition_log *log, const struct outcome *o,
                          const char *what)
{
    uint64_t tags[BATCHES + 8];
    long n = h_read_all(h, log, tags, NULL, BATCHES + 8);
    cr_assert_geq(n, 0, "%s: unreadable log", what);
    uint64_t want[BATCHES];
    long nw = 0;
    for (int i = 0; i < BATCHES; i++)
        if (o->ok[i])
            want[nw++] = (uint64_t)i;
    cr_assert_leq(n, nw, "%s: %ld batches, only %ld appends succeeded", what, n, nw);
    for (long i = 0; i < n; i++)
        cr_assert_eq(tags[i], want[nw - n + i], "%s: batch %ld has tag %llu, want %llu", what, i,
                     (unsigned long long)tags[i], (unsigned long long)want[nw - n + i]);
}

static void after_fault(struct harness *h, const struct outcome *o, const char *what)
{
    log_io_fault_disarm(&h->fault);
    struct partition_log_config cfg = scenario_cfg();
    cfg.retention_bytes = -1;
    struct log_open_report rep;
    struct partition_log *log = h_open(h, &cfg, &rep);
    if (o->opened)
        check_content(h, log, o, what);
    /* Usable: appends work and survive a reopen. */
    uint8_t buf[2048];
    size_t len = h_batch(buf, sizeof(buf), 100, 1, 64, 100);
    cr_assert_eq(h_append(h, log, buf, len, NULL), LOG_OK, "%s: append after the fault", what);
    long n = h_read_all(h, log, NULL, NULL, 0);
    cr_assert_gt(n, 0);
    cr_assert_eq(h_close(h, log), LOG_OK);
    log = h_open(h, &cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_eq(h_read_all(h, log, NULL, NULL, 0), n, "%s: reopen", what);
    cr_assert_eq(h_close(h, log), LOG_OK);
}

static void every_call(int err, bool short_write)
{
    struct harness h;
    h_init(&h);
    h.quiet = true;
    struct outcome o;
    scenario(&h, &o);
    uint64_t total = h.fault.calls;
    cr_assert(o.opened);
    for (int i = 0; i < BATCHES; i++)
        cr_assert(o.ok[i]);
    h_fini(&h);
    fprintf(stderr, "fault injection (%s): %llu call sites\n",
            short_write ? "short write" : strerror(err), (unsigned long long)total);
    unsigned injected = 0;
    for (uint64_t at = 1; at <= total; at++) {
        h_init(&h);
        h.quiet = true;
        log_io_fault_arm(&h.fault, at, err, false);
        h.fault.short_write = short_write;
        scenario(&h, &o);
        injected += h.fault.injected > 0;
        char what[96];
        snprintf(what, sizeof(what), "%s at call %llu (%s)",
                 short_write ? "short write" : strerror(err), (unsigned long long)at,
                 h.fault.last_failed_op >= 0 ? log_io_op_name(h.fault.last_failed_op) : "-");
        cr_assert_leq(h.errors, 1, "%s: %u errors logged: %s", what, h.errors, h.last_error);
        after_fault(&h, &o, what);
        h_fini(&h);
    }
    cr_assert_gt(injected, 0);
}

Test(log_faults, enospc_at_every_call)
{
    every_call(ENOSPC, false);
}

Test(log_faults, eio_at_every_call)
{
    every_call(EIO, false);
}

Test(log_faults, short_write_at_every_write)
{
    every_call(0, true);
}

static void on_read_done(struct log_read *r, int status)
{
    *(int *)r->user = status;
}

Test(log_faults, full_disk_fails_appends_logs_once_and_keeps_serving_reads)
{
    struct harness h;
    h_init(&h);
    h.quiet = true;
    struct partition_log_config cfg = scenario_cfg();
    cfg.retention_bytes = -1;
    struct partition_log *log = h_open(&h, &cfg, NULL);
    uint8_t buf[2048];
    for (int i = 0; i < 10; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 600, i);
        cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_OK);
    }
    int64_t end = partition_log_end_offset(log);
    /* The disk fills up: every write, sync, allocation and truncation fails from now on. */
    h.fault.op_mask = 1u << LOG_IO_WRITE | 1u << LOG_IO_WRITEV | 1u << LOG_IO_FDATASYNC |
                      1u << LOG_IO_FALLOCATE | 1u << LOG_IO_FTRUNCATE | 1u << LOG_IO_OPENAT;
    h.fault.calls = 0;
    log_io_fault_arm(&h.fault, 1, ENOSPC, true);
    for (int i = 0; i < 50; i++) {
        size_t len = h_batch(buf, sizeof(buf), 1000 + (uint64_t)i, 2, 600, i);
        cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_ERR_NO_SPACE, "a full disk says so");
        /* Reads keep working meanwhile, and see nothing new. */
        int status = 1;
        struct log_read r = {.offset = 0,
                             .max_offset = INT64_MAX,
                             .buf = malloc(64 << 10),
                             .cap = 64 << 10,
                             .on_complete = on_read_done,
                             .user = &status};
        cr_assert_eq(partition_log_read(log, &r), LOG_OK);
        h_drive(&h);
        cr_assert_eq(status, LOG_OK);
        cr_assert_gt(r.len, 0);
        free(r.buf);
    }
    cr_assert(partition_log_failed(log));
    cr_assert_eq(partition_log_end_offset(log), end);
    cr_assert_eq(h.errors, 1, "the failure is logged once: %u errors", h.errors);
    cr_assert_not_null(strstr(h.last_error, "No space left on device"), "%s", h.last_error);
    cr_assert_not_null(strstr(h.last_error, "NO_SPACE"), "%s", h.last_error);
    cr_assert_not_null(strstr(partition_log_failure(log), "No space left on device"), "%s",
                       partition_log_failure(log));
    cr_assert_eq(h_read_all(&h, log, NULL, NULL, 0), 10);
    /* Space comes back: appends succeed again. */
    log_io_fault_disarm(&h.fault);
    h.fault.op_mask = 0;
    size_t len = h_batch(buf, sizeof(buf), 77, 2, 600, 1);
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_OK);
    cr_assert(!partition_log_failed(log));
    cr_assert_str_empty(partition_log_failure(log));
    cr_assert_eq(h_read_all(&h, log, NULL, NULL, 0), 11);
    cr_assert_eq(h_close(&h, log), LOG_OK);
    log = h_open(&h, &cfg, NULL);
    cr_assert_eq(h_read_all(&h, log, NULL, NULL, 0), 11);
    cr_assert_eq(h_close(&h, log), LOG_OK);
    h_fini(&h);
}

Test(log_faults, a_failing_disk_is_a_storage_error_not_a_full_one)
{
    struct harness h;
    h_init(&h);
    h.quiet = true;
    struct partition_log_config cfg = scenario_cfg();
    struct partition_log *log = h_open(&h, &cfg, NULL);
    uint8_t buf[2048];
    size_t len = h_batch(buf, sizeof(buf), 1, 2, 600, 1);
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_OK);
    h.fault.op_mask = 1u << LOG_IO_WRITEV | 1u << LOG_IO_FDATASYNC | 1u << LOG_IO_FTRUNCATE;
    h.fault.calls = 0;
    log_io_fault_arm(&h.fault, 1, EIO, true);
    len = h_batch(buf, sizeof(buf), 2, 2, 600, 2);
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_ERR_STORAGE);
    cr_assert_not_null(strstr(partition_log_failure(log), "Input/output error"), "%s",
                       partition_log_failure(log));
    cr_assert_not_null(strstr(h.last_error, "STORAGE_ERROR"), "%s", h.last_error);
    cr_assert_eq(log_status_from_errno(ENOSPC), LOG_ERR_NO_SPACE);
    cr_assert_eq(log_status_from_errno(-EDQUOT), LOG_ERR_NO_SPACE);
    cr_assert_eq(log_status_from_errno(EIO), LOG_ERR_STORAGE);
    log_io_fault_disarm(&h.fault);
    h.fault.op_mask = 0;
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(h_close(&h, log), LOG_OK);
    h_fini(&h);
}

/*
 * A cleanly closed log keeps its clean record when reopened, until the
 * first append: that append waits for a "not clean" record, and if it
 * cannot be written the append fails and nothing lands behind a record
 * saying the log ends earlier.
 */
Test(log_faults, first_append_after_a_clean_open_waits_for_the_dirty_checkpoint)
{
    struct harness h;
    h_init(&h);
    h.quiet = true;
    struct partition_log_config cfg = scenario_cfg();
    struct partition_log *log = h_open(&h, &cfg, NULL);
    uint8_t buf[2048];
    size_t len = h_batch(buf, sizeof(buf), 1, 2, 600, 1);
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(h_close(&h, log), LOG_OK);
    struct log_open_report rep;
    log = h_open(&h, &cfg, &rep);
    cr_assert(rep.clean);
    h.fault.op_mask = 1u << LOG_IO_WRITE; /* the checkpoint record's write */
    h.fault.calls = 0;
    log_io_fault_arm(&h.fault, 1, ENOSPC, false);
    len = h_batch(buf, sizeof(buf), 2, 2, 600, 2);
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_ERR_NO_SPACE);
    cr_assert_eq(h.fault.injected, 1);
    log_io_fault_disarm(&h.fault);
    h.fault.op_mask = 0;
    cr_assert_eq(h_append(&h, log, buf, len, NULL), LOG_OK, "the next one writes the record");
    partition_log_free(log); /* a crash */
    log = h_open(&h, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(h_read_all(&h, log, NULL, NULL, 0), 2);
    cr_assert_eq(h_close(&h, log), LOG_OK);
    h_fini(&h);
}
