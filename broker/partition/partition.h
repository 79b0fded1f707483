/*
 * The partition tier: one front door to a partition, used on its owner
 * shard only. A partition is the storage engine's log plus what the broker
 * keeps beside it: the offsets it publishes for other shards (Metadata,
 * long-poll wakes) and the idempotent-producer state that lets it drop
 * retried duplicates and refuse sequence gaps.
 *
 * Every call is typed (partition_produce, partition_fetch,
 * partition_list_offsets, partition_delete): the caller embeds the call's
 * struct in its own op, fills in the inputs and `done`, and `done` runs
 * exactly once on this shard, possibly before the call returns. This is the
 * only code that calls the storage engine, and the place where the
 * replication core will plug in: acks=all and "answer when committed" live
 * here, behind partition_produce.
 *
 * Results carry a partition_error, not a wire ErrorCode: the handlers map
 * them at the protocol edge (handlers/wire_errors.c).
 */
#ifndef RINGLOG_BROKER_PARTITION_H
#define RINGLOG_BROKER_PARTITION_H

#include <stdbool.h>
#include <stdint.h>

#include "log/partition_log.h"
#include "topics.h"

struct shard;
struct replica;

#define PRODUCER_RECENT_BATCHES 5

struct producer_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset; /* -1 while its append is in flight */
};

struct producer_state {
    struct producer_state *next;
    int64_t producer_id;
    int16_t epoch;
    uint64_t checked_gen; /* the registry generation (id, epoch) was last validated at */
    uint32_t count;       /* valid entries in recent */
    uint32_t newest;
    struct producer_batch recent[PRODUCER_RECENT_BATCHES];
};

#define PRODUCER_BUCKETS 256

struct partition {
    struct partition *hash_next; /* partition_table.c */
    struct shard *shard;         /* the owner: every call runs on its thread */
    char topic[TOPIC_NAME_MAX + 1];
    uint32_t index;
    enum log_flush_policy flush;
    struct partition_log *log;
    struct partition_stats *stats;
    struct producer_state *producers[PRODUCER_BUCKETS];
    bool deleting;
    /* Replicated partitions only (NULL otherwise): the group's driver
     * (replica.h) and the acks=all produce calls waiting for the commit
     * offset to pass them, oldest first. */
    struct replica *replica;
    struct partition_produce *commit_head, *commit_tail;
    /* A cluster's DeleteRecords waiting for the high watermark to reach it (0: none). */
    int64_t start_target;
    struct partition_delete_records *start_move; /* the move in flight, or NULL */
    /* Told after a commit or leadership change (the controller's metadata partition). */
    void (*watcher)(struct partition *p);
    void *watcher_ctx;
};

/* How a call ended; handlers/wire_errors.c maps each to the wire. */
enum partition_error {
    PARTITION_OK,
    PARTITION_DUPLICATE_IN_FLIGHT, /* every batch a retry of one not yet written */
    PARTITION_OUT_OF_ORDER,        /* a sequence gap for this producer */
    PARTITION_MIXED_RETRY,         /* retried and new batches in one request */
    PARTITION_BAD_EPOCH,           /* fenced (older epoch), or an epoch never issued */
    PARTITION_UNKNOWN_PRODUCER,    /* a producer id this broker did not issue */
    PARTITION_BAD_BATCH,           /* detail: the batch validator's rl status */
    PARTITION_NO_BATCH,            /* a produce without a batch */
    PARTITION_OFFSET_OUT_OF_RANGE, /* fetch offset outside [log start, log end] */
    PARTITION_BAD_TIMESTAMP,       /* list offsets: a timestamp below -2 */
    PARTITION_STORAGE,             /* detail: the storage engine's log_status */
    PARTITION_NOT_LEADER,          /* a replica that does not lead: see leader_id */
    PARTITION_NOT_ENOUGH_REPLICAS, /* acks=all with fewer in-sync replicas than a majority */
};

struct partition_result {
    enum partition_error error;
    int detail;          /* rl status (BAD_BATCH) or log_status (STORAGE) */
    const char *message; /* static text for the error, NULL when OK */
    int64_t log_start;
    int64_t log_end;
    int64_t high_watermark;
    int32_t leader_id;    /* NOT_LEADER: the leader this replica knows, -1 none */
    int32_t leader_epoch; /* ... and its epoch */
};

/* DeleteRecords: the records start moves to `offset` (-1: the high watermark). */
struct partition_delete_records {
    /* in */
    int64_t offset;
    void (*done)(struct partition_delete_records *pd);
    /* out: result.log_start is the records start once done */
    struct partition_result result;
    /* working state */
    struct partition *part;
    struct log_ctl ctl;
};

/* ----------------------------------------------------------- produce */

struct partition_produce {
    /* in */
    uint8_t *data; /* record batches, valid until done; base offsets are patched in place */
    size_t len;
    int32_t acks; /* 1 or -1 (all); acks=0 requests are answered by nobody */
    void (*done)(struct partition_produce *pp);
    /* out */
    struct partition_result result;
    int64_t base_offset; /* of the first batch (the original's for a retry) */
    /* the partition's working state */
    struct partition *part;
    struct log_append append;
    int64_t started_ns;
    /* replicated: the commit offset that answers acks=all, the write's generation */
    int64_t commit_end;
    int64_t proposed_base, proposed_end; /* the offsets the group gave the batches */
    int32_t epoch;
    uint64_t write_gen;
    struct partition_produce *commit_next;
};

/* Validates, applies the idempotence rules and appends; done when the acks are met. */
void partition_produce(struct partition *p, struct partition_produce *pp);

/* ------------------------------------------------------------- fetch */

struct partition_fetch {
    /* in */
    int64_t offset;
    uint32_t max_bytes; /* whole batches up to this; at least one, however large */
    bool read_committed;
    void (*done)(struct partition_fetch *pf);
    /* out: records is malloc'd and the caller's to free */
    struct partition_result result;
    uint8_t *records;
    size_t records_len;
    /* working state */
    struct partition *part;
    struct log_read read;
    uint32_t rereads; /* reads again at the same offset (a segment retired under one) */
};

void partition_fetch(struct partition *p, struct partition_fetch *pf);

/*
 * The length of the longest prefix of `data` (whole batches back to back,
 * as a fetch returns them) that fits in `limit` bytes; with at_least_one
 * the first batch counts even when it alone is larger. Fetch limits: the
 * owner applies the partition's, the origin the request's total.
 */
size_t partition_batches_within(const uint8_t *data, size_t len, size_t limit, bool at_least_one);

/* ------------------------------------------------------ list offsets */

struct partition_list_offsets {
    /* in: -2 earliest, -1 latest, else the first record at or after this time */
    int64_t timestamp;
    bool read_committed;
    void (*done)(struct partition_list_offsets *pl);
    /* out */
    struct partition_result result;
    int64_t offset; /* -1 when no record is that recent */
    int64_t found_timestamp;
    /* working state */
    struct partition *part;
    struct log_read read;
    uint8_t *buf;
};

void partition_list_offsets(struct partition *p, struct partition_list_offsets *pl);

/* ------------------------------------------------- open, close, delete */

/*
 * Opens (creating if needed) the partition's log on this shard and
 * rebuilds its producer state from the log's tail. Synchronous: used at
 * start-up and when a topic is created. Returns NULL with err set.
 */
struct partition *partition_open(struct shard *s, const struct topic_info *t, uint32_t index,
                                 char *err, size_t err_len);

/* Clean shutdown: saves producer state, closes the log (flush, indexes), frees p. */
void partition_close(struct partition *p);

struct partition_delete {
    void (*done)(struct partition_delete *pd);
    int status; /* log_status */
    struct partition *part;
    struct log_ctl ctl;
};

/* Deletes the partition's data and frees p (taken out of its table by the caller). */
void partition_delete(struct partition *p, struct partition_delete *pd);

/* ------------------------------------------------ topic admin (partition_admin.c) */

/* The topic's segment, retention and cleanup settings into a log config (the rest untouched). */
void partition_log_config_from_topic(const struct topic_config *tc,
                                     struct partition_log_config *cfg);

/* CreatePartitions: the partition writes its offsets into a new topic version's stats. */
void partition_set_stats(struct partition *p, struct partition_stats *stats);

/* AlterConfigs: the topic's new config, live. PARTITION_OK or ..._STORAGE (invalid). */
enum partition_error partition_apply_config(struct partition *p, const struct topic_config *tc);

/*
 * Refuses an offset past the high watermark (PARTITION_OFFSET_OUT_OF_RANGE);
 * else the log's start moves (partition_log_advance_start: durable before
 * done). On a replica this is the local move only; controller_topics.c
 * makes every replica do it.
 */
void partition_delete_records(struct partition *p, struct partition_delete_records *pd);

/*
 * A cluster's DeleteRecords on this replica: the start moves to `offset`
 * once this replica's high watermark reaches it (now, or at a later commit).
 */
void partition_records_start_target(struct partition *p, int64_t offset);
/* partition_on_commit: a target waiting for the high watermark may go now. */
void partition_records_start_on_commit(struct partition *p);
/* partition_replicate: a replica attached after a cluster's DeleteRecords (a reassignment's new
 * replica, or any at start) takes the topic's target (partition_stats.records_target). */
void partition_records_start_on_attach(struct partition *p);

/* Frees the memory of a closed or deleted partition. */
void partition_free(struct partition *p);

/* Publishes offsets to the shared stats and wakes shards with parked fetches. */
void partition_publish(struct partition *p);

/* The partition's offsets, as a result reports them. */
void partition_fill_offsets(struct partition_result *res, const struct partition *p);

/* Forgets every producer's state (after a storage error). */
void partition_forget_producers(struct partition *p);

/*
 * Makes p a replica of its cluster group (topic_id, its index) with these
 * replicas (replication/replica_group.h membership); new_group as in
 * replica.h. 0, or -1 with err.
 */
struct rg_membership;
int partition_replicate(struct partition *p, uint64_t topic_id,
                        const struct rg_membership *replicas, bool new_group, char *err,
                        size_t err_len);

/* From the replication driver (replica.h): the group's commit offset moved
 * (the high watermark: parked acks=all calls below it are answered), and
 * its leadership changed (a replica that stops leading fails them with
 * NOT_LEADER: the client retries at the new leader, idempotently). */
void partition_on_commit(struct partition *p, int64_t commit);
void partition_on_leadership(struct partition *p, bool leader, int32_t leader_id, int32_t epoch);

#endif
