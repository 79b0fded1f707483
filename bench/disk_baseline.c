/*
 * ringlog-bench disk: the raw sequential write bandwidth of a directory's
 * disk, the yardstick for the storage engine. A plain write() loop of
 * batch-sized buffers into a new file, ended by one fsync (--sync end), or
 * with an fdatasync after every write (--sync each). Blocking syscalls, one
 * thread: the simplest thing that can write a file.
 *
 * Each write (with its fdatasync under --sync each) is also timed. With
 * --rate N the writes are paced, N a second, and each is timed from its
 * intended start like a broker-bench message: `disk --sync each
 * --batch-bytes 1K --rate 5000` is the disk's own floor under the broker's
 * light-load latency with flush=always.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "load.h"

#define DISK_MAX_FILES 64

int64_t bench_parse_size(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    switch (*end) {
    case 0:
        return v;
    case 'k':
    case 'K':
        v <<= 10;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        break;
    default:
        return -1;
    }
    return end[1] == 0 || (end[1] == 'i' && end[2] == 'B' && end[3] == 0) ? v : -1;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The options of `ringlog-bench disk`. */
struct disk_opts {
    const char *dir;
    int64_t bytes, batch;
    double duration; /* > 0: write for this long instead of --bytes */
    double rate;     /* > 0: writes per second, paced */
    int files;       /* writes go round-robin over this many files */
    bool each, json;
};

static int disk_parse(int argc, char **argv, struct disk_opts *o)
{
    *o = (struct disk_opts){.bytes = -1, .batch = 64 << 10, .files = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dir") == 0 && v) {
            o->dir = argv[++i];
        } else if (strcmp(a, "--bytes") == 0 && v) {
            o->bytes = bench_parse_size(argv[++i]);
        } else if (strcmp(a, "--batch-bytes") == 0 && v) {
            o->batch = bench_parse_size(argv[++i]);
        } else if (strcmp(a, "--duration") == 0 && v) {
            o->duration = atof(argv[++i]);
        } else if (strcmp(a, "--rate") == 0 && v) {
            o->rate = atof(argv[++i]);
        } else if (strcmp(a, "--files") == 0 && v) {
            o->files = atoi(argv[++i]);
        } else if (strcmp(a, "--sync") == 0 && v) {
            if (strcmp(v, "each") == 0)
                o->each = true;
            else if (strcmp(v, "end") != 0) {
                fprintf(stderr, "ringlog-bench disk: --sync end|each\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else {
            fprintf(stderr, "ringlog-bench disk: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (o->dir == NULL || (o->bytes <= 0 && o->duration <= 0) || o->batch <= 0) {
        fprintf(stderr,
                "ringlog-bench disk: --dir DIR and --bytes N or --duration S are required\n");
        return 2;
    }
    if (o->rate < 0) {
        fprintf(stderr, "ringlog-bench disk: --rate must be positive\n");
        return 2;
    }
    if (o->files < 1 || o->files > DISK_MAX_FILES) {
        fprintf(stderr, "ringlog-bench disk: --files must be 1..%d\n", DISK_MAX_FILES);
        return 2;
    }
    return 0;
}

static void disk_close_all(const struct disk_opts *o, int *fds, char (*paths)[4096])
{
    for (int f = 0; f < o->files; f++) {
        if (fds[f] >= 0) {
            close(fds[f]);
            unlink(paths[f]);
        }
    }
}

/* What the write loop did. */
struct disk_run {
    int64_t done;
    uint64_t writes, syncs;
    struct hist *lat; /* each write (+ fdatasync), ns */
};

/*
 * The write loop. With --duration the rate counts the bytes write() took
 * within that time, the way a broker under flush=none counts what it
 * acknowledged: once page cache is full, write() is throttled to the
 * disk's writeback rate, so a run long enough measures the sustained rate.
 * With --rate each write waits for its slot and is timed from it (or from
 * when it started, if that was earlier), so a slow fdatasync is charged to
 * the writes it delays, as the broker bench charges a stalled broker.
 */
static int disk_write_loop(const struct disk_opts *o, const int *fds, const uint8_t *buf,
                           struct disk_run *run)
{
    struct bench_schedule sched = {.start_ns = bench_mono_ns(), .rate = o->rate, .producers = 1};
    uint64_t t_end = sched.start_ns + (uint64_t)(o->duration * 1e9);
    for (;;) {
        if (o->duration > 0 ? (run->writes % 16 == 0 && bench_mono_ns() >= t_end)
                            : run->done >= o->bytes)
            return 0;
        uint64_t start = bench_mono_ns();
        if (o->rate > 0) {
            uint64_t due = bench_intended_ns(&sched, run->writes);
            if (due > start)
                bench_sleep_until_ns(due, NULL);
            start = bench_start_ns(due, bench_mono_ns());
        }
        int fd = fds[run->writes % (uint64_t)o->files];
        size_t n =
            (size_t)(o->duration <= 0 && o->bytes - run->done < o->batch ? o->bytes - run->done
                                                                         : o->batch);
        ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            fprintf(stderr, "ringlog-bench disk: write: %s\n", strerror(errno));
            return 1;
        }
        run->done += w;
        run->writes++;
        if (o->each) {
            if (fdatasync(fd) != 0) {
                fprintf(stderr, "ringlog-bench disk: fdatasync: %s\n", strerror(errno));
                return 1;
            }
            run->syncs++;
        }
        hist_record(run->lat, bench_latency_ns(start, bench_mono_ns()));
    }
}

static void disk_report(const struct disk_opts *o, const struct disk_run *run, double secs,
                        double fsync_secs)
{
    double mbps = (double)run->done / 1e6 / secs;
    const struct hist *h = run->lat;
    if (o->json)
        printf("{\"mode\":\"disk\",\"sync\":\"%s\",\"batch_bytes\":%lld,\"files\":%d,"
               "\"bytes\":%lld,\"seconds\":%.3f,\"mb_per_sec\":%.1f,\"writes\":%llu,"
               "\"fdatasyncs\":%llu,\"fsync_seconds\":%.3f,\"rate\":%.0f,"
               "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
               "\"max\":%.1f}}\n",
               o->each ? "each" : "end", (long long)o->batch, o->files, (long long)run->done, secs,
               mbps, (unsigned long long)run->writes, (unsigned long long)run->syncs, fsync_secs,
               o->rate, hist_quantile(h, 0.5) / 1e3, hist_quantile(h, 0.9) / 1e3,
               hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3,
               hist_quantile(h, 1) / 1e3);
    else
        printf("disk: %lld bytes in %lld-byte writes over %d file(s), %s: %.3f s, %.1f MB/s, "
               "%llu syncs (final fsync %.3f s); per write p50 %.1f µs, p99 %.1f µs, "
               "p99.9 %.1f µs\n",
               (long long)run->done, (long long)o->batch, o->files,
               o->each ? "fdatasync each" : "one fsync at the end", secs, mbps,
               (unsigned long long)run->syncs, fsync_secs, hist_quantile(h, 0.5) / 1e3,
               hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3);
}

/* The final fsync is timed separately (fsync_seconds). With --bytes the rate includes it. */
int bench_disk(int argc, char **argv)
{
    struct disk_opts o;
    int rc = disk_parse(argc, argv, &o);
    if (rc != 0)
        return rc;
    int fds[DISK_MAX_FILES];
    char paths[DISK_MAX_FILES][4096];
    for (int f = 0; f < DISK_MAX_FILES; f++)
        fds[f] = -1;
    for (int f = 0; f < o.files; f++) {
        snprintf(paths[f], sizeof(paths[f]), "%s/ringlog-diskbench.%d.%d", o.dir, (int)getpid(), f);
        fds[f] = open(paths[f], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fds[f] < 0) {
            fprintf(stderr, "ringlog-bench disk: %s: %s\n", paths[f], strerror(errno));
            disk_close_all(&o, fds, paths);
            return 1;
        }
    }
    uint8_t *buf = malloc((size_t)o.batch);
    struct disk_run run = {.lat = malloc(sizeof(struct hist))};
    if (!buf || !run.lat) {
        fprintf(stderr, "ringlog-bench disk: out of memory\n");
        disk_close_all(&o, fds, paths);
        free(buf);
        free(run.lat);
        return 1;
    }
    hist_init(run.lat);
    for (int64_t i = 0; i < o.batch; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* paced sleeps wake on time */
    double t0 = bench_now();
    rc = disk_write_loop(&o, fds, buf, &run);
    double t_written = bench_now();
    for (int f = 0; f < o.files && rc == 0; f++) {
        if (fsync(fds[f]) != 0) {
            fprintf(stderr, "ringlog-bench disk: fsync: %s\n", strerror(errno));
            rc = 1;
        }
        run.syncs++;
    }
    double t_synced = bench_now();
    disk_close_all(&o, fds, paths);
    free(buf);
    if (rc == 0)
        disk_report(&o, &run, o.duration > 0 ? t_written - t0 : t_synced - t0,
                    t_synced - t_written);
    free(run.lat);
    return rc;
}
