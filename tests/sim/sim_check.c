/*
 * The invariant checker. It looks only at what the simulated disks hold and
 * what the nodes said (commit offsets, roles, messages), never at the
 * core's reasoning, so a bug in the core cannot hide itself.
 *
 *  - at most one leader per epoch;
 *  - log matching: two logs with the same epoch at an offset are identical
 *    up to it (equal prefix hashes), and an epoch starts at one offset;
 *  - a committed offset never changes: every node's commit, when it moves,
 *    must agree with everything any node ever reported committed;
 *  - leader completeness: a leader of epoch T holds everything committed
 *    in epochs before T;
 *  - a node's commit never goes back (within an incarnation);
 *  - a node never reports durable more than its disk really holds;
 *  - the core's own view (log start and end, epoch table, durable end)
 *    matches disk.
 *
 * With retention a log starts at some offset: what lies below a node's log
 * start is no longer required to be there (it was committed, and the
 * committed prefix is remembered here), but everything at or after it must
 * obey the rules above; the sim keeps the prefix hash of the deleted entry
 * before the start, so "same prefix" still means the whole history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_world.h"

static const struct rg_epoch_run *find_run(const struct sim_log *log, int32_t epoch, int64_t *end)
{
    uint32_t lo = 0, hi = log->nruns;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->runs[mid].epoch < epoch)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == log->nruns || log->runs[lo].epoch != epoch)
        return NULL;
    *end = lo + 1 < log->nruns ? log->runs[lo + 1].start : sim_log_end(log);
    return &log->runs[lo];
}

/* The chain of the whole history through offset, if the log still knows
 * it (offset >= its start - 1). */
static bool chain_known(const struct sim_log *log, int64_t offset, uint64_t *chain)
{
    if (offset < log->head.start - 1 || offset >= sim_log_end(log))
        return false;
    *chain = sim_log_chain_at(log, offset);
    return true;
}

static uint64_t last_chain(const struct sim_log *log)
{
    if (log->n > 0)
        return log->e[log->n - 1].chain;
    return log->head.start > 0 ? log->head.chain : 0;
}

static void check_log_matching(struct sim_world *w, const struct sim_node *a,
                               const struct sim_node *b)
{
    const struct sim_log *la = &a->disk.current, *lb = &b->disk.current;
    for (uint32_t i = 0; i < la->nruns; i++) {
        int64_t end_a = i + 1 < la->nruns ? la->runs[i + 1].start : sim_log_end(la), end_b;
        const struct rg_epoch_run *rb = find_run(lb, la->runs[i].epoch, &end_b);
        if (rb == NULL)
            continue;
        /* The first run of a log that starts above 0 is clamped to its
         * start: the epoch may really start earlier. */
        int64_t sa = la->runs[i].start, sb = rb->start;
        bool ca = i == 0 && la->head.start > 0, cb = rb == lb->runs && lb->head.start > 0;
        if ((!ca && !cb && sa != sb) || (ca && !cb && sb > sa) || (!ca && cb && sa > sb))
            sim_fail(w, "log matching: epoch %d starts at %lld on node %d, %lld on node %d",
                     rb->epoch, (long long)sa, a->id, (long long)sb, b->id);
        int64_t o = (end_a < end_b ? end_a : end_b) - 1;
        if (o < (sa > sb ? sa : sb))
            continue; /* no offset of the epoch in both logs */
        if (sim_log_chain_at(la, o) != sim_log_chain_at(lb, o))
            sim_fail(w,
                     "log matching: nodes %d and %d have epoch %d at offset %lld but differ before",
                     a->id, b->id, rb->epoch, (long long)o);
    }
}

void check_node(struct sim_world *w, struct sim_node *n)
{
    /* The core sees the log as planned: written, plus queued writes. */
    const struct sim_log *log = &n->planned;
    if (n->host->up) {
        const struct replica_group *rg = &n->rg;
        if (replica_group_log_end(rg) != sim_log_end(log))
            sim_fail(w, "node %d: core log end %lld, disk log end %lld", n->id,
                     (long long)replica_group_log_end(rg), (long long)sim_log_end(log));
        if (replica_group_log_start(rg) != log->head.start ||
            replica_group_start_epoch(rg) != (log->head.start > 0 ? log->head.epoch : 0))
            sim_fail(w, "node %d: core log start %lld/%d, disk %lld/%d", n->id,
                     (long long)replica_group_log_start(rg), replica_group_start_epoch(rg),
                     (long long)log->head.start, log->head.epoch);
        if (replica_group_commit(rg) < log->head.start)
            sim_fail(w, "node %d: commit %lld below its log start %lld", n->id,
                     (long long)replica_group_commit(rg), (long long)log->head.start);
        int64_t durable = sim_io_durable_end(n);
        if (replica_group_durable_end(rg) > durable && !w->opt.end_to_end)
            sim_fail(w, "node %d: core believes [0,%lld) durable, disk has [0,%lld)", n->id,
                     (long long)replica_group_durable_end(rg), (long long)durable);
        bool same = rg->epochs.count == log->nruns;
        for (uint32_t i = 0; same && i < log->nruns; i++)
            same = rg->epochs.runs[i].epoch == log->runs[i].epoch &&
                   rg->epochs.runs[i].start == log->runs[i].start;
        if (!same)
            sim_fail(w, "node %d: core epoch table differs from the log's batches", n->id);
        if (replica_group_commit(rg) > replica_group_log_end(rg))
            sim_fail(w, "node %d: commit past log end", n->id);
    }
    for (int j = 0; j < w->nodes_total; j++)
        if (j != n->id)
            check_log_matching(w, n, &n->grp->nodes[j]);
}

static void grow_terms(struct sim_group *g, int64_t term)
{
    if (term < g->nterms)
        return;
    int64_t cap = g->nterms ? g->nterms : 64;
    while (cap <= term)
        cap *= 2;
    g->leader_of_term = realloc(g->leader_of_term, (size_t)cap * sizeof(int32_t));
    g->committed_in_term = realloc(g->committed_in_term, (size_t)cap * sizeof(int64_t));
    for (int64_t i = g->nterms; i < cap; i++) {
        g->leader_of_term[i] = -1;
        g->committed_in_term[i] = 0;
    }
    g->nterms = cap;
}

void check_commit(struct sim_world *w, struct sim_node *n, int64_t commit)
{
    struct sim_group *g = n->grp;
    const struct sim_log *log = &n->planned;
    if (commit < n->last_commit)
        sim_fail(w, "node %d: commit went back from %lld to %lld", n->id, (long long)n->last_commit,
                 (long long)commit);
    int64_t idx = sim_log_find(log, commit - 1);
    if (commit < log->head.start ||
        (commit > log->head.start && (idx < 0 || log->e[idx].base + log->e[idx].count != commit)))
        sim_fail(w, "node %d: commit %lld is not a batch end of its log [%lld,%lld)", n->id,
                 (long long)commit, (long long)log->head.start, (long long)sim_log_end(log));
    int64_t known = sim_log_end(&g->committed);
    int64_t overlap = commit < known ? commit : known;
    uint64_t chain;
    if (overlap > 0 && chain_known(log, overlap - 1, &chain) &&
        chain != sim_log_chain_at(&g->committed, overlap - 1))
        sim_fail(w, "node %d: committed prefix [0,%lld) differs from what was committed before",
                 n->id, (long long)overlap);
    if (commit > known) {
        /* Retention deletes committed entries only, and everything
         * committed was reported here first. */
        if (known < log->head.start)
            sim_fail(w, "node %d: commits %lld but its log starts at %lld, above the known %lld",
                     n->id, (long long)commit, (long long)log->head.start, (long long)known);
        int64_t i = known == log->head.start ? 0 : sim_log_find(log, known - 1) + 1;
        for (; i <= idx; i++) {
            sim_log_push(&g->committed, &log->e[i]);
            if (log->e[i].kind == SIM_DATA)
                w->res->commits++;
        }
    }
    n->last_commit = commit;
    /* Remember the term the commit was seen in: leader completeness only
     * promises it to leaders of later terms. */
    int64_t term = replica_group_term(&n->rg);
    grow_terms(g, term);
    if (commit > g->committed_in_term[term])
        g->committed_in_term[term] = commit;
}

void check_new_leader(struct sim_world *w, struct sim_node *n, int64_t term)
{
    struct sim_group *g = n->grp;
    grow_terms(g, term);
    if (g->leader_of_term[term] != -1 && g->leader_of_term[term] != n->id)
        sim_fail(w, "two leaders in epoch %lld: nodes %d and %d", (long long)term,
                 g->leader_of_term[term], n->id);
    g->leader_of_term[term] = n->id;
    int64_t known = 0;
    for (int64_t t = 0; t < term; t++)
        if (g->committed_in_term[t] > known)
            known = g->committed_in_term[t];
    const struct sim_log *log = &n->planned; /* its log as it leads */
    uint64_t chain;
    if (known > 0 &&
        (sim_log_end(log) < known || (chain_known(log, known - 1, &chain) &&
                                      chain != sim_log_chain_at(&g->committed, known - 1))))
        sim_fail(w, "new leader %d of epoch %lld lacks committed entries below %lld", n->id,
                 (long long)term, (long long)known);
}

void check_message(struct sim_world *w, struct sim_node *n, const struct rg_message *m)
{
    if ((m->type != RG_MSG_APPEND_RESPONSE && m->type != RG_MSG_HEARTBEAT_RESPONSE) ||
        w->opt.end_to_end)
        return;
    int64_t durable = sim_io_durable_end(n);
    if (m->success && m->durable > durable)
        sim_fail(w, "node %d reports [0,%lld) durable but its disk holds [0,%lld)", n->id,
                 (long long)m->durable, (long long)durable);
}

/*
 * Healed cluster: one leader whose term every member shares and follows,
 * every member's log identical to the leader's byte for byte, and all of it
 * committed everywhere, with the committed prefix in it.
 */
static bool group_converged(struct sim_world *w, struct sim_group *g, char *why, size_t why_len)
{
    struct sim_node *leader = NULL;
    for (int i = 0; i < w->nodes_total; i++) {
        struct sim_node *n = &g->nodes[i];
        if (n->host->up && replica_group_role(&n->rg) == RG_ROLE_LEADER &&
            (leader == NULL || replica_group_term(&n->rg) > replica_group_term(&leader->rg)))
            leader = n;
    }
    if (leader == NULL) {
        snprintf(why, why_len, "no leader");
        return false;
    }
    const struct replica_group *lrg = &leader->rg;
    const struct sim_log *llog = &leader->disk.current;
    if (replica_group_transfer_target(lrg) != RG_NO_NODE) {
        snprintf(why, why_len, "leader %d is transferring leadership", leader->id);
        return false;
    }
    if (replica_group_commit(lrg) != replica_group_log_end(lrg)) {
        snprintf(why, why_len, "leader %d commit %lld < log end %lld", leader->id,
                 (long long)replica_group_commit(lrg), (long long)replica_group_log_end(lrg));
        return false;
    }
    const struct rg_membership *m = replica_group_membership(lrg);
    for (uint32_t k = 0; k < m->voter_count + m->learner_count; k++) {
        int id = k < m->voter_count ? m->voters[k] : m->learners[k - m->voter_count];
        struct sim_node *n = &g->nodes[id];
        const struct sim_log *log = &n->disk.current;
        if (!n->host->up || replica_group_term(&n->rg) != replica_group_term(lrg) ||
            replica_group_leader(&n->rg) != leader->id) {
            snprintf(why, why_len, "node %d (up %d) term %lld leader %d, leader %d term %lld", id,
                     n->host->up, (long long)replica_group_term(&n->rg),
                     replica_group_leader(&n->rg), leader->id, (long long)replica_group_term(lrg));
            return false;
        }
        if (sim_log_end(log) != sim_log_end(llog) || last_chain(log) != last_chain(llog)) {
            snprintf(why, why_len, "node %d log end %lld differs from leader's %lld", id,
                     (long long)sim_log_end(log), (long long)sim_log_end(llog));
            return false;
        }
        if (replica_group_commit(&n->rg) != sim_log_end(llog)) {
            snprintf(why, why_len, "node %d commit %lld, log end %lld", id,
                     (long long)replica_group_commit(&n->rg), (long long)sim_log_end(llog));
            return false;
        }
    }
    int64_t known = sim_log_end(&g->committed);
    uint64_t chain;
    if (known > 0 && (!chain_known(llog, known - 1, &chain) ||
                      chain != sim_log_chain_at(&g->committed, known - 1)))
        sim_fail(w, "converged log lacks committed entries below %lld", (long long)known);
    return true;
}

bool check_converged(struct sim_world *w, char *why, size_t why_len)
{
    for (int g = 0; g < w->ngroups; g++) {
        if (!group_converged(w, &w->groups[g], why, why_len)) {
            size_t n = strlen(why);
            snprintf(why + n, why_len - n, " (group %d)", g);
            return false;
        }
    }
    return true;
}
