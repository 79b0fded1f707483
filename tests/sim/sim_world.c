/*
 * The simulation engine: one event queue ordered by (virtual time, seq),
 * nodes that run the real core, a network that delays, drops, duplicates,
 * reorders and partitions, disks that lose unsynced writes in a crash, and
 * clients, admins and a fault injector that all draw from one PRNG.
 *
 * A run: CHAOS (faults, clients, leadership transfers and membership
 * changes) then heal and CONVERGE within a bound; then two scenarios on
 * the healthy cluster: a follower isolated and rejoined must not depose the
 * leader (pre-vote), and an isolated leader must step down (check-quorum).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stddef.h>

#include "sim_world.h"

#define OUT_MESSAGES (RG_MAX_NODES * 3 * 4)
#define LIVENESS_BOUND_MS 10000
#define MAX_STEPS 5000000

/* ---------------------------------------------------------------- rng, trace, fail */

uint64_t sim_rand(struct sim_world *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int sim_rand_range(struct sim_world *w, int lo, int hi)
{
    return lo + (int)(sim_rand(w) % (uint64_t)(hi - lo + 1));
}

static bool chance(struct sim_world *w, int pct)
{
    return sim_rand_range(w, 0, 99) < pct;
}

bool sim_chance(struct sim_world *w, int pct)
{
    return chance(w, pct);
}

void sim_fail(struct sim_world *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(w->res->reason, sizeof(w->res->reason),
                     "t=%lldms step=%llu: ", (long long)w->now, (unsigned long long)w->res->steps);
    vsnprintf(w->res->reason + n, sizeof(w->res->reason) - (size_t)n, fmt, ap);
    va_end(ap);
    w->res->failed = true;
    if (w->opt.trace)
        printf("FAILED: %s\n", w->res->reason);
    longjmp(w->fail_jmp, 1);
}

void sim_trace(struct sim_world *w, const char *fmt, ...)
{
    if (!w->opt.trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("%7lld ", (long long)w->now);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* The core's invariant assertions end the seed, not the process (each
 * group's handler gets the world as its context). */
static void on_core_assert(void *ctx, const char *file, int line, const char *expr)
{
    sim_fail(ctx, "core invariant violated at %s:%d: %s", file, line, expr);
}

/* ---------------------------------------------------------------- event queue (binary heap) */

static bool before(const struct sim_event *a, const struct sim_event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void schedule(struct sim_world *w, struct sim_event ev)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 256;
        w->heap = realloc(w->heap, w->capheap * sizeof(*w->heap));
    }
    ev.seq = w->seq++;
    uint32_t i = w->nheap++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(&ev, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = ev;
}

static struct sim_event pop(struct sim_world *w)
{
    struct sim_event top = w->heap[0];
    struct sim_event last = w->heap[--w->nheap];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->nheap > 0)
        w->heap[i] = last;
    return top;
}

static void schedule_at(struct sim_world *w, int64_t time, enum sim_event_type type, int node)
{
    struct sim_event ev = {.time = time, .type = type, .node = node};
    if (node >= 0)
        ev.inc = w->hosts[node].inc;
    schedule(w, ev);
}

static void schedule_tick(struct sim_world *w, struct sim_host *h, int64_t time)
{
    struct sim_event ev = {
        .time = time, .type = EV_TICK, .node = h->id, .inc = h->inc, .covers = h->tick_gen};
    schedule(w, ev);
}

/* ---------------------------------------------------------------- network */

static void free_msg(struct sim_msg *sm)
{
    free(sm->entries);
    free(sm->hbs);
    free(sm);
}

void sim_free_msg(struct sim_msg *sm)
{
    free_msg(sm);
}

void sim_schedule(struct sim_world *w, struct sim_event ev)
{
    schedule(w, ev);
}

static struct sim_msg *copy_msg(const struct sim_msg *sm)
{
    struct sim_msg *c = malloc(sizeof(*c));
    *c = *sm;
    c->entries = NULL;
    c->hbs = NULL;
    if (sm->n) {
        c->entries = malloc(sm->n * sizeof(*sm->entries));
        memcpy(c->entries, sm->entries, sm->n * sizeof(*sm->entries));
    }
    if (sm->nhb) {
        c->hbs = malloc(sm->nhb * sizeof(*sm->hbs));
        memcpy(c->hbs, sm->hbs, sm->nhb * sizeof(*sm->hbs));
    }
    return c;
}

static int message_delay(struct sim_world *w)
{
    if (chance(w, w->slow_pct))
        return sim_rand_range(w, w->delay_max, w->delay_max * 5);
    return sim_rand_range(w, w->delay_min, w->delay_max);
}

static void send(struct sim_world *w, struct sim_msg *sm)
{
    int from = sm->m.from, to = sm->m.to;
    if (to < 0 || to >= w->nodes_total || w->blocked[from][to] || chance(w, w->loss_pct)) {
        free_msg(sm);
        return;
    }
    if (chance(w, w->dup_pct)) {
        struct sim_event dup = {
            .time = w->now + message_delay(w), .type = EV_DELIVER, .node = to, .msg = copy_msg(sm)};
        schedule(w, dup);
    }
    struct sim_event ev = {.time = w->now + message_delay(w) + f8_append_delay(w, &sm->m),
                           .type = EV_DELIVER,
                           .node = to,
                           .msg = sm};
    schedule(w, ev);
}

void sim_send(struct sim_world *w, struct sim_msg *sm)
{
    send(w, sm);
}

/* ---------------------------------------------------------------- output processing */

static struct rg_output *out_begin(struct sim_world *w)
{
    if (w->out_depth >= 3)
        sim_fail(w, "output recursion too deep");
    struct rg_output *out = &w->outs[w->out_depth];
    rg_output_init(out, w->out_msgs[w->out_depth], OUT_MESSAGES, w->out_ops[w->out_depth], 8);
    rg_output_set_heartbeats(out, w->out_hbs[w->out_depth], RG_MAX_NODES * 4);
    w->out_depth++;
    return out;
}

static void out_end(struct sim_world *w, struct rg_output *out)
{
    (void)out;
    w->out_depth--;
}

struct rg_output *sim_out_begin(struct sim_world *w)
{
    return out_begin(w);
}

void sim_out_end(struct sim_world *w, struct rg_output *out)
{
    out_end(w, out);
}

static void start_sync(struct sim_world *w, struct sim_node *n)
{
    if (n->disk.sync_covers > 0 || n->disk.npending == 0)
        return;
    n->disk.sync_covers = n->disk.npending;
    struct sim_event ev = {.time = w->now + sim_rand_range(w, 1, 15),
                           .type = EV_SYNC_DONE,
                           .node = n->id,
                           .group = n->group,
                           .inc = n->host->inc,
                           .covers = n->disk.npending};
    schedule(w, ev);
}

static void process(struct sim_world *w, struct sim_node *n, struct rg_output *out);

static void issue_append(struct sim_world *w, struct sim_node *n, const struct sim_entry *e)
{
    struct sim_op op = {.type = SIM_OP_APPEND, .entry = *e};
    sim_io_issue(w, n, &op);
}

/* Log ops go to the write queue; checked against the log as planned. */
static void apply_ops(struct sim_world *w, struct sim_node *n, struct rg_output *out)
{
    for (uint32_t i = 0; i < out->op_count; i++) {
        const struct rg_log_op *op = &out->ops[i];
        struct sim_entry e;
        memset(&e, 0, sizeof(e));
        switch (op->type) {
        case RG_LOG_TRUNCATE: {
            if (sim_log_find_base(&n->planned, op->offset) < 0)
                sim_fail(w, "node %d: truncate to %lld, not a batch boundary", n->id,
                         (long long)op->offset);
            sim_trace(w, "  g%d n%d truncate to %lld", n->group, n->id, (long long)op->offset);
            struct sim_op t = {.type = SIM_OP_TRUNCATE, .offset = op->offset};
            sim_io_issue(w, n, &t);
            break;
        }
        case RG_LOG_APPEND_RECEIVED: {
            const struct sim_msg *sm = op->payload;
            int64_t at = op->offset;
            if (at != sim_log_end(&n->planned))
                sim_fail(w, "node %d: append at %lld but log ends at %lld", n->id, (long long)at,
                         (long long)sim_log_end(&n->planned));
            for (uint32_t k = 0; k < sm->n; k++) {
                const struct sim_entry *src = &sm->entries[k];
                if (src->base < op->offset || src->base >= op->to)
                    continue;
                if (src->base != at)
                    sim_fail(w, "node %d: append range starts inside a batch", n->id);
                issue_append(w, n, src);
                at = src->base + src->count;
            }
            if (at != op->to)
                sim_fail(w, "node %d: append [%lld,%lld) but batches end at %lld", n->id,
                         (long long)op->offset, (long long)op->to, (long long)at);
            sim_trace(w, "  g%d n%d append [%lld,%lld)", n->group, n->id, (long long)op->offset,
                      (long long)op->to);
            f8_on_append_written(w, n, op->offset, op->to);
            break;
        }
        case RG_LOG_RESET: {
            const struct sim_msg *sm = op->payload;
            if (sm == NULL || sm->head.start != op->offset || sm->head.epoch != op->epoch)
                sim_fail(w, "node %d: reset to %lld/%d does not match the INSTALL_START", n->id,
                         (long long)op->offset, op->epoch);
            if (sm->head.has_config ? sm->head.config.offset != op->config_offset
                                    : op->config_offset != -1)
                sim_fail(w, "node %d: reset config offset %lld", n->id,
                         (long long)op->config_offset);
            sim_trace(w, "  g%d n%d reset: log restarts at %lld (epoch before %d)", n->group, n->id,
                      (long long)op->offset, op->epoch);
            struct sim_op r = {.type = SIM_OP_RESET, .head = sm->head};
            sim_io_issue(w, n, &r);
            break;
        }
        case RG_LOG_APPEND_MARKER:
        case RG_LOG_APPEND_CONFIG:
            e.base = op->offset;
            e.count = 1;
            e.epoch = op->epoch;
            e.id = ++w->next_id;
            e.kind = op->type == RG_LOG_APPEND_MARKER ? SIM_MARKER : SIM_CONFIG;
            e.membership = op->membership;
            if (e.base != sim_log_end(&n->planned))
                sim_fail(w, "node %d: marker/config not at log end", n->id);
            issue_append(w, n, &e);
            sim_trace(w, "  g%d n%d append %s at %lld epoch %d", n->group, n->id,
                      e.kind == SIM_MARKER ? "marker" : "config", (long long)e.base, e.epoch);
            break;
        }
    }
}

/* Reads [prev_end, end) of the leader's log into the message, maybe fewer
 * batches (a byte budget), as the broker would from its segments. */
struct sim_msg *sim_fill_append(struct sim_world *w, struct sim_node *n, struct rg_message *m,
                                struct rg_output *out)
{
    const struct sim_log *log = &n->disk.current;
    /* A deposed leader's read is stale (its log may have changed). */
    if (replica_group_role(&n->rg) != RG_ROLE_LEADER || replica_group_term(&n->rg) != m->term)
        return NULL;
    if (m->end == m->prev_end) { /* an empty probe */
        struct sim_msg *probe = calloc(1, sizeof(*probe));
        probe->m = *m;
        return probe;
    }
    int64_t i = sim_log_find_base(log, m->prev_end);
    if (i < 0 && m->prev_end < log->head.start)
        return NULL; /* retention deleted it while the read was queued */
    if (i < 0)
        sim_fail(w, "node %d: APPEND from %lld, not a batch start", n->id, (long long)m->prev_end);
    int64_t budget = chance(w, w->opt.nasty ? 70 : 40) ? sim_rand_range(w, 1, 3) : 1 << 30;
    int64_t f8_budget = f8_append_budget(w, n, m);
    if (f8_budget < budget)
        budget = f8_budget;
    uint32_t configs = 0;
    int64_t k = i;
    while (k < log->n && log->e[k].base < m->end && k - i < budget &&
           configs < RG_MAX_CONFIGS_PER_APPEND) {
        if (log->e[k].kind == SIM_CONFIG)
            configs++;
        k++;
    }
    int64_t actual = log->e[k - 1].base + log->e[k - 1].count;
    if (actual > m->end)
        sim_fail(w, "node %d: APPEND end %lld inside a batch", n->id, (long long)m->end);
    int rc = replica_group_append_read(&n->rg, m, actual, out);
    if (rc == RG_ERR_STALE)
        return NULL;
    if (rc != RG_OK)
        sim_fail(w, "append_read: %s", rg_status_str(rc));
    /* The runs the core computed must describe these batches. */
    for (int64_t j = i; j < k; j++) {
        int32_t epoch = 0;
        for (uint32_t r = 0; r < m->run_count && m->runs[r].start <= log->e[j].base; r++)
            epoch = m->runs[r].epoch;
        if (epoch != log->e[j].epoch)
            sim_fail(w, "node %d: APPEND runs say epoch %d at %lld, the log has %d", n->id, epoch,
                     (long long)log->e[j].base, log->e[j].epoch);
    }
    struct sim_msg *sm = calloc(1, sizeof(*sm));
    sm->m = *m;
    sm->n = (uint32_t)(k - i);
    sm->entries = malloc(sm->n * sizeof(*sm->entries));
    memcpy(sm->entries, &log->e[i], sm->n * sizeof(*sm->entries));
    return sm;
}

static void trace_message(struct sim_world *w, const struct rg_message *m)
{
    if (!w->opt.trace)
        return;
    switch (m->type) {
    case RG_MSG_APPEND:
    case RG_MSG_INSTALL_START:
        sim_trace(w, "  n%d -> n%d %s t%lld prev %lld/%d end %lld commit %lld", m->from, m->to,
                  rg_message_type_str(m->type), (long long)m->term, (long long)m->prev_end,
                  m->prev_epoch, (long long)m->end, (long long)m->commit);
        break;
    case RG_MSG_APPEND_RESPONSE:
    case RG_MSG_HEARTBEAT_RESPONSE:
        sim_trace(w, "  n%d -> n%d %s t%lld %s match %lld durable %lld hint %d/%lld", m->from,
                  m->to, rg_message_type_str(m->type), (long long)m->term,
                  m->success ? "ok" : "REJECT", (long long)m->match, (long long)m->durable,
                  m->hint_epoch, (long long)m->hint_offset);
        break;
    case RG_MSG_PRE_VOTE:
    case RG_MSG_VOTE:
        sim_trace(w, "  n%d -> n%d %s t%lld log %lld/%d%s", m->from, m->to,
                  rg_message_type_str(m->type), (long long)m->term, (long long)m->log_end,
                  m->last_epoch, m->transfer ? " transfer" : "");
        break;
    case RG_MSG_PRE_VOTE_RESPONSE:
    case RG_MSG_VOTE_RESPONSE:
        sim_trace(w, "  n%d -> n%d %s t%lld %s", m->from, m->to, rg_message_type_str(m->type),
                  (long long)m->term, m->granted ? "granted" : "rejected");
        break;
    default:
        sim_trace(w, "  n%d -> n%d %s t%lld commit %lld", m->from, m->to,
                  rg_message_type_str(m->type), (long long)m->term, (long long)m->commit);
    }
}

/* Messages leave (once their hard state is durable), APPENDs once read. */
static void send_messages(struct sim_world *w, struct sim_node *n, struct rg_output *out)
{
    for (uint32_t i = 0; i < out->message_count; i++) {
        struct rg_message *m = &out->messages[i];
        check_message(w, n, m);
        if (m->type == RG_MSG_APPEND) {
            trace_message(w, m);
            sim_io_read(w, n, m); /* sent once read */
            continue;
        }
        struct sim_msg *sm = calloc(1, sizeof(*sm));
        sm->m = *m;
        if (m->type == RG_MSG_INSTALL_START) {
            /* The sender's log-start checkpoint, which is what it sends. */
            const struct sim_log_start *h = &n->disk.current.head;
            if (h->start != m->prev_end || h->epoch != m->prev_epoch)
                sim_fail(w, "node %d: INSTALL_START %lld/%d, its log starts at %lld/%d", n->id,
                         (long long)m->prev_end, m->prev_epoch, (long long)h->start, h->epoch);
            if (m->configs[0].offset != (h->has_config ? h->config.offset : -1))
                sim_fail(w, "node %d: INSTALL_START config at %lld, its log's is at %lld", n->id,
                         (long long)m->configs[0].offset,
                         (long long)(h->has_config ? h->config.offset : -1));
            sm->head = *h;
        }
        sm->group = n->group;
        trace_message(w, &sm->m);
        sim_host_send(w, n->host, sm);
    }
    sim_host_queue_heartbeats(w, n, out);
}

static void on_commit_changed(struct sim_world *w, struct sim_node *n, int64_t commit)
{
    sim_trace(w, "  g%d n%d commit %lld", n->group, n->id, (long long)commit);
    /* Now and then the high watermark goes into the checkpoint, clamped
     * to the durable end (a leader may commit beyond its own), never while
     * a RESET is unsynced (a crash may undo it). */
    int64_t durable = sim_io_durable_end(n);
    int64_t hw = commit < durable ? commit : durable;
    bool reset_pending = n->disk.durable.head.start != n->planned.head.start;
    if (chance(w, 30) && hw > n->checkpoint && !reset_pending)
        n->checkpoint = hw;
    check_commit(w, n, commit);
    f8_on_commit(w, n, commit);
}

static void on_role_changed(struct sim_world *w, struct sim_node *n, const struct rg_output *out)
{
    sim_trace(w, "  g%d n%d %s term %lld leader %d", n->group, n->id, rg_role_str(out->role),
              (long long)out->term, out->leader);
    if (out->role != RG_ROLE_LEADER)
        return;
    check_new_leader(w, n, out->term);
    f8_on_leader(w, n, out->term);
    /* Leaders that die young leave their epoch's first entries on few
     * replicas: the histories of Raft's figure 8. */
    if (w->faults_on && chance(w, w->opt.nasty ? 35 : 5))
        sim_schedule_crash(w, n, sim_rand_range(w, 0, 8));
}

/*
 * Carries out one output in the order the API demands: hard state (the
 * host's next fsync; messages wait for it), log ops (queued writes),
 * messages, then commit and role.
 */
static void process(struct sim_world *w, struct sim_node *n, struct rg_output *out)
{
    if (out->hard_state_changed) {
        sim_host_hard_state(w, n, &out->hard_state);
        /* A voter that dies right after voting comes back to the same
         * election: its persisted vote is all that stops a second one. */
        if (w->faults_on && replica_group_voted_for(&n->rg) != RG_NO_NODE &&
            replica_group_voted_for(&n->rg) != n->id && chance(w, w->opt.nasty ? 20 : 3))
            sim_schedule_crash(w, n, sim_rand_range(w, 0, 3));
    }
    apply_ops(w, n, out);
    send_messages(w, n, out);
    if (out->commit_changed)
        on_commit_changed(w, n, out->commit);
    if (out->role_changed)
        on_role_changed(w, n, out);
    if (n->disk.npending > 0 && n->host->flush_interval_ms == 0)
        start_sync(w, n);
}

/* ---------------------------------------------------------------- nodes */

void sim_process(struct sim_world *w, struct sim_node *n, struct rg_output *out)
{
    process(w, n, out);
}

static struct replica_group_config node_config(struct sim_world *w, struct sim_node *n)
{
    struct replica_group_config c;
    memset(&c, 0, sizeof(c));
    c.self = n->id;
    c.bootstrap.voter_count = (uint32_t)w->replicas;
    for (int i = 0; i < w->replicas; i++)
        c.bootstrap.voters[i] = i;
    c.election_ticks = w->election_ticks;
    c.heartbeat_ticks = 3;
    c.max_inflight = (uint32_t)(1 + (w->opt.seed + (uint64_t)n->id) % 8);
    c.seed = sim_rand(w);
    c.initial_tick = rg_clock_ticks(&n->host->clock);
    c.pre_vote = true;
    c.check_quorum = true;
    c.faults = &w->faults;
    c.incarnation = n->host->disk_id;
    c.assert_handler = on_core_assert;
    c.assert_ctx = w;
    return c;
}

/* The host's own (skewed) monotonic clock, in ms. */
static uint64_t host_clock_ms(const struct sim_world *w, const struct sim_host *h)
{
    return h->clock_offset + (uint64_t)((w->now - h->clock_base) * h->rate_pm / 1000);
}

/* Starts (or restarts) a replica from what its disk holds. */
static void start_replica(struct sim_world *w, struct sim_node *n)
{
    sim_io_restart(n);
    const struct sim_log *log = &n->disk.durable;
    /* The config in effect at the log start (from the log-start
     * checkpoint), then the newest config batches of the log. */
    struct rg_config_entry configs[RG_CONFIG_HISTORY];
    uint32_t nconfigs = 0, first = 0;
    if (log->head.has_config) {
        configs[nconfigs++] = log->head.config;
        first = 1;
    }
    for (uint32_t i = 0; i < log->n; i++) {
        if (log->e[i].kind != SIM_CONFIG)
            continue;
        if (nconfigs == RG_CONFIG_HISTORY) {
            memmove(configs + first, configs + first + 1,
                    sizeof(configs[0]) * (RG_CONFIG_HISTORY - 1 - first));
            nconfigs--;
        }
        configs[nconfigs].offset = log->e[i].base;
        configs[nconfigs].membership = log->e[i].membership;
        nconfigs++;
    }
    struct replica_group_restore r = {
        .hard_state = n->disk.hard,
        .log_start = log->head.start,
        .start_epoch = log->head.epoch,
        .log_end = sim_log_end(log),
        .epochs = log->runs,
        .epoch_count = log->nruns,
        .configs = configs,
        .config_count = nconfigs,
        .commit = n->checkpoint,
        .new_group = !n->host->wiped && n->disk.hard.term == 0,
    };
    struct replica_group_config c = node_config(w, n);
    int rc = replica_group_init(&n->rg, &c, &r, n->epochs, SIM_EPOCH_CAPACITY);
    if (rc != RG_OK)
        sim_fail(w, "node %d: init from disk: %s", n->id, rg_status_str(rc));
    /* A restored high watermark must be one the group committed. */
    n->last_commit = log->head.start;
    if (replica_group_commit(&n->rg) > n->last_commit)
        check_commit(w, n, replica_group_commit(&n->rg));
    check_node(w, n);
}

/* Starts (or restarts) a host: every replica it holds, its clock. */
static void start_host(struct sim_world *w, struct sim_host *h)
{
    h->up = true;
    h->inc++;
    h->paused_until = 0;
    h->clock_offset = host_clock_ms(w, h) + (uint64_t)sim_rand_range(w, 0, 1000);
    h->clock_base = w->now;
    rg_clock_init(&h->clock, (uint32_t)w->tick_ms, h->clock_offset);
    for (int g = 0; g < w->ngroups; g++)
        start_replica(w, &w->groups[g].nodes[h->id]);
    schedule_tick(w, h, w->now + sim_rand_range(w, 1, w->tick_ms));
    if (h->flush_interval_ms > 0)
        schedule_at(w, w->now + h->flush_interval_ms, EV_FLUSH, h->id);
}

void sim_schedule_crash(struct sim_world *w, struct sim_node *n, int delay_ms)
{
    struct sim_event ev = {
        .time = w->now + delay_ms, .type = EV_CRASH, .node = n->id, .inc = n->host->inc};
    schedule(w, ev);
}

/* A host dies: each replica's disk keeps what it synced (often nothing
 * unsynced survives; otherwise some prefix of it, the next write torn). */
static void crash_host(struct sim_world *w, struct sim_host *h)
{
    sim_trace(w, "CRASH n%d", h->id);
    h->up = false;
    h->inc++;
    sim_host_crash(w, h);
    for (int g = 0; g < w->ngroups; g++) {
        struct sim_node *n = &w->groups[g].nodes[h->id];
        uint32_t survive =
            chance(w, 50) ? 0 : (uint32_t)sim_rand_range(w, 0, (int)n->disk.npending);
        bool tear = chance(w, 50);
        sim_trace(w, "  g%d n%d: %u of %u unsynced writes survive%s", g, n->id, survive,
                  n->disk.npending, tear ? ", next torn" : "");
        sim_disk_crash(&n->disk, survive, tear);
        check_node(w, n);
    }
    schedule_at(w, w->now + sim_rand_range(w, 5, w->opt.nasty ? 80 : 400), EV_RESTART, h->id);
}

/* Wiping is safe one disk at a time: until a wiped host holds again, in
 * every group, what was committed when it was wiped (and so dropped its
 * recovery bound), a second wipe may take the last durable copies of
 * committed data (any quorum system), or leave bounds no log reaches. */
static bool may_wipe(struct sim_world *w)
{
    for (int i = 0; i < w->nodes_total; i++) {
        struct sim_host *h = &w->hosts[i];
        if (!h->rejoining)
            continue;
        for (int g = 0; g < w->ngroups; g++) {
            const struct sim_node *n = &w->groups[g].nodes[i];
            /* Judged on what is durable: a crash may undo the rest. */
            const struct rg_hard_state *hs = &n->disk.hard;
            bool rejoined =
                !hs->recovering && hs->term > 0 && replica_group_commit(&n->rg) >= n->rejoin_at;
            if (!h->up || !rejoined)
                return false;
        }
        h->rejoining = false;
    }
    return true;
}

/* The host dies and comes back with an empty data directory: a new disk
 * incarnation, no hard state, no logs. */
static void wipe_host(struct sim_world *w, struct sim_host *h)
{
    if (h->up)
        crash_host(w, h);
    sim_trace(w, "FAULT wipe n%d's disk", h->id);
    for (int g = 0; g < w->ngroups; g++) {
        struct sim_disk *d = &w->groups[g].nodes[h->id].disk;
        sim_disk_free(d);
        d->hard.voted_for = RG_NO_NODE;
        w->groups[g].nodes[h->id].checkpoint = 0;
        w->groups[g].nodes[h->id].rejoin_at = sim_log_end(&w->groups[g].committed);
    }
    h->disk_id = sim_rand(w) | 1;
    h->wiped = true;
    h->rejoining = true;
}

static void crash_node(struct sim_world *w, struct sim_node *n)
{
    crash_host(w, n->host);
}

/* ---------------------------------------------------------------- events */

/* A loop turn of the host: the ticks its clock says are due, each for
 * every group (in phase: they share the clock), then the next turn. */
static void on_tick(struct sim_world *w, struct sim_host *h)
{
    uint64_t due = rg_clock_advance(&h->clock, host_clock_ms(w, h));
    for (uint64_t k = 0; k < due; k++) {
        for (int g = 0; g < w->ngroups; g++) {
            struct sim_node *n = &w->groups[g].nodes[h->id];
            struct rg_output *out = out_begin(w);
            if (replica_group_tick(&n->rg, out) != RG_OK)
                sim_fail(w, "tick failed");
            process(w, n, out);
            out_end(w, out);
        }
    }
    schedule_tick(w, h, w->now + sim_rand_range(w, w->tick_ms / 2, w->tick_ms * 3 / 2));
}

static void on_deliver(struct sim_world *w, struct sim_node *n, struct sim_msg *sm)
{
    struct rg_message *m = &sm->m;
    /* The receiving broker finds config batches in the bytes it got (an
     * INSTALL_START carries the one in effect at the leader's start). */
    if (m->type != RG_MSG_INSTALL_START)
        m->config_count = 0;
    for (uint32_t i = 0; i < sm->n && m->config_count < RG_MAX_CONFIGS_PER_APPEND; i++) {
        if (sm->entries[i].kind == SIM_CONFIG) {
            m->configs[m->config_count].offset = sm->entries[i].base;
            m->configs[m->config_count].membership = sm->entries[i].membership;
            m->config_count++;
        }
    }
    m->payload = sm;
    sim_trace(w, "g%d n%d <- n%d %s t%lld", n->group, n->id, m->from, rg_message_type_str(m->type),
              (long long)m->term);
    struct rg_output *out = out_begin(w);
    int rc = replica_group_step(&n->rg, m, out);
    if (rc != RG_OK && rc != RG_ERR_NOT_MEMBER)
        sim_fail(w, "step: %s", rg_status_str(rc));
    process(w, n, out);
    out_end(w, out);
}

static void on_sync_done(struct sim_world *w, struct sim_node *n, uint32_t covers)
{
    sim_disk_sync_done(&n->disk, covers);
    n->disk.sync_covers = 0;
    /* Clamped below truncations still queued (unless the fault says not). */
    int64_t durable = w->driver_faults.unclamped_durable ? sim_disk_durable_prefix(&n->disk)
                                                         : sim_io_durable_end(n);
    if (durable > replica_group_log_end(&n->rg))
        durable = replica_group_log_end(&n->rg);
    sim_trace(w, "g%d n%d sync done: durable [0,%lld)", n->group, n->id, (long long)durable);
    struct rg_output *out = out_begin(w);
    if (replica_group_durable(&n->rg, durable, out) != RG_OK)
        sim_fail(w, "durable failed");
    process(w, n, out);
    out_end(w, out);
    if (n->host->flush_interval_ms == 0)
        start_sync(w, n);
}

static struct sim_node *find_leader_in(struct sim_world *w, struct sim_group *g)
{
    struct sim_node *best = NULL;
    for (int i = 0; i < w->nodes_total; i++) {
        struct sim_node *n = &g->nodes[i];
        if (n->host->up && n->host->paused_until <= w->now &&
            replica_group_role(&n->rg) == RG_ROLE_LEADER &&
            (best == NULL || replica_group_term(&n->rg) > replica_group_term(&best->rg)))
            best = n;
    }
    return best;
}

/* The leader of group 0 (the scenarios and the figure-8 adversary watch it). */
static struct sim_node *find_leader(struct sim_world *w)
{
    return find_leader_in(w, &w->groups[0]);
}

static struct sim_group *random_group(struct sim_world *w)
{
    return &w->groups[sim_rand_range(w, 0, w->ngroups - 1)];
}

static void on_client(struct sim_world *w)
{
    struct sim_node *n = &random_group(w)->nodes[sim_rand_range(w, 0, w->nodes_total - 1)];
    if (n->host->up && n->host->paused_until <= w->now) {
        struct rg_output *out = out_begin(w);
        int64_t base;
        int32_t epoch;
        int32_t count = sim_rand_range(w, 1, 4);
        int rc = replica_group_propose(&n->rg, count, &base, &epoch, out);
        if (rc == RG_OK) {
            struct sim_entry e;
            memset(&e, 0, sizeof(e));
            e.base = base;
            e.count = count;
            e.epoch = epoch;
            e.id = ++w->next_id;
            e.kind = SIM_DATA;
            issue_append(w, n, &e);
            w->res->proposals++;
            sim_trace(w, "client -> n%d: batch [%lld,%lld) epoch %d", n->id, (long long)base,
                      (long long)(base + count), epoch);
            process(w, n, out);
        }
        out_end(w, out);
    }
    if (w->clients_on)
        schedule_at(w, w->now + sim_rand_range(w, 1, w->client_gap_ms), EV_CLIENT, -1);
}

/* Leadership transfers and one-at-a-time reassignment: add the node that
 * is not a member as a learner, promote it, remove another voter. */
static void on_admin(struct sim_world *w)
{
    struct sim_node *l = find_leader_in(w, random_group(w));
    if (l != NULL) {
        struct rg_output *out = out_begin(w);
        const struct rg_membership *m = replica_group_membership(&l->rg);
        int rc;
        int64_t offset;
        if (chance(w, 40)) {
            int target = m->voters[sim_rand_range(w, 0, (int)m->voter_count - 1)];
            rc = target == l->id ? RG_OK : replica_group_transfer_leadership(&l->rg, target, out);
            sim_trace(w, "admin: transfer n%d -> n%d: %s", l->id, target, rg_status_str(rc));
        } else if (m->learner_count > 0) {
            rc = replica_group_change_membership(&l->rg, RG_CHANGE_PROMOTE, m->learners[0], &offset,
                                                 out);
            sim_trace(w, "admin: promote n%d: %s", m->learners[0], rg_status_str(rc));
        } else if ((int)m->voter_count > w->replicas) {
            struct sim_group *g = l->grp;
            int victim = g->remove_next >= 0 && rg_membership_has_voter(m, g->remove_next)
                             ? g->remove_next
                             : m->voters[sim_rand_range(w, 0, (int)m->voter_count - 1)];
            if (victim == l->id) {
                /* Removing the leader: it hands leadership to another
                 * voter first; a later turn removes it. */
                int target = m->voters[0] != l->id ? m->voters[0] : m->voters[1];
                rc = replica_group_transfer_leadership(&l->rg, target, out);
                g->remove_next = victim;
                sim_trace(w, "admin: remove leader n%d: transfer to n%d first: %s", victim, target,
                          rg_status_str(rc));
            } else {
                rc =
                    replica_group_change_membership(&l->rg, RG_CHANGE_REMOVE, victim, &offset, out);
                if (rc == RG_OK && victim == g->remove_next)
                    g->remove_next = -1;
                sim_trace(w, "admin: remove n%d: %s", victim, rg_status_str(rc));
            }
        } else {
            int spare = -1;
            for (int i = 0; i < w->nodes_total; i++)
                if (!rg_membership_has_voter(m, i) && !rg_membership_has_learner(m, i))
                    spare = i;
            rc =
                replica_group_change_membership(&l->rg, RG_CHANGE_ADD_LEARNER, spare, &offset, out);
            sim_trace(w, "admin: add learner n%d: %s", spare, rg_status_str(rc));
        }
        process(w, l, out);
        out_end(w, out);
    }
    if (w->faults_on)
        schedule_at(w, w->now + sim_rand_range(w, 100, 900), EV_ADMIN, -1);
}

static void heal_network(struct sim_world *w)
{
    memset(w->blocked, 0, sizeof(w->blocked));
}

static void isolate(struct sim_world *w, int node)
{
    for (int j = 0; j < w->nodes_total; j++) {
        w->blocked[node][j] = true;
        w->blocked[j][node] = true;
    }
}

void sim_heal_network(struct sim_world *w)
{
    heal_network(w);
}

void sim_isolate(struct sim_world *w, int node)
{
    isolate(w, node);
}

void sim_schedule_fault(struct sim_world *w, int64_t time)
{
    schedule_at(w, time, EV_FAULT, -1);
}

static struct sim_node *find_leader(struct sim_world *w);

struct sim_node *sim_find_leader(struct sim_world *w)
{
    return find_leader(w);
}

/*
 * Retention: node n deletes its oldest segments, up to a batch boundary at
 * or below its commit offset and its durable end (only committed, durable
 * data goes). Followers that fall behind the leader's new log start must
 * then be brought back by INSTALL_START.
 */
static void retention(struct sim_world *w, struct sim_node *n)
{
    if (!n->host->up || n->host->paused_until > w->now)
        return;
    const struct sim_log *log = &n->disk.current;
    if (n->planned.head.start != log->head.start || n->disk.durable.head.start != log->head.start)
        return; /* a RESET is still queued or unsynced */
    int64_t bound = replica_group_commit(&n->rg);
    int64_t durable = sim_io_durable_end(n);
    if (durable < bound)
        bound = durable;
    if (replica_group_durable_end(&n->rg) < bound)
        bound = replica_group_durable_end(&n->rg);
    if (bound <= log->head.start)
        return;
    int64_t hi = sim_log_find(log, bound - 1);
    if (hi < 0)
        sim_fail(w, "node %d: retention bound %lld outside its log", n->id, (long long)bound);
    bool end_ok = log->e[hi].base + log->e[hi].count == bound;
    int64_t choices = hi + (end_ok ? 1 : 0); /* bases of e[1..hi], and bound */
    if (choices < 1)
        return;
    int64_t k = sim_rand_range(w, 1, (int)choices);
    int64_t start = k <= hi ? log->e[k].base : bound;
    sim_disk_trim_front(&n->disk, start);
    sim_log_trim_front(&n->planned, start);
    const struct sim_log_start *h = &n->disk.current.head;
    sim_trace(w, "FAULT retention n%d: log starts at %lld (epoch before %d)", n->id,
              (long long)start, h->epoch);
    int rc = replica_group_log_start_advanced(&n->rg, start, h->has_config ? &h->config : NULL);
    if (rc != RG_OK)
        sim_fail(w, "node %d: log_start_advanced(%lld): %s", n->id, (long long)start,
                 rg_status_str(rc));
    check_node(w, n);
}

/* Partitions: kind in [28, 70) of on_fault's dice. */
static void network_fault(struct sim_world *w, int kind, int a, int b)
{
    if (kind < 36) {
        sim_trace(w, "FAULT isolate n%d", a);
        isolate(w, a);
    } else if (kind < 44) {
        sim_trace(w, "FAULT one-way n%d -/-> n%d", a, b);
        if (a != b)
            w->blocked[a][b] = true;
    } else if (kind < 50) {
        sim_trace(w, "FAULT split brain");
        uint32_t side = (uint32_t)sim_rand(w);
        for (int i = 0; i < w->nodes_total; i++)
            for (int j = 0; j < w->nodes_total; j++)
                w->blocked[i][j] = ((side >> i) & 1) != ((side >> j) & 1);
    } else {
        sim_trace(w, "FAULT heal network");
        heal_network(w);
    }
}

static void on_fault(struct sim_world *w)
{
    if (w->opt.figure8) {
        f8_step(w); /* the directed adversary replaces the random one */
        return;
    }
    if (chance(w, 12)) {
        struct sim_group *g = random_group(w);
        struct sim_node *l = find_leader_in(w, g);
        retention(w, l != NULL && chance(w, 60)
                         ? l
                         : &g->nodes[sim_rand_range(w, 0, w->nodes_total - 1)]);
        schedule_at(w, w->now + sim_rand_range(w, 1, w->fault_gap_ms), EV_FAULT, -1);
        return;
    }
    int kind = sim_rand_range(w, 0, 99);
    int a = sim_rand_range(w, 0, w->nodes_total - 1);
    int b = sim_rand_range(w, 0, w->nodes_total - 1);
    struct sim_host *n = &w->hosts[a];
    if (kind < 14) {
        if (n->up)
            crash_host(w, n);
    } else if (kind < 24 || (w->opt.nasty && kind < 50)) {
        /* the leader dies: elections over logs of unequal length */
        struct sim_node *l = find_leader_in(w, random_group(w));
        if (l != NULL)
            crash_node(w, l);
    } else if (kind < 28) {
        /* power failure: every node at once, each keeping what it synced */
        sim_trace(w, "FAULT power failure");
        for (int i = 0; i < w->nodes_total; i++)
            if (w->hosts[i].up)
                crash_host(w, &w->hosts[i]);
    } else if (kind < 70) {
        network_fault(w, kind, a, b);
    } else if (kind < 80) {
        int ms = sim_rand_range(w, 20, 400);
        sim_trace(w, "FAULT pause n%d for %dms", a, ms);
        if (n->up)
            n->paused_until = w->now + ms;
    } else if (kind < 83) {
        if (may_wipe(w))
            wipe_host(w, n);
    } else if (kind < 92) {
        w->loss_pct = chance(w, w->opt.nasty ? 10 : 50) ? 0 : sim_rand_range(w, 1, 30);
        w->dup_pct = chance(w, 50) ? 0 : sim_rand_range(w, 1, 10);
        w->slow_pct = sim_rand_range(w, 0, 10);
        sim_trace(w, "FAULT network loss %d%% dup %d%% slow %d%%", w->loss_pct, w->dup_pct,
                  w->slow_pct);
    } else {
        /* a burst: crash two at once */
        if (n->up)
            crash_host(w, n);
        if (w->hosts[b].up)
            crash_host(w, &w->hosts[b]);
    }
    if (w->faults_on)
        schedule_at(w, w->now + sim_rand_range(w, 1, w->fault_gap_ms), EV_FAULT, -1);
}

static int election_bound_ms(const struct sim_world *w)
{
    return (int)(2 * w->election_ticks) * w->tick_ms * 1000 / w->min_rate_pm;
}

/* Healing: the network becomes reliable, every node runs, and messages
 * held back by slow links or pauses arrive within the new delay bound
 * (storage completions deferred by a pause too). */
static void heal_all(struct sim_world *w)
{
    heal_network(w);
    w->loss_pct = w->dup_pct = w->slow_pct = 0;
    w->delay_min = 1;
    w->delay_max = 10;
    uint32_t queued = w->nheap;
    struct sim_event *all = malloc((queued ? queued : 1) * sizeof(*all));
    for (uint32_t i = 0; i < queued; i++) {
        all[i] = pop(w);
        if (all[i].type == EV_DELIVER && all[i].time > w->now + w->delay_max)
            all[i].time = w->now + sim_rand_range(w, w->delay_min, w->delay_max);
        /* Storage completions a pause deferred to its end: the pause is over. */
        bool storage = all[i].type == EV_HARD_SYNC || all[i].type == EV_SYNC_DONE ||
                       all[i].type == EV_WRITE_DONE || all[i].type == EV_READ_DONE;
        if (storage && all[i].time > w->now + 20)
            all[i].time = w->now + sim_rand_range(w, 1, 20);
    }
    for (uint32_t i = 0; i < queued; i++)
        schedule(w, all[i]);
    free(all);
    for (int i = 0; i < w->nodes_total; i++) {
        struct sim_host *n = &w->hosts[i];
        if (!n->up) {
            start_host(w, n);
        } else if (n->paused_until > w->now) {
            /* Its clock was deferred to the end of the pause: restart it
             * now (the deferred tick is then ignored). */
            n->paused_until = 0;
            n->tick_gen++;
            schedule_tick(w, n, w->now + 1);
        }
    }
}

static struct sim_node *pick_follower(struct sim_world *w, struct sim_node *leader)
{
    const struct rg_membership *m = replica_group_membership(&leader->rg);
    int start = sim_rand_range(w, 0, (int)m->voter_count - 1);
    for (uint32_t k = 0; k < m->voter_count; k++) {
        int id = m->voters[(start + (int)k) % (int)m->voter_count];
        if (id != leader->id)
            return &w->nodes[id];
    }
    return NULL;
}

static void on_phase(struct sim_world *w)
{
    char why[256];
    switch (w->phase) {
    case PHASE_CHAOS:
        sim_trace(w, "PHASE heal: everything repaired, waiting for convergence");
        w->faults_on = false;
        w->clients_on = false;
        heal_all(w);
        w->phase = PHASE_CONVERGE;
        w->phase_deadline = w->now + LIVENESS_BOUND_MS;
        break;
    case PHASE_CONVERGE:
        if (!check_converged(w, why, sizeof(why)))
            w->stable_since = -1;
        else if (w->stable_since < 0)
            w->stable_since = w->now;
        /* Converged, and still so 100 ms later (nothing left in flight). */
        if (w->stable_since >= 0 && w->now - w->stable_since >= 100) {
            struct sim_node *l = find_leader(w);
            w->stable_since = -1;
            sim_trace(w, "CONVERGED: leader n%d term %lld log end %lld", l->id,
                      (long long)replica_group_term(&l->rg),
                      (long long)replica_group_log_end(&l->rg));
            if (w->phase_after_converge == PHASE_ISOLATE_FOLLOWER) {
                struct sim_node *f = pick_follower(w, l);
                w->scenario_leader = l->id;
                w->scenario_node = f->id;
                w->scenario_term = replica_group_term(&l->rg);
                isolate(w, f->id);
                w->phase = PHASE_ISOLATE_FOLLOWER;
                w->scenario_time = w->now + 3 * election_bound_ms(w);
                w->phase_deadline = w->scenario_time + 1000;
                w->phase_after_converge = PHASE_ISOLATE_LEADER;
                sim_trace(w, "SCENARIO isolate follower n%d until %lld", f->id,
                          (long long)w->scenario_time);
            } else if (w->phase_after_converge == PHASE_ISOLATE_LEADER) {
                w->scenario_leader = l->id;
                isolate(w, l->id);
                w->phase = PHASE_ISOLATE_LEADER;
                w->phase_deadline = w->now + election_bound_ms(w) + 2 * w->tick_ms;
                w->phase_after_converge = PHASE_DONE;
                sim_trace(w, "SCENARIO isolate leader n%d", l->id);
            } else {
                w->phase = PHASE_DONE;
                return;
            }
        } else if (w->now > w->phase_deadline) {
            sim_fail(w, "liveness: not converged %dms after healing: %s", LIVENESS_BOUND_MS, why);
        }
        break;
    case PHASE_ISOLATE_FOLLOWER:
        if (w->scenario_time > 0 && w->now >= w->scenario_time) {
            sim_trace(w, "SCENARIO rejoin n%d", w->scenario_node);
            heal_network(w);
            w->scenario_time = 0;
        }
        if (w->now >= w->phase_deadline) {
            struct sim_node *l = &w->nodes[w->scenario_leader];
            if (replica_group_role(&l->rg) != RG_ROLE_LEADER ||
                replica_group_term(&l->rg) != w->scenario_term)
                sim_fail(w,
                         "pre-vote: follower n%d cut off and rejoined deposed healthy leader "
                         "n%d (term %lld -> %lld)",
                         w->scenario_node, l->id, (long long)w->scenario_term,
                         (long long)replica_group_term(&l->rg));
            w->phase = PHASE_CONVERGE;
            w->phase_deadline = w->now + LIVENESS_BOUND_MS;
        }
        break;
    case PHASE_ISOLATE_LEADER:
        if (w->now >= w->phase_deadline) {
            struct sim_node *l = &w->nodes[w->scenario_leader];
            if (replica_group_role(&l->rg) == RG_ROLE_LEADER)
                sim_fail(w,
                         "check-quorum: leader n%d cut off from every peer for %dms still "
                         "leads",
                         l->id, election_bound_ms(w) + 2 * w->tick_ms);
            heal_network(w);
            w->phase = PHASE_CONVERGE;
            w->phase_deadline = w->now + LIVENESS_BOUND_MS;
        }
        break;
    case PHASE_DONE:
        return;
    }
    schedule_at(w, w->now + 10, EV_PHASE, -1);
}

/* Host events wait while the host is paused: true if deferred. */
static bool deferred(struct sim_world *w, struct sim_host *h, struct sim_event ev, int extra)
{
    if (h->paused_until <= w->now)
        return false;
    ev.time = h->paused_until + extra;
    schedule(w, ev);
    return true;
}

static void check_host(struct sim_world *w, struct sim_host *h)
{
    for (int g = 0; g < w->ngroups; g++)
        check_node(w, &w->groups[g].nodes[h->id]);
}

/* A host's loop turn (ticks) or flush timer. */
static void on_host_timer(struct sim_world *w, struct sim_host *h, struct sim_event ev)
{
    if (!h->up || ev.inc != h->inc || (ev.type == EV_TICK && ev.covers != h->tick_gen))
        return; /* a crash stopped this host's clock; restart starts a new one */
    if (deferred(w, h, ev, 0))
        return;
    if (ev.type == EV_TICK) {
        on_tick(w, h);
    } else {
        for (int g = 0; g < w->ngroups; g++)
            start_sync(w, &w->groups[g].nodes[h->id]);
        schedule_at(w, w->now + h->flush_interval_ms, EV_FLUSH, h->id);
    }
    check_host(w, h);
}

/* A message arrives at host h. The handshake of a connection names the
 * sender's disk: a message of an older incarnation never follows a newer. */
static void on_deliver_event(struct sim_world *w, struct sim_host *h, struct sim_event ev)
{
    struct sim_msg *sm = ev.msg;
    if (!h->up || w->blocked[sm->m.from][ev.node] || sm->disk_id != w->hosts[sm->m.from].disk_id) {
        free_msg(sm);
        return;
    }
    if (deferred(w, h, ev, sim_rand_range(w, 0, 3)))
        return;
    w->in_hand = sm;
    if (sm->kind == SIM_MSG_HEARTBEATS)
        sim_deliver_heartbeats(w, h, sm);
    else if (sm->kind == SIM_MSG_HEARTBEAT_REPLIES)
        sim_deliver_replies(w, h, sm);
    else
        on_deliver(w, &w->groups[sm->group].nodes[ev.node], sm);
    w->in_hand = NULL;
    free_msg(sm);
    check_host(w, h);
}

/* A replica's storage path: writes, reads and fsyncs completing. */
static void on_replica_event(struct sim_world *w, struct sim_host *h, struct sim_event ev)
{
    struct sim_node *n = &w->groups[ev.group].nodes[ev.node];
    if (!h->up || ev.inc != h->inc) {
        if (ev.msg != NULL)
            free_msg(ev.msg);
        return;
    }
    if (deferred(w, h, ev, 0))
        return;
    w->in_hand = ev.msg;
    if (ev.type == EV_WRITE_DONE)
        sim_io_write_done(w, n);
    else if (ev.type == EV_READ_DONE)
        sim_io_read_done(w, n, ev.msg);
    else
        on_sync_done(w, n, ev.covers);
    w->in_hand = NULL;
    if (ev.msg != NULL)
        free_msg(ev.msg);
    check_node(w, n);
}

static void step_event(struct sim_world *w, struct sim_event ev)
{
    struct sim_host *h = ev.node >= 0 ? &w->hosts[ev.node] : NULL;
    switch (ev.type) {
    case EV_TICK:
    case EV_FLUSH:
        on_host_timer(w, h, ev);
        return;
    case EV_DELIVER:
        on_deliver_event(w, h, ev);
        return;
    case EV_WRITE_DONE:
    case EV_READ_DONE:
    case EV_SYNC_DONE:
        on_replica_event(w, h, ev);
        return;
    case EV_HARD_SYNC:
        if (h->up && ev.inc == h->inc && !deferred(w, h, ev, 0))
            sim_host_hard_sync_done(w, h);
        return;
    case EV_CLIENT:
        on_client(w);
        return;
    case EV_FAULT:
        if (w->faults_on)
            on_fault(w);
        return;
    case EV_CRASH:
        if (h->up && ev.inc == h->inc && w->faults_on)
            crash_host(w, h);
        return;
    case EV_RESTART:
        if (!h->up) {
            sim_trace(w, "RESTART n%d", h->id);
            start_host(w, h);
        }
        return;
    case EV_ADMIN:
        if (w->faults_on)
            on_admin(w);
        return;
    case EV_PHASE:
        on_phase(w);
        return;
    }
}

static void step(struct sim_world *w, struct sim_event ev)
{
    w->now = ev.time;
    w->res->steps++;
    step_event(w, ev);
    sim_hosts_flush(w);
}

/* ---------------------------------------------------------------- a run */

static const struct {
    const char *name;
    size_t offset;
} fault_table[] = {
    {"count_non_durable_acks", offsetof(struct replica_group_faults, count_non_durable_acks)},
    {"commit_previous_epoch", offsetof(struct replica_group_faults, commit_previous_epoch)},
    {"skip_pre_vote", offsetof(struct replica_group_faults, skip_pre_vote)},
    {"vote_ignores_log", offsetof(struct replica_group_faults, vote_ignores_log)},
    {"no_check_quorum", offsetof(struct replica_group_faults, no_check_quorum)},
    {"ack_durable_early", offsetof(struct replica_group_faults, ack_durable_early)},
    {"forget_vote", offsetof(struct replica_group_faults, forget_vote)},
    {"skip_recovery", offsetof(struct replica_group_faults, skip_recovery)},
};

static const struct {
    const char *name;
    size_t offset;
} driver_fault_table[] = {
    {"early_send", offsetof(struct sim_world, driver_faults.early_send)},
    {"unclamped_durable", offsetof(struct sim_world, driver_faults.unclamped_durable)},
};

bool sim_fault_known(const char *name)
{
    for (size_t i = 0; i < sizeof(driver_fault_table) / sizeof(driver_fault_table[0]); i++)
        if (strcmp(driver_fault_table[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < sizeof(fault_table) / sizeof(fault_table[0]); i++)
        if (strcmp(fault_table[i].name, name) == 0)
            return true;
    return false;
}

const char *sim_fault_names(void)
{
    return "count_non_durable_acks commit_previous_epoch skip_pre_vote vote_ignores_log "
           "no_check_quorum ack_durable_early forget_vote skip_recovery (core); early_send "
           "unclamped_durable (driver)";
}

static void world_free(struct sim_world *w)
{
    for (int i = 0; i < SIM_MAX_NODES; i++)
        sim_host_free(&w->hosts[i]);
    for (int g = 0; g < w->ngroups; g++) {
        struct sim_group *grp = &w->groups[g];
        for (int i = 0; i < SIM_MAX_NODES; i++) {
            sim_disk_free(&grp->nodes[i].disk);
            sim_io_free(&grp->nodes[i]);
        }
        sim_log_free(&grp->committed);
        free(grp->leader_of_term);
        free(grp->committed_in_term);
    }
    free(w->groups);
    for (uint32_t i = 0; i < w->nheap; i++)
        if (w->heap[i].msg != NULL)
            free_msg(w->heap[i].msg);
    free(w->heap);
    if (w->in_hand != NULL)
        free_msg(w->in_hand);
    for (int i = 0; i < 3; i++)
        free(w->out_msgs[i]);
}

static void turn_on_fault(struct sim_world *w, const char *name)
{
    for (size_t i = 0; i < sizeof(fault_table) / sizeof(fault_table[0]); i++)
        if (strcmp(fault_table[i].name, name) == 0)
            *(bool *)((char *)&w->faults + fault_table[i].offset) = true;
    for (size_t i = 0; i < sizeof(driver_fault_table) / sizeof(driver_fault_table[0]); i++)
        if (strcmp(driver_fault_table[i].name, name) == 0)
            *(bool *)((char *)w + driver_fault_table[i].offset) = true;
}

/* Every group has a replica on every host. */
static void make_groups(struct sim_world *w)
{
    w->groups = calloc((size_t)w->ngroups, sizeof(*w->groups));
    w->nodes = w->groups[0].nodes;
    for (int g = 0; g < w->ngroups; g++)
        for (int i = 0; i < SIM_MAX_NODES; i++) {
            struct sim_node *n = &w->groups[g].nodes[i];
            n->id = i;
            n->group = g;
            w->groups[g].remove_next = -1;
            n->grp = &w->groups[g];
            n->host = &w->hosts[i];
            n->disk.hard.voted_for = RG_NO_NODE;
        }
}

/* The seed's world: sizes, network, clocks, fault rates. Returns the
 * length of the chaos phase. */
static int world_setup(struct sim_world *w)
{
    const struct sim_options *opt = &w->opt;
    w->replicas = opt->replicas ? opt->replicas : (chance(w, 50) ? 3 : 5);
    w->nodes_total = w->replicas + 1; /* one spare for reassignment */
    /* Several groups share the hosts (their crashes, pauses, partitions
     * and clocks); the figure-8 adversary steers one. */
    w->ngroups = opt->figure8    ? 1
                 : opt->groups   ? opt->groups
                 : chance(w, 40) ? 1
                                 : sim_rand_range(w, 2, SIM_MAX_GROUPS);
    make_groups(w);
    w->tick_ms = 10;
    /* Half the seeds skew the hosts' clocks by up to 5% either way. */
    w->min_rate_pm = chance(w, 50) ? 950 : 1000;
    w->election_ticks = 10;
    w->delay_min = 1;
    w->delay_max = sim_rand_range(w, 2, 30);
    w->slow_pct = sim_rand_range(w, 0, 5);
    w->client_gap_ms = sim_rand_range(w, 2, 40);
    w->fault_gap_ms = sim_rand_range(w, 30, 300);
    if (opt->nasty) {
        /* Small appends, lossy links, dying leaders, quick restarts: the
         * profile that reaches Raft's figure-8 histories. */
        w->fault_gap_ms = sim_rand_range(w, 10, 60);
        w->loss_pct = sim_rand_range(w, 5, 25);
    }
    w->write_fail_pct = chance(w, 50) ? 0 : sim_rand_range(w, 1, 3);
    w->clients_on = true;
    w->faults_on = true;
    w->phase = PHASE_CHAOS;
    w->stable_since = -1;
    /* The scenarios need a quiet cluster; a quarter of the seeds (all
     * when asked) run them after the first convergence. */
    w->phase_after_converge =
        opt->scenario_checks || chance(w, 25) ? PHASE_ISOLATE_FOLLOWER : PHASE_DONE;
    int chaos_ms =
        opt->short_schedule ? sim_rand_range(w, 300, 1200) : sim_rand_range(w, 1000, 5000);
    if (opt->figure8) /* an attempt takes about a second: room for several */
        chaos_ms =
            opt->short_schedule ? sim_rand_range(w, 1500, 3000) : sim_rand_range(w, 3000, 8000);
    if (w->ngroups < 1 || w->nodes_total > SIM_MAX_NODES)
        abort();
    return chaos_ms;
}

void sim_run(const struct sim_options *opt, struct sim_result *res)
{
    memset(res, 0, sizeof(*res));
    struct sim_world *w = calloc(1, sizeof(*w));
    w->opt = *opt;
    w->res = res;
    w->rng = opt->seed * 0x2545f4914f6cdd1dull + 1;
    for (int i = 0; i < 3; i++)
        w->out_msgs[i] = malloc(OUT_MESSAGES * sizeof(struct rg_message));
    if (opt->fault != NULL)
        turn_on_fault(w, opt->fault);
    volatile int chaos_ms = world_setup(w);

    if (setjmp(w->fail_jmp) == 0) {
        for (int i = 0; i < w->nodes_total; i++) {
            struct sim_host *h = &w->hosts[i];
            h->id = i;
            h->disk_id = sim_rand(w) | 1;
            h->rate_pm = w->min_rate_pm < 1000 ? sim_rand_range(w, w->min_rate_pm, 1050) : 1000;
            h->flush_interval_ms = chance(w, 30) ? sim_rand_range(w, 5, 50) : 0;
            start_host(w, h);
        }
        schedule_at(w, 1, EV_CLIENT, -1);
        schedule_at(w, sim_rand_range(w, 1, w->fault_gap_ms), EV_FAULT, -1);
        if (!opt->figure8) /* membership stays put under the figure-8 adversary */
            schedule_at(w, sim_rand_range(w, 100, 900), EV_ADMIN, -1);
        schedule_at(w, chaos_ms, EV_PHASE, -1);
        sim_trace(w, "seed %llu: %d groups of %d replicas + 1 spare, chaos %dms, delay %d-%dms",
                  (unsigned long long)opt->seed, w->ngroups, w->replicas, chaos_ms, w->delay_min,
                  w->delay_max);
        while (w->phase != PHASE_DONE && w->nheap > 0) {
            if (res->steps > MAX_STEPS)
                sim_fail(w, "runaway: more than %d steps", MAX_STEPS);
            step(w, pop(w));
        }
        if (w->phase != PHASE_DONE)
            sim_fail(w, "event queue ran dry");
    }
    res->virtual_ms = w->now;
    world_free(w);
    free(w);
}
