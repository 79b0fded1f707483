/*
 * Coalesced heartbeats: compact entries the driver batches per broker
 * pair. They go through the same step as RG_MSG_HEARTBEAT (so the rules
 * are the ones of follow.c and replicate.c); only the answer is taken out
 * of the output and handed back compact.
 */
#include <string.h>

#include "rg_internal.h"

static void reply_from_message(struct rg_heartbeat_reply *reply, const struct rg_message *r)
{
    reply->from = r->from;
    reply->to = r->to;
    reply->term = r->term;
    reply->success = r->success;
    reply->match = r->match;
    reply->durable = r->durable;
    reply->hint_epoch = r->hint_epoch;
    reply->hint_offset = r->hint_offset;
    reply->incarnation = r->incarnation;
    reply->to_incarnation = r->to_incarnation;
}

int replica_group_step_heartbeat(struct replica_group *rg, const struct rg_heartbeat *hb,
                                 struct rg_heartbeat_reply *reply, struct rg_output *out)
{
    memset(reply, 0, sizeof(*reply));
    reply->to = RG_NO_NODE;
    RG_ASSERT(out->message_count <= out->message_capacity);
    struct rg_message m;
    memset(&m, 0, sizeof(m));
    m.type = RG_MSG_HEARTBEAT;
    m.from = hb->from;
    m.to = hb->to;
    m.term = hb->term;
    m.commit = hb->commit;
    m.incarnation = hb->incarnation;
    m.to_incarnation = hb->to_incarnation;
    uint32_t before = out->message_count;
    int rc = replica_group_step(rg, &m, out);
    if (rc != RG_OK)
        return rc;
    /* A heartbeat is answered by one message to its sender: an ack, or
     * (stale term) a rejection that tells the sender our term. */
    for (uint32_t i = before; i < out->message_count; i++) {
        const struct rg_message *r = &out->messages[i];
        if (r->to != hb->from ||
            (r->type != RG_MSG_HEARTBEAT_RESPONSE && r->type != RG_MSG_APPEND_RESPONSE))
            continue;
        RG_ASSERT(r->type == RG_MSG_HEARTBEAT_RESPONSE || !r->success);
        reply_from_message(reply, r);
        memmove(&out->messages[i], &out->messages[i + 1],
                sizeof(out->messages[0]) * (out->message_count - i - 1));
        out->message_count--;
        break;
    }
    return RG_OK;
}

int replica_group_step_heartbeat_reply(struct replica_group *rg,
                                       const struct rg_heartbeat_reply *reply,
                                       struct rg_output *out)
{
    if (reply->to == RG_NO_NODE)
        return RG_ERR_INVALID;
    RG_ASSERT(reply->success || reply->term >= 0);
    struct rg_message m;
    memset(&m, 0, sizeof(m));
    m.type = reply->success ? RG_MSG_HEARTBEAT_RESPONSE : RG_MSG_APPEND_RESPONSE;
    m.from = reply->from;
    m.to = reply->to;
    m.term = reply->term;
    m.success = reply->success;
    m.match = reply->match;
    m.durable = reply->durable;
    m.hint_epoch = reply->hint_epoch;
    m.hint_offset = reply->hint_offset;
    m.incarnation = reply->incarnation;
    m.to_incarnation = reply->to_incarnation;
    return replica_group_step(rg, &m, out);
}
