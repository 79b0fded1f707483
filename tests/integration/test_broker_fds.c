/*
 * ringlogd's open-files budget: it raises its soft RLIMIT_NOFILE to the
 * hard limit and says so, counts one fd per partition segment file it
 * keeps open, and refuses with the numbers a data directory that cannot
 * fit. Each Criterion test runs in its own process, so lowering the limits
 * here (which the broker inherits) affects no other test.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker_proc.h"
#include "wire.h"

TestSuite(fds, .timeout = 180);

enum { MANY = 100, RESERVE = 256 };
/* Every single broker also holds __groups (consumer groups): 8 partitions of one segment. */
enum { INTERNAL = 8 };

static int count_log_files(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".log") == 0;
    }
    closedir(d);
    return n;
}

static void ok_response(Ringlog__Response *r, const char *what)
{
    cr_assert_not_null(r, "%s", what);
    int error = wire_first_error(r);
    cr_assert_eq(error, 0, "%s: error %d", what, error);
    ringlog__response__free_unpacked(r, NULL);
}

/* A broker with MANY one-segment partitions and one partition of several segments. */
static int make_data(struct broker_proc *b)
{
    cr_assert_eq(broker_start(b, NULL, NULL), 0);
    int c = wire_connect(b->port);
    cr_assert_geq(c, 0);
    ok_response(wire_create_topic(c, "many", MANY), "create many");
    /* Kept forever: wire_build_batch's batches carry 2023 timestamps, which the default
     * retention of 7 days deletes at the first retention check (once a second), so a slow
     * run stopped the broker with one segment left ("roll has 1 segments"). */
    ok_response(wire_create_topic_config(c, "roll", 1, 4096, -1), "create roll");
    static uint8_t batch[8192];
    size_t len = wire_build_batch(batch, sizeof(batch), "roll-record-payload", 80, -1, -1, -1);
    cr_assert_gt(len, 1024, "batch of %zu bytes", len);
    for (int i = 0; i < 12; i++)
        ok_response(wire_produce(c, "roll", 0, 1, batch, len), "produce");
    close(c);
    cr_assert_eq(broker_stop(b), 0);
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/topics/roll/0", b->data_dir);
    int segments = count_log_files(dir);
    cr_assert_geq(segments, 4, "roll has %d segments", segments);
    return segments;
}

static void set_nofile(rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit %llu:%llu", (unsigned long long)soft,
                 (unsigned long long)hard);
}

Test(fds, soft_limit_raised_to_hard_and_logged)
{
    struct broker_proc b;
    int segments = make_data(&b);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert_gt(rl.rlim_max, (rlim_t)(MANY + INTERNAL + segments + RESERVE));
    set_nofile(64, rl.rlim_max);
    char dir[sizeof(b.data_dir)];
    memcpy(dir, b.data_dir, sizeof(dir));
    cr_assert_eq(broker_start(&b, dir, NULL), 0, "log: %s", b.log_path);
    cr_assert_eq(broker_stop(&b), 0);
    char *log = broker_log_since(&b, 0);
    cr_assert_not_null(log, "%s", b.log_path);
    char want[256];
    snprintf(want, sizeof(want),
             "open files: limit %llu (soft limit was 64, hard %llu); %d partitions hold %d "
             "segment files",
             (unsigned long long)rl.rlim_max, (unsigned long long)rl.rlim_max, MANY + INTERNAL + 1,
             MANY + INTERNAL + segments);
    cr_assert(strstr(log, want), "want '%s' in: %s", want, log);
    free(log);
    broker_remove_data(&b);
}

Test(fds, topics_that_cannot_fit_are_refused_with_the_numbers)
{
    struct broker_proc b;
    int segments = make_data(&b);
    int need = MANY + INTERNAL + segments + RESERVE;
    /* Exactly enough: it starts. */
    set_nofile((rlim_t)need, (rlim_t)need);
    char dir[sizeof(b.data_dir)];
    memcpy(dir, b.data_dir, sizeof(dir));
    cr_assert_eq(broker_start(&b, dir, NULL), 0, "need %d, log: %s", need, b.log_path);
    cr_assert_eq(broker_stop(&b), 0);
    /* One short, counting the closed segments' files: refused. */
    set_nofile((rlim_t)need - 1, (rlim_t)need - 1);
    long before = broker_log_size(&b);
    int started = broker_start(&b, dir, NULL);
    if (started == 0) /* the failure to report, without leaving a broker behind */
        broker_stop(&b);
    cr_assert_neq(started, 0, "started with %d fds for a need of %d", need - 1, need);
    char *out = broker_log_since(&b, before);
    cr_assert_not_null(out, "%s", b.log_path);
    char want[256];
    snprintf(want, sizeof(want),
             "%d partitions hold %d segment files, which with %d for connections need %d file "
             "descriptors, but RLIMIT_NOFILE is %d (hard limit %d)",
             MANY + INTERNAL + 1, MANY + INTERNAL + segments, RESERVE, need, need - 1, need - 1);
    cr_assert(strstr(out, want), "want '%s' in: %s", want, out);
    free(out);
    broker_remove_data(&b);
}
