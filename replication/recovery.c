/*
 * Disk incarnations, and the recovery of a replica whose disk is new or
 * was wiped.
 *
 * A wiped replica forgot its votes and its log. Voting again at once could
 * elect two leaders in one epoch (it may vote twice in a term it forgot)
 * or a leader without committed entries (its empty log made it one of the
 * copies a commit counted on). So a replica that starts from a zeroed hard
 * state is RECOVERING: it neither votes nor campaigns until
 *  1. it knows a VOTE FLOOR: the highest term among the answers of enough
 *     other voters to this incarnation (a reply echoes to_incarnation, so
 *     it was sent after the restart) that every quorum it could have voted
 *     with before the wipe has a member among them: any term it voted in
 *     is <= the floor, and it never votes or campaigns in one again;
 *  2. and its durable log, verified by a leader of the current term, holds
 *     that leader's commit offset with an entry of the leader's own epoch
 *     before it, so it holds everything committed before the wipe (leader
 *     completeness). A floor of 0 means nothing was ever elected, so
 *     nothing was committed.
 * Both facts are persisted in the hard state (recovering, vote_floor).
 * Peers see the new incarnation in its messages: a leader drops the
 * progress it knew of the old disk (acks of the old disk no longer hold).
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

/* Voters other than self that must have answered: enough that every
 * quorum containing self meets them (n_others - (quorum - 1) + 1). */
static uint32_t samples_needed(const struct replica_group *rg)
{
    uint32_t voters = rg_voter_count(rg);
    uint32_t others = rg_self_is_voter(rg) ? voters - 1 : voters;
    uint32_t quorum = rg_quorum(rg);
    uint32_t need = others + 2 > quorum ? others + 2 - quorum : 0;
    return need < others ? need : others;
}

void rg_recovery_check(struct replica_group *rg)
{
    if (!rg->recovering || !rg->floor_known)
        return;
    bool caught_up = rg->vote_floor == 0;
    if (!caught_up && rg->role == RG_ROLE_FOLLOWER && rg->leader != RG_NO_NODE) {
        int64_t c = rg->leader_commit;
        int64_t have = rg->verified_end < rg->durable_end ? rg->verified_end : rg->durable_end;
        caught_up = c > rg->epochs.start && have >= c && c <= rg->log_end &&
                    rg_epoch_table_epoch_at(&rg->epochs, c - 1) == rg->term;
    }
    if (caught_up) {
        RG_ASSERT(rg->vote_floor >= 0);
        rg->recovering = false;
    }
}

void rg_recovery_sample(struct replica_group *rg, const struct rg_message *m)
{
    if (!rg->recovering || rg->floor_known || m->to_incarnation != rg->config.incarnation)
        return;
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL || !p->voter)
        return;
    RG_ASSERT(m->term >= 0);
    if (m->term > rg->vote_floor)
        rg->vote_floor = m->term;
    p->term_sampled = true;
    uint32_t sampled = 0;
    for (uint32_t i = 0; i < rg->peer_count; i++)
        if (rg->peers[i].voter && rg->peers[i].term_sampled)
            sampled++;
    if (sampled >= samples_needed(rg)) {
        rg->floor_known = true;
        rg_recovery_check(rg);
    }
}

/* Asks every voter for its term: a pre-vote for the next term, which
 * peers answer (granted or not) with a term at least theirs. The replica
 * stays a follower: the answers only feed the floor. */
void rg_recovery_ask(struct replica_group *rg, struct rg_output *out)
{
    RG_ASSERT(rg->recovering);
    rg->asked = true;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        struct rg_peer *p = &rg->peers[i];
        if (!p->voter || p->term_sampled)
            continue;
        struct rg_message *m = rg_out_message(rg, out, RG_MSG_PRE_VOTE, p->id);
        m->term = rg->term + 1;
        m->log_end = rg->log_end;
        m->last_epoch = rg_epoch_table_last_epoch(&rg->epochs);
    }
    if (samples_needed(rg) == 0) {
        rg->floor_known = true;
        rg_recovery_check(rg);
    }
}

/* The term a campaign takes: above our term and above the vote floor. */
int64_t rg_next_term(const struct replica_group *rg)
{
    int64_t t = rg->term > rg->vote_floor ? rg->term : rg->vote_floor;
    RG_ASSERT(t >= rg->term);
    return t + 1;
}
