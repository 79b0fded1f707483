/* Unit tests: one or more per rule of the replication protocol. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static struct h_cluster C;

/* Steps one message into node i and returns the output (not processed). */
static struct rg_output *step(int i, const struct rg_message *m)
{
    struct rg_output *out = h_out(&C);
    cr_assert_eq(replica_group_step(&C.nodes[i].rg, m, out), RG_OK);
    return out;
}

/* Gives node i a log of batches (epoch per batch) and a term, then restarts it. */
static void set_log(int i, const int32_t *epochs, int nbatches, int64_t term)
{
    struct h_node *n = &C.nodes[i];
    n->nlog = 0;
    for (int b = 0; b < nbatches; b++) {
        n->log[n->nlog] = (struct h_batch){.base = b * 2, .count = 2, .epoch = epochs[b]};
        n->nlog++;
    }
    n->hard.term = term;
    n->hard.voted_for = RG_NO_NODE;
    h_restart(&C, i);
}

/* ---------------------------------------------------------------- init, errors */

Test(init, rejects_bad_config)
{
    struct replica_group rg;
    struct rg_epoch_run runs[4];
    struct replica_group_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.self = 0;
    cfg.bootstrap.voter_count = 1;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 10; /* must be < election */
    cfg.max_inflight = 1;
    cr_assert_eq(replica_group_init(&rg, &cfg, NULL, runs, 4), RG_ERR_INVALID);
    cfg.heartbeat_ticks = 2;
    cr_assert_eq(replica_group_init(&rg, &cfg, NULL, runs, 4), RG_ERR_INVALID, "no incarnation");
    cfg.incarnation = 7;
    cr_assert_eq(replica_group_init(&rg, &cfg, NULL, runs, 4), RG_OK);
    struct rg_epoch_run bad[2] = {{.epoch = 2, .start = 0}, {.epoch = 1, .start = 5}};
    struct replica_group_restore r = {
        .hard_state = {.term = 3, .voted_for = -1}, .log_end = 10, .epochs = bad, .epoch_count = 2};
    cr_assert_eq(replica_group_init(&rg, &cfg, &r, runs, 4), RG_ERR_INVALID);
}

Test(init, output_full_is_an_error_not_a_crash)
{
    h_init(&C, 3, 3);
    struct rg_message small[2];
    struct rg_log_op ops[2];
    struct rg_output out;
    rg_output_init(&out, small, 2, ops, 2);
    cr_assert_eq(replica_group_tick(&C.nodes[0].rg, &out), RG_ERR_OUTPUT_FULL);
}

Test(init, single_node_group_elects_itself_and_commits_on_durable)
{
    h_init(&C, 1, 1);
    C.nodes[0].auto_durable = false;
    h_elect(&C, 0);
    cr_assert_eq(replica_group_term(&C.nodes[0].rg), 1);
    cr_assert_eq(h_propose(&C, 0, 3), RG_OK);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 0, "nothing durable yet");
    h_durable(&C, 0);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 4); /* marker + 3 records */
}

/* ---------------------------------------------------------------- elections */

Test(election, one_leader_then_followers_agree_and_marker_commits)
{
    h_init(&C, 3, 3);
    h_tick_all(&C, 40);
    int l = h_leader(&C);
    cr_assert_geq(l, 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(replica_group_leader(&C.nodes[i].rg), l);
        cr_assert_eq(replica_group_term(&C.nodes[i].rg), replica_group_term(&C.nodes[l].rg));
        cr_assert_eq(replica_group_commit(&C.nodes[i].rg), 1, "the epoch marker commits");
    }
    cr_assert_eq(C.nodes[l].log[0].epoch, replica_group_term(&C.nodes[l].rg),
                 "terms are leader epochs, stamped in batches");
}

Test(election, candidate_persists_term_and_vote_before_asking)
{
    h_init(&C, 3, 3);
    C.faults.skip_pre_vote = false;
    struct rg_output *out = NULL;
    for (int t = 0; t < 30; t++) {
        out = h_out(&C);
        replica_group_tick(&C.nodes[0].rg, out);
        if (h_find(out, RG_MSG_VOTE) || h_find(out, RG_MSG_PRE_VOTE))
            break;
    }
    const struct rg_message *pv = h_find(out, RG_MSG_PRE_VOTE);
    cr_assert_not_null(pv, "pre-vote comes first");
    cr_assert_eq(pv->term, 1);
    cr_assert_eq(replica_group_term(&C.nodes[0].rg), 0, "a pre-vote does not move the term");
    cr_assert(!out->hard_state_changed);
    /* grant it, then the real vote carries hard state */
    struct rg_message grant = h_msg(RG_MSG_PRE_VOTE_RESPONSE, 1, 0, 1);
    grant.granted = true;
    out = step(0, &grant);
    cr_assert_not_null(h_find(out, RG_MSG_VOTE));
    cr_assert(out->hard_state_changed);
    cr_assert_eq(out->hard_state.term, 1);
    cr_assert_eq(out->hard_state.voted_for, 0);
}

Test(election, vote_rejected_for_stale_log)
{
    h_init(&C, 3, 3);
    int32_t e[] = {1, 2, 2};
    set_log(1, e, 3, 2); /* node 1: last epoch 2, end 6 */
    /* candidate with an older last epoch but a longer log */
    struct rg_message v = h_msg(RG_MSG_VOTE, 0, 1, 3);
    v.last_epoch = 1;
    v.log_end = 100;
    struct rg_output *out = step(1, &v);
    const struct rg_message *r = h_find(out, RG_MSG_VOTE_RESPONSE);
    cr_assert_not_null(r);
    cr_assert(!r->granted);
    /* same last epoch, shorter log */
    h_restart(&C, 1);
    v = h_msg(RG_MSG_VOTE, 0, 1, 4);
    v.last_epoch = 2;
    v.log_end = 4;
    r = h_find(step(1, &v), RG_MSG_VOTE_RESPONSE);
    cr_assert(!r->granted);
    /* up to date: granted */
    v = h_msg(RG_MSG_VOTE, 0, 1, 5);
    v.last_epoch = 2;
    v.log_end = 6;
    r = h_find(step(1, &v), RG_MSG_VOTE_RESPONSE);
    cr_assert(r->granted);
}

Test(election, one_vote_per_term)
{
    h_init(&C, 3, 3);
    struct rg_message v = h_msg(RG_MSG_VOTE, 0, 2, 1);
    cr_assert(h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted);
    v.from = 1;
    cr_assert(!h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted);
    v.from = 0; /* a retry of the same candidate is fine */
    cr_assert(h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted);
}

Test(election, vote_survives_restart_through_hard_state)
{
    h_init(&C, 3, 3);
    struct rg_message v = h_msg(RG_MSG_VOTE, 0, 2, 1);
    step(2, &v);
    h_process(&C, 2);
    cr_assert_eq(C.nodes[2].hard.voted_for, 0);
    h_restart(&C, 2);
    v.from = 1;
    cr_assert(!h_find(step(2, &v), RG_MSG_VOTE_RESPONSE)->granted);
}

/* ---------------------------------------------------------------- pre-vote, check-quorum */

Test(prevote, isolated_node_does_not_inflate_its_term)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    int64_t term = replica_group_term(&C.nodes[0].rg);
    h_isolate(&C, 2, true);
    for (int t = 0; t < 200; t++) {
        h_tick(&C, 2);
        h_deliver_all(&C);
    }
    cr_assert_eq(replica_group_term(&C.nodes[2].rg), term, "pre-votes failed, term unchanged");
}

Test(prevote, rejected_while_leader_is_alive)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    /* node 1 just heard from the leader: it ignores another's pre-vote */
    struct rg_message pv = h_msg(RG_MSG_PRE_VOTE, 2, 1, replica_group_term(&C.nodes[1].rg) + 1);
    pv.last_epoch = 99;
    pv.log_end = 99;
    struct rg_output *out = step(1, &pv);
    const struct rg_message *r = h_find(out, RG_MSG_PRE_VOTE_RESPONSE);
    cr_assert(r == NULL || !r->granted);
}

Test(prevote, rejoining_node_cannot_depose_healthy_leader)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    int64_t term = replica_group_term(&C.nodes[0].rg);
    h_isolate(&C, 2, true);
    h_tick_all(&C, 100);
    h_isolate(&C, 2, false);
    h_tick_all(&C, 50);
    cr_assert_eq(h_leader(&C), 0);
    cr_assert_eq(replica_group_term(&C.nodes[0].rg), term);
    cr_assert_eq(replica_group_leader(&C.nodes[2].rg), 0, "it rejoined as a follower");
}

Test(prevote, without_it_a_rejoining_node_deposes_the_leader)
{
    h_init(&C, 3, 3);
    C.faults.skip_pre_vote = true;
    for (int i = 0; i < 3; i++)
        h_restart(&C, i);
    h_elect(&C, 0);
    int64_t term = replica_group_term(&C.nodes[0].rg);
    h_isolate(&C, 2, true);
    h_tick_all(&C, 100);
    cr_assert_gt(replica_group_term(&C.nodes[2].rg), term + 1);
    h_isolate(&C, 2, false);
    h_tick_all(&C, 3);
    cr_assert_gt(replica_group_term(&C.nodes[0].rg), term, "the leader was deposed");
}

Test(check_quorum, isolated_leader_steps_down)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_isolate(&C, 0, true);
    for (int t = 0; t < 25; t++)
        h_tick(&C, 0);
    cr_assert_neq(replica_group_role(&C.nodes[0].rg), RG_ROLE_LEADER);
    cr_assert_eq(h_propose(&C, 0, 1), RG_ERR_NOT_LEADER);
}

Test(check_quorum, leader_with_a_majority_stays)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_isolate(&C, 2, true);
    h_tick_all(&C, 60);
    cr_assert_eq(h_leader(&C), 0);
}

/* ---------------------------------------------------------------- log matching */

Test(log, follower_truncates_divergent_uncommitted_suffix)
{
    h_init(&C, 3, 3);
    int32_t e[] = {1, 1, 2, 2, 2}; /* [0,4) epoch 1, [4,10) epoch 2 */
    set_log(1, e, 5, 3);
    struct rg_message a = h_msg(RG_MSG_APPEND, 0, 1, 3);
    a.prev_end = 4;
    a.prev_epoch = 1;
    a.end = 7;
    a.run_count = 1;
    a.runs[0] = (struct rg_epoch_run){.epoch = 3, .start = 4};
    struct rg_output *out = step(1, &a);
    cr_assert_eq(out->op_count, 2);
    cr_assert_eq(out->ops[0].type, RG_LOG_TRUNCATE);
    cr_assert_eq(out->ops[0].offset, 4);
    cr_assert_eq(out->ops[1].type, RG_LOG_APPEND_RECEIVED);
    cr_assert_eq(out->ops[1].offset, 4);
    cr_assert_eq(out->ops[1].to, 7);
    cr_assert_eq(replica_group_epoch_at(&C.nodes[1].rg, 4), 3);
    cr_assert_eq(replica_group_durable_end(&C.nodes[1].rg), 4, "truncation undoes durability");
    const struct rg_message *r = h_find(out, RG_MSG_APPEND_RESPONSE);
    cr_assert(r->success);
    cr_assert_eq(r->match, 7);
}

Test(log, matching_entries_are_not_rewritten)
{
    h_init(&C, 3, 3);
    int32_t e[] = {1, 1, 1};
    set_log(1, e, 3, 1);
    struct rg_message a = h_msg(RG_MSG_APPEND, 0, 1, 1);
    a.prev_end = 0;
    a.end = 4; /* a stale, shorter APPEND of the same entries */
    a.run_count = 1;
    a.runs[0] = (struct rg_epoch_run){.epoch = 1, .start = 0};
    struct rg_output *out = step(1, &a);
    cr_assert_eq(out->op_count, 0, "no truncation of a matching tail");
    cr_assert_eq(replica_group_log_end(&C.nodes[1].rg), 6);
}

Test(log, rejects_gap_and_mismatch_with_hints)
{
    h_init(&C, 3, 3);
    int32_t e[] = {1, 2};
    set_log(1, e, 2, 2);
    struct rg_message a = h_msg(RG_MSG_APPEND, 0, 1, 3);
    a.prev_end = 10; /* beyond its end (4) */
    a.prev_epoch = 3;
    a.end = 12;
    a.run_count = 1;
    a.runs[0] = (struct rg_epoch_run){.epoch = 3, .start = 10};
    const struct rg_message *r = h_find(step(1, &a), RG_MSG_APPEND_RESPONSE);
    cr_assert(!r->success);
    cr_assert_eq(r->hint_offset, 4);
    cr_assert_eq(r->hint_epoch, 2);
    /* leader's entry at 3 has epoch 1: our epoch-2 entries from 2 diverge */
    a.prev_end = 4;
    a.prev_epoch = 1;
    a.runs[0] = (struct rg_epoch_run){.epoch = 1, .start = 0};
    r = h_find(step(1, &a), RG_MSG_APPEND_RESPONSE);
    cr_assert(!r->success);
    cr_assert_eq(r->hint_offset, 2);
    cr_assert_eq(r->hint_epoch, 1);
}

Test(log, fast_backoff_jumps_by_epoch_not_by_batch)
{
    /* Node 1 has 40 batches of a stale epoch 2 the new leader never had. */
    h_init(&C, 3, 3);
    int32_t e1[41], e0[3] = {1, 1, 1};
    e1[0] = 1;
    for (int b = 1; b < 41; b++)
        e1[b] = 2;
    set_log(1, e1, 41, 2);
    set_log(0, e0, 3, 2);
    set_log(2, e0, 3, 2);
    h_elect(&C, 0);
    h_tick_all(&C, 5);
    cr_assert_eq(replica_group_log_end(&C.nodes[1].rg), replica_group_log_end(&C.nodes[0].rg));
    cr_assert_leq(C.rejections, 3, "%u rejections for one divergent epoch", C.rejections);
    cr_assert_eq(replica_group_epoch_at(&C.nodes[1].rg, 2), 1);
}

/* ---------------------------------------------------------------- commit */

Test(commit, requires_durable_acks_from_a_quorum)
{
    h_init(&C, 3, 3);
    for (int i = 0; i < 3; i++)
        C.nodes[i].auto_durable = false;
    h_elect(&C, 0);
    h_durable(&C, 0);
    h_deliver_all(&C);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 0, "followers wrote but did not sync");
    h_durable(&C, 1);
    h_deliver_all(&C);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 1, "leader + one durable follower");
}

Test(commit, counting_non_durable_acks_is_the_fault)
{
    h_init(&C, 3, 3);
    C.faults.count_non_durable_acks = true;
    for (int i = 0; i < 3; i++) {
        C.nodes[i].auto_durable = false;
        h_restart(&C, i);
    }
    h_elect(&C, 0);
    h_deliver_all(&C);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 1, "committed with nothing durable");
}

/*
 * Raft figure 8. Node 0 leads epoch 3 with an epoch-1 batch [2,4) that only
 * it and node 1 hold durably; node 2 has an epoch-2 batch at 2 that node 0
 * lacks. Counting node 1's durable ack must not commit [2,4): node 2 (last
 * epoch 2) could still win an election and overwrite it. Only once the
 * leader's own epoch-3 marker is durable on a quorum does [0,5) commit.
 */
Test(commit, only_entries_of_the_current_epoch_by_counting)
{
    h_init(&C, 3, 3);
    int32_t e01[] = {1, 1}, e2[] = {1, 2};
    set_log(0, e01, 2, 2);
    set_log(1, e01, 2, 2);
    set_log(2, e2, 2, 2);
    for (int i = 0; i < 3; i++)
        C.nodes[i].auto_durable = false;
    h_isolate(&C, 2, true);
    h_elect(&C, 0); /* epoch 3, marker at 4 */
    cr_assert_eq(replica_group_term(&C.nodes[0].rg), 3);
    h_durable(&C, 0);
    /* node 1 reports [0,4) durable but not the marker */
    struct rg_message ack = h_msg(RG_MSG_APPEND_RESPONSE, 1, 0, 3);
    ack.success = true;
    ack.match = 5;
    ack.durable = 4;
    step(0, &ack);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 0, "epoch-1 entries not committed alone");
    /* once the marker is durable on node 1, everything commits */
    ack.durable = 5;
    step(0, &ack);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 5);
    /* Why: had node 1 crashed before syncing the marker, node 2 (last
     * epoch 2) would win its vote and overwrite [2,4). */
    set_log(1, e01, 2, 3);
    struct rg_message v = h_msg(RG_MSG_VOTE, 2, 1, 4);
    v.last_epoch = 2;
    v.log_end = 4;
    cr_assert(h_find(step(1, &v), RG_MSG_VOTE_RESPONSE)->granted);
}

Test(commit, committing_previous_epoch_is_the_fault)
{
    h_init(&C, 3, 3);
    C.faults.commit_previous_epoch = true;
    int32_t e01[] = {1, 1}, e2[] = {1, 2};
    set_log(0, e01, 2, 2);
    set_log(1, e01, 2, 2);
    set_log(2, e2, 2, 2);
    for (int i = 0; i < 3; i++)
        C.nodes[i].auto_durable = false;
    h_isolate(&C, 2, true);
    h_elect(&C, 0);
    h_durable(&C, 0);
    struct rg_message ack = h_msg(RG_MSG_APPEND_RESPONSE, 1, 0, 3);
    ack.success = true;
    ack.match = 5;
    ack.durable = 4;
    step(0, &ack);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), 4,
                 "the faulty leader commits [2,4), which node 2 may still overwrite");
}

Test(commit, followers_learn_commit_only_within_verified_prefix)
{
    h_init(&C, 3, 3);
    int32_t e[] = {1, 1, 1};
    set_log(1, e, 3, 1);
    struct rg_message hb = h_msg(RG_MSG_HEARTBEAT, 0, 1, 1);
    hb.commit = 6;
    step(1, &hb);
    cr_assert_eq(replica_group_commit(&C.nodes[1].rg), 0, "nothing verified in this term yet");
    struct rg_message a = h_msg(RG_MSG_APPEND, 0, 1, 1);
    a.prev_end = 4;
    a.prev_epoch = 1;
    a.end = 4; /* empty probe */
    a.commit = 6;
    step(1, &a);
    cr_assert_eq(replica_group_commit(&C.nodes[1].rg), 4);
}

/* ---------------------------------------------------------------- replication flow */

Test(pipeline, appends_leave_before_acks_within_the_window)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_tick_all(&C, 2);
    uint32_t before = C.sent_appends;
    for (int k = 0; k < 10; k++)
        cr_assert_eq(h_propose(&C, 0, 5), RG_OK); /* no delivery in between */
    /* 2 peers x window of 4 */
    cr_assert_eq(C.sent_appends - before, 8, "sent %u", C.sent_appends - before);
    h_deliver_all(&C);
    for (int i = 1; i < 3; i++)
        cr_assert_eq(replica_group_log_end(&C.nodes[i].rg), replica_group_log_end(&C.nodes[0].rg));
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), replica_group_log_end(&C.nodes[0].rg));
}

Test(pipeline, trimmed_append_resumes_where_it_stopped)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_isolate(&C, 1, true);
    for (int k = 0; k < 5; k++)
        h_propose(&C, 0, 2);
    h_isolate(&C, 1, false);
    h_deliver_all(&C);
    /* node 1 is behind: an APPEND for all of it; send only the first batch */
    struct rg_output *out = h_out(&C);
    struct rg_message hbr =
        h_msg(RG_MSG_HEARTBEAT_RESPONSE, 1, 0, replica_group_term(&C.nodes[0].rg));
    hbr.success = true;
    hbr.match = 1;
    hbr.durable = 1;
    hbr.hint_epoch = 1;
    hbr.hint_offset = 1;
    cr_assert_eq(replica_group_step(&C.nodes[0].rg, &hbr, out), RG_OK);
    struct rg_message *a = NULL;
    for (uint32_t k = 0; k < out->message_count; k++)
        if (out->messages[k].type == RG_MSG_APPEND)
            a = &out->messages[k];
    cr_assert_not_null(a);
    cr_assert_eq(a->prev_end, 1);
    cr_assert_eq(a->end, 11);
    uint32_t n = out->message_count;
    cr_assert_eq(replica_group_append_trimmed(&C.nodes[0].rg, a, 3, out), RG_OK);
    cr_assert_eq(a->end, 3);
    cr_assert_eq(out->message_count, n, "a probe waits for its answer");
    cr_assert_eq(replica_group_peer(&C.nodes[0].rg, 1)->next, 3);
    h_process(&C, 0);
    h_deliver_all(&C);
    cr_assert_eq(replica_group_log_end(&C.nodes[1].rg), replica_group_log_end(&C.nodes[0].rg),
                 "the rest follows piece by piece");
}

/* ---------------------------------------------------------------- transfer */

Test(transfer, hands_leadership_to_the_target)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_propose(&C, 0, 3);
    h_deliver_all(&C);
    int64_t term = replica_group_term(&C.nodes[0].rg);
    cr_assert_eq(replica_group_transfer_leadership(&C.nodes[0].rg, 2, h_out(&C)), RG_OK);
    h_process(&C, 0);
    cr_assert_eq(h_propose(&C, 0, 1), RG_ERR_TRANSFERRING, "proposals stop during a transfer");
    h_deliver_all(&C);
    cr_assert_eq(h_leader(&C), 2);
    cr_assert_eq(replica_group_term(&C.nodes[2].rg), term + 1);
    h_tick_all(&C, 5);
    cr_assert_eq(replica_group_commit(&C.nodes[2].rg), replica_group_log_end(&C.nodes[2].rg));
}

Test(transfer, gives_up_after_an_election_timeout)
{
    h_init(&C, 3, 3);
    h_elect(&C, 0);
    h_isolate(&C, 2, true);
    cr_assert_eq(replica_group_transfer_leadership(&C.nodes[0].rg, 2, h_out(&C)), RG_OK);
    h_process(&C, 0);
    h_tick_all(&C, 12);
    cr_assert_eq(h_leader(&C), 0);
    cr_assert_eq(h_propose(&C, 0, 1), RG_OK);
}

/* ---------------------------------------------------------------- membership */

Test(membership, add_learner_catch_up_promote_remove)
{
    h_init(&C, 4, 3); /* nodes 0..2 voters, node 3 spare */
    C.nodes[3].auto_durable = true;
    C.nodes[3].hard.voted_for = RG_NO_NODE;
    h_restart(&C, 3);
    h_elect(&C, 0);
    for (int k = 0; k < 5; k++)
        h_propose(&C, 0, 3);
    h_tick_all(&C, 4);
    int64_t off;
    struct replica_group *l = &C.nodes[0].rg;
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_PROMOTE, 3, &off, h_out(&C)),
                 RG_ERR_NOT_MEMBER, "not a learner yet");
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_ADD_LEARNER, 3, &off, h_out(&C)),
                 RG_OK);
    h_process(&C, 0);
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_REMOVE, 1, &off, h_out(&C)),
                 RG_ERR_CHANGE_PENDING, "one change at a time");
    cr_assert(!replica_group_is_voter(l, 3));
    h_tick_all(&C, 6);
    cr_assert_eq(replica_group_log_end(&C.nodes[3].rg), replica_group_log_end(l), "caught up");
    cr_assert(rg_membership_has_learner(replica_group_membership(&C.nodes[3].rg), 3));
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_PROMOTE, 3, &off, h_out(&C)), RG_OK);
    h_process(&C, 0);
    cr_assert(replica_group_is_voter(l, 3));
    h_tick_all(&C, 6);
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_REMOVE, 0, &off, h_out(&C)),
                 RG_ERR_INVALID, "the leader must transfer first");
    cr_assert_eq(replica_group_change_membership(l, RG_CHANGE_REMOVE, 1, &off, h_out(&C)), RG_OK);
    h_process(&C, 0);
    h_tick_all(&C, 6);
    const struct rg_membership *m = replica_group_membership(&C.nodes[3].rg);
    cr_assert_eq(m->voter_count, 3);
    cr_assert(!rg_membership_has_voter(m, 1));
    /* the group works without node 1 */
    h_isolate(&C, 1, true);
    h_propose(&C, 0, 1);
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_commit(l), replica_group_log_end(l));
}

/* Nodes 0..2 voters (0 leads), node 3 added as a learner and caught up. */
static void with_learner_3(void)
{
    h_init(&C, 4, 3);
    C.nodes[3].hard.voted_for = RG_NO_NODE;
    h_restart(&C, 3);
    h_elect(&C, 0);
    h_tick_all(&C, 3);
    int64_t off;
    cr_assert_eq(
        replica_group_change_membership(&C.nodes[0].rg, RG_CHANGE_ADD_LEARNER, 3, &off, h_out(&C)),
        RG_OK);
    h_process(&C, 0);
    h_tick_all(&C, 5);
}

Test(membership, learner_does_not_vote_or_count)
{
    with_learner_3();
    /* With node 1 and 2 gone, leader + learner is no quorum. */
    h_isolate(&C, 1, true);
    h_isolate(&C, 2, true);
    int64_t commit = replica_group_commit(&C.nodes[0].rg);
    h_propose(&C, 0, 1);
    h_tick_all(&C, 3);
    cr_assert_eq(replica_group_commit(&C.nodes[0].rg), commit);
    /* a learner may campaign, but its own vote does not count: without
     * the voters it never leads */
    for (int t = 0; t < 100; t++)
        h_tick(&C, 3);
    cr_assert_neq(replica_group_role(&C.nodes[3].rg), RG_ROLE_LEADER);
}

Test(membership, learner_with_the_newest_log_can_lead)
{
    with_learner_3();
    /* the leader's newest batch reaches only the learner, then it dies */
    h_isolate(&C, 1, true);
    h_isolate(&C, 2, true);
    h_propose(&C, 0, 2);
    h_deliver_all(&C);
    h_isolate(&C, 0, true);
    h_isolate(&C, 1, false);
    h_isolate(&C, 2, false);
    cr_assert_gt(replica_group_log_end(&C.nodes[3].rg), replica_group_log_end(&C.nodes[1].rg));
    /* voters 1 and 2 cannot reach each other: neither can win; the
     * learner can (both grant its newer log; its own vote does not count) */
    C.blocked[1][2] = C.blocked[2][1] = true;
    for (int t = 0; t < 200 && replica_group_role(&C.nodes[3].rg) != RG_ROLE_LEADER; t++) {
        h_tick(&C, 1);
        h_tick(&C, 2);
        h_tick(&C, 3);
        h_deliver_all(&C);
    }
    cr_assert_eq(replica_group_role(&C.nodes[3].rg), RG_ROLE_LEADER);
    cr_assert(!replica_group_is_voter(&C.nodes[3].rg, 3), "a learner leading");
    for (int t = 0; t < 6; t++) {
        h_tick(&C, 3);
        h_deliver_all(&C);
    }
    cr_assert_eq(replica_group_commit(&C.nodes[3].rg), replica_group_log_end(&C.nodes[3].rg),
                 "committed by the voters' acks");
}

Test(membership, truncated_config_is_undone)
{
    h_init(&C, 3, 3);
    struct h_node *n = &C.nodes[1];
    n->nlog = 0;
    n->log[n->nlog++] = (struct h_batch){.base = 0, .count = 2, .epoch = 1};
    struct rg_membership m = {.voter_count = 2, .voters = {0, 1}};
    n->log[n->nlog++] =
        (struct h_batch){.base = 2, .count = 1, .epoch = 2, .config = true, .membership = m};
    n->hard.term = 2;
    h_restart(&C, 1);
    cr_assert_eq(replica_group_membership(&n->rg)->voter_count, 2);
    struct rg_message a = h_msg(RG_MSG_APPEND, 0, 1, 3);
    a.prev_end = 2;
    a.prev_epoch = 1;
    a.end = 3;
    a.run_count = 1;
    a.runs[0] = (struct rg_epoch_run){.epoch = 3, .start = 2};
    struct rg_output *out = step(1, &a);
    cr_assert(out->membership_changed);
    cr_assert_eq(replica_group_membership(&n->rg)->voter_count, 3, "back to the bootstrap");
}
