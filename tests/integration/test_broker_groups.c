/*
 * Consumer groups through a real broker, on the wire: members heartbeat
 * and split a topic's partitions (a partition reaches its new owner only
 * after the old one revoked it), commits are fenced by member and epoch,
 * a silent member is removed after its session and its commits refused,
 * describe shows members, offsets and lag, delete is refused while members
 * remain, a restart rebuilds every group from __groups, and offsets of the
 * old per-group files are migrated into __groups.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "broker_proc.h"
#include "wire.h"

static struct broker_proc broker;
static int fd = -1;
static const char *const SHARDS[] = {"--shards", "2", NULL};

static void start(void)
{
    cr_assert_eq(broker_start(&broker, NULL, SHARDS), 0);
    fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
}

static void stop(void)
{
    if (fd >= 0)
        close(fd);
    cr_expect_eq(broker_stop(&broker), 0, "graceful shutdown exits 0 (log: %s)", broker.log_path);
    broker_remove_data(&broker);
}

TestSuite(broker_groups, .init = start, .fini = stop, .timeout = 120);

/* A member as the test drives it: what it owns is what it was last given. */
struct member {
    char id[64];
    int32_t epoch;
    uint32_t owned[16];
    size_t nowned;
    const char *instance;
};

/* One heartbeat; returns its error and updates m from the answer. Retries a loading coordinator. */
static int heartbeat(struct member *m, const char *group)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        Ringlog__GroupTopicPartitions owned = RINGLOG__GROUP_TOPIC_PARTITIONS__INIT;
        Ringlog__GroupTopicPartitions *ownedp = &owned;
        owned.topic = "orders";
        owned.partitions = m->owned;
        owned.n_partitions = m->nowned;
        char *topics[] = {"orders"};
        Ringlog__ConsumerGroupHeartbeatRequest hb = RINGLOG__CONSUMER_GROUP_HEARTBEAT_REQUEST__INIT;
        hb.group = (char *)group;
        hb.member_id = m->id;
        hb.member_epoch = m->epoch;
        hb.instance_id = (char *)(m->instance ? m->instance : "");
        hb.subscribed_topics = topics;
        hb.n_subscribed_topics = 1;
        hb.owned = m->nowned ? &ownedp : NULL;
        hb.n_owned = m->nowned ? 1 : 0;
        hb.session_timeout_ms = 2000;
        Ringlog__Request req = RINGLOG__REQUEST__INIT;
        req.body_case = RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT;
        req.group_heartbeat = &hb;
        Ringlog__Response *r = wire_call(fd, &req);
        cr_assert_not_null(r);
        int err = r->error ? (int)r->error : (int)r->group_heartbeat->error;
        if (err == RINGLOG__ERROR_CODE__COORDINATOR_LOAD_IN_PROGRESS) {
            ringlog__response__free_unpacked(r, NULL);
            usleep(20000);
            continue;
        }
        if (!err) {
            snprintf(m->id, sizeof(m->id), "%s", r->group_heartbeat->member_id);
            m->epoch = r->group_heartbeat->member_epoch;
            m->nowned = 0;
            for (size_t t = 0; t < r->group_heartbeat->n_assignment; t++) {
                cr_assert_str_eq(r->group_heartbeat->assignment[t]->topic, "orders");
                for (size_t p = 0; p < r->group_heartbeat->assignment[t]->n_partitions; p++)
                    m->owned[m->nowned++] = r->group_heartbeat->assignment[t]->partitions[p];
            }
        }
        ringlog__response__free_unpacked(r, NULL);
        return err;
    }
    cr_assert_fail("the coordinator never finished loading");
    return -1;
}

static int commit(const char *group, const char *member_id, int32_t epoch, uint32_t partition,
                  int64_t offset)
{
    Ringlog__OffsetCommitPartition p = RINGLOG__OFFSET_COMMIT_PARTITION__INIT;
    Ringlog__OffsetCommitPartition *pp = &p;
    p.partition = partition;
    p.offset = offset;
    Ringlog__OffsetCommitTopic t = RINGLOG__OFFSET_COMMIT_TOPIC__INIT;
    Ringlog__OffsetCommitTopic *tp = &t;
    t.topic = "orders";
    t.partitions = &pp;
    t.n_partitions = 1;
    Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
    oc.group = (char *)group;
    oc.topics = &tp;
    oc.n_topics = 1;
    oc.member_id = (char *)member_id;
    oc.member_epoch = epoch;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_COMMIT;
    req.offset_commit = &oc;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    int err = r->error ? (int)r->error : (int)r->offset_commit->topics[0]->partitions[0]->error;
    ringlog__response__free_unpacked(r, NULL);
    return err;
}

static int64_t committed(const char *group, uint32_t partition)
{
    Ringlog__OffsetFetchTopic t = RINGLOG__OFFSET_FETCH_TOPIC__INIT;
    Ringlog__OffsetFetchTopic *tp = &t;
    t.topic = "orders";
    t.partitions = &partition;
    t.n_partitions = 1;
    Ringlog__OffsetFetchRequest of = RINGLOG__OFFSET_FETCH_REQUEST__INIT;
    of.group = (char *)group;
    of.topics = &tp;
    of.n_topics = 1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_FETCH;
    req.offset_fetch = &of;
    for (int attempt = 0; attempt < 200; attempt++) {
        Ringlog__Response *r = wire_call(fd, &req);
        cr_assert_not_null(r);
        if (r->error == RINGLOG__ERROR_CODE__COORDINATOR_LOAD_IN_PROGRESS) {
            ringlog__response__free_unpacked(r, NULL);
            usleep(20000);
            continue;
        }
        cr_assert_eq(r->error, 0, "%s", r->error_message);
        int64_t offset = r->offset_fetch->topics[0]->partitions[0]->offset;
        ringlog__response__free_unpacked(r, NULL);
        return offset;
    }
    return -2;
}

/* DescribeGroups of one group (free with ringlog__response__free_unpacked). */
static Ringlog__Response *describe(const char *group)
{
    char *groups[] = {(char *)group};
    Ringlog__DescribeGroupsRequest d = RINGLOG__DESCRIBE_GROUPS_REQUEST__INIT;
    d.groups = groups;
    d.n_groups = 1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS;
    req.describe_groups = &d;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_DESCRIBE_GROUPS);
    cr_assert_eq(r->describe_groups->n_groups, 1);
    return r;
}

static int delete_group(const char *group)
{
    char *groups[] = {(char *)group};
    Ringlog__DeleteGroupsRequest d = RINGLOG__DELETE_GROUPS_REQUEST__INIT;
    d.groups = groups;
    d.n_groups = 1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_GROUPS;
    req.delete_groups = &d;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    int err = r->error ? (int)r->error : (int)r->delete_groups->groups[0]->error;
    ringlog__response__free_unpacked(r, NULL);
    return err;
}

static bool owns(const struct member *m, uint32_t p)
{
    for (size_t i = 0; i < m->nowned; i++)
        if (m->owned[i] == p)
            return true;
    return false;
}

static void create_orders(void)
{
    Ringlog__Response *r = wire_create_topic(fd, "orders", 6);
    cr_assert_not_null(r);
    cr_assert_eq(r->create_topics->topics[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker_groups, members_split_partitions_and_hand_them_over_revoked_first)
{
    create_orders();
    struct member a = {0}, b = {0};
    cr_assert_eq(heartbeat(&a, "shop"), 0);
    cr_assert_gt(a.epoch, 0);
    cr_assert_eq(a.nowned, 6, "a lone member owns every partition");
    cr_assert_eq(heartbeat(&b, "shop"), 0);
    cr_assert_eq(b.nowned, 0, "nothing for b while a still owns everything");
    struct member a_before = a;
    cr_assert_eq(heartbeat(&a, "shop"), 0); /* a is told to give three up ... */
    cr_assert_eq(a.nowned, 3);
    cr_assert_eq(a.epoch, a_before.epoch, "the epoch moves only once a has revoked");
    cr_assert_eq(heartbeat(&b, "shop"), 0);
    cr_assert_eq(b.nowned, 0, "b gets nothing a is still revoking");
    cr_assert_eq(heartbeat(&a, "shop"), 0); /* ... and reports them released */
    cr_assert_gt(a.epoch, a_before.epoch);
    cr_assert_eq(heartbeat(&b, "shop"), 0);
    cr_assert_eq(b.nowned, 3);
    for (uint32_t p = 0; p < 6; p++)
        cr_assert(owns(&a, p) != owns(&b, p), "partition %u has exactly one owner", p);

    /* commits: a member at its epoch; not a stranger, not an outsider while members are there */
    cr_assert_eq(commit("shop", a.id, a.epoch, a.owned[0], 42), 0);
    cr_assert_eq(committed("shop", a.owned[0]), 42);
    cr_assert_eq(commit("shop", "nobody", 1, 0, 7), RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID);
    cr_assert_eq(commit("shop", a.id, a.epoch + 1, 0, 7), RINGLOG__ERROR_CODE__FENCED_MEMBER_EPOCH);
    cr_assert_eq(commit("shop", "", 0, 0, 7), RINGLOG__ERROR_CODE__GROUP_NOT_EMPTY);
    cr_assert_eq(delete_group("shop"), RINGLOG__ERROR_CODE__GROUP_NOT_EMPTY);

    Ringlog__Response *r = describe("shop");
    Ringlog__DescribedGroup *d = r->describe_groups->groups[0];
    cr_assert_eq(d->error, 0);
    cr_assert_str_eq(d->state, "stable");
    cr_assert_eq(d->n_members, 2);
    cr_assert_eq(d->n_offsets, 6, "every owned partition has a row");
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker_groups, a_silent_member_is_removed_and_its_commits_fenced)
{
    create_orders();
    struct member a = {0}, b = {0};
    heartbeat(&a, "g2");
    heartbeat(&b, "g2");
    for (int i = 0; i < 4; i++) {
        heartbeat(&a, "g2");
        heartbeat(&b, "g2");
    }
    cr_assert_eq(a.nowned + b.nowned, 6);
    /* b goes silent past its 2 s session; a keeps beating */
    for (int i = 0; i < 40 && a.nowned < 6; i++) {
        usleep(100000);
        cr_assert_eq(heartbeat(&a, "g2"), 0);
    }
    cr_assert_eq(a.nowned, 6, "b's partitions moved to a");
    cr_assert_eq(commit("g2", b.id, b.epoch, b.owned[0], 5), RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID,
                 "the zombie cannot commit");
    cr_assert_eq(heartbeat(&b, "g2"), RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID);
}

Test(broker_groups, a_restart_rebuilds_groups_from_the_log)
{
    create_orders();
    struct member a = {.instance = "host-1"};
    heartbeat(&a, "keep");
    cr_assert_eq(commit("keep", a.id, a.epoch, 3, 1234), 0);
    struct member leaver = {0};
    heartbeat(&leaver, "gone");
    leaver.epoch = -1;
    cr_assert_eq(heartbeat(&leaver, "gone"), 0);
    cr_assert_eq(commit("gone", "", 0, 1, 9), 0, "an empty group takes outside commits");
    cr_assert_eq(delete_group("gone"), 0);
    cr_assert_eq(delete_group("gone"), RINGLOG__ERROR_CODE__UNKNOWN_GROUP);

    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    char dir[sizeof(broker.data_dir)];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, SHARDS), 0);
    fd = wire_connect(broker.port);
    cr_assert_eq(committed("keep", 3), 1234);
    cr_assert_eq(committed("gone", 1), -1, "a deleted group stays deleted");
    int32_t epoch = a.epoch;
    cr_assert_eq(heartbeat(&a, "keep"), 0, "the member goes on after the restart");
    cr_assert_eq(a.epoch, epoch, "no rebalance");
    cr_assert_eq(a.nowned, 6);
    /* the static member comes back as a new process: same instance id, no member id */
    struct member again = {.instance = "host-1"};
    cr_assert_eq(heartbeat(&again, "keep"), 0);
    cr_assert_eq(again.epoch, epoch);
    cr_assert_eq(again.nowned, 6, "it takes its predecessor's partitions without a rebalance");
    cr_assert_eq(heartbeat(&a, "keep"), RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID);
}

Test(broker_groups, describe_shows_lag)
{
    create_orders();
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "m", 10, -1, 0, -1);
    Ringlog__Response *p = wire_produce(fd, "orders", 2, 1, buf, len);
    cr_assert_eq(wire_first_error(p), 0);
    ringlog__response__free_unpacked(p, NULL);
    cr_assert_eq(commit("lagging", "", 0, 2, 4), 0);
    Ringlog__Response *r = describe("lagging");
    Ringlog__DescribedGroup *d = r->describe_groups->groups[0];
    cr_assert_str_eq(d->state, "empty");
    cr_assert_eq(d->n_offsets, 1);
    cr_assert_eq(d->offsets[0]->committed_offset, 4);
    cr_assert_eq(d->offsets[0]->log_end_offset, 10);
    cr_assert_eq(d->offsets[0]->lag, 6);
    cr_assert_eq(d->total_lag, 6);
    ringlog__response__free_unpacked(r, NULL);
    r = describe("never");
    cr_assert_eq(r->describe_groups->groups[0]->error, RINGLOG__ERROR_CODE__UNKNOWN_GROUP);
    ringlog__response__free_unpacked(r, NULL);

    Ringlog__ListGroupsRequest lg = RINGLOG__LIST_GROUPS_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_GROUPS;
    req.list_groups = &lg;
    r = wire_call(fd, &req);
    cr_assert_eq(r->list_groups->n_groups, 1);
    cr_assert_str_eq(r->list_groups->groups[0]->group, "lagging");
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker_groups, bad_requests)
{
    create_orders();
    struct member m = {0};
    m.epoch = 5;
    snprintf(m.id, sizeof(m.id), "ghost");
    cr_assert_eq(heartbeat(&m, "g"), RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID);
    cr_assert_eq(heartbeat(&m, ".bad"), RINGLOG__ERROR_CODE__INVALID_REQUEST);
    cr_assert_eq(commit("g", "", 0, 99, 1), RINGLOG__ERROR_CODE__UNKNOWN_PARTITION);
    cr_assert_eq(commit("g", "", 0, 0, -5), RINGLOG__ERROR_CODE__INVALID_REQUEST);
    Ringlog__FindCoordinatorRequest fc = RINGLOG__FIND_COORDINATOR_REQUEST__INIT;
    fc.group = "g";
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_FIND_COORDINATOR;
    req.find_coordinator = &fc;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_eq(r->find_coordinator->error, 0);
    cr_assert_eq(r->find_coordinator->port, broker.port);
    cr_assert_lt(r->find_coordinator->partition, 8);
    ringlog__response__free_unpacked(r, NULL);
    /* none of that left a group behind; nor does one whose last member left */
    struct member once = {0};
    cr_assert_eq(heartbeat(&once, "brief"), 0);
    once.epoch = -1;
    cr_assert_eq(heartbeat(&once, "brief"), 0);
    Ringlog__ListGroupsRequest lg = RINGLOG__LIST_GROUPS_REQUEST__INIT;
    Ringlog__Request lreq = RINGLOG__REQUEST__INIT;
    lreq.body_case = RINGLOG__REQUEST__BODY_LIST_GROUPS;
    lreq.list_groups = &lg;
    r = wire_call(fd, &lreq);
    cr_assert_eq(r->list_groups->n_groups, 0, "vacant groups are dropped");
    ringlog__response__free_unpacked(r, NULL);
    r = wire_metadata(fd, NULL);
    for (size_t i = 0; i < r->metadata->n_topics; i++)
        cr_assert_str_neq(r->metadata->topics[i]->name, "__groups",
                          "internal: listed by name only");
    ringlog__response__free_unpacked(r, NULL);
    /* ... and not a user's to delete */
    r = wire_delete_topic(fd, "__groups");
    cr_assert_eq(wire_first_error(r), RINGLOG__ERROR_CODE__INVALID_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_metadata(fd, "__groups");
    cr_assert_eq(r->metadata->topics[0]->error, 0, "still there");
    ringlog__response__free_unpacked(r, NULL);
    /* ... nor to write: a record there would load as group state */
    uint8_t batch[512];
    struct rl_batch_builder b;
    struct rl_record_in rec = {.key = "g/x", .key_len = 3, .value = "v", .value_len = 1};
    cr_assert_eq(rl_batch_builder_init(&b, batch, sizeof(batch), NULL), RL_OK);
    cr_assert_eq(rl_batch_builder_add(&b, &rec), RL_OK);
    r = wire_produce(fd, "__groups", 0, 1, batch, rl_batch_builder_finish(&b));
    cr_assert_not_null(r);
    cr_assert_eq(wire_first_error(r), RINGLOG__ERROR_CODE__INVALID_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
}

/* Offsets in the per-group files older brokers wrote move into __groups at the first start. */
Test(broker_groups_migrate, old_offset_files_are_migrated, .timeout = 60)
{
    char dir[] = "/tmp/ringlog-groups-migrate-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[600];
    snprintf(path, sizeof(path), "%s/groups", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/groups/legacy.offsets", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "orders 1 77 . .\norders 4 12 6869 .\n");
    fclose(f);
    cr_assert_eq(broker_start(&broker, dir, SHARDS), 0);
    fd = wire_connect(broker.port);
    create_orders();
    cr_assert_eq(committed("legacy", 1), 77);
    cr_assert_eq(committed("legacy", 4), 12);
    struct stat st;
    for (int i = 0; i < 100 && stat(path, &st) == 0; i++)
        usleep(20000);
    cr_assert_neq(stat(path, &st), 0, "the old file is renamed once migrated");
    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    cr_assert_eq(broker_start(&broker, dir, SHARDS), 0);
    fd = wire_connect(broker.port);
    cr_assert_eq(committed("legacy", 1), 77, "still there, now from __groups");
    close(fd);
    fd = -1;
    int status = broker_stop(&broker);
    if (status != 0) {
        char *log = broker_log_since(&broker, 0);
        fprintf(stderr, "%s\n", log ? log : "");
        free(log);
    }
    cr_expect_eq(status, 0);
    broker_remove_data(&broker);
}

/* Members, rebalances, committed offsets and lag per group and partition on /metrics. */
Test(broker_groups_metrics, group_metrics_are_exported, .timeout = 60)
{
    char metrics[64];
    uint16_t mport = wire_free_port();
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", mport);
    const char *args[] = {"--metrics", metrics, "--shards", "2", NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    fd = wire_connect(broker.port);
    create_orders();
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "m", 10, -1, 0, -1);
    Ringlog__Response *p = wire_produce(fd, "orders", 2, 1, buf, len);
    ringlog__response__free_unpacked(p, NULL);
    cr_assert_eq(commit("metered", "", 0, 2, 4), 0);
    struct member m = {0};
    cr_assert_eq(heartbeat(&m, "busy"), 0);
    static char out[1 << 20];
    bool seen = false;
    for (int i = 0; i < 60 && !seen; i++) { /* published once a second */
        usleep(100000);
        cr_assert_eq(wire_http_get(mport, "/metrics", out, sizeof(out)), 0);
        seen = strstr(out, "ringlog_group_lag{group=\"metered\",topic=\"orders\",partition=\"2\"} "
                           "6\n") != NULL;
    }
    cr_assert(seen, "%s", out);
    cr_assert(strstr(out, "ringlog_group_committed_offset{group=\"metered\",topic=\"orders\","
                          "partition=\"2\"} 4\n"));
    cr_assert(strstr(out, "ringlog_group_members{group=\"busy\"} 1\n"));
    cr_assert(strstr(out, "ringlog_group_rebalances_total{group=\"busy\"} 1\n"));
    cr_assert(strstr(out, "# TYPE ringlog_group_lag gauge\n"));
    close(fd);
    fd = -1;
    cr_expect_eq(broker_stop(&broker), 0);
    broker_remove_data(&broker);
}
