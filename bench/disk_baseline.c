/*
 * ringlog-bench disk: the raw sequential write bandwidth of a directory's
 * disk, the yardstick for the storage engine. A plain write() loop of
 * batch-sized buffers into a new file, ended by one fsync (--sync end), or
 * with an fdatasync after every write (--sync each). Blocking syscalls, one
 * thread: the simplest thing that can write a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

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

/*
 * The write loop. With --duration the rate counts the bytes write() took
 * within that time, the way a broker under flush=none counts what it
 * acknowledged: once page cache is full, write() is throttled to the
 * disk's writeback rate, so a run long enough measures the sustained rate.
 * The final fsync is timed separately (fsync_seconds). With --bytes the
 * rate includes the final fsync, as before.
 */
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
    if (!buf) {
        fprintf(stderr, "ringlog-bench disk: out of memory\n");
        disk_close_all(&o, fds, paths);
        return 1;
    }
    for (int64_t i = 0; i < o.batch; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint64_t syncs = 0, writes = 0;
    double t0 = bench_now(), t_end = t0 + o.duration;
    int64_t done = 0;
    rc = 0;
    while (o.duration > 0 ? (writes % 16 != 0 || bench_now() < t_end) : done < o.bytes) {
        int fd = fds[writes % (uint64_t)o.files];
        size_t n = (size_t)(o.duration <= 0 && o.bytes - done < o.batch ? o.bytes - done : o.batch);
        ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            fprintf(stderr, "ringlog-bench disk: write: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        done += w;
        writes++;
        if (o.each) {
            if (fdatasync(fd) != 0) {
                fprintf(stderr, "ringlog-bench disk: fdatasync: %s\n", strerror(errno));
                rc = 1;
                break;
            }
            syncs++;
        }
    }
    double t_written = bench_now();
    for (int f = 0; f < o.files && rc == 0; f++) {
        if (fsync(fds[f]) != 0) {
            fprintf(stderr, "ringlog-bench disk: fsync: %s\n", strerror(errno));
            rc = 1;
        }
        syncs++;
    }
    double t_synced = bench_now();
    disk_close_all(&o, fds, paths);
    free(buf);
    if (rc != 0)
        return rc;
    double secs = o.duration > 0 ? t_written - t0 : t_synced - t0;
    double mbps = (double)done / 1e6 / secs;
    if (o.json)
        printf(
            "{\"mode\":\"disk\",\"sync\":\"%s\",\"batch_bytes\":%lld,\"files\":%d,\"bytes\":%lld,"
            "\"seconds\":%.3f,\"mb_per_sec\":%.1f,\"fdatasyncs\":%llu,\"fsync_seconds\":%.3f}\n",
            o.each ? "each" : "end", (long long)o.batch, o.files, (long long)done, secs, mbps,
            (unsigned long long)syncs, t_synced - t_written);
    else
        printf("disk: %lld bytes in %lld-byte writes over %d file(s), %s: %.3f s, %.1f MB/s, "
               "%llu syncs (final fsync %.3f s)\n",
               (long long)done, (long long)o.batch, o.files,
               o.each ? "fdatasync each" : "one fsync at the end", secs, mbps,
               (unsigned long long)syncs, t_synced - t_written);
    return 0;
}
