/*
 * A compacted topic on three real brokers (docs/STORAGE.md, "Compaction
 * with replication"): keys overwritten many times, a follower killed while
 * the leader compacts, the follower restarted: it catches up across the
 * leader's offset gaps. Every replica then reads back the newest value of
 * every key at the same offset, the follower leads (the preferred leader
 * moved to it) and serves the same, and after it is killed too the next
 * leader does.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cluster_ops.h"
#include "wire.h"

static struct node nodes[3];

static void stop_all(void)
{
    cleanup(nodes, 3);
}

TestSuite(cluster_compact, .timeout = 180, .fini = stop_all);

enum { KEYS = 30, ROUNDS = 30, FOLLOWER_DIES_AT = 10 };

static struct node *node_of(int id)
{
    cr_assert(id >= 1 && id <= 3, "node id %d", id);
    return &nodes[id - 1];
}

static void create_compacted(const char *topic)
{
    Ringlog__TopicConfig cfg = RINGLOG__TOPIC_CONFIG__INIT;
    cfg.cleanup_policy = "compact";
    cfg.segment_bytes = 4096;
    ops_create_with(nodes, 3, topic, 1, 3, &cfg);
}

/* One acks=all batch to node x: key k%02d for every key, value "r<round>"; the error code. */
static int produce_round(const struct node *x, int round)
{
    uint8_t buf[8192];
    size_t len = wire_kv_round(buf, sizeof(buf), KEYS, round);
    cr_assert_gt(len, 0);
    int fd = wire_connect(x->port);
    cr_assert(fd >= 0);
    Ringlog__Response *r = wire_produce(fd, "kv", 0, -1, buf, len);
    close(fd);
    int err = r ? wire_first_error(r) : -1;
    if (r)
        ringlog__response__free_unpacked(r, NULL);
    return err;
}

/* Produces the round to whichever live node leads, retrying across a leader change (10 s). */
static void produce_to_leader(int round)
{
    int64_t deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        for (int i = 0; i < 3; i++) {
            if (nodes[i].b.pid <= 0)
                continue;
            int leader = ops_leader_seen_by(&nodes[i], "kv", NULL, NULL);
            if (leader >= 1 && node_of(leader)->b.pid > 0 &&
                produce_round(node_of(leader), round) == 0)
                return;
        }
        usleep(100 * 1000);
    }
    cr_assert_fail("round %d: no leader took it within 10 s", round);
}

/* Bytes of node x's closed segments of kv-0 (every .log but the newest, which is preallocated). */
static long long closed_bytes(const struct node *x)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/topics/kv/0", x->dir);
    long long n = broker_closed_segment_bytes(path);
    cr_assert_geq(n, 0, "cannot list %s", path);
    return n;
}

struct view {
    int value[KEYS];      /* newest round per key, -1: none */
    int64_t offset[KEYS]; /* ... and its offset */
    long records;
    int64_t hw;
};

static void take_records(const uint8_t *data, size_t len, int64_t *next, struct view *v)
{
    struct rl_batch_iter it;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    it.allow_control = true;
    const uint8_t *batch;
    struct rl_batch_header h;
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        if (!rl_batch_is_control(&h)) {
            struct rl_record_iter ri;
            cr_assert_eq(rl_record_iter_init(&ri, batch, &h), RL_OK);
            struct rl_record rec;
            while (rl_record_iter_next(&ri, &rec) == RL_OK) {
                int64_t off = h.base_offset + rec.offset_delta;
                if (off < *next)
                    continue; /* before what was asked */
                char key[8] = {0}, value[16] = {0};
                cr_assert(rec.key_len == 3 && rec.value_len > 0 && rec.value_len < 16);
                memcpy(key, rec.key, 3);
                memcpy(value, rec.value, (size_t)rec.value_len);
                int k = atoi(key + 1);
                cr_assert(k >= 0 && k < KEYS);
                v->value[k] = atoi(value + 1);
                v->offset[k] = off;
                v->records++;
                *next = off + 1;
            }
        }
        *next = rl_batch_last_offset(&h) + 1;
    }
}

/* Fetches kv-0 from node x, from offset 0 to its high watermark, as a consumer would. */
static void read_view(const struct node *x, struct view *v)
{
    memset(v, 0, sizeof(*v));
    for (int k = 0; k < KEYS; k++)
        v->value[k] = -1;
    int fd = wire_connect(x->port);
    cr_assert(fd >= 0);
    int64_t next = 0;
    v->hw = -1;
    for (int guard = 0; guard < 1000 && next != v->hw; guard++) {
        Ringlog__Response *r = wire_fetch(fd, "kv", 0, next, 0, 1);
        cr_assert_not_null(r);
        Ringlog__FetchPartitionResult *fr = r->fetch->topics[0]->partitions[0];
        cr_assert_eq(fr->error, 0, "node %d: fetch at %lld: %s", x->id, (long long)next,
                     fr->error_message);
        v->hw = fr->high_watermark;
        int64_t before = next;
        take_records(fr->records.data, fr->records.len, &next, v);
        cr_assert(next > before || next == v->hw, "node %d: a fetch at %lld does not move on",
                  x->id, (long long)before);
        ringlog__response__free_unpacked(r, NULL);
    }
    close(fd);
    cr_assert_eq(next, v->hw, "node %d read to its high watermark", x->id);
}

/* Node x serves the newest value of every key at the offsets `want` has them. */
static void expect_same(const struct node *x, const struct view *want, int newest)
{
    struct view v;
    read_view(x, &v);
    for (int k = 0; k < KEYS; k++) {
        cr_assert_eq(v.value[k], newest, "node %d key %d: round %d", x->id, k, v.value[k]);
        cr_assert_eq(v.offset[k], want->offset[k], "node %d key %d: offset %lld, the leader's %lld",
                     x->id, k, (long long)v.offset[k], (long long)want->offset[k]);
    }
}

static int wait_leader_not(int not )
{
    int64_t deadline = now_ms() + 15000;
    while (now_ms() < deadline) {
        for (int i = 0; i < 3; i++) {
            if (nodes[i].b.pid <= 0)
                continue;
            int l = ops_leader_seen_by(&nodes[i], "kv", NULL, NULL);
            if (l >= 1 && l != not &&node_of(l)->b.pid > 0 &&
                ops_leader_seen_by(node_of(l), "kv", NULL, NULL) == l)
                return l;
        }
        usleep(100 * 1000);
    }
    cr_assert_fail("no leader other than %d within 15 s", not );
    return -1;
}

Test(cluster_compact, a_follower_catches_up_across_compacted_gaps_and_serves_them_as_leader)
{
    plan(nodes, 3);
    for (int i = 0; i < 3; i++)
        start(&nodes[i]);
    create_compacted("kv");
    int leader = ops_wait_settled(nodes, 3, "kv");
    int follower = leader % 3 + 1, other = follower % 3 + 1;
    struct node *l = node_of(leader), *f = node_of(follower);
    for (int round = 0; round < FOLLOWER_DIES_AT; round++)
        cr_assert_eq(produce_round(l, round), 0, "round %d", round);
    broker_kill(&f->b);
    f->b.pid = 0;
    for (int round = FOLLOWER_DIES_AT; round < ROUNDS; round++)
        cr_assert_eq(produce_round(l, round), 0, "round %d (two of three replicas)", round);
    /* The leader compacts by itself (dirty ratio 1, looked at once a second): its closed
     * segments, ~12 KiB of rounds, keep about one round of values. */
    long long closed = closed_bytes(l);
    for (int i = 0; i < 150 && closed > 2000; i++) {
        usleep(100 * 1000);
        closed = closed_bytes(l);
    }
    cr_assert_leq(closed, 2000, "node %d's closed segments hold %lld bytes: not compacted", leader,
                  closed);
    struct view want;
    read_view(l, &want);
    cr_assert_lt(want.records, (long)KEYS * ROUNDS, "the leader's older values are gone");
    for (int k = 0; k < KEYS; k++)
        cr_assert_eq(want.value[k], ROUNDS - 1, "leader key %d: round %d", k, want.value[k]);

    /* The follower comes back: it copies the leader's compacted range, gaps and all. */
    start(f);
    cr_assert(ops_wait_hw(f, "kv", want.hw), "node %d did not catch up to %lld", follower,
              (long long)want.hw);
    for (int i = 0; i < 3; i++)
        expect_same(&nodes[i], &want, ROUNDS - 1);

    /* The follower leads (the preferred leader moves to it) and serves the same. */
    ops_reassign(nodes, 3, "kv", 0, (int[]){follower, leader, other}, 3);
    int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline && ops_leader_seen_by(f, "kv", NULL, NULL) != follower)
        usleep(100 * 1000);
    cr_assert_eq(ops_leader_seen_by(f, "kv", NULL, NULL), follower, "node %d never led", follower);
    expect_same(f, &want, ROUNDS - 1);
    produce_to_leader(ROUNDS);

    /* Failover: it is killed, the next leader serves every key's newest value. */
    broker_kill(&f->b);
    f->b.pid = 0;
    int next = wait_leader_not(follower);
    produce_to_leader(ROUNDS + 1);
    struct view after;
    read_view(node_of(next), &after);
    for (int k = 0; k < KEYS; k++) {
        cr_assert_eq(after.value[k], ROUNDS + 1, "node %d key %d: round %d", next, k,
                     after.value[k]);
        cr_assert_gt(after.offset[k], want.offset[k], "offsets keep growing");
    }
}
