/*
 * Unit tests of the driver <-> core contract: failed writes, the follower's
 * commit within its durable end, late reads, hard-state versions,
 * membership errors, epoch-table growth, per-group assert handlers, the
 * clock, coalesced heartbeats and the recovery of a wiped replica.
 */
#include <criterion/criterion.h>
#include <setjmp.h>
#include <string.h>

#include "harness.h"

static struct h_cluster C;

static struct rg_output *step(int i, const struct rg_message *m)
{
    struct rg_output *out = h_out(&C);
    cr_assert_eq(replica_group_step(&C.nodes[i].rg, m, out), RG_OK);
    return out;
}

/* ---------------------------------------------------------------- storage */

Test(storage, follower_write_failure_forgets_the_tail_and_catches_up)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    C.nodes[1].auto_durable = false;
    cr_assert_eq(h_propose(&C, 0, 3), RG_OK);
    h_deliver_all(&C);
    struct h_node *n1 = &C.nodes[1];
    struct replica_group *f = &n1->rg;
    cr_assert_eq(replica_group_log_end(f), 4);
    /* the write of [1, 4) fails: the driver drops it and says where its log ends */
    while (n1->nlog > 0 && n1->log[n1->nlog - 1].base >= 1)
        n1->nlog--;
    cr_assert_eq(replica_group_write_failed(f, 0, h_out(&C)), RG_ERR_INVALID, "below the commit");
    cr_assert_eq(replica_group_write_failed(f, 1, h_out(&C)), RG_OK);
    h_process(&C, 1);
    cr_assert_eq(replica_group_log_end(f), 1);
    cr_assert_eq(replica_group_durable_end(f), 1);
    /* its next heartbeat answer says so: the leader sends [1, 4) again */
    h_tick_all(&C, 6);
    cr_assert_eq(h_log_end(n1), 4);
    cr_assert_eq(replica_group_log_end(f), 4);
}

Test(storage, leader_write_failure_steps_down)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_tick_all(&C, 2);
    struct replica_group *l = &C.nodes[0].rg;
    int64_t term = replica_group_term(l);
    int64_t base;
    int32_t epoch;
    cr_assert_eq(replica_group_propose(l, 2, &base, &epoch, h_out(&C)), RG_OK);
    cr_assert_eq(replica_group_write_failed(l, base, h_out(&C)), RG_OK);
    cr_assert_eq(replica_group_role(l), RG_ROLE_FOLLOWER);
    cr_assert_eq(replica_group_term(l), term, "same term: it does not vote again");
    cr_assert_eq(replica_group_log_end(l), base, "the lost proposal is forgotten");
    h_process(&C, 0);
    h_tick_all(&C, 60);
    cr_assert_geq(h_leader(&C), 0, "a leader again");
}

Test(storage, follower_commit_stays_within_its_durable_end)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    C.nodes[2].auto_durable = false;
    h_propose(&C, 0, 4);
    h_deliver_all(&C);
    h_tick_all(&C, 3);
    struct replica_group *f = &C.nodes[2].rg;
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 5);
    cr_assert_eq(replica_group_log_end(f), 5);
    cr_assert_eq(replica_group_commit(f), 1, "the leader says 5, only [0, 1) is durable here");
    h_durable(&C, 2);
    cr_assert_eq(replica_group_commit(f), 5, "learned once durable");
}

Test(storage, late_appended_after_a_truncation_is_stale)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_propose(&C, 0, 2);
    h_deliver_all(&C);
    struct replica_group *f = &C.nodes[1].rg;
    cr_assert_eq(replica_group_appended(f, 99, 1, h_out(&C)), RG_ERR_STALE);
    cr_assert_eq(replica_group_appended(f, 3, 7, h_out(&C)), RG_ERR_STALE, "another epoch");
    cr_assert_eq(replica_group_appended(f, 3, 1, h_out(&C)), RG_OK);
}

/* ---------------------------------------------------------------- reads */

Test(reads, late_cut_after_the_peer_acked_is_safe)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_isolate(&C, 1, true);
    for (int k = 0; k < 5; k++)
        h_propose(&C, 0, 2);
    h_isolate(&C, 1, false);
    h_deliver_all(&C);
    struct replica_group *l = &C.nodes[0].rg;
    int64_t term = replica_group_term(l);
    struct rg_message hbr = h_msg(RG_MSG_HEARTBEAT_RESPONSE, 1, 0, term);
    hbr.success = true;
    hbr.match = hbr.durable = hbr.hint_offset = 1;
    hbr.hint_epoch = 1;
    struct rg_message a = *h_find(step(0, &hbr), RG_MSG_APPEND); /* its read is under way */
    cr_assert_eq(a.end, 11);
    struct rg_message again = a;
    /* meanwhile the peer acknowledges everything (a duplicate brought it) */
    struct rg_message ack = h_msg(RG_MSG_APPEND_RESPONSE, 1, 0, term);
    ack.success = true;
    ack.match = ack.durable = ack.hint_offset = 11;
    ack.hint_epoch = 1;
    step(0, &ack);
    cr_assert_eq(replica_group_peer(l, 1)->inflight_count, 0);
    /* the read ends cut at 3: sent as a harmless duplicate, progress kept */
    cr_assert_eq(replica_group_append_read(l, &a, 3, h_out(&C)), RG_OK);
    cr_assert_eq(a.end, 3);
    cr_assert_eq(replica_group_peer(l, 1)->next, 11);
    /* deposed before the next read ends: stale, dropped */
    struct rg_message hb = h_msg(RG_MSG_HEARTBEAT, 2, 0, term + 1);
    step(0, &hb);
    cr_assert_eq(replica_group_append_read(l, &again, again.end, h_out(&C)), RG_ERR_STALE);
}

/* ---------------------------------------------------------------- hard state */

Test(hard_state, every_output_names_the_version_its_messages_need)
{
    h_init(&C, 3, 3);
    struct rg_message v = h_msg(RG_MSG_VOTE, 0, 2, 1);
    struct rg_output *out = step(2, &v);
    cr_assert(out->hard_state_changed);
    uint64_t first = out->hard_state_version;
    out = step(2, &v); /* the same request again: granted, nothing new to persist */
    cr_assert(!out->hard_state_changed);
    cr_assert(h_find(out, RG_MSG_VOTE_RESPONSE)->granted);
    cr_assert_eq(out->hard_state_version, first, "its answer still waits for that vote");
    v = h_msg(RG_MSG_VOTE, 1, 2, 2);
    out = step(2, &v);
    cr_assert(out->hard_state_changed);
    cr_assert_gt(out->hard_state_version, first);
}

/* ---------------------------------------------------------------- membership errors */

Test(membership_errors, answers_and_targets_outside_the_group)
{
    h_init(&C, 4, 3);
    h_elect(&C, 0);
    struct replica_group *l = &C.nodes[0].rg;
    int64_t term = replica_group_term(l);
    struct rg_message r = h_msg(RG_MSG_APPEND_RESPONSE, 3, 0, term + 5);
    cr_assert_eq(replica_group_step(l, &r, h_out(&C)), RG_ERR_NOT_MEMBER);
    cr_assert_eq(replica_group_role(l), RG_ROLE_LEADER, "its term did not depose us");
    cr_assert_eq(replica_group_term(l), term);
    cr_assert_eq(replica_group_transfer_leadership(l, 3, h_out(&C)), RG_ERR_NOT_MEMBER);
    int64_t off;
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_REMOVE, 3, &off, h_out(&C)),
                 RG_ERR_NOT_MEMBER);
}

/* ---------------------------------------------------------------- epoch table */

static struct replica_group_config two_voters(int32_t self)
{
    struct replica_group_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.self = self;
    cfg.bootstrap.voter_count = 2;
    cfg.bootstrap.voters[0] = 0;
    cfg.bootstrap.voters[1] = 1;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.max_inflight = 4;
    cfg.incarnation = 77;
    return cfg;
}

/* Node 1 of two_voters, restored with [0, log_end) of epoch 1 in term 1. */
static void restore_follower(struct replica_group *rg, struct rg_epoch_run *runs, uint32_t cap,
                             int64_t log_end)
{
    struct replica_group_config cfg = two_voters(1);
    struct rg_epoch_run run = {.epoch = 1, .start = 0};
    struct replica_group_restore r = {.hard_state = {.term = 1, .voted_for = 0},
                                      .log_end = log_end,
                                      .epochs = &run,
                                      .epoch_count = 1};
    cr_assert_eq(replica_group_init(rg, &cfg, &r, runs, cap), RG_OK);
}

/* An APPEND from node 0 to node 1 in `term`: [prev_end, end) of `epoch`
 * after an entry of epoch prev_epoch. */
static struct rg_message append_msg(int64_t term, int64_t prev_end, int32_t prev_epoch, int64_t end,
                                    int32_t epoch)
{
    struct rg_message a = h_msg(RG_MSG_APPEND, 0, 1, term);
    a.prev_end = prev_end;
    a.prev_epoch = prev_epoch;
    a.end = end;
    a.run_count = 1;
    a.runs[0] = (struct rg_epoch_run){.epoch = epoch, .start = prev_end};
    return a;
}

Test(epochs, a_full_table_is_reported_and_grows)
{
    struct replica_group rg;
    struct rg_epoch_run small[1], big[8];
    restore_follower(&rg, small, 1, 2);
    struct rg_message a = append_msg(2, 2, 1, 3, 2);
    struct rg_output *out = h_out(&C);
    cr_assert_eq(replica_group_step(&rg, &a, out), RG_OK);
    cr_assert(out->epoch_table_full, "said, not silent");
    cr_assert_eq(replica_group_log_end(&rg), 2, "dropped: no room for epoch 2");
    cr_assert_eq(replica_group_set_epoch_storage(&rg, big, 8), RG_OK);
    out = h_out(&C);
    cr_assert_eq(replica_group_step(&rg, &a, out), RG_OK);
    cr_assert_eq(replica_group_log_end(&rg), 3);
    cr_assert(!out->epoch_table_full);
    cr_assert_eq(replica_group_epoch_at(&rg, 2), 2);
}

/* ---------------------------------------------------------------- asserts */

static jmp_buf jump;
static void on_assert(void *ctx, const char *file, int line, const char *expr)
{
    (void)file;
    (void)line;
    (void)expr;
    (*(int *)ctx)++;
    longjmp(jump, 1);
}

Test(asserts, each_group_calls_its_own_handler)
{
    static int hits[2];
    static struct replica_group groups[2];
    static struct rg_epoch_run runs[2][4];
    for (int g = 0; g < 2; g++) {
        struct replica_group_config cfg = two_voters(0);
        cfg.bootstrap.voter_count = 1; /* a group of one: it elects itself */
        cfg.assert_handler = on_assert;
        cfg.assert_ctx = &hits[g];
        struct replica_group_restore r = {.hard_state = {.voted_for = RG_NO_NODE},
                                          .new_group = true};
        cr_assert_eq(replica_group_init(&groups[g], &cfg, &r, runs[g], 4), RG_OK);
        for (int t = 0; t < 30 && replica_group_role(&groups[g]) != RG_ROLE_LEADER; t++)
            replica_group_tick(&groups[g], h_out(&C));
        cr_assert_eq(replica_group_role(&groups[g]), RG_ROLE_LEADER);
    }
    /* a second leader of group 1's epoch: a broken election, an invariant */
    struct rg_message a = h_msg(RG_MSG_APPEND, 5, 0, replica_group_term(&groups[1]));
    if (setjmp(jump) == 0) {
        replica_group_step(&groups[1], &a, h_out(&C));
        cr_assert_fail("the invariant was not checked");
    }
    cr_assert_eq(hits[0], 0);
    cr_assert_eq(hits[1], 1);
}

/* ---------------------------------------------------------------- clock */

Test(clock, ticks_are_whole_periods_of_the_monotonic_clock)
{
    struct rg_clock c;
    rg_clock_init(&c, 10, 1005);
    cr_assert_eq(rg_clock_ticks(&c), 100);
    cr_assert_eq(rg_clock_advance(&c, 1009), 0);
    cr_assert_eq(rg_clock_advance(&c, 1010), 1);
    cr_assert_eq(rg_clock_advance(&c, 1047), 3, "a late turn catches up, nothing stretches");
    cr_assert_eq(rg_clock_advance(&c, 1040), 0, "never backwards");
    cr_assert_eq(rg_clock_ticks(&c), 104);
}

/* ---------------------------------------------------------------- coalesced heartbeats */

Test(heartbeats, compact_entries_and_replies)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_tick_all(&C, 2);
    struct replica_group *l = &C.nodes[0].rg;
    int64_t term = replica_group_term(l);
    struct rg_heartbeat hbs[RG_MAX_NODES * 2];
    struct rg_output *out = NULL;
    for (int t = 0; t < 4; t++) {
        out = h_out(&C);
        rg_output_set_heartbeats(out, hbs, RG_MAX_NODES * 2);
        cr_assert_eq(replica_group_tick(l, out), RG_OK);
        if (out->heartbeat_count > 0)
            break;
    }
    cr_assert_eq(out->heartbeat_count, 2);
    cr_assert_null(h_find(out, RG_MSG_HEARTBEAT), "no per-group heartbeat messages");
    struct rg_heartbeat hb = hbs[0];
    cr_assert_eq(hb.term, term);
    cr_assert_eq(hb.commit, replica_group_commit(l));
    cr_assert_eq(hb.to_incarnation, C.nodes[hb.to].incarnation);
    struct rg_heartbeat_reply reply;
    out = h_out(&C);
    cr_assert_eq(replica_group_step_heartbeat(&C.nodes[hb.to].rg, &hb, &reply, out), RG_OK);
    cr_assert_eq(out->message_count, 0, "the answer is the compact reply");
    cr_assert_eq(reply.to, 0);
    cr_assert(reply.success);
    cr_assert_eq(reply.match, replica_group_log_end(l));
    cr_assert_eq(replica_group_step_heartbeat_reply(l, &reply, h_out(&C)), RG_OK);
    cr_assert_eq(replica_group_role(l), RG_ROLE_LEADER);
    /* the follower moved on to a later term: the stale heartbeat's reply deposes the leader */
    struct rg_message v = h_msg(RG_MSG_VOTE, 3 - hb.to, hb.to, term + 3);
    v.transfer = true;
    step(hb.to, &v);
    cr_assert_eq(replica_group_step_heartbeat(&C.nodes[hb.to].rg, &hb, &reply, h_out(&C)), RG_OK);
    cr_assert(!reply.success);
    cr_assert_eq(reply.term, term + 3);
    cr_assert_eq(replica_group_step_heartbeat_reply(l, &reply, h_out(&C)), RG_OK);
    cr_assert_eq(replica_group_role(l), RG_ROLE_FOLLOWER);
}

/* ---------------------------------------------------------------- wiped disk */

Test(recovery, leader_forgets_the_progress_of_a_wiped_disk)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_propose(&C, 0, 4);
    h_tick_all(&C, 3);
    struct replica_group *l = &C.nodes[0].rg;
    cr_assert_eq(replica_group_peer(l, 2)->durable_match, 5);
    h_wipe(&C, 2, 2002);
    struct rg_message r = h_msg(RG_MSG_HEARTBEAT_RESPONSE, 2, 0, replica_group_term(l));
    r.success = true;
    r.incarnation = 2002;
    step(0, &r);
    cr_assert_eq(replica_group_peer(l, 2)->durable_match, 0, "the old disk's acks are gone");
    cr_assert_eq(replica_group_peer(l, 2)->incarnation, 2002);
}

Test(recovery, wiped_replica_votes_again_only_after_floor_and_catch_up)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    for (int k = 0; k < 3; k++)
        h_propose(&C, 0, 2);
    h_tick_all(&C, 3);
    int64_t term = replica_group_term(&C.nodes[0].rg);
    h_wipe(&C, 2, 2002);
    struct replica_group *x = &C.nodes[2].rg;
    cr_assert(replica_group_recovering(x));
    struct rg_message pv = h_msg(RG_MSG_PRE_VOTE, 1, 2, term + 1);
    pv.log_end = 100;
    pv.last_epoch = (int32_t)term;
    cr_assert(!h_find(step(2, &pv), RG_MSG_PRE_VOTE_RESPONSE)->granted, "no vote while recovering");
    h_tick_all(&C, 8); /* it asks for terms, follows the leader, gets the log back */
    cr_assert_eq(replica_group_log_end(x), replica_group_log_end(&C.nodes[0].rg));
    cr_assert(!replica_group_recovering(x));
    cr_assert(!C.nodes[2].hard.recovering, "persisted");
    cr_assert_geq(C.nodes[2].hard.vote_floor, term);
    struct rg_message v = h_msg(RG_MSG_VOTE, 1, 2, term + 1);
    v.transfer = true;
    v.log_end = 100;
    v.last_epoch = (int32_t)term;
    cr_assert(h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted, "votes above its floor");
}

Test(recovery, a_crash_while_recovering_keeps_recovering)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_tick_all(&C, 2);
    h_wipe(&C, 2, 2002);
    h_isolate(&C, 2, true);
    h_tick_all(&C, 3);
    cr_assert(replica_group_recovering(&C.nodes[2].rg));
    C.nodes[2].hard.term = 5; /* it had followed a leader before crashing again */
    C.nodes[2].hard.recovering = true;
    h_restart(&C, 2);
    cr_assert(replica_group_recovering(&C.nodes[2].rg));
}

Test(recovery, a_refusal_for_the_floor_lifts_the_candidates_term)
{
    h_init(&C, 3, 3);
    C.nodes[2].hard = (struct rg_hard_state){.term = 3, .voted_for = RG_NO_NODE, .vote_floor = 6};
    h_restart(&C, 2);
    struct rg_message pv = h_msg(RG_MSG_PRE_VOTE, 0, 2, 4);
    const struct rg_message *r = h_find(step(2, &pv), RG_MSG_PRE_VOTE_RESPONSE);
    cr_assert(!r->granted, "term 4 is at or below its floor");
    cr_assert_eq(r->term, 6, "so the candidate learns to campaign above 6");
    pv.term = 7;
    cr_assert(h_find(step(2, &pv), RG_MSG_PRE_VOTE_RESPONSE)->granted);
}

/* A wiped replica's answer from `from`: the known term of the answerer. */
static struct rg_message answer(int from, int64_t known)
{
    struct rg_message r = h_msg(RG_MSG_PRE_VOTE_RESPONSE, from, 2, 0);
    r.incarnation = C.nodes[from].incarnation;
    r.to_incarnation = 2002;
    r.known_term = known;
    return r;
}

Test(recovery, floor_is_the_highest_known_term_once_caught_up)
{
    h_init(&C, 3, 3);
    h_wipe(&C, 2, 2002);
    struct replica_group *x = &C.nodes[2].rg;
    struct rg_message a = answer(0, -1); /* itself recovering: knows nothing */
    step(2, &a);
    struct rg_message stale = answer(1, 9);
    stale.to_incarnation = 1234; /* an answer to another incarnation of node 2 */
    step(2, &stale);
    a = answer(0, 6);
    step(2, &a);
    struct rg_message b = answer(1, 5);
    step(2, &b);
    cr_assert(replica_group_recovering(x), "answered, but not caught up");
    h_isolate(&C, 2, true); /* its own asks must not add answers */
    h_elect(&C, 0);
    h_propose(&C, 0, 2);
    h_isolate(&C, 2, false);
    h_tick_all(&C, 6);
    cr_assert_eq(replica_group_log_end(x), replica_group_log_end(&C.nodes[0].rg));
    cr_assert(!replica_group_recovering(x));
    cr_assert_eq(C.nodes[2].hard.vote_floor, 6, "the highest known term of the answers");
    struct rg_message v = h_msg(RG_MSG_VOTE, 1, 2, 6);
    v.transfer = true;
    v.log_end = 100;
    v.last_epoch = 1;
    cr_assert(!h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted, "at its floor");
    v.term = 7;
    cr_assert(h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted);
}

/* The core trusts durable(end) "as the log is now": the driver must clamp
 * an fsync that started before a truncation (the sim's unclamped_durable
 * fault is this mistake; its checker catches the false claim). */
Test(storage, durable_reports_are_clamped_by_the_driver)
{
    struct replica_group f;
    struct rg_epoch_run runs[8];
    restore_follower(&f, runs, 8, 1);
    /* epoch 1 writes [1, 3); an fsync covering it starts */
    struct rg_message a = append_msg(1, 1, 1, 3, 1);
    cr_assert_eq(replica_group_step(&f, &a, h_out(&C)), RG_OK);
    /* epoch 2 truncates to 1 and writes [1, 2) before the fsync ends */
    struct rg_message b = append_msg(2, 1, 1, 2, 2);
    struct rg_output *out = h_out(&C);
    cr_assert_eq(replica_group_step(&f, &b, out), RG_OK);
    cr_assert_eq(out->ops[0].type, RG_LOG_TRUNCATE);
    cr_assert_eq(replica_group_durable_end(&f), 1);
    /* unclamped, the fsync's end (3, capped to the log: 2) would make the
     * ack claim the unsynced epoch-2 batch; clamped to the truncation: 1 */
    out = h_out(&C);
    cr_assert_eq(replica_group_durable(&f, 1, out), RG_OK);
    cr_assert_eq(replica_group_durable_end(&f), 1);
    out = h_out(&C);
    cr_assert_eq(replica_group_durable(&f, 2, out), RG_OK, "the core cannot tell");
    cr_assert_eq(h_find(out, RG_MSG_APPEND_RESPONSE)->durable, 2);
}

Test(storage, candidate_write_failure_steps_down)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_propose(&C, 0, 2);
    h_deliver_all(&C);
    struct replica_group *x = &C.nodes[1].rg;
    struct rg_message t = h_msg(RG_MSG_TIMEOUT_NOW, 0, 1, replica_group_term(x));
    struct rg_output *out = step(1, &t);
    cr_assert_eq(replica_group_role(x), RG_ROLE_CANDIDATE);
    cr_assert_eq(h_find(out, RG_MSG_VOTE)->log_end, 3, "it asks with its whole log");
    cr_assert_eq(replica_group_write_failed(x, 1, h_out(&C)), RG_OK);
    cr_assert_eq(replica_group_role(x), RG_ROLE_FOLLOWER, "that log is gone: no leading with it");
}
