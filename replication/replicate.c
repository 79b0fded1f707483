/*
 * The leader's side of replication: per-peer progress, pipelined APPENDs,
 * fast back-off on rejection, heartbeats, check-quorum and the commit rule.
 *
 * A peer is either PROBING (one APPEND at a time, looking for the point
 * where its log matches ours) or REPLICATING (APPENDs stream back to back,
 * up to max_inflight unacknowledged). APPENDs name offset ranges only; the
 * caller reads the bytes from its log, so a peer that is far behind is
 * served from segments on disk, never from memory held here. A peer behind
 * our log start (retention deleted what it misses) is told to restart its
 * log there instead (INSTALL_START), then served by APPENDs from it.
 */
#include "rg_internal.h"

void rg_reset_peer(struct replica_group *rg, struct rg_peer *p)
{
    p->next = rg->log_end;
    p->match = 0;
    p->durable_match = 0;
    p->probing = true;
    p->inflight_head = 0;
    p->inflight_count = 0;
    p->recent_active = false;
    p->last_ack_tick = rg->tick_count;
}

static void inflight_clear(struct rg_peer *p)
{
    p->inflight_head = 0;
    p->inflight_count = 0;
}

static void inflight_push(struct replica_group *rg, struct rg_peer *p, int64_t end)
{
    RG_ASSERT(p->inflight_count < rg->config.max_inflight);
    p->inflight_end[(p->inflight_head + p->inflight_count) % RG_MAX_INFLIGHT] = end;
    p->inflight_count++;
}

/* Acknowledged up to match: every APPEND ending there or before is done. */
static void inflight_free_to(struct rg_peer *p, int64_t match)
{
    while (p->inflight_count > 0 && p->inflight_end[p->inflight_head] <= match) {
        p->inflight_head = (p->inflight_head + 1) % RG_MAX_INFLIGHT;
        p->inflight_count--;
    }
}

void rg_become_leader(struct replica_group *rg, struct rg_output *out)
{
    RG_ASSERT(rg->role == RG_ROLE_CANDIDATE && rg_self_is_member(rg));
    RG_ASSERT(rg->voted_for == rg->config.self);
    RG_ASSERT(rg_epoch_table_last_epoch(&rg->epochs) < rg->term);
    /* The epoch marker: an entry of our own epoch at the head of our log.
     * Entries of earlier epochs commit only once it does (Raft's rule), and
     * it gives followers the epoch boundary to truncate at. */
    if (rg_epoch_table_append(&rg->epochs, (int32_t)rg->term, rg->log_end) != RG_OK) {
        rg->epoch_table_blocked = true; /* out->epoch_table_full: grow it */
        rg_become_follower(rg, rg->term, RG_NO_NODE);
        return;
    }
    rg->role = RG_ROLE_LEADER;
    rg->leader = rg->config.self;
    rg->election_elapsed = 0;
    rg->transfer_target = RG_NO_NODE;
    /* written_end stays what the caller reported: writes it issued as a
     * follower may still be in flight, and only written data is sent. */
    RG_ASSERT(rg->written_end <= rg->log_end);
    for (uint32_t i = 0; i < rg->peer_count; i++)
        rg_reset_peer(rg, &rg->peers[i]);
    struct rg_log_op *op = rg_out_op(rg, out, RG_LOG_APPEND_MARKER);
    op->offset = rg->log_end;
    op->epoch = (int32_t)rg->term;
    rg->log_end++;
    /* Announce ourselves at once; the marker follows once written. */
    for (uint32_t i = 0; i < rg->peer_count; i++)
        rg_out_heartbeat(rg, out, rg->peers[i].id);
    rg_maybe_commit(rg);
}

/*
 * Sends the next APPEND to p if the window allows: [next, written_end),
 * cut so that it spans at most RG_MAX_RUNS_PER_APPEND epochs. next moves
 * on optimistically; a rejection or a silent peer moves it back. At most
 * one APPEND per peer per event, so that a trim (replica_group_
 * append_trimmed) always concerns the newest one in flight; the pipeline
 * fills as writes and acks arrive.
 */
void rg_send_append(struct replica_group *rg, struct rg_peer *p, struct rg_output *out)
{
    rg_send_append_or_probe(rg, p, false, out);
}

/*
 * An empty APPEND (prev_end == end, no runs) is a pure probe: "does your
 * log match mine up to prev_end?" It re-verifies a follower that has the
 * data but restarted (and so forgot what it had verified in this term),
 * without sending any batch again.
 */
void rg_send_append_or_probe(struct replica_group *rg, struct rg_peer *p, bool allow_empty,
                             struct rg_output *out)
{
    if (p->next > rg->written_end || (p->next == rg->written_end && !allow_empty))
        return;
    if (p->inflight_count >= rg->config.max_inflight)
        return;
    if (p->probing && p->inflight_count > 0)
        return;
    int64_t from = p->next;
    int64_t end = rg->written_end;
    RG_ASSERT(from >= 0);
    if (from < rg->epochs.start) {
        struct rg_message *m = rg_out_message(rg, out, RG_MSG_INSTALL_START, p->id);
        m->prev_end = rg->epochs.start;
        m->prev_epoch = rg->epochs.start_epoch;
        m->commit = rg->commit;
        m->config_count = 1;
        m->configs[0] = *rg_config_at_start(rg);
        p->next = rg->epochs.start;
        p->probing = true;
        inflight_push(rg, p, p->next);
        return;
    }
    if (from == end) {
        struct rg_message *probe = rg_out_message(rg, out, RG_MSG_APPEND, p->id);
        probe->prev_end = from;
        probe->prev_epoch = rg_epoch_table_epoch_at(&rg->epochs, from - 1);
        probe->end = from;
        probe->commit = rg->commit;
        inflight_push(rg, p, from);
        return;
    }
    RG_ASSERT(rg->epochs.count > 0); /* [from, end) is not empty */
    struct rg_message *m = rg_out_message(rg, out, RG_MSG_APPEND, p->id);
    m->prev_end = from;
    m->prev_epoch = rg_epoch_table_epoch_at(&rg->epochs, from - 1);
    m->commit = rg->commit;
    uint32_t idx = rg_epoch_table_run_index(&rg->epochs, from);
    for (; idx < rg->epochs.count && rg->epochs.runs[idx].start < end; idx++) {
        if (m->run_count == RG_MAX_RUNS_PER_APPEND) {
            end = rg->epochs.runs[idx].start;
            break;
        }
        m->runs[m->run_count++] = rg->epochs.runs[idx];
    }
    m->end = end;
    p->next = end;
    inflight_push(rg, p, end);
}

void rg_send_appends(struct replica_group *rg, struct rg_output *out)
{
    for (uint32_t i = 0; i < rg->peer_count; i++)
        rg_send_append(rg, &rg->peers[i], out);
}

static int compare_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The commit rule. An offset is committed once a majority of voters hold
 * it DURABLY (per their flush policy) and verified equal to our log, and
 * the entry before it is of our own epoch: counting replicas never commits
 * an older epoch's entry directly (Raft figure 8), it commits with ours.
 */
void rg_maybe_commit(struct replica_group *rg)
{
    if (rg->role != RG_ROLE_LEADER)
        return;
    int64_t values[RG_MAX_NODES];
    uint32_t n = 0;
    if (rg_self_is_voter(rg))
        values[n++] = rg->faults.count_non_durable_acks ? rg->written_end : rg->durable_end;
    for (uint32_t i = 0; i < rg->peer_count; i++) {
        const struct rg_peer *p = &rg->peers[i];
        if (p->voter)
            values[n++] = rg->faults.count_non_durable_acks ? p->match : p->durable_match;
    }
    uint32_t quorum = rg_quorum(rg);
    RG_ASSERT(n == rg_voter_count(rg) && n >= quorum);
    /* insertion sort, n <= RG_MAX_NODES */
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && compare_desc(&values[j - 1], &values[j]) > 0; j--) {
            int64_t t = values[j];
            values[j] = values[j - 1];
            values[j - 1] = t;
        }
    int64_t candidate = values[quorum - 1];
    if (candidate <= rg->commit)
        return;
    RG_ASSERT(candidate <= rg->log_end);
    if (rg_epoch_table_epoch_at(&rg->epochs, candidate - 1) != rg->term &&
        !rg->faults.commit_previous_epoch)
        return;
    rg->commit = candidate;
}

/* A peer's ack: [0, match) equals our log, [0, durable) of it is durable. */
static void note_ack(struct replica_group *rg, struct rg_peer *p, int64_t match, int64_t durable)
{
    RG_ASSERT(match <= rg->log_end);
    if (match > p->match)
        p->match = match;
    int64_t counted = match < durable ? match : durable;
    if (counted > p->durable_match)
        p->durable_match = counted;
    rg_maybe_commit(rg);
}

static void maybe_send_timeout_now(struct replica_group *rg, struct rg_peer *p,
                                   struct rg_output *out)
{
    if (rg->transfer_target == p->id && p->match == rg->log_end && rg->written_end == rg->log_end) {
        rg_out_message(rg, out, RG_MSG_TIMEOUT_NOW, p->id);
    }
}

/*
 * Fast back-off, a round trip per divergent EPOCH, not per batch. The
 * follower said: before hint_offset (a batch boundary of its log) it holds
 * no epoch above hint_epoch, and its entry at hint_offset - 1 has
 * hint_epoch. Let e be our largest epoch <= hint_epoch, ending (in our
 * log) at E.
 *  - e == hint_epoch: both logs hold a prefix of the same batches of that
 *    epoch (written by its one leader), so min(hint_offset, E) is a batch
 *    boundary of both and the next probe matches.
 *  - e < hint_epoch: its hint_epoch entries are not ours. Probe at E with
 *    prev epoch e; the follower's next hint falls below the start of its
 *    hint_epoch entries, so the hint offset strictly decreases.
 */
static int64_t next_after_rejection(const struct replica_group *rg, const struct rg_message *m)
{
    /* Below our log start: what the follower misses, or the point where
     * it diverges, is deleted here. Any next below start means
     * INSTALL_START (rg_send_append_or_probe). */
    const struct rg_epoch_table *t = &rg->epochs;
    if (t->start > 0 && (m->hint_epoch < t->start_epoch ||
                         (m->hint_epoch == t->start_epoch && m->hint_offset < t->start)))
        return t->start - 1;
    int32_t found;
    int64_t end = rg_epoch_table_end_of(&rg->epochs, m->hint_epoch, rg->log_end, &found);
    int64_t next = found == m->hint_epoch && m->hint_offset < end ? m->hint_offset : end;
    RG_ASSERT(next >= 0 && next <= rg->log_end);
    return next;
}

void rg_handle_append_response(struct replica_group *rg, const struct rg_message *m,
                               struct rg_output *out)
{
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL)
        return;
    p->recent_active = true;
    if (m->success) {
        p->last_ack_tick = rg->tick_count;
        note_ack(rg, p, m->match, rg->faults.count_non_durable_acks ? m->match : m->durable);
        inflight_free_to(p, p->match);
        p->probing = false; /* a match is known: stream from here */
        if (p->next < p->match)
            p->next = p->match;
        maybe_send_timeout_now(rg, p, out);
    } else {
        int64_t next = next_after_rejection(rg, m);
        p->next = next;
        if (p->match > next)
            p->match = next; /* it crashed and lost what it had not synced */
        p->probing = true;
        inflight_clear(p);
    }
    rg_send_append(rg, p, out);
}

void rg_handle_heartbeat_response(struct replica_group *rg, const struct rg_message *m,
                                  struct rg_output *out)
{
    struct rg_peer *p = rg_peer_find(rg, m->from);
    if (p == NULL)
        return;
    p->recent_active = true;
    note_ack(rg, p, m->match, rg->faults.count_non_durable_acks ? m->match : m->durable);
    inflight_free_to(p, p->match);
    /* Behind us with nothing in flight (it restarted and forgot what it
     * had verified in this term), or nothing acknowledged for two
     * heartbeat periods (the APPENDs in flight were lost): probe again,
     * where its log end (the hint) says, with an empty APPEND if it seems
     * to have all of our log. */
    bool idle_behind = p->inflight_count == 0 && m->match < rg->written_end;
    bool stuck = p->inflight_count > 0 &&
                 rg->tick_count - p->last_ack_tick >= 2u * rg->config.heartbeat_ticks;
    if (idle_behind || stuck) {
        p->probing = true;
        p->next = next_after_rejection(rg, m);
        inflight_clear(p);
        p->last_ack_tick = rg->tick_count;
        rg_send_append_or_probe(rg, p, true, out);
    }
    maybe_send_timeout_now(rg, p, out);
}

void rg_tick_leader(struct replica_group *rg, struct rg_output *out)
{
    rg->election_elapsed++;
    if (rg->election_elapsed >= rg->config.election_ticks) {
        rg->election_elapsed = 0;
        /* check-quorum: a leader that heard from no majority in a whole
         * election timeout steps down, so clients stop waiting on it and a
         * partitioned minority cannot keep answering reads. */
        if (rg->config.check_quorum && !rg->faults.no_check_quorum) {
            uint32_t active = rg_self_is_voter(rg) ? 1 : 0;
            for (uint32_t i = 0; i < rg->peer_count; i++)
                if (rg->peers[i].voter && rg->peers[i].recent_active)
                    active++;
            if (active < rg_quorum(rg)) {
                rg_become_follower(rg, rg->term, RG_NO_NODE);
                return;
            }
        }
        for (uint32_t i = 0; i < rg->peer_count; i++)
            rg->peers[i].recent_active = false;
    }
    if (rg->transfer_target != RG_NO_NODE && ++rg->transfer_elapsed >= rg->config.election_ticks)
        rg->transfer_target = RG_NO_NODE; /* gave up: accept proposals again */
    if (rg->tick_count % rg->config.heartbeat_ticks == 0) {
        for (uint32_t i = 0; i < rg->peer_count; i++)
            rg_out_heartbeat(rg, out, rg->peers[i].id);
    }
}
