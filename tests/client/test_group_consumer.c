/*
 * Consumer groups through libringlog against a real ringlogd: members
 * subscribed to one topic split its partitions and every message is
 * consumed exactly once; a member joining moves only the partitions it
 * takes (the others see no revoke of what they keep), with the commit on
 * revoke making the handover exact; a member closing hands its partitions
 * over at once; a pattern subscription picks up a topic created later;
 * subscribe without a group is refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "client_helpers.h"
#include "ringlog.h"

static struct broker_proc broker;
static char addr[64];

static void start_broker(void)
{
    cr_assert_eq(broker_start(&broker, NULL, NULL), 0, "cannot start ringlogd");
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", broker.port);
}

static void stop_broker(void)
{
    broker_stop(&broker);
    broker_remove_data(&broker);
}

TestSuite(group_consumer, .init = start_broker, .fini = stop_broker, .timeout = 120);

enum { PARTS = 6, MAX_MSGS = 4000 };

/* What one member saw: its messages and its rebalance callbacks. */
struct member {
    ringlog_consumer *c;
    int revoked[PARTS], assigned[PARTS]; /* callbacks per partition */
    int revoke_calls;
};

static int seen[PARTS][MAX_MSGS]; /* deliveries per (partition, offset) */

static void on_rebalance(ringlog_consumer *c, ringlog_rebalance_event ev,
                         const ringlog_topic_partition *tps, size_t n, void *opaque)
{
    (void)c;
    struct member *m = opaque;
    m->revoke_calls += ev != RINGLOG_REBALANCE_ASSIGNED;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(tps[i].partition, PARTS);
        if (ev == RINGLOG_REBALANCE_ASSIGNED)
            m->assigned[tps[i].partition]++;
        else
            m->revoked[tps[i].partition]++;
    }
}

static void join(struct member *m, const char *group, const char *topic)
{
    memset(m, 0, sizeof(*m));
    ringlog_conf *conf = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(conf, "group", group, NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(conf, "auto-offset-reset", "earliest", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(conf, "session-timeout-ms", "3000", NULL, 0), 0);
    char err[256];
    m->c = ringlog_consumer_new(conf, err, sizeof(err));
    cr_assert_not_null(m->c, "%s", err);
    ringlog_conf_destroy(conf);
    cr_assert_eq(ringlog_consumer_set_rebalance_cb(m->c, on_rebalance, m), 0);
    if (topic) {
        const char *topics[] = {topic};
        cr_assert_eq(ringlog_consumer_subscribe(m->c, topics, 1), 0);
    }
}

static void produce(const char *topic, int per_partition)
{
    ringlog_conf *c = conf_at(addr);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    for (int32_t part = 0; part < PARTS; part++)
        for (int i = 0; i < per_partition; i++) {
            ringlog_record r = {.topic = topic,
                                .partition = part,
                                .value = "x",
                                .value_len = 1,
                                .flags = RINGLOG_MSG_F_BLOCK};
            cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
        }
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
}

/* Polls every member in turn until `total` messages are seen (bounded at 40 s). */
static int consume(struct member *ms, size_t n, int total)
{
    int got = 0;
    for (int round = 0; round < 4000 && got < total; round++)
        for (size_t i = 0; i < n; i++) {
            const ringlog_message *msg;
            int rc = ringlog_consumer_poll(ms[i].c, 10, &msg);
            if (rc != RINGLOG_OK)
                continue;
            cr_assert_lt(msg->offset, MAX_MSGS);
            seen[msg->partition][msg->offset]++;
            got++;
        }
    return got;
}

static void assert_each_once(int per_partition)
{
    for (int p = 0; p < PARTS; p++)
        for (int o = 0; o < per_partition; o++)
            cr_assert_eq(seen[p][o], 1, "partition %d offset %d delivered %d times", p, o,
                         seen[p][o]);
}

static int owned(const struct member *m, int p)
{
    return m->assigned[p] - m->revoked[p];
}

Test(group_consumer, members_split_partitions_and_a_joiner_moves_only_what_it_takes)
{
    create_topic_at(addr, "orders", PARTS);
    produce("orders", 100);
    struct member ms[3];
    join(&ms[0], "shop", "orders");
    join(&ms[1], "shop", "orders");
    cr_assert_eq(consume(ms, 2, 600), 600);
    assert_each_once(100);
    for (int p = 0; p < PARTS; p++)
        cr_assert_eq(owned(&ms[0], p) + owned(&ms[1], p), 1, "partition %d has one owner", p);
    int before[2][PARTS];
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < PARTS; p++)
            before[i][p] = owned(&ms[i], p);
    int revoked_before = ms[0].revoke_calls + ms[1].revoke_calls;

    join(&ms[2], "shop", "orders");
    produce("orders", 100);
    cr_assert_eq(consume(ms, 3, 600), 600);
    for (int round = 0; round < 300; round++) { /* until the third holds its share */
        int mine = 0;
        for (int p = 0; p < PARTS; p++)
            mine += owned(&ms[2], p);
        if (mine == 2)
            break;
        consume(ms, 3, 1);
    }
    assert_each_once(200);
    int moved = 0;
    for (int p = 0; p < PARTS; p++) {
        cr_assert_eq(owned(&ms[0], p) + owned(&ms[1], p) + owned(&ms[2], p), 1);
        for (int i = 0; i < 2; i++)
            if (before[i][p] && !owned(&ms[i], p)) {
                cr_assert(owned(&ms[2], p), "a partition revoked from a member went to the joiner");
                moved++;
            }
    }
    cr_assert_eq(moved, 2, "exactly the joiner's share moved");
    cr_assert_leq(ms[0].revoke_calls + ms[1].revoke_calls - revoked_before, 2);

    /* a member closing hands its partitions over without waiting for its session */
    cr_assert_eq(ringlog_consumer_close(ms[2].c), RINGLOG_OK);
    ringlog_consumer_destroy(ms[2].c);
    ringlog_conf *conf = conf_at(addr);
    char err[256];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    ringlog_group_info *gi;
    cr_assert_eq(ringlog_admin_describe_group(adm, "shop", &gi, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(gi->member_count, 2, "close returned once the coordinator took the leave");
    ringlog_free(gi);
    ringlog_admin_destroy(adm);
    ringlog_conf_destroy(conf);
    produce("orders", 10);
    cr_assert_eq(consume(ms, 2, 60), 60);
    assert_each_once(210);
    for (int i = 0; i < 2; i++) {
        ringlog_consumer_close(ms[i].c);
        ringlog_consumer_destroy(ms[i].c);
    }
}

Test(group_consumer, a_pattern_picks_up_a_topic_made_later)
{
    memset(seen, 0, sizeof(seen));
    create_topic_at(addr, "logs-a", PARTS);
    struct member m;
    join(&m, "tail", NULL);
    cr_assert_eq(ringlog_consumer_subscribe_pattern(m.c, "^logs-"), 0);
    produce("logs-a", 5);
    cr_assert_eq(consume(&m, 1, 30), 30);
    create_topic_at(addr, "logs-b", PARTS);
    produce("logs-b", 5);
    cr_assert_eq(consume(&m, 1, 30), 30, "logs-b is consumed once it exists");
    char id[128];
    int32_t epoch = 0;
    cr_assert_eq(ringlog_consumer_member_id(m.c, id, sizeof(id), &epoch), 0);
    cr_assert_neq(id[0], '\0');
    cr_assert_gt(epoch, 0);
    ringlog_consumer_close(m.c);
    ringlog_consumer_destroy(m.c);
}

Test(group_consumer, subscribe_needs_a_group)
{
    ringlog_conf *conf = conf_at(addr);
    char err[256];
    ringlog_consumer *c = ringlog_consumer_new(conf, err, sizeof(err));
    ringlog_conf_destroy(conf);
    const char *topics[] = {"orders"};
    cr_assert_eq(ringlog_consumer_subscribe(c, topics, 1), RINGLOG_ERR_STATE);
    cr_assert_eq(ringlog_consumer_subscribe(c, topics, 0), RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(ringlog_consumer_subscribe_pattern(c, ""), RINGLOG_ERR_INVALID_ARG);
    ringlog_consumer_destroy(c);
    /* assign and subscribe do not mix */
    struct member m;
    join(&m, "mixed", "orders");
    ringlog_topic_partition tp = {"orders", 0, RINGLOG_OFFSET_BEGINNING};
    cr_assert_eq(ringlog_consumer_assign(m.c, &tp, 1), RINGLOG_ERR_STATE);
    cr_assert_eq(ringlog_consumer_unsubscribe(m.c), RINGLOG_OK);
    cr_assert_eq(ringlog_consumer_assign(m.c, &tp, 1), RINGLOG_OK);
    cr_assert_eq(ringlog_consumer_subscribe(m.c, topics, 1), RINGLOG_ERR_STATE);
    ringlog_consumer_destroy(m.c);
}
