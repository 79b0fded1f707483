/*
 * One short run of each broker mode of ringlog-bench against a real
 * ringlogd (ephemeral port, temporary data dir, --flush none): the JSON
 * line must parse, and its counts must match what was asked for.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"

/* ---------------------------------------------------------- a tiny JSON checker */

struct jp {
    const char *p;
    int depth;
    /* Top-level and one-level-nested numbers, as "key" or "outer.key". */
    char keys[64][48];
    double vals[64];
    int n;
};

static void ws(struct jp *j)
{
    while (isspace((unsigned char)*j->p))
        j->p++;
}

static bool jstring(struct jp *j, char *out, size_t cap)
{
    if (*j->p != '"')
        return false;
    j->p++;
    size_t n = 0;
    while (*j->p && *j->p != '"') {
        if (*j->p == '\\' && j->p[1])
            j->p++;
        if (n + 1 < cap)
            out[n++] = *j->p;
        j->p++;
    }
    if (cap)
        out[n] = 0;
    if (*j->p != '"')
        return false;
    j->p++;
    return true;
}

static bool jvalue(struct jp *j, const char *path);

static bool jobject(struct jp *j, const char *prefix)
{
    if (*j->p != '{' || ++j->depth > 8)
        return false;
    j->p++;
    ws(j);
    if (*j->p == '}') {
        j->p++;
        return true;
    }
    for (;;) {
        char key[48], path[100];
        ws(j);
        if (!jstring(j, key, sizeof(key)))
            return false;
        ws(j);
        if (*j->p++ != ':')
            return false;
        ws(j);
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", key);
        if (!jvalue(j, path))
            return false;
        ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == '}') {
            j->p++;
            j->depth--;
            return true;
        }
        return false;
    }
}

static bool jvalue(struct jp *j, const char *path)
{
    if (*j->p == '{')
        return jobject(j, path);
    if (*j->p == '"') {
        char tmp[128];
        return jstring(j, tmp, sizeof(tmp));
    }
    char *end;
    double v = strtod(j->p, &end);
    if (end == j->p || !(isdigit((unsigned char)*j->p) || *j->p == '-'))
        return false;
    j->p = end;
    if (j->n < 64) {
        snprintf(j->keys[j->n], sizeof(j->keys[0]), "%s", path);
        j->vals[j->n++] = v;
    }
    return true;
}

static bool json_parse(const char *line, struct jp *j)
{
    memset(j, 0, sizeof(*j));
    j->p = line;
    ws(j);
    if (!jobject(j, ""))
        return false;
    ws(j);
    return *j->p == 0;
}

static bool jget(const struct jp *j, const char *key, double *v)
{
    for (int i = 0; i < j->n; i++)
        if (strcmp(j->keys[i], key) == 0) {
            *v = j->vals[i];
            return true;
        }
    return false;
}

static double jnum(const struct jp *j, const char *key)
{
    double v = NAN;
    cr_assert(jget(j, key, &v), "key %s missing", key);
    return v;
}

/* ---------------------------------------------------------- running the bench */

static struct broker_proc B;

static void start(void)
{
    const char *extra[] = {"--flush", "none", NULL};
    cr_assert_eq(broker_start(&B, NULL, extra), 0, "broker did not start");
}

static void stop(void)
{
    broker_stop(&B);
    broker_remove_data(&B);
}

/* Runs ringlog-bench `args` (with --json added); parses its one line. */
static void bench_line(const char *args, struct jp *j)
{
    char bin[PATH_MAX], cmd[2048], line[4096] = "";
    test_bin_path("ringlog-bench", bin, sizeof(bin));
    snprintf(cmd, sizeof(cmd), "%s %s --json", bin, args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t lines = 0;
    char buf[4096];
    while (fgets(buf, sizeof(buf), f)) {
        lines++;
        snprintf(line, sizeof(line), "%s", buf);
    }
    int st = pclose(f);
    cr_assert_eq(st, 0, "%s: exit status %d", cmd, st);
    cr_assert_eq(lines, 1, "exactly one line on stdout, got %zu", lines);
    line[strcspn(line, "\n")] = 0;
    cr_assert(json_parse(line, j), "not JSON: %s", line);
    cr_log_info("%s", line);
}

/* Runs a broker mode against the test's broker (--bootstrap, --broker-pid, --quiet added). */
static void bench(const char *args, struct jp *j)
{
    char full[1536];
    snprintf(full, sizeof(full), "%s --quiet --bootstrap 127.0.0.1:%u --broker-pid %d", args,
             B.port, (int)B.pid);
    bench_line(full, j);
}

static void check_latency(const struct jp *j)
{
    double p50 = jnum(j, "latency_us.p50"), p90 = jnum(j, "latency_us.p90"),
           p99 = jnum(j, "latency_us.p99"), p999 = jnum(j, "latency_us.p999"),
           mx = jnum(j, "latency_us.max");
    cr_assert(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= mx,
              "percentiles out of order: %f %f %f %f %f", p50, p90, p99, p999, mx);
}

Test(bench_modes, produce_then_consume, .init = start, .fini = stop, .timeout = 60)
{
    struct jp j;
    bench("produce --topic tp --partitions 2 --producers 2 --count 20000 --msg-size 100 --acks 1",
          &j);
    cr_assert_eq(jnum(&j, "messages"), 20000);
    cr_assert_eq(jnum(&j, "bytes"), 2000000);
    cr_assert_eq(jnum(&j, "errors"), 0);
    cr_assert_gt(jnum(&j, "seconds"), 0);
    double mps = jnum(&j, "msgs_per_sec"), secs = jnum(&j, "seconds");
    /* "seconds" is printed to the millisecond: a run of a few ms rounds by more than 1 %. */
    cr_assert_leq(fabs(mps * secs - 20000) / 20000, 0.01 + 0.0006 / secs);
    cr_assert_leq(fabs(jnum(&j, "mb_per_sec") - mps * 100 / 1e6) / (mps * 100 / 1e6), 0.01);
    check_latency(&j);
    cr_assert_geq(jnum(&j, "broker_cpu_s"), 0);
    cr_assert_gt(jnum(&j, "client_cpu_s"), 0);

    bench("consume --topic tp --consumers 2 --count 20000", &j);
    cr_assert_eq(jnum(&j, "messages"), 20000);
    cr_assert_eq(jnum(&j, "bytes"), 2000000);
    cr_assert_eq(jnum(&j, "errors"), 0);
    double dummy;
    cr_assert_not(jget(&j, "latency_us.p50", &dummy), "consume reports no latency");
}

Test(bench_modes, e2e_paced, .init = start, .fini = stop, .timeout = 60)
{
    struct jp j;
    bench("e2e --topic te --partitions 3 --producers 2 --consumers 2 --count 3000 --rate 3000 "
          "--msg-size 64 --linger-ms 0 --acks all",
          &j);
    cr_assert_eq(jnum(&j, "messages"), 3000);
    cr_assert_eq(jnum(&j, "produced"), 3000);
    cr_assert_eq(jnum(&j, "bytes"), 3000 * 64);
    cr_assert_eq(jnum(&j, "errors"), 0);
    /* 3000 messages at 3000/s take about a second, not less. */
    cr_assert_geq(jnum(&j, "seconds"), 0.9);
    check_latency(&j);
}

Test(bench_modes, produce_duration_rate_warmup_csv, .init = start, .fini = stop, .timeout = 60)
{
    struct jp j;
    char csv[700], args[1024];
    snprintf(csv, sizeof(csv), "%s.csv", B.data_dir);
    snprintf(args, sizeof(args),
             "produce --topic tr --rate 2000 --duration 1 --warmup 1 --msg-size 1024 "
             "--linger-ms 0 --csv %s",
             csv);
    bench(args, &j);
    /* Only the second after the warmup counts: 2000 messages, on schedule. */
    double n = jnum(&j, "messages");
    cr_assert(n >= 1990 && n <= 2010, "messages %f", n);
    cr_assert_eq(jnum(&j, "errors"), 0);
    check_latency(&j);
    FILE *f = fopen(csv, "r");
    cr_assert_not_null(f);
    char buf[512];
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    cr_assert_eq(strncmp(buf, "second,msgs,msgs_per_sec,mb_per_sec,p50_us,p99_us", 48), 0);
    int rows = 0, warm = 0;
    while (fgets(buf, sizeof(buf), f)) {
        rows++;
        warm += buf[strlen(buf) - 2] == '1';
    }
    fclose(f);
    unlink(csv);
    cr_assert_geq(rows, 1);
    cr_assert_geq(warm, 1, "the first second is marked as warmup");
}

/* Exact counts whether messages go one per call or in batches (paced: those due at once). */
Test(bench_modes, produce_batch_sizes, .init = start, .fini = stop, .timeout = 60)
{
    struct jp j;
    bench("produce --topic t1 --partitions 2 --count 5001 --msg-size 100 --produce-batch 1", &j);
    cr_assert_eq(jnum(&j, "messages"), 5001);
    cr_assert_eq(jnum(&j, "errors"), 0);
    bench("produce --topic t7 --partitions 2 --count 5003 --msg-size 100 --produce-batch 7", &j);
    cr_assert_eq(jnum(&j, "messages"), 5003);
    cr_assert_eq(jnum(&j, "errors"), 0);
    check_latency(&j);
    bench("e2e --topic tb --partitions 2 --count 20000 --rate 200000 --msg-size 64 "
          "--produce-batch 32",
          &j);
    cr_assert_eq(jnum(&j, "messages"), 20000);
    cr_assert_eq(jnum(&j, "produced"), 20000);
    cr_assert_eq(jnum(&j, "errors"), 0);
    check_latency(&j);
}

/* The disk yardstick: by size or by time, over several files, leaving none behind. */
Test(bench_modes, disk_by_bytes_and_by_duration)
{
    char dir[] = "/tmp/ringlog-diskbench-XXXXXX", args[512];
    cr_assert_not_null(mkdtemp(dir));
    struct jp j;
    snprintf(args, sizeof(args), "disk --dir %s --bytes 8M --batch-bytes 1M --files 2", dir);
    bench_line(args, &j);
    cr_assert_eq(jnum(&j, "bytes"), 8 << 20);
    cr_assert_eq(jnum(&j, "files"), 2);
    cr_assert_eq(jnum(&j, "fdatasyncs"), 2, "one fsync per file at the end");
    cr_assert_gt(jnum(&j, "mb_per_sec"), 0);

    snprintf(args, sizeof(args), "disk --dir %s --duration 0.3 --batch-bytes 64K --files 3", dir);
    bench_line(args, &j);
    cr_assert_geq(jnum(&j, "seconds"), 0.3);
    double bytes = jnum(&j, "bytes");
    cr_assert_gt(bytes, 0);
    cr_assert_eq(fmod(bytes, 64 * 1024), 0, "whole writes only");
    cr_assert_eq(jnum(&j, "files"), 3);
    cr_assert_geq(jnum(&j, "fsync_seconds"), 0);
    cr_assert_eq(rmdir(dir), 0, "the bench left no file behind");
}

/*
 * Paced writes (the floor under light-load latency): --rate spaces them, so
 * 0.5 s at 2,000/s is at most 1,000 writes plus the 15 that may finish the
 * last group of 16 (unpaced, a page-cache write() loop does far more), and
 * each write is timed.
 */
Test(bench_modes, disk_paced_writes_are_timed)
{
    char dir[] = "/tmp/ringlog-diskbench-XXXXXX", args[512];
    cr_assert_not_null(mkdtemp(dir));
    struct jp j;
    snprintf(args, sizeof(args),
             "disk --dir %s --duration 0.5 --batch-bytes 1K --rate 2000 --sync end", dir);
    bench_line(args, &j);
    double writes = jnum(&j, "writes");
    cr_assert_leq(writes, 1015, "paced: %.0f writes", writes);
    cr_assert_geq(writes, 16);
    cr_assert_eq(jnum(&j, "bytes"), writes * 1024);
    cr_assert_eq(jnum(&j, "rate"), 2000);
    check_latency(&j);

    snprintf(args, sizeof(args),
             "disk --dir %s --bytes 64K --batch-bytes 4K --sync each --rate 1000", dir);
    bench_line(args, &j);
    cr_assert_eq(jnum(&j, "writes"), 16);
    cr_assert_eq(jnum(&j, "fdatasyncs"), 17, "one per write and the final fsync");
    check_latency(&j);
    cr_assert_eq(rmdir(dir), 0, "the bench left no file behind");
}

/* Runs ringlog-bench with `args` (stderr discarded); returns its exit status. */
static int bench_exit_status(const char *args)
{
    char bin[PATH_MAX], cmd[PATH_MAX + 128];
    test_bin_path("ringlog-bench", bin, sizeof(bin));
    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", bin, args);
    return WEXITSTATUS(system(cmd));
}

Test(bench_modes, bad_flags_exit_2)
{
    cr_assert_eq(bench_exit_status("produce --count 5"), 2, "no --topic");
    cr_assert_eq(bench_exit_status("e2e --topic x --msg-size 8"), 2,
                 "e2e needs room for the stamp");
    cr_assert_eq(bench_exit_status("produce --topic x --produce-batch 0"), 2,
                 "at least one message per call");
    cr_assert_eq(bench_exit_status("disk --dir /tmp --duration 1 --files 0"), 2,
                 "at least one file");
    cr_assert_eq(bench_exit_status("disk --dir /tmp"), 2, "--bytes or --duration");
    cr_assert_eq(bench_exit_status("disk --dir /tmp --bytes 1M --rate -5"), 2, "a positive rate");
}
