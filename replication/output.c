/*
 * The output buffer: messages and log ops go into arrays the caller owns;
 * every event function first checks there is room for the worst case of one
 * event, so the core never has to drop or half-emit an output.
 */
#include <string.h>

#include "rg_internal.h"

void rg_output_init(struct rg_output *out, struct rg_message *messages, uint32_t message_capacity,
                    struct rg_log_op *ops, uint32_t op_capacity)
{
    memset(out, 0, sizeof(*out));
    out->messages = messages;
    out->message_capacity = message_capacity;
    out->ops = ops;
    out->op_capacity = op_capacity;
}

void rg_output_set_heartbeats(struct rg_output *out, struct rg_heartbeat *heartbeats,
                              uint32_t capacity)
{
    out->heartbeats = heartbeats;
    out->heartbeat_capacity = heartbeats != NULL ? capacity : 0;
    out->heartbeat_count = 0;
}

void rg_output_reset(struct rg_output *out)
{
    out->message_count = 0;
    out->op_count = 0;
    out->heartbeat_count = 0;
    out->epoch_table_full = false;
    out->hard_state_changed = false;
    out->commit_changed = false;
    out->role_changed = false;
    out->membership_changed = false;
}

struct rg_message *rg_out_message(struct replica_group *rg, struct rg_output *out,
                                  enum rg_message_type type, int32_t to)
{
    RG_ASSERT(out->message_count < out->message_capacity);
    struct rg_message *m = &out->messages[out->message_count++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = rg->config.self;
    m->to = to;
    m->term = rg->term;
    m->incarnation = rg->config.incarnation;
    if (type == RG_MSG_PRE_VOTE_RESPONSE || type == RG_MSG_VOTE_RESPONSE) {
        /* For a recovering replica's vote floor (recovery.c). */
        m->known_term = rg->recovering ? -1 : rg->term > rg->vote_floor ? rg->term : rg->vote_floor;
    }
    if (to == rg->reply_to) {
        m->to_incarnation = rg->reply_incarnation; /* echo: "I heard this incarnation" */
    } else {
        const struct rg_peer *p = rg_peer_find(rg, to);
        m->to_incarnation = p != NULL ? p->incarnation : 0;
    }
    return m;
}

void rg_out_heartbeat(struct replica_group *rg, struct rg_output *out, int32_t to)
{
    if (out->heartbeats == NULL) {
        struct rg_message *m = rg_out_message(rg, out, RG_MSG_HEARTBEAT, to);
        m->commit = rg->commit;
        return;
    }
    RG_ASSERT(out->heartbeat_count < out->heartbeat_capacity);
    const struct rg_peer *p = rg_peer_find(rg, to);
    RG_ASSERT(p != NULL);
    struct rg_heartbeat *hb = &out->heartbeats[out->heartbeat_count++];
    hb->from = rg->config.self;
    hb->to = to;
    hb->term = rg->term;
    hb->commit = rg->commit;
    hb->incarnation = rg->config.incarnation;
    hb->to_incarnation = p->incarnation;
}

struct rg_log_op *rg_out_op(struct replica_group *rg, struct rg_output *out,
                            enum rg_log_op_type type)
{
    RG_ASSERT(out->op_count < out->op_capacity);
    struct rg_log_op *op = &out->ops[out->op_count++];
    memset(op, 0, sizeof(*op));
    op->type = type;
    return op;
}

void rg_out_finish(struct replica_group *rg, struct rg_output *out)
{
    /* The forget_vote fault (test only) hides a vote from the caller, who
     * then cannot persist it: a restart may vote twice in one epoch. */
    int32_t vote = rg->voted_for;
    if (rg->faults.forget_vote && vote != rg->config.self)
        vote = RG_NO_NODE;
    struct rg_hard_state *h = &rg->reported_hard_state;
    if (h->term != rg->term || h->voted_for != vote || h->recovering != rg->recovering ||
        h->vote_floor != rg->vote_floor) {
        RG_ASSERT(rg->term >= h->term);
        h->term = rg->term;
        h->voted_for = vote;
        h->recovering = rg->recovering;
        h->vote_floor = rg->vote_floor;
        rg->hard_state_version++;
        out->hard_state_changed = true;
        out->hard_state = *h;
    }
    out->hard_state_version = rg->hard_state_version;
    if (rg->epochs.count == rg->epochs.capacity || rg->epoch_table_blocked)
        out->epoch_table_full = true;
    if (rg->reported_commit != rg->commit) {
        RG_ASSERT(rg->commit > rg->reported_commit);
        rg->reported_commit = rg->commit;
        out->commit_changed = true;
        out->commit = rg->commit;
    }
    if (rg->reported_role != rg->role || rg->reported_term != rg->term ||
        rg->reported_leader != rg->leader) {
        rg->reported_role = rg->role;
        rg->reported_term = rg->term;
        rg->reported_leader = rg->leader;
        out->role_changed = true;
        out->role = rg->role;
        out->term = rg->term;
        out->leader = rg->leader;
    }
    if (rg->reported_config_version != rg->config_version) {
        rg->reported_config_version = rg->config_version;
        out->membership_changed = true;
    }
}
