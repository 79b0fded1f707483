/*
 * ringlog-bench net: the loopback TCP bandwidth of this machine, the
 * yardstick for the broker's network path. One TCP connection over
 * 127.0.0.1 (a listener, connect, accept): a writer thread send()s
 * --chunk-byte buffers as fast as it can, the reader recv()s and discards
 * them. Plain blocking sockets, default buffer sizes: the simplest thing
 * that can move bytes through the kernel's loopback, one stream.
 *
 * Also measures the round trip of a 1 KiB message (ping-pong, --rtt-count
 * of them), the floor under any request/ack latency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "load.h"

struct net_job {
    int fd;
    int64_t bytes, chunk;
    int64_t moved;
};

static void *net_reader(void *arg)
{
    struct net_job *j = arg;
    char *buf = malloc((size_t)j->chunk);
    while (j->moved < j->bytes) {
        ssize_t n = recv(j->fd, buf, (size_t)j->chunk, 0);
        if (n <= 0)
            break;
        j->moved += n;
    }
    free(buf);
    return NULL;
}

/* A connected pair of TCP sockets over 127.0.0.1. */
static int tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0)
        return -1;
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)) != 0)
        return -1;
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    if (fds[1] < 0)
        return -1;
    int one = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

static void *rtt_echo(void *arg)
{
    int fd = *(int *)arg;
    char buf[1024];
    for (;;) {
        size_t got = 0;
        while (got < sizeof(buf)) {
            ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
            if (n <= 0)
                return NULL;
            got += (size_t)n;
        }
        if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) != (ssize_t)sizeof(buf))
            return NULL;
    }
}

int bench_net(int argc, char **argv)
{
    int64_t bytes = 4ll << 30, chunk = 256 << 10, rtt_count = 20000;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--bytes") == 0 && v) {
            bytes = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--chunk-bytes") == 0 && v) {
            chunk = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--rtt-count") == 0 && v) {
            rtt_count = strtoll(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "ringlog-bench net: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (bytes <= 0 || chunk <= 0 || rtt_count < 0) {
        fprintf(stderr, "ringlog-bench net: --bytes and --chunk-bytes must be positive\n");
        return 2;
    }
    int fds[2];
    if (tcp_pair(fds) != 0) {
        fprintf(stderr, "ringlog-bench net: loopback connection: %s\n", strerror(errno));
        return 1;
    }
    struct net_job j = {.fd = fds[1], .bytes = bytes, .chunk = chunk};
    pthread_t th;
    char *buf = malloc((size_t)chunk);
    memset(buf, 0x5a, (size_t)chunk);
    double t0 = bench_now();
    pthread_create(&th, NULL, net_reader, &j);
    int64_t sent = 0;
    while (sent < bytes) {
        size_t n = (size_t)(bytes - sent < chunk ? bytes - sent : chunk);
        ssize_t w = send(fds[0], buf, n, MSG_NOSIGNAL);
        if (w <= 0) {
            fprintf(stderr, "ringlog-bench net: send: %s\n", strerror(errno));
            break;
        }
        sent += w;
    }
    pthread_join(th, NULL);
    double secs = bench_now() - t0;
    close(fds[0]);
    close(fds[1]);
    free(buf);

    /* Round trip of 1 KiB, ping-pong. */
    static struct hist h;
    hist_init(&h);
    if (rtt_count > 0 && tcp_pair(fds) == 0) {
        pthread_create(&th, NULL, rtt_echo, &fds[1]);
        char msg[1024];
        memset(msg, 1, sizeof(msg));
        for (int64_t i = 0; i < rtt_count; i++) {
            uint64_t s = bench_mono_ns();
            if (send(fds[0], msg, sizeof(msg), MSG_NOSIGNAL) != (ssize_t)sizeof(msg))
                break;
            size_t got = 0;
            while (got < sizeof(msg)) {
                ssize_t n = recv(fds[0], msg + got, sizeof(msg) - got, 0);
                if (n <= 0)
                    break;
                got += (size_t)n;
            }
            hist_record(&h, bench_mono_ns() - s);
        }
        shutdown(fds[0], SHUT_RDWR);
        pthread_join(th, NULL);
        close(fds[0]);
        close(fds[1]);
    }
    double mbps = (double)j.moved / 1e6 / secs;
    if (json)
        printf("{\"mode\":\"net\",\"bytes\":%lld,\"chunk_bytes\":%lld,\"seconds\":%.3f,"
               "\"mb_per_sec\":%.1f,\"rtt_us\":{\"p50\":%.1f,\"p99\":%.1f}}\n",
               (long long)j.moved, (long long)chunk, secs, mbps, hist_quantile(&h, 0.5) / 1e3,
               hist_quantile(&h, 0.99) / 1e3);
    else
        printf("net: %lld bytes over loopback TCP in %lld-byte sends: %.3f s, %.1f MB/s; "
               "1 KiB round trip p50 %.1f us, p99 %.1f us\n",
               (long long)j.moved, (long long)chunk, secs, mbps, hist_quantile(&h, 0.5) / 1e3,
               hist_quantile(&h, 0.99) / 1e3);
    return j.moved == bytes ? 0 : 1;
}
