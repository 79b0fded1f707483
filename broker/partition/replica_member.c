/*
 * Membership changes of a replicated partition (issue 15 item 4): the
 * leader moves its group to the replicas the controller assigned
 * (topic_assignment.h) through the core's one-step changes — every new
 * replica joins as a learner, is promoted once caught up, and only then are
 * the replicas outside the assignment removed, the leader last, after
 * handing leadership to an assigned voter. So a quorum of the old set
 * stays until the new set holds the log, and nothing acknowledged is lost
 * however the steps interleave with failures (each waits for the previous
 * one to commit; the core enforces it).
 *
 * A removed replica is not told by the core (the leader stops sending to
 * it), so a member that hears from a node outside its committed membership
 * answers with a ReplicaRemoved notice. The controller deletes a replica
 * once the notice came (or its own log says it was removed) and its own
 * assignment agrees: both must hold, so neither a stale notice nor a
 * controller ahead of the group can delete a copy the group still counts.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "io/clock.h"
#include "net/peer.h"
#include "replica_internal.h"
#include "ringlog.pb-c.h"
#include "server.h"
#include "shard.h"
#include "topic_assignment.h"

_Static_assert(TOPIC_MAX_REPLICAS == RG_MAX_NODES, "an assignment fits a group");

/* A notice to one node at most this often per group (its messages keep coming). */
#define NOTICE_INTERVAL_MS 500

/* The config in effect is committed: its offset is below the commit (-1: the bootstrap). */
static bool config_committed(const struct replica *r)
{
    const struct replica_group *rg = &r->rg;
    assert(rg->config_count >= 1);
    return rg->configs[rg->config_count - 1].offset < replica_group_commit(rg);
}

static bool is_member(const struct rg_membership *m, int32_t node)
{
    return rg_membership_has_voter(m, node) || rg_membership_has_learner(m, node);
}

/* The offset of the config in effect here (-1: the bootstrap). */
static int64_t config_offset(const struct replica *r)
{
    assert(r->rg.config_count >= 1 && r->rg.config_count <= RG_CONFIG_HISTORY);
    return r->rg.configs[r->rg.config_count - 1].offset;
}

/* One step of the core's, logged; false when it did not start. */
static bool change(struct replica *r, enum rg_membership_change kind, int32_t node)
{
    static const char *const names[] = {"", "add learner", "promote", "remove"};
    int64_t offset = -1;
    struct rg_output *out = replica_out(r->drv);
    int rc = replica_group_change_membership(&r->rg, kind, node, &offset, out);
    replica_finish(r, out, rc);
    if (rc == RG_OK)
        DIAG_INFO("partition %s-%u: %s node %d (config at offset %lld)", r->host.topic,
                  r->host.index, names[kind], node, (long long)offset);
    else if (rc != RG_ERR_NOT_CAUGHT_UP && rc != RG_ERR_CHANGE_PENDING)
        DIAG_WARN("partition %s-%u: %s node %d: %s", r->host.topic, r->host.index, names[kind],
                  node, rg_status_str(rc));
    return rc == RG_OK;
}

/* Hands leadership to the assigned voter that has the most of the log and was heard lately. */
static void leave_leadership(struct replica *r, const int32_t *target, uint32_t n)
{
    if (replica_group_transfer_target(&r->rg) != RG_NO_NODE)
        return;
    int32_t best = RG_NO_NODE;
    int64_t best_match = -1;
    for (uint32_t i = 0; i < n; i++) {
        const struct rg_peer *peer = replica_group_peer(&r->rg, target[i]);
        if (peer && peer->voter && peer->recent_active && peer->match > best_match) {
            best = target[i];
            best_match = peer->match;
        }
    }
    if (best == RG_NO_NODE)
        return; /* no assigned voter is reachable yet: next tick */
    DIAG_INFO("partition %s-%u: handing leadership to node %d (this broker leaves the replicas)",
              r->host.topic, r->host.index, best);
    struct rg_output *out = replica_out(r->drv);
    replica_finish(r, out, replica_group_transfer_leadership(&r->rg, best, out));
}

void replica_member_tick(struct replica *r)
{
    assert(replica_is_leader(r) && !r->dead);
    int32_t target[TOPIC_MAX_REPLICAS];
    uint32_t n = partition_stats_assignment(r->host.stats, target);
    if (n == 0 || !config_committed(r) || r->drv->shard->stopping)
        return; /* as created, or the last step is not committed yet */
    const struct rg_membership *m = replica_group_membership(&r->rg);
    int32_t self = r->rg.config.self;
    for (uint32_t i = 0; i < n; i++)
        if (!is_member(m, target[i]))
            return (void)change(r, RG_CHANGE_ADD_LEARNER, target[i]);
    for (uint32_t i = 0; i < n; i++)
        if (rg_membership_has_learner(m, target[i]))
            return (void)change(r, RG_CHANGE_PROMOTE, target[i]);
    for (uint32_t i = 0; i < m->learner_count; i++)
        if (!replicas_have(target, n, m->learners[i]))
            return (void)change(r, RG_CHANGE_REMOVE, m->learners[i]);
    for (uint32_t i = 0; i < m->voter_count; i++)
        if (m->voters[i] != self && !replicas_have(target, n, m->voters[i]))
            return (void)change(r, RG_CHANGE_REMOVE, m->voters[i]);
    if (!replicas_have(target, n, self))
        leave_leadership(r, target, n);
}

int32_t replica_preferred_leader(const struct replica *r)
{
    int32_t target[TOPIC_MAX_REPLICAS];
    uint32_t n = partition_stats_assignment(r->host.stats, target);
    assert(r->rg.config.bootstrap.voter_count >= 1);
    return n > 0 ? target[0] : r->rg.config.bootstrap.voters[0];
}

/* ----------------------------------------------------- removal notices */

/* Tells `node`, which spoke to r's group from outside its committed membership, that it is out. */
void replica_member_heard_outsider(struct replica *r, int32_t node)
{
    const struct rg_membership *m = replica_group_membership(&r->rg);
    if (node < 0 || node >= REPLICA_MAX_PEERS || is_member(m, node) || !config_committed(r))
        return;
    int64_t now = clock_monotonic_ms();
    if (r->notice_node == node && now - r->notice_sent_ms < NOTICE_INTERVAL_MS)
        return;
    r->notice_node = node;
    r->notice_sent_ms = now;
    Ringlog__ReplicaRemoved rm = RINGLOG__REPLICA_REMOVED__INIT;
    rm.topic_id = r->group.topic_id;
    rm.partition = r->group.partition;
    rm.from = r->rg.config.self;
    rm.to = node;
    rm.config_offset = config_offset(r);
    Ringlog__PeerMessage pm = RINGLOG__PEER_MESSAGE__INIT;
    pm.body_case = RINGLOG__PEER_MESSAGE__BODY_REMOVED;
    pm.removed = &rm;
    size_t len = ringlog__peer_message__get_packed_size(&pm);
    struct peer_out *o = peer_out_new(len, NULL, 0);
    if (!o)
        return;
    ringlog__peer_message__pack(&pm, peer_out_head(o));
    assert(len >= 2);
    peer_send(r->drv->shard, node, o);
}

/* The PeerMessage's first key is field 30, length-delimited (0xf2 0x01). */
bool replica_notice_is(const uint8_t *body, size_t len)
{
    return len >= 2 && body[0] == 0xf2 && body[1] == 0x01;
}

struct notice_hop {
    struct loop_msg msg;
    uint64_t topic_id;
    uint32_t partition;
    int32_t from;
    int64_t config_offset;
};

/*
 * A notice counts only when its config is newer than the one in effect
 * here: a member that lags (its committed config predates this replica's
 * joining) says "removed" about a replica that was since added.
 */
static void notice_apply(struct shard *s, uint64_t topic_id, uint32_t partition, int32_t from,
                         int64_t offset)
{
    struct replica *r = s->replicas ? replica_find(s->replicas, topic_id, partition) : NULL;
    if (!r || offset <= config_offset(r) || offset <= r->removed_at)
        return;
    r->removed_at = offset;
    DIAG_INFO("partition %s-%u: node %d says the group's config at offset %lld leaves this "
              "replica out",
              r->host.topic, r->host.index, from, (long long)offset);
}

static void notice_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct notice_hop *h = rl_container_of(c, struct notice_hop, msg.arrive);
    notice_apply(shard_current(), h->topic_id, h->partition, h->from, h->config_offset);
    free(h);
}

void replica_notice_receive(struct shard *s, int32_t from, uint8_t *body, size_t len)
{
    assert(replica_notice_is(body, len));
    Ringlog__PeerMessage *pm = ringlog__peer_message__unpack(NULL, len, body);
    free(body);
    if (!pm || pm->body_case != RINGLOG__PEER_MESSAGE__BODY_REMOVED ||
        pm->removed->to != s->srv->cfg.node_id || pm->removed->from != from) {
        if (pm)
            ringlog__peer_message__free_unpacked(pm, NULL);
        return;
    }
    uint64_t topic_id = pm->removed->topic_id;
    uint32_t partition = pm->removed->partition;
    int64_t offset = pm->removed->config_offset;
    ringlog__peer_message__free_unpacked(pm, NULL);
    int owner = (int)((topic_id + partition) % (uint64_t)s->srv->nshards);
    if (owner == s->loop.id) {
        notice_apply(s, topic_id, partition, from, offset);
        return;
    }
    struct notice_hop *h = malloc(sizeof(*h));
    if (!h)
        return; /* the sender repeats it */
    *h = (struct notice_hop){
        .topic_id = topic_id, .partition = partition, .from = from, .config_offset = offset};
    h->msg.arrive.on_complete = notice_arrived;
    loop_send(&s->loop, owner, &h->msg);
}

bool replica_removable(const struct replica *r, uint64_t topic_id)
{
    assert(r != NULL && !r->dead);
    if (r->group.topic_id != topic_id || replica_is_leader(r))
        return false;
    if (r->removed_at > config_offset(r))
        return true; /* a member's committed config, newer than ours, leaves us out */
    const struct rg_membership *m = replica_group_membership(&r->rg);
    return !is_member(m, r->rg.config.self) && config_committed(r);
}
