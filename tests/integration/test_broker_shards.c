/*
 * ringlogd with two shards: a connection whose requests keep going to the
 * partitions of the other shard is handed to that shard (broker/conn_move.c).
 * The tests follow one connection between the two partitions of a topic
 * (owned by different shards: owner = (topic id + partition) % shards) and
 * check that every request is answered, in order, with nothing lost or
 * repeated, and that the broker stops cleanly with moves under way.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "broker_proc.h"
#include "test_rng.h"
#include "wire.h"

/* The broker moves a connection after this many requests in a row (conn_move.c). */
enum { MOVE_AFTER = 16, PHASE_REQUESTS = MOVE_AFTER + 4, RECORDS_PER_BATCH = 3 };

static struct broker_proc broker;
static uint16_t metrics_port;
static int fd = -1;

static void start(void)
{
    char metrics[64];
    metrics_port = wire_free_port();
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", metrics_port);
    const char *args[] = {"--shards", "2", "--metrics", metrics, NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
    Ringlog__Response *r = wire_create_topic(fd, "mv", 2);
    cr_assert_not_null(r);
    cr_assert_eq(r->create_topics->topics[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
}

static void stop(void)
{
    if (fd >= 0)
        close(fd);
    cr_expect_eq(broker_stop(&broker), 0, "graceful shutdown exits 0 (log: %s)", broker.log_path);
    broker_remove_data(&broker);
}

TestSuite(shards, .init = start, .fini = stop, .timeout = 60);

static unsigned long long metric(const char *name)
{
    static char out[1 << 20];
    cr_assert_eq(wire_http_get(metrics_port, "/metrics", out, sizeof(out)), 0);
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *at = strstr(out, key);
    cr_assert_not_null(at, "%s missing from /metrics", name);
    return strtoull(at + strlen(key), NULL, 10);
}

/* The base offset of an acknowledged produce of one batch. */
static int64_t acked_base(Ringlog__Response *r, uint64_t correlation)
{
    cr_assert_not_null(r, "no answer");
    cr_assert_eq(r->correlation_id, correlation, "answers come back in request order");
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_PRODUCE);
    Ringlog__PartitionProduceResult *pr = r->produce->topics[0]->partitions[0];
    cr_assert_eq(pr->error, 0, "produce: %s", pr->error_message);
    int64_t base = pr->base_offset;
    ringlog__response__free_unpacked(r, NULL);
    return base;
}

/* n produce requests to one partition, one at a time; the next offset after them. */
static int64_t produce_phase(uint32_t partition, int n, int64_t next)
{
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "mv", RECORDS_PER_BATCH, -1, -1, -1);
    for (int i = 0; i < n; i++) {
        Ringlog__Response *r = wire_produce(fd, "mv", partition, 1, buf, len);
        cr_assert_not_null(r);
        cr_assert_eq(acked_base(r, r->correlation_id), next, "partition %u, request %d", partition,
                     i);
        next += RECORDS_PER_BATCH;
    }
    usleep(100 * 1000); /* idle: a move that began finishes now */
    return next;
}

/* Records in partition p from offset 0, fetched in as many requests as it takes. */
static int64_t count_records(uint32_t partition)
{
    int64_t offset = 0;
    for (int round = 0; round < 100; round++) {
        Ringlog__Response *r = wire_fetch(fd, "mv", partition, offset, 0, 0);
        cr_assert_not_null(r);
        Ringlog__FetchPartitionResult *fr = r->fetch->topics[0]->partitions[0];
        cr_assert_eq(fr->error, 0);
        struct rl_batch_iter it;
        const uint8_t *batch;
        struct rl_batch_header h;
        rl_batch_iter_init(&it, fr->records.data, fr->records.len, 1 << 20);
        int rc, got = 0;
        while ((rc = rl_batch_iter_next(&it, &batch, &h)) == RL_OK) {
            cr_assert_eq(h.base_offset, offset, "batches follow each other");
            offset += h.record_count;
            got++;
        }
        cr_assert_eq(rc, RL_END, "whole, valid batches");
        ringlog__response__free_unpacked(r, NULL);
        if (got == 0)
            return offset;
    }
    cr_assert_fail("partition %u never ended", partition);
    return -1;
}

Test(shards, producer_connection_follows_its_partition)
{
    unsigned long long before = metric("ringlog_connections_moved_total");
    cr_assert_eq(before, 0);
    int64_t next0 = produce_phase(0, PHASE_REQUESTS, 0);
    unsigned long long after0 = metric("ringlog_connections_moved_total");
    cr_assert_leq(after0, 1, "at most one move, to partition 0's shard");
    int64_t next1 = produce_phase(1, PHASE_REQUESTS, 0);
    cr_assert_eq(metric("ringlog_connections_moved_total"), after0 + 1,
                 "moved to partition 1's shard");
    next0 = produce_phase(0, PHASE_REQUESTS, next0);
    cr_assert_eq(metric("ringlog_connections_moved_total"), after0 + 2, "and back");
    /* Fewer requests than a move needs: the connection stays. */
    next1 = produce_phase(1, MOVE_AFTER - 1, next1);
    cr_assert_eq(metric("ringlog_connections_moved_total"), after0 + 2);

    cr_assert_eq(count_records(0), next0);
    cr_assert_eq(count_records(1), next1);
    cr_assert_eq(metric("ringlog_connections_accepted_total"), 1);
    cr_assert_eq(metric("ringlog_connections"), 1, "one connection, wherever it is");
}

/*
 * n produce requests of one batch to `partition` on connection c, up to
 * `window` unanswered at a time, then drained to none outstanding (the
 * idle moment a move needs). Every answer must come back once, in order,
 * with the partition's next offset.
 */
static void pipelined_phase(int c, uint32_t partition, int n, int window, int64_t next[2])
{
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "pipe", RECORDS_PER_BATCH, -1, -1, -1);
    int sent = 0, answered = 0;
    uint64_t first_correlation = 0;
    while (answered < n) {
        while (sent < n && sent - answered < window) {
            wire_send_produce(c, "mv", partition, buf, len);
            sent++;
        }
        Ringlog__Response *r = wire_recv(c, 10000);
        cr_assert_not_null(r, "answer %d of %d", answered, n);
        if (answered == 0)
            first_correlation = r->correlation_id;
        cr_assert_eq(acked_base(r, first_correlation + (uint64_t)answered), next[partition]);
        next[partition] += RECORDS_PER_BATCH;
        answered++;
    }
}

/* Pipelined, switching partition every 20 requests: moves only at the switches. */
Test(shards, pipelined_requests_across_moves)
{
    int64_t next[2] = {0, 0};
    for (int phase = 0; phase < 20; phase++)
        pipelined_phase(fd, (uint32_t)(phase % 2), 20, 8, next);
    cr_assert_geq(metric("ringlog_connections_moved_total"), 1);
    cr_assert_eq(count_records(0), next[0]);
    cr_assert_eq(count_records(1), next[1]);
}

/*
 * Several connections taking turns, each turn a random partition, length,
 * window and idle gap after it (seeded; RINGLOG_TEST_SEED replays): moves
 * start, finish and are called off in every order, and nothing is lost,
 * repeated or answered out of order.
 */
Test(shards, random_turns_on_several_connections)
{
    struct test_rng rng;
    test_rng_seed(&rng, "random_turns_on_several_connections", 11);
    enum { CONNS = 4, TURNS = 60 };
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = wire_connect(broker.port);
        cr_assert_geq(fds[i], 0);
    }
    int64_t next[2] = {0, 0};
    for (int turn = 0; turn < TURNS; turn++) {
        int c = (int)test_rng_below(&rng, CONNS);
        uint32_t partition = (uint32_t)test_rng_below(&rng, 2);
        int n = 1 + (int)test_rng_below(&rng, 2 * MOVE_AFTER);
        int window = 1 + (int)test_rng_below(&rng, 8);
        pipelined_phase(fds[c], partition, n, window, next);
        usleep((useconds_t)test_rng_below(&rng, 3) * 1000);
    }
    for (int i = 0; i < CONNS; i++)
        close(fds[i]);
    cr_assert_eq(count_records(0), next[0]);
    cr_assert_eq(count_records(1), next[1]);
    cr_assert_eq(metric("ringlog_connections_accepted_total"), CONNS + 1);
    /* ~30 turns of 16 or more requests, half of them to the other shard's partition */
    cr_assert_geq(metric("ringlog_connections_moved_total"), 1);
}

/* Connections that move right up to the stop: SIGTERM still exits 0 (no leak, no hang). */
Test(shards, stop_with_moves_under_way)
{
    enum { CONNS = 6 };
    int fds[CONNS];
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "stop", 1, -1, -1, -1);
    for (int i = 0; i < CONNS; i++) {
        fds[i] = wire_connect(broker.port);
        cr_assert_geq(fds[i], 0);
    }
    /* Every connection reaches MOVE_AFTER requests to its partition at the same turn. */
    for (int n = 0; n < MOVE_AFTER; n++)
        for (int i = 0; i < CONNS; i++) {
            Ringlog__Response *r = wire_produce(fds[i], "mv", (uint32_t)(i % 2), 1, buf, len);
            cr_assert_not_null(r);
            ringlog__response__free_unpacked(r, NULL);
        }
    cr_assert_eq(broker_stop(&broker), 0, "log: %s", broker.log_path);
    for (int i = 0; i < CONNS; i++) {
        cr_assert_eq(wire_peer_closed(fds[i], 5000), 1);
        close(fds[i]);
    }
    /* Restart on the same data so the suite's stop has a broker to stop. */
    char dir[sizeof(broker.data_dir)];
    memcpy(dir, broker.data_dir, sizeof(dir));
    const char *args[] = {"--shards", "2", "--metrics", "off", NULL};
    cr_assert_eq(broker_start(&broker, dir, args), 0, "log: %s", broker.log_path);
    close(fd);
    fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(count_records(0), (MOVE_AFTER * CONNS) / 2, "every acknowledged record kept");
    cr_assert_eq(count_records(1), (MOVE_AFTER * CONNS) / 2);
}
