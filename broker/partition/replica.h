/*
 * The replication driver (docs/REPLICATION.md section 5): per shard, it
 * feeds the replication core (replication/replica_group.h) of every
 * replicated partition the shard owns with real events — storage
 * completions, peer messages, clock ticks — and carries out what the core
 * asks for: hard state to the shard's journal (replica_state.h, one
 * fdatasync per loop turn), log operations to the storage engine, messages
 * to the peer links (net/peer.h), commit offsets and leadership to the
 * partition (high watermark, acks=all answers, NOT_LEADER hints).
 *
 * Only the partition tier and the shard's composition (shard_main.c) call
 * it. Files: replica_driver.c (groups, events, outputs, the turn),
 * replica_log.c (log operations, APPEND reads, durability),
 * replica_net.c (peer messages in and out, coalesced heartbeats).
 */
#ifndef RINGLOG_BROKER_REPLICA_H
#define RINGLOG_BROKER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/partition_log.h"
#include "replica_group.h"
#include "topics.h"

struct shard;
struct partition;
struct replica;

/* Election timing: ticks of REPLICA_TICK_MS; a leader's death is noticed in
 * [T, 2T) ticks (300-600 ms), a new one elected a few round trips later,
 * inside issue 15's 1 s failover budget. Heartbeats every 2 ticks. */
#define REPLICA_TICK_MS 50
#define REPLICA_ELECTION_TICKS 6
#define REPLICA_HEARTBEAT_TICKS 2

/* Shard start and stop (on the shard's thread). 0, or -1 with err. */
int replica_driver_init(struct shard *s, char *err, size_t err_len);
void replica_driver_destroy(struct shard *s);

/* Loop hooks: before the loop sleeps (hard state synced, then the turn's
 * messages sent) and every loop tick (core ticks from the shard's clock). */
void replica_driver_before_wait(struct shard *s);
void replica_driver_tick(struct shard *s);

/*
 * What the driver tells the partition it serves. The partition tier
 * implements them and hands them over at attach, so calls go one way
 * (partition -> driver) and the driver's news comes back through these.
 */
struct replica_events {
    /* The group's commit offset (the high watermark) moved forward. */
    void (*commit)(struct partition *p, int64_t commit);
    /* Leadership changed (or was given up: leader false, leader_id -1). */
    void (*leadership)(struct partition *p, bool leader, int32_t leader_id, int32_t epoch);
    /* The log changed (written, truncated, reset): publish its offsets. */
    void (*log_changed)(struct partition *p);
    /* A follower wrote these batches (its producer state follows them). */
    void (*written)(struct partition *p, const uint8_t *batches, size_t len);
    /* The log was cut at offset (-1: reset, nothing of the old log is left). */
    void (*truncated)(struct partition *p, int64_t offset);
};

/* What a replica works on: its partition's log and published offsets. */
struct replica_host {
    struct partition *owner; /* opaque here: handed back in the events */
    struct shard *shard;
    struct partition_log *log;
    struct partition_stats *stats; /* leader and in-sync replicas, for Metadata */
    enum log_flush_policy flush;
    const char *topic; /* for log lines; lives as long as the partition */
    uint32_t index;
};

/*
 * Makes an opened partition a replica of group (topic_id, host->index)
 * with these replicas. new_group: every replica was created with the group
 * (docs/REPLICATION.md "Disk incarnations"). The replica, or NULL with err.
 * Called by the partition tier only (partition_replicate).
 */
struct replica *replica_attach(const struct replica_host *host, const struct replica_events *ev,
                               uint64_t topic_id, const struct rg_membership *replicas,
                               bool new_group, char *err, size_t err_len);
/* CreatePartitions moved the partition's stats to a new topic version (partition_set_stats). */
void replica_set_stats(struct replica *r, struct partition_stats *stats);
/* Before the partition closes or is deleted: the group stops; r is gone after. */
void replica_detach(struct replica *r);

/*
 * Graceful shutdown: hands every group this shard leads to its most
 * caught-up live voter (the core brings it up to date, then tells it to
 * campaign at once), again for transfers the core gave up. Returns how
 * many groups it still leads.
 */
uint32_t replica_driver_hand_over(struct shard *s);

/* Leadership as this replica knows it. */
bool replica_is_leader(const struct replica *r);
int32_t replica_leader(const struct replica *r);
/* Where a leader hint should send clients: the transfer target while leadership is being
 * handed over (the leader refuses writes meanwhile), else the leader. */
int32_t replica_leader_hint(const struct replica *r);
int32_t replica_term(const struct replica *r);
int64_t replica_commit(const struct replica *r);
/* Voters that match the leader's log up to its commit and answered lately (leader only; itself
 * included). */
uint32_t replica_in_sync(const struct replica *r, int32_t *nodes, uint32_t cap);
const struct rg_membership *replica_members(const struct replica *r);

/*
 * The controller may delete this replica (of topic topic_id) once its
 * assignment leaves this broker out: the group's committed membership no
 * longer holds it (its own log says so, or a member told it). Never while
 * it leads.
 */
bool replica_removable(const struct replica *r, uint64_t topic_id);

/*
 * A leader's client batch of `records` records: on RG_OK the caller stamps
 * it with *base / *epoch and appends it with exact offsets; its write is
 * reported with replica_written.
 */
int replica_propose(struct replica *r, int32_t records, int64_t *base, int32_t *epoch,
                    uint64_t *write_gen);
/*
 * The leader's proposal [base, end) (stamped with epoch, proposed at
 * write_gen) is queued in its log: it joins the in-memory tail
 * (replica_tail.h) and, when the tail holds everything the core has not
 * sent, is replicated now, while the leader's own write runs (the commit
 * still needs a majority durable, the leader's report or not). Its
 * completion is then reported with replica_written as any write's.
 */
void replica_proposed(struct replica *r, const uint8_t *data, size_t len, int64_t base, int64_t end,
                      int32_t epoch, uint64_t write_gen);
/* The leader's own append of [.., end) with `epoch`, proposed at write_gen, is written
 * (status LOG_OK) or failed. */
void replica_written(struct replica *r, int64_t end, int32_t epoch, uint64_t write_gen, int status);
/* The partition's log is durable up to `durable` (on_durable_advance). */
void replica_durable(struct replica *r, int64_t durable);
/* Retention deleted the log below `start` (on_log_start_advance). */
void replica_log_start_advanced(struct replica *r, int64_t start);

/* Peer links (net/peer.h hooks), on the link's shard. body is owned by the callee. */
void replica_receive(struct shard *link_shard, int32_t from, uint64_t inc, uint8_t *body,
                     size_t len);
void replica_link(struct shard *link_shard, int32_t node, uint64_t inc, bool up);

#endif
