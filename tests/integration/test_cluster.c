/*
 * A cluster of three real ringlogd processes on 127.0.0.1 (issue 15):
 * topics created through the controller's metadata log, replicated
 * produce with acks=all, consumers reading committed data from any
 * replica, a leader killed with SIGKILL (a new leader takes acks=all
 * writes and nothing acknowledged is lost or duplicated), the killed
 * broker restarted (it catches up), a leader paused with SIGSTOP, and
 * acks=all refused rather than accepted unsafely when too few replicas
 * are up.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "broker_proc.h"
#include "cluster_ops.h"
#include "peer_cluster.h"
#include "wire.h"

static void stop_cluster(void);

/* fini runs after a failed assertion too: no broker or directory outlives a test. */
TestSuite(cluster, .timeout = 180, .fini = stop_cluster);

#define MAX_NODES 6

/* The brokers of the running test (peer_cluster.h), ids 1..nnodes; cluster_ops.h acts on them. */
static struct node nodes[MAX_NODES];
static int controller_seen(const struct node *x);
static int nnodes = 3;

static void start_cluster_of(int n)
{
    cr_assert(n >= 1 && n <= MAX_NODES);
    nnodes = n;
    plan(nodes, nnodes);
    for (int i = 0; i < nnodes; i++) {
        nodes[i].extra[0] = "--shards"; /* six brokers share two cores */
        nodes[i].extra[1] = nnodes > 4 ? "1" : "2";
        start(&nodes[i]);
    }
}

static void start_cluster(void)
{
    start_cluster_of(3);
}

static void stop_cluster(void)
{
    cleanup(nodes, MAX_NODES);
}

static struct node *node_by_id(int id)
{
    cr_assert(id >= 1 && id <= nnodes, "node id %d", id);
    return &nodes[id - 1];
}

/* The steps of cluster_ops.h on this test's brokers, which nodes are named by id. */
static void create_replicated_with(const char *topic, uint32_t partitions, uint32_t rf,
                                   const Ringlog__TopicConfig *cfg)
{
    if (cfg)
        ops_create_with(nodes, nnodes, topic, partitions, rf, cfg);
    else
        ops_create(nodes, nnodes, topic, partitions, rf);
}

static void create_replicated(const char *topic, uint32_t partitions, uint32_t rf)
{
    ops_create(nodes, nnodes, topic, partitions, rf);
}

static int leader_seen_by(const struct node *x, const char *topic, int64_t *end, int64_t *hw)
{
    return ops_leader_seen_by(x, topic, end, hw);
}

static int wait_leader(const char *topic, int not, int timeout_ms)
{
    return ops_wait_leader(nodes, nnodes, topic, not, timeout_ms);
}

static int wait_settled(const char *topic)
{
    return ops_wait_settled(nodes, nnodes, topic);
}

static int produce_seq(int leader, const char *topic, int seq)
{
    return ops_produce(node_by_id(leader), topic, seq);
}

static int64_t read_all(const struct node *x, const char *topic, int *seen, int max_seq)
{
    return ops_read_all(x, topic, seen, max_seq);
}

Test(cluster, acks_all_survives_a_killed_leader_and_the_restarted_broker_catches_up)
{
    start_cluster();
    create_replicated("r", 1, 3);
    int leader = wait_settled("r");
    enum { FIRST = 50, TOTAL = 100 };
    int acked[TOTAL] = {0};
    for (int seq = 0; seq < FIRST; seq++) {
        int err = produce_seq(leader, "r", seq);
        cr_assert_eq(err, 0, "batch %d: error %d", seq, err);
        acked[seq] = 1;
    }
    /* A follower serves the committed data too. */
    int seen[TOTAL] = {0};
    struct node *follower = node_by_id(leader % nnodes + 1);
    int64_t deadline = now_ms() + 5000;
    int64_t fend = 0, fhw = 0;
    while (now_ms() < deadline && fhw < FIRST * 3)
        leader_seen_by(follower, "r", &fend, &fhw), usleep(20 * 1000);
    cr_assert_geq(fhw, FIRST * 3, "follower's high watermark %lld", (long long)fhw);

    int64_t killed_at = now_ms();
    broker_kill(&node_by_id(leader)->b);
    int dead = leader;
    node_by_id(dead)->b.pid = 0;
    leader = wait_leader("r", dead, 5000);
    cr_assert_gt(leader, 0, "no new leader within 5 s of the kill");
    /* The first acks=all write the new leader takes. */
    int seq = FIRST;
    while (produce_seq(leader, "r", seq) != 0 && now_ms() - killed_at < 5000)
        usleep(10 * 1000);
    acked[seq] = 1;
    int64_t failover = now_ms() - killed_at;
    cr_log_info("failover: %lld ms from SIGKILL to the first acks=all write", (long long)failover);
    cr_assert_lt(failover, 5000);
    for (seq = FIRST + 1; seq < TOTAL; seq++) {
        cr_assert_eq(produce_seq(leader, "r", seq), 0, "batch %d after failover", seq);
        acked[seq] = 1;
    }

    /* Restarted, the old leader catches up to the new leader's log. */
    start(node_by_id(dead));
    int64_t lend = 0, lhw = 0;
    leader_seen_by(node_by_id(leader), "r", &lend, &lhw);
    deadline = now_ms() + 10000;
    int64_t dend = 0, dhw = 0;
    while (now_ms() < deadline && dhw < lhw) {
        leader_seen_by(node_by_id(dead), "r", &dend, &dhw);
        usleep(20 * 1000);
    }
    cr_assert_geq(dhw, lhw, "restarted node at hw %lld, leader at %lld", (long long)dhw,
                  (long long)lhw);
    /* Every acknowledged batch exactly once, on every replica. */
    for (int i = 0; i < nnodes; i++) {
        memset(seen, 0, sizeof(seen));
        read_all(&nodes[i], "r", seen, TOTAL);
        for (int s = 0; s < TOTAL; s++)
            if (acked[s])
                cr_assert_eq(seen[s], 1, "node %d: batch %d seen %d times", i + 1, s, seen[s]);
    }
}

Test(cluster, acks_all_is_refused_without_a_quorum_and_resumes_when_one_returns)
{
    start_cluster();
    create_replicated("q", 1, 3);
    int leader = wait_settled("q");
    cr_assert_eq(produce_seq(leader, "q", 0), 0);
    int a = leader % nnodes + 1, b = a % nnodes + 1;
    broker_kill(&node_by_id(a)->b);
    broker_kill(&node_by_id(b)->b);
    node_by_id(a)->b.pid = 0;
    node_by_id(b)->b.pid = 0;
    /* Alone, the leader must never acknowledge acks=all (check-quorum soon makes it
     * step down: NOT_LEADER; before that NOT_ENOUGH_REPLICAS or a request timeout). */
    for (int i = 0; i < 20; i++) {
        int err = produce_seq(leader, "q", 1);
        cr_assert_neq(err, 0, "an acks=all write was acknowledged by a lone replica");
        usleep(50 * 1000);
    }
    start(node_by_id(a));
    int again = wait_leader("q", -1, 10000);
    cr_assert_gt(again, 0, "no leader once a quorum is back");
    int64_t deadline = now_ms() + 10000;
    int err = -1;
    while (err != 0 && now_ms() < deadline) {
        again = wait_leader("q", -1, 2000);
        err = again > 0 ? produce_seq(again, "q", 2) : -1;
        if (err)
            usleep(50 * 1000);
    }
    cr_assert_eq(err, 0, "acks=all did not resume with two of three replicas");
}

Test(cluster, a_paused_leader_is_replaced_and_rejoins_as_a_follower)
{
    start_cluster();
    create_replicated("p", 1, 3);
    int leader = wait_settled("p");
    cr_assert_eq(produce_seq(leader, "p", 0), 0);
    struct node *x = node_by_id(leader);
    cr_assert_eq(kill(x->b.pid, SIGSTOP), 0);
    pid_t paused = x->b.pid;
    x->b.pid = 0; /* wait_leader skips it */
    int next = wait_leader("p", leader, 5000);
    x->b.pid = paused;
    cr_assert_gt(next, 0, "no new leader while the old one is paused");
    cr_assert_eq(produce_seq(next, "p", 1), 0);
    cr_assert_eq(kill(paused, SIGCONT), 0);
    /* Back, it learns the newer epoch and follows; the data stays whole. */
    int64_t deadline = now_ms() + 5000;
    int seen_leader = -1;
    while (now_ms() < deadline && seen_leader != next) {
        seen_leader = leader_seen_by(x, "p", NULL, NULL);
        usleep(20 * 1000);
    }
    cr_assert_eq(seen_leader, next, "the resumed broker does not follow the new leader");
    int seen[4] = {0};
    read_all(node_by_id(next), "p", seen, 4);
    cr_assert_eq(seen[0], 1);
    cr_assert_eq(seen[1], 1);
}

/* In-sync replicas must not flap while every follower keeps up: acks=all
 * writes for a few election timeouts are all accepted (an in-sync test on
 * the core's check-quorum flags refused a third of them). */
Test(cluster, acks_all_is_never_refused_while_every_replica_keeps_up)
{
    start_cluster();
    create_replicated("s", 1, 3);
    int leader = wait_settled("s");
    int fd = wire_connect(node_by_id(leader)->port);
    cr_assert(fd >= 0);
    uint8_t batch[4096];
    size_t len = wire_build_batch(batch, sizeof(batch), "k", 3, -1, -1, -1);
    int64_t until = now_ms() + 2500;
    int sent = 0;
    /* Pipelined, 16 in flight: the followers are rarely both at the commit. */
    while (now_ms() < until && sent < 200000) {
        for (int i = 0; i < 16; i++)
            wire_send_produce_as(fd, "s", 0, -1, 0, batch, len);
        for (int i = 0; i < 16; i++, sent++) {
            Ringlog__Response *r = wire_recv(fd, 10000);
            cr_assert_not_null(r);
            int err = wire_first_error(r);
            ringlog__response__free_unpacked(r, NULL);
            cr_assert_eq(err, 0, "write %d refused with error %d", sent, err);
        }
    }
    cr_log_info("%d acks=all writes accepted", sent);
    close(fd);
}

/* A follower whose data directory is wiped comes back as a new disk
 * incarnation, recovers (no vote until caught up) and re-replicates
 * everything; writes go on meanwhile. Run a few times: incarnations are
 * random, and ordering links by them once dropped a rejoined node's
 * messages for good when its new id happened to be smaller. */
Test(cluster, a_wiped_follower_rejoins_and_re_replicates)
{
    start_cluster();
    create_replicated("w", 1, 3);
    int leader = wait_settled("w");
    for (int seq = 0; seq < 20; seq++)
        cr_assert_eq(produce_seq(leader, "w", seq), 0);
    int victim = leader % nnodes + 1;
    for (int round = 0; round < 3; round++) {
        struct node *x = node_by_id(victim);
        broker_kill(&x->b);
        x->b.pid = 0;
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", x->dir, x->dir);
        cr_assert_eq(system(cmd), 0);
        int err = produce_seq(leader, "w", 20 + round);
        cr_assert_eq(err, 0, "the two others keep a quorum: error %d", err);
        start(x);
        int64_t lend = 0, lhw = 0, dend = 0, dhw = 0;
        leader_seen_by(node_by_id(leader), "w", &lend, &lhw);
        int64_t deadline = now_ms() + 10000;
        while (now_ms() < deadline && dend < lend) {
            leader_seen_by(x, "w", &dend, &dhw);
            usleep(20 * 1000);
        }
        cr_assert_geq(dend, lend, "round %d: the wiped node has %lld of %lld", round,
                      (long long)dend, (long long)lend);
        int seen[32] = {0};
        read_all(x, "w", seen, 32);
        for (int s = 0; s < 21 + round; s++)
            cr_assert_eq(seen[s], 1, "round %d: batch %d seen %d times", round, s, seen[s]);
    }
}

/* Runs the CLI against node x; its stdout into out. Returns the exit status. */
static int run_cli(const struct node *x, const char *args, char *out, size_t cap)
{
    char bin[600], cmd[1200];
    test_bin_path("ringlog", bin, sizeof(bin));
    snprintf(cmd, sizeof(cmd), "%s --bootstrap 127.0.0.1:%u %s 2>&1", bin, x->port, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `ringlog cluster status` and `topic describe`: brokers up and down, the
 * controller, and the partitions a dead broker leaves under-replicated, as
 * their leaders see them. */
Test(cluster, cluster_status_names_the_dead_broker_and_the_under_replicated_partitions)
{
    start_cluster();
    create_replicated("c", 3, 3);
    wait_settled("c");
    char out[8192];
    /* Leaderships of the other partitions may still be settling: healthy within seconds. */
    int64_t healthy_by = now_ms() + 10000;
    do {
        int st = run_cli(&nodes[0], "cluster status", out, sizeof(out));
        cr_assert_eq(st, 0, "%s", out);
    } while (!strstr(out, "partitions: 0 under-replicated, 0 offline") && now_ms() < healthy_by &&
             usleep(100 * 1000) == 0);
    cr_assert(strstr(out, "partitions: 0 under-replicated, 0 offline"), "%s", out);
    cr_assert(strstr(out, " controller\n"), "%s", out);
    struct node *dead = &nodes[2];
    broker_kill(&dead->b);
    dead->b.pid = 0;
    char line[64];
    snprintf(line, sizeof(line), "broker 3 127.0.0.1:%u down", dead->port);
    int64_t deadline = now_ms() + 5000;
    do {
        usleep(200 * 1000);
        cr_assert_eq(run_cli(&nodes[0], "cluster status", out, sizeof(out)), 0);
    } while (now_ms() < deadline && !strstr(out, "partitions: 3 under-replicated, 0 offline"));
    cr_assert(strstr(out, line), "%s", out);
    cr_assert(strstr(out, "partitions: 3 under-replicated, 0 offline"), "%s", out);
    cr_assert_eq(run_cli(&nodes[1], "topic describe c", out, sizeof(out)), 0);
    cr_assert_null(strstr(out, "isr=3"), "the dead broker is no in-sync replica: %s", out);
    cr_assert_null(strstr(out, ",3\n"), "the dead broker is no in-sync replica: %s", out);
}

/* The lines of a text file, counted, and whether any line is there twice. */
static int count_lines(const char *path, bool *repeated)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char lines[256][512];
    int n = 0;
    *repeated = false;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        for (int i = 0; i < n && i < 256; i++)
            *repeated |= strcmp(lines[i], line) == 0;
        if (n < 256)
            snprintf(lines[n], sizeof(lines[n]), "%s", line);
        n++;
    }
    fclose(f);
    return n;
}

/*
 * `ringlog produce` while two of three brokers are down for 4 s (reconnect
 * backoff capped at 20 ms, as a user may set it): every retry failed with
 * a line on stderr, and the two brokers' lines interleaved so a check
 * against the last line let them all through (hundreds of lines). Each
 * distinct message is said once; the produce still completes.
 */
Test(cluster, the_cli_says_each_retried_error_once_while_brokers_are_down)
{
    start_cluster();
    create_replicated("loud", 3, 3);
    wait_settled("loud");
    char bin[600], err_path[] = "/tmp/ringlog-cli-err-XXXXXX", cmd[2048];
    test_bin_path("ringlog", bin, sizeof(bin));
    int efd = mkstemp(err_path);
    cr_assert_geq(efd, 0);
    close(efd);
    snprintf(cmd, sizeof(cmd),
             "i=0; while [ $i -lt 60 ]; do echo m$i; i=$((i+1)); sleep 0.1; done | "
             "%s --bootstrap 127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u produce loud --acks all "
             "-X reconnect.backoff.max.ms=20 2>%s",
             bin, nodes[0].port, nodes[1].port, nodes[2].port, err_path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    usleep(1000 * 1000);
    for (int id = 1; id <= 2; id++) {
        broker_kill(&node_by_id(id)->b);
        node_by_id(id)->b.pid = 0;
    }
    usleep(4000 * 1000);
    for (int id = 1; id <= 2; id++)
        start(node_by_id(id));
    int st = pclose(p);
    bool repeated;
    int lines = count_lines(err_path, &repeated);
    char shown[8192] = "";
    FILE *f = fopen(err_path, "r");
    size_t got = f ? fread(shown, 1, sizeof(shown) - 1, f) : 0;
    shown[got] = '\0';
    if (f)
        fclose(f);
    unlink(err_path);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "produce failed: %s", shown);
    cr_assert(!repeated, "a line was said twice:\n%s", shown);
    cr_assert_leq(lines, 12, "%d lines:\n%s", lines, shown);
}

/* ------------------------------------------------- reassignment (item 4) */

/* Partition p of topic as broker x describes it. */
struct pview {
    int leader;
    int replicas[8], n;
    int isr;
};

static bool view_of(const struct node *x, const char *topic, uint32_t p, struct pview *v)
{
    memset(v, 0, sizeof(*v));
    v->leader = -1;
    int fd = wire_connect(x->port);
    if (fd < 0)
        return false;
    Ringlog__Response *r = wire_metadata(fd, topic);
    close(fd);
    bool ok = r && r->body_case == RINGLOG__RESPONSE__BODY_METADATA && r->metadata->n_topics == 1 &&
              r->metadata->topics[0]->error == 0 && p < r->metadata->topics[0]->n_partitions;
    if (ok) {
        Ringlog__PartitionMetadata *pm = r->metadata->topics[0]->partitions[p];
        v->leader = pm->leader;
        v->n = (int)pm->n_replicas;
        for (int i = 0; i < v->n && i < 8; i++)
            v->replicas[i] = pm->replicas[i];
        v->isr = (int)pm->n_isr;
    }
    if (r)
        ringlog__response__free_unpacked(r, NULL);
    return ok;
}

/* The leader's own view of partition p: false while it has none or is not leading. */
static bool leader_view(const char *topic, uint32_t p, struct pview *v)
{
    struct pview first;
    for (int i = 0; i < nnodes; i++) {
        if (nodes[i].b.pid <= 0 || !view_of(&nodes[i], topic, p, &first) || first.leader <= 0)
            continue;
        const struct node *l = node_by_id(first.leader);
        return l->b.pid > 0 && view_of(l, topic, p, v) && v->leader == first.leader;
    }
    return false;
}

static bool has(const int *ids, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* The partition's group is exactly `want` (as a set), all of it in sync. */
static bool moved_to(const char *topic, uint32_t p, const int *want, int n)
{
    struct pview v;
    if (!leader_view(topic, p, &v) || v.n != n || v.isr != n)
        return false;
    for (int i = 0; i < n; i++)
        if (!has(v.replicas, v.n, want[i]))
            return false;
    return true;
}

/* A ReassignPartitions or DecommissionBroker request, sent to whichever broker is the
 * controller. */
static int controller_request(Ringlog__Request *req)
{
    return ops_controller_call(nodes, nnodes, req);
}

static int reassign(const char *topic, uint32_t p, const int *ids, int n)
{
    return ops_reassign_error(nodes, nnodes, topic, p, ids, n);
}

static bool partition_dir_exists(const struct node *x, const char *topic, uint32_t p)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof(path), "%s/topics/%s/%u", x->dir, topic, p);
    return stat(path, &st) == 0;
}

/* Within 10 s, x holds no files of any of topic's first n partitions. */
static bool dirs_gone(const struct node *x, const char *topic, uint32_t n)
{
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        bool left = false;
        for (uint32_t p = 0; p < n; p++)
            left |= partition_dir_exists(x, topic, p);
        if (!left || now_ms() >= deadline)
            return !left;
        usleep(100 * 1000);
    }
}

/* Within timeout_ms, every one of topic's n partitions has 3 replicas in sync, none on `gone`. */
static bool off_broker(const char *topic, uint32_t n, int gone, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        bool done = true;
        for (uint32_t p = 0; p < n && done; p++) {
            struct pview v;
            done =
                leader_view(topic, p, &v) && v.n == 3 && v.isr == 3 && !has(v.replicas, v.n, gone);
        }
        if (done || now_ms() >= deadline)
            return done;
        usleep(100 * 1000);
    }
}

#define MOVE_SEQS 4000

/*
 * Item 4: a partition moves to another replica set while a producer writes
 * to it with acks=all (the leader itself is moved out: it hands leadership
 * over before it leaves). Nothing acknowledged is lost or duplicated, the
 * new replica holds the data, and the replica left out is deleted.
 */
Test(cluster, reassignment_under_load_moves_the_leader_out_and_loses_nothing)
{
    start_cluster_of(4);
    create_replicated("moving", 1, 3);
    int leader = wait_settled("moving");
    struct pview v;
    cr_assert(leader_view("moving", 0, &v) && v.n == 3);
    int spare = 0;
    for (int id = 1; id <= 4; id++)
        if (!has(v.replicas, v.n, id))
            spare = id;
    int target[3] = {spare}, k = 1;
    for (int i = 0; i < 3; i++)
        if (v.replicas[i] != leader)
            target[k++] = v.replicas[i];
    cr_assert_eq(k, 3);
    cr_assert_eq(reassign("moving", 0, (int[]){leader, leader}, 2),
                 RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT, "a broker named twice");
    cr_assert_eq(reassign("moving", 0, (int[]){9}, 1),
                 RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT, "a broker not in --peers");
    cr_assert_eq(reassign("moving", 5, target, 3), RINGLOG__ERROR_CODE__UNKNOWN_PARTITION);
    static bool acked[MOVE_SEQS];
    memset(acked, 0, sizeof(acked));
    int seq = 0;
    for (; seq < 20; seq++)
        acked[seq] = produce_seq(leader, "moving", seq) == 0;
    cr_assert_eq(reassign("moving", 0, target, 3), 0);
    int64_t deadline = now_ms() + 60000;
    bool done = false;
    while (!done && now_ms() < deadline && seq < MOVE_SEQS - 50) {
        int l = wait_leader("moving", -1, 3000);
        if (l > 0)
            for (int i = 0; i < 10; i++, seq++)
                acked[seq] = produce_seq(l, "moving", seq) == 0;
        done = moved_to("moving", 0, target, 3);
    }
    cr_assert(done, "the move did not finish in 60 s");
    int l = wait_leader("moving", -1, 5000);
    cr_assert(has(target, 3, l), "the leader %d is one of the new replicas", l);
    for (int i = 0; i < 20; i++, seq++)
        acked[seq] = produce_seq(l, "moving", seq) == 0 || acked[seq];
    int nacked = 0;
    for (int i = 0; i < seq; i++)
        nacked += acked[i];
    cr_assert_gt(nacked, 40, "writes went on during the move (%d acknowledged)", nacked);
    /* Every new replica has every acknowledged write, once, in order. */
    for (int r = 0; r < 3; r++) {
        static int seen[MOVE_SEQS];
        memset(seen, 0, sizeof(seen));
        int64_t t_end = now_ms() + 10000;
        int64_t hw = 0;
        while (now_ms() < t_end) {
            memset(seen, 0, sizeof(seen));
            struct pview rv;
            view_of(node_by_id(target[r]), "moving", 0, &rv);
            hw = read_all(node_by_id(target[r]), "moving", seen, MOVE_SEQS);
            int missing = 0;
            for (int i = 0; i < seq; i++)
                missing += acked[i] && seen[i] == 0;
            if (missing == 0)
                break;
            usleep(100 * 1000);
        }
        for (int i = 0; i < seq; i++) {
            cr_assert(!acked[i] || seen[i] == 1, "node %d: batch %d acknowledged, seen %d times",
                      target[r], i, seen[i]);
            cr_assert_leq(seen[i], 1, "node %d: batch %d seen %d times", target[r], i, seen[i]);
        }
        cr_assert_gt(hw, 0);
    }
    /* The replica moved out is deleted once the group let it go. */
    cr_assert(dirs_gone(node_by_id(leader), "moving", 1), "node %d still has the partition it left",
              leader);
    cr_assert(partition_dir_exists(node_by_id(spare), "moving", 0));
}

/* Watches x's topics/ and topics/<topic>/ (when they exist) for new entries: an inotify fd. */
static int watch_topic_dirs(const struct node *x, const char *topic)
{
    int fd = inotify_init1(IN_NONBLOCK);
    cr_assert_geq(fd, 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/topics", x->dir);
    int watches = inotify_add_watch(fd, path, IN_CREATE) >= 0;
    snprintf(path, sizeof(path), "%s/topics/%s", x->dir, topic);
    watches += inotify_add_watch(fd, path, IN_CREATE) >= 0;
    cr_assert_gt(watches, 0, "%s/topics exists", x->dir);
    return fd;
}

/* Whether an entry named `name` was created under a watched directory (drains the events). */
static bool created(int fd, const char *a, const char *b)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool seen = false;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len > 0 && (strcmp(e->name, a) == 0 || strcmp(e->name, b) == 0))
                seen = true;
            p += sizeof(*e) + e->len;
        }
    }
    return seen;
}

/*
 * A broker whose replica a move took away, and deleted, does not open it
 * again when it restarts: replaying the metadata log, the topic's creation
 * names it before the move does (it used to open the replica, recreating
 * its directory, until it replayed the move and a member told it it was
 * out); it remembers what it deleted (meta/removed_replicas).
 */
Test(cluster, a_restarted_broker_does_not_reopen_a_replica_moved_off_it)
{
    start_cluster_of(4);
    create_replicated("gone", 1, 3);
    int leader = wait_settled("gone");
    struct pview v;
    cr_assert(leader_view("gone", 0, &v) && v.n == 3);
    int victim = 0, spare = 0, target[3], k = 0;
    for (int i = 0; i < 3; i++)
        victim = v.replicas[i] != leader ? v.replicas[i] : victim;
    for (int id = 1; id <= 4; id++)
        spare = has(v.replicas, v.n, id) ? spare : id;
    for (int i = 0; i < 3; i++)
        target[k++] = v.replicas[i] == victim ? spare : v.replicas[i];
    for (int seq = 0; seq < 5; seq++)
        cr_assert_eq(produce_seq(leader, "gone", seq), 0);
    cr_assert_eq(reassign("gone", 0, target, 3), 0);
    int64_t deadline = now_ms() + 30000;
    while (!moved_to("gone", 0, target, 3) && now_ms() < deadline)
        usleep(50 * 1000);
    cr_assert(moved_to("gone", 0, target, 3), "the move did not finish");
    struct node *x = node_by_id(victim);
    cr_assert(dirs_gone(x, "gone", 1), "node %d keeps the replica it left", victim);
    cr_assert_eq(broker_stop(&x->b), 0);
    int watch = watch_topic_dirs(x, "gone");
    start(x);
    /* Replayed up to the move: it names the new replicas. */
    deadline = now_ms() + 20000;
    bool replayed = false;
    while (!replayed && now_ms() < deadline) {
        replayed = view_of(x, "gone", 0, &v) && v.n == 3 && !has(v.replicas, v.n, victim);
        if (!replayed)
            usleep(20 * 1000);
    }
    cr_assert(replayed, "node %d did not replay the move", victim);
    usleep(1000 * 1000); /* a removal notice would come within this */
    bool reopened = created(watch, "gone", "0");
    close(watch);
    cr_assert(!reopened, "node %d created the replica's directory again on restart", victim);
    cr_assert(!partition_dir_exists(x, "gone", 0));
    /* The group goes on without it. */
    int l = wait_leader("gone", -1, 5000);
    cr_assert_gt(l, 0);
    cr_assert_eq(produce_seq(l, "gone", 5), 0);
}

/*
 * Decommissioning a broker moves every replica it holds to the others and
 * places no new topic's replica on it; a restart of the cluster keeps it so
 * (the moves are in the metadata log, the new replicas' memberships in
 * their own logs).
 */
Test(cluster, decommission_moves_every_replica_off_the_broker)
{
    start_cluster_of(4);
    create_replicated("spread", 4, 3);
    for (uint32_t p = 0; p < 4; p++) {
        struct pview v;
        int64_t until = now_ms() + 20000;
        while (!(leader_view("spread", p, &v) && v.isr == 3) && now_ms() < until)
            usleep(50 * 1000);
        cr_assert_eq(v.isr, 3, "partition %u in sync before the move", p);
    }
    const int gone = 2;
    Ringlog__DecommissionBrokerRequest dr = RINGLOG__DECOMMISSION_BROKER_REQUEST__INIT;
    dr.node_id = gone;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DECOMMISSION_BROKER;
    req.decommission_broker = &dr;
    cr_assert_eq(controller_request(&req), 0);
    bool done = off_broker("spread", 4, gone, 60000);
    cr_assert(done, "replicas still on broker %d after 60 s", gone);
    cr_assert(dirs_gone(node_by_id(gone), "spread", 4), "broker %d still holds a replica's files",
              gone);
    /* New topics avoid it; and it cannot be named in a move any more. */
    create_replicated("after", 4, 3);
    for (uint32_t p = 0; p < 4; p++) {
        struct pview v;
        /* The controller answered once it applied the create; node 1 may apply it a moment
         * later. */
        int64_t until = now_ms() + 10000;
        while (!view_of(&nodes[0], "after", p, &v) && now_ms() < until)
            usleep(50 * 1000);
        cr_assert(view_of(&nodes[0], "after", p, &v));
        cr_assert(!has(v.replicas, v.n, gone), "partition %u placed on the decommissioned broker",
                  p);
    }
    cr_assert_eq(reassign("after", 0, (int[]){1, gone, 3}, 3),
                 RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT);
    /* A restart of every broker: the moved partitions come back with their new replicas. */
    for (int i = 0; i < nnodes; i++) {
        cr_assert_eq(broker_stop(&nodes[i].b), 0);
        nodes[i].b.pid = 0;
    }
    for (int i = 0; i < nnodes; i++)
        start(&nodes[i]);
    done = off_broker("spread", 4, gone, 30000);
    cr_assert(done, "after a restart the partitions are back on their new replicas, in sync");
    /* Replaying the metadata log does not open the creation's replicas again: the broker
     * remembers the ones it deleted (meta/removed_replicas). */
    cr_assert(dirs_gone(node_by_id(gone), "spread", 4),
              "broker %d holds a replica's files again after the restart", gone);
}

/* The controller as any broker names it (Metadata's controller_id), -1 while none. */
static int controller_seen(const struct node *x)
{
    int fd = wire_connect(x->port);
    if (fd < 0)
        return -1;
    Ringlog__Response *r = wire_metadata(fd, NULL);
    close(fd);
    int id =
        r && r->body_case == RINGLOG__RESPONSE__BODY_METADATA ? r->metadata->controller_id : -1;
    if (r)
        ringlog__response__free_unpacked(r, NULL);
    return id;
}

/* Every running broker knows topic's n partitions, each with a leader, within 20 s. */
static void expect_known_everywhere(const char *topic, uint32_t n)
{
    for (int i = 0; i < nnodes; i++) {
        if (nodes[i].b.pid <= 0)
            continue;
        int64_t deadline = now_ms() + 20000;
        bool ok = false;
        while (!ok && now_ms() < deadline) {
            ok = true;
            for (uint32_t p = 0; p < n && ok; p++) {
                struct pview v;
                ok = view_of(&nodes[i], topic, p, &v) && v.leader > 0 && v.n == 3;
            }
            if (!ok)
                usleep(100 * 1000);
        }
        cr_assert(ok, "node %d does not know %s with a leader for each partition", i + 1, topic);
    }
}

/*
 * Six brokers: the metadata log has five voters (the lowest ids) and the
 * sixth follows it as a learner, so it knows every topic. The learner does
 * not count in quorums: with brokers 4, 5 and 6 gone the three voters left
 * still elect a controller and create topics.
 */
Test(cluster, a_sixth_broker_follows_the_metadata_log_without_voting)
{
    start_cluster_of(6);
    create_replicated("wide", 6, 3);
    expect_known_everywhere("wide", 6);
    int ctl = -1;
    for (int i = 0; i < 100 && ctl <= 0; i++, usleep(50 * 1000))
        ctl = controller_seen(&nodes[5]);
    cr_assert(ctl >= 1 && ctl <= 5, "the controller %d is one of the five voters", ctl);
    /* With 4, 5 and 6 gone, three of the five voters remain: still a quorum (had all six
     * voted, three of six would not be). */
    for (int id = 4; id <= 6; id++)
        broker_kill(&node_by_id(id)->b);
    create_replicated("wider", 2, 3);
    expect_known_everywhere("wider", 2);
    cr_assert(controller_seen(&nodes[0]) >= 1 && controller_seen(&nodes[0]) <= 3);
}

/* The partition's group is `want` (as a set) as its leader sees it, in sync or not. */
static bool members_are(const char *topic, uint32_t p, const int *want, int n)
{
    struct pview v;
    if (!leader_view(topic, p, &v) || v.n != n)
        return false;
    for (int i = 0; i < n; i++)
        if (!has(v.replicas, v.n, want[i]))
            return false;
    return true;
}

static void move_and_wait(const char *topic, const int *ids, int n)
{
    cr_assert_eq(reassign(topic, 0, ids, n), 0);
    int64_t deadline = now_ms() + 20000;
    while (!members_are(topic, 0, ids, n) && now_ms() < deadline)
        usleep(50 * 1000);
    cr_assert(members_are(topic, 0, ids, n), "the move to %d replicas did not finish", n);
}

/*
 * A follower that was down through several membership changes catches up
 * through all of them: an APPEND carries at most four config batches (the
 * receiver refuses more), so the leader cuts its reads after the fourth
 * instead of sending the same refused APPEND forever.
 */
Test(cluster, a_follower_catches_up_through_many_membership_changes)
{
    start_cluster_of(4);
    create_replicated("configs", 1, 3);
    int leader = wait_settled("configs");
    struct pview v;
    cr_assert(leader_view("configs", 0, &v) && v.n == 3);
    int spare = 0, sleeper = 0, orig[3];
    for (int i = 0; i < 3; i++)
        orig[i] = v.replicas[i];
    for (int id = 1; id <= 4; id++)
        spare = has(orig, 3, id) ? spare : id;
    for (int i = 0; i < 3; i++)
        sleeper = orig[i] != leader ? orig[i] : sleeper;
    int wide[4] = {orig[0], orig[1], orig[2], spare};
    struct node *z = node_by_id(sleeper);
    broker_kill(&z->b); /* down, not paused: the leader must send it the whole range at once */
    for (int round = 0; round < 3; round++) {
        move_and_wait("configs", wide, 4);
        move_and_wait("configs", orig, 3);
    }
    start(z);
    int64_t deadline = now_ms() + 20000;
    while (!moved_to("configs", 0, orig, 3) && now_ms() < deadline)
        usleep(50 * 1000);
    cr_assert(moved_to("configs", 0, orig, 3), "node %d did not catch up after its sleep", sleeper);
}

/*
 * A replica added after retention deleted the head of the leader's log
 * starts at the leader's log start (INSTALL_START): the driver tells the
 * core every new log start, without which the leader kept sending APPENDs
 * from offset 0, which no longer exists, and the new replica never caught up.
 */
Test(cluster, a_replica_added_after_retention_starts_at_the_log_start)
{
    start_cluster_of(3);
    Ringlog__TopicConfig cfg = RINGLOG__TOPIC_CONFIG__INIT;
    cfg.segment_bytes = 4096;
    cfg.retention_bytes = 4096;
    create_replicated_with("kept", 1, 2, &cfg);
    int leader = wait_leader("kept", -1, 10000);
    cr_assert_gt(leader, 0);
    for (int seq = 0; seq < 60; seq++) {
        int l = wait_leader("kept", -1, 5000);
        cr_assert_eq(produce_seq(l, "kept", seq), 0, "batch %d", seq);
    }
    struct pview v;
    int64_t start = 0;
    int64_t deadline = now_ms() + 20000;
    while (start == 0 && now_ms() < deadline) {
        int fd = wire_connect(node_by_id(wait_leader("kept", -1, 5000))->port);
        Ringlog__Response *r = wire_metadata(fd, "kept");
        close(fd);
        start = r->metadata->topics[0]->partitions[0]->log_start_offset;
        ringlog__response__free_unpacked(r, NULL);
        usleep(200 * 1000);
    }
    cr_assert_gt(start, 0, "retention moved the log start");
    cr_assert(leader_view("kept", 0, &v) && v.n == 2);
    int all[3] = {v.replicas[0], v.replicas[1], 0};
    for (int id = 1; id <= 3; id++)
        all[2] = has(v.replicas, 2, id) ? all[2] : id;
    cr_assert_eq(reassign("kept", 0, all, 3), 0);
    deadline = now_ms() + 20000;
    while (!moved_to("kept", 0, all, 3) && now_ms() < deadline)
        usleep(100 * 1000);
    cr_assert(moved_to("kept", 0, all, 3), "node %d did not catch up from the log start", all[2]);
}

/* Sends DeleteRecords of partition 0 of topic up to offset on fd, without reading the answer. */
static void send_delete_records(int fd, const char *topic, int64_t offset)
{
    Ringlog__DeleteRecordsPartition dp = RINGLOG__DELETE_RECORDS_PARTITION__INIT;
    Ringlog__DeleteRecordsPartition *dpp = &dp;
    dp.offset = offset;
    Ringlog__DeleteRecordsTopic dt = RINGLOG__DELETE_RECORDS_TOPIC__INIT;
    Ringlog__DeleteRecordsTopic *dtp = &dt;
    dt.topic = (char *)topic;
    dt.n_partitions = 1;
    dt.partitions = &dpp;
    Ringlog__DeleteRecordsRequest dr = RINGLOG__DELETE_RECORDS_REQUEST__INIT;
    dr.n_topics = 1;
    dr.topics = &dtp;
    dr.timeout_ms = 20000;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_RECORDS;
    req.delete_records = &dr;
    cr_assert_eq(wire_send(fd, &req), 0);
}

/*
 * DeleteRecords on a cluster is answered once every live broker holding a
 * replica has applied the new start (docs/PROTOCOL.md): it was answered
 * once the controller had, while a follower could still serve the deleted
 * records and, elected leader, go on serving them. A follower paused
 * during the request holds the answer back; after it, no replica, and no
 * new leader after the old one is killed, serves below the new start.
 */
Test(cluster, delete_records_is_answered_once_every_replica_applied_it)
{
    start_cluster();
    create_replicated("dr", 1, 3);
    int leader = wait_settled("dr");
    for (int seq = 0; seq < 20; seq++)
        cr_assert_eq(produce_seq(leader, "dr", seq), 0);
    for (int i = 0; i < nnodes; i++) {
        int64_t end = 0, hw = 0, deadline = now_ms() + 10000;
        while (hw < 60 && now_ms() < deadline)
            leader_seen_by(&nodes[i], "dr", &end, &hw), usleep(20 * 1000);
        cr_assert_geq(hw, 60, "node %d's high watermark", i + 1);
    }
    int ctl = -1;
    for (int i = 0; i < 100 && ctl <= 0; i++, usleep(50 * 1000))
        ctl = controller_seen(&nodes[0]);
    cr_assert_gt(ctl, 0);
    struct node *paused = node_by_id(ctl % nnodes + 1);
    int fd = wire_connect(node_by_id(ctl)->port);
    cr_assert(fd >= 0);
    cr_assert_eq(kill(paused->b.pid, SIGSTOP), 0);
    send_delete_records(fd, "dr", 30);
    Ringlog__Response *r = wire_recv(fd, 1000);
    cr_assert_eq(kill(paused->b.pid, SIGCONT), 0);
    bool early = r != NULL;
    if (r)
        ringlog__response__free_unpacked(r, NULL);
    cr_assert(!early, "answered while node %d, a replica, had not applied it", paused->id);
    r = wire_recv(fd, 20000);
    close(fd);
    cr_assert_not_null(r);
    cr_assert_eq(wire_first_error(r), 0, "%s", r->error_message);
    cr_assert_eq(r->delete_records->topics[0]->partitions[0]->low_watermark, 30);
    ringlog__response__free_unpacked(r, NULL);
    for (int i = 0; i < nnodes; i++) {
        cr_assert_eq(ops_fetch_error(&nodes[i], "dr", 0, NULL),
                     RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE, "node %d serves below the new start",
                     i + 1);
        cr_assert_eq(ops_fetch_error(&nodes[i], "dr", 30, NULL), 0, "node %d", i + 1);
    }
    /* The leader killed: whichever replica leads now serves nothing below it either. */
    broker_kill(&node_by_id(leader)->b);
    node_by_id(leader)->b.pid = 0;
    int next = wait_leader("dr", leader, 5000);
    cr_assert_gt(next, 0);
    cr_assert_eq(ops_fetch_error(node_by_id(next), "dr", 3, NULL),
                 RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE);
}

/*
 * A restarted broker replays the metadata log from its start: until it has
 * caught up it does not know every topic, and it said UNKNOWN_TOPIC for
 * those it had not replayed yet, which a producer took as final ("produce
 * to loud: UNKNOWN_TOPIC" while brokers came back). It answers Metadata
 * with a retriable LEADER_NOT_AVAILABLE until it has caught up.
 */
Test(cluster, a_restarted_broker_does_not_call_a_topic_unknown_while_it_replays)
{
    start_cluster();
    char name[16];
    for (int i = 0; i < 24; i++) {
        snprintf(name, sizeof(name), "t%02d", i);
        create_replicated(name, 1, 3);
    }
    struct node *x = &nodes[2];
    int64_t end = 0, hw = 0, deadline = now_ms() + 20000;
    while (leader_seen_by(x, name, &end, &hw) < 0 && now_ms() < deadline)
        usleep(20 * 1000);
    cr_assert_eq(broker_stop(&x->b), 0);
    start(x);
    int unknown = 0, known = 0, loading = 0;
    deadline = now_ms() + 20000;
    while (!known && now_ms() < deadline) {
        int fd = wire_connect(x->port);
        cr_assert(fd >= 0);
        Ringlog__Response *r = wire_metadata(fd, name);
        close(fd);
        cr_assert_not_null(r);
        if (r->error == RINGLOG__ERROR_CODE__LEADER_NOT_AVAILABLE)
            loading++;
        else if (r->metadata->topics[0]->error == RINGLOG__ERROR_CODE__UNKNOWN_TOPIC)
            unknown++;
        else
            known = r->metadata->topics[0]->error == 0;
        ringlog__response__free_unpacked(r, NULL);
    }
    cr_log_info("%d answers while replaying", loading);
    cr_assert(known, "node 3 never knew %s again", name);
    cr_assert_eq(unknown, 0, "%d answers said %s does not exist", unknown, name);
}

/*
 * A topic created while a broker is down gets no replica there when
 * enough brokers are up: an RF 2 partition with a replica on the dead
 * broker had no quorum, so its acks=all writes waited for that broker.
 */
Test(cluster, placement_skips_a_broker_that_is_down)
{
    start_cluster_of(3);
    create_replicated("warmup", 1, 3);
    wait_settled("warmup");
    broker_kill(&node_by_id(3)->b);
    sleep(1); /* the controller sees the link down */
    create_replicated("twos", 3, 2);
    for (uint32_t p = 0; p < 3; p++) {
        struct pview v;
        int64_t until = now_ms() + 10000;
        while (!(leader_view("twos", p, &v) && v.isr == 2) && now_ms() < until)
            usleep(50 * 1000);
        cr_assert_eq(v.n, 2, "partition %u", p);
        cr_assert(!has(v.replicas, v.n, 3), "partition %u placed on the dead broker", p);
        cr_assert_eq(v.isr, 2, "partition %u has both its replicas in sync", p);
    }
    int l = wait_leader("twos", -1, 5000);
    cr_assert_gt(l, 0);
    cr_assert_eq(produce_seq(l, "twos", 1), 0, "acks=all with a broker down");
}
