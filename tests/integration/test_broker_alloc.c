/*
 * Every allocation on a request path may fail without taking the broker
 * down (broker/fault_alloc.h). For N = 1, 2, ... a fresh ringlogd is started
 * with RINGLOG_FAULT_ALLOC=N, so its Nth counted allocation fails, and a
 * client creates a two-partition topic, produces an idempotent batch to
 * each partition and fetches them back, retrying whatever was refused:
 * each request must be answered (with an error, or by closing the one
 * connection when not even the request could be allocated), the broker
 * must stay up, what it acknowledged must read back exactly once, and it
 * must exit cleanly (under the sanitizers: no leak on any error path). The
 * walk ends at the first N that the scenario never reaches.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "wire.h"

enum { MAX_N = 400, ATTEMPTS = 8, RECORDS = 3 };

TestSuite(alloc_failure, .timeout = 600);

struct client {
    struct broker_proc *b;
    int fd;
};

/* The call's answer, reconnecting once when the broker closed the connection. */
static Ringlog__Response *answered(struct client *c, Ringlog__Response *r)
{
    cr_assert(kill(c->b->pid, 0) == 0, "the broker is alive (log: %s)", c->b->log_path);
    if (r == NULL) {
        close(c->fd);
        c->fd = wire_connect(c->b->port);
        cr_assert_geq(c->fd, 0, "the broker accepts a new connection (log: %s)", c->b->log_path);
    }
    return r;
}

static void create(struct client *c)
{
    for (int i = 0; i < ATTEMPTS; i++) {
        Ringlog__Response *r = answered(c, wire_create_topic_config(c->fd, "a", 2, 1 << 20, -1));
        if (r == NULL)
            continue;
        int error = r->error ? r->error : r->create_topics->topics[0]->error;
        ringlog__response__free_unpacked(r, NULL);
        if (error == 0 || error == RINGLOG__ERROR_CODE__TOPIC_EXISTS)
            return;
        cr_assert_eq(error, RINGLOG__ERROR_CODE__UNKNOWN, "only out of memory is expected");
    }
    cr_assert_fail("the topic was never created");
}

static void produce(struct client *c, uint32_t partition, const uint8_t *batch, size_t len)
{
    for (int i = 0; i < ATTEMPTS; i++) {
        Ringlog__Response *r = answered(c, wire_produce(c->fd, "a", partition, 1, batch, len));
        if (r == NULL)
            continue;
        int error = r->error;
        int64_t base = -1;
        if (error == 0) {
            error = r->produce->topics[0]->partitions[0]->error;
            base = r->produce->topics[0]->partitions[0]->base_offset;
        }
        ringlog__response__free_unpacked(r, NULL);
        if (error == 0) {
            cr_assert_eq(base, 0, "a retry is answered with the original offset");
            return;
        }
        cr_assert(error == RINGLOG__ERROR_CODE__UNKNOWN ||
                      error == RINGLOG__ERROR_CODE__DUPLICATE_SEQUENCE,
                  "only out of memory is expected, got %d", error);
    }
    cr_assert_fail("partition %u never took the batch", partition);
}

static void fetch(struct client *c, uint32_t partition, size_t len)
{
    for (int i = 0; i < ATTEMPTS; i++) {
        Ringlog__Response *r = answered(c, wire_fetch(c->fd, "a", partition, 0, 0, 1));
        if (r == NULL)
            continue;
        int error = r->error ? r->error : r->fetch->topics[0]->partitions[0]->error;
        if (error == 0) {
            Ringlog__FetchPartitionResult *fr = r->fetch->topics[0]->partitions[0];
            cr_assert_eq(fr->high_watermark, RECORDS, "the batch is there exactly once");
            cr_assert_eq(fr->records.len, len);
            ringlog__response__free_unpacked(r, NULL);
            return;
        }
        ringlog__response__free_unpacked(r, NULL);
        cr_assert_eq(error, RINGLOG__ERROR_CODE__UNKNOWN, "only out of memory is expected");
    }
    cr_assert_fail("partition %u never answered a fetch", partition);
}

static bool log_says(const struct broker_proc *b, const char *what)
{
    FILE *f = fopen(b->log_path, "r");
    cr_assert_not_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, what) != NULL;
    fclose(f);
    return found;
}

/* One walk step; returns whether allocation n was reached (and failed). */
static bool scenario(int n)
{
    char value[16];
    snprintf(value, sizeof(value), "%d", n);
    setenv("RINGLOG_FAULT_ALLOC", value, 1);
    struct broker_proc b;
    const char *args[] = {"--shards", "2", "--flush", "none", NULL};
    int started = broker_start(&b, NULL, args);
    unsetenv("RINGLOG_FAULT_ALLOC");
    cr_assert_eq(started, 0);
    struct client c = {.b = &b, .fd = wire_connect(b.port)};
    cr_assert_geq(c.fd, 0);
    create(&c);
    uint8_t batch[2][4096];
    size_t len[2];
    for (uint32_t p = 0; p < 2; p++) {
        len[p] = wire_build_batch(batch[p], sizeof(batch[p]), "r", RECORDS, 7 + p, 0, 0);
        produce(&c, p, batch[p], len[p]);
    }
    for (uint32_t p = 0; p < 2; p++)
        fetch(&c, p, len[p]);
    close(c.fd);
    cr_assert_eq(broker_stop(&b), 0, "N=%d: clean exit, nothing leaked (log: %s)", n, b.log_path);
    bool reached = log_says(&b, "RINGLOG_FAULT_ALLOC: failing allocation");
    broker_remove_data(&b);
    return reached;
}

Test(alloc_failure, every_allocation_of_create_produce_fetch)
{
    int n = 1;
    while (n <= MAX_N && scenario(n))
        n++;
    cr_assert_leq(n, MAX_N, "the walk ends");
    /* A create, two produces and two fetches allocate far more than this:
     * fewer would mean the injection no longer reaches the request path. */
    cr_assert_geq(n, 30, "%d allocations counted", n - 1);
    printf("alloc_failure: %d allocations along create, produce and fetch each failed once\n",
           n - 1);
}
