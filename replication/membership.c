/*
 * Membership: which replicas vote, which only learn, and the small history
 * of config batches that lets a follower undo an uncommitted change when a
 * new leader truncates it away. Raft's single-server rule keeps this safe:
 * a config takes effect as soon as it is in the log, and a leader starts a
 * new change only once the previous one is committed, so two consecutive
 * configs always share a majority.
 */
#include <string.h>

#include "rg_internal.h"

static bool contains(const int32_t *ids, uint32_t n, int32_t node)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == node)
            return true;
    return false;
}

bool rg_membership_has_voter(const struct rg_membership *m, int32_t node)
{
    return contains(m->voters, m->voter_count, node);
}

bool rg_membership_has_learner(const struct rg_membership *m, int32_t node)
{
    return contains(m->learners, m->learner_count, node);
}

bool rg_membership_valid(const struct rg_membership *m)
{
    if (m->voter_count == 0 || m->voter_count > RG_MAX_NODES ||
        m->voter_count + m->learner_count > RG_MAX_NODES)
        return false;
    for (uint32_t i = 0; i < m->voter_count; i++) {
        if (m->voters[i] < 0 || contains(m->voters, i, m->voters[i]))
            return false;
    }
    for (uint32_t i = 0; i < m->learner_count; i++) {
        if (m->learners[i] < 0 || contains(m->learners, i, m->learners[i]) ||
            rg_membership_has_voter(m, m->learners[i]))
            return false;
    }
    return true;
}

struct rg_peer *rg_peer_find(struct replica_group *rg, int32_t node)
{
    for (uint32_t i = 0; i < rg->peer_count; i++)
        if (rg->peers[i].id == node)
            return &rg->peers[i];
    return NULL;
}

/*
 * Rebuilds peers[] for the config in effect. Progress of a replica that
 * stays is kept (a promotion must not restart its catch-up); a new one
 * starts probing from our log end.
 */
void rg_peers_sync(struct replica_group *rg)
{
    const struct rg_membership *m = replica_group_membership(rg);
    struct rg_peer old[RG_MAX_NODES];
    uint32_t old_count = rg->peer_count;
    memcpy(old, rg->peers, sizeof(old[0]) * old_count);

    rg->peer_count = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        const int32_t *ids = pass == 0 ? m->voters : m->learners;
        uint32_t n = pass == 0 ? m->voter_count : m->learner_count;
        for (uint32_t i = 0; i < n; i++) {
            if (ids[i] == rg->config.self)
                continue;
            struct rg_peer *p = &rg->peers[rg->peer_count++];
            bool found = false;
            for (uint32_t j = 0; j < old_count; j++) {
                if (old[j].id == ids[i]) {
                    *p = old[j];
                    found = true;
                    break;
                }
            }
            if (!found) {
                memset(p, 0, sizeof(*p));
                p->id = ids[i];
                rg_reset_peer(rg, p);
            }
            p->voter = pass == 0;
        }
    }
}

void rg_config_push(struct replica_group *rg, const struct rg_config_entry *entry)
{
    RG_ASSERT(rg_membership_valid(&entry->membership));
    RG_ASSERT(entry->offset > rg->configs[rg->config_count - 1].offset);
    if (rg->config_count == RG_CONFIG_HISTORY) {
        /* Forget the oldest. Safe because a log holds at most one config
         * that is not committed (a leader starts a change only once the
         * previous one and an entry of its own epoch are committed, and
         * every log is a prefix of some leader's log): a truncation can
         * undo only the newest, never reach below configs[1]. This replica
         * may not know that configs[1] is committed (its commit offset can
         * lag); rg_config_truncate asserts it never has to go that far.
         * Once the log starts above 0, configs[0] is the config in effect
         * at the log start (INSTALL_START sends it): the oldest of the
         * others goes instead. */
        uint32_t drop = rg->epochs.start > 0 ? 1 : 0;
        memmove(&rg->configs[drop], &rg->configs[drop + 1],
                sizeof(rg->configs[0]) * (RG_CONFIG_HISTORY - 1 - drop));
        rg->config_count--;
    }
    rg->configs[rg->config_count++] = *entry;
    rg->config_version++;
    rg_peers_sync(rg);
}

/*
 * The log now starts at start. Configs below it are committed and only the
 * newest of them still matters, as the one in effect at the start; the
 * caller names it (start_config, NULL: none, the bootstrap) because the
 * history may have forgotten it (a restart keeps the bootstrap and the
 * newest few only). False if the history knows a newer one below start.
 */
bool rg_config_set_start(struct replica_group *rg, int64_t start,
                         const struct rg_config_entry *start_config)
{
    struct rg_config_entry base = {.offset = -1, .membership = rg->config.bootstrap};
    if (start_config != NULL)
        base = *start_config;
    uint32_t below = 0;
    while (below < rg->config_count && rg->configs[below].offset < start)
        below++;
    if (below > 0 && rg->configs[below - 1].offset > base.offset)
        return false;
    /* Keep [base, configs at or after start...]; when the history is full
     * of configs at or after start, its oldest (committed: start <= commit
     * and only the newest may be uncommitted) makes room. */
    uint32_t keep_from = below > 0 ? below : (rg->config_count == RG_CONFIG_HISTORY ? 1 : 0);
    struct rg_config_entry kept[RG_CONFIG_HISTORY];
    uint32_t n = 0;
    kept[n++] = base;
    for (uint32_t i = keep_from; i < rg->config_count; i++)
        kept[n++] = rg->configs[i];
    RG_ASSERT(n <= RG_CONFIG_HISTORY);
    bool same_effect = kept[n - 1].offset == rg->configs[rg->config_count - 1].offset;
    memcpy(rg->configs, kept, sizeof(kept[0]) * n);
    rg->config_count = n;
    if (!same_effect) {
        rg->config_version++;
        rg_peers_sync(rg);
    }
    return true;
}

/* A follower's log restarts at the leader's log start: the config in
 * effect there, as the leader sent it, is all the history left. */
void rg_config_reset(struct replica_group *rg, const struct rg_config_entry *entry)
{
    RG_ASSERT(rg_membership_valid(&entry->membership));
    rg->configs[0] = *entry;
    rg->config_count = 1;
    rg->config_version++;
    rg_peers_sync(rg);
}

/* The config in effect at the log start - 1: the newest below it. */
const struct rg_config_entry *rg_config_at_start(const struct replica_group *rg)
{
    const struct rg_config_entry *found = NULL;
    for (uint32_t i = 0; i < rg->config_count && rg->configs[i].offset < rg->epochs.start; i++)
        found = &rg->configs[i];
    RG_ASSERT(found != NULL); /* configs[0] is kept for this (rg_config_push) */
    return found;
}

void rg_config_truncate(struct replica_group *rg, int64_t end)
{
    bool changed = false;
    while (rg->configs[rg->config_count - 1].offset >= end) {
        /* The bootstrap (offset -1) is never truncated, and an older config
         * must be known whenever a newer one is dropped (see above). */
        RG_ASSERT(rg->config_count > 1);
        rg->config_count--;
        changed = true;
    }
    if (changed) {
        rg->config_version++;
        rg_peers_sync(rg);
    }
}

uint32_t rg_voter_count(const struct replica_group *rg)
{
    return replica_group_membership(rg)->voter_count;
}

uint32_t rg_quorum(const struct replica_group *rg)
{
    return rg_voter_count(rg) / 2 + 1;
}

bool rg_self_is_member(const struct replica_group *rg)
{
    const struct rg_membership *m = replica_group_membership(rg);
    return rg_membership_has_voter(m, rg->config.self) ||
           rg_membership_has_learner(m, rg->config.self);
}

bool rg_self_is_voter(const struct replica_group *rg)
{
    return rg_membership_has_voter(replica_group_membership(rg), rg->config.self);
}

bool replica_group_is_voter(const struct replica_group *rg, int32_t node)
{
    return rg_membership_has_voter(replica_group_membership(rg), node);
}

const struct rg_peer *replica_group_peer(const struct replica_group *rg, int32_t node)
{
    return rg_peer_find((struct replica_group *)rg, node);
}
