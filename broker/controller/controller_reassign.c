/*
 * Moving partitions between brokers (controller.h, issue 15 item 4). The
 * controller only records where each partition's replicas should be (a
 * PartitionsReassigned record): every broker applies it in log order,
 * publishing the partition's new assignment (topic_assignment.h), opening a
 * replica where one is to be added (it joins its group as a learner when
 * the leader adds it), and watching a replica it is to lose until the
 * group has let it go (replica_removable), then deleting it. The moving
 * itself is the partition leader's (replica_member.c), step by step
 * through the group's own log, so it survives any broker's failure.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller_internal.h"
#include "diag.h"
#include "io/clock.h"
#include "partition/partition_table.h"
#include "partition/replica.h"
#include "server.h"
#include "shard.h"
#include "topic_assignment.h"

#define LEAVING_CHECK_MS 500

bool controller_is_decommissioned(struct controller *ctl, int32_t node)
{
    struct controller_moves *mv = controller_moves_of(ctl);
    assert(mv->decommissioned_count <= BROKER_MAX_PEERS);
    return replicas_have(mv->decommissioned, mv->decommissioned_count, node);
}

static bool is_peer(const struct server *srv, int32_t node)
{
    for (int i = 0; i < srv->cfg.peer_count; i++)
        if (srv->cfg.peers[i].node_id == node)
            return true;
    return false;
}

uint32_t controller_placeable(struct controller *ctl)
{
    const struct server *srv = controller_shard(ctl)->srv;
    uint32_t n = 0;
    for (int i = 0; i < srv->cfg.peer_count; i++)
        n += !controller_is_decommissioned(ctl, srv->cfg.peers[i].node_id);
    assert(n <= (uint32_t)srv->cfg.peer_count);
    return n;
}

/* --------------------------------------------------------- proposing */

/* A move's error, or NONE: a known topic and partition, replicas that are brokers able to take
 * them, each once. */
static int check_move(struct controller *ctl, const struct topic_table *tt,
                      struct controller_move *m)
{
    const struct server *srv = controller_shard(ctl)->srv;
    const struct topic_info *t = topic_table_find(tt, m->topic);
    m->message = NULL;
    if (!t)
        return RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
    if (m->partition >= t->partitions)
        return RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
    if (m->count == 0 || m->count > TOPIC_MAX_REPLICAS) {
        m->message = "a partition has 1 to 8 replicas";
        return RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT;
    }
    for (uint32_t i = 0; i < m->count; i++) {
        if (!is_peer(srv, m->replicas[i]))
            m->message = "a replica names a broker that is not in --peers";
        else if (controller_is_decommissioned(ctl, m->replicas[i]))
            m->message = "a replica names a decommissioned broker";
        else if (replicas_have(m->replicas, i, m->replicas[i]))
            m->message = "a broker is named twice";
        if (m->message)
            return RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT;
    }
    return RINGLOG__ERROR_CODE__NONE;
}

/* Proposes the moves whose error is NONE, with `decommissioned` (-1: none), in one record. */
static void propose_moves(struct shard *s, struct controller_call *c, struct controller_move *moves,
                          uint32_t n, int32_t decommissioned)
{
    const struct topic_table *tt = topic_registry_snapshot(&s->srv->topics);
    Ringlog__PartitionMove *pm = calloc(n ? n : 1, sizeof(*pm));
    Ringlog__PartitionMove **pp = calloc(n ? n : 1, sizeof(*pp));
    Ringlog__ClusterReassignment ra = RINGLOG__CLUSTER_REASSIGNMENT__INIT;
    if (!pm || !pp) {
        free(pm);
        free(pp);
        c->error = RINGLOG__ERROR_CODE__UNKNOWN;
        c->message = "out of memory";
        c->done(c);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (moves[i].error != RINGLOG__ERROR_CODE__NONE)
            continue;
        Ringlog__PartitionMove *m = &pm[ra.n_moves];
        ringlog__partition_move__init(m);
        m->topic = moves[i].topic;
        m->topic_id = topic_table_find(tt, moves[i].topic)->id;
        m->partition = moves[i].partition;
        m->n_replicas = moves[i].count;
        m->replicas = moves[i].replicas;
        pp[ra.n_moves++] = m;
    }
    ra.moves = pp;
    ra.n_decommissioned = decommissioned >= 0 ? 1 : 0;
    ra.decommissioned = &decommissioned;
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_PARTITIONS_REASSIGNED;
    rec.partitions_reassigned = &ra;
    controller_propose(s, c, &rec.base); /* packs at once: the arrays may go */
    free(pm);
    free(pp);
}

void controller_reassign(struct shard *s, struct controller_call *c, struct controller_move *moves,
                         uint32_t n)
{
    struct controller *ctl = s->controller;
    assert(ctl != NULL && s->loop.id == 0);
    const struct topic_table *tt = topic_registry_snapshot(&s->srv->topics);
    uint32_t valid = 0;
    for (uint32_t i = 0; i < n; i++) {
        moves[i].error = check_move(ctl, tt, &moves[i]);
        valid += moves[i].error == RINGLOG__ERROR_CODE__NONE;
    }
    if (valid == 0) {
        c->ctl = ctl;
        c->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
        c->message = "no partition could be moved: see each one's error";
        c->done(c);
        return;
    }
    propose_moves(s, c, moves, n, -1);
}

/* Replicas each broker holds now, by its index in --peers. */
static void count_load(const struct server *srv, const struct topic_table *tt, uint32_t *load)
{
    for (uint32_t k = 0; k < tt->count; k++) {
        const struct topic_info *t = tt->topics[k];
        for (uint32_t p = 0; t->replicas && p < t->partitions; p++) {
            int32_t nodes[TOPIC_MAX_REPLICAS];
            uint32_t n = topic_replicas(t, p, nodes);
            for (int i = 0; i < srv->cfg.peer_count; i++)
                load[i] += replicas_have(nodes, n, srv->cfg.peers[i].node_id);
        }
    }
}

/* The broker to take `node`'s replica in m: placeable, not in m, holding the fewest; -1: none. */
static int pick_broker(struct controller *ctl, const struct controller_move *m, int32_t node,
                       const uint32_t *load)
{
    const struct server *srv = controller_shard(ctl)->srv;
    int best = -1;
    for (int i = 0; i < srv->cfg.peer_count; i++) {
        int32_t id = srv->cfg.peers[i].node_id;
        if (id == node || controller_is_decommissioned(ctl, id) ||
            replicas_have(m->replicas, m->count, id))
            continue;
        if (best < 0 || load[i] < load[best] ||
            (load[i] == load[best] && id < srv->cfg.peers[best].node_id))
            best = i;
    }
    return best;
}

/* Every partition with a replica on node, moved to the least loaded brokers; NONE or an error. */
static int plan_decommission(struct controller *ctl, const struct topic_table *tt, int32_t node,
                             struct controller_move *moves, uint32_t *n)
{
    const struct server *srv = controller_shard(ctl)->srv;
    uint32_t load[BROKER_MAX_PEERS] = {0};
    count_load(srv, tt, load);
    for (uint32_t k = 0; k < tt->count; k++) {
        const struct topic_info *t = tt->topics[k];
        for (uint32_t p = 0; t->replicas && p < t->partitions; p++) {
            struct controller_move *m = &moves[*n];
            m->count = topic_replicas(t, p, m->replicas);
            if (!replicas_have(m->replicas, m->count, node))
                continue;
            int to = pick_broker(ctl, m, node, load);
            if (to < 0)
                return RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT;
            for (uint32_t i = 0; i < m->count; i++)
                if (m->replicas[i] == node)
                    m->replicas[i] = srv->cfg.peers[to].node_id;
            load[to]++;
            snprintf(m->topic, sizeof(m->topic), "%s", t->name);
            m->partition = p;
            m->error = RINGLOG__ERROR_CODE__NONE;
            (*n)++;
        }
    }
    return RINGLOG__ERROR_CODE__NONE;
}

void controller_decommission(struct shard *s, struct controller_call *c, int32_t node,
                             struct controller_move **moves, uint32_t *n)
{
    struct controller *ctl = s->controller;
    assert(ctl != NULL && s->loop.id == 0);
    const struct topic_table *tt = topic_registry_snapshot(&s->srv->topics);
    size_t total = 1;
    for (uint32_t k = 0; k < tt->count; k++)
        total += tt->topics[k]->partitions;
    *n = 0;
    *moves = calloc(total, sizeof(**moves));
    c->ctl = ctl;
    c->error = RINGLOG__ERROR_CODE__NONE;
    if (!*moves) {
        c->error = RINGLOG__ERROR_CODE__UNKNOWN;
        c->message = "out of memory";
    } else if (!is_peer(s->srv, node)) {
        c->error = RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT;
        c->message = "no broker of that id is in --peers";
    } else if (plan_decommission(ctl, tt, node, *moves, n) != RINGLOG__ERROR_CODE__NONE) {
        c->error = RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT;
        c->message = "a partition has no other broker to move to: add a broker, or lower "
                     "its replicas first";
    }
    if (c->error != RINGLOG__ERROR_CODE__NONE) {
        *n = 0;
        c->done(c);
        return;
    }
    propose_moves(s, c, *moves, *n, node);
}

/* ---------------------------------------------------------- applying */

static bool valid_replicas(const struct server *srv, const Ringlog__PartitionMove *m)
{
    if (m->n_replicas == 0 || m->n_replicas > TOPIC_MAX_REPLICAS)
        return false;
    for (size_t i = 0; i < m->n_replicas; i++)
        if (!is_peer(srv, m->replicas[i]) ||
            replicas_have(m->replicas, (uint32_t)i, m->replicas[i]))
            return false;
    return true;
}

/* Watches this broker's replica of (t, p) until the group lets it go. */
static void leaving_add(struct controller *ctl, const struct topic_info *t, uint32_t p)
{
    struct controller_moves *mv = controller_moves_of(ctl);
    for (struct leaving_replica *l = mv->leaving; l; l = l->next)
        if (l->topic_id == t->id && l->partition == p)
            return;
    struct leaving_replica *l = calloc(1, sizeof(*l));
    if (!l) {
        DIAG_WARN("out of memory: the replica of %s-%u stays until the next start", t->name, p);
        return;
    }
    snprintf(l->topic, sizeof(l->topic), "%s", t->name);
    l->topic_id = t->id;
    l->partition = p;
    l->self = controller_shard(ctl)->srv->cfg.node_id;
    l->moved_at = controller_record_offset(ctl);
    l->next = mv->leaving;
    mv->leaving = l;
}

/* One move: the new assignment published, this broker's replica opened or watched. */
static void apply_move(struct controller *ctl, const Ringlog__PartitionMove *m, struct apply_op *op)
{
    struct server *srv = controller_shard(ctl)->srv;
    struct topic_info *t = topic_table_find(topic_registry_snapshot(&srv->topics), m->topic);
    if (!t || t->id != m->topic_id || !t->replicas || m->partition >= t->partitions ||
        !valid_replicas(srv, m)) {
        DIAG_WARN("a move of %s-%u does not apply (the topic changed since): skipped", m->topic,
                  m->partition);
        return;
    }
    int32_t self = srv->cfg.node_id, old[TOPIC_MAX_REPLICAS];
    uint32_t n_old = topic_replicas(t, m->partition, old);
    topic_assign(t, m->partition, m->replicas, (uint32_t)m->n_replicas);
    bool stays = replicas_have(m->replicas, (uint32_t)m->n_replicas, self);
    DIAG_INFO("partition %s-%u moves to replicas %s", m->topic, m->partition,
              stays ? "including this broker" : "without this broker");
    if (stays) {
        *op = (struct apply_op){.topic = t, .partition = m->partition, .create = true};
        controller_op_start(ctl, op); /* opened here if it was not (a learner to be) */
    } else if (replicas_have(old, n_old, self)) {
        leaving_add(ctl, t, m->partition);
    }
}

void controller_apply_reassignment(struct controller *ctl, const Ringlog__ClusterReassignment *ra)
{
    struct controller_moves *mv = controller_moves_of(ctl);
    for (size_t i = 0; i < ra->n_decommissioned; i++) {
        int32_t node = ra->decommissioned[i];
        if (!controller_is_decommissioned(ctl, node) &&
            mv->decommissioned_count < BROKER_MAX_PEERS) {
            mv->decommissioned[mv->decommissioned_count++] = node;
            DIAG_INFO("broker %d decommissioned: no new replicas go there", node);
        }
    }
    struct apply_op *ops = calloc(ra->n_moves ? ra->n_moves : 1, sizeof(*ops));
    controller_ops_begin(ctl, ops);
    for (size_t i = 0; ops && i < ra->n_moves; i++)
        apply_move(ctl, ra->moves[i], &ops[i]);
    if (!ops)
        DIAG_ERROR("out of memory applying a reassignment: it is applied at the next start");
    controller_ops_end(ctl);
}

/* --------------------------------------------------- leaving replicas */

static void leaving_deleted(struct partition_delete *pd)
{
    struct leaving_replica *l = rl_container_of(pd, struct leaving_replica, del);
    hop_return(&shard_current()->loop, &l->hop);
}

/* On the owner shard: delete the replica if the group let it go, forget it if it is wanted. */
static void leaving_check(struct hop *hop)
{
    struct leaving_replica *l = (struct leaving_replica *)hop;
    struct shard *owner = shard_current();
    struct partition *p = partition_table_find(owner->parts, l->topic, l->partition);
    int32_t nodes[TOPIC_MAX_REPLICAS];
    uint32_t n = p ? partition_stats_assignment(p->stats, nodes) : 0;
    if (!p || !p->replica || n == 0 || replicas_have(nodes, n, l->self)) {
        l->gone = true; /* deleted with its topic, or assigned here again */
    } else if (replica_removable(p->replica, l->topic_id)) {
        DIAG_INFO("partition %s-%u: the group no longer holds this replica: deleting it", l->topic,
                  l->partition);
        partition_table_remove(owner->parts, p);
        l->gone = true;
        l->deleted = true;
        l->del.done = leaving_deleted;
        partition_delete(p, &l->del);
        return;
    }
    hop_return(&owner->loop, hop);
}

uint32_t controller_moves_out(struct controller *ctl)
{
    return controller_moves_of(ctl)->checks_out;
}

static void leaving_checked(struct hop *hop)
{
    struct leaving_replica *l = (struct leaving_replica *)hop;
    assert(l->busy);
    l->busy = false;
    if (l->self < 0) {
        free(l); /* the controller stopped while it was out */
        return;
    }
    struct controller *ctl = shard_current()->controller;
    struct controller_moves *mv = controller_moves_of(ctl);
    assert(mv->checks_out > 0);
    if (l->deleted) /* a restart's replay must not open it again */
        controller_removed_add(mv, controller_shard(ctl)->srv->cfg.data_dir, l->topic_id,
                               l->partition, l->moved_at);
    if (--mv->checks_out == 0)
        controller_kick(ctl); /* records held back while the check was out */
}

void controller_moves_tick(struct controller *ctl)
{
    struct controller_moves *mv = controller_moves_of(ctl);
    struct shard *s = controller_shard(ctl);
    int64_t now = clock_monotonic_ms();
    if (!mv->leaving || now < mv->next_check_ms || controller_applying(ctl))
        return; /* not while a record is applied: its ops may open the same partition */
    mv->next_check_ms = now + LEAVING_CHECK_MS;
    struct leaving_replica **pp = &mv->leaving;
    while (*pp) {
        struct leaving_replica *l = *pp;
        if (l->gone && !l->busy) {
            *pp = l->next;
            free(l);
            continue;
        }
        if (!l->busy) {
            l->busy = true;
            mv->checks_out++;
            l->hop.run = leaving_check;
            l->hop.done = leaving_checked;
            l->hop.owner = (int)((l->topic_id + l->partition) % (uint64_t)s->srv->nshards);
            hop_start(&s->loop, &l->hop);
        }
        pp = &l->next;
    }
}

void controller_moves_stop(struct controller *ctl)
{
    struct controller_moves *mv = controller_moves_of(ctl);
    while (mv->leaving) {
        struct leaving_replica *l = mv->leaving;
        mv->leaving = l->next;
        if (l->busy)
            l->self = -1; /* freed when it comes back; nothing is applied any more */
        else
            free(l);
    }
    controller_removed_free(mv);
}
