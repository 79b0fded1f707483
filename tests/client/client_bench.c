/*
 * A quick throughput loop for the client library against a running broker
 * (docs/BENCHMARKS.md): produce N messages of SIZE bytes, then consume them
 * back, printing wall time, rates and this process's CPU time per message
 * (getrusage: the client's own cost, broker excluded).
 *
 *   client_bench HOST:PORT TOPIC COUNT SIZE [acks] [compression] [linger-ms]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ringlog.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long failed;

static void on_delivery(const ringlog_delivery *d, void *opaque)
{
    (void)opaque;
    if (d->err)
        __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
}

static void report(const char *what, long n, size_t size, double wall, double cpu)
{
    printf("%-8s %8ld msgs  %7.3f s  %10.0f msgs/s  %7.1f MB/s  client CPU %6.3f s = %6.0f ns/msg "
           "(%.0f%% of one core)\n",
           what, n, wall, (double)n / wall, (double)n * (double)size / wall / 1e6, cpu,
           cpu / (double)n * 1e9, cpu / wall * 100);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST:PORT TOPIC COUNT SIZE [acks] [compression] [linger-ms]\n",
                argv[0]);
        return 2;
    }
    const char *topic = argv[2];
    long count = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    char err[256];
    ringlog_conf *conf = ringlog_conf_new();
    if (ringlog_conf_set(conf, "bootstrap", argv[1], err, sizeof(err)) ||
        (argc > 5 && ringlog_conf_set(conf, "acks", argv[5], err, sizeof(err))) ||
        (argc > 6 && ringlog_conf_set(conf, "compression", argv[6], err, sizeof(err))) ||
        (argc > 7 && ringlog_conf_set(conf, "linger-ms", argv[7], err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    ringlog_conf_set_delivery_cb(conf, on_delivery, NULL);
    ringlog_admin *a = ringlog_admin_new(conf, err, sizeof(err));
    ringlog_admin_create_topic(a, topic, 1, 1, NULL, err, sizeof(err)); /* may exist */
    ringlog_topic_info *ti;
    int64_t start = 0;
    if (ringlog_admin_describe_topic(a, topic, &ti, err, sizeof(err)) == 0) {
        start = ti->partitions[0].end_offset;
        ringlog_free(ti);
    }
    ringlog_admin_destroy(a);

    char *value = malloc(size);
    for (size_t i = 0; i < size; i++)
        value[i] = (char)('a' + i % 26); /* compressible, like text */
    ringlog_producer *p = ringlog_producer_new(conf, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double c0 = cpu_s(), t0 = now_s();
    for (long i = 0; i < count; i++) {
        ringlog_record r = {.topic = topic, .partition = 0, .value = value, .value_len = size};
        if (ringlog_produce(p, &r) != RINGLOG_OK) {
            fprintf(stderr, "produce failed\n");
            return 1;
        }
    }
    if (ringlog_producer_flush(p, 120000) != RINGLOG_OK) {
        fprintf(stderr, "flush timed out\n");
        return 1;
    }
    double t1 = now_s(), c1 = cpu_s();
    ringlog_producer_destroy(p);
    report("produce", count, size, t1 - t0, c1 - c0);
    if (failed)
        fprintf(stderr, "%ld deliveries failed\n", failed);

    ringlog_consumer *c = ringlog_consumer_new(conf, err, sizeof(err));
    ringlog_topic_partition tp = {.topic = topic, .partition = 0, .offset = start};
    ringlog_consumer_assign(c, &tp, 1);
    long got = 0;
    size_t bytes = 0;
    c0 = cpu_s();
    t0 = now_s();
    while (got < count) {
        const ringlog_message *m;
        int rc = ringlog_consumer_poll(c, 10000, &m);
        if (rc) {
            fprintf(stderr, "poll: %s %s\n", ringlog_err_name(rc), ringlog_consumer_errstr(c));
            return 1;
        }
        bytes += m->value_len;
        got++;
    }
    t1 = now_s();
    c1 = cpu_s();
    ringlog_consumer_destroy(c);
    report("consume", got, size, t1 - t0, c1 - c0);
    free(value);
    ringlog_conf_destroy(conf);
    return bytes == (size_t)count * size && !failed ? 0 : 1;
}
