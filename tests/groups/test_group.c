/* The group state machine (broker/groups/group.h), driven directly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "group.h"

/* A topic view: names and partition counts the test sets. */
struct topics {
    const char *name[8];
    uint32_t parts[8];
    size_t n;
};

static uint32_t t_partitions(void *ctx, const char *topic)
{
    struct topics *t = ctx;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->name[i], topic) == 0)
            return t->parts[i];
    return 0;
}

static void t_each(void *ctx, void (*fn)(void *, const char *, uint32_t), void *arg)
{
    struct topics *t = ctx;
    for (size_t i = 0; i < t->n; i++)
        fn(arg, t->name[i], t->parts[i]);
}

static struct topics TOPICS;
static struct group_topics VIEW = {.ctx = &TOPICS, .partitions = t_partitions, .each = t_each};
static char *SUB[] = {"orders"};
static int64_t NOW;

/* A client's view of its membership. */
struct client {
    char id[32];
    int32_t epoch;
    struct tp_set owned;
    const char *instance;
};

static enum group_error beat(struct group *g, struct client *c, const char *new_id)
{
    struct group_heartbeat hb = {.member_id = c->id,
                                 .member_epoch = c->epoch,
                                 .instance_id = c->instance,
                                 .topics = SUB,
                                 .ntopics = 1,
                                 .owned = &c->owned,
                                 .session_timeout_ms = 3000,
                                 .new_member_id = new_id,
                                 .now_ms = NOW};
    enum group_error e = group_heartbeat(g, &hb, &VIEW);
    if (e == GROUP_OK && hb.member) {
        snprintf(c->id, sizeof(c->id), "%s", hb.member->id);
        c->epoch = hb.member->epoch;
        /* the client revokes at once (after committing) and takes what it is given */
        tp_set_copy(&c->owned, &hb.member->assigned);
    }
    return e;
}

static void setup(void)
{
    TOPICS = (struct topics){.name = {"orders", "audit"}, .parts = {6, 2}, .n = 2};
    NOW = 1000;
}

TestSuite(group, .init = setup);

/* Heartbeats every client until none changes (bounded). */
static void settle(struct group *g, struct client *c, size_t n)
{
    for (int round = 0; round < 10; round++)
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(beat(g, &c[i], "unused"), GROUP_OK);
}

Test(group, two_members_split_then_a_third_moves_only_what_must)
{
    struct group *g = group_new("g");
    struct client c[3] = {0};
    cr_assert_eq(beat(g, &c[0], "m-a"), GROUP_OK);
    cr_assert_eq(c[0].owned.n, 6, "a lone member owns every partition");
    cr_assert_eq(beat(g, &c[1], "m-b"), GROUP_OK);
    cr_assert_eq(c[1].owned.n, 0, "nothing until m-a releases");
    settle(g, c, 2);
    cr_assert_eq(c[0].owned.n, 3);
    cr_assert_eq(c[1].owned.n, 3);
    cr_assert(!tp_set_intersects(&c[0].owned, &c[1].owned));
    cr_assert_str_eq(group_state(g), "stable");
    struct tp_set before_a = {0}, before_b = {0};
    tp_set_copy(&before_a, &c[0].owned);
    tp_set_copy(&before_b, &c[1].owned);
    cr_assert_eq(beat(g, &c[2], "m-c"), GROUP_OK);
    settle(g, c, 3);
    cr_assert_eq(c[0].owned.n + c[1].owned.n + c[2].owned.n, 6);
    cr_assert_eq(c[2].owned.n, 2);
    for (size_t i = 0; i < c[0].owned.n; i++)
        cr_assert(tp_set_contains(&before_a, c[0].owned.v[i].topic, c[0].owned.v[i].partition));
    for (size_t i = 0; i < c[1].owned.n; i++)
        cr_assert(tp_set_contains(&before_b, c[1].owned.v[i].topic, c[1].owned.v[i].partition));
    cr_assert_str_eq(group_state(g), "stable");
    tp_set_free(&before_a);
    tp_set_free(&before_b);
    for (int i = 0; i < 3; i++)
        tp_set_free(&c[i].owned);
    group_free(g);
}

Test(group, a_partition_goes_to_its_new_owner_only_after_the_old_releases_it)
{
    struct group *g = group_new("g");
    struct client a = {0}, b = {0};
    beat(g, &a, "m-a");
    beat(g, &b, "m-b"); /* target moves 3 partitions from a to b */
    struct group_member *ma = group_member_find(g, a.id);
    /* a heartbeats but keeps reporting all six owned: it has not revoked yet */
    struct group_heartbeat hb = {.member_id = a.id,
                                 .member_epoch = a.epoch,
                                 .topics = SUB,
                                 .ntopics = 1,
                                 .owned = &a.owned,
                                 .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_OK);
    cr_assert_eq(ma->revoking.n, 3);
    cr_assert_eq(ma->assigned.n, 3);
    cr_assert_eq(beat(g, &b, "unused"), GROUP_OK);
    cr_assert_eq(b.owned.n, 0, "b gets nothing a is still revoking");
    tp_set_copy(&a.owned, &ma->assigned);          /* a revokes */
    cr_assert_eq(beat(g, &a, "unused"), GROUP_OK); /* now reports 3 owned: released */
    cr_assert_eq(ma->revoking.n, 0);
    cr_assert_eq(beat(g, &b, "unused"), GROUP_OK);
    cr_assert_eq(b.owned.n, 3);
    tp_set_free(&a.owned);
    tp_set_free(&b.owned);
    group_free(g);
}

Test(group, session_timeout_moves_partitions_and_fences_the_zombie)
{
    struct group *g = group_new("g");
    struct client c[2] = {0};
    beat(g, &c[0], "m-a");
    beat(g, &c[1], "m-b");
    settle(g, c, 2);
    int32_t zombie_epoch = c[1].epoch;
    for (int i = 0; i < 4; i++) { /* b goes silent; a keeps beating */
        NOW += 1000;
        beat(g, &c[0], "unused");
        group_expire(g, NOW, &VIEW);
    }
    cr_assert_null(group_member_find(g, c[1].id));
    settle(g, c, 1);
    cr_assert_eq(c[0].owned.n, 6);
    cr_assert_eq(group_commit_check(g, c[1].id, zombie_epoch), GROUP_UNKNOWN_MEMBER);
    cr_assert_eq(beat(g, &c[1], "unused"), GROUP_UNKNOWN_MEMBER);
    cr_assert_eq(group_commit_check(g, c[0].id, c[0].epoch), GROUP_OK);
    cr_assert_eq(group_commit_check(g, c[0].id, c[0].epoch + 1), GROUP_FENCED_EPOCH);
    cr_assert_eq(group_commit_check(g, "", 0), GROUP_NOT_EMPTY);
    tp_set_free(&c[0].owned);
    tp_set_free(&c[1].owned);
    group_free(g);
}

Test(group, a_static_member_back_under_a_new_id_keeps_its_partitions)
{
    struct group *g = group_new("g");
    struct client c[2] = {0};
    c[1].instance = "host-2";
    beat(g, &c[0], "m-a");
    beat(g, &c[1], "m-b");
    settle(g, c, 2);
    int32_t group_epoch = g->epoch;
    struct client back = {.instance = "host-2"};
    cr_assert_eq(beat(g, &back, "m-b2"), GROUP_OK);
    cr_assert_eq(g->epoch, group_epoch, "no rebalance");
    cr_assert(tp_set_equal(&back.owned, &c[1].owned));
    cr_assert_eq(back.epoch, c[1].epoch);
    cr_assert_eq(beat(g, &c[1], "unused"), GROUP_UNKNOWN_MEMBER, "the old incarnation is fenced");
    tp_set_free(&back.owned);
    tp_set_free(&c[0].owned);
    tp_set_free(&c[1].owned);
    group_free(g);
}

Test(group, leave_and_wrong_epochs)
{
    struct group *g = group_new("g");
    struct client a = {0};
    beat(g, &a, "m-a");
    struct client wrong = a;
    wrong.owned = (struct tp_set){0};
    wrong.epoch = a.epoch + 5;
    cr_assert_eq(beat(g, &wrong, "unused"), GROUP_FENCED_EPOCH);
    a.epoch = -1;
    cr_assert_eq(beat(g, &a, "unused"), GROUP_OK);
    cr_assert_eq(g->nmembers, 0);
    cr_assert_str_eq(group_state(g), "empty");
    cr_assert_eq(g->nremoved, 1);
    cr_assert_eq(group_commit_check(g, "", 0), GROUP_OK);
    tp_set_free(&a.owned);
    group_free(g);
}

Test(group, pattern_picks_up_new_topics_and_partitions)
{
    struct group *g = group_new("g");
    struct group_heartbeat hb = {.pattern = "^ord", .new_member_id = "m-a", .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_OK);
    cr_assert_eq(hb.member->assigned.n, 6);
    TOPICS.name[2] = "ordersv2";
    TOPICS.parts[2] = 2;
    TOPICS.n = 3;
    TOPICS.parts[0] = 8;
    struct tp_set owned = {0};
    tp_set_copy(&owned, &hb.member->assigned);
    hb = (struct group_heartbeat){.member_id = "m-a",
                                  .member_epoch = hb.member->epoch,
                                  .pattern = "^ord",
                                  .owned = &owned,
                                  .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_OK);
    cr_assert_eq(hb.member->assigned.n, 10);
    cr_assert(tp_set_contains(&hb.member->assigned, "ordersv2", 1));
    cr_assert(tp_set_contains(&hb.member->assigned, "orders", 7));
    tp_set_free(&owned);
    group_free(g);
}

Test(group, errors)
{
    struct group *g = group_new("g");
    struct group_heartbeat hb = {.pattern = "(", .new_member_id = "m-a", .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_BAD_PATTERN);
    hb = (struct group_heartbeat){.assignor = "sticky", .new_member_id = "m-a", .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_BAD_REQUEST);
    hb = (struct group_heartbeat){.member_id = "nobody", .member_epoch = 3, .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_UNKNOWN_MEMBER);
    hb = (struct group_heartbeat){.member_epoch = -3, .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_BAD_REQUEST);
    for (int i = 0; i < GROUP_MAX_MEMBERS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "m%04d", i);
        hb = (struct group_heartbeat){
            .topics = SUB, .ntopics = 1, .new_member_id = id, .now_ms = NOW};
        cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_OK);
    }
    hb = (struct group_heartbeat){
        .topics = SUB, .ntopics = 1, .new_member_id = "one-more", .now_ms = NOW};
    cr_assert_eq(group_heartbeat(g, &hb, &VIEW), GROUP_FULL);
    group_free(g);
}

Test(group, offsets)
{
    struct group *g = group_new("g");
    cr_assert_null(group_offset_get(g, "orders", 1));
    cr_assert_eq(group_offset_set(g, "orders", 1, 42, "m"), 0);
    cr_assert_eq(group_offset_set(g, "orders", 0, 7, NULL), 0);
    cr_assert_eq(group_offset_set(g, "orders", 1, 43, ""), 0);
    cr_assert_eq(g->noffsets, 2);
    cr_assert_eq(group_offset_get(g, "orders", 1)->offset, 43);
    cr_assert_eq(g->offsets[0].partition, 0);
    group_free(g);
}
