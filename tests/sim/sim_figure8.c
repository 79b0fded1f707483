/*
 * The figure-8 adversary (--figure8): a seeded fault schedule that steers
 * the cluster into Raft's figure 8 again and again, so that a leader which
 * commits an entry of an older epoch by counting replicas (the
 * commit_previous_epoch fault) is caught by the ordinary invariants.
 *
 * Random schedules almost never get there: a new leader's epoch marker
 * follows the old entries at once, and the window in which a quorum holds
 * the old entries durably but not the marker is a few milliseconds wide.
 * The adversary is an ordinary network and crash schedule, only aimed:
 *
 *   1. CUT_OLD: the leader A of epoch e1, with a minority of followers, is
 *      cut off from the rest. Clients keep writing to A, so the minority
 *      holds entries of e1 that the majority lacks.
 *   2. The majority elects B (epoch e2). B is cut off the moment it wins,
 *      so its marker (the only entry of e2) stays on B alone.
 *   3. REJOIN: the minority rejoins everyone but B. Its logs are the
 *      longest, so one of its nodes, A', wins epoch e3 and replicates the
 *      e1 entries and then its marker. The network cuts APPENDs at the
 *      start of A''s own epoch and delays those that carry the marker
 *      (sometimes a follower crashes just after writing it): the e1 entries
 *      become durable on a quorum while the marker is not.
 *   4. STRIKE: the moment A' first advances its commit, it is cut off (or
 *      crashes) and B rejoins. A correct A' commits only with its marker
 *      durable on a quorum, so no quorum votes for B (last epoch e2 < e3).
 *      A faulty A' committed the e1 entries alone: B (last epoch e2 > e1)
 *      wins epoch e4 without them, and the checker sees a new leader
 *      lacking committed entries.
 *
 * Each step has a deadline; an attempt that goes another way (someone else
 * wins, a timeout) heals the network and a new attempt starts later. Every
 * choice comes from the world's PRNG, so a seed replays exactly.
 */
#include <string.h>

#include "sim_world.h"

#define F8_STEP_MS 10

static bool in_mask(uint32_t mask, int node)
{
    return (mask >> node) & 1u;
}

/* Cuts every link between the nodes of mask and the others. */
static void cut_mask(struct sim_world *w, uint32_t mask)
{
    for (int i = 0; i < w->nodes_total; i++)
        for (int j = 0; j < w->nodes_total; j++)
            if (in_mask(mask, i) != in_mask(mask, j))
                w->blocked[i][j] = true;
}

/* Heals every link except those of node `out`, which stays cut off. */
static void heal_except(struct sim_world *w, int out)
{
    sim_heal_network(w);
    sim_isolate(w, out);
}

static void end_attempt(struct sim_world *w, const char *why)
{
    sim_trace(w, "FIGURE8 attempt %d ends: %s", w->f8.attempts, why);
    sim_heal_network(w);
    w->f8.state = F8_IDLE;
    w->f8.deadline = w->now + sim_rand_range(w, 50, 300);
}

/* First offset of the epoch `term` in n's log (its marker), or -1. */
static int64_t epoch_start(const struct sim_node *n, int64_t term)
{
    const struct rg_epoch_table *t = &n->rg.epochs;
    if (t->count == 0 || t->runs[t->count - 1].epoch != term)
        return -1;
    return t->runs[t->count - 1].start;
}

static void start_attempt(struct sim_world *w)
{
    struct sim_node *l = sim_find_leader(w);
    if (l == NULL)
        return;
    const struct rg_membership *m = replica_group_membership(&l->rg);
    if (!rg_membership_has_voter(m, l->id))
        return;
    /* The old leader plus (voters - 1) / 2 - 1 followers: a minority whose
     * complement is exactly a quorum, so the in-between leader needs all
     * of the majority and the old side cannot lose its extra entries to a
     * majority of shorter logs. */
    uint32_t minority = 1u << l->id;
    int extra = ((int)m->voter_count - 1) / 2 - 1;
    int start = sim_rand_range(w, 0, (int)m->voter_count - 1);
    for (uint32_t k = 0; k < m->voter_count && extra > 0; k++) {
        int id = m->voters[(start + (int)k) % (int)m->voter_count];
        if (id != l->id) {
            minority |= 1u << id;
            extra--;
        }
    }
    int attempts = w->f8.attempts, strikes = w->f8.strikes;
    memset(&w->f8, 0, sizeof(w->f8));
    w->f8.attempts = attempts + 1;
    w->f8.strikes = strikes;
    w->f8.state = F8_CUT_OLD;
    w->f8.minority = minority;
    w->f8.old_leader = l->id;
    w->f8.term_old = replica_group_term(&l->rg);
    w->f8.deadline = w->now + 1500;
    cut_mask(w, minority);
    sim_trace(w, "FIGURE8 attempt %d: cut off old leader n%d (minority mask %#x), epoch %lld",
              w->f8.attempts, l->id, minority, (long long)w->f8.term_old);
}

/* Periodic: starts attempts and enforces deadlines. */
void f8_step(struct sim_world *w)
{
    switch (w->f8.state) {
    case F8_IDLE:
        if (w->now >= w->f8.deadline)
            start_attempt(w);
        break;
    case F8_HOLD_NEW:
        if (w->now >= w->f8.deadline) {
            /* B's marker is durable by now (or B crashed without it). */
            heal_except(w, w->f8.between);
            w->f8.state = F8_REJOIN;
            w->f8.deadline = w->now + 1500;
            sim_trace(w, "FIGURE8 old side rejoins, n%d stays cut off", w->f8.between);
        }
        break;
    default:
        if (w->now >= w->f8.deadline)
            end_attempt(w, "deadline");
        break;
    }
    sim_schedule_fault(w, w->now + F8_STEP_MS);
}

void f8_on_leader(struct sim_world *w, struct sim_node *n, int64_t term)
{
    if (!w->opt.figure8 || !w->faults_on)
        return;
    struct f8_script *s = &w->f8;
    switch (s->state) {
    case F8_CUT_OLD:
        if (in_mask(s->minority, n->id) || term <= s->term_old)
            return;
        s->between = n->id;
        s->term_between = term;
        sim_isolate(w, n->id); /* its heartbeats and marker are dropped in flight */
        s->state = F8_HOLD_NEW;
        s->deadline = w->now + sim_rand_range(w, 20, 120);
        sim_trace(w, "FIGURE8 in-between leader n%d (epoch %lld) cut off at once", n->id,
                  (long long)term);
        /* Sometimes the old leader dies too, keeping only what it synced. */
        if (sim_chance(w, 30))
            sim_schedule_crash(w, &w->nodes[s->old_leader], 0);
        break;
    case F8_REJOIN:
        if (term <= s->term_between)
            return;
        if (!in_mask(s->minority, n->id)) {
            end_attempt(w, "a node of the majority won");
            return;
        }
        s->old_side_leader = n->id;
        s->term_old_side = term;
        s->marker_at = epoch_start(n, term);
        s->state = F8_OLD_LEADS;
        s->deadline = w->now + 1000;
        sim_trace(w, "FIGURE8 old side leader n%d (epoch %lld), marker at %lld", n->id,
                  (long long)term, (long long)s->marker_at);
        break;
    case F8_STRIKE:
        if (term > s->term_old_side)
            end_attempt(w, "a leader after the strike");
        break;
    default:
        break;
    }
}

void f8_on_commit(struct sim_world *w, struct sim_node *n, int64_t commit)
{
    struct f8_script *s = &w->f8;
    if (!w->opt.figure8 || !w->faults_on || s->state != F8_OLD_LEADS ||
        n->id != s->old_side_leader || replica_group_term(&n->rg) != s->term_old_side ||
        replica_group_role(&n->rg) != RG_ROLE_LEADER)
        return;
    s->strikes++;
    s->state = F8_STRIKE;
    s->deadline = w->now + 1000;
    sim_trace(w, "FIGURE8 strike: n%d committed %lld (marker at %lld); cut it off, n%d rejoins",
              n->id, (long long)commit, (long long)s->marker_at, s->between);
    heal_except(w, n->id);
    /* Its last messages (the commit offset) are dropped in flight; or it
     * dies, keeping only what it synced. */
    if (sim_chance(w, 30))
        sim_schedule_crash(w, n, 0);
}

void f8_on_append_written(struct sim_world *w, struct sim_node *n, int64_t from, int64_t to)
{
    struct f8_script *s = &w->f8;
    if (!w->opt.figure8 || !w->faults_on || s->state != F8_OLD_LEADS ||
        n->id == s->old_side_leader || s->marker_at < from || s->marker_at >= to)
        return;
    /* Crash timing around the marker: the follower wrote it but dies
     * before its sync, having acknowledged the older entries durable. */
    if (sim_chance(w, 30)) {
        sim_trace(w, "FIGURE8 n%d wrote the marker: crash before its sync", n->id);
        sim_schedule_crash(w, n, sim_rand_range(w, 0, 3));
    }
}

int f8_append_delay(struct sim_world *w, const struct rg_message *m)
{
    if (!w->opt.figure8 || m->type != RG_MSG_APPEND || m->end == m->prev_end)
        return 0;
    int64_t s = epoch_start(&w->nodes[m->from], m->term);
    if (s < m->prev_end || s >= m->end || !sim_chance(w, 70))
        return 0;
    return sim_rand_range(w, 20, 200);
}

int64_t f8_append_budget(struct sim_world *w, const struct sim_node *n, const struct rg_message *m)
{
    if (!w->opt.figure8)
        return INT64_MAX;
    int64_t s = epoch_start(n, m->term);
    if (s <= m->prev_end || s >= m->end || !sim_chance(w, 80))
        return INT64_MAX;
    /* Batches in [prev_end, s). */
    const struct sim_log *log = &n->disk.current;
    return sim_log_find_base(log, s) - sim_log_find_base(log, m->prev_end);
}
