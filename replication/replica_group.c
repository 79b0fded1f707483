/*
 * Entry points of the replication core: init, the event functions and the
 * message dispatcher. The rules live in election.c (votes), replicate.c
 * (leader), follow.c (follower) and membership.c (configs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rg_internal.h"

/* Each group names its own handler (config.assert_handler): a broker
 * hosting thousands of groups can fence the one that failed, and tests of
 * different groups in one process do not share a global. */
void rg_assert_failed(rg_assert_handler handler, void *ctx, const char *file, int line,
                      const char *expr)
{
    if (handler != NULL)
        handler(ctx, file, line, expr);
    fprintf(stderr, "replication invariant violated at %s:%d: %s\n", file, line, expr);
    abort(); /* a handler must not return */
}

const char *rg_status_str(int status)
{
    switch (status) {
    case RG_OK:
        return "ok";
    case RG_ERR_NOT_LEADER:
        return "not the leader";
    case RG_ERR_TRANSFERRING:
        return "leadership transfer in progress";
    case RG_ERR_OUTPUT_FULL:
        return "output buffer too small";
    case RG_ERR_INVALID:
        return "invalid argument";
    case RG_ERR_CHANGE_PENDING:
        return "membership change pending";
    case RG_ERR_NOT_CAUGHT_UP:
        return "learner not caught up";
    case RG_ERR_EPOCH_TABLE_FULL:
        return "epoch table full";
    case RG_ERR_NOT_MEMBER:
        return "not a member";
    case RG_ERR_STALE:
        return "stale";
    }
    return "unknown status";
}

const char *rg_role_str(enum rg_role role)
{
    switch (role) {
    case RG_ROLE_FOLLOWER:
        return "follower";
    case RG_ROLE_PRE_CANDIDATE:
        return "pre-candidate";
    case RG_ROLE_CANDIDATE:
        return "candidate";
    case RG_ROLE_LEADER:
        return "leader";
    }
    return "?";
}

const char *rg_message_type_str(enum rg_message_type type)
{
    switch (type) {
    case RG_MSG_PRE_VOTE:
        return "pre-vote";
    case RG_MSG_PRE_VOTE_RESPONSE:
        return "pre-vote-resp";
    case RG_MSG_VOTE:
        return "vote";
    case RG_MSG_VOTE_RESPONSE:
        return "vote-resp";
    case RG_MSG_APPEND:
        return "append";
    case RG_MSG_APPEND_RESPONSE:
        return "append-resp";
    case RG_MSG_HEARTBEAT:
        return "heartbeat";
    case RG_MSG_HEARTBEAT_RESPONSE:
        return "heartbeat-resp";
    case RG_MSG_TIMEOUT_NOW:
        return "timeout-now";
    case RG_MSG_INSTALL_START:
        return "install-start";
    }
    return "?";
}

int32_t replica_group_epoch_at(const struct replica_group *rg, int64_t offset)
{
    if (offset >= rg->log_end)
        return 0;
    return rg_epoch_table_epoch_at(&rg->epochs, offset);
}

static bool restore_valid(const struct replica_group_restore *r, uint32_t epoch_capacity)
{
    if (r->log_start < 0 || r->log_end < r->log_start || r->commit < 0 || r->commit > r->log_end ||
        r->hard_state.term < 0 || r->hard_state.vote_floor < 0 ||
        (r->new_group && r->hard_state.term != 0))
        return false;
    if ((r->log_start == 0) != (r->start_epoch == 0) || r->start_epoch < 0)
        return false;
    if (r->epoch_count > epoch_capacity || (r->epoch_count > 0 && r->epochs == NULL))
        return false;
    if ((r->log_end > r->log_start) != (r->epoch_count > 0))
        return false;
    for (uint32_t i = 0; i < r->epoch_count; i++) {
        const struct rg_epoch_run *e = &r->epochs[i];
        if (e->epoch <= 0 || e->start >= r->log_end)
            return false;
        if (i == 0 ? e->start != r->log_start || e->epoch < r->start_epoch
                   : (e->epoch <= e[-1].epoch || e->start <= e[-1].start))
            return false;
    }
    for (uint32_t i = 0; i < r->config_count; i++) {
        const struct rg_config_entry *c = &r->configs[i];
        if (c->offset < 0 || c->offset >= r->log_end || !rg_membership_valid(&c->membership))
            return false;
        if (i > 0 && c->offset <= c[-1].offset)
            return false;
    }
    return true;
}

/* Term, vote and recovery state from the persisted hard state (after the
 * epoch table, which may raise the term). */
static void restore_hard_state(struct replica_group *rg,
                               const struct replica_group_restore *restore)
{
    /* The log may hold entries of a later epoch than the persisted term:
     * their writes reached the disk, the hard-state fsync of that epoch
     * did not. No message of that epoch left (they wait for it), so the
     * replica starts in it with no vote. */
    rg->term = restore->hard_state.term;
    rg->voted_for = restore->hard_state.voted_for;
    int32_t last_epoch = rg_epoch_table_last_epoch(&rg->epochs);
    if (last_epoch > rg->term) {
        rg->term = last_epoch;
        rg->voted_for = RG_NO_NODE;
    }
    /* A zeroed hard state is a new or a wiped disk (recovery.c). */
    rg->recovering =
        restore->hard_state.recovering || (restore->hard_state.term == 0 && !restore->new_group);
    if (rg->faults.skip_recovery)
        rg->recovering = false;
    rg->vote_floor = restore->hard_state.vote_floor;
    RG_ASSERT(rg->term >= restore->hard_state.term);
}

/* History: the config in effect at the log start (the bootstrap, or the
 * newest config below it), then the newest restored configs. */
static void restore_configs(struct replica_group *rg, const struct replica_group_restore *restore)
{
    rg->configs[0].offset = -1;
    rg->configs[0].membership = rg->config.bootstrap;
    rg->config_count = 1;
    uint32_t first = 0;
    while (first < restore->config_count && restore->configs[first].offset < restore->log_start)
        rg->configs[0] = restore->configs[first++];
    if (restore->config_count - first > RG_CONFIG_HISTORY - 1)
        first = restore->config_count - (RG_CONFIG_HISTORY - 1);
    for (uint32_t i = first; i < restore->config_count; i++)
        rg->configs[rg->config_count++] = restore->configs[i];
    RG_ASSERT(rg->config_count <= RG_CONFIG_HISTORY);
    rg_peers_sync(rg);
}

int replica_group_init(struct replica_group *rg, const struct replica_group_config *config,
                       const struct replica_group_restore *restore,
                       struct rg_epoch_run *epoch_storage, uint32_t epoch_capacity)
{
    static const struct replica_group_restore empty;
    if (restore == NULL)
        restore = &empty;
    if (config->self < 0 || config->election_ticks < 2 || config->heartbeat_ticks == 0 ||
        config->heartbeat_ticks >= config->election_ticks || config->max_inflight == 0 ||
        config->max_inflight > RG_MAX_INFLIGHT || !rg_membership_valid(&config->bootstrap) ||
        config->incarnation == 0 || epoch_storage == NULL || epoch_capacity == 0 ||
        !restore_valid(restore, epoch_capacity))
        return RG_ERR_INVALID;

    memset(rg, 0, sizeof(*rg));
    rg->config = *config;
    rg->config.faults = NULL;
    if (config->faults != NULL)
        rg->faults = *config->faults;
    rg->rng = config->seed ^ ((uint64_t)(uint32_t)config->self * 0x9e3779b97f4a7c15ull);
    rg->tick_count = config->initial_tick;

    rg_epoch_table_init(&rg->epochs, epoch_storage, epoch_capacity, config->assert_handler,
                        config->assert_ctx);
    rg_epoch_table_reset(&rg->epochs, restore->log_start, restore->start_epoch);
    for (uint32_t i = 0; i < restore->epoch_count; i++)
        rg->epochs.runs[rg->epochs.count++] = restore->epochs[i];

    restore_hard_state(rg, restore);
    rg->reply_to = RG_NO_NODE;
    rg->log_end = restore->log_end;
    rg->written_end = restore->log_end;
    rg->durable_end = restore->log_end;
    /* Retention deletes committed entries only: the log start is committed. */
    rg->commit = restore->commit > restore->log_start ? restore->commit : restore->log_start;
    rg->leader = RG_NO_NODE;
    rg->transfer_target = RG_NO_NODE;
    rg->role = RG_ROLE_FOLLOWER;

    restore_configs(rg, restore);

    rg_become_follower(rg, rg->term, RG_NO_NODE);
    rg->reported_hard_state = restore->hard_state;
    rg->reported_hard_state.voted_for = rg->voted_for;
    rg->reported_commit = rg->commit;
    rg->reported_role = rg->role;
    rg->reported_term = rg->term;
    rg->reported_leader = rg->leader;
    rg->reported_config_version = rg->config_version;
    return RG_OK;
}

uint32_t replica_group_max_messages_per_event(const struct replica_group *rg)
{
    /* Worst case: to every peer one APPEND and one message of each other
     * kind an event can cause (heartbeat or vote, timeout-now). */
    (void)rg;
    return RG_MAX_NODES * 3;
}

bool rg_room(const struct replica_group *rg, const struct rg_output *out)
{
    return out->message_capacity - out->message_count >= replica_group_max_messages_per_event(rg) &&
           out->op_capacity - out->op_count >= RG_MAX_OPS_PER_EVENT &&
           (out->heartbeats == NULL ||
            out->heartbeat_capacity - out->heartbeat_count >= RG_MAX_NODES);
}

int replica_group_tick(struct replica_group *rg, struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    rg->tick_count++;
    if (rg->role == RG_ROLE_LEADER)
        rg_tick_leader(rg, out);
    else
        rg_tick_election(rg, out);
    rg_out_finish(rg, out);
    return RG_OK;
}

/*
 * Terms first, as in Raft: a message from a higher term makes us a
 * follower in it, except votes that arrive while we know a live leader
 * (the lease) and pre-votes, which never move terms. A message from a
 * lower term is answered only when the answer helps the sender catch up.
 */
static bool step_term(struct replica_group *rg, const struct rg_message *m, struct rg_output *out)
{
    bool vote_request = m->type == RG_MSG_PRE_VOTE || m->type == RG_MSG_VOTE;
    if (m->term > rg->term) {
        if (vote_request && !m->transfer && rg_in_lease(rg)) {
            /* Ignored; a pre-vote learns our term (a recovering replica
             * needs it for its vote floor). */
            if (m->type == RG_MSG_PRE_VOTE)
                rg_out_message(rg, out, RG_MSG_PRE_VOTE_RESPONSE, m->from)->granted = false;
            return false;
        }
        if (m->type == RG_MSG_PRE_VOTE)
            return true;
        if (m->type == RG_MSG_PRE_VOTE_RESPONSE && m->granted)
            return true;
        bool from_leader = m->type == RG_MSG_APPEND || m->type == RG_MSG_HEARTBEAT ||
                           m->type == RG_MSG_TIMEOUT_NOW || m->type == RG_MSG_INSTALL_START;
        rg_become_follower(rg, m->term, from_leader ? m->from : RG_NO_NODE);
        return true;
    }
    if (m->term < rg->term) {
        if ((rg->config.check_quorum || rg->config.pre_vote) &&
            (m->type == RG_MSG_APPEND || m->type == RG_MSG_HEARTBEAT ||
             m->type == RG_MSG_INSTALL_START)) {
            /* A deposed leader (or one partitioned away while we moved on)
             * learns our term from this and steps down. */
            struct rg_message *r = rg_out_message(rg, out, RG_MSG_APPEND_RESPONSE, m->from);
            r->success = false;
        } else if (m->type == RG_MSG_PRE_VOTE) {
            struct rg_message *r = rg_out_message(rg, out, RG_MSG_PRE_VOTE_RESPONSE, m->from);
            r->granted = false;
        }
        return false;
    }
    return true;
}

/* Dispatch by type, once terms are settled. */
static void step_message(struct replica_group *rg, const struct rg_message *m,
                         struct rg_output *out)
{
    if (!step_term(rg, m, out))
        return;
    switch (m->type) {
    case RG_MSG_PRE_VOTE:
    case RG_MSG_VOTE:
        rg_handle_vote_request(rg, m, out);
        break;
    case RG_MSG_PRE_VOTE_RESPONSE:
    case RG_MSG_VOTE_RESPONSE:
        rg_handle_vote_response(rg, m, out);
        break;
    case RG_MSG_APPEND:
    case RG_MSG_HEARTBEAT:
    case RG_MSG_INSTALL_START:
        /* Two leaders in one epoch would be a broken election. */
        RG_ASSERT(rg->role != RG_ROLE_LEADER);
        if (rg->role != RG_ROLE_FOLLOWER)
            rg_become_follower(rg, rg->term, m->from);
        if (m->type == RG_MSG_APPEND)
            rg_handle_append(rg, m, out);
        else if (m->type == RG_MSG_HEARTBEAT)
            rg_handle_heartbeat(rg, m, out);
        else
            rg_handle_install_start(rg, m, out);
        break;
    case RG_MSG_APPEND_RESPONSE:
        if (rg->role == RG_ROLE_LEADER)
            rg_handle_append_response(rg, m, out);
        break;
    case RG_MSG_HEARTBEAT_RESPONSE:
        if (rg->role == RG_ROLE_LEADER)
            rg_handle_heartbeat_response(rg, m, out);
        break;
    case RG_MSG_TIMEOUT_NOW:
        if (rg->role != RG_ROLE_LEADER && rg_self_is_voter(rg) && !rg->recovering)
            rg_campaign(rg, false, true, out);
        break;
    default:
        break; /* unknown types are validated by the caller's decoder */
    }
}

static bool is_response(enum rg_message_type type)
{
    return type == RG_MSG_APPEND_RESPONSE || type == RG_MSG_HEARTBEAT_RESPONSE ||
           type == RG_MSG_VOTE_RESPONSE || type == RG_MSG_PRE_VOTE_RESPONSE;
}

int replica_group_step(struct replica_group *rg, const struct rg_message *m, struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (m->to != rg->config.self || m->from == rg->config.self || m->term < 0 ||
        m->type < RG_MSG_PRE_VOTE || m->type > RG_MSG_INSTALL_START)
        return RG_ERR_INVALID;
    /* An answer from a replica outside our config (removed, or not yet
     * known): nothing we asked it counts, and its term must not move ours. */
    if (is_response(m->type) && rg_peer_find(rg, m->from) == NULL)
        return RG_ERR_NOT_MEMBER;
    rg_note_incarnation(rg, m);
    rg_recovery_sample(rg, m);
    rg->reply_to = m->from;
    rg->reply_incarnation = m->incarnation;
    step_message(rg, m, out);
    rg->reply_to = RG_NO_NODE;
    rg_out_finish(rg, out);
    return RG_OK;
}

int replica_group_propose(struct replica_group *rg, int32_t record_count, int64_t *base_offset,
                          int32_t *epoch, struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (record_count <= 0)
        return RG_ERR_INVALID;
    if (rg->role != RG_ROLE_LEADER)
        return RG_ERR_NOT_LEADER;
    if (rg->transfer_target != RG_NO_NODE)
        return RG_ERR_TRANSFERRING;
    RG_ASSERT(rg_epoch_table_last_epoch(&rg->epochs) == rg->term);
    /* A no-op, unless retention deleted the whole log (its runs too). */
    int rc = rg_epoch_table_append(&rg->epochs, (int32_t)rg->term, rg->log_end);
    RG_ASSERT(rc == RG_OK);
    *base_offset = rg->log_end;
    *epoch = (int32_t)rg->term;
    rg->log_end += record_count;
    rg_out_finish(rg, out);
    return RG_OK;
}

int replica_group_transfer_leadership(struct replica_group *rg, int32_t target,
                                      struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (rg->role != RG_ROLE_LEADER)
        return RG_ERR_NOT_LEADER;
    struct rg_peer *p = rg_peer_find(rg, target);
    if (p == NULL)
        return RG_ERR_NOT_MEMBER;
    if (!p->voter)
        return RG_ERR_INVALID;
    rg->transfer_target = target;
    rg->transfer_elapsed = 0;
    if (p->match == rg->log_end && rg->written_end == rg->log_end)
        rg_out_message(rg, out, RG_MSG_TIMEOUT_NOW, target);
    else
        rg_send_append(rg, p, out);
    rg_out_finish(rg, out);
    return RG_OK;
}

static bool remove_id(int32_t *ids, uint32_t *n, int32_t node)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (ids[i] == node) {
            ids[i] = ids[--*n];
            return true;
        }
    }
    return false;
}

int replica_group_change_membership(struct replica_group *rg, enum rg_membership_change change,
                                    int32_t node, int64_t *offset, struct rg_output *out)
{
    if (!rg_room(rg, out))
        return RG_ERR_OUTPUT_FULL;
    if (rg->role != RG_ROLE_LEADER)
        return RG_ERR_NOT_LEADER;
    if (rg->transfer_target != RG_NO_NODE)
        return RG_ERR_TRANSFERRING;
    /* One change at a time, and only after an entry of our own epoch is
     * committed (so the previous config is final in every future log). */
    if (rg->configs[rg->config_count - 1].offset >= rg->commit ||
        rg_epoch_table_epoch_at(&rg->epochs, rg->commit - 1) != rg->term)
        return RG_ERR_CHANGE_PENDING;
    struct rg_membership m = *replica_group_membership(rg);
    switch (change) {
    case RG_CHANGE_ADD_LEARNER:
        if (node < 0 || rg_membership_has_voter(&m, node) || rg_membership_has_learner(&m, node) ||
            m.voter_count + m.learner_count >= RG_MAX_NODES)
            return RG_ERR_INVALID;
        m.learners[m.learner_count++] = node;
        break;
    case RG_CHANGE_PROMOTE: {
        const struct rg_peer *p = rg_peer_find(rg, node);
        if (p == NULL)
            return RG_ERR_NOT_MEMBER;
        if (!rg_membership_has_learner(&m, node))
            return RG_ERR_INVALID;
        if (p->durable_match < rg->commit)
            return RG_ERR_NOT_CAUGHT_UP;
        remove_id(m.learners, &m.learner_count, node);
        m.voters[m.voter_count++] = node;
        break;
    }
    case RG_CHANGE_REMOVE:
        if (node == rg->config.self) /* transfer leadership first */
            return RG_ERR_INVALID;
        if (!remove_id(m.voters, &m.voter_count, node) &&
            !remove_id(m.learners, &m.learner_count, node))
            return RG_ERR_NOT_MEMBER;
        break;
    default:
        return RG_ERR_INVALID;
    }
    struct rg_config_entry entry = {.offset = rg->log_end, .membership = m};
    int rc = rg_epoch_table_append(&rg->epochs, (int32_t)rg->term, rg->log_end);
    RG_ASSERT(rc == RG_OK); /* a no-op unless retention deleted the whole log */
    struct rg_log_op *op = rg_out_op(rg, out, RG_LOG_APPEND_CONFIG);
    op->offset = rg->log_end;
    op->epoch = (int32_t)rg->term;
    op->membership = m;
    rg->log_end++;
    rg_config_push(rg, &entry);
    *offset = entry.offset;
    rg_maybe_commit(rg); /* a removal can shrink the quorum */
    rg_out_finish(rg, out);
    return RG_OK;
}
