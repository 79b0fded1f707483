/*
 * Disk incarnations, and the recovery of a replica whose disk is new or
 * was wiped.
 *
 * A wiped replica forgot its votes and its log. Voting at once could
 * elect a leader without committed entries (its lost copy was one of those
 * a commit counted on) or two leaders in one epoch (it may vote twice in a
 * term it forgot). So a replica that starts from a zeroed hard state is
 * RECOVERING: it neither votes nor campaigns until
 *  1. CAUGHT UP: its log, verified and durable, holds a commit offset of
 *     the current leader with an entry of the leader's own epoch before
 *     it. By leader completeness that leader's log holds everything
 *     committed before the wipe, so now does ours, and so does our config
 *     (which is why this comes first: the answers below are judged against
 *     the voters of a current config, not of the bootstrap);
 *  2. it knows a VOTE FLOOR: it asks every voter (a pre-vote each); an
 *     answer echoes to_incarnation (so it was sent after the restart) and
 *     carries known_term, the highest term the answerer knows reached
 *     (max(term, vote floor); -1 while it recovers itself: not counted).
 *     With answers from enough other voters that every quorum holding us
 *     has another member among them, any term we voted in before the wipe
 *     is <= the highest answer; the floor is that, and at least our
 *     current term (our leader's: we may have voted there too). We never
 *     vote or campaign in a term at or below it again.
 * Both are persisted (recovering, vote_floor). Peers see the new
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

/* Answers needed from other voters: enough that every quorum containing
 * self meets them (others - (quorum - 1) + 1), at most all others. */
static uint32_t samples_needed(const struct replica_group *rg)
{
    uint32_t voters = rg_voter_count(rg);
    uint32_t others = rg_self_is_voter(rg) ? voters - 1 : voters;
    uint32_t quorum = rg_quorum(rg);
    uint32_t need = others + 2 > quorum ? others + 2 - quorum : 0;
    RG_ASSERT(quorum >= 1 && quorum <= voters);
    return need < others ? need : others;
}

/* Ends recovery once caught up and enough voters of the config in effect
 * (now a current one) answered. */
static void maybe_recovered(struct replica_group *rg)
{
    if (!rg->recovering || !rg->caught_up)
        return;
    uint32_t answered = 0;
    int64_t floor = rg->term;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        const struct rg_peer *p = &rg->peers[i];
        if (!p->voter || !p->sampled)
            continue;
        answered++;
        if (p->sampled_term > floor)
            floor = p->sampled_term;
    }
    if (answered < samples_needed(rg))
        return;
    RG_ASSERT(floor >= rg->term);
    rg->vote_floor = floor > rg->vote_floor ? floor : rg->vote_floor;
    rg->recovering = false;
}

void rg_recovery_caught_up(struct replica_group *rg)
{
    if (!rg->recovering || rg->caught_up || rg->role != RG_ROLE_FOLLOWER ||
        rg->leader == RG_NO_NODE)
        return;
    int64_t c = rg->leader_commit;
    int64_t have = rg->verified_end < rg->durable_end ? rg->verified_end : rg->durable_end;
    RG_ASSERT(have <= rg->log_end);
    if (c > rg->epochs.start && have >= c && c <= rg->log_end &&
        rg_epoch_table_epoch_at(&rg->epochs, c - 1) == rg->term) {
        rg->caught_up = true;
        maybe_recovered(rg);
    }
}

void rg_recovery_sample(struct replica_group *rg, const struct rg_message *m)
{
    if (!rg->recovering || m->to_incarnation != rg->config.incarnation || m->known_term < 0 ||
        (m->type != RG_MSG_PRE_VOTE_RESPONSE && m->type != RG_MSG_VOTE_RESPONSE))
        return;
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL)
        return;
    RG_ASSERT(m->known_term >= 0);
    if (!p->sampled || m->known_term > p->sampled_term)
        p->sampled_term = m->known_term;
    p->sampled = true;
    maybe_recovered(rg);
}

/* Asks every voter not yet heard for its term: a pre-vote for the next
 * term, which peers answer (granted or not). The replica stays a
 * follower: the answers only feed the floor. */
void rg_recovery_ask(struct replica_group *rg, struct rg_output *out)
{
    RG_ASSERT(rg->recovering);
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
    maybe_recovered(rg); /* a group of one needs no answer */
}

/* The term a campaign takes: above our term and above the vote floor. */
int64_t rg_next_term(const struct replica_group *rg)
{
    int64_t t = rg->term > rg->vote_floor ? rg->term : rg->vote_floor;
    RG_ASSERT(t >= rg->term);
    return t + 1;
}
