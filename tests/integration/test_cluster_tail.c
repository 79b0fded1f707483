/*
 * The leaders' in-memory tail (broker/partition/replica_tail.h), three real
 * brokers on 127.0.0.1: a leader sends its followers' APPENDs from memory,
 * not from its log; an idle tail gives its memory back; --replica-tail-bytes 0
 * turns it off (every APPEND read back from the log). Each follower holds
 * every acknowledged batch exactly once either way.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "cluster_ops.h"

#define NODES 3

static struct node nodes[NODES];

static void fini(void)
{
    cleanup(nodes, NODES);
}

TestSuite(cluster_tail, .timeout = 120, .fini = fini);

static void start_all(const char *tail_bytes)
{
    plan(nodes, NODES);
    for (int i = 0; i < NODES; i++) {
        nodes[i].extra[0] = "--replica-tail-bytes";
        nodes[i].extra[1] = tail_bytes;
        start(&nodes[i]);
    }
}

/* Produces 60 acks=all batches to the settled leader; its node index. */
static int produce_60(const char *topic)
{
    ops_create(nodes, NODES, topic, 1, 3);
    int leader = ops_wait_settled(nodes, NODES, topic);
    cr_assert(leader >= 1 && leader <= NODES);
    bool retried[60] = {false};
    for (int seq = 0; seq < 60; seq++) {
        int err = ops_produce(&nodes[leader - 1], topic, seq);
        int64_t deadline = now_ms() + 20000;
        while (err != 0 && now_ms() < deadline) { /* a loaded machine moved leadership */
            /* cr_log_info: Criterion 2.4 exits 1 after any cr_log_warn (docs/TESTING.md) */
            if (!retried[seq])
                cr_log_info("batch %d: error %d from node %d; retrying", seq, err, leader);
            retried[seq] = true;
            usleep(100 * 1000);
            leader = ops_leader_seen_by(&nodes[0], topic, NULL, NULL);
            err = leader > 0 ? ops_produce(&nodes[leader - 1], topic, seq) : -1;
        }
        cr_assert_eq(err, 0, "batch %d: error %d", seq, err);
    }
    int64_t hw = 0;
    ops_leader_seen_by(&nodes[leader - 1], topic, NULL, &hw);
    for (int i = 0; i < NODES; i++) {
        cr_assert(ops_wait_hw(&nodes[i], topic, hw), "node %d behind", i + 1);
        int seen[60] = {0};
        ops_read_all(&nodes[i], topic, seen, 60);
        for (int s = 0; s < 60; s++)
            cr_assert(seen[s] == 1 || (retried[s] && seen[s] == 2), "node %d has batch %d %d times",
                      i + 1, s, seen[s]);
    }
    return leader - 1;
}

Test(cluster_tail, a_leader_sends_from_memory_and_an_idle_tail_gives_it_back)
{
    start_all("67108864");
    int l = produce_60("t");
    long tail = metric(&nodes[l], "ringlog_replica_appends_total{source=\"tail\"}");
    long log = metric(&nodes[l], "ringlog_replica_appends_total{source=\"log\"}");
    cr_assert_geq(tail, 60, "one APPEND per batch and follower at least: %ld from memory", tail);
    cr_assert_leq(log, tail / 10, "%ld read back from the log, %ld from memory", log, tail);
    /* Every follower has it all: a second later the tails are trimmed and freed. */
    int64_t deadline = now_ms() + 10000;
    long held = -1;
    while (now_ms() < deadline) {
        held = 0;
        for (int i = 0; i < NODES; i++)
            held += metric(&nodes[i], "ringlog_replica_tail_bytes");
        if (held == 0)
            break;
        usleep(100 * 1000);
    }
    cr_assert_eq(held, 0, "idle tails still hold %ld bytes", held);
}

Test(cluster_tail, with_the_tail_off_every_append_is_read_from_the_log)
{
    start_all("0");
    int l = produce_60("u");
    cr_assert_eq(metric(&nodes[l], "ringlog_replica_appends_total{source=\"tail\"}"), 0);
    cr_assert_geq(metric(&nodes[l], "ringlog_replica_appends_total{source=\"log\"}"), 60);
    cr_assert_eq(metric(&nodes[l], "ringlog_replica_tail_bytes"), 0);
}
