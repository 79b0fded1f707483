/*
 * Consumer groups on three real brokers (docs/CONSUMER_GROUPS.md, "On a
 * cluster"): __groups is created by the controller, any broker names a
 * group's coordinator (the leader of its __groups partition), three
 * members of one group split a replicated topic, and when the broker
 * coordinating the group is killed with SIGKILL the group goes on at the
 * new leader of that partition: the same members at the same epochs (no
 * rejoin), their committed offsets kept (nothing consumed twice below the
 * last commit, nothing lost), a zombie's commit still fenced, and `ringlog
 * group describe` answering from every broker left.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "client_helpers.h"
#include "ringlog.h"
#include "run_proc.h"
#include "wire.h"

enum { NODES = 3, PARTS = 6, MEMBERS = 3, PER_ROUND = 100, MAX_MSGS = 1000 };

static struct broker_proc nodes[NODES];
static uint16_t ports[NODES];
static char peers[256], all[256];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_node(int i)
{
    char id[16], listen[64];
    snprintf(id, sizeof(id), "%d", i + 1);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ports[i]);
    const char *args[] = {"--node-id", id,          "--peers", peers, "--listen",
                          listen,      "--metrics", "off",     NULL};
    cr_assert_eq(broker_start(&nodes[i], nodes[i].data_dir[0] ? nodes[i].data_dir : NULL, args), 0,
                 "node %d did not start", i + 1);
}

static void start_cluster(void)
{
    size_t p = 0, q = 0;
    for (int i = 0; i < NODES; i++) {
        memset(&nodes[i], 0, sizeof(nodes[i]));
        ports[i] = wire_free_port();
        p += (size_t)snprintf(peers + p, sizeof(peers) - p, "%s%d@127.0.0.1:%u", i ? "," : "",
                              i + 1, ports[i]);
        q += (size_t)snprintf(all + q, sizeof(all) - q, "%s127.0.0.1:%u", i ? "," : "", ports[i]);
    }
    for (int i = 0; i < NODES; i++)
        start_node(i);
}

static void stop_cluster(void)
{
    for (int i = 0; i < NODES; i++) {
        if (nodes[i].pid > 0)
            cr_expect_eq(broker_stop(&nodes[i]), 0, "node %d did not stop cleanly", i + 1);
        if (nodes[i].data_dir[0])
            broker_remove_data(&nodes[i]);
    }
}

TestSuite(group_cluster, .init = start_cluster, .fini = stop_cluster, .timeout = 240);

/* FindCoordinator for `group` at node i: the coordinator's node id, or -1 (with *error). */
static int find_at(int i, const char *group, int *error)
{
    int fd = wire_connect(ports[i]);
    cr_assert(fd >= 0);
    Ringlog__FindCoordinatorRequest f = RINGLOG__FIND_COORDINATOR_REQUEST__INIT;
    f.group = (char *)group;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_FIND_COORDINATOR;
    req.find_coordinator = &f;
    Ringlog__Response *r = wire_call(fd, &req);
    close(fd);
    cr_assert_not_null(r);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_FIND_COORDINATOR);
    *error = (int)r->find_coordinator->error;
    int node = *error ? -1 : r->find_coordinator->node_id;
    if (!*error)
        cr_assert_eq(r->find_coordinator->port, ports[node - 1], "the coordinator's own port");
    ringlog__response__free_unpacked(r, NULL);
    return node;
}

/* The coordinator every live broker names for `group` (the same from each), within 20 s. */
static int coordinator(const char *group)
{
    for (int64_t deadline = now_ms() + 20000; now_ms() < deadline; usleep(100 * 1000)) {
        int agreed = -1, error = 0;
        bool same = true;
        for (int i = 0; i < NODES && same; i++) {
            if (nodes[i].pid <= 0)
                continue;
            int node = find_at(i, group, &error);
            same = node > 0 && nodes[node - 1].pid > 0 && (agreed < 0 || agreed == node);
            agreed = node;
        }
        if (same && agreed > 0)
            return agreed;
        cr_assert(error == 0 || error == RINGLOG__ERROR_CODE__NOT_COORDINATOR, "error %d", error);
    }
    cr_assert_fail("no coordinator for %s within 20 s", group);
    return -1;
}

static void create_replicated(const char *topic)
{
    ringlog_conf *c = conf_at(all);
    char err[256];
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    int rc = ringlog_admin_create_topic(a, topic, PARTS, 3, NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "create %s: %s %s", topic, ringlog_err_name(rc), err);
    ringlog_admin_destroy(a);
    ringlog_conf_destroy(c);
    /* Every broker applies the record after the controller, and each partition elects. */
    for (int i = 0; i < NODES; i++) {
        bool ready = false;
        for (int64_t deadline = now_ms() + 20000; !ready && now_ms() < deadline;) {
            int fd = wire_connect(ports[i]);
            cr_assert(fd >= 0);
            Ringlog__Response *r = wire_metadata(fd, topic);
            close(fd);
            ready = r && r->metadata->n_topics == 1 && r->metadata->topics[0]->error == 0;
            for (size_t k = 0; ready && k < r->metadata->topics[0]->n_partitions; k++)
                ready = r->metadata->topics[0]->partitions[k]->error == 0;
            if (r)
                ringlog__response__free_unpacked(r, NULL);
            if (!ready)
                usleep(50 * 1000);
        }
        cr_assert(ready, "node %d does not know %s with a leader for each partition", i + 1, topic);
    }
}

/* per_partition messages to every partition, valued first, first+1, ... (their sequence). */
static void produce(const char *topic, int first, int per_partition)
{
    ringlog_conf *c = conf_at(all);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    for (int32_t part = 0; part < PARTS; part++)
        for (int i = 0; i < per_partition; i++) {
            char value[16];
            int len = snprintf(value, sizeof(value), "%d", first + i);
            ringlog_record r = {.topic = topic,
                                .partition = part,
                                .value = value,
                                .value_len = (size_t)len,
                                .flags = RINGLOG_MSG_F_BLOCK};
            int rc = ringlog_produce(p, &r);
            cr_assert_eq(rc, RINGLOG_OK, "produce: %s", ringlog_err_name(rc));
        }
    int rc = ringlog_producer_flush(p, 30000);
    cr_assert_eq(rc, RINGLOG_OK, "flush: %s", ringlog_err_name(rc));
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
}

struct member {
    ringlog_consumer *c;
    int assigned[PARTS], revoked[PARTS], lost;
};

static int seen[PARTS][MAX_MSGS]; /* deliveries per (partition, sequence) */

static void on_rebalance(ringlog_consumer *c, ringlog_rebalance_event ev,
                         const ringlog_topic_partition *tps, size_t n, void *opaque)
{
    (void)c;
    struct member *m = opaque;
    m->lost += ev == RINGLOG_REBALANCE_LOST;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(tps[i].partition, PARTS);
        if (ev == RINGLOG_REBALANCE_ASSIGNED)
            m->assigned[tps[i].partition]++;
        else
            m->revoked[tps[i].partition]++;
    }
}

static void log_line(int level, const char *message, void *opaque)
{
    fprintf(stderr, "%lld client %p [%d] %s\n", (long long)now_ms() % 100000, opaque, level,
            message);
}

static void join(struct member *m, const char *group, const char *topic)
{
    memset(m, 0, sizeof(*m));
    ringlog_conf *conf = conf_at(all);
    cr_assert_eq(ringlog_conf_set(conf, "group", group, NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(conf, "auto-offset-reset", "earliest", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(conf, "session-timeout-ms", "8000", NULL, 0), 0);
    if (getenv("GC_DEBUG"))
        ringlog_conf_set_log_cb(conf, log_line, m);
    char err[256];
    m->c = ringlog_consumer_new(conf, err, sizeof(err));
    cr_assert_not_null(m->c, "%s", err);
    ringlog_conf_destroy(conf);
    cr_assert_eq(ringlog_consumer_set_rebalance_cb(m->c, on_rebalance, m), 0);
    const char *topics[] = {topic};
    cr_assert_eq(ringlog_consumer_subscribe(m->c, topics, 1), 0);
}

static int owned(const struct member *m, int p)
{
    return m->assigned[p] - m->revoked[p];
}

/* Polls every member in turn until `total` deliveries are counted (bounded at 60 s). */
static int consume(struct member *ms, int total)
{
    int got = 0;
    for (int64_t deadline = now_ms() + 60000; got < total && now_ms() < deadline;)
        for (int i = 0; i < MEMBERS; i++) {
            const ringlog_message *msg;
            if (ringlog_consumer_poll(ms[i].c, 10, &msg) != RINGLOG_OK)
                continue;
            char value[16] = {0};
            cr_assert(msg->value_len > 0 && msg->value_len < sizeof(value));
            memcpy(value, msg->value, msg->value_len);
            int seq = atoi(value);
            cr_assert(seq >= 0 && seq < MAX_MSGS, "value %s", value);
            seen[msg->partition][seq]++;
            got++;
        }
    return got;
}

/* Every partition owned by exactly one member, each member two of them. */
static bool split_evenly(const struct member *ms)
{
    for (int p = 0; p < PARTS; p++) {
        int owners = 0;
        for (int i = 0; i < MEMBERS; i++)
            owners += owned(&ms[i], p);
        if (owners != 1)
            return false;
    }
    for (int i = 0; i < MEMBERS; i++) {
        int n = 0;
        for (int p = 0; p < PARTS; p++)
            n += owned(&ms[i], p);
        if (n != PARTS / MEMBERS)
            return false;
    }
    return true;
}

/* An OffsetCommit of partition 0 at offset 0 for (member, epoch), sent to node `node`. */
static int commit_as(int node, const char *group, const char *member, int32_t epoch)
{
    int fd = wire_connect(ports[node - 1]);
    cr_assert(fd >= 0);
    Ringlog__OffsetCommitPartition p = RINGLOG__OFFSET_COMMIT_PARTITION__INIT;
    Ringlog__OffsetCommitPartition *pp = &p;
    p.partition = 0;
    p.offset = 0;
    p.metadata = "";
    Ringlog__OffsetCommitTopic t = RINGLOG__OFFSET_COMMIT_TOPIC__INIT;
    Ringlog__OffsetCommitTopic *tp = &t;
    t.topic = "orders";
    t.n_partitions = 1;
    t.partitions = &pp;
    Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
    oc.group = (char *)group;
    oc.member_id = (char *)member;
    oc.member_epoch = epoch;
    oc.n_topics = 1;
    oc.topics = &tp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_COMMIT;
    req.offset_commit = &oc;
    Ringlog__Response *r = wire_call(fd, &req);
    close(fd);
    cr_assert_not_null(r);
    int err = r->error ? (int)r->error : (int)r->offset_commit->topics[0]->partitions[0]->error;
    ringlog__response__free_unpacked(r, NULL);
    return err;
}

/* `ringlog group describe G` with --bootstrap at node i: its output (static). */
static const char *describe_at(int i, const char *group)
{
    static char out[65536];
    char bootstrap[64];
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%u", ports[i]);
    const char *argv[] = {RL_CLI_BIN, "--bootstrap", bootstrap, "group", "describe", group, NULL};
    struct proc_output o;
    int rc = run_proc(argv, NULL, NULL, 0, 30000, &o);
    cr_assert_eq(rc, 0, "group describe at node %d: exit %d: %s", i + 1, rc, o.err);
    snprintf(out, sizeof(out), "%s", o.out);
    proc_output_free(&o);
    return out;
}

Test(group_cluster, the_group_resumes_on_the_new_coordinator_after_a_kill)
{
    coordinator("shop"); /* __groups made by the controller, a leader elected */
    create_replicated("orders");
    produce("orders", 0, PER_ROUND);
    struct member ms[MEMBERS];
    for (int i = 0; i < MEMBERS; i++)
        join(&ms[i], "shop", "orders");
    int first = consume(ms, PARTS * PER_ROUND);
    cr_assert_eq(first, PARTS * PER_ROUND, "first round: %d deliveries", first);
    for (int64_t deadline = now_ms() + 20000; !split_evenly(ms) && now_ms() < deadline;)
        consume(ms, 1); /* heartbeats and assignments ride on polls */
    cr_assert(split_evenly(ms), "disjoint assignments covering every partition, two each");
    char ids[MEMBERS][128];
    int32_t epochs[MEMBERS];
    for (int i = 0; i < MEMBERS; i++) {
        cr_assert_eq(ringlog_consumer_commit(ms[i].c, 20000), RINGLOG_OK, "member %d commits", i);
        cr_assert_eq(ringlog_consumer_member_id(ms[i].c, ids[i], sizeof(ids[i]), &epochs[i]), 0);
    }

    /* The broker coordinating the group dies. */
    int dead = coordinator("shop");
    fprintf(stderr, "%lld killing %d\n", (long long)now_ms() % 100000, dead);
    broker_kill(&nodes[dead - 1]);
    nodes[dead - 1].pid = 0;
    int after = coordinator("shop");
    cr_assert_neq(after, dead);
    produce("orders", PER_ROUND, PER_ROUND);
    int got = consume(ms, PARTS * PER_ROUND);
    cr_assert_geq(got, PARTS * PER_ROUND, "the second round arrives (%d)", got);
    for (int p = 0; p < PARTS; p++)
        for (int o = 0; o < 2 * PER_ROUND; o++) {
            cr_assert_geq(seen[p][o], 1, "partition %d message %d lost", p, o);
            if (o < PER_ROUND) /* committed before the kill: never delivered again */
                cr_assert_eq(seen[p][o], 1, "partition %d message %d delivered %d times", p, o,
                             seen[p][o]);
        }

    /* The same members at the same epochs: the new coordinator loaded them from __groups. */
    for (int i = 0; i < MEMBERS; i++) {
        char id[128];
        int32_t epoch;
        cr_assert_eq(ringlog_consumer_member_id(ms[i].c, id, sizeof(id), &epoch), 0);
        cr_assert_str_eq(id, ids[i], "member %d kept its id", i);
        cr_assert_eq(epoch, epochs[i], "member %d kept its epoch", i);
        cr_assert_eq(ms[i].lost, 0, "member %d never lost its partitions", i);
    }
    cr_assert(split_evenly(ms), "no partition moved");
    /* The member's own commit is taken there; zombies are still fenced: a future epoch, and a
     * member the group does not know. */
    int own = commit_as(after, "shop", ids[0], epochs[0]);
    cr_assert_eq(own, 0, "the member's commit at node %d: error %d", after, own);
    cr_assert_eq(commit_as(after, "shop", ids[0], epochs[0] + 1),
                 RINGLOG__ERROR_CODE__FENCED_MEMBER_EPOCH);
    cr_assert_eq(commit_as(after, "shop", "1-0-99-zombie", 1),
                 RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID);

    /* Any broker left answers describe (the CLI finds the coordinator); all is committed. */
    fprintf(stderr, "%lld final commits\n", (long long)now_ms() % 100000);
    for (int i = 0; i < MEMBERS; i++) {
        int rc = ringlog_consumer_commit(ms[i].c, 20000);
        cr_assert_eq(rc, RINGLOG_OK, "member %d commits: %s", i, ringlog_err_name(rc));
    }
    for (int i = 0; i < NODES; i++) {
        if (nodes[i].pid <= 0)
            continue;
        const char *out = describe_at(i, "shop");
        cr_assert(strstr(out, "group=shop") && strstr(out, "members=3"), "node %d: %s", i + 1, out);
        cr_assert(strstr(out, "total-lag=0"), "node %d: %s", i + 1, out);
    }
    for (int i = 0; i < MEMBERS; i++)
        ringlog_consumer_destroy(ms[i].c);
}
