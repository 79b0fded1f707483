/*
 * A partition as its owner shard sees it: the storage engine's log, the
 * offsets it publishes for other shards, and the idempotent-producer state
 * that lets the broker drop retried duplicates and refuse sequence gaps.
 */
#ifndef RINGLOG_BROKER_PARTITION_H
#define RINGLOG_BROKER_PARTITION_H

#include <stdbool.h>
#include <stdint.h>

#include "log/partition_log.h"
#include "topics.h"

struct shard;
struct part_op;

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
    uint32_t count; /* valid entries in recent */
    uint32_t newest;
    struct producer_batch recent[PRODUCER_RECENT_BATCHES];
};

#define PRODUCER_BUCKETS 256

struct partition {
    struct partition *hash_next;
    struct shard *shard;
    char topic[TOPIC_NAME_MAX + 1];
    uint32_t index;
    enum log_flush_policy flush;
    struct partition_log *log;
    struct partition_stats *stats;
    struct producer_state *producers[PRODUCER_BUCKETS];
    bool deleting;
};

/*
 * Opens (creating if needed) the partition's log on this shard and
 * rebuilds its producer state from the log's tail. Synchronous: used at
 * start-up and when a topic is created. Returns NULL with err set.
 */
struct partition *partition_open(struct shard *s, const struct topic_info *t, uint32_t index,
                                 char *err, size_t err_len);

/* Frees the memory of a closed or deleted partition. */
void partition_free(struct partition *p);

/* Publishes offsets to the shared stats and wakes shards with parked fetches. */
void partition_publish(struct partition *p);

/* Forgets every producer's state (after a storage error). */
void partition_forget_producers(struct partition *p);

/* FNV-1a of topic and partition, for the shard's hash table. */
uint64_t partition_hash(const char *topic, uint32_t index);

#endif
