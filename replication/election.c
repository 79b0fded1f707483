/*
 * Elections: randomized timeouts, pre-vote, votes, leases.
 *
 * A follower that hears nothing from a leader for its randomized timeout
 * first runs a PRE-VOTE: it asks "would you vote for me in term + 1?"
 * without changing its own term. Peers say yes only if the candidate's log
 * is at least as up to date as theirs AND they have not heard from a leader
 * within an election timeout (the lease). Only with a majority of yeses
 * does the node bump its term and ask for real votes. So a node that was
 * cut off and comes back cannot force a healthy leader to step down: its
 * term never ran ahead while it was alone.
 */
#include "rg_internal.h"

/* splitmix64: tiny, seedable, good enough for jitter. */
static uint64_t next_random(struct replica_group *rg)
{
    uint64_t z = (rg->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reset_election_timer(struct replica_group *rg)
{
    rg->election_elapsed = 0;
    rg->randomized_timeout =
        rg->config.election_ticks + (uint32_t)(next_random(rg) % rg->config.election_ticks);
}

/* True while a leader we know of is presumed alive: votes and pre-votes
 * from others are then ignored, which is what makes check-quorum and
 * pre-vote protect a healthy leader. */
bool rg_in_lease(const struct replica_group *rg)
{
    return rg->config.check_quorum && rg->leader != RG_NO_NODE &&
           rg->election_elapsed < rg->config.election_ticks;
}

void rg_become_follower(struct replica_group *rg, int64_t term, int32_t leader)
{
    RG_ASSERT(term >= rg->term);
    if (term > rg->term) {
        rg->term = term;
        rg->voted_for = RG_NO_NODE;
        rg->verified_end = 0;
        rg->leader_commit = 0;
    }
    if (rg->role == RG_ROLE_LEADER)
        rg->verified_end = 0;
    rg->role = RG_ROLE_FOLLOWER;
    rg->leader = leader;
    rg->transfer_target = RG_NO_NODE;
    reset_election_timer(rg);
}

static void send_vote_requests(struct replica_group *rg, bool pre_vote, bool transfer,
                               struct rg_output *out)
{
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        struct rg_peer *p = &rg->peers[i];
        if (!p->voter)
            continue;
        struct rg_message *m =
            rg_out_message(rg, out, pre_vote ? RG_MSG_PRE_VOTE : RG_MSG_VOTE, p->id);
        /* A pre-vote asks about the term we would take, not ours. */
        m->term = pre_vote ? rg_next_term(rg) : rg->term;
        m->log_end = rg->log_end;
        m->last_epoch = rg_epoch_table_last_epoch(&rg->epochs);
        m->transfer = transfer;
    }
}

static uint32_t count_votes(const struct replica_group *rg, bool granted)
{
    /* Our own vote counts only if we are a voter: a learner may campaign
     * (below) but needs a quorum of the voters. */
    uint32_t n = granted && rg_self_is_voter(rg) ? 1 : 0;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        const struct rg_peer *p = &rg->peers[i];
        if (p->voter && p->vote_responded && p->vote_granted == granted)
            n++;
    }
    return n;
}

void rg_campaign(struct replica_group *rg, bool pre_vote, bool transfer, struct rg_output *out)
{
    RG_ASSERT(rg_self_is_member(rg) && !rg->recovering);
    if (rg->faults.skip_pre_vote)
        pre_vote = false;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        rg->peers[i].vote_granted = false;
        rg->peers[i].vote_responded = false;
    }
    if (pre_vote) {
        rg->role = RG_ROLE_PRE_CANDIDATE;
        rg->leader = RG_NO_NODE;
        reset_election_timer(rg);
    } else {
        rg->role = RG_ROLE_CANDIDATE;
        rg->term = rg_next_term(rg);
        rg->leader_commit = 0;
        rg->voted_for = rg->config.self;
        rg->leader = RG_NO_NODE;
        rg->verified_end = 0;
        reset_election_timer(rg);
    }
    if (count_votes(rg, true) >= rg_quorum(rg)) {
        /* Alone in the group. */
        if (pre_vote)
            rg_campaign(rg, false, transfer, out);
        else
            rg_become_leader(rg, out);
        return;
    }
    send_vote_requests(rg, pre_vote, transfer, out);
}

/* Pre-votes again to the voters that have not answered this round. */
static void repeat_pre_votes(struct replica_group *rg, struct rg_output *out)
{
    RG_ASSERT(rg->role == RG_ROLE_PRE_CANDIDATE);
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        struct rg_peer *p = &rg->peers[i];
        if (!p->voter || p->vote_responded)
            continue;
        struct rg_message *m = rg_out_message(rg, out, RG_MSG_PRE_VOTE, p->id);
        m->term = rg_next_term(rg);
        m->log_end = rg->log_end;
        m->last_epoch = rg_epoch_table_last_epoch(&rg->epochs);
        RG_ASSERT(m->term > rg->term);
    }
}

void rg_tick_election(struct replica_group *rg, struct rg_output *out)
{
    rg->election_elapsed++;
    bool timeout = rg->election_elapsed >= rg->randomized_timeout;
    if (rg->recovering) {
        /* Ask for the vote floor at once, then every election timeout
         * (answers may be lost; a live leader keeps resetting the timer). */
        if (timeout || rg->tick_count % rg->config.election_ticks == 0 || !rg->asked)
            rg_recovery_ask(rg, out);
        if (timeout)
            reset_election_timer(rg);
        return;
    }
    if (!timeout && rg->role == RG_ROLE_PRE_CANDIDATE &&
        rg->election_elapsed % rg->config.heartbeat_ticks == 0) {
        /* Peers still inside their lease ignore a pre-vote; ask them again
         * each heartbeat period rather than a whole new timeout later: a
         * failover then waits for the last lease to end, not for a second
         * randomized timeout (failovers measured at 365 or 765 ms, the
         * second kind a pre-vote asked 50 ms before the other lease ended).
         * A pre-vote changes no term, so asking again disturbs nothing. */
        repeat_pre_votes(rg, out);
    }
    if (timeout) {
        /* Learners campaign too: one may hold the only copy of the newest
         * log (its epoch's leader lost its disk), and voters refuse anyone
         * else. It needs a quorum of voters, checking its log as usual;
         * a learner catching up never has the better log. */
        if (rg_self_is_member(rg))
            rg_campaign(rg, rg->config.pre_vote, false, out);
        else
            reset_election_timer(rg); /* removed: wait to be told */
    }
}

/* Raft's election restriction: never vote for a log that lacks entries we
 * may have acknowledged. Compare the last entry's epoch, then the length. */
static bool log_up_to_date(const struct replica_group *rg, const struct rg_message *m)
{
    int32_t my_last = rg_epoch_table_last_epoch(&rg->epochs);
    if (m->last_epoch != my_last)
        return m->last_epoch > my_last;
    return m->log_end >= rg->log_end;
}

void rg_handle_vote_request(struct replica_group *rg, const struct rg_message *m,
                            struct rg_output *out)
{
    bool pre = m->type == RG_MSG_PRE_VOTE;
    /* m->term >= rg->term here (replica_group_step answered stale ones). */
    bool can_vote = rg->voted_for == m->from ||
                    (rg->voted_for == RG_NO_NODE && rg->leader == RG_NO_NODE) ||
                    (pre && m->term > rg->term);
    bool log_ok = log_up_to_date(rg, m) || rg->faults.vote_ignores_log;
    /* A recovering replica may have voted in a term it forgot: never
     * in one up to its floor, and not at all until it knows the floor. */
    bool floor_ok = !rg->recovering && m->term > rg->vote_floor;
    /* Whatever our own config says (as in Raft): a candidate counts only
     * the voters of its config, and one whose log lags the config that
     * made it a voter must still vote, or no quorum may be reachable. */
    bool grant = can_vote && log_ok && floor_ok;
    struct rg_message *r =
        rg_out_message(rg, out, pre ? RG_MSG_PRE_VOTE_RESPONSE : RG_MSG_VOTE_RESPONSE, m->from);
    r->granted = grant;
    if (grant) {
        /* A granted pre-vote answers in the candidate's future term. */
        r->term = m->term;
        if (!pre) {
            rg->voted_for = m->from;
            rg->election_elapsed = 0;
        }
    } else if (!rg->recovering && m->term <= rg->vote_floor && rg->vote_floor > rg->term) {
        /* Refused for our floor: tell the candidate the floor as a term,
         * which it adopts, so its next campaign goes above it (pre-votes
         * alone would never move its term past it). */
        r->term = rg->vote_floor;
    }
    RG_ASSERT(r->term >= rg->term);
}

void rg_handle_vote_response(struct replica_group *rg, const struct rg_message *m,
                             struct rg_output *out)
{
    bool pre = m->type == RG_MSG_PRE_VOTE_RESPONSE;
    if (pre ? rg->role != RG_ROLE_PRE_CANDIDATE : rg->role != RG_ROLE_CANDIDATE)
        return;
    /* A granted pre-vote carries our future term; anything else ours. */
    int64_t expected = pre && m->granted ? rg_next_term(rg) : rg->term;
    if (m->term != expected)
        return; /* an answer to an older round */
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL || !p->voter || p->vote_responded)
        return;
    p->vote_responded = true;
    p->vote_granted = m->granted;
    if (count_votes(rg, true) >= rg_quorum(rg)) {
        if (pre)
            rg_campaign(rg, false, false, out);
        else
            rg_become_leader(rg, out);
    } else if (count_votes(rg, false) >= rg_quorum(rg)) {
        rg_become_follower(rg, rg->term, RG_NO_NODE);
    }
}
