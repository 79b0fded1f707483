/*
 * The follower's side: accept, trim or reject an APPEND by log matching on
 * (offset, epoch), truncate a divergent uncommitted suffix, learn the
 * commit offset, and acknowledge what is verified and what is durable.
 */
#include "rg_internal.h"

/* Epoch of offset within an APPEND's range, from its runs. */
static int32_t message_epoch_at(const struct rg_message *m, int64_t offset)
{
    int32_t epoch = 0;
    for (uint32_t i = 0; i < m->run_count && m->runs[i].start <= offset; i++)
        epoch = m->runs[i].epoch;
    return epoch;
}

static int64_t message_next_run_start(const struct rg_message *m, int64_t offset)
{
    for (uint32_t i = 0; i < m->run_count; i++)
        if (m->runs[i].start > offset)
            return m->runs[i].start;
    return INT64_MAX;
}

static int64_t local_next_run_start(const struct replica_group *rg, int64_t offset)
{
    if (rg->epochs.count == 0)
        return INT64_MAX;
    if (offset < rg->epochs.runs[0].start)
        return rg->epochs.runs[0].start;
    uint32_t idx = rg_epoch_table_run_index(&rg->epochs, offset) + 1;
    return idx < rg->epochs.count ? rg->epochs.runs[idx].start : INT64_MAX;
}

/*
 * First offset in [from, to) where the APPEND and our log disagree on the
 * epoch, or -1. Epochs are constant between run starts, so it is enough to
 * compare at `from` and at every run start of either side.
 */
static int64_t find_conflict(const struct replica_group *rg, const struct rg_message *m,
                             int64_t from, int64_t to)
{
    int64_t p = from;
    while (p < to) {
        if (message_epoch_at(m, p) != rg_epoch_table_epoch_at(&rg->epochs, p))
            return p;
        int64_t a = message_next_run_start(m, p), b = local_next_run_start(rg, p);
        p = a < b ? a : b;
    }
    return -1;
}

void rg_send_ack(struct replica_group *rg, enum rg_message_type type, int32_t to,
                 struct rg_output *out)
{
    struct rg_message *r = rg_out_message(rg, out, type, to);
    r->success = true;
    r->match = rg->verified_end;
    r->durable = rg->faults.ack_durable_early ? rg->log_end : rg->durable_end;
    r->hint_epoch = rg_epoch_table_epoch_at(&rg->epochs, rg->log_end - 1);
    r->hint_offset = rg->log_end;
}

static void reject(struct replica_group *rg, const struct rg_message *m, int32_t hint_epoch,
                   int64_t hint_offset, struct rg_output *out)
{
    struct rg_message *r = rg_out_message(rg, out, RG_MSG_APPEND_RESPONSE, m->from);
    r->success = false;
    r->prev_end = m->prev_end;
    r->hint_epoch = hint_epoch;
    r->hint_offset = hint_offset;
    r->match = rg->verified_end;
    r->durable = rg->durable_end;
}

/*
 * Only within the prefix verified equal to the leader's log AND durable
 * here: with asynchronous writes a verified entry may still be in flight,
 * and a write that fails (replica_group_write_failed) must never take a
 * committed offset with it. So a follower's commit is always <= its
 * durable end, which also makes a checkpointed commit safe to restore.
 */
void rg_learn_commit(struct replica_group *rg, int64_t leader_commit)
{
    if (leader_commit > rg->leader_commit)
        rg->leader_commit = leader_commit;
    int64_t c = rg->leader_commit < rg->verified_end ? rg->leader_commit : rg->verified_end;
    if (c > rg->durable_end)
        c = rg->durable_end;
    if (c > rg->commit)
        rg->commit = c;
    RG_ASSERT(rg->commit <= rg->log_end);
    rg_recovery_caught_up(rg);
}

static void truncate_log(struct replica_group *rg, int64_t end, struct rg_output *out)
{
    /* The one thing that must never happen: losing a committed entry. */
    RG_ASSERT(end >= rg->commit);
    RG_ASSERT(end < rg->log_end);
    RG_ASSERT(rg->verified_end <= end);
    struct rg_log_op *op = rg_out_op(rg, out, RG_LOG_TRUNCATE);
    op->offset = end;
    rg_forget_from(rg, end);
}

/* The log ends at end now (a truncation, or a failed write): the core's
 * view of it, its epochs and configs follow. */
void rg_forget_from(struct replica_group *rg, int64_t end)
{
    RG_ASSERT(end >= rg->commit && end >= rg->epochs.start);
    rg_epoch_table_truncate(&rg->epochs, end);
    rg_config_truncate(rg, end);
    rg->log_end = end;
    if (rg->written_end > end)
        rg->written_end = end;
    if (rg->durable_end > end)
        rg->durable_end = end;
    if (rg->verified_end > end)
        rg->verified_end = end;
}

/* Epoch runs the table needs to hold [from, m->end) of m after truncation. */
static uint32_t runs_needed(const struct replica_group *rg, const struct rg_message *m,
                            int64_t from, int64_t keep_end)
{
    struct rg_epoch_table t = rg->epochs;
    uint32_t count = t.count;
    while (count > 0 && t.runs[count - 1].start >= keep_end)
        count--;
    int32_t last = count == 0 ? 0 : t.runs[count - 1].epoch;
    uint32_t needed = 0;
    for (uint32_t i = 0; i < m->run_count; i++) {
        int64_t run_end = i + 1 < m->run_count ? m->runs[i + 1].start : m->end;
        if (run_end > from && m->runs[i].epoch > last) {
            needed++;
            last = m->runs[i].epoch;
        }
    }
    return count + needed;
}

/*
 * [a, b) of the APPEND m matched up to a: truncate a divergent suffix and
 * write the rest. Returns where writing starts (b when nothing is new), or
 * -1 when the epoch table cannot record the new epochs (dropped: the
 * leader retries; out->epoch_table_full says so until the table grows).
 */
static int64_t write_received(struct replica_group *rg, const struct rg_message *m, int64_t a,
                              int64_t b, struct rg_output *out)
{
    int64_t overlap_end = b < rg->log_end ? b : rg->log_end;
    int64_t conflict = find_conflict(rg, m, a, overlap_end);
    int64_t write_from = conflict >= 0 ? conflict : rg->log_end;
    if (b <= write_from)
        return write_from;
    if (runs_needed(rg, m, write_from, write_from) > rg->epochs.capacity) {
        rg->epoch_table_blocked = true;
        return -1;
    }
    if (conflict >= 0)
        truncate_log(rg, conflict, out);
    struct rg_log_op *op = rg_out_op(rg, out, RG_LOG_APPEND_RECEIVED);
    op->offset = write_from;
    op->to = b;
    op->payload = m->payload;
    for (uint32_t i = 0; i < m->run_count; i++) {
        int64_t run_end = i + 1 < m->run_count ? m->runs[i + 1].start : b;
        if (run_end <= write_from)
            continue;
        int64_t start = m->runs[i].start > write_from ? m->runs[i].start : write_from;
        int rc = rg_epoch_table_append(&rg->epochs, m->runs[i].epoch, start);
        RG_ASSERT(rc == RG_OK);
    }
    rg->log_end = b; /* written once the caller reports it (appended) */
    RG_ASSERT(write_from >= rg->commit);
    return write_from;
}

void rg_handle_append(struct replica_group *rg, const struct rg_message *m, struct rg_output *out)
{
    RG_ASSERT(rg->role == RG_ROLE_FOLLOWER && m->term == rg->term);
    rg->leader = m->from;
    rg->election_elapsed = 0;

    int64_t a = m->prev_end, b = m->end;
    bool probe = b == a && m->run_count == 0; /* empty: verifies [0, a) only */
    if (a < 0 || (!probe && (b < a || m->run_count == 0 || m->runs[0].start > a)))
        return; /* malformed: the leader never sends that */

    int64_t log_start = rg->epochs.start;
    if (a < log_start) {
        /* Our log starts above a (retention here, or a reset by an earlier
         * leader). [a, start) was committed here, so it equals every
         * later leader's log: nothing to check below start. */
        RG_ASSERT(rg->commit >= log_start);
        if (b < log_start)
            b = log_start;
        a = log_start;
    } else {
        /* Log matching. The leader's entry at a - 1 has epoch prev_epoch,
         * so its log holds no epoch above prev_epoch before a: any of ours
         * there diverges. q is the end of our longest prefix that may
         * still agree. */
        int64_t q = a < rg->log_end ? a : rg->log_end;
        uint32_t above = rg_epoch_table_first_above(&rg->epochs, m->prev_epoch);
        if (above < rg->epochs.count && rg->epochs.runs[above].start < q)
            q = rg->epochs.runs[above].start;
        if (q != a || rg_epoch_table_epoch_at(&rg->epochs, a - 1) != m->prev_epoch) {
            /* Reject with a hint for fast back-off (next_after_rejection). */
            reject(rg, m, rg_epoch_table_epoch_at(&rg->epochs, q - 1), q, out);
            return;
        }
    }

    int64_t write_from = write_received(rg, m, a, b, out);
    if (write_from < 0)
        return; /* no room in the epoch table */
    if (b > rg->verified_end)
        rg->verified_end = b;
    rg_learn_commit(rg, m->commit);
    /* Config batches take effect once in the log (after the commit is
     * known, so the history may drop a superseded committed one). */
    for (uint32_t i = 0; i < m->config_count; i++) {
        const struct rg_config_entry *c = &m->configs[i];
        if (c->offset >= write_from && c->offset < b)
            rg_config_push(rg, c);
    }
    rg_send_ack(rg, RG_MSG_APPEND_RESPONSE, m->from, out);
}

/*
 * The leader's log starts at s = m->prev_end, above where ours ends or
 * matches: retention deleted what we miss, so no APPEND can bring it. Like
 * Kafka's OFFSET_OUT_OF_RANGE reset (or Raft's snapshot install for a log
 * without a state machine), we drop our whole log and restart it, empty,
 * at s. Nothing committed is lost: our committed prefix matches every later
 * leader's log, so it ends at or below s (asserted). If our log already
 * reaches s and matches at s - 1 (a duplicate, or a leader that moved on),
 * it is a probe at s.
 */
void rg_handle_install_start(struct replica_group *rg, const struct rg_message *m,
                             struct rg_output *out)
{
    RG_ASSERT(rg->role == RG_ROLE_FOLLOWER && m->term == rg->term);
    rg->leader = m->from;
    rg->election_elapsed = 0;
    int64_t s = m->prev_end;
    if (s <= 0 || m->prev_epoch <= 0 || m->config_count != 1 ||
        !rg_membership_valid(&m->configs[0].membership) || m->configs[0].offset >= s)
        return; /* malformed: the leader never sends that */
    int64_t start = rg->epochs.start;
    bool matches = s <= start || (s <= rg->log_end &&
                                  rg_epoch_table_epoch_at(&rg->epochs, s - 1) == m->prev_epoch);
    if (!matches) {
        RG_ASSERT(rg->commit <= s);
        struct rg_log_op *op = rg_out_op(rg, out, RG_LOG_RESET);
        op->offset = s;
        op->epoch = m->prev_epoch;
        op->payload = m->payload;
        op->membership = m->configs[0].membership;
        op->config_offset = m->configs[0].offset;
        rg_epoch_table_reset(&rg->epochs, s, m->prev_epoch);
        rg->log_end = s;
        rg->written_end = s;
        rg->durable_end = s;
        rg->commit = s; /* the leader's log start is committed */
        rg_config_reset(rg, &m->configs[0]);
    }
    int64_t verified = s > start ? s : start;
    if (verified > rg->verified_end)
        rg->verified_end = verified;
    rg_learn_commit(rg, m->commit);
    rg_send_ack(rg, RG_MSG_APPEND_RESPONSE, m->from, out);
}

void rg_handle_heartbeat(struct replica_group *rg, const struct rg_message *m,
                         struct rg_output *out)
{
    RG_ASSERT(rg->role == RG_ROLE_FOLLOWER && m->term == rg->term);
    rg->leader = m->from;
    rg->election_elapsed = 0;
    rg_learn_commit(rg, m->commit);
    rg_send_ack(rg, RG_MSG_HEARTBEAT_RESPONSE, m->from, out);
}
