/*
 * Replication core: one partition's replica group as a pure state machine.
 *
 * Raft-style quorum replication (leader epochs = terms, pre-vote,
 * check-quorum, log matching on (offset, epoch), fast back-off by epoch,
 * durable-only commit, leadership transfer, one-at-a-time membership
 * change). The core does no I/O, reads no clock, starts no thread and never
 * allocates: the caller feeds it events and carries out what it asks for.
 * docs/REPLICATION.md is the full contract; the essentials:
 *
 * EVENTS (inputs)
 *   replica_group_tick            one tick (as many as an rg_clock says are due)
 *   replica_group_step            a message received from a peer
 *   replica_group_step_heartbeat(_reply)  an entry of a coalesced heartbeat (reply)
 *   replica_group_propose         a client batch of N records (leader)
 *   replica_group_appended        "my log is written (readable) up to X" (any role)
 *   replica_group_durable         "my log is durable up to X" (clamped by the driver)
 *   replica_group_write_failed    "a write failed: my log ends at X"
 *   replica_group_append_read     "the read for this APPEND finished"
 *   replica_group_log_start_advanced  "retention deleted my log below X"
 *   replica_group_transfer_leadership, replica_group_change_membership
 *
 * OUTPUTS go into a caller-provided struct rg_output. Carry one out IN THIS
 * ORDER before reusing it:
 *   1. hard_state_changed: persist the hard state DURABLY (fsync). No
 *      message in this output may leave before a hard_state_version >=
 *      out->hard_state_version is durable: a vote or a term forgotten in a
 *      crash lets one node vote twice in an epoch. One fsync per shard per
 *      loop turn for all its groups is the intended use.
 *   2. log ops, in order: truncate the log to an offset; append bytes
 *      received in an APPEND message; append a leader-epoch marker or a
 *      membership-config batch. They need to be written, not durable; report
 *      durability later with replica_group_durable.
 *   3. send the messages, and the compact heartbeats (out->heartbeats, one
 *      message per broker pair per tick). For each APPEND the caller reads
 *      its log from msg->prev_end up to at most msg->end, whole batches
 *      only (asynchronously if it likes), then calls
 *      replica_group_append_read: RG_ERR_STALE means drop it.
 *   4. publish commit (the high watermark) and role/leader changes.
 *
 * OFFSETS are Kafka-style: a record batch covers [base, base + count), the
 * log is [log_start, log_end); log_start moves up when retention deletes
 * old segments, or when a follower too far behind restarts its log at the
 * leader's log start (RG_MSG_INSTALL_START, RG_LOG_RESET). The core never
 * sees batch bytes; it knows the log as an epoch table (epoch -> first
 * offset, like Kafka's leader-epoch checkpoint) plus log_start, log_end,
 * the written end and the durable end. Every offset it names in a truncate
 * or an APPEND boundary is a batch boundary.
 */
#ifndef RINGLOG_REPLICATION_REPLICA_GROUP_H
#define RINGLOG_REPLICATION_REPLICA_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compile-time bounds: all memory of a group is inside its struct, except
 * the epoch table whose storage the caller hands to replica_group_init. */
#define RG_MAX_NODES 8              /* voters + learners of one group */
#define RG_MAX_INFLIGHT 16          /* upper bound of config.max_inflight */
#define RG_MAX_RUNS_PER_APPEND 4    /* epoch runs one APPEND may span */
#define RG_MAX_CONFIGS_PER_APPEND 4 /* config batches one APPEND may carry */
#define RG_CONFIG_HISTORY 4         /* configs remembered (latest last) */
#define RG_NO_NODE (-1)

typedef enum rg_status {
    RG_OK = 0,
    RG_ERR_NOT_LEADER = -1,     /* propose/transfer/change on a non-leader */
    RG_ERR_TRANSFERRING = -2,   /* a leadership transfer is under way */
    RG_ERR_OUTPUT_FULL = -3,    /* out has less room than one event may need */
    RG_ERR_INVALID = -4,        /* argument out of range */
    RG_ERR_CHANGE_PENDING = -5, /* a membership change is not committed yet */
    RG_ERR_NOT_CAUGHT_UP = -6,  /* learner to promote lags the log */
    RG_ERR_EPOCH_TABLE_FULL = -7,
    RG_ERR_NOT_MEMBER = -8, /* a response from (or a target that is) no member */
    RG_ERR_STALE = -9,      /* the message is out of date (not the leader of its term): drop it */
} rg_status;

const char *rg_status_str(int status);

enum rg_role {
    RG_ROLE_FOLLOWER = 0,
    RG_ROLE_PRE_CANDIDATE = 1,
    RG_ROLE_CANDIDATE = 2,
    RG_ROLE_LEADER = 3,
};

const char *rg_role_str(enum rg_role role);

/* The replicas of a group. Voters elect and count for commit; learners only
 * receive the log (a new replica catching up before promotion). */
struct rg_membership {
    uint32_t voter_count;
    uint32_t learner_count;
    int32_t voters[RG_MAX_NODES];
    int32_t learners[RG_MAX_NODES];
};

bool rg_membership_has_voter(const struct rg_membership *m, int32_t node);
bool rg_membership_has_learner(const struct rg_membership *m, int32_t node);
/* Ids distinct and >= 0, 1..RG_MAX_NODES members, at least one voter. */
bool rg_membership_valid(const struct rg_membership *m);

/* A membership-config batch of one offset in the log. offset -1 is the
 * bootstrap membership, in effect before any config batch. */
struct rg_config_entry {
    int64_t offset;
    struct rg_membership membership;
};

/* Epochs [1, ...) of the entries starting at `start`, up to the next run. */
struct rg_epoch_run {
    int32_t epoch;
    int64_t start;
};

/*
 * Persist ALL of it (fsync) before any message of the output that changed
 * it leaves. recovering / vote_floor: see "Disk incarnations" below; a
 * zeroed hard state (a new or a wiped disk) makes the replica recover.
 */
struct rg_hard_state {
    int64_t term; /* = the current leader epoch */
    int32_t voted_for;
    bool recovering;    /* a new or wiped disk: no vote, no campaign yet */
    int64_t vote_floor; /* never vote or campaign in a term <= this */
};

/*
 * TEST ONLY. Each knob breaks one rule of the protocol so that the
 * simulation can prove its checker notices. Production passes NULL.
 */
struct replica_group_faults {
    bool count_non_durable_acks; /* commit on written, not durable, replicas */
    bool commit_previous_epoch;  /* commit older-epoch entries by counting */
    bool skip_pre_vote;          /* campaign without a pre-vote round */
    bool vote_ignores_log;       /* grant votes to candidates with stale logs */
    bool no_check_quorum;        /* an isolated leader never steps down */
    bool ack_durable_early;      /* follower reports its whole log durable */
    bool forget_vote;            /* a vote is not reported as hard state */
    bool skip_recovery;          /* a wiped replica votes at once (forgot its votes and data) */
};

/*
 * A violated invariant of a group ends in its config's assert_handler
 * (NULL: print and abort()), called with its assert_ctx. It must not
 * return: it may abort, or longjmp out (a test harness; or a broker that
 * fences the partition: the group's state is then half-updated, so it must
 * be discarded and started again from disk with replica_group_init).
 * API change: this replaced the process-wide rg_set_assert_handler().
 */
typedef void (*rg_assert_handler)(void *ctx, const char *file, int line, const char *expr);

struct replica_group_config {
    int32_t self;                   /* this replica's node id (>= 0) */
    struct rg_membership bootstrap; /* membership at log start */
    uint32_t election_ticks;        /* election timeout is random in [T, 2T) */
    uint32_t heartbeat_ticks;       /* leader heartbeat period, < election */
    uint32_t max_inflight;          /* APPENDs in flight per peer, 1..16 */
    uint64_t seed;                  /* election jitter */
    /* Heartbeats go out when the group's tick counter is a multiple of
     * heartbeat_ticks; giving every group of a broker the broker's tick
     * count here puts them in phase so one exchange serves them all. */
    uint64_t initial_tick;
    /* This replica's disk incarnation: a random id (!= 0) made when its
     * data directory is created and kept with the hard state; a wiped
     * disk gets a new one. Messages carry it, so peers reset what they
     * knew of a replica that comes back with another disk. (API change:
     * required, init refuses 0.) */
    uint64_t incarnation;
    bool pre_vote;                             /* recommended: true */
    bool check_quorum;                         /* recommended: true */
    const struct replica_group_faults *faults; /* NULL in production */
    rg_assert_handler assert_handler;          /* NULL: print and abort() */
    void *assert_ctx;                          /* passed to assert_handler */
};

/*
 * Durable state read back at start (all zero for a new replica). With
 * retention the log starts at log_start > 0: the caller keeps, next to its
 * log-start checkpoint, start_epoch (the epoch of the deleted entry at
 * log_start - 1) and the config in effect there (the newest config batch
 * below log_start, even if deleted), passed as the first of `configs`.
 */
struct replica_group_restore {
    struct rg_hard_state hard_state;
    int64_t log_start;   /* the recovered log is [log_start, log_end) */
    int32_t start_epoch; /* epoch of the entry log_start - 1 (0 iff log_start 0) */
    int64_t log_end;
    const struct rg_epoch_run *epochs; /* epoch table of that log, first run at log_start */
    uint32_t epoch_count;
    const struct rg_config_entry *configs; /* config batches (offset >= 0), oldest first: */
    uint32_t config_count;                 /* the newest below log_start, then the last few */
    int64_t commit; /* a checkpointed high watermark <= log_end, or 0 (log_start at least) */
    /* Only with a zeroed hard_state: this replica was created together
     * with its group (every replica new, nothing ever voted or written),
     * so it need not recover. Never set it for a data directory found
     * empty: that may be a wiped disk. */
    bool new_group;
};

enum rg_message_type {
    RG_MSG_PRE_VOTE = 1,
    RG_MSG_PRE_VOTE_RESPONSE,
    RG_MSG_VOTE,
    RG_MSG_VOTE_RESPONSE,
    RG_MSG_APPEND,
    RG_MSG_APPEND_RESPONSE,
    RG_MSG_HEARTBEAT,
    RG_MSG_HEARTBEAT_RESPONSE,
    RG_MSG_TIMEOUT_NOW,
    RG_MSG_INSTALL_START, /* the follower is behind our log start: restart at it */
};

const char *rg_message_type_str(enum rg_message_type type);

/*
 * One message between replicas of the same group. The caller adds the
 * group id when it puts it on the wire (docs/REPLICATION.md maps each type
 * to its protobuf message). Unused fields are zero.
 */
struct rg_message {
    enum rg_message_type type;
    int32_t from;
    int32_t to;
    int64_t term;
    /* Disk incarnations (filled by the core): the sender's, and the one
     * the sender last heard from `to` (0: none). The caller carries both
     * (and must not deliver a message of a peer's older incarnation after
     * one of its newer: the inter-broker handshake names the incarnation
     * and a new connection supersedes the old one). */
    uint64_t incarnation;
    uint64_t to_incarnation;

    /* PRE_VOTE, VOTE: the candidate's log. */
    int64_t log_end;
    int32_t last_epoch;
    bool transfer; /* VOTE after TIMEOUT_NOW: ignores leader leases */
    /* *_VOTE_RESPONSE (filled by the core): the highest term the answerer
     * knows reached, max(term, vote floor), or -1 while it recovers itself
     * (it knows nothing). It feeds a recovering replica's vote floor. */
    int64_t known_term;
    /* *_RESPONSE */
    bool granted; /* votes */
    bool success; /* APPEND_RESPONSE */

    /* APPEND: entries [prev_end, end) after the entry at prev_end - 1 of
     * epoch prev_epoch (0 when prev_end == 0). runs give the epoch of every
     * offset of the range. configs: the membership-config batches inside the
     * range, filled by the RECEIVING caller from the batch bytes.
     * INSTALL_START: the leader's log starts at prev_end, its entry
     * prev_end - 1 (deleted) has epoch prev_epoch, and configs[0] (filled by
     * the core) is the config in effect there (offset -1: the bootstrap). */
    int64_t prev_end;
    int32_t prev_epoch;
    int64_t end;
    int64_t commit; /* APPEND, HEARTBEAT: the leader's high watermark */
    uint32_t run_count;
    struct rg_epoch_run runs[RG_MAX_RUNS_PER_APPEND];
    uint32_t config_count;
    struct rg_config_entry configs[RG_MAX_CONFIGS_PER_APPEND];
    void *payload; /* the caller's handle on the batch bytes, never read */

    /* APPEND_RESPONSE, HEARTBEAT_RESPONSE: the follower's [0, match) is
     * verified equal to the leader's log in this term, [0, durable) of its
     * log is durable. On a rejected APPEND, the hint for fast back-off: the
     * follower holds no epoch above hint_epoch before hint_offset, a batch
     * boundary of its log whose previous entry has hint_epoch. A heartbeat
     * response's hint is its last epoch and log end. */
    int64_t match;
    int64_t durable;
    int32_t hint_epoch;
    int64_t hint_offset;
};

enum rg_log_op_type {
    RG_LOG_TRUNCATE = 1,    /* drop every offset >= offset */
    RG_LOG_APPEND_RECEIVED, /* write batches [from, to) of payload's bytes */
    RG_LOG_APPEND_MARKER,   /* write a 1-offset leader-epoch control batch */
    RG_LOG_APPEND_CONFIG,   /* write a 1-offset membership-config batch */
    RG_LOG_RESET,           /* delete the whole log; it restarts, empty, at offset */
};

struct rg_log_op {
    enum rg_log_op_type type;
    int64_t offset;                  /* TRUNCATE: new log end; RESET: new log start; */
                                     /* others: first offset (= from) */
    int64_t to;                      /* APPEND_RECEIVED: end (exclusive) */
    int32_t epoch;                   /* MARKER, CONFIG: the epoch to stamp; RESET: start_epoch */
    void *payload;                   /* APPEND_RECEIVED, RESET: the message's payload */
    struct rg_membership membership; /* CONFIG; RESET: the config in effect at the start */
    int64_t config_offset;           /* RESET: that config's offset (-1: the bootstrap) */
};

/*
 * Coalesced heartbeats. A driver that hands an output a heartbeat array
 * (rg_output_set_heartbeats) gets the leader's heartbeats there, compact,
 * instead of as RG_MSG_HEARTBEAT messages: it sends ONE inter-broker
 * message per broker pair per tick carrying every group's entry, hands
 * each entry to its group with replica_group_step_heartbeat (which fills
 * the compact reply) and each reply entry to its leader's group with
 * replica_group_step_heartbeat_reply. Groups tick in phase
 * (config.initial_tick), so all heartbeats of a broker fall on the same
 * ticks. The caller adds the group id on the wire.
 */
struct rg_heartbeat {
    int32_t from, to;
    int64_t term;
    int64_t commit;
    uint64_t incarnation, to_incarnation;
};

struct rg_heartbeat_reply {
    int32_t from, to; /* to == RG_NO_NODE: nothing to send */
    int64_t term;
    bool success; /* false: the heartbeat's term is stale (term is ours) */
    int64_t match, durable;
    int32_t hint_epoch;
    int64_t hint_offset;
    uint64_t incarnation, to_incarnation;
};

/* Caller-provided output buffer; see the order of processing above. */
struct rg_output {
    struct rg_message *messages;
    uint32_t message_count;
    uint32_t message_capacity;
    struct rg_log_op *ops;
    uint32_t op_count;
    uint32_t op_capacity;
    struct rg_heartbeat *heartbeats; /* NULL: heartbeats go out as messages */
    uint32_t heartbeat_count;
    uint32_t heartbeat_capacity;

    bool hard_state_changed;
    struct rg_hard_state hard_state;
    /* The group's hard-state version after this output (bumped by every
     * change). No message of this output may leave before a version >=
     * this one is durable: a driver batching one fsync per loop turn
     * persists every changed group's hard state, syncs once, then sends;
     * one that syncs asynchronously holds messages tagged with it. */
    uint64_t hard_state_version;
    bool commit_changed;
    int64_t commit;
    bool role_changed; /* role, term or leader changed */
    enum rg_role role;
    int64_t term;
    int32_t leader;
    bool membership_changed; /* the config in effect changed */
    /* The epoch table has no room for another epoch: grow it with
     * replica_group_set_epoch_storage, or the group cannot accept a new
     * leader epoch (it would refuse to lead and drop APPENDs). */
    bool epoch_table_full;
};

void rg_output_init(struct rg_output *out, struct rg_message *messages, uint32_t message_capacity,
                    struct rg_log_op *ops, uint32_t op_capacity);
/* Gives out room for compact heartbeats (at least RG_MAX_NODES per event). */
void rg_output_set_heartbeats(struct rg_output *out, struct rg_heartbeat *heartbeats,
                              uint32_t capacity);
/* Empties out (keeps its buffers). */
void rg_output_reset(struct rg_output *out);

/* Per-peer replication progress, as seen by a leader. */
struct rg_peer {
    int32_t id;
    bool voter;
    bool probing;       /* one APPEND at a time until a match is found */
    bool recent_active; /* heard from since the last check-quorum round */
    bool vote_granted;
    bool vote_responded;
    int64_t next;           /* next offset to send */
    int64_t match;          /* verified equal to our log (maybe not durable) */
    int64_t durable_match;  /* verified AND durable on the peer: counts for commit */
    uint64_t last_ack_tick; /* tick of the last accepted APPEND ack */
    uint64_t incarnation;   /* its disk incarnation, as last heard (0: never) */
    bool sampled;           /* recovering: it answered this incarnation ... */
    int64_t sampled_term;   /* ... with this known term */
    uint32_t inflight_head;
    uint32_t inflight_count;
    int64_t inflight_end[RG_MAX_INFLIGHT];
};

struct rg_epoch_table {
    rg_assert_handler assert_handler; /* the group's, for its own checks */
    void *assert_ctx;
    struct rg_epoch_run *runs;
    uint32_t count;
    uint32_t capacity;
    int64_t start;       /* the log start; runs[0].start == start when count > 0 */
    int32_t start_epoch; /* epoch of the (deleted) entry start - 1; 0 when start is 0 */
};

/* The whole state of one replica of one group. Opaque: use the accessors. */
struct replica_group {
    struct replica_group_config config;
    struct replica_group_faults faults;

    enum rg_role role;
    int64_t term;
    int32_t voted_for;
    int32_t leader;

    int64_t log_end;       /* end of the log as the core has directed it */
    int64_t written_end;   /* leader: end the caller reported readable */
    int64_t durable_end;   /* [log_start, durable_end) survives a crash */
    int64_t commit;        /* high watermark */
    int64_t verified_end;  /* follower: [0, v) equals the current leader's log */
    int64_t leader_commit; /* follower: the leader's commit, as last heard in this term */
    struct rg_epoch_table epochs;

    uint32_t config_count; /* configs[config_count - 1] is in effect */
    struct rg_config_entry configs[RG_CONFIG_HISTORY];
    uint64_t config_version; /* bumped on every change of the config in effect */

    uint32_t peer_count; /* every member but self */
    struct rg_peer peers[RG_MAX_NODES];

    uint64_t tick_count;
    uint32_t election_elapsed;
    uint32_t randomized_timeout;
    uint64_t rng;
    int32_t transfer_target;
    uint32_t transfer_elapsed;

    /* Recovery of a new or wiped disk (docs/REPLICATION.md). */
    bool recovering;
    int64_t vote_floor;
    bool caught_up;             /* recovering: holds what was committed before the wipe */
    bool asked;                 /* the voters were asked for their terms at least once */
    bool epoch_table_blocked;   /* an epoch was refused for lack of room */
    int32_t reply_to;           /* during a step: the sender ... */
    uint64_t reply_incarnation; /* ... and its incarnation, echoed in replies */

    /* What the last output reported, to flag changes. */
    struct rg_hard_state reported_hard_state;
    uint64_t hard_state_version;
    int64_t reported_commit;
    enum rg_role reported_role;
    int64_t reported_term;
    int32_t reported_leader;
    uint64_t reported_config_version;
};

/*
 * Starts a replica from its durable state. epoch_storage (capacity entries)
 * holds the epoch table for the life of the group; one entry per epoch in
 * which this log has entries. Returns RG_ERR_INVALID on an inconsistent
 * config or restore.
 */
int replica_group_init(struct replica_group *rg, const struct replica_group_config *config,
                       const struct replica_group_restore *restore,
                       struct rg_epoch_run *epoch_storage, uint32_t epoch_capacity);

/*
 * Ticks from the monotonic clock. The core counts ticks, not time: a
 * driver turns CLOCK_MONOTONIC milliseconds into ticks with one rg_clock
 * per shard (never a relative timer re-armed each turn, which drifts late
 * under load) and calls replica_group_tick that many times on each group.
 * Ticks fall on multiples of tick_ms since the clock's epoch, so every
 * group given rg_clock_ticks() as config.initial_tick is in phase.
 */
struct rg_clock {
    uint64_t tick_ms;
    uint64_t ticks; /* ticks elapsed: floor(now_ms / tick_ms) at the last advance */
};
void rg_clock_init(struct rg_clock *c, uint32_t tick_ms, uint64_t now_ms);
/* Ticks due since the last call (0 when the clock did not move on). */
uint64_t rg_clock_advance(struct rg_clock *c, uint64_t now_ms);
static inline uint64_t rg_clock_ticks(const struct rg_clock *c)
{
    return c->ticks;
}

/* Room every event function requires in out (messages, ops). */
uint32_t replica_group_max_messages_per_event(const struct replica_group *rg);
#define RG_MAX_OPS_PER_EVENT 2u

/* One tick of the logical clock: elections, heartbeats, check-quorum. */
int replica_group_tick(struct replica_group *rg, struct rg_output *out);

/* A message from a peer of this group (msg->to == self). */
int replica_group_step(struct replica_group *rg, const struct rg_message *msg,
                       struct rg_output *out);

/*
 * A client batch of record_count records. On RG_OK the batch must be
 * stamped with *base_offset and *epoch and appended to the log; report the
 * write with replica_group_appended. RG_ERR_NOT_LEADER or
 * RG_ERR_TRANSFERRING otherwise.
 */
int replica_group_propose(struct replica_group *rg, int32_t record_count, int64_t *base_offset,
                          int32_t *epoch, struct rg_output *out);

/*
 * The log is written and readable up to end (whose last entry has `epoch`):
 * report every completed write, in order, in EVERY role (API change: a
 * follower's writes too; a follower that becomes leader replicates only
 * what it knows written). A leader replicates only written data, so an
 * asynchronous write path needs no in-memory copy of what it appends.
 * RG_ERR_STALE (nothing changed): the log was truncated since that write
 * was issued (end past the log end, or another epoch at end - 1).
 */
int replica_group_appended(struct replica_group *rg, int64_t end, int32_t epoch,
                           struct rg_output *out);

/*
 * [log_start, end) of the log as it is NOW is durable (fsynced), a RESET
 * included. THE CALLER CLAMPS: an fsync that started before a TRUNCATE
 * (or RESET) this group asked for later covers nothing at or after that
 * truncation point, even if the log has grown past it again: report
 * min(synced end, every truncation point issued since the fsync started).
 * Without the clamp a follower acknowledges as durable data it has not
 * synced (the sim's --fault unclamped_durable shows the leader committing
 * on it). Followers report it to the leader; the leader may advance the
 * commit; a follower learns the leader's commit only up to its durable end.
 */
int replica_group_durable(struct replica_group *rg, int64_t end, struct rg_output *out);

/*
 * A log write failed (EIO, ENOSPC). The caller drops the failed write and
 * every LATER append-type op of this group still queued (APPEND_RECEIVED,
 * APPEND_MARKER, APPEND_CONFIG, proposed batches), still carries out the
 * later TRUNCATEs and RESETs, and then reports where its log ends: `end`
 * (>= the commit offset, since the durable end never passes a failed
 * write). The core forgets [end, log_end): a follower acknowledges less
 * from now on and the leader re-sends it; a leader steps down (its
 * proposals at or after end are lost: fail their produce requests), and so
 * does a candidate (its vote requests claimed the lost entries). A
 * failed truncate, reset or fsync is not recoverable this way: discard
 * the group, recover the partition from disk and replica_group_init it.
 */
int replica_group_write_failed(struct replica_group *rg, int64_t end, struct rg_output *out);

/*
 * Retention deleted the log below start (whole segments: start is a batch
 * boundary), and the deletion is durable. Only committed, durable data may
 * go: start <= commit and start <= the durable end, else RG_ERR_INVALID.
 * start_config is the newest config batch below start (deleted or not), or
 * NULL when there is none (the bootstrap is in effect); the caller keeps
 * it, with the start and replica_group_start_epoch(), for its restore.
 * A follower whose log ends below a leader's log start is then sent
 * RG_MSG_INSTALL_START instead of APPENDs. Produces no output.
 */
int replica_group_log_start_advanced(struct replica_group *rg, int64_t start,
                                     const struct rg_config_entry *start_config);

/*
 * The read for an APPEND of this group finished: it holds the whole
 * batches of [msg->prev_end, actual_end) (actual_end == msg->end when
 * nothing was cut, or a batch boundary in (prev_end, end] when a byte
 * budget cut it). Safe at ANY time after the output that asked for it,
 * other events in between (an asynchronous read):
 *  - RG_ERR_STALE: the group is no longer the leader of msg->term (its log
 *    may have changed under the read): drop the message;
 *  - RG_OK: send it. When cut, msg->end and msg->runs are fixed, the
 *    peer's progress too if this is still its newest APPEND (otherwise
 *    the peer rejects the gap and is probed again), and the APPEND for
 *    the next piece may be added to the END of out's messages (a caller
 *    walking out->messages by index sends it too; room for one message).
 * A read that finds the range gone (retention) drops the message.
 */
int replica_group_append_read(struct replica_group *rg, struct rg_message *msg, int64_t actual_end,
                              struct rg_output *out);
/* The older name: replica_group_append_read for a cut APPEND. */
int replica_group_append_trimmed(struct replica_group *rg, struct rg_message *msg,
                                 int64_t actual_end, struct rg_output *out);

/*
 * Moves the epoch table to larger caller storage (capacity >= the runs in
 * use) after out->epoch_table_full; the old storage is free afterwards.
 */
int replica_group_set_epoch_storage(struct replica_group *rg, struct rg_epoch_run *storage,
                                    uint32_t capacity);

/*
 * A coalesced heartbeat entry for this group (hb->to == self). Fills
 * *reply (reply->to == RG_NO_NODE: none due) for the batched answer;
 * anything else the step causes goes to out as usual.
 */
int replica_group_step_heartbeat(struct replica_group *rg, const struct rg_heartbeat *hb,
                                 struct rg_heartbeat_reply *reply, struct rg_output *out);
/* A reply entry of a coalesced heartbeat answer, for this group's leader. */
int replica_group_step_heartbeat_reply(struct replica_group *rg,
                                       const struct rg_heartbeat_reply *reply,
                                       struct rg_output *out);

/*
 * Hands leadership to `target` (a voter): proposals stop, the target is
 * brought up to date, then told to campaign at once (TIMEOUT_NOW). Gives up
 * after an election timeout.
 */
int replica_group_transfer_leadership(struct replica_group *rg, int32_t target,
                                      struct rg_output *out);

enum rg_membership_change {
    RG_CHANGE_ADD_LEARNER = 1, /* new replica, receives the log, no vote */
    RG_CHANGE_PROMOTE,         /* learner that caught up becomes a voter */
    RG_CHANGE_REMOVE,          /* drop a voter or learner (not the leader) */
};

/*
 * One membership step. Appends a config batch (a log op) that takes effect
 * at once; the next change waits until it is committed. *offset receives
 * the batch's offset.
 */
int replica_group_change_membership(struct replica_group *rg, enum rg_membership_change change,
                                    int32_t node, int64_t *offset, struct rg_output *out);

/* ---------------------------------------------------------------- accessors */

static inline enum rg_role replica_group_role(const struct replica_group *rg)
{
    return rg->role;
}
static inline int64_t replica_group_term(const struct replica_group *rg)
{
    return rg->term;
}
static inline int32_t replica_group_voted_for(const struct replica_group *rg)
{
    return rg->voted_for;
}
static inline int32_t replica_group_leader(const struct replica_group *rg)
{
    return rg->leader;
}
static inline int64_t replica_group_commit(const struct replica_group *rg)
{
    return rg->commit;
}
static inline int64_t replica_group_log_end(const struct replica_group *rg)
{
    return rg->log_end;
}
static inline int64_t replica_group_log_start(const struct replica_group *rg)
{
    return rg->epochs.start;
}
/* Epoch of the entry at log_start - 1 (deleted), 0 when the log starts at 0. */
static inline int32_t replica_group_start_epoch(const struct replica_group *rg)
{
    return rg->epochs.start_epoch;
}
static inline int64_t replica_group_durable_end(const struct replica_group *rg)
{
    return rg->durable_end;
}
/* The end the caller last reported written (replica_group_appended), as the core keeps it. */
static inline int64_t replica_group_written_end(const struct replica_group *rg)
{
    return rg->written_end;
}
/* True while a new or wiped replica may not vote or campaign. */
static inline bool replica_group_recovering(const struct replica_group *rg)
{
    return rg->recovering;
}
/* The voter leadership is being handed to, or RG_NO_NODE. */
static inline int32_t replica_group_transfer_target(const struct replica_group *rg)
{
    return rg->transfer_target;
}
static inline const struct rg_membership *replica_group_membership(const struct replica_group *rg)
{
    return &rg->configs[rg->config_count - 1].membership;
}

/* Epoch of the entry at offset (0 past its end or below log_start - 1). */
int32_t replica_group_epoch_at(const struct replica_group *rg, int64_t offset);
bool replica_group_is_voter(const struct replica_group *rg, int32_t node);
const struct rg_peer *replica_group_peer(const struct replica_group *rg, int32_t node);

#endif
