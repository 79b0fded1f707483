/* __groups records (broker/groups/group_records.h): what is written reads back the same. */
#include <criterion/criterion.h>
#include <string.h>

#include "group_records.h"

static uint32_t one_topic(void *ctx, const char *topic)
{
    (void)ctx;
    return strcmp(topic, "orders") == 0 ? 4 : 0;
}

static void each(void *ctx, void (*fn)(void *, const char *, uint32_t), void *arg)
{
    (void)ctx;
    fn(arg, "orders", 4);
}

static const struct group_topics VIEW = {.partitions = one_topic, .each = each};

static void replay(struct group_table *t, const struct group_recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        cr_assert_eq(
            group_records_apply(t, (const uint8_t *)r->v[i].key, strlen(r->v[i].key), r->v[i].value,
                                r->v[i].value ? (int64_t)r->v[i].value_len : -1, 5000, 100),
            0, "record %s", r->v[i].key);
}

Test(records, a_group_reads_back_as_written_and_tombstones_delete)
{
    struct group *g = group_new("shop");
    char *topics[] = {"orders"};
    struct group_heartbeat hb = {.topics = topics,
                                 .ntopics = 1,
                                 .instance_id = "host-1",
                                 .new_member_id = "m-1",
                                 .session_timeout_ms = 5000,
                                 .now_ms = 1000};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_OK);
    cr_assert_eq(group_offset_set(g, "orders", 2, 99, "meta"), 0);
    struct group_recs recs = {0};
    cr_assert_eq(group_records_collect(g, &recs), 0);
    cr_assert_eq(recs.n, 3, "meta, member, offset");
    struct group_recs again = {0};
    cr_assert_eq(group_records_collect(g, &again), 0);
    cr_assert_eq(again.n, 0, "nothing dirty twice");

    struct group_table t = {0};
    replay(&t, &recs);
    struct group *back = group_table_find(&t, "shop");
    cr_assert_not_null(back);
    cr_assert_eq(back->epoch, g->epoch);
    cr_assert_eq(back->assignment_epoch, g->assignment_epoch);
    struct group_member *m = group_member_find(back, "m-1");
    cr_assert_not_null(m);
    cr_assert_str_eq(m->instance_id, "host-1");
    cr_assert_eq(m->epoch, g->members[0]->epoch);
    cr_assert(tp_set_equal(&m->assigned, &g->members[0]->assigned));
    cr_assert_eq(m->assigned.n, 4);
    cr_assert_eq(m->session_deadline_ms, 5000 + 5000);
    cr_assert_eq(group_offset_get(back, "orders", 2)->offset, 99);
    group_settle_loaded(back, &VIEW);
    hb = (struct group_heartbeat){.member_id = "m-1",
                                  .member_epoch = m->epoch,
                                  .topics = topics,
                                  .ntopics = 1,
                                  .owned = &m->assigned,
                                  .now_ms = 6000};
    int32_t epoch = back->epoch;
    cr_assert_eq(group_heartbeat(back, &hb, &VIEW), GROUP_OK);
    cr_assert_eq(back->epoch, epoch, "a rebuilt group does not rebalance by itself");

    struct group_recs tomb = {0};
    cr_assert_eq(group_records_tombstones(g, &tomb), 0);
    replay(&t, &tomb);
    cr_assert_null(group_table_find(&t, "shop"));
    cr_assert_eq(
        group_records_apply(&t, (const uint8_t *)"junk", 4, (const uint8_t *)"x", 1, 0, 100), -1);
    cr_assert_eq(group_records_apply(&t, (const uint8_t *)"o/shop/orders/1", 15,
                                     (const uint8_t *)"\xff\xff", 2, 0, 100),
                 -1, "an undecodable value is refused");
    group_recs_free(&recs);
    group_recs_free(&tomb);
    group_table_free(&t);
    group_free(g);
}
