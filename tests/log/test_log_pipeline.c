/*
 * Pipelined group commit: two write groups in flight on one partition.
 * The fault injector holds back completions and releases them in a chosen
 * order, so the engine sees the second group finish before the first, or
 * the first fail while the second is still in flight. Whatever the order,
 * the log must move in group order, acknowledge nothing before it (and
 * every group before it) is durable, and after a failure show nothing of
 * the groups behind it, on disk included.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "batch.h"
#include "log_harness.h"
#include "log_internal.h" /* LOG_INLINE_WRITE_BYTES */

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

TestSuite(log_pipeline, .init = setup, .fini = teardown, .timeout = 120);

static uint8_t bufs[8][1024];

/* Opens a new partition and fsyncs its directory, which its first append would wait for. */
static struct partition_log *open_ready(const struct partition_log_config *cfg)
{
    struct partition_log *log = h_open(&H, cfg, NULL);
    cr_assert_eq(h_flush(&H, log), LOG_OK);
    return log;
}

/* Queues append i (tag i) and lets the engine start a group for it at once. */
static void append_now(struct partition_log *log, struct h_append *ha, int i)
{
    size_t len = h_batch(bufs[i], sizeof(bufs[i]), (uint64_t)i, 1, 100, i);
    cr_assert_eq(h_append_async(&H, log, ha, bufs[i], len, 0, 1), LOG_OK);
    log_engine_submit(&H.engine);
}

/* Holds the data writes and syncs; two appends become two groups in flight (4 operations). */
static void two_groups_in_flight(struct partition_log *log, struct h_append ha[2])
{
    H.fault.op_mask = 1u << LOG_IO_WRITEV | 1u << LOG_IO_FDATASYNC;
    log_io_fault_hold(&H.fault);
    append_now(log, &ha[0], 0);
    append_now(log, &ha[1], 1);
    cr_assert(h_wait_held(&H, 4), "two groups in flight at once: %u operations arrived",
              log_io_fault_arrived(&H.fault));
    cr_assert_eq(H.fault.nheld, 4, "writev + fdatasync per group");
}

static void release(uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i <= to; i++)
        cr_assert_eq(log_io_fault_release(&H.fault, i), 0);
    H.fault.hold = false;
    h_spin(&H, 5);
}

/* The tags of the whole log, after a reopen without close (recovery) and after a clean one. */
static void check_log(struct partition_log *log, const struct partition_log_config *cfg,
                      const uint64_t *want, long n)
{
    uint64_t tags[16];
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 16), n);
    for (long i = 0; i < n; i++)
        cr_assert_eq(tags[i], want[i]);
    partition_log_free(log); /* as after a crash: recovery scans the tail */
    struct log_open_report rep;
    log = h_open(&H, cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(rep.truncated_bytes, 0, "no partial batch, no hole on disk");
    cr_assert_eq(h_read_all(&H, log, tags, NULL, 16), n);
    for (long i = 0; i < n; i++)
        cr_assert_eq(tags[i], want[i]);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), n);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* After the fault: the disk works again, and the next append (tag 2) lands at `want_base`. */
static void append_after_fault(struct partition_log *log, int64_t want_base)
{
    log_io_fault_disarm(&H.fault);
    H.fault.op_mask = 0;
    size_t len = h_batch(bufs[2], sizeof(bufs[2]), 2, 1, 100, 2);
    int64_t base;
    cr_assert_eq(h_append(&H, log, bufs[2], len, &base), LOG_OK);
    cr_assert_eq(base, want_base);
    cr_assert(!partition_log_failed(log));
}

Test(log_pipeline, second_group_completes_first_and_waits_for_the_first)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    struct h_append ha[2];
    two_groups_in_flight(log, ha);

    /* Group 2 is on disk first: it must not be visible, acknowledged or durable yet. */
    release(2, 3);
    cr_assert(!ha[1].written && !ha[1].durable);
    cr_assert_eq(partition_log_end_offset(log), 0);
    cr_assert_eq(partition_log_durable_offset(log), 0);

    release(0, 1);
    h_drive(&H);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ha[i].written_status, LOG_OK);
        cr_assert_eq(ha[i].durable_status, LOG_OK);
        cr_assert_eq(ha[i].a.base_offset, i);
    }
    cr_assert_lt(ha[0].durable_seq, ha[1].written_seq, "acknowledged in group order");
    cr_assert_eq(partition_log_end_offset(log), 2);
    cr_assert_eq(partition_log_durable_offset(log), 2);
    H.fault.op_mask = 0;
    check_log(log, &cfg, (uint64_t[]){0, 1}, 2);
}

Test(log_pipeline, first_group_fails_with_the_second_in_flight)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    H.fault.calls = 0;
    log_io_fault_arm(&H.fault, 1, EIO, false); /* group 1's writev */
    struct h_append ha[2];
    two_groups_in_flight(log, ha);

    release(0, 1);
    cr_assert(ha[0].written && ha[0].durable);
    cr_assert_eq(ha[0].written_status, LOG_ERR_STORAGE);
    cr_assert_eq(ha[0].durable_status, LOG_ERR_STORAGE);
    cr_assert(!ha[1].written, "group 2 is still in flight");

    /* Group 2's own write and sync succeed, but it follows a hole: it fails too. */
    release(2, 3);
    h_drive(&H);
    cr_assert_eq(ha[1].written_status, LOG_ERR_STORAGE);
    cr_assert_eq(ha[1].durable_status, LOG_ERR_STORAGE);
    cr_assert_eq(partition_log_end_offset(log), 0);
    cr_assert_eq(partition_log_durable_offset(log), 0);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 0, "nothing of either group is visible");
    cr_assert_eq(H.errors, 1, "one failure logged for the chain: %s", H.last_error);

    /* The partition recovers: the repair cuts both groups' bytes, the next append lands at 0. */
    append_after_fault(log, 0);
    check_log(log, &cfg, (uint64_t[]){2}, 1);
}

Test(log_pipeline, second_group_fails_the_first_succeeds)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    H.fault.calls = 0;
    log_io_fault_arm(&H.fault, 4, ENOSPC, false); /* group 2's fdatasync */
    struct h_append ha[2];
    two_groups_in_flight(log, ha);
    /* The failure is known before group 1 completes. */
    release(2, 3);
    cr_assert(!ha[1].written);
    release(0, 1);
    h_drive(&H);
    cr_assert_eq(ha[0].written_status, LOG_OK);
    cr_assert_eq(ha[0].durable_status, LOG_OK);
    cr_assert_eq(ha[1].written_status, LOG_ERR_NO_SPACE);
    cr_assert_eq(ha[1].durable_status, LOG_ERR_NO_SPACE);
    cr_assert_eq(partition_log_end_offset(log), 1);
    cr_assert_eq(partition_log_durable_offset(log), 1);

    append_after_fault(log, 1);
    check_log(log, &cfg, (uint64_t[]){0, 2}, 2);
}

Test(log_pipeline, short_write_of_the_first_group)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    H.fault.calls = 0;
    log_io_fault_arm(&H.fault, 1, 0, false);
    H.fault.short_write = true; /* half of group 1 lands on disk */
    struct h_append ha[2];
    two_groups_in_flight(log, ha);
    release(0, 3);
    h_drive(&H);
    /* A short write is how a filling disk shows: reported as one. */
    cr_assert_eq(ha[0].written_status, LOG_ERR_NO_SPACE);
    cr_assert_eq(ha[1].written_status, LOG_ERR_NO_SPACE);
    append_after_fault(log, 0);
    check_log(log, &cfg, (uint64_t[]){2}, 1);
}

static void ctl_done(struct log_ctl *c, int status)
{
    *(int *)c->user = status;
}

Test(log_pipeline, close_waits_for_both_groups)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    struct h_append ha[2];
    two_groups_in_flight(log, ha);
    int status = 1;
    struct log_ctl c = {.on_complete = ctl_done, .user = &status};
    cr_assert_eq(partition_log_close(log, &c), LOG_OK);
    h_spin(&H, 5);
    cr_assert_eq(status, 1, "close waits while groups are in flight");
    release(0, 3);
    h_drive(&H);
    cr_assert_eq(status, LOG_OK);
    cr_assert_eq(ha[0].written_status, LOG_OK);
    cr_assert_eq(ha[1].written_status, LOG_OK);
    partition_log_free(log);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_pipeline, roll_waits_for_both_groups)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    size_t one = h_batch(bufs[0], sizeof(bufs[0]), 0, 1, 100, 0);
    cfg.segment_bytes = 4096;
    struct partition_log *log = open_ready(&cfg);
    /* Fill the segment to leave room for exactly two more batches. */
    int filler = (int)(4096 / one) - 2;
    for (int i = 0; i < filler; i++)
        cr_assert_eq(h_append(&H, log, bufs[0], one, NULL), LOG_OK);
    struct h_append ha[2], third;
    two_groups_in_flight(log, ha);
    /* The third does not fit: the roll must wait for both groups to retire. */
    append_now(log, &third, 2);
    h_spin(&H, 5);
    cr_assert_eq(partition_log_segment_count(log), 1);
    release(0, 3);
    h_drive(&H);
    cr_assert_eq(ha[0].written_status, LOG_OK);
    cr_assert_eq(ha[1].written_status, LOG_OK);
    cr_assert_eq(third.written_status, LOG_OK);
    cr_assert_eq(third.a.base_offset, filler + 2);
    cr_assert_eq(partition_log_segment_count(log), 2);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), filler + 3);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), filler + 3);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_pipeline, flush_none_durable_in_order_after_flush)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.flush = LOG_FLUSH_NONE;
    struct partition_log *log = open_ready(&cfg);
    H.fault.op_mask = 1u << LOG_IO_WRITEV;
    log_io_fault_hold(&H.fault);
    struct h_append ha[2];
    append_now(log, &ha[0], 0);
    append_now(log, &ha[1], 1);
    cr_assert(h_wait_held(&H, 2), "two writes in flight at once");
    release(1, 1);
    cr_assert(!ha[1].written);
    release(0, 0);
    h_drive(&H);
    cr_assert_lt(ha[0].written_seq, ha[1].written_seq);
    cr_assert(!ha[0].durable && !ha[1].durable);
    H.fault.op_mask = 0;
    cr_assert_eq(h_flush(&H, log), LOG_OK);
    cr_assert(ha[0].durable && ha[1].durable);
    cr_assert_lt(ha[0].durable_seq, ha[1].durable_seq);
    cr_assert_eq(partition_log_durable_offset(log), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_pipeline, one_group_in_flight_when_configured)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.max_inflight_groups = 1;
    struct partition_log *log = open_ready(&cfg);
    H.fault.op_mask = 1u << LOG_IO_WRITEV | 1u << LOG_IO_FDATASYNC;
    log_io_fault_hold(&H.fault);
    struct h_append ha[2];
    append_now(log, &ha[0], 0);
    append_now(log, &ha[1], 1);
    cr_assert(h_wait_held(&H, 2));
    h_spin(&H, 5);
    cr_assert_eq(H.fault.nheld, 2, "the second group waits for the first");
    release(0, 1);
    h_drive(&H);
    cr_assert_eq(ha[0].written_status, LOG_OK);
    cr_assert_eq(ha[1].written_status, LOG_OK);
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static struct h_append *stored_of[2];
static int stored_order[2], stored_count;

static void on_stored(struct log_append *a, int status)
{
    cr_assert_eq(status, LOG_OK);
    cr_assert(!((struct h_append *)a)->written, "stored comes before written");
    stored_order[stored_count++] = (struct h_append *)a == stored_of[0] ? 0 : 1;
}

/*
 * Under flush=always a group is "stored" (in the file, an fdatasync short
 * of durable) once its writev and every earlier group's are back, before
 * its fdatasync: what a replication leader sends to followers from.
 */
Test(log_pipeline, stored_before_durable_in_group_order)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    struct h_append ha[2];
    H.fault.op_mask = 1u << LOG_IO_WRITEV | 1u << LOG_IO_FDATASYNC;
    log_io_fault_hold(&H.fault);
    stored_count = 0;
    for (int i = 0; i < 2; i++) {
        size_t len = h_batch(bufs[i], sizeof(bufs[i]), (uint64_t)i, 1, 100, i);
        cr_assert_eq(h_append_async(&H, log, &ha[i], bufs[i], len, 0, 1), LOG_OK);
        ha[i].a.on_stored = on_stored;
        stored_of[i] = &ha[i];
        log_engine_submit(&H.engine);
    }
    cr_assert(h_wait_held(&H, 4));
    /* Group 2's writev is back first: not stored before group 1's. */
    cr_assert_eq(log_io_fault_release(&H.fault, 2), 0);
    h_spin(&H, 5);
    cr_assert_eq(stored_count, 0);
    cr_assert_eq(partition_log_stored_offset(log), 0);
    /* Group 1's writev: both stored, in order; nothing written or durable yet. */
    cr_assert_eq(log_io_fault_release(&H.fault, 0), 0);
    h_spin(&H, 5);
    cr_assert_eq(stored_count, 2);
    cr_assert_eq(stored_order[0], 0);
    cr_assert_eq(stored_order[1], 1);
    cr_assert_eq(partition_log_stored_offset(log), 2);
    cr_assert_eq(partition_log_end_offset(log), 0, "not visible before durable");
    cr_assert_eq(ha[0].a.base_offset, 0, "offsets known when stored");
    cr_assert_eq(ha[1].a.base_offset, 1);
    cr_assert(!ha[0].written && !ha[1].written);
    /* The fdatasyncs: written and durable. */
    release(1, 1);
    release(3, 3);
    h_drive(&H);
    cr_assert(ha[0].written && ha[0].durable && ha[1].written && ha[1].durable);
    cr_assert_eq(partition_log_durable_offset(log), 2);
    cr_assert_eq(partition_log_stored_offset(log), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_pipeline, a_stored_group_whose_sync_fails_is_cut_again)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_ready(&cfg);
    struct h_append ha[1];
    H.fault.op_mask = 1u << LOG_IO_FDATASYNC;
    H.fault.calls = 0;
    log_io_fault_arm(&H.fault, 1, EIO, false);
    stored_count = 0;
    size_t len = h_batch(bufs[0], sizeof(bufs[0]), 0, 1, 100, 0);
    cr_assert_eq(h_append_async(&H, log, &ha[0], bufs[0], len, 0, 1), LOG_OK);
    ha[0].a.on_stored = on_stored;
    stored_of[0] = stored_of[1] = &ha[0];
    h_drive(&H);
    cr_assert_eq(stored_count, 1);
    cr_assert_eq(ha[0].written_status, LOG_ERR_STORAGE, "the sync failed after it was stored");
    cr_assert_eq(partition_log_stored_offset(log), 0);
    append_after_fault(log, 0);
    check_log(log, &cfg, (uint64_t[]){2}, 1);
}

/* Whether the first len bytes of partition 0's first segment at off are `want`. */
static bool file_has(off_t off, const uint8_t *want, size_t len)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/topics/t/0/00000000000000000000.log", H.dir);
    int fd = open(p, O_RDONLY);
    cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
    uint8_t got[1024];
    cr_assert_leq(len, sizeof(got));
    bool same = pread(fd, got, len, off) == (ssize_t)len && memcmp(got, want, len) == 0;
    close(fd);
    return same;
}

Test(log_pipeline, a_small_group_is_written_on_the_callers_thread_unless_a_write_is_out)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.max_inflight_groups = 2;
    cfg.max_append_bytes = 1 << 20; /* room for the large group below */
    cfg.max_group_bytes = 1 << 20;
    struct partition_log *log = open_ready(&cfg);
    H.fault.op_mask = 1u << LOG_IO_WRITEV | 1u << LOG_IO_FDATASYNC;
    log_io_fault_hold(&H.fault);
    struct h_append ha[3];
    append_now(log, &ha[0], 0);
    cr_assert_eq(H.fault.inline_writes, 1, "a lone small group: inline");
    size_t len0 = h_batch(bufs[7], sizeof(bufs[7]), 0, 1, 100, 0); /* append 0's length */
    cr_assert(file_has(0, bufs[0], len0), "in the file as the submit returns, completion held");
    append_now(log, &ha[1], 1);
    cr_assert_eq(H.fault.inline_writes, 1, "behind a write not yet back: through the ring");
    cr_assert(h_wait_held(&H, 4), "writev + fdatasync of both groups");
    release(0, 3);
    h_drive(&H);
    cr_assert(ha[0].written && ha[0].written_status == LOG_OK);
    cr_assert(ha[1].written && ha[1].written_status == LOG_OK);
    /* A group over LOG_INLINE_WRITE_BYTES goes through the ring even alone. */
    static uint8_t big[LOG_INLINE_WRITE_BYTES + 32768];
    size_t len = h_batch(big, sizeof(big), 9, 80, 1000, 9);
    cr_assert_gt(len, LOG_INLINE_WRITE_BYTES);
    cr_assert_eq(h_append_async(&H, log, &ha[2], big, len, 0, 1), LOG_OK);
    h_drive(&H);
    cr_assert(ha[2].written && ha[2].written_status == LOG_OK);
    cr_assert_eq(H.fault.inline_writes, 1, "a large group: through the ring");
    uint64_t want[] = {0, 1, 9};
    check_log(log, &cfg, want, 3);
}
