/*
 * Events about the replica's own log: written, durable, a failed write,
 * retention, an APPEND's read finishing, and the epoch table's storage.
 * The caller's storage path is asynchronous, so each of these may arrive
 * after other events changed the group; each says what it does when late.
 */
#include <string.h>

#include "rg_internal.h"

int replica_group_appended(struct replica_group *rg, int64_t end, int32_t epoch,
                           struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (end < 0)
        return RG_ERR_INVALID;
    /* A write issued before a truncation completes after it. */
    if (end > rg->log_end || (end > 0 && replica_group_epoch_at(rg, end - 1) != epoch))
        return RG_ERR_STALE;
    if (end > rg->written_end) {
        rg->written_end = end;
        if (rg->role == RG_ROLE_LEADER) {
            rg_send_appends(rg, out);
            if (rg->faults.count_non_durable_acks)
                rg_maybe_commit(rg);
        }
    }
    RG_ASSERT(rg->written_end <= rg->log_end);
    rg_out_finish(rg, out);
    return RG_OK;
}

int replica_group_durable(struct replica_group *rg, int64_t end, struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (end < 0 || end > rg->log_end)
        return RG_ERR_INVALID;
    if (end > rg->durable_end) {
        rg->durable_end = end;
        if (end > rg->written_end)
            rg->written_end = end; /* durable data is written */
        if (rg->role == RG_ROLE_LEADER) {
            rg_maybe_commit(rg);
        } else if (rg->leader != RG_NO_NODE) {
            rg_learn_commit(rg, rg->leader_commit);
            rg_send_ack(rg, RG_MSG_APPEND_RESPONSE, rg->leader, out);
        }
    }
    RG_ASSERT(rg->durable_end <= rg->log_end);
    rg_out_finish(rg, out);
    return RG_OK;
}

int replica_group_write_failed(struct replica_group *rg, int64_t end, struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (end < rg->epochs.start || end > rg->log_end || end < rg->commit)
        return RG_ERR_INVALID;
    if (end < rg->log_end) {
        /* What was lost is uncommitted here (commit <= end): forget it. */
        rg_forget_from(rg, end);
        /* A leader's proposals from end on are gone, its epoch maybe
         * without its marker; a (pre-)candidate asked for votes with the
         * log it just lost: either steps down (same term, no new vote). */
        if (rg->role != RG_ROLE_FOLLOWER)
            rg_become_follower(rg, rg->term, RG_NO_NODE);
    }
    RG_ASSERT(rg->commit <= rg->log_end);
    rg_out_finish(rg, out);
    return RG_OK;
}

int replica_group_log_start_advanced(struct replica_group *rg, int64_t start,
                                     const struct rg_config_entry *start_config)
{
    int64_t durable = rg->durable_end < rg->log_end ? rg->durable_end : rg->log_end;
    if (start < rg->epochs.start || start > rg->commit || start > durable)
        return RG_ERR_INVALID;
    if (start_config != NULL && (start_config->offset < 0 || start_config->offset >= start ||
                                 !rg_membership_valid(&start_config->membership)))
        return RG_ERR_INVALID;
    if (start == rg->epochs.start)
        return RG_OK;
    if (!rg_config_set_start(rg, start, start_config))
        return RG_ERR_INVALID;
    rg_epoch_table_trim_front(&rg->epochs, start, rg->log_end);
    RG_ASSERT(rg->commit >= rg->epochs.start);
    return RG_OK;
}

/* A cut APPEND that is still the newest to its peer: shorten its
 * in-flight record and let the next piece go at once, so a peer catching
 * up keeps a full window. Any other (older, or overtaken by a rejection
 * and a resend) is left alone: the peer acks or rejects what it gets. */
static void trim_progress(struct replica_group *rg, struct rg_peer *p, int64_t asked_end,
                          int64_t actual_end, struct rg_output *out)
{
    if (p->next != asked_end || p->inflight_count == 0)
        return;
    uint32_t last = (p->inflight_head + p->inflight_count - 1) % RG_MAX_INFLIGHT;
    if (p->inflight_end[last] != asked_end)
        return;
    RG_ASSERT(actual_end < asked_end);
    p->inflight_end[last] = actual_end;
    p->next = actual_end;
    if (!p->probing)
        rg_send_append(rg, p, out);
}

int replica_group_append_read(struct replica_group *rg, struct rg_message *msg, int64_t actual_end,
                              struct rg_output *out)
{
    if (out->message_capacity == out->message_count)
        return RG_ERR_OUTPUT_FULL;
    bool whole = actual_end == msg->end;
    if (msg->type != RG_MSG_APPEND || msg->from != rg->config.self ||
        (!whole && (actual_end <= msg->prev_end || actual_end > msg->end)))
        return RG_ERR_INVALID;
    /* Only the leader of msg->term knows its log unchanged since. */
    if (rg->role != RG_ROLE_LEADER || msg->term != rg->term)
        return RG_ERR_STALE;
    if (whole)
        return RG_OK;
    while (msg->run_count > 1 && msg->runs[msg->run_count - 1].start >= actual_end)
        msg->run_count--;
    int64_t asked_end = msg->end;
    msg->end = actual_end;
    struct rg_peer *p = rg_peer_find(rg, msg->to);
    if (p != NULL)
        trim_progress(rg, p, asked_end, actual_end, out);
    RG_ASSERT(msg->end > msg->prev_end);
    return RG_OK;
}

int replica_group_append_trimmed(struct replica_group *rg, struct rg_message *msg,
                                 int64_t actual_end, struct rg_output *out)
{
    return replica_group_append_read(rg, msg, actual_end, out);
}

int replica_group_set_epoch_storage(struct replica_group *rg, struct rg_epoch_run *storage,
                                    uint32_t capacity)
{
    if (storage == NULL || capacity < rg->epochs.count || capacity == 0)
        return RG_ERR_INVALID;
    if (storage != rg->epochs.runs)
        memmove(storage, rg->epochs.runs, sizeof(storage[0]) * rg->epochs.count);
    rg->epochs.runs = storage;
    rg->epochs.capacity = capacity;
    rg->epoch_table_blocked = false;
    RG_ASSERT(rg->epochs.count <= rg->epochs.capacity);
    return RG_OK;
}
