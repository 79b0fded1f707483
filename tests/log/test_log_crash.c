/*
 * Crash test: a child process appends with flush=always, writes the tag of
 * every batch reported durable to a pipe, and is SIGKILLed at a random
 * moment. After reopening (recovery), every batch reported durable must be
 * present and intact, in order. Rounds continue the same log, so recovery
 * runs on the result of earlier recoveries, across segment rolls. The seed
 * is printed (RINGLOG_TEST_SEED replays it); RINGLOG_CRASH_ROUNDS sets the
 * number of rounds (default 50).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "log_harness.h"
#include "test_rng.h"

TestSuite(log_crash, .timeout = 300);

static struct partition_log_config crash_cfg(uint64_t seed)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 96 << 10;
    cfg.checkpoint_bytes = 24 << 10;
    cfg.preallocate = (seed & 1) != 0;
    return cfg;
}

struct child_append {
    struct h_append ha;
    uint8_t buf[4096];
    uint64_t tag;
    int fd;
    bool busy;
};

static void child_durable(struct log_append *a, int status)
{
    struct child_append *ca = (struct child_append *)a;
    ca->busy = false;
    if (status == LOG_OK) {
        ssize_t w = write(ca->fd, &ca->tag, sizeof(ca->tag));
        (void)w;
    }
}

static void child_written(struct log_append *a, int status)
{
    (void)a;
    (void)status;
}

/* The child: appends forever (until killed), several appends in flight per turn. */
static void child_main(const char *dir, uint64_t first_tag, uint64_t seed, int fd)
{
    struct harness h;
    h_init_dir(&h, dir);
    h.quiet = true;
    struct partition_log_config cfg = crash_cfg(seed);
    struct partition_log *log = NULL;
    struct log_open_report rep;
    if (h_open_status(&h, &cfg, &log, &rep) != LOG_OK)
        _exit(3);
    struct test_rng rng = {.state = seed * 7919 + first_tag};
    static struct child_append slots[8];
    uint64_t tag = first_tag;
    for (;;) {
        int n = 1 + (int)test_rng_below(&rng, 8);
        for (int i = 0; i < n; i++) {
            struct child_append *ca = &slots[i];
            if (ca->busy)
                continue;
            ca->tag = tag;
            ca->fd = fd;
            size_t len = h_batch(ca->buf, sizeof(ca->buf), tag, 1 + (int)test_rng_below(&rng, 4),
                                 16 + test_rng_below(&rng, 700), (int64_t)tag);
            memset(&ca->ha, 0, sizeof(ca->ha));
            ca->ha.a.data = ca->buf;
            ca->ha.a.len = len;
            ca->ha.a.leader_epoch = 1;
            ca->ha.a.on_written = child_written;
            ca->ha.a.on_durable = child_durable;
            if (partition_log_append(log, &ca->ha.a) != LOG_OK)
                _exit(4);
            ca->busy = true;
            tag++;
        }
        log_engine_submit(&h.engine);
        io_uring_submit_and_wait(&h.ring, 1);
        log_ring_dispatch_ready(&h.ring);
        log_engine_tick(&h.engine);
    }
}

Test(log_crash, sigkill_keeps_every_durable_batch)
{
    struct test_rng rng;
    uint64_t seed = test_rng_seed(&rng, "log_crash", 20261126);
    const char *env = getenv("RINGLOG_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 50;
    struct harness h;
    h_init(&h);
    h.quiet = true;
    struct partition_log_config cfg = crash_cfg(seed);
    uint64_t in_log = 0; /* batches in the log, tags 0..in_log-1 */
    uint64_t total_durable = 0, total_dropped = 0;
    static uint64_t tags[1 << 16];
    for (int round = 0; round < rounds; round++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(p[0]);
            child_main(h.dir, in_log, seed + (uint64_t)round, p[1]);
            _exit(0);
        }
        close(p[1]);
        struct timespec ts = {.tv_sec = 0,
                              .tv_nsec = (long)(10 + test_rng_below(&rng, 90)) * 1000000l};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int wst;
        waitpid(pid, &wst, 0);
        cr_assert(WIFSIGNALED(wst), "child exited by itself (status %d)", WEXITSTATUS(wst));
        uint64_t durable_max = 0, t;
        bool any = false;
        while (read(p[0], &t, sizeof(t)) == (ssize_t)sizeof(t)) {
            if (!any || t > durable_max)
                durable_max = t;
            any = true;
            total_durable++;
        }
        close(p[0]);

        struct log_open_report rep;
        struct partition_log *log = h_open(&h, &cfg, &rep);
        total_dropped += rep.truncated_batches;
        long n = h_read_all(&h, log, tags, NULL, (long)(sizeof(tags) / sizeof(tags[0])));
        cr_assert_geq(n, 0, "round %d: log unreadable after recovery", round);
        for (long i = 0; i < n; i++)
            cr_assert_eq(tags[i], (uint64_t)i, "round %d: batch %ld has tag %llu", round, i,
                         (unsigned long long)tags[i]);
        if (any)
            cr_assert_gt((uint64_t)n, durable_max,
                         "round %d: batch %llu was reported durable, the log has %ld batches",
                         round, (unsigned long long)durable_max, n);
        in_log = (uint64_t)n;
        if (round % 2 == 0)
            cr_assert_eq(h_close(&h, log), LOG_OK);
        else
            partition_log_free(log);
    }
    fprintf(stderr,
            "log_crash: %d rounds, %llu batches in the log, %llu durable reports, "
            "%llu torn batches dropped\n",
            rounds, (unsigned long long)in_log, (unsigned long long)total_durable,
            (unsigned long long)total_dropped);
    cr_assert_gt(in_log, 0);
    h_fini(&h);
}
