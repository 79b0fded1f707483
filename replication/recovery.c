/*
 * Disk incarnations, and the recovery of a replica whose disk is new or
 * was wiped.
 *
 * A wiped replica forgot its votes and its log. Voting at once could
 * elect two leaders in one epoch (it may vote twice in a term it forgot),
 * or a leader without committed entries (its lost copy was one of those
 * a commit counted on). So a replica that starts from a zeroed hard state
 * is RECOVERING: it neither votes nor campaigns until it has asked the
 * other voters (a pre-vote each; every answer echoes to_incarnation, so it
 * was sent after the restart, and carries the highest term the answerer
 * knows reached, its last epoch and log end; a recovering answerer knows
 * nothing and does not count) and heard from enough of them that every quorum it could
 * have belonged to before the wipe has k of them among the answers
 * (k = answers - (others - (quorum - 1)) >= 1). Then
 *  - VOTE FLOOR: the k-th highest answered term. Any term it voted in
 *    with a quorum had all that quorum's other members at or above it,
 *    so it is <= the floor: it never votes or campaigns there again;
 *  - LOG BOUND: the k-th most up-to-date answered log. A committed entry
 *    is durable on a quorum; if the replica was in it, the rest of that
 *    quorum includes an answer at or below the bound that holds the
 *    entry, and Raft's election order says any log at least as up to
 *    date as that holds it too. So it votes only for logs at or above the
 *    bound (and campaigns only once its own log reaches it).
 * Later answers refine both (the lower of two sound bounds is sound); the
 * log bound goes once the replica caught up (rg_recovery_caught_up).
 * Everything is persisted in the hard state. Peers see the new
 * incarnation in its messages: a leader drops the progress it knew of the
 * old disk (acks of the old disk no longer hold).
 */
#include "rg_internal.h"

void rg_note_incarnation(struct replica_group *rg, const struct rg_message *m)
{
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL || m->incarnation == 0)
        return;
    if (p->incarnation != 0 && p->incarnation != m->incarnation) {
        /* Another disk: what it had matched and synced is gone. */
        rg_reset_peer(rg, p);
        RG_ASSERT(p->match == 0 && p->durable_match == 0);
    }
    p->incarnation = m->incarnation;
}

/* Voters other than self. */
static uint32_t others(const struct replica_group *rg)
{
    uint32_t voters = rg_voter_count(rg);
    return rg_self_is_voter(rg) ? voters - 1 : voters;
}

/* Answers needed: enough that every quorum containing self meets them
 * (others - (quorum - 1) + 1), at most all others. */
static uint32_t samples_needed(const struct replica_group *rg)
{
    uint32_t o = others(rg), quorum = rg_quorum(rg);
    uint32_t need = o + 2 > quorum ? o + 2 - quorum : 0;
    return need < o ? need : o;
}

static bool log_above(int32_t epoch_a, int64_t end_a, int32_t epoch_b, int64_t end_b)
{
    return epoch_a != epoch_b ? epoch_a > epoch_b : end_a > end_b;
}

/* The k-th highest term and the k-th most up-to-date log among answers
 * (k >= 1), by insertion sort (at most RG_MAX_NODES values). */
static void kth_highest(const struct replica_group *rg, uint32_t k, int64_t *term, int32_t *epoch,
                        int64_t *end)
{
    int64_t terms[RG_MAX_NODES], ends[RG_MAX_NODES];
    int32_t epochs[RG_MAX_NODES];
    uint32_t n = 0;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        const struct rg_peer *p = &rg->peers[i];
        if (!p->voter || !p->sampled)
            continue;
        uint32_t a = n, b = n;
        for (; a > 0 && terms[a - 1] < p->sampled_term; a--)
            terms[a] = terms[a - 1];
        terms[a] = p->sampled_term;
        for (; b > 0 && log_above(p->sampled_epoch, p->sampled_end, epochs[b - 1], ends[b - 1]);
             b--) {
            epochs[b] = epochs[b - 1];
            ends[b] = ends[b - 1];
        }
        epochs[b] = p->sampled_epoch;
        ends[b] = p->sampled_end;
        n++;
    }
    RG_ASSERT(k >= 1 && k <= n);
    *term = terms[k - 1];
    *epoch = epochs[k - 1];
    *end = ends[k - 1];
}

/* With enough answers: set (recovering) or lower (refining) the bounds. */
static void recompute(struct replica_group *rg)
{
    uint32_t answered = 0;
    for (uint32_t i = 0; i < rg->peer_count; i++)
        if (rg->peers[i].voter && rg->peers[i].sampled)
            answered++;
    uint32_t o = others(rg), need = samples_needed(rg);
    if (answered < need)
        return;
    int64_t floor = 0, end = 0;
    int32_t epoch = 0;
    uint32_t k = answered + rg_quorum(rg) > o + 1 ? answered + rg_quorum(rg) - o - 1 : 0;
    if (k > 0)
        kth_highest(rg, k, &floor, &epoch, &end);
    if (rg->recovering || floor < rg->vote_floor)
        rg->vote_floor = floor;
    if (rg->caught_up) {
        RG_ASSERT(rg->bound_epoch == 0 && rg->bound_end == 0);
    } else if (rg->recovering || log_above(rg->bound_epoch, rg->bound_end, epoch, end)) {
        rg->bound_epoch = epoch;
        rg->bound_end = end;
    }
    rg->recovering = false;
    if (answered == o)
        rg->sampling = false;
}

void rg_recovery_sample(struct replica_group *rg, const struct rg_message *m)
{
    if (!rg->sampling || m->to_incarnation != rg->config.incarnation || m->known_term < 0 ||
        (m->type != RG_MSG_PRE_VOTE_RESPONSE && m->type != RG_MSG_VOTE_RESPONSE))
        return;
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL || !p->voter)
        return;
    RG_ASSERT(m->log_end >= 0);
    p->sampled = true;
    p->sampled_term = m->known_term;
    p->sampled_epoch = m->last_epoch;
    p->sampled_end = m->log_end;
    recompute(rg);
}

/* Asks every voter not yet heard for its term and log: a pre-vote for
 * the next term, which peers answer (granted or not). The replica stays a
 * follower: the answers only feed the bounds. */
void rg_recovery_ask(struct replica_group *rg, struct rg_output *out)
{
    RG_ASSERT(rg->sampling);
    rg->asked = true;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        struct rg_peer *p = &rg->peers[i];
        if (!p->voter || p->sampled)
            continue;
        struct rg_message *m = rg_out_message(rg, out, RG_MSG_PRE_VOTE, p->id);
        m->term = rg->term + 1;
        m->log_end = rg->log_end;
        m->last_epoch = rg_epoch_table_last_epoch(&rg->epochs);
    }
    recompute(rg); /* a group of one needs no answer */
}

/*
 * The bound is needed only until our own log holds what was committed
 * before the wipe: once it holds, verified and durable, a commit offset
 * of the current leader with an entry of the leader's own epoch before
 * it (leader completeness: the leader's log has every earlier commit).
 * Dropping it then keeps the group live when the answer that set it
 * (often a leader's uncommitted tail) is gone.
 */
void rg_recovery_caught_up(struct replica_group *rg)
{
    if (rg->caught_up || rg->role != RG_ROLE_FOLLOWER || rg->leader == RG_NO_NODE)
        return;
    int64_t c = rg->leader_commit;
    int64_t have = rg->verified_end < rg->durable_end ? rg->verified_end : rg->durable_end;
    if (c > rg->epochs.start && have >= c && c <= rg->log_end &&
        rg_epoch_table_epoch_at(&rg->epochs, c - 1) == rg->term) {
        rg->caught_up = true; /* also while still asking: no bound will be set */
        rg->bound_epoch = 0;
        rg->bound_end = 0;
    }
}

bool rg_log_reaches_bound(const struct replica_group *rg, int32_t last_epoch, int64_t log_end)
{
    return !log_above(rg->bound_epoch, rg->bound_end, last_epoch, log_end);
}

/* The term a campaign takes: above our term and above the vote floor. */
int64_t rg_next_term(const struct replica_group *rg)
{
    int64_t t = rg->term > rg->vote_floor ? rg->term : rg->vote_floor;
    RG_ASSERT(t >= rg->term);
    return t + 1;
}
