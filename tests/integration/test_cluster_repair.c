/*
 * Repair (issue 15, item 5), three real brokers on 127.0.0.1: a flipped
 * bit in a committed batch on one replica's disk is detected by its
 * checksum and repaired from the others, never truncated away:
 *  - on a follower, before the recovery point (only the scrub can find it);
 *  - on a follower, in what recovery scans: kept and recorded, not cut;
 *  - on the leader while it runs, found by the verifying APPEND read that
 *    feeds a follower catching up (the leaders' in-memory tail off: a new
 *    leader, or a follower further behind than the tail, reads the log);
 *  - the same with the tail on: the follower gets the bytes as written,
 *    never the flip, and the leader's copy is found by a client's fetch;
 *  - on the leader, in a batch no follower got yet (never committed): after
 *    every follower said it has none, the leader drops it as a lost write
 *    and stops leading, so the group is not wedged behind it;
 *  - under a running follower, found by a client's fetch from it (the first
 *    fetch gets a retriable error, a later one the repaired data);
 *  - on a broker that restarts with it while it is alone: a client's fetch
 *    of that batch gets a retriable error, never the bad bytes; once a
 *    replica is back, the data.
 * Each ends with the repaired segment byte-identical to another replica's
 * and every acknowledged batch readable exactly once.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_ops.h"
#include "wire.h"

#define NODES 3

static struct node nodes[NODES];
/* Batches a retry may have written twice (the first try may have committed anyway). */
static bool retried[128];

static void fini(void)
{
    cleanup(nodes, NODES);
}

TestSuite(cluster_repair, .timeout = 180, .fini = fini);

static void start_all_with(const char *tail_bytes)
{
    memset(retried, 0, sizeof(retried));
    plan(nodes, NODES);
    for (int i = 0; i < NODES; i++) {
        if (tail_bytes) {
            nodes[i].extra[0] = "--replica-tail-bytes";
            nodes[i].extra[1] = tail_bytes;
        }
        start(&nodes[i]);
    }
}

static void start_all(void)
{
    start_all_with(NULL);
}

static struct node *node_id(int id)
{
    cr_assert(id >= 1 && id <= NODES);
    return &nodes[id - 1];
}

/* The leader a live node names, once that node is alive; -1 after 20 s. */
static int live_leader(const char *topic)
{
    int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        for (int i = 0; i < NODES; i++) {
            int l = nodes[i].b.pid > 0 ? ops_leader_seen_by(&nodes[i], topic, NULL, NULL) : -1;
            if (l > 0 && nodes[l - 1].b.pid > 0)
                return l;
        }
        usleep(50 * 1000);
    }
    return -1;
}

/* acks=all batches [from, to); a loaded machine may move leadership: then to the new leader. */
static void produce_range(const struct node *leader, const char *topic, int from, int to)
{
    for (int seq = from; seq < to; seq++) {
        int err = ops_produce(leader, topic, seq);
        int64_t deadline = now_ms() + 20000;
        while (err != 0 && now_ms() < deadline) {
            /* cr_log_info, never cr_log_warn: Criterion 2.4 exits 1 after any warning, all
             * tests passing (ctest then failed this suite whenever a loaded machine made it
             * retry). Said once per batch, retried every 20 ms. */
            if (!retried[seq])
                cr_log_info("batch %d: error %d from node %d; retrying", seq, err, leader->id);
            else
                usleep(20 * 1000);
            retried[seq] = true;
            int l = live_leader(topic);
            cr_assert_gt(l, 0, "no leader");
            leader = &nodes[l - 1];
            err = ops_produce(leader, topic, seq);
        }
        cr_assert_eq(err, 0, "batch %d: error %d", seq, err);
    }
}

static void stop_node(struct node *x)
{
    cr_assert_eq(broker_stop(&x->b), 0, "node %d did not stop cleanly", x->id);
    x->b.pid = 0;
}

/* Flips one bit in the records of data batch number `seq` in x's segment file; its offset. */
static int64_t flip_batch(const struct node *x, const char *topic, int seq)
{
    char path[700];
    ops_segment_path(x, topic, path, sizeof(path));
    struct seg_batch b = ops_data_batch(path, seq);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t byte;
    off_t at = (off_t)(b.pos + b.len - 3); /* inside the last record's value */
    cr_assert_eq(pread(fd, &byte, 1, at), 1);
    byte ^= 0x04;
    cr_assert_eq(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    return b.base;
}

/* Waits until node x reports `want` repairs (and no bad batch left); false after 15 s. */
static bool wait_repaired(const struct node *x, long want)
{
    int64_t deadline = now_ms() + 15000;
    while (now_ms() < deadline) {
        if (metric(x, "ringlog_replica_corrupt_batches_repaired_total") >= want &&
            metric(x, "ringlog_replica_corrupt_batches_outstanding") == 0)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* x's and y's segment files hold the same bytes for every offset below `upto`. */
static void expect_same_bytes(const struct node *x, const struct node *y, const char *topic,
                              int64_t upto)
{
    char px[700], py[700];
    ops_segment_path(x, topic, px, sizeof(px));
    ops_segment_path(y, topic, py, sizeof(py));
    uint64_t n = ops_data_end(px, upto);
    cr_assert_gt(n, 0);
    cr_assert_eq(ops_data_end(py, upto), n, "nodes %d and %d: data ends differ", x->id, y->id);
    uint8_t *a = ops_file_prefix(px, n), *b = ops_file_prefix(py, n);
    cr_assert(a && b);
    cr_assert_eq(memcmp(a, b, n), 0, "nodes %d and %d differ below offset %lld", x->id, y->id,
                 (long long)upto);
    free(a);
    free(b);
}

static void expect_all_once(const struct node *x, const char *topic, int total)
{
    int seen[128] = {0};
    cr_assert_leq(total, 128);
    ops_read_all(x, topic, seen, total);
    for (int s = 0; s < total; s++)
        cr_assert(seen[s] == 1 || (retried[s] && seen[s] > 1), "node %d: batch %d seen %d times",
                  x->id, s, seen[s]);
}

Test(cluster_repair, a_flip_on_a_follower_before_its_recovery_point_is_found_and_repaired)
{
    start_all();
    ops_create(nodes, NODES, "f", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "f");
    produce_range(node_id(leader), "f", 0, 40);
    int64_t hw = 0;
    ops_leader_seen_by(node_id(leader), "f", NULL, &hw);
    struct node *f = node_id(leader % NODES + 1);
    cr_assert(ops_wait_hw(f, "f", hw));
    /* A clean stop: recovery will read nothing of it, only the scrub can find the flip. */
    stop_node(f);
    int64_t victim = flip_batch(f, "f", 12);
    start(f);
    cr_assert(wait_repaired(f, 1), "node %d did not repair offset %lld", f->id, (long long)victim);
    cr_assert_geq(metric(f, "ringlog_replica_corrupt_batches_detected_total"), 1);
    expect_same_bytes(f, node_id(leader), "f", hw);
    expect_all_once(f, "f", 40);
}

Test(cluster_repair, a_flip_recovery_scans_is_kept_not_cut_and_repaired)
{
    start_all();
    ops_create(nodes, NODES, "k", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "k");
    produce_range(node_id(leader), "k", 0, 40);
    int64_t hw = 0;
    ops_leader_seen_by(node_id(leader), "k", NULL, &hw);
    struct node *f = node_id(leader % NODES + 1);
    cr_assert(ops_wait_hw(f, "k", hw));
    stop_node(f);
    int64_t victim = flip_batch(f, "k", 15);
    /* Without its checkpoint, recovery scans the whole segment, as after a crash. */
    char ck[700];
    snprintf(ck, sizeof(ck), "%s/topics/k/0/checkpoint", f->dir);
    cr_assert_eq(unlink(ck), 0);
    start(f);
    cr_assert(wait_log(f, 0, "kept (never served) for repair"), "recovery did not keep it");
    cr_assert(wait_repaired(f, 1), "node %d did not repair offset %lld", f->id, (long long)victim);
    cr_assert(ops_wait_hw(f, "k", hw));
    expect_same_bytes(f, node_id(leader), "k", hw);
    expect_all_once(f, "k", 40);
}

Test(cluster_repair, a_flip_on_the_running_leader_is_found_by_its_append_read_and_repaired)
{
    /* Without the in-memory tail, the follower catching up is sent what the log holds;
     * with it, the batches come from memory (a_flip_on_the_leader_does_not_reach_...). */
    start_all_with("0");
    ops_create(nodes, NODES, "l", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "l");
    struct node *l = node_id(leader), *behind = node_id(leader % NODES + 1),
                *other = node_id((leader + 1) % NODES + 1);
    produce_range(l, "l", 0, 10);
    stop_node(behind); /* it will need the next batches from the leader's disk */
    produce_range(l, "l", 10, 40);
    int64_t hw = 0;
    ops_leader_seen_by(l, "l", NULL, &hw);
    cr_assert(ops_wait_hw(other, "l", hw));
    int64_t victim = flip_batch(l, "l", 25); /* under the running broker: its reads see it */
    start(behind);
    cr_assert(ops_wait_hw(behind, "l", hw), "node %d did not catch up past the flip", behind->id);
    cr_assert(wait_repaired(l, 1), "the leader did not repair offset %lld", (long long)victim);
    expect_same_bytes(l, other, "l", hw);
    expect_same_bytes(behind, other, "l", hw);
    expect_all_once(l, "l", 40);
    expect_all_once(behind, "l", 40);
}

Test(cluster_repair,
     a_flip_on_the_leader_after_its_write_does_not_reach_a_follower_sent_from_memory)
{
    start_all(); /* with the in-memory tail: the follower's batches come from what was written */
    ops_create(nodes, NODES, "m", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "m");
    struct node *l = node_id(leader), *behind = node_id(leader % NODES + 1),
                *other = node_id((leader + 1) % NODES + 1);
    produce_range(l, "m", 0, 10);
    stop_node(behind);
    produce_range(l, "m", 10, 40);
    int64_t hw = 0;
    ops_leader_seen_by(l, "m", NULL, &hw);
    cr_assert(ops_wait_hw(other, "m", hw));
    int64_t victim = flip_batch(l, "m", 25); /* the disk lies now; the tail still has it right */
    start(behind);
    cr_assert(ops_wait_hw(behind, "m", hw), "node %d did not catch up", behind->id);
    expect_same_bytes(behind, other, "m", hw);
    expect_all_once(behind, "m", 40);
    /* The leader's own copy is found by the first read of it, and repaired. */
    size_t got = 0;
    cr_assert_eq(ops_fetch_error(l, "m", victim, &got), RINGLOG__ERROR_CODE__STORAGE_ERROR,
                 "the bad batch is never sent");
    cr_assert(wait_repaired(l, 1), "the leader did not repair offset %lld", (long long)victim);
    expect_same_bytes(l, other, "m", hw);
}

Test(cluster_repair, an_uncommitted_bad_batch_only_the_leader_has_does_not_wedge_the_group)
{
    start_all_with("0"); /* the APPENDs are read back from the log, as a new leader's are */
    ops_create(nodes, NODES, "u", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "u");
    struct node *l = node_id(leader), *f1 = node_id(leader % NODES + 1),
                *f2 = node_id((leader + 1) % NODES + 1);
    produce_range(l, "u", 0, 5);
    /* Paused followers take at most 8 APPENDs in flight each: batches 13 and 14, written
     * with acks=1, stay on the leader alone; 14 flips there. All within a fraction of an
     * election timeout, so the leader keeps leading. */
    kill(f1->b.pid, SIGSTOP);
    kill(f2->b.pid, SIGSTOP);
    for (int seq = 5; seq < 15; seq++)
        cr_assert_eq(ops_produce_acks(l, "u", seq, 1), 0, "acks=1 batch %d", seq);
    flip_batch(l, "u", 14);
    kill(f1->b.pid, SIGCONT);
    kill(f2->b.pid, SIGCONT);
    /* The group goes on: an acks=all write is taken by whoever leads now. */
    int64_t deadline = now_ms() + 15000;
    bool taken = false;
    int now_leader = -1;
    while (!taken && now_ms() < deadline) {
        now_leader = ops_leader_seen_by(f1, "u", NULL, NULL);
        taken = now_leader > 0 && ops_produce(node_id(now_leader), "u", 15) == 0;
        if (!taken)
            usleep(50 * 1000);
    }
    cr_assert(taken, "no acks=all write within 15 s: the group is wedged behind the bad batch");
    /* On a machine loaded enough to stretch the pause past an election timeout, the leader may
     * have lost leadership first and the core truncated the batch instead: then no drop. */
    if (!wait_log(l, 0, "no other replica holds it"))
        cr_log_info("the leader lost leadership before it found the batch: no drop needed");
    int64_t hw = 0;
    ops_leader_seen_by(node_id(now_leader), "u", NULL, &hw);
    for (int i = 0; i < NODES; i++)
        cr_assert(ops_wait_hw(&nodes[i], "u", hw), "node %d behind", i + 1);
    expect_same_bytes(l, f1, "u", hw);
    expect_same_bytes(f2, f1, "u", hw);
    int seen[16] = {0};
    ops_read_all(l, "u", seen, 16);
    for (int s = 0; s < 16; s++)
        cr_assert_eq(seen[s], s == 14 ? 0 : 1, "batch %d seen %d times", s, seen[s]);
}

Test(cluster_repair, a_flip_under_a_running_follower_is_found_by_a_client_fetch)
{
    start_all();
    ops_create(nodes, NODES, "r", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "r");
    produce_range(node_id(leader), "r", 0, 30);
    int64_t hw = 0;
    ops_leader_seen_by(node_id(leader), "r", NULL, &hw);
    struct node *f = node_id(leader % NODES + 1);
    cr_assert(ops_wait_hw(f, "r", hw));
    usleep(300 * 1000); /* the scrub's pass after attach is long over: only a read can find it */
    int64_t victim = flip_batch(f, "r", 20); /* under the running broker: its reads see it */
    size_t got = 0;
    cr_assert_eq(ops_fetch_error(f, "r", victim, &got), RINGLOG__ERROR_CODE__STORAGE_ERROR,
                 "the bad batch is never sent");
    cr_assert(wait_repaired(f, 1), "node %d did not repair offset %lld", f->id, (long long)victim);
    cr_assert_eq(ops_fetch_error(f, "r", victim, &got), 0);
    cr_assert_gt(got, 0);
    expect_same_bytes(f, node_id(leader), "r", hw);
    expect_all_once(f, "r", 30);
}

Test(cluster_repair, a_fetch_of_a_bad_batch_gets_a_retriable_error_then_the_repaired_data)
{
    start_all();
    ops_create(nodes, NODES, "c", 1, 3);
    int leader = ops_wait_settled(nodes, NODES, "c");
    produce_range(node_id(leader), "c", 0, 30);
    int64_t hw = 0;
    ops_leader_seen_by(node_id(leader), "c", NULL, &hw);
    for (int i = 0; i < NODES; i++)
        cr_assert(ops_wait_hw(&nodes[i], "c", hw));
    for (int i = 0; i < NODES; i++)
        stop_node(&nodes[i]);
    /* Node 1 restarts alone with a flip: its scrub finds it, nothing can repair it yet. */
    struct node *x = node_id(1);
    int64_t victim = flip_batch(x, "c", 20);
    start(x);
    cr_assert(wait_log(x, 0, "fails its checksum: not served"), "the scrub did not find it");
    size_t got = 0;
    int64_t deadline = now_ms() + 10000;
    int err = -1;
    while (now_ms() < deadline && (err = ops_fetch_error(x, "c", victim, &got)) != 0 &&
           err != RINGLOG__ERROR_CODE__STORAGE_ERROR)
        usleep(50 * 1000);
    cr_assert_eq(err, RINGLOG__ERROR_CODE__STORAGE_ERROR, "fetch of the bad batch: %d", err);
    cr_assert_eq(ops_fetch_error(x, "c", 0, &got), 0);
    cr_assert_gt(got, 0, "the data before it is served");
    cr_assert_eq(metric(x, "ringlog_replica_corrupt_batches_outstanding"), 1);
    start(node_id(2));
    start(node_id(3));
    cr_assert(wait_repaired(x, 1), "node 1 did not repair offset %lld", (long long)victim);
    cr_assert_eq(ops_fetch_error(x, "c", victim, &got), 0);
    cr_assert_gt(got, 0);
    expect_same_bytes(x, node_id(2), "c", hw);
    expect_all_once(x, "c", 30);
}
