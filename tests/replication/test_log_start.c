/*
 * Unit tests: a log that does not start at 0. Retention deletes committed
 * segments (replica_group_log_start_advanced); a follower whose log ends or
 * diverges below the leader's log start is told to restart its log there
 * (INSTALL_START -> RG_LOG_RESET) and then catches up by APPENDs.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static struct h_cluster C;

/* A 3-voter group led by node 0 whose log holds `batches` committed batches
 * of 2 records after the epoch marker. */
static void committed_log(int nodes, int batches)
{
    h_init(&C, nodes, 3);
    h_elect(&C, 0);
    for (int k = 0; k < batches; k++)
        h_propose(&C, 0, 2);
    h_tick_all(&C, 4);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 1 + 2 * batches);
}

static bool same_log(int a, int b)
{
    const struct h_node *x = &C.nodes[a], *y = &C.nodes[b];
    int64_t from = x->head.start > y->head.start ? x->head.start : y->head.start;
    if (h_log_end(x) != h_log_end(y))
        return false;
    uint32_t i = 0, j = 0;
    while (i < x->nlog && x->log[i].base < from)
        i++;
    while (j < y->nlog && y->log[j].base < from)
        j++;
    for (; i < x->nlog && j < y->nlog; i++, j++)
        if (x->log[i].base != y->log[j].base || x->log[i].epoch != y->log[j].epoch ||
            x->log[i].count != y->log[j].count)
            return false;
    return i == x->nlog && j == y->nlog;
}

static const struct rg_message *find_sent(enum rg_message_type type, int from, int to)
{
    for (uint32_t k = 0; k < C.qlen; k++) {
        const struct rg_message *m = &C.queue[(C.qhead + k) % H_QUEUE];
        if (m->type == type && m->from == from && m->to == to)
            return m;
    }
    return NULL;
}

Test(log_start, retention_trims_the_epoch_table_and_keeps_the_epoch_before)
{
    committed_log(3, 4); /* marker at 0 (epoch 1), batches [1,3) [3,5) [5,7) [7,9) */
    struct replica_group *l = &C.nodes[0].rg;
    cr_assert_eq(h_trim(&C, 0, 5), RG_OK);
    cr_assert_eq(replica_group_log_start(l), 5);
    cr_assert_eq(replica_group_start_epoch(l), 1);
    cr_assert_eq(replica_group_epoch_at(l, 4), 1, "the entry before the start keeps its epoch");
    cr_assert_eq(replica_group_epoch_at(l, 5), 1);
    cr_assert_eq(l->epochs.count, 1);
    cr_assert_eq(l->epochs.runs[0].start, 5, "the first run is clamped to the start");
    /* the group goes on as before */
    h_propose(&C, 0, 2);
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_commit(l), 11);
    cr_assert(same_log(0, 1) && same_log(0, 2));
}

Test(log_start, only_committed_durable_data_may_be_deleted)
{
    committed_log(3, 2);
    struct replica_group *l = &C.nodes[0].rg;
    C.nodes[0].auto_durable = false;
    h_isolate(&C, 1, true);
    h_isolate(&C, 2, true);
    h_propose(&C, 0, 2); /* [5,7): written, not durable, not committed */
    cr_assert_eq(replica_group_log_start_advanced(l, 7, NULL), RG_ERR_INVALID, "beyond commit");
    cr_assert_eq(replica_group_log_start_advanced(l, 3, NULL), RG_OK);
    cr_assert_eq(replica_group_log_start_advanced(l, 1, NULL), RG_ERR_INVALID, "backwards");
    struct rg_config_entry bogus = {.offset = 5, .membership = C.nodes[0].rg.configs[0].membership};
    cr_assert_eq(replica_group_log_start_advanced(l, 5, &bogus), RG_ERR_INVALID,
                 "the config in effect at the start lies below it");
}

Test(log_start, restore_from_a_trimmed_log)
{
    committed_log(3, 4);
    cr_assert_eq(h_trim(&C, 1, 7), RG_OK);
    h_restart(&C, 1);
    struct replica_group *f = &C.nodes[1].rg;
    cr_assert_eq(replica_group_log_start(f), 7);
    cr_assert_eq(replica_group_start_epoch(f), 1);
    cr_assert_eq(replica_group_commit(f), 7, "the log start is committed");
    cr_assert_eq(replica_group_log_end(f), 9);
    /* inconsistent restores are refused */
    struct replica_group rg;
    struct rg_epoch_run storage[4];
    struct rg_epoch_run runs[] = {{.epoch = 1, .start = 7}};
    struct replica_group_config cfg = C.nodes[1].rg.config;
    struct replica_group_restore r = {.hard_state = {.term = 1, .voted_for = RG_NO_NODE},
                                      .log_start = 7,
                                      .start_epoch = 0,
                                      .log_end = 9,
                                      .epochs = runs,
                                      .epoch_count = 1};
    cr_assert_eq(replica_group_init(&rg, &cfg, &r, storage, 4), RG_ERR_INVALID, "start epoch 0");
    r.start_epoch = 1;
    runs[0].start = 5;
    cr_assert_eq(replica_group_init(&rg, &cfg, &r, storage, 4), RG_ERR_INVALID,
                 "first run below the start");
    runs[0].start = 7;
    cr_assert_eq(replica_group_init(&rg, &cfg, &r, storage, 4), RG_OK);
    r.log_end = 7;
    r.epoch_count = 0;
    cr_assert_eq(replica_group_init(&rg, &cfg, &r, storage, 4), RG_OK, "an empty log at 7");
    cr_assert_eq(replica_group_epoch_at(&rg, 6), 1, "the deleted entry before the start");
    cr_assert_eq(replica_group_epoch_at(&rg, 7), 0, "past the end");
}

/*
 * The follower was cut off while the leader wrote on and deleted what it
 * misses: APPEND cannot serve it. The leader sends INSTALL_START; the
 * follower drops its log, restarts it at the leader's start, and catches
 * up from there by APPENDs.
 */
Test(log_start, follower_behind_the_start_restarts_its_log_there)
{
    committed_log(3, 2);
    h_isolate(&C, 2, true);
    for (int k = 0; k < 4; k++)
        h_propose(&C, 0, 2);
    h_tick_all(&C, 3);
    struct replica_group *l = &C.nodes[0].rg;
    cr_assert_eq(replica_group_commit(l), 13);
    cr_assert_eq(h_trim(&C, 0, 9), RG_OK);
    cr_assert_eq(h_log_end(&C.nodes[2]), 5);
    h_isolate(&C, 2, false);
    /* the heartbeat exchange finds node 2 behind the start */
    for (int t = 0; t < 3 && find_sent(RG_MSG_INSTALL_START, 0, 2) == NULL; t++)
        h_tick(&C, 0);
    const struct rg_message *install = find_sent(RG_MSG_INSTALL_START, 0, 2);
    if (install == NULL) {
        /* the heartbeat went out; its answer triggers it */
        h_deliver_all(&C);
    } else {
        cr_assert_eq(install->prev_end, 9);
        cr_assert_eq(install->prev_epoch, 1);
        cr_assert_eq(install->config_count, 1);
        cr_assert_eq(install->configs[0].offset, -1, "the bootstrap is in effect");
    }
    h_tick_all(&C, 4);
    struct replica_group *f = &C.nodes[2].rg;
    cr_assert_eq(replica_group_log_start(f), 9);
    cr_assert_eq(C.nodes[2].head.start, 9, "the caller restarted its log at 9");
    cr_assert_eq(replica_group_log_end(f), 13);
    cr_assert_eq(replica_group_commit(f), 13);
    cr_assert(same_log(0, 2));
    /* and it counts again: with node 1 gone, 0 and 2 commit */
    h_isolate(&C, 1, true);
    h_propose(&C, 0, 1);
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_commit(l), 14);
}

/*
 * Node 2 holds an uncommitted epoch-2 batch at 2 that the others never
 * saw; the epoch-3 leader wrote on and deleted its log below 7. Node 2's
 * divergent suffix lies below the start: the reset drops it.
 */
Test(log_start, divergent_suffix_below_the_start_is_dropped)
{
    h_init(&C, 3, 3);
    int32_t epochs[3][2] = {{1, 1}, {1, 1}, {1, 2}};
    for (int i = 0; i < 3; i++) {
        struct h_node *n = &C.nodes[i];
        n->nlog = 2;
        for (int b = 0; b < 2; b++)
            n->log[b] = (struct h_batch){.base = 2 * b, .count = 2, .epoch = epochs[i][b]};
        n->hard = (struct rg_hard_state){.term = 2, .voted_for = RG_NO_NODE};
        h_restart(&C, i);
    }
    h_isolate(&C, 2, true);
    h_elect(&C, 0); /* epoch 3, marker at 4 */
    struct replica_group *l = &C.nodes[0].rg;
    for (int k = 0; k < 3; k++)
        h_propose(&C, 0, 2);
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_commit(l), 11);
    cr_assert_eq(h_trim(&C, 0, 7), RG_OK);
    cr_assert_eq(replica_group_start_epoch(l), 3);
    h_isolate(&C, 2, false);
    h_tick_all(&C, 6);
    struct replica_group *f = &C.nodes[2].rg;
    cr_assert_eq(replica_group_log_start(f), 7);
    cr_assert_eq(replica_group_start_epoch(f), 3);
    cr_assert(same_log(0, 2));
    cr_assert_eq(replica_group_commit(f), 11);
}

/* A follower whose own retention went further than the leader's accepts
 * APPENDs from below its start: that part of its log was committed. */
Test(log_start, append_from_below_the_followers_start)
{
    committed_log(3, 4);
    struct replica_group *f = &C.nodes[1].rg;
    cr_assert_eq(h_trim(&C, 1, 7), RG_OK);
    struct rg_message m;
    memset(&m, 0, sizeof(m));
    m.type = RG_MSG_APPEND;
    m.from = 0;
    m.to = 1;
    m.term = replica_group_term(f);
    m.prev_end = 3;
    m.prev_epoch = 1;
    m.end = 9;
    m.commit = 9;
    m.run_count = 1;
    m.runs[0] = (struct rg_epoch_run){.epoch = 1, .start = 3};
    m.payload = &C.nodes[0];
    struct rg_output *out = h_out(&C);
    cr_assert_eq(replica_group_step(f, &m, out), RG_OK);
    cr_assert_eq(out->op_count, 0, "nothing to write: it has [7,9)");
    cr_assert_eq(out->message_count, 1);
    cr_assert(out->messages[0].success);
    cr_assert_eq(out->messages[0].match, 9);
}

/* A duplicate INSTALL_START arriving after the follower caught up is a
 * probe: the log is not reset again. */
Test(log_start, stale_install_does_not_reset_again)
{
    committed_log(3, 4);
    cr_assert_eq(h_trim(&C, 0, 5), RG_OK);
    struct replica_group *f = &C.nodes[1].rg;
    struct rg_message m;
    memset(&m, 0, sizeof(m));
    m.type = RG_MSG_INSTALL_START;
    m.from = 0;
    m.to = 1;
    m.term = replica_group_term(f);
    m.prev_end = 5;
    m.prev_epoch = 1;
    m.commit = 9;
    m.config_count = 1;
    m.configs[0] = C.nodes[0].rg.configs[0];
    struct rg_output *out = h_out(&C);
    cr_assert_eq(replica_group_step(f, &m, out), RG_OK);
    cr_assert_eq(out->op_count, 0);
    cr_assert_eq(replica_group_log_start(f), 0);
    cr_assert_eq(replica_group_log_end(f), 9);
    cr_assert(out->messages[0].success);
}

/* The whole log deleted on the leader: it still proposes, replicates and
 * commits (its epoch's run reopens at the start). */
Test(log_start, leader_with_an_empty_log_goes_on)
{
    committed_log(3, 2);
    struct replica_group *l = &C.nodes[0].rg;
    cr_assert_eq(h_trim(&C, 0, 5), RG_OK);
    cr_assert_eq(replica_group_log_end(l), 5);
    cr_assert_eq(l->epochs.count, 0);
    cr_assert_eq(h_propose(&C, 0, 3), RG_OK);
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_commit(l), 8);
    cr_assert(same_log(0, 1) && same_log(0, 2));
}

/*
 * A learner added after the config batch that added it was deleted: it
 * can only learn its membership from INSTALL_START, which carries the
 * config in effect at the leader's start.
 */
Test(log_start, install_carries_the_config_in_effect)
{
    h_init(&C, 4, 3);
    h_isolate(&C, 3, true);
    h_elect(&C, 0);
    struct replica_group *l = &C.nodes[0].rg;
    h_propose(&C, 0, 2);
    h_tick_all(&C, 3);
    int64_t off;
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_ADD_LEARNER, 3, &off, h_out(&C)),
                 RG_OK);
    h_process(&C, 0);
    for (int k = 0; k < 3; k++)
        h_propose(&C, 0, 2);
    h_tick_all(&C, 3);
    cr_assert_gt(replica_group_commit(l), off + 1);
    cr_assert_eq(h_trim(&C, 0, off + 1), RG_OK);
    cr_assert_eq(C.nodes[0].head.config.offset, off);
    h_isolate(&C, 3, false);
    h_tick_all(&C, 6);
    struct replica_group *f = &C.nodes[3].rg;
    cr_assert_eq(replica_group_log_start(f), off + 1);
    cr_assert(rg_membership_has_learner(replica_group_membership(f), 3));
    cr_assert(same_log(0, 3));
    /* restarted, it finds the config in its log-start checkpoint */
    h_restart(&C, 3);
    cr_assert(rg_membership_has_learner(replica_group_membership(f), 3));
    /* and the leader can promote it */
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_PROMOTE, 3, &off, h_out(&C)), RG_OK);
    h_process(&C, 0);
    h_tick_all(&C, 4);
    cr_assert(replica_group_is_voter(f, 3));
}
