/*
 * The ACL matrix against a real ringlogd: for each request type, a principal
 * with the ACL it needs is served, one without is refused NOT_AUTHORIZED, a
 * deny beside the allow refuses, and a super user needs none. Then prefix
 * against literal rules and Metadata's filtering.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "wire.h"
#include "wire_sasl.h"

static struct broker_proc broker;
static int admin = -1;
static uint16_t metrics_port;

/* A counter of GET /metrics. */
static long long metric(const char *name)
{
    static char page[1 << 16];
    cr_assert_eq(wire_http_get(metrics_port, "/metrics", page, sizeof(page)), 0);
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *at = strstr(page, needle);
    cr_assert_not_null(at, "%s in /metrics", name);
    return atoll(at + strlen(needle));
}

static int connect_as(const char *user, const char *pw)
{
    int fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(wire_sasl_login(fd, "SCRAM-SHA-256", user, pw), 0, "login %s", user);
    return fd;
}

static void start(void)
{
    char metrics[32];
    metrics_port = wire_free_port();
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", metrics_port);
    const char *args[] = {"--sasl-bootstrap-user",
                          "admin:adminpw",
                          "--super-users",
                          "root",
                          "--metrics",
                          metrics,
                          NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    admin = connect_as("admin", "adminpw");
    const char *users[] = {"alice", "mallory", "root"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(wire_create_user(admin, users[i], "pw"), 0);
    const char *topics[] = {"orders", "logs.app", "logs.secret"};
    for (int i = 0; i < 3; i++) {
        Ringlog__Response *r = wire_create_topic(admin, topics[i], 1);
        cr_assert_eq(wire_first_error(r), 0);
        ringlog__response__free_unpacked(r, NULL);
    }
}

static void stop(void)
{
    close(admin);
    cr_expect_eq(broker_stop(&broker), 0, "graceful shutdown exits 0 (log: %s)", broker.log_path);
    broker_remove_data(&broker);
}

TestSuite(acl, .init = start, .fini = stop, .timeout = 120);

#define T(x) RINGLOG__ACL_RESOURCE_TYPE__ACL_RESOURCE_##x
#define OP(x) RINGLOG__ACL_OPERATION__ACL_OPERATION_##x

static int request_error(Ringlog__Response *r)
{
    return wire_error_of(r);
}

static int run_produce(int fd)
{
    uint8_t batch[512];
    size_t n = wire_build_batch(batch, sizeof(batch), "m", 1, -1, -1, -1);
    return request_error(wire_produce(fd, "orders", 0, 1, batch, n));
}

static int run_fetch(int fd)
{
    return request_error(wire_fetch(fd, "orders", 0, 0, 0, 0));
}

static int run_list_offsets(int fd)
{
    return request_error(wire_list_offsets(fd, "orders", 0, -1));
}

/* Topic admin (issue 20 item 5): each names topic "orders". */
static int run_describe_configs(int fd)
{
    char *topics[1] = {"orders"};
    Ringlog__DescribeConfigsRequest dr = RINGLOG__DESCRIBE_CONFIGS_REQUEST__INIT;
    dr.n_topics = 1;
    dr.topics = topics;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS;
    req.describe_configs = &dr;
    return request_error(wire_call(fd, &req));
}

static int run_alter_configs(int fd)
{
    Ringlog__AlterConfigEntry e = RINGLOG__ALTER_CONFIG_ENTRY__INIT, *ep = &e;
    e.name = "retention.ms";
    e.value = "3600000";
    Ringlog__AlterConfigsTopic t = RINGLOG__ALTER_CONFIGS_TOPIC__INIT, *tp = &t;
    t.topic = "orders";
    t.n_entries = 1;
    t.entries = &ep;
    Ringlog__AlterConfigsRequest ar = RINGLOG__ALTER_CONFIGS_REQUEST__INIT;
    ar.n_topics = 1;
    ar.topics = &tp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_ALTER_CONFIGS;
    req.alter_configs = &ar;
    return request_error(wire_call(fd, &req));
}

static int run_create_partitions(int fd)
{
    static uint32_t count = 2; /* more each time it is allowed */
    Ringlog__CreatePartitionsTopic t = RINGLOG__CREATE_PARTITIONS_TOPIC__INIT, *tp = &t;
    t.topic = "orders";
    t.count = count++;
    Ringlog__CreatePartitionsRequest cr = RINGLOG__CREATE_PARTITIONS_REQUEST__INIT;
    cr.n_topics = 1;
    cr.topics = &tp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_PARTITIONS;
    req.create_partitions = &cr;
    return request_error(wire_call(fd, &req));
}

static int run_delete_records(int fd)
{
    Ringlog__DeleteRecordsPartition p = RINGLOG__DELETE_RECORDS_PARTITION__INIT, *pp = &p;
    Ringlog__DeleteRecordsTopic t = RINGLOG__DELETE_RECORDS_TOPIC__INIT, *tp = &t;
    t.topic = "orders";
    t.n_partitions = 1;
    t.partitions = &pp;
    Ringlog__DeleteRecordsRequest dr = RINGLOG__DELETE_RECORDS_REQUEST__INIT;
    dr.n_topics = 1;
    dr.topics = &tp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_RECORDS;
    req.delete_records = &dr;
    return request_error(wire_call(fd, &req));
}

static int run_init_producer(int fd)
{
    return request_error(wire_init_producer_id(fd, -1, -1));
}

static int run_create(int fd)
{
    static int n;
    char name[32];
    snprintf(name, sizeof(name), "orders.new%d", n++);
    return request_error(wire_create_topic(fd, name, 1));
}

static int run_delete(int fd)
{
    Ringlog__Response *r = wire_create_topic(admin, "orders.victim", 1);
    ringlog__response__free_unpacked(r, NULL);
    return request_error(wire_delete_topic(fd, "orders.victim"));
}

static int run_offsets(int fd, bool commit)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
    Ringlog__OffsetFetchRequest of = RINGLOG__OFFSET_FETCH_REQUEST__INIT;
    Ringlog__OffsetCommitTopic ct = RINGLOG__OFFSET_COMMIT_TOPIC__INIT;
    Ringlog__OffsetCommitPartition cp = RINGLOG__OFFSET_COMMIT_PARTITION__INIT;
    Ringlog__OffsetFetchTopic ft = RINGLOG__OFFSET_FETCH_TOPIC__INIT;
    Ringlog__OffsetCommitTopic *cts[] = {&ct};
    Ringlog__OffsetCommitPartition *cps[] = {&cp};
    Ringlog__OffsetFetchTopic *fts[] = {&ft};
    uint32_t parts[] = {0};
    ct.topic = ft.topic = "orders";
    ct.n_partitions = 1;
    ct.partitions = cps;
    ft.n_partitions = 1;
    ft.partitions = parts;
    oc.group = of.group = "billing";
    oc.n_topics = of.n_topics = 1;
    oc.topics = cts;
    of.topics = fts;
    req.body_case =
        commit ? RINGLOG__REQUEST__BODY_OFFSET_COMMIT : RINGLOG__REQUEST__BODY_OFFSET_FETCH;
    req.offset_commit = &oc;
    if (!commit)
        req.offset_fetch = &of;
    return request_error(wire_call(fd, &req));
}

static int run_commit(int fd)
{
    return run_offsets(fd, true);
}

static int run_offset_fetch(int fd)
{
    return run_offsets(fd, false);
}

static int run_create_user(int fd)
{
    return wire_create_user(fd, "zed", "zedpw");
}

static int run_create_acl(int fd)
{
    return wire_acl(fd, true, "User:zed", T(TOPIC), "z", false, OP(READ), false);
}

static int run_list(int fd, bool users)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__ListUsersRequest lu = RINGLOG__LIST_USERS_REQUEST__INIT;
    Ringlog__ListAclsRequest la = RINGLOG__LIST_ACLS_REQUEST__INIT;
    req.body_case = users ? RINGLOG__REQUEST__BODY_LIST_USERS : RINGLOG__REQUEST__BODY_LIST_ACLS;
    if (users)
        req.list_users = &lu;
    else
        req.list_acls = &la;
    return request_error(wire_call(fd, &req));
}

static int run_list_users(int fd)
{
    return run_list(fd, true);
}

static int run_list_acls(int fd)
{
    return run_list(fd, false);
}

/* Consumer-group requests, each with the group "billing" (none exists: only the refusal
 * matters here). */
static int run_group_request(int fd, int which)
{
    char *groups[] = {"billing"};
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__FindCoordinatorRequest fc = RINGLOG__FIND_COORDINATOR_REQUEST__INIT;
    Ringlog__ConsumerGroupHeartbeatRequest hb = RINGLOG__CONSUMER_GROUP_HEARTBEAT_REQUEST__INIT;
    Ringlog__ListGroupsRequest lg = RINGLOG__LIST_GROUPS_REQUEST__INIT;
    Ringlog__DescribeGroupsRequest dg = RINGLOG__DESCRIBE_GROUPS_REQUEST__INIT;
    Ringlog__DeleteGroupsRequest xg = RINGLOG__DELETE_GROUPS_REQUEST__INIT;
    fc.group = hb.group = "billing";
    hb.member_epoch = 0;
    dg.n_groups = xg.n_groups = 1;
    dg.groups = xg.groups = groups;
    switch (which) {
    case 0:
        req.body_case = RINGLOG__REQUEST__BODY_FIND_COORDINATOR;
        req.find_coordinator = &fc;
        break;
    case 1:
        req.body_case = RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT;
        req.group_heartbeat = &hb;
        break;
    case 2:
        req.body_case = RINGLOG__REQUEST__BODY_LIST_GROUPS;
        req.list_groups = &lg;
        break;
    case 3:
        req.body_case = RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS;
        req.describe_groups = &dg;
        break;
    default:
        req.body_case = RINGLOG__REQUEST__BODY_DELETE_GROUPS;
        req.delete_groups = &xg;
        break;
    }
    return request_error(wire_call(fd, &req));
}

static int run_find_coordinator(int fd)
{
    return run_group_request(fd, 0);
}

static int run_group_heartbeat(int fd)
{
    return run_group_request(fd, 1);
}

static int run_list_groups(int fd)
{
    return run_group_request(fd, 2);
}

static int run_describe_groups(int fd)
{
    return run_group_request(fd, 3);
}

static int run_delete_groups(int fd)
{
    return run_group_request(fd, 4);
}

struct need {
    Ringlog__AclResourceType res;
    const char *name;
    Ringlog__AclOperation op;
};

struct rcase {
    const char *what;
    int (*run)(int fd);
    struct need needs[2]; /* the second: res 0 when only one is needed */
};

static const struct rcase CASES[] = {
    {"produce", run_produce, {{T(TOPIC), "orders", OP(WRITE)}}},
    {"fetch", run_fetch, {{T(TOPIC), "orders", OP(READ)}}},
    {"list_offsets", run_list_offsets, {{T(TOPIC), "orders", OP(DESCRIBE)}}},
    {"init_producer_id", run_init_producer, {{T(TOPIC), "orders", OP(WRITE)}}},
    {"create_topics", run_create, {{T(TOPIC), "orders.new", OP(CREATE)}}},
    {"delete_topics", run_delete, {{T(TOPIC), "orders.victim", OP(DELETE)}}},
    {"offset_commit",
     run_commit,
     {{T(GROUP), "billing", OP(READ)}, {T(TOPIC), "orders", OP(READ)}}},
    {"offset_fetch",
     run_offset_fetch,
     {{T(GROUP), "billing", OP(READ)}, {T(TOPIC), "orders", OP(READ)}}},
    {"create_user", run_create_user, {{T(CLUSTER), "", OP(ALTER)}}},
    {"create_acl", run_create_acl, {{T(CLUSTER), "", OP(ALTER)}}},
    {"list_users", run_list_users, {{T(CLUSTER), "", OP(DESCRIBE)}}},
    {"list_acls", run_list_acls, {{T(CLUSTER), "", OP(DESCRIBE)}}},
    {"find_coordinator", run_find_coordinator, {{T(GROUP), "billing", OP(DESCRIBE)}}},
    {"group_heartbeat", run_group_heartbeat, {{T(GROUP), "billing", OP(READ)}}},
    {"list_groups", run_list_groups, {{T(CLUSTER), "", OP(DESCRIBE)}}},
    {"describe_groups", run_describe_groups, {{T(GROUP), "billing", OP(DESCRIBE)}}},
    {"delete_groups", run_delete_groups, {{T(GROUP), "billing", OP(DELETE)}}},
    {"describe_configs", run_describe_configs, {{T(TOPIC), "orders", OP(DESCRIBE)}}},
    {"alter_configs", run_alter_configs, {{T(TOPIC), "orders", OP(ALTER)}}},
    {"create_partitions", run_create_partitions, {{T(TOPIC), "orders", OP(ALTER)}}},
    {"delete_records", run_delete_records, {{T(TOPIC), "orders", OP(DELETE)}}},
};

/* The case's ACLs for alice: added or removed, allow or deny. create_topics's is a prefix. */
static void set_acls(const struct rcase *c, bool add, bool deny)
{
    for (int k = 0; k < 2 && c->needs[k].res; k++) {
        const struct need *n = &c->needs[k];
        bool prefix = n->op == OP(CREATE);
        cr_assert_eq(wire_acl(admin, add, "User:alice", n->res, n->name, prefix, n->op, deny), 0,
                     "%s: acl %s", c->what, add ? "add" : "remove");
    }
}

Test(acl, matrix)
{
    int alice = connect_as("alice", "pw");
    int mallory = connect_as("mallory", "pw");
    int root = connect_as("root", "pw");
    long long denials = metric("ringlog_authorization_denials_total");
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const struct rcase *c = &CASES[i];
        const int denied = RINGLOG__ERROR_CODE__NOT_AUTHORIZED;
        cr_expect_eq(c->run(alice), denied, "%s: no ACL yet", c->what);
        set_acls(c, true, false);
        cr_expect_neq(c->run(alice), denied, "%s: allowed", c->what);
        cr_expect_eq(c->run(mallory), denied, "%s: another principal", c->what);
        cr_expect_neq(c->run(root), denied, "%s: super user", c->what);
        /* Only part of two needs: refused. */
        if (c->needs[1].res) {
            cr_assert_eq(wire_acl(admin, false, "User:alice", c->needs[1].res, c->needs[1].name,
                                  false, c->needs[1].op, false),
                         0);
            cr_expect_eq(c->run(alice), denied, "%s: half of what it needs", c->what);
            cr_assert_eq(wire_acl(admin, true, "User:alice", c->needs[1].res, c->needs[1].name,
                                  false, c->needs[1].op, false),
                         0);
        }
        set_acls(c, true, true);
        cr_expect_eq(c->run(alice), denied, "%s: deny beats allow", c->what);
        set_acls(c, false, true);
        set_acls(c, false, false);
        cr_expect_eq(c->run(alice), denied, "%s: ACL removed", c->what);
    }
    /* Each case above was refused at least four times. */
    cr_expect_geq(metric("ringlog_authorization_denials_total") - denials,
                  4 * (long long)(sizeof(CASES) / sizeof(CASES[0])));
    cr_expect_eq(metric("ringlog_sasl_failures_total"), 0);
    int bad = wire_connect(broker.port);
    cr_expect_eq(wire_sasl_login(bad, "SCRAM-SHA-256", "alice", "nope"),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    close(bad);
    cr_expect_eq(metric("ringlog_sasl_failures_total"), 1);
    close(alice);
    close(mallory);
    close(root);
}

static size_t listed(int fd, const char *must, const char *must_not)
{
    Ringlog__Response *r = wire_metadata(fd, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0);
    bool seen = false;
    size_t n = r->metadata->n_topics;
    for (size_t i = 0; i < n; i++) {
        const char *name = r->metadata->topics[i]->name;
        seen = seen || (must && strcmp(name, must) == 0);
        cr_expect(must_not == NULL || strcmp(name, must_not) != 0, "%s listed", name);
    }
    cr_expect(must == NULL || seen, "%s not listed", must);
    ringlog__response__free_unpacked(r, NULL);
    return n;
}

Test(acl, metadata_lists_only_describable_prefix_and_literal)
{
    int alice = connect_as("alice", "pw");
    cr_expect_eq(listed(alice, NULL, NULL), 0, "nothing describable yet");
    cr_assert_eq(wire_acl(admin, true, "User:alice", T(TOPIC), "logs.", true, OP(READ), false), 0);
    cr_expect_eq(listed(alice, "logs.app", "orders"), 2, "the prefix: logs.app and logs.secret");
    cr_assert_eq(
        wire_acl(admin, true, "User:alice", T(TOPIC), "logs.secret", false, OP(DESCRIBE), true), 0);
    cr_expect_eq(listed(alice, "logs.app", "logs.secret"), 1, "the literal deny");
    /* Named: refused whether it exists or not, so names cannot be probed. */
    Ringlog__Response *r = wire_metadata(alice, "orders");
    cr_expect_eq(r->metadata->topics[0]->error, RINGLOG__ERROR_CODE__NOT_AUTHORIZED);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_metadata(alice, "nosuchtopic");
    cr_expect_eq(r->metadata->topics[0]->error, RINGLOG__ERROR_CODE__NOT_AUTHORIZED);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_metadata(alice, "logs.app");
    cr_expect_eq(r->metadata->topics[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    /* Prefix rules do not match a shorter name, literal rules no longer one. */
    cr_assert_eq(wire_acl(admin, true, "User:alice", T(TOPIC), "orders", false, OP(WRITE), false),
                 0);
    uint8_t batch[512];
    size_t n = wire_build_batch(batch, sizeof(batch), "m", 1, -1, -1, -1);
    cr_expect_eq(wire_error_of(wire_produce(alice, "orders", 0, 1, batch, n)), 0);
    r = wire_create_topic(admin, "orders2", 1);
    ringlog__response__free_unpacked(r, NULL);
    cr_expect_eq(wire_error_of(wire_produce(alice, "orders2", 0, 1, batch, n)),
                 RINGLOG__ERROR_CODE__NOT_AUTHORIZED);
    cr_expect_eq(wire_error_of(wire_fetch(alice, "logs", 0, 0, 0, 0)),
                 RINGLOG__ERROR_CODE__NOT_AUTHORIZED);
    close(alice);
}

/* Invalid ACLs are refused with a reason; removing a missing one says so. */
Test(acl, invalid_acls)
{
    cr_expect_eq(wire_acl(admin, true, "alice", T(TOPIC), "t", false, OP(READ), false),
                 RINGLOG__ERROR_CODE__INVALID_REQUEST);
    cr_expect_eq(wire_acl(admin, true, "User:alice", T(CLUSTER), "x", false, OP(ALTER), false),
                 RINGLOG__ERROR_CODE__INVALID_REQUEST);
    cr_expect_eq(wire_acl(admin, true, "User:alice", T(TOPIC), "t", false, 0, false),
                 RINGLOG__ERROR_CODE__INVALID_REQUEST);
    cr_expect_eq(wire_acl(admin, false, "User:alice", T(TOPIC), "t", false, OP(READ), false),
                 RINGLOG__ERROR_CODE__INVALID_REQUEST);
}
