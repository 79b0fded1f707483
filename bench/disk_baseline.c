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

int bench_disk(int argc, char **argv)
{
    const char *dir = NULL;
    int64_t bytes = -1, batch = 64 << 10;
    bool each = false, json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dir") == 0 && v) {
            dir = v;
            i++;
        } else if (strcmp(a, "--bytes") == 0 && v) {
            bytes = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--batch-bytes") == 0 && v) {
            batch = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--sync") == 0 && v) {
            if (strcmp(v, "each") == 0)
                each = true;
            else if (strcmp(v, "end") != 0) {
                fprintf(stderr, "ringlog-bench disk: --sync end|each\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "ringlog-bench disk: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (dir == NULL || bytes <= 0 || batch <= 0) {
        fprintf(stderr, "ringlog-bench disk: --dir DIR and --bytes N are required\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/ringlog-diskbench.%d", dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ringlog-bench disk: %s: %s\n", path, strerror(errno));
        return 1;
    }
    uint8_t *buf = malloc((size_t)batch);
    for (int64_t i = 0; i < batch; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint64_t syncs = 0;
    double t0 = bench_now();
    int64_t done = 0;
    while (done < bytes) {
        size_t n = (size_t)(bytes - done < batch ? bytes - done : batch);
        ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            fprintf(stderr, "ringlog-bench disk: write: %s\n", strerror(errno));
            return 1;
        }
        done += w;
        if (each) {
            if (fdatasync(fd) != 0) {
                fprintf(stderr, "ringlog-bench disk: fdatasync: %s\n", strerror(errno));
                return 1;
            }
            syncs++;
        }
    }
    if (fsync(fd) != 0) {
        fprintf(stderr, "ringlog-bench disk: fsync: %s\n", strerror(errno));
        return 1;
    }
    syncs++;
    double secs = bench_now() - t0;
    close(fd);
    unlink(path);
    free(buf);
    double mbps = (double)bytes / 1e6 / secs;
    if (json)
        printf("{\"mode\":\"disk\",\"sync\":\"%s\",\"batch_bytes\":%lld,\"bytes\":%lld,"
               "\"seconds\":%.3f,\"mb_per_sec\":%.1f,\"fdatasyncs\":%llu}\n",
               each ? "each" : "end", (long long)batch, (long long)bytes, secs, mbps,
               (unsigned long long)syncs);
    else
        printf("disk: %lld bytes in %lld-byte writes, %s: %.3f s, %.1f MB/s, %llu syncs\n",
               (long long)bytes, (long long)batch, each ? "fdatasync each" : "one fsync at the end",
               secs, mbps, (unsigned long long)syncs);
    return 0;
}
