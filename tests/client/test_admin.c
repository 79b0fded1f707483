/*
 * The admin API of issue 20 item 5 against real ringlogd processes: topic
 * configs (describe, incremental alter, applied live, kept across a
 * restart), create partitions (picked up by producers and consumers),
 * delete records (log start moved, reads below refused, kept across a
 * restart and a crash, segments below deleted) and list offsets; each on a
 * single broker and on a three-broker cluster, with every error path.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "client_helpers.h"
#include "ringlog.h"
#include "wire.h"

#define NODES 3

struct node {
    struct broker_proc b;
    int id;
    uint16_t port;
    char dir[512];
    char addr[64];
};

static struct node nodes[NODES];
static int nnodes;
static char peers_arg[512];

static void stop_all(void);

/* fini runs after a failed assertion too: no broker or directory outlives a test. */
TestSuite(admin, .timeout = 240, .fini = stop_all);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_node(struct node *x)
{
    char id[16], listen[64];
    snprintf(id, sizeof(id), "%d", x->id);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", x->port);
    const char *cluster[] = {"--node-id", id,  "--peers",   peers_arg, "--listen", listen,
                             "--shards",  "2", "--metrics", "off",     NULL};
    const char *single[] = {"--listen", listen, "--shards", "2", "--metrics", "off", NULL};
    cr_assert_eq(broker_start(&x->b, x->dir, nnodes > 1 ? cluster : single), 0,
                 "node %d did not start", x->id);
}

/* n brokers (1: a single broker; 3: a cluster), each with a fresh directory. */
static void start_all(int n)
{
    size_t len = 0;
    nnodes = n;
    for (int i = 0; i < n; i++) {
        struct node *x = &nodes[i];
        memset(x, 0, sizeof(*x));
        x->id = i + 1;
        x->port = wire_free_port();
        snprintf(x->addr, sizeof(x->addr), "127.0.0.1:%u", x->port);
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(x->dir, sizeof(x->dir), "%s/ringlog-admin-XXXXXX", tmp);
        cr_assert_not_null(mkdtemp(x->dir));
        len += (size_t)snprintf(peers_arg + len, sizeof(peers_arg) - len, "%s%d@127.0.0.1:%u",
                                i ? "," : "", x->id, x->port);
    }
    for (int i = 0; i < n; i++)
        start_node(&nodes[i]);
}

static void stop_all(void)
{
    for (int i = 0; i < nnodes; i++) {
        if (nodes[i].dir[0] == '\0')
            continue;
        if (nodes[i].b.pid > 0)
            cr_expect_eq(broker_stop(&nodes[i].b), 0, "node %d did not stop cleanly", i + 1);
        char dir[512];
        memcpy(dir, nodes[i].dir, sizeof(dir));
        snprintf(nodes[i].b.data_dir, sizeof(nodes[i].b.data_dir), "%s", dir);
        snprintf(nodes[i].b.log_path, sizeof(nodes[i].b.log_path), "%s.log", dir);
        broker_remove_data(&nodes[i].b);
        nodes[i].dir[0] = '\0';
        nodes[i].b.pid = 0;
    }
    nnodes = 0;
}

/* Every broker's address, for a client that may go anywhere. */
static const char *all_addrs(void)
{
    static char buf[256];
    size_t len = 0;
    for (int i = 0; i < nnodes; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "", nodes[i].addr);
    return buf;
}

static ringlog_admin *admin_at(const char *addr)
{
    ringlog_conf *c = conf_at(addr);
    char err[256];
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    ringlog_conf_destroy(c);
    return a;
}

/* Creates `name` (retrying while a new cluster elects its controller). */
static void create(ringlog_admin *a, const char *name, int partitions, int rf,
                   int64_t segment_bytes)
{
    ringlog_topic_config cfg = {.segment_bytes = segment_bytes};
    char err[256];
    int rc = -1;
    for (int64_t deadline = now_ms() + 30000; rc != 0 && now_ms() < deadline;) {
        rc = ringlog_admin_create_topic(a, name, partitions, rf, &cfg, err, sizeof(err));
        if (rc != 0)
            usleep(100 * 1000);
    }
    cr_assert_eq(rc, 0, "create %s: %s %s", name, ringlog_err_name(rc), err);
}

/*
 * n records of 500 bytes to one partition (RINGLOG_PARTITION_ANY: keyed by
 * i), acks=all, each its own batch (flushed one by one: segments fill
 * predictably, about 7 batches to a 4 KiB segment).
 */
static void produce(const char *addr, const char *topic, int32_t partition, int n)
{
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "acks", "all", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "0", NULL, 0), 0);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    for (int i = 0; i < n; i++) {
        char key[16], value[500];
        snprintf(key, sizeof(key), "k%d", i);
        memset(value, 'v', sizeof(value));
        ringlog_record r = {.topic = topic,
                            .partition = partition,
                            .key = key,
                            .key_len = strlen(key),
                            .value = value,
                            .value_len = sizeof(value)};
        /* A cluster's broker that has not applied the create yet: UNKNOWN_TOPIC for a while. */
        int rc = ringlog_produce(p, &r);
        for (int64_t deadline = now_ms() + 20000;
             (rc == RINGLOG_ERR_QUEUE_FULL || rc == RINGLOG_ERR_UNKNOWN_TOPIC ||
              rc == RINGLOG_ERR_UNKNOWN_PARTITION) &&
             now_ms() < deadline;) {
            ringlog_poll(p, 10);
            if (rc != RINGLOG_ERR_QUEUE_FULL)
                usleep(50 * 1000);
            rc = ringlog_produce(p, &r);
        }
        cr_assert_eq(rc, 0, "produce %d: %s", i, ringlog_err_name(rc));
        cr_assert_eq(ringlog_producer_flush(p, 60000), 0);
    }
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
}

/* The value of config `name` as describe shows it (and whether it is the default); its error. */
static int try_config_of(ringlog_admin *a, const char *topic, const char *name, char *value,
                         size_t cap, bool *is_default)
{
    ringlog_config_entry *e;
    size_t n;
    char err[256];
    int rc = ringlog_admin_describe_configs(a, topic, &e, &n, err, sizeof(err));
    if (rc != 0)
        return rc;
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) {
            snprintf(value, cap, "%s", e[i].value);
            *is_default = e[i].is_default;
            found = true;
        }
    ringlog_free(e);
    cr_assert(found, "config %s not described", name);
    return 0;
}

static void config_of(ringlog_admin *a, const char *topic, const char *name, char *value,
                      size_t cap, bool *is_default)
{
    int rc = try_config_of(a, topic, name, value, cap, is_default);
    cr_assert_eq(rc, 0, "describe configs: %s", ringlog_err_name(rc));
}

static void expect_config(ringlog_admin *a, const char *topic, const char *name, const char *want,
                          bool want_default)
{
    char value[64];
    bool dflt;
    config_of(a, topic, name, value, sizeof(value), &dflt);
    cr_assert_str_eq(value, want, "%s", name);
    cr_assert_eq(dflt, want_default, "%s: is_default %d", name, dflt);
}

static int alter(ringlog_admin *a, const char *topic, const char *name, const char *value,
                 bool validate_only, char *err, size_t errlen)
{
    ringlog_config_alter op = {
        .name = name, .op = value ? RINGLOG_CONFIG_SET : RINGLOG_CONFIG_DELETE, .value = value};
    return ringlog_admin_alter_configs(a, topic, &op, 1, validate_only, err, errlen);
}

/* One partition's offset by list offsets (spec: earliest, latest or a time); its err too. */
static int64_t offset_of(ringlog_admin *a, const char *topic, int32_t partition, int64_t spec,
                         int *perr)
{
    ringlog_partition_offset po = {.partition = partition, .offset = spec};
    char err[256];
    int rc = ringlog_admin_list_offsets(a, topic, &po, 1, err, sizeof(err));
    cr_assert_eq(rc, 0, "list offsets: %s %s", ringlog_err_name(rc), err);
    if (perr)
        *perr = po.err;
    else
        cr_assert_eq(po.err, 0, "partition %d: %s", partition, ringlog_err_name(po.err));
    return po.offset;
}

/* .log files in a broker's directory of topic-partition. */
static int segment_files(const struct node *x, const char *topic, int partition)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/topics/%s/%d", x->dir, topic, partition);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".log") == 0;
    }
    closedir(d);
    return n;
}

/* Waits until every broker holding topic-partition has at most `max` segment files. */
static void await_segments_at_most(const char *topic, int partition, int max)
{
    int64_t deadline = now_ms() + 20000;
    for (int i = 0; i < nnodes; i++) {
        int n = segment_files(&nodes[i], topic, partition);
        while (n > max && now_ms() < deadline) {
            usleep(100 * 1000);
            n = segment_files(&nodes[i], topic, partition);
        }
        cr_assert(n >= 0 && n <= max, "node %d holds %d segments of %s-%d, want at most %d",
                  nodes[i].id, n, topic, partition, max);
    }
}

/* ============================================================ configs */

/* Describe, set, delete back to the default, validate-only, and the errors. */
static void configs_roundtrip(const char *addr, int rf)
{
    ringlog_admin *a = admin_at(addr);
    char err[256];
    create(a, "cfg", 2, rf, 0);
    expect_config(a, "cfg", "retention.ms", "604800000", true);
    expect_config(a, "cfg", "cleanup.policy", "delete", true);
    cr_assert_eq(alter(a, "cfg", "retention.ms", "3600000", false, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(alter(a, "cfg", "segment_bytes", "65536", false, err, sizeof(err)), 0,
                 "the wire's spelling is an alias: %s", err);
    expect_config(a, "cfg", "retention.ms", "3600000", false);
    expect_config(a, "cfg", "segment.bytes", "65536", false);
    /* Delete: back to the default; the other key keeps its value. */
    cr_assert_eq(alter(a, "cfg", "retention.ms", NULL, false, err, sizeof(err)), 0, "%s", err);
    expect_config(a, "cfg", "retention.ms", "604800000", true);
    expect_config(a, "cfg", "segment.bytes", "65536", false);
    /* Validate only: checked, not applied. */
    cr_assert_eq(alter(a, "cfg", "retention.bytes", "1000000", true, err, sizeof(err)), 0);
    expect_config(a, "cfg", "retention.bytes", "-1", true);
    /* Errors. */
    int rc = alter(a, "cfg", "retention.ms", "-5", false, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_CONFIG, "%s", ringlog_err_name(rc));
    cr_assert(strstr(err, "retention.ms"), "%s", err);
    rc = alter(a, "cfg", "segment.bytes", "100", false, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_CONFIG, "%s", ringlog_err_name(rc));
    rc = alter(a, "cfg", "no.such.key", "1", false, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_CONFIG, "%s", ringlog_err_name(rc));
    rc = alter(a, "cfg", "cleanup.policy", "shred", false, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_CONFIG, "%s", ringlog_err_name(rc));
    rc = alter(a, "nope", "retention.ms", "1000", false, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_UNKNOWN_TOPIC, "%s", ringlog_err_name(rc));
    ringlog_config_entry *e;
    size_t n;
    rc = ringlog_admin_describe_configs(a, "nope", &e, &n, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_UNKNOWN_TOPIC, "%s", ringlog_err_name(rc));
    /* Nothing refused was applied: all or nothing per call. */
    ringlog_config_alter two[] = {{"retention.ms", RINGLOG_CONFIG_SET, "5000"},
                                  {"segment.ms", RINGLOG_CONFIG_SET, "zero"}};
    rc = ringlog_admin_alter_configs(a, "cfg", two, 2, false, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_CONFIG);
    expect_config(a, "cfg", "retention.ms", "604800000", true);
    ringlog_admin_destroy(a);
}

Test(admin, configs_single_broker)
{
    start_all(1);
    configs_roundtrip(nodes[0].addr, 1);
    ringlog_admin *a = admin_at(nodes[0].addr);
    char err[256];
    cr_assert_eq(alter(a, "cfg", "cleanup.policy", "compact,delete", false, err, sizeof(err)), 0,
                 "%s", err);
    ringlog_admin_destroy(a);
    /* Kept across a restart. */
    cr_assert_eq(broker_stop(&nodes[0].b), 0);
    start_node(&nodes[0]);
    a = admin_at(nodes[0].addr);
    expect_config(a, "cfg", "segment.bytes", "65536", false);
    expect_config(a, "cfg", "cleanup.policy", "compact,delete", false);
    ringlog_admin_destroy(a);
}

/*
 * Retention set after the data is written deletes it, on every replica:
 * the config reaches the partitions live (a table change alone would not).
 */
static void retention_applies_live(int rf)
{
    ringlog_admin *a = admin_at(all_addrs());
    char err[256];
    create(a, "ret", 1, rf, 4096);
    produce(all_addrs(), "ret", 0, 40); /* 20 KB: 5 or more segments of 4 KiB */
    for (int i = 0; i < nnodes; i++)
        cr_assert_geq(segment_files(&nodes[i], "ret", 0), 5, "node %d", nodes[i].id);
    cr_assert_eq(alter(a, "ret", "retention.bytes", "4096", false, err, sizeof(err)), 0, "%s", err);
    await_segments_at_most("ret", 0, 3);
    int perr;
    cr_assert_gt(offset_of(a, "ret", 0, RINGLOG_OFFSET_BEGINNING, &perr), 0);
    ringlog_admin_destroy(a);
}

Test(admin, retention_altered_applies_live_single_broker)
{
    start_all(1);
    retention_applies_live(1);
}

Test(admin, configs_cluster_every_broker)
{
    start_all(NODES);
    /* Bootstrapped at each broker in turn: the ones that are not the controller redirect. */
    for (int i = 0; i < NODES; i++) {
        ringlog_admin *a = admin_at(nodes[i].addr);
        char err[256], value[16];
        snprintf(value, sizeof(value), "%d", 1000000 + i);
        if (i == 0)
            create(a, "cc", 2, 3, 0);
        int rc = alter(a, "cc", "retention.ms", value, false, err, sizeof(err));
        cr_assert_eq(rc, 0, "via node %d: %s %s", i + 1, ringlog_err_name(rc), err);
        ringlog_admin_destroy(a);
    }
    /* Every broker's own table has it: describe asks the broker it is connected to. */
    for (int i = 0; i < NODES; i++) {
        ringlog_admin *a = admin_at(nodes[i].addr);
        char value[64] = "";
        bool dflt = true;
        /* A broker applies the records after the controller: UNKNOWN_TOPIC or older values
         * for a moment. */
        for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; usleep(50 * 1000)) {
            int rc = try_config_of(a, "cc", "retention.ms", value, sizeof(value), &dflt);
            cr_assert(rc == 0 || rc == RINGLOG_ERR_UNKNOWN_TOPIC, "%s", ringlog_err_name(rc));
            if (strcmp(value, "1000002") == 0)
                break;
        }
        cr_assert_str_eq(value, "1000002", "node %d", i + 1);
        cr_assert(!dflt);
        ringlog_admin_destroy(a);
    }
    /* compact is taken on a cluster too (replicas copy compacted ranges: test_cluster_compact). */
    ringlog_admin *a = admin_at(all_addrs());
    char err[256];
    int rc = alter(a, "cc", "cleanup.policy", "compact,delete", false, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s: %s", ringlog_err_name(rc), err);
    ringlog_admin_destroy(a);
    retention_applies_live(3);
}

/* A broker that is not the controller answers a topic change NOT_CONTROLLER (on the wire). */
Test(admin, not_controller_on_the_wire)
{
    start_all(NODES);
    ringlog_admin *a = admin_at(all_addrs());
    create(a, "nc", 1, 3, 0);
    ringlog_admin_destroy(a);
    int fd = wire_connect(nodes[0].port);
    Ringlog__Response *md = wire_metadata(fd, "nc");
    close(fd);
    cr_assert_not_null(md);
    int controller = md->metadata->controller_id;
    ringlog__response__free_unpacked(md, NULL);
    cr_assert(controller >= 1 && controller <= NODES, "controller %d", controller);
    struct node *other = &nodes[controller % NODES];
    Ringlog__AlterConfigEntry e = RINGLOG__ALTER_CONFIG_ENTRY__INIT, *ep = &e;
    e.name = "retention.ms";
    e.value = "5000";
    Ringlog__AlterConfigsTopic t = RINGLOG__ALTER_CONFIGS_TOPIC__INIT, *tp = &t;
    t.topic = "nc";
    t.n_entries = 1;
    t.entries = &ep;
    Ringlog__AlterConfigsRequest ar = RINGLOG__ALTER_CONFIGS_REQUEST__INIT;
    ar.n_topics = 1;
    ar.topics = &tp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_ALTER_CONFIGS;
    req.alter_configs = &ar;
    /* The other broker learns the topic when it applies the create: until then UNKNOWN_TOPIC. */
    Ringlog__Response *r = NULL;
    for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; usleep(50 * 1000)) {
        if (r)
            ringlog__response__free_unpacked(r, NULL);
        fd = wire_connect(other->port);
        r = wire_call(fd, &req);
        close(fd);
        cr_assert_not_null(r);
        if (r->body_case != RINGLOG__RESPONSE__BODY_ALTER_CONFIGS ||
            r->alter_configs->n_topics != 1 ||
            r->alter_configs->topics[0]->error != RINGLOG__ERROR_CODE__UNKNOWN_TOPIC)
            break;
    }
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_ALTER_CONFIGS);
    cr_assert_eq(r->alter_configs->n_topics, 1);
    cr_assert_eq(r->alter_configs->topics[0]->error, RINGLOG__ERROR_CODE__NOT_CONTROLLER,
                 "node %d (controller %d): %d", other->id, controller,
                 r->alter_configs->topics[0]->error);
    ringlog__response__free_unpacked(r, NULL);
}

/* ========================================================= partitions */

static ringlog_producer *producer_at(const char *addr)
{
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "acks", "all", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "metadata-max-age-ms", "300", NULL, 0), 0);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    ringlog_conf_destroy(c);
    return p;
}

/* Produces one record to `partition`, waiting (up to 15 s) for the producer to know it. */
static void produce_when_known(ringlog_producer *p, const char *topic, int32_t partition)
{
    ringlog_record r = {.topic = topic, .partition = partition, .value = "x", .value_len = 1};
    int rc = ringlog_produce(p, &r);
    for (int64_t deadline = now_ms() + 15000;
         (rc == RINGLOG_ERR_UNKNOWN_PARTITION || rc == RINGLOG_ERR_UNKNOWN_TOPIC) &&
         now_ms() < deadline;
         rc = ringlog_produce(p, &r))
        usleep(50 * 1000);
    cr_assert_eq(rc, 0, "produce to %s-%d: %s", topic, partition, ringlog_err_name(rc));
    cr_assert_eq(ringlog_producer_flush(p, 30000), 0);
}

/* Reads partition `partition` from its start: the first message's offset (-1: none in 15 s). */
static int64_t first_offset(const char *addr, const char *topic, int32_t partition)
{
    ringlog_conf *c = conf_at(addr);
    char err[256];
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    ringlog_topic_partition tp = {
        .topic = topic, .partition = partition, .offset = RINGLOG_OFFSET_BEGINNING};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    int64_t offset = -1;
    for (int64_t deadline = now_ms() + 15000; offset < 0 && now_ms() < deadline;) {
        const ringlog_message *m = NULL;
        if (ringlog_consumer_poll(k, 500, &m) == 0 && m)
            offset = m->offset;
    }
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    return offset;
}

/* Waits until every partition of topic has a leader; returns their count. */
static size_t await_leaders(ringlog_admin *a, const char *topic)
{
    size_t count = 0;
    bool all = false;
    for (int64_t deadline = now_ms() + 20000; !all && now_ms() < deadline;) {
        ringlog_topic_info *ti = NULL;
        char err[256];
        if (ringlog_admin_describe_topic(a, topic, &ti, err, sizeof(err)) == 0) {
            all = true;
            for (size_t i = 0; i < ti->partition_count; i++)
                all = all && ti->partitions[i].leader >= 0 && ti->partitions[i].err == 0;
            count = ti->partition_count;
            ringlog_free(ti);
        }
        if (!all)
            usleep(100 * 1000);
    }
    cr_assert(all, "%s: partitions without a leader", topic);
    return count;
}

static void partitions_grow(int rf)
{
    ringlog_admin *a = admin_at(all_addrs());
    char err[256];
    create(a, "grow", 1, rf, 0);
    await_leaders(a, "grow");
    ringlog_producer *p = producer_at(all_addrs());
    produce_when_known(p, "grow", 0); /* the producer knows 1 partition */
    int rc = ringlog_admin_create_partitions(a, "grow", 1, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_PARTITIONS, "%s", ringlog_err_name(rc));
    rc = ringlog_admin_create_partitions(a, "nope", 3, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_UNKNOWN_TOPIC, "%s", ringlog_err_name(rc));
    rc = ringlog_admin_create_partitions(a, "grow", 10001, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_PARTITIONS, "%s", ringlog_err_name(rc));
    rc = ringlog_admin_create_partitions(a, "grow", 3, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s %s", ringlog_err_name(rc), err);
    rc = ringlog_admin_create_partitions(a, "grow", 2, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_INVALID_PARTITIONS, "never shrinks: %s", ringlog_err_name(rc));
    cr_assert_eq(await_leaders(a, "grow"), 3);
    /* The producer sees the new partitions at its next refresh, explicitly and by key. */
    produce_when_known(p, "grow", 2);
    for (int i = 0; i < 30; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        ringlog_record r = {.topic = "grow",
                            .partition = RINGLOG_PARTITION_ANY,
                            .key = key,
                            .key_len = strlen(key),
                            .value = "y",
                            .value_len = 1};
        cr_assert_eq(ringlog_produce(p, &r), 0);
    }
    cr_assert_eq(ringlog_producer_flush(p, 30000), 0);
    ringlog_producer_destroy(p);
    for (int32_t part = 0; part < 3; part++) {
        cr_assert_gt(offset_of(a, "grow", part, RINGLOG_OFFSET_END, NULL), 0, "partition %d", part);
        cr_assert_geq(first_offset(all_addrs(), "grow", part), 0, "partition %d consumed", part);
    }
    ringlog_admin_destroy(a);
}

Test(admin, create_partitions_single_broker)
{
    start_all(1);
    partitions_grow(1);
    /* Kept across a restart, with their data. */
    cr_assert_eq(broker_stop(&nodes[0].b), 0);
    start_node(&nodes[0]);
    ringlog_admin *a = admin_at(nodes[0].addr);
    cr_assert_eq(await_leaders(a, "grow"), 3);
    cr_assert_gt(offset_of(a, "grow", 2, RINGLOG_OFFSET_END, NULL), 0);
    ringlog_admin_destroy(a);
}

Test(admin, create_partitions_cluster)
{
    start_all(NODES);
    partitions_grow(3);
    /* Leaders spread: the new partitions are placed as at create (a start per name, then
     * round robin), so three partitions of RF 3 start with three different preferred leaders. */
    ringlog_admin *a = admin_at(all_addrs());
    ringlog_topic_info *ti = NULL;
    char err[256];
    cr_assert_eq(ringlog_admin_describe_topic(a, "grow", &ti, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ti->partition_count, 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(ti->partitions[i].replica_count, 3, "partition %zu", i);
    cr_assert_neq(ti->partitions[1].replicas[0], ti->partitions[2].replicas[0]);
    ringlog_free(ti);
    ringlog_admin_destroy(a);
}

/* ====================================================== delete records */

static int delete_before(ringlog_admin *a, const char *topic, int32_t partition, int64_t offset,
                         int64_t *low)
{
    ringlog_partition_offset po = {.partition = partition, .offset = offset};
    char err[256];
    int rc = ringlog_admin_delete_records(a, topic, &po, 1, err, sizeof(err));
    cr_assert_eq(rc, 0, "delete records: %s %s", ringlog_err_name(rc), err);
    if (low)
        *low = po.offset;
    return po.err;
}

/* A consumer at `offset` with auto-offset-reset=error: what its first poll says. */
static int poll_at(const char *addr, const char *topic, int32_t partition, int64_t offset)
{
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "auto-offset-reset", "error", NULL, 0), 0);
    char err[256];
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    ringlog_topic_partition tp = {.topic = topic, .partition = partition, .offset = offset};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    int rc = RINGLOG_ERR_TIMED_OUT;
    for (int64_t deadline = now_ms() + 15000; rc == RINGLOG_ERR_TIMED_OUT && now_ms() < deadline;) {
        const ringlog_message *m = NULL;
        rc = ringlog_consumer_poll(k, 500, &m);
    }
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    return rc;
}

/* Waits until list offsets' earliest of topic-partition is `want` (leaders may be moving). */
static void await_earliest(ringlog_admin *a, const char *topic, int32_t partition, int64_t want)
{
    int64_t got = -1;
    for (int64_t deadline = now_ms() + 20000; got != want && now_ms() < deadline;) {
        ringlog_partition_offset po = {.partition = partition, .offset = RINGLOG_OFFSET_BEGINNING};
        char err[256];
        if (ringlog_admin_list_offsets(a, topic, &po, 1, err, sizeof(err)) == 0 && po.err == 0)
            got = po.offset;
        if (got != want)
            usleep(100 * 1000);
    }
    cr_assert_eq(got, want, "%s-%d earliest", topic, partition);
}

/* Every running broker's own replica of topic-partition starts at `want` (Metadata, local view). */
static void await_replica_starts(const char *topic, int32_t partition, int64_t want)
{
    for (int i = 0; i < nnodes; i++) {
        if (nodes[i].b.pid <= 0)
            continue;
        int64_t got = -1;
        for (int64_t deadline = now_ms() + 20000; got != want && now_ms() < deadline;) {
            int fd = wire_connect(nodes[i].port);
            Ringlog__Response *r = fd >= 0 ? wire_metadata(fd, topic) : NULL;
            if (fd >= 0)
                close(fd);
            if (r && r->metadata && r->metadata->n_topics == 1)
                for (size_t k = 0; k < r->metadata->topics[0]->n_partitions; k++)
                    if (r->metadata->topics[0]->partitions[k]->partition == (uint32_t)partition)
                        got = r->metadata->topics[0]->partitions[k]->log_start_offset;
            if (r)
                ringlog__response__free_unpacked(r, NULL);
            if (got != want)
                usleep(100 * 1000);
        }
        cr_assert_eq(got, want, "node %d's replica of %s-%d starts at %lld", nodes[i].id, topic,
                     partition, (long long)got);
    }
}

/* The common part: errors, the move, reads below refused, segments below deleted. */
static int64_t delete_records_case(int rf)
{
    ringlog_admin *a = admin_at(all_addrs());
    char err[256];
    create(a, "del", 2, rf, 4096);
    await_leaders(a, "del");
    produce(all_addrs(), "del", 0, 40);
    int64_t hw = offset_of(a, "del", 0, RINGLOG_OFFSET_END, NULL);
    cr_assert_geq(hw, 40);
    int64_t low;
    cr_assert_eq(delete_before(a, "del", 0, hw + 1, NULL), RINGLOG_ERR_OFFSET_OUT_OF_RANGE);
    cr_assert_eq(delete_before(a, "del", 0, -7, NULL), RINGLOG_ERR_OFFSET_OUT_OF_RANGE);
    cr_assert_eq(delete_before(a, "del", 9, 1, NULL), RINGLOG_ERR_UNKNOWN_PARTITION);
    ringlog_partition_offset po = {.partition = 0, .offset = 1};
    int rc = ringlog_admin_delete_records(a, "nope", &po, 1, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_UNKNOWN_TOPIC, "%s", ringlog_err_name(rc));
    int64_t start = hw - 10;
    cr_assert_eq(delete_before(a, "del", 0, start, &low), 0);
    cr_assert_eq(low, start);
    cr_assert_eq(delete_before(a, "del", 0, 3, &low), 0, "moving back is no change");
    cr_assert_eq(delete_before(a, "del", 1, -1, &low), 0, "-1: the (empty) partition's hw");
    await_earliest(a, "del", 0, start);
    await_replica_starts("del", 0, start);
    cr_assert_eq(poll_at(all_addrs(), "del", 0, 2), RINGLOG_ERR_OFFSET_OUT_OF_RANGE);
    cr_assert_eq(first_offset(all_addrs(), "del", 0), start);
    /* Segments wholly below the start go by retention: ~10 records of 500 B remain. */
    await_segments_at_most("del", 0, 3);
    ringlog_admin_destroy(a);
    return start;
}

Test(admin, delete_records_single_broker)
{
    start_all(1);
    int64_t start = delete_records_case(1);
    /* Kept across a clean restart and across a crash. */
    cr_assert_eq(broker_stop(&nodes[0].b), 0);
    start_node(&nodes[0]);
    ringlog_admin *a = admin_at(nodes[0].addr);
    await_earliest(a, "del", 0, start);
    ringlog_admin_destroy(a);
    broker_kill(&nodes[0].b);
    start_node(&nodes[0]);
    a = admin_at(nodes[0].addr);
    await_earliest(a, "del", 0, start);
    cr_assert_eq(poll_at(nodes[0].addr, "del", 0, start - 1), RINGLOG_ERR_OFFSET_OUT_OF_RANGE);
    ringlog_admin_destroy(a);
}

Test(admin, delete_records_cluster_survives_leader_kill)
{
    start_all(NODES);
    int64_t start = delete_records_case(3);
    /* The leader dies: the new one starts at the same offset. */
    ringlog_admin *a = admin_at(all_addrs());
    ringlog_topic_info *ti = NULL;
    char err[256];
    cr_assert_eq(ringlog_admin_describe_topic(a, "del", &ti, err, sizeof(err)), 0, "%s", err);
    int32_t leader = ti->partitions[0].leader;
    ringlog_free(ti);
    cr_assert(leader >= 1 && leader <= NODES, "leader %d", leader);
    broker_kill(&nodes[leader - 1].b);
    int32_t now_leader = leader;
    for (int64_t deadline = now_ms() + 20000; now_leader == leader && now_ms() < deadline;) {
        usleep(100 * 1000);
        if (ringlog_admin_describe_topic(a, "del", &ti, err, sizeof(err)) == 0) {
            now_leader = ti->partitions[0].leader;
            ringlog_free(ti);
        }
    }
    cr_assert_neq(now_leader, leader, "no new leader after the kill");
    await_earliest(a, "del", 0, start);
    /* The killed broker comes back with the same start (its checkpoint, or the record again). */
    start_node(&nodes[leader - 1]);
    await_replica_starts("del", 0, start);
    ringlog_admin_destroy(a);
}

/* ======================================================== list offsets */

Test(admin, list_offsets_single_broker)
{
    start_all(1);
    ringlog_admin *a = admin_at(nodes[0].addr);
    create(a, "lo", 2, 1, 0);
    int64_t before = (int64_t)time(NULL) * 1000 - 1000;
    produce(nodes[0].addr, "lo", 1, 5);
    ringlog_partition_offset po[] = {{.partition = 0, .offset = RINGLOG_OFFSET_END},
                                     {.partition = 1, .offset = RINGLOG_OFFSET_END},
                                     {.partition = 1, .offset = RINGLOG_OFFSET_BEGINNING},
                                     {.partition = 1, .offset = before},
                                     {.partition = 1, .offset = before + 3600 * 1000},
                                     {.partition = 7, .offset = RINGLOG_OFFSET_END}};
    char err[256];
    cr_assert_eq(ringlog_admin_list_offsets(a, "lo", po, 6, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(po[0].err, 0);
    cr_assert_eq(po[0].offset, 0);
    cr_assert_eq(po[1].offset, 5);
    cr_assert_eq(po[2].offset, 0);
    cr_assert_eq(po[3].offset, 0, "the first record at or after a time before them all");
    cr_assert_geq(po[3].timestamp, before, "%lld vs %lld", (long long)po[3].timestamp,
                  (long long)before);
    cr_assert_eq(po[4].offset, -1, "none that recent");
    cr_assert_eq(po[5].err, RINGLOG_ERR_UNKNOWN_PARTITION);
    int rc = ringlog_admin_list_offsets(a, "nope", po, 1, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_UNKNOWN_TOPIC, "%s", ringlog_err_name(rc));
    /* By time after delete records: never below the new start. */
    int64_t low;
    cr_assert_eq(delete_before(a, "lo", 1, 2, &low), 0);
    cr_assert_eq(offset_of(a, "lo", 1, before, NULL), 2);
    ringlog_admin_destroy(a);
}

/* A broker that is not the controller (the client must follow NOT_CONTROLLER from there). */
static const char *non_controller_addr(void)
{
    int fd = wire_connect(nodes[0].port);
    Ringlog__Response *md = wire_metadata(fd, NULL);
    close(fd);
    cr_assert_not_null(md);
    int controller = md->metadata->controller_id;
    ringlog__response__free_unpacked(md, NULL);
    cr_assert(controller >= 1 && controller <= NODES, "controller %d", controller);
    return nodes[controller % NODES].addr;
}

/*
 * A replica added by a reassignment after a DeleteRecords starts at the
 * deleted offset too (the target is kept with the partition, not only
 * applied to the replicas there were then).
 */
Test(admin, delete_records_reaches_a_replica_added_later)
{
    start_all(NODES);
    ringlog_admin *a = admin_at(all_addrs());
    char err[256];
    /* One segment: the leader's log still starts at 0, the new replica copies it from there
     * (a new replica behind a leader whose retention deleted segments is not brought in yet:
     * see the report). */
    create(a, "mv", 1, 2, 0);
    await_leaders(a, "mv");
    ringlog_topic_info *ti = NULL;
    cr_assert_eq(ringlog_admin_describe_topic(a, "mv", &ti, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ti->partitions[0].replica_count, 2);
    int32_t target[3] = {ti->partitions[0].replicas[0], ti->partitions[0].replicas[1], 0};
    ringlog_free(ti);
    for (int32_t id = 1; id <= NODES; id++)
        if (id != target[0] && id != target[1])
            target[2] = id;
    produce(all_addrs(), "mv", 0, 40);
    int64_t start = offset_of(a, "mv", 0, RINGLOG_OFFSET_END, NULL) - 5;
    /* Sent first to a broker that is not the controller: the retry keeps the offset asked. */
    ringlog_admin *elsewhere = admin_at(non_controller_addr());
    int64_t low = -7;
    int perr = delete_before(elsewhere, "mv", 0, start, &low);
    ringlog_admin_destroy(elsewhere);
    cr_assert_eq(perr, 0, "delete records at %lld: %s (low %lld)", (long long)start,
                 ringlog_err_name(perr), (long long)low);
    cr_assert_eq(low, start);
    await_earliest(a, "mv", 0, start);
    int rc = ringlog_admin_reassign_partition(a, "mv", 0, target, 3, err, sizeof(err));
    cr_assert_eq(rc, 0, "reassign: %s %s", ringlog_err_name(rc), err);
    /* Every broker holds a replica now, the new one included, each starting there. */
    await_replica_starts("mv", 0, start);
    cr_assert_eq(poll_at(nodes[target[2] - 1].addr, "mv", 0, start - 1),
                 RINGLOG_ERR_OFFSET_OUT_OF_RANGE);
    ringlog_admin_destroy(a);
}
