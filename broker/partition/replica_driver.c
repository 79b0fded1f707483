/*
 * The replication driver's groups, events and outputs (replica.h). Every
 * event goes into the core with the driver's one output buffer and is
 * carried out at once in the core's order: hard state noted for the
 * turn's journal write, log ops issued to storage, messages queued (they
 * leave in replica_driver_before_wait, after the journal's fdatasync),
 * then commit and leadership published to the partition.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "io/clock.h"
#include "log/log_status.h"
#include "replica_internal.h"
#include "replica_tail.h"
#include "replica_repair.h"
#include "status.h"
#include "topic_assignment.h"
#include "server.h"
#include "shard.h"

static uint32_t bucket(uint64_t topic_id, uint32_t partition)
{
    uint64_t h = (topic_id * 0x9e3779b97f4a7c15ull) ^ (partition * 0xc2b2ae3d27d4eb4full);
    return (uint32_t)(h >> 40) % REPLICA_HASH_BUCKETS;
}

struct replica *replica_find(struct replica_driver *d, uint64_t topic_id, uint32_t partition)
{
    for (struct replica *r = d->table[bucket(topic_id, partition)]; r; r = r->hash_next)
        if (r->group.topic_id == topic_id && r->group.partition == partition && !r->dead)
            return r;
    return NULL;
}

struct rg_output *replica_out(struct replica_driver *d)
{
    assert(d->depth < REPLICA_OUT_DEPTH);
    struct rg_output *out = &d->outs[d->depth++].out;
    rg_output_reset(out);
    return out;
}

static void carry_out(struct replica *r, struct rg_output *out);

void replica_finish(struct replica *r, struct rg_output *out, int rc)
{
    struct replica_driver *d = r->drv;
    assert(d->depth > 0 && out == &d->outs[d->depth - 1].out);
    if (rc == RG_OK && !r->dead)
        carry_out(r, out);
    d->depth--;
}

int replica_driver_init(struct shard *s, char *err, size_t err_len)
{
    assert(s->replicas == NULL);
    struct replica_driver *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    d->shard = s;
    int rc = replica_state_open(&d->journal, s->srv->cfg.data_dir, s->loop.id);
    if (rc != 0) {
        snprintf(err, err_len, "opening the replica state journal: %s", strerror(-rc));
        free(d);
        return -1;
    }
    for (int i = 0; i < REPLICA_OUT_DEPTH; i++) {
        struct replica_outbuf *b = &d->outs[i];
        rg_output_init(&b->out, b->msgs, REPLICA_OUT_MESSAGES, b->ops,
                       sizeof(b->ops) / sizeof(b->ops[0]));
        rg_output_set_heartbeats(&b->out, b->hbs, sizeof(b->hbs) / sizeof(b->hbs[0]));
    }
    rg_clock_init(&d->clock, REPLICA_TICK_MS, (uint64_t)(clock_monotonic_ns() / 1000000));
    rl_arena_init(&d->arena, 64 << 10, 64 << 20);
    d->tail_budget = s->srv->cfg.replica_tail_bytes;
    s->replicas = d;
    return 0;
}

void replica_driver_destroy(struct shard *s)
{
    struct replica_driver *d = s->replicas;
    if (!d)
        return;
    /* Partitions detach before this (close_partitions); only dead replicas with
     * storage operations that never completed could remain. */
    assert(d->count == 0);
    replica_tail_sends(d); /* dead by now: each is only given back */
    replica_net_destroy(d);
    replica_state_close(&d->journal);
    rl_arena_destroy(&d->arena);
    free(d);
    s->replicas = NULL;
}

/* A group's invariant broke: the broker stops rather than serve a replica it cannot trust. */
static void group_assert(void *ctx, const char *file, int line, const char *expr)
{
    struct replica *r = ctx;
    DIAG_ERROR("replication invariant broken in group %llu-%u: %s:%d: %s",
               (unsigned long long)r->group.topic_id, r->group.partition, file, line, expr);
    abort();
}

/* The group's members (voters, then learners) for Metadata on every shard. */
static void publish_members(struct replica *r)
{
    const struct rg_membership *m = replica_group_membership(&r->rg);
    int32_t nodes[RG_MAX_NODES];
    uint32_t n = 0;
    assert(m->voter_count + m->learner_count <= RG_MAX_NODES);
    for (uint32_t i = 0; i < m->voter_count; i++)
        nodes[n++] = m->voters[i];
    for (uint32_t i = 0; i < m->learner_count; i++)
        nodes[n++] = m->learners[i];
    replica_set_write(&r->host.stats->members, nodes, n);
}

/*
 * The membership configs the log keeps (partition_log_configs), decoded
 * into configs (LOG_MAX_CONFIGS of room) for the core's restore: without
 * them a replica whose group changed members would restart with the
 * bootstrap's. Returns how many.
 */
static uint32_t restore_configs(struct replica *r, const struct replica_host *p,
                                struct rg_config_entry *configs)
{
    const struct log_config *c;
    uint32_t n = partition_log_configs(p->log, &c), k = 0;
    int64_t end = partition_log_end_offset(p->log);
    assert(n <= LOG_MAX_CONFIGS);
    for (uint32_t i = 0; i < n; i++) {
        struct rg_config_entry *e = &configs[k];
        if (c[i].offset >= end ||
            replica_wire_decode_membership(c[i].value, c[i].len, &e->membership) != RL_OK ||
            !rg_membership_valid(&e->membership)) {
            DIAG_WARN("group %llu-%u: the config batch at %lld is not readable: skipped",
                      (unsigned long long)r->group.topic_id, r->group.partition,
                      (long long)c[i].offset);
            continue;
        }
        e->offset = c[i].offset;
        k++;
    }
    assert(k <= n);
    return k;
}

/* The restore of a group from its partition's log and the shard's journal. */
static void fill_restore(struct replica *r, const struct replica_host *p, bool new_group,
                         struct replica_group_restore *rs, struct rg_config_entry *configs)
{
    struct server *srv = p->shard->srv;
    memset(rs, 0, sizeof(*rs));
    bool known = replica_state_lookup(&srv->hard_states, r->group.topic_id, r->group.partition,
                                      &rs->hard_state);
    const struct log_epoch_run *runs;
    int32_t start_epoch = 0;
    uint32_t n = partition_log_epochs(p->log, &runs, &start_epoch);
    for (uint32_t i = 0; i < n && i < r->epoch_cap; i++)
        r->epochs[i] = (struct rg_epoch_run){.epoch = runs[i].epoch, .start = runs[i].start};
    rs->log_start = partition_log_start_offset(p->log);
    rs->start_epoch = rs->log_start > 0 ? start_epoch : 0;
    rs->log_end = partition_log_end_offset(p->log);
    rs->epochs = r->epochs;
    rs->epoch_count = n < r->epoch_cap ? n : r->epoch_cap;
    int64_t hw = partition_log_high_watermark(p->log);
    rs->commit = hw > rs->log_start ? hw : rs->log_start;
    rs->new_group = new_group && !known && rs->log_end == 0;
    rs->configs = configs;
    rs->config_count = restore_configs(r, p, configs);
}

static void fill_config(struct replica *r, struct server *srv, const struct rg_membership *m,
                        struct replica_group_config *c)
{
    memset(c, 0, sizeof(*c));
    c->self = srv->cfg.node_id;
    c->bootstrap = *m;
    c->election_ticks = REPLICA_ELECTION_TICKS;
    c->heartbeat_ticks = REPLICA_HEARTBEAT_TICKS;
    c->max_inflight = 8;
    c->seed = srv->incarnation ^ (r->group.topic_id * 31 + r->group.partition);
    c->initial_tick = rg_clock_ticks(&r->drv->clock);
    c->incarnation = srv->incarnation;
    c->pre_vote = true;
    c->check_quorum = true;
    c->assert_handler = group_assert;
    c->assert_ctx = r;
}

struct replica *replica_attach(const struct replica_host *p, const struct replica_events *ev,
                               uint64_t topic_id, const struct rg_membership *replicas,
                               bool new_group, char *err, size_t err_len)
{
    struct replica_driver *d = p->shard->replicas;
    assert(p->shard == shard_current() && d != NULL);
    assert(p->owner != NULL && rg_membership_valid(replicas));
    struct replica *r = calloc(1, sizeof(*r));
    uint32_t cap = LOG_MAX_EPOCH_RUNS + 16;
    if (r)
        r->epochs = calloc(cap, sizeof(*r->epochs));
    if (!r || !r->epochs) {
        free(r);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    r->drv = d;
    r->host = *p;
    r->ev = ev;
    r->epoch_cap = cap;
    r->group = (struct rw_group){.topic_id = topic_id, .partition = p->index};
    struct replica_group_config cfg;
    struct replica_group_restore rs;
    struct rg_config_entry configs[LOG_MAX_CONFIGS];
    fill_config(r, p->shard->srv, replicas, &cfg);
    fill_restore(r, p, new_group, &rs, configs);
    int rc = replica_group_init(&r->rg, &cfg, &rs, r->epochs, r->epoch_cap);
    if (rc != RG_OK) {
        snprintf(err, err_len, "replica group %llu-%u: %s", (unsigned long long)topic_id, p->index,
                 rg_status_str(rc));
        free(r->epochs);
        free(r);
        return NULL;
    }
    r->commit = replica_group_commit(&r->rg);
    publish_members(r);
    /* A new leader gives its followers one window from the attach. */
    r->attached_ms = clock_monotonic_ms();
    for (uint32_t i = 0; i < RG_MAX_NODES; i++) {
        r->heard_node[i] = -1;
        r->heard_ms[i] = r->attached_ms;
    }
    r->notice_node = -1;
    r->removed_at = -2;
    uint32_t b = bucket(topic_id, p->index);
    r->hash_next = d->table[b];
    d->table[b] = r;
    r->next = d->list;
    d->list = r;
    d->count++;
    return r;
}

static void unlink_replica(struct replica_driver *d, struct replica *r)
{
    struct replica **pp = &d->table[bucket(r->group.topic_id, r->group.partition)];
    while (*pp != r)
        pp = &(*pp)->hash_next;
    *pp = r->hash_next;
    pp = &d->list;
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    assert(d->count > 0);
    d->count--;
}

/* A detached replica's memory goes once no storage operation holds it. */
static void free_if_idle(struct replica *r)
{
    assert(r->dead);
    replica_tail_drop(r);
    if (r->io_pending == 0) {
        replica_repair_free(r);
        free(r->epochs);
        free(r);
    }
}

void replica_release(struct replica *r)
{
    assert(r->io_pending > 0);
    if (--r->io_pending == 0 && r->dead)
        free_if_idle(r);
}

void replica_detach(struct replica *r)
{
    if (!r)
        return;
    assert(!r->dead && r->host.shard == shard_current());
    unlink_replica(r->drv, r);
    r->dead = true;
    free_if_idle(r);
}

/* Failover time as this replica sees it, and leaderships gained. */
static void note_leader(struct replica *r, bool gained, int32_t leader)
{
    struct shard_metrics *m = &r->host.shard->metrics;
    int64_t now = clock_monotonic_ns();
    if (gained)
        metrics_add(&m->leaderships_gained, 1);
    if (leader < 0 && r->leaderless_since_ns == 0)
        r->leaderless_since_ns = now;
    if (leader >= 0 && r->leaderless_since_ns != 0) {
        metrics_observe(&m->leaderless, (now - r->leaderless_since_ns) / 1000);
        r->leaderless_since_ns = 0;
    }
}

/* Commit and leadership, published to the partition (step 4 of the core's order). */
static void publish(struct replica *r, const struct rg_output *out)
{
    const struct replica_host *p = &r->host;
    if (out->membership_changed)
        publish_members(r);
    if (out->role_changed) {
        bool leader = out->role == RG_ROLE_LEADER;
        bool was = atomic_load(&p->stats->leader) == p->shard->srv->cfg.node_id;
        /* Leadership gained or lost is worth a line; elections' steps are not
         * (10,000 partitions would log 40,000 lines at creation). */
        diag(leader != was ? DIAG_LEVEL_INFO : DIAG_LEVEL_DEBUG,
             "partition %s-%u: %s in epoch %lld (leader %d)", p->topic, p->index,
             rg_role_str(out->role), (long long)out->term, out->leader);
        if (!leader)
            replica_tail_drop(r); /* a new leader's log may differ: never send from it */
        r->ev->leadership(p->owner, leader, out->leader, (int32_t)out->term);
        note_leader(r, leader && !was, out->leader);
    }
    if (out->commit_changed && out->commit > r->commit) {
        r->commit = out->commit;
        replica_checkpoint_commit(r);
        r->ev->commit(p->owner, out->commit);
    }
}

static void carry_out(struct replica *r, struct rg_output *out)
{
    assert(!r->dead && r->host.owner != NULL);
    if (out->hard_state_changed) {
        r->hs = out->hard_state;
        r->hs_dirty = true;
        r->drv->hs_dirty = true;
    }
    if (out->epoch_table_full) {
        uint32_t cap = r->epoch_cap * 2;
        struct rg_epoch_run *n = calloc(cap, sizeof(*n));
        if (n && replica_group_set_epoch_storage(&r->rg, n, cap) == RG_OK) {
            free(r->epochs);
            r->epochs = n;
            r->epoch_cap = cap;
        } else {
            free(n);
        }
    }
    for (uint32_t i = 0; i < out->op_count; i++)
        replica_log_op(r, &out->ops[i]);
    /* append_read may add a message at the end: walk by index. */
    for (uint32_t i = 0; i < out->message_count; i++) {
        if (out->messages[i].type == RG_MSG_APPEND)
            replica_read_append(r, &out->messages[i]);
        else
            replica_send_message(r, &out->messages[i], NULL, NULL, 0);
    }
    for (uint32_t i = 0; i < out->heartbeat_count; i++)
        replica_queue_heartbeat(r, &out->heartbeats[i]);
    publish(r, out);
}

/* Replication gauges of a shard, summed over its groups by publish_isr. */
struct repl_gauges {
    uint64_t hosted, led, under, lag_max;
};

/*
 * Leaders spread the way placement put the replicas: the first replica of
 * a partition's assignment is its preferred leader. Elections pick by
 * chance (one broker led 60 % of 1,000 new partitions), so a leader hands
 * over to the preferred replica once that one has been in sync for a
 * while (Kafka's preferred-leader election, without its 5-minute wait).
 */
static void prefer_leader(struct replica *r, uint64_t isr)
{
    int32_t preferred = replica_preferred_leader(r);
    bool in_sync = preferred >= 0 && preferred < 64 && ((isr >> preferred) & 1);
    if (preferred == r->rg.config.self || !in_sync || r->drv->shard->stopping ||
        replica_group_transfer_target(&r->rg) != RG_NO_NODE) {
        r->preferred_ticks = 0;
        return;
    }
    if (++r->preferred_ticks < REPLICA_PREFERRED_TICKS)
        return;
    r->preferred_ticks = 0;
    struct rg_output *out = replica_out(r->drv);
    replica_finish(r, out, replica_group_transfer_leadership(&r->rg, preferred, out));
}

/* A leader's in-sync replicas, for Metadata on every shard (bit = node id). */
static void publish_isr(struct replica *r, struct repl_gauges *g)
{
    int32_t nodes[RG_MAX_NODES];
    bool leads = replica_is_leader(r);
    uint32_t n = leads ? replica_in_sync(r, nodes, RG_MAX_NODES) : 0;
    uint64_t mask = 0;
    for (uint32_t i = 0; i < n; i++)
        if (nodes[i] >= 0 && nodes[i] < 64)
            mask |= 1ull << nodes[i];
    atomic_store_explicit(&r->host.stats->isr, mask, memory_order_relaxed);
    g->hosted++;
    if (!leads)
        return;
    prefer_leader(r, mask);
    replica_member_tick(r);
    const struct rg_membership *m = replica_group_membership(&r->rg);
    g->led++;
    g->under += n < m->voter_count;
    int64_t end = replica_group_log_end(&r->rg);
    for (uint32_t i = 0; i < m->voter_count; i++) {
        const struct rg_peer *peer = replica_group_peer(&r->rg, m->voters[i]);
        if (peer && m->voters[i] != r->rg.config.self && end - peer->match > (int64_t)g->lag_max)
            g->lag_max = (uint64_t)(end - peer->match);
    }
}

/* Every REPLICA_ISR_SAMPLE_TICKS: the log end now, for the in-sync test (replica_internal.h). */
static void note_end(struct replica *r, uint64_t ticks)
{
    r->end_ticks += (uint32_t)ticks;
    if (r->end_ticks < REPLICA_ISR_SAMPLE_TICKS)
        return;
    r->end_ticks = 0;
    r->end_ring[r->end_pos++ % REPLICA_ISR_TICKS] = replica_group_log_end(&r->rg);
}

/* Runs every tick the shard's clock says is due on every group, in phase. */
void replica_driver_tick(struct shard *s)
{
    struct replica_driver *d = s->replicas;
    if (!d)
        return;
    uint64_t due = rg_clock_advance(&d->clock, (uint64_t)(clock_monotonic_ns() / 1000000));
    if (due > 4 * REPLICA_ELECTION_TICKS)
        due = 4 * REPLICA_ELECTION_TICKS; /* a stall: a few timeouts' worth is the same */
    for (uint64_t t = 0; t < due; t++) {
        for (struct replica *r = d->list; r; r = r->next) {
            if (r->fenced)
                continue;
            struct rg_output *out = replica_out(d);
            replica_finish(r, out, replica_group_tick(&r->rg, out));
        }
    }
    if (due == 0)
        return;
    replica_repair_tick(d);
    struct repl_gauges g = {0};
    for (struct replica *r = d->list; r; r = r->next) {
        note_end(r, due);
        publish_isr(r, &g);
        replica_tail_tick(r, s->loop.now_ms);
    }
    atomic_store(&s->metrics.replicas_hosted, g.hosted);
    atomic_store(&s->metrics.replicas_led, g.led);
    atomic_store(&s->metrics.under_replicated, g.under);
    atomic_store(&s->metrics.replica_lag_max, g.lag_max);
    atomic_store(&s->metrics.replica_tail_bytes,
                 (uint64_t)(s->srv->cfg.replica_tail_bytes - d->tail_budget));
}

/* The turn's hard states, written and synced once; false when they are not durable. */
static bool sync_hard_states(struct replica_driver *d)
{
    struct server *srv = d->shard->srv;
    int rc = 0;
    for (struct replica *r = d->list; r && rc == 0; r = r->next) {
        if (!r->hs_dirty)
            continue;
        struct replica_state_entry e = {.topic_id = r->group.topic_id,
                                        .partition = r->group.partition,
                                        .seq = replica_state_next_seq(&srv->hard_states),
                                        .hs = r->hs};
        rc = replica_state_write(&d->journal, &e);
        if (rc == 0)
            r->hs_dirty = false;
    }
    if (rc == 0)
        rc = replica_state_sync(&d->journal);
    if (rc != 0) {
        DIAG_ERROR("writing replica hard state: %s (messages held until it succeeds)",
                   strerror(-rc));
        return false;
    }
    d->hs_dirty = false;
    return true;
}

void replica_driver_before_wait(struct shard *s)
{
    struct replica_driver *d = s->replicas;
    if (!d)
        return;
    replica_tail_sends(d);
    if (d->hs_dirty && !sync_hard_states(d))
        return;
    replica_net_flush(d);
}

/* The voter to hand r's leadership to: heard from lately, the longest match. */
static int32_t hand_over_target(const struct replica *r)
{
    const struct rg_membership *m = replica_group_membership(&r->rg);
    int32_t best = RG_NO_NODE;
    int64_t best_match = -1;
    for (uint32_t i = 0; i < m->voter_count; i++) {
        const struct rg_peer *peer = replica_group_peer(&r->rg, m->voters[i]);
        if (m->voters[i] == r->rg.config.self || !peer || !peer->recent_active)
            continue;
        if (peer->match > best_match) {
            best = m->voters[i];
            best_match = peer->match;
        }
    }
    assert(best == RG_NO_NODE || best != r->rg.config.self);
    return best;
}

uint32_t replica_driver_hand_over(struct shard *s)
{
    struct replica_driver *d = s->replicas;
    uint32_t leading = 0;
    for (struct replica *r = d ? d->list : NULL; r; r = r->next) {
        if (r->fenced || !replica_is_leader(r))
            continue;
        leading++;
        if (replica_group_transfer_target(&r->rg) != RG_NO_NODE)
            continue;
        int32_t target = hand_over_target(r);
        if (target == RG_NO_NODE)
            continue; /* nobody to take it: it stays until the broker stops */
        struct rg_output *out = replica_out(d);
        replica_finish(r, out, replica_group_transfer_leadership(&r->rg, target, out));
    }
    return leading;
}

/* ------------------------------------------------------- partition tier */

bool replica_is_leader(const struct replica *r)
{
    return replica_group_role(&r->rg) == RG_ROLE_LEADER;
}

int32_t replica_leader(const struct replica *r)
{
    return replica_group_leader(&r->rg);
}

int32_t replica_leader_hint(const struct replica *r)
{
    int32_t target = replica_group_transfer_target(&r->rg);
    return target != RG_NO_NODE ? target : replica_group_leader(&r->rg);
}

int32_t replica_term(const struct replica *r)
{
    return (int32_t)replica_group_term(&r->rg);
}

int64_t replica_commit(const struct replica *r)
{
    return r->commit;
}

const struct rg_membership *replica_members(const struct replica *r)
{
    return replica_group_membership(&r->rg);
}

/* Where `node`'s last-heard time is kept: its slot, else a free or the stalest one. */
static uint32_t heard_slot(const struct replica *r, int32_t node)
{
    uint32_t slot = 0;
    for (uint32_t i = 0; i < RG_MAX_NODES; i++) {
        if (r->heard_node[i] == node)
            return i;
        if (r->heard_node[slot] != -1 &&
            (r->heard_node[i] == -1 || r->heard_ms[i] < r->heard_ms[slot]))
            slot = i;
    }
    return slot;
}

/* When node was last heard from; a node never heard from counts from the replica's start. */
static int64_t heard_at(const struct replica *r, int32_t node)
{
    uint32_t i = heard_slot(r, node);
    return r->heard_node[i] == node ? r->heard_ms[i] : r->attached_ms;
}

void replica_heard(struct replica *r, int32_t node)
{
    assert(node >= 0);
    uint32_t i = heard_slot(r, node);
    assert(i < RG_MAX_NODES);
    r->heard_node[i] = node;
    r->heard_ms[i] = clock_monotonic_ms();
}

uint32_t replica_in_sync(const struct replica *r, int32_t *nodes, uint32_t cap)
{
    const struct rg_membership *m = replica_group_membership(&r->rg);
    uint32_t n = 0;
    int32_t self = r->rg.config.self;
    int64_t now = clock_monotonic_ms();
    /* The oldest end in the ring (it starts all 0: in sync at birth). */
    int64_t then = r->end_ring[r->end_pos % REPLICA_ISR_TICKS];
    for (uint32_t i = 0; i < m->voter_count && n < cap; i++) {
        int32_t id = m->voters[i];
        if (id == self) {
            nodes[n++] = id;
            continue;
        }
        const struct rg_peer *peer = replica_group_peer(&r->rg, id);
        bool heard = now - heard_at(r, id) <= REPLICA_ISR_TICKS * REPLICA_TICK_MS;
        if (peer && replica_is_leader(r) && heard && peer->durable_match >= then)
            nodes[n++] = id;
    }
    assert(n <= cap);
    return n;
}

int replica_propose(struct replica *r, int32_t records, int64_t *base, int32_t *epoch,
                    uint64_t *write_gen)
{
    assert(!r->dead && records > 0);
    *write_gen = r->write_gen;
    if (r->fenced)
        return RG_ERR_NOT_LEADER;
    struct rg_output *out = replica_out(r->drv);
    int rc = replica_group_propose(&r->rg, records, base, epoch, out);
    replica_finish(r, out, rc);
    return rc;
}

void replica_set_stats(struct replica *r, struct partition_stats *stats)
{
    assert(stats != NULL);
    r->host.stats = stats;
}
