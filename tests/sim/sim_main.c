/*
 * ringlog-sim: runs seeds of the deterministic replication simulation.
 *
 *   ringlog-sim --seed S [--trace]            one seed (replay, step by step)
 *   ringlog-sim --start S --seeds N [--jobs J] seeds S..S+N-1 on J processes;
 *       stdout: a "FAIL seed=..." line per failing seed, then exactly
 *       "sim: N seeds, F failures"; stderr: throughput.
 *   --short            shorter chaos phase (the make test budget)
 *   --replicas 3|5     default: chosen by each seed
 *   --groups 1..4      replica groups sharing the hosts; default: chosen by each seed
 *   --scenarios        always run the pre-vote / check-quorum scenarios
 *   --nasty            harsher faults: small appends, lossy links, dying leaders
 *   --figure8          directed adversary: schedules steered toward Raft's figure 8
 *   --fault NAME       turn on a test-only fault knob of the core or the driver
 *   --end-to-end       only end-to-end invariants (committed data, leaders, logs):
 *                      shows what a fault breaks, not its first symptom
 *   --expect-failure-within N   mutation check: run seeds from --start until
 *       one fails; exit 0 if that happens within N seeds, 1 otherwise
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

struct seed_record {
    uint64_t seed;
    uint64_t steps;
    int64_t virtual_ms;
    uint32_t failed;
    char reason[512];
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: ringlog-sim (--seed S [--trace] | --start S --seeds N [--jobs J]) [--short]\n"
        "                   [--replicas 3|5] [--groups 1..4] [--scenarios] [--nasty] [--figure8]\n"
        "                   [--fault NAME] [--expect-failure-within N]\n"
        "faults: %s\n",
        sim_fault_names());
    exit(2);
}

static void run_one(const struct sim_options *base, uint64_t seed, struct seed_record *rec)
{
    struct sim_options opt = *base;
    opt.seed = seed;
    struct sim_result res;
    sim_run(&opt, &res);
    memset(rec, 0, sizeof(*rec));
    rec->seed = seed;
    rec->steps = res.steps;
    rec->virtual_ms = res.virtual_ms;
    rec->failed = res.failed;
    if (res.failed)
        snprintf(rec->reason, sizeof(rec->reason), "%s", res.reason);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Seeds start, start + jobs, ... < start + count, on one worker. */
static void worker(const struct sim_options *opt, uint64_t first, uint64_t end, uint64_t stride,
                   int fd)
{
    for (uint64_t s = first; s < end; s += stride) {
        struct seed_record rec;
        run_one(opt, s, &rec);
        if (write_all(fd, &rec, sizeof(rec)) != 0)
            _exit(3);
    }
    close(fd);
    _exit(0);
}

static char replay_args[128];

/* The options a FAIL line's replay command repeats. */
static void set_replay_args(const struct sim_options *opt)
{
    snprintf(replay_args, sizeof(replay_args), "%s%s%s%s%s%s%s",
             opt->short_schedule ? " --short" : "", opt->nasty ? " --nasty" : "",
             opt->figure8 ? " --figure8" : "", opt->scenario_checks ? " --scenarios" : "",
             opt->end_to_end ? " --end-to-end" : "", opt->fault ? " --fault " : "",
             opt->fault ? opt->fault : "");
    size_t n = strlen(replay_args);
    if (opt->replicas)
        n += (size_t)snprintf(replay_args + n, sizeof(replay_args) - n, " --replicas %d",
                              opt->replicas);
    if (opt->groups && n < sizeof(replay_args))
        snprintf(replay_args + n, sizeof(replay_args) - n, " --groups %d", opt->groups);
}

static int run_range(const struct sim_options *opt, uint64_t start, uint64_t count, int jobs)
{
    set_replay_args(opt);
    if (jobs < 1)
        jobs = 1;
    if ((uint64_t)jobs > count)
        jobs = count ? (int)count : 1;
    int fds[64];
    pid_t pids[64];
    size_t got[64];
    struct seed_record partial[64];
    double t0 = now_seconds();
    fflush(stdout);
    for (int j = 0; j < jobs; j++) {
        int p[2];
        if (pipe(p) != 0) {
            perror("pipe");
            return 2;
        }
        pids[j] = fork();
        if (pids[j] == 0) {
            close(p[0]);
            worker(opt, start + (uint64_t)j, start + count, (uint64_t)jobs, p[1]);
        }
        close(p[1]);
        fds[j] = p[0];
        got[j] = 0;
    }
    uint64_t seeds = 0, failures = 0, steps = 0;
    int64_t virtual_ms = 0;
    int open_fds = jobs;
    while (open_fds > 0) {
        struct pollfd pfd[64];
        int map[64], np = 0;
        for (int j = 0; j < jobs; j++) {
            if (fds[j] >= 0) {
                pfd[np].fd = fds[j];
                pfd[np].events = POLLIN;
                map[np++] = j;
            }
        }
        if (poll(pfd, (nfds_t)np, -1) < 0 && errno != EINTR) {
            perror("poll");
            return 2;
        }
        for (int k = 0; k < np; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int j = map[k];
            ssize_t n = read(fds[j], (char *)&partial[j] + got[j], sizeof(partial[j]) - got[j]);
            if (n <= 0) {
                close(fds[j]);
                fds[j] = -1;
                open_fds--;
                continue;
            }
            got[j] += (size_t)n;
            if (got[j] < sizeof(partial[j]))
                continue;
            got[j] = 0;
            struct seed_record *r = &partial[j];
            seeds++;
            steps += r->steps;
            virtual_ms += r->virtual_ms;
            if (r->failed) {
                failures++;
                printf("FAIL seed=%llu: %s (replay: tests/sim/replay %llu%s)\n",
                       (unsigned long long)r->seed, r->reason, (unsigned long long)r->seed,
                       replay_args);
                fflush(stdout);
            }
        }
    }
    for (int j = 0; j < jobs; j++) {
        int status;
        waitpid(pids[j], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            printf("FAIL worker %d died (status %d): a seed crashed the process\n", j, status);
    }
    /* Seeds whose worker died count as failures. */
    if (seeds < count) {
        failures += count - seeds;
        seeds = count;
    }
    double dt = now_seconds() - t0;
    fprintf(stderr,
            "ringlog-sim: %llu steps in %.1fs wall (%.0f steps/s, %.1f simulated seconds)\n",
            (unsigned long long)steps, dt, dt > 0 ? (double)steps / dt : 0.0,
            (double)virtual_ms / 1000.0);
    printf("sim: %llu seeds, %llu failures\n", (unsigned long long)seeds,
           (unsigned long long)failures);
    return failures == 0 ? 0 : 1;
}

/* Mutation check: seeds from start until one fails; 0 if one does within
 * `within` seeds. */
static int expect_failure(const struct sim_options *opt, uint64_t start, uint64_t within)
{
    for (uint64_t k = 0; k < within; k++) {
        struct seed_record rec;
        run_one(opt, start + k, &rec);
        if (rec.failed) {
            printf("fault %s caught after %llu seed(s): seed=%llu: %s\n",
                   opt->fault ? opt->fault : "(none)", (unsigned long long)(k + 1),
                   (unsigned long long)rec.seed, rec.reason);
            return 0;
        }
    }
    printf("fault %s NOT caught in %llu seeds\n", opt->fault ? opt->fault : "(none)",
           (unsigned long long)within);
    return 1;
}

/* The options without a value; false if a is none of them. */
static bool flag_option(struct sim_options *opt, const char *a)
{
    static const struct {
        const char *name;
        size_t offset;
    } flags[] = {
        {"--short", offsetof(struct sim_options, short_schedule)},
        {"--trace", offsetof(struct sim_options, trace)},
        {"--nasty", offsetof(struct sim_options, nasty)},
        {"--figure8", offsetof(struct sim_options, figure8)},
        {"--end-to-end", offsetof(struct sim_options, end_to_end)},
        {"--scenarios", offsetof(struct sim_options, scenario_checks)},
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (strcmp(a, flags[i].name) == 0) {
            *(bool *)((char *)opt + flags[i].offset) = true;
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    struct sim_options opt;
    memset(&opt, 0, sizeof(opt));
    uint64_t seed = 0, start = 1, count = 0, expect_within = 0;
    bool single = false;
    int jobs = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seed") == 0 && v) {
            seed = strtoull(v, NULL, 10);
            single = true;
            i++;
        } else if (strcmp(a, "--start") == 0 && v) {
            start = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--seeds") == 0 && v) {
            count = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--jobs") == 0 && v) {
            jobs = atoi(v);
            if (jobs > 64)
                jobs = 64;
            i++;
        } else if (strcmp(a, "--replicas") == 0 && v) {
            opt.replicas = atoi(v);
            if (opt.replicas != 3 && opt.replicas != 5)
                usage();
            i++;
        } else if (strcmp(a, "--groups") == 0 && v) {
            opt.groups = atoi(v);
            if (opt.groups < 1 || opt.groups > SIM_MAX_GROUPS)
                usage();
            i++;
        } else if (strcmp(a, "--fault") == 0 && v) {
            if (!sim_fault_known(v))
                usage();
            opt.fault = v;
            i++;
        } else if (strcmp(a, "--expect-failure-within") == 0 && v) {
            expect_within = strtoull(v, NULL, 10);
            i++;
        } else if (!flag_option(&opt, a)) {
            usage();
        }
    }
    if (single) {
        struct seed_record rec;
        run_one(&opt, seed, &rec);
        if (rec.failed)
            printf("FAIL seed=%llu: %s\n", (unsigned long long)seed, rec.reason);
        else
            printf("ok seed=%llu: %llu steps, %lld simulated ms\n", (unsigned long long)seed,
                   (unsigned long long)rec.steps, (long long)rec.virtual_ms);
        return rec.failed ? 1 : 0;
    }
    if (expect_within > 0)
        return expect_failure(&opt, start, expect_within);
    if (count == 0)
        usage();
    return run_range(&opt, start, count, jobs);
}
