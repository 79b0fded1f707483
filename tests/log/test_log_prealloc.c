/*
 * Preallocation in bounded steps (broker/log/prealloc.c), and what a
 * partition leaves on disk: many partitions cost little disk, the
 * reservation stays ahead of the writes and grows for a fast writer, a
 * whole-segment reservation of older versions is given back at open, a
 * failed open leaves no directory, and a deleted last partition takes its
 * topic's directory with it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

TestSuite(log_prealloc, .init = setup, .fini = teardown, .timeout = 120);

static const char *SEG0 = "00000000000000000000.log";

static struct stat stat_of(int partition, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/topics/t/%d/%s", H.dir, partition, name);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "%s: %s", p, strerror(errno));
    return st;
}

static bool exists(const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", H.dir, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

static struct partition_log *open_partition(const struct partition_log_config *cfg, int partition)
{
    struct partition_log *log = NULL;
    struct log_open_report rep;
    int rc = partition_log_open(&H.engine, H.dir, "t", partition, cfg, &log, &rep);
    cr_assert_eq(rc, LOG_OK, "open %d: %s", partition, rep.message);
    return log;
}

static void append_one(struct partition_log *log, uint64_t tag, int records, size_t value_len)
{
    uint8_t buf[64 << 10];
    size_t len = h_batch(buf, sizeof(buf), tag, records, value_len, 1000 + (int64_t)tag);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    h_drive(&H); /* the reservation, if one was started, is back */
}

/* Allocated bytes of every file of the data directory's partitions 0..n-1. */
static long long blocks_bytes(int n)
{
    static const char *names[] = {"00000000000000000000.log", "00000000000000000000.index",
                                  "00000000000000000000.timeindex", "checkpoint"};
    long long total = 0;
    for (int p = 0; p < n; p++)
        for (int i = 0; i < 4; i++) {
            char path[512];
            snprintf(path, sizeof(path), "%s/topics/t/%d/%s", H.dir, p, names[i]);
            struct stat st;
            if (stat(path, &st) == 0) /* index and checkpoint files come with a first write */
                total += (long long)st.st_blocks * 512;
        }
    return total;
}

Test(log_prealloc, many_partitions_use_bounded_disk)
{
    enum { N = 200 };
    struct partition_log_config cfg;
    partition_log_config_default(&cfg); /* 1 GiB segments, as the broker uses */
    cfg.retention_ms = -1;
    struct partition_log *logs[N];
    for (int p = 0; p < N; p++)
        logs[p] = open_partition(&cfg, p);
    /* Created and idle: nothing reserved. */
    long long idle = blocks_bytes(N);
    cr_assert_leq(idle, (long long)N * 16 * 1024, "idle partitions use %lld bytes", idle);
    for (int p = 0; p < N; p++)
        cr_assert_eq(stat_of(p, SEG0).st_size, 0);
    /* One small batch each: one step reserved each, nowhere near a segment. */
    for (int p = 0; p < N; p++)
        append_one(logs[p], (uint64_t)p, 1, 100);
    long long used = blocks_bytes(N);
    long long bound = (long long)N * (LOG_DEFAULT_PREALLOC_BYTES + 32 * 1024);
    cr_assert_leq(used, bound, "%d partitions with one message use %lld bytes (bound %lld)", N,
                  used, bound);
    cr_assert_geq(stat_of(N - 1, SEG0).st_size, LOG_DEFAULT_PREALLOC_BYTES, "a step is reserved");
    for (int p = 0; p < N; p++)
        cr_assert_eq(h_close(&H, logs[p]), LOG_OK);
}

/*
 * Appends of 16 KiB: the file is always reserved past the data, by at most
 * the current step. With the clock still (every step used "at once") the
 * step grows to the largest; with a second between appends it stays small.
 */
static uint64_t run_writer(struct partition_log *log, int appends, int64_t ms_between)
{
    uint64_t max_ahead = 0;
    for (int i = 0; i < appends; i++) {
        append_one(log, (uint64_t)i, 16, 1000);
        H.now_ms += ms_between;
        uint64_t end = partition_log_size_bytes(log);
        uint64_t size = (uint64_t)stat_of(0, SEG0).st_size;
        cr_assert_geq(size, end, "reserved up to %llu, data up to %llu", (unsigned long long)size,
                      (unsigned long long)end);
        uint64_t ahead = size - end;
        cr_assert_leq(ahead, LOG_PREALLOC_MAX_BYTES + 4096);
        if (ahead > max_ahead)
            max_ahead = ahead;
    }
    return max_ahead;
}

Test(log_prealloc, reservation_stays_ahead_and_grows_for_a_fast_writer)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 256u << 20;
    struct partition_log *log = open_partition(&cfg, 0);
    uint64_t fast = run_writer(log, 1200, 0); /* ~20 MiB */
    cr_assert_gt(fast, 4 * LOG_DEFAULT_PREALLOC_BYTES, "the step grew: %llu ahead at most",
                 (unsigned long long)fast);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    h_rm_rf(H.dir);
    mkdir(H.dir, 0755);
    log = open_partition(&cfg, 0);
    uint64_t slow = run_writer(log, 100, 2000);
    cr_assert_leq(slow, LOG_DEFAULT_PREALLOC_BYTES + 4096, "a slow writer keeps small steps: %llu",
                  (unsigned long long)slow);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_prealloc, whole_segment_reservation_is_given_back_at_open)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 128u << 20;
    struct partition_log *log = open_partition(&cfg, 0);
    for (int i = 0; i < 5; i++)
        append_one(log, (uint64_t)i, 2, 300);
    uint64_t end = partition_log_size_bytes(log);
    partition_log_free(log); /* a crash */
    /* What older versions left: the active segment reserved to its full size. */
    char p[512];
    snprintf(p, sizeof(p), "%s/topics/t/0/%s", H.dir, SEG0);
    int fd = open(p, O_RDWR);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fallocate(fd, 0, 0, (off_t)cfg.segment_bytes), 0, "%s", strerror(errno));
    close(fd);
    cr_assert_eq((uint64_t)stat_of(0, SEG0).st_size, cfg.segment_bytes);
    struct log_open_report rep;
    cr_assert_eq(partition_log_open(&H.engine, H.dir, "t", 0, &cfg, &log, &rep), LOG_OK);
    cr_assert_eq(rep.truncated_bytes, 0, "a zero tail drops nothing");
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 5);
    struct stat st = stat_of(0, SEG0);
    cr_assert_eq((uint64_t)st.st_size, end, "the tail is cut to the data");
    cr_assert_leq((uint64_t)st.st_blocks * 512, end + 8192);
    /* And the log goes on, reserving a step again. */
    append_one(log, 5, 2, 300);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 6);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_prealloc, failed_open_of_a_new_partition_leaves_no_directory)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    /* Partition 0 exists; opening partition 1 fails at each of its first I/O calls in turn. */
    struct partition_log *log0 = open_partition(&cfg, 0);
    cr_assert_eq(h_close(&H, log0), LOG_OK);
    for (uint64_t at = 1; at <= 12; at++) {
        log_io_fault_arm(&H.fault, H.fault.calls + at, ENOSPC, false);
        struct partition_log *log = NULL;
        struct log_open_report rep;
        int rc = partition_log_open(&H.engine, H.dir, "t", 1, &cfg, &log, &rep);
        log_io_fault_disarm(&H.fault);
        if (rc == LOG_OK) /* the fault hit a call whose failure open tolerates */
            cr_assert_eq(h_delete(&H, log), LOG_OK);
        cr_assert(!exists("topics/t/1"), "call %llu: a directory is left", (unsigned long long)at);
        cr_assert(exists("topics/t/0/checkpoint"), "the other partition is untouched");
    }
    /* A new topic whose only partition fails to open: no topic directory either. */
    log_io_fault_arm(&H.fault, H.fault.calls + 6, ENOSPC, false);
    struct partition_log *log = NULL;
    struct log_open_report rep;
    int rc = partition_log_open(&H.engine, H.dir, "u", 0, &cfg, &log, &rep);
    log_io_fault_disarm(&H.fault);
    cr_assert_neq(rc, LOG_OK);
    cr_assert(!exists("topics/u"), "the new topic's directory is left: %s", rep.message);
}

Test(log_prealloc, deleting_the_last_partition_removes_the_topic_directory)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *a = open_partition(&cfg, 0), *b = open_partition(&cfg, 1);
    append_one(a, 1, 1, 100);
    append_one(b, 2, 1, 100);
    cr_assert_eq(h_delete(&H, a), LOG_OK);
    cr_assert(!exists("topics/t/0"));
    cr_assert(exists("topics/t"), "another partition is still in it");
    cr_assert_eq(h_delete(&H, b), LOG_OK);
    cr_assert(!exists("topics/t"), "the last partition takes the topic's directory");
    cr_assert(exists("topics"));
}

Test(log_prealloc, an_idle_partition_gives_its_write_memory_back)
{
    struct partition_log_config cfg;
    partition_log_config_default(&cfg);
    cfg.retention_ms = -1;
    struct partition_log *log = open_partition(&cfg, 0);
    size_t fresh = partition_log_memory_bytes(log);
    cr_assert_lt(fresh, 8 << 10, "a new partition holds %zu bytes", fresh);
    append_one(log, 1, 1, 100);
    size_t busy = partition_log_memory_bytes(log);
    cr_assert_gt(busy, 64 << 10, "write groups while writing: %zu bytes", busy);
    /* Ticks while idle: after LOG_IDLE_FREE_MS the groups go. */
    for (int i = 0; i < 12; i++) {
        log_engine_tick(&H.engine);
        h_drive(&H);
        H.now_ms += 1000;
    }
    size_t idle = partition_log_memory_bytes(log);
    cr_assert_lt(idle, 8 << 10, "idle again: %zu bytes", idle);
    /* And the next append allocates them again. */
    append_one(log, 2, 1, 100);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

Test(log_prealloc, a_segment_holds_one_file_open_between_control_operations)
{
    enum { N = 50 };
    struct partition_log_config cfg;
    h_cfg(&cfg);
    int before = open_fds();
    struct partition_log *logs[N];
    for (int p = 0; p < N; p++)
        logs[p] = open_partition(&cfg, p);
    cr_assert_eq(open_fds() - before, N, "after open: %d fds for %d partitions",
                 open_fds() - before, N);
    /* Writes, checkpoints (which open the directory, checkpoint and index files) and rolls. */
    for (int round = 0; round < 3; round++) {
        for (int p = 0; p < N; p++)
            append_one(logs[p], (uint64_t)p, 16, 1500); /* 24 KB: rolls (64 KiB segments) */
        H.now_ms += 2000;
        log_engine_tick(&H.engine);
        h_drive(&H);
    }
    int segs = 0;
    for (int p = 0; p < N; p++)
        segs += (int)partition_log_segment_count(logs[p]);
    /* One for each segment's .log: no directory, checkpoint or index file stays open. */
    cr_assert_gt(segs, N, "rolls happened");
    cr_assert_eq(open_fds() - before, segs, "%d fds for %d partitions, %d segments",
                 open_fds() - before, N, segs);
    /* Reads of closed segments map their indexes without keeping an fd either. */
    for (int p = 0; p < N; p++)
        cr_assert_eq(h_read_all(&H, logs[p], NULL, NULL, 0), 3);
    cr_assert_eq(open_fds() - before, segs);
    for (int p = 0; p < N; p++)
        cr_assert_eq(h_close(&H, logs[p]), LOG_OK);
    cr_assert_eq(open_fds(), before);
}

/*
 * Creating a partition costs no fsync (10,000 idle ones paid one each); its
 * first append waits for the directory's fsync, so no acknowledged batch
 * sits in a file whose name a crash could lose, and fails if it fails.
 */
Test(log_prealloc, a_new_partition_fsyncs_its_directory_before_its_first_write)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    H.fault.op_mask = 1u << LOG_IO_FSYNC | 1u << LOG_IO_FDATASYNC;
    H.fault.calls = 0;
    struct partition_log *log = open_partition(&cfg, 0);
    cr_assert_eq(H.fault.calls, 0, "open of a new partition: %llu syncs",
                 (unsigned long long)H.fault.calls);
    H.fault.op_mask = 1u << LOG_IO_FSYNC;
    log_io_fault_arm(&H.fault, 1, EIO, false);
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), 1, 1, 100, 1);
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_ERR_STORAGE, "the directory fsync failed");
    cr_assert_eq(partition_log_end_offset(log), 0);
    log_io_fault_disarm(&H.fault);
    H.fault.calls = 0;
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(H.fault.calls, 1, "one directory fsync, then none");
    cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    cr_assert_eq(H.fault.calls, 1);
    H.fault.op_mask = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* Shutting down a partition that was opened clean and not written costs no I/O but closes;
 * one that was written costs its .log's sync and one checkpoint, not an index sync more. */
Test(log_prealloc, closing_an_unchanged_partition_writes_nothing)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = open_partition(&cfg, 0);
    append_one(log, 1, 1, 100);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = open_partition(&cfg, 0);
    H.fault.op_mask = 1u << LOG_IO_FSYNC | 1u << LOG_IO_FDATASYNC | 1u << LOG_IO_WRITE |
                      1u << LOG_IO_WRITEV | 1u << LOG_IO_FTRUNCATE;
    H.fault.calls = 0;
    cr_assert_eq(h_close(&H, log), LOG_OK);
    cr_assert_eq(H.fault.calls, 0, "%llu writes or syncs", (unsigned long long)H.fault.calls);
    H.fault.op_mask = 0;
    struct log_open_report rep;
    cr_assert_eq(partition_log_open(&H.engine, H.dir, "t", 0, &cfg, &log, &rep), LOG_OK);
    cr_assert(rep.clean, "still clean");
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 1);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_prealloc, open_reports_a_new_partition_as_created)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log;
    struct log_open_report rep;
    cr_assert_eq(partition_log_open(&H.engine, H.dir, "t", 0, &cfg, &log, &rep), LOG_OK);
    cr_assert(rep.created && !rep.clean);
    partition_log_free(log); /* a crash before any write */
    cr_assert_eq(partition_log_open(&H.engine, H.dir, "t", 0, &cfg, &log, &rep), LOG_OK);
    cr_assert(!rep.created, "it exists now");
    cr_assert_eq(h_close(&H, log), LOG_OK);
}
