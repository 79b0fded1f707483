/*
 * The topic table: which topics exist, their configs, and which shard owns
 * each partition. Every shard reads it on every request, so it is an
 * immutable snapshot behind an atomic pointer: readers take no lock. Only
 * shard 0 (the controller shard) changes it, by publishing a new snapshot.
 *
 * Reclamation is quiescent-state based: a shard holds snapshot pointers only
 * within one loop turn, and at the top of each turn stores the version it
 * sees. An old snapshot (and the partition stats of deleted topics) is freed
 * once every shard has seen a newer version.
 *
 * The table is persisted as <data-dir>/meta/topics, written atomically
 * (temp file, fsync, rename, fsync of the directory).
 */
#ifndef RINGLOG_BROKER_TOPICS_H
#define RINGLOG_BROKER_TOPICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "names.h"

#define TOPIC_NAME_MAX RL_TOPIC_NAME_MAX
#define TOPIC_MAX_PARTITIONS 10000

/* Offsets of a partition, written by its owner shard, read by anyone. */
/* Replicas of one partition at most (the replication core's RG_MAX_NODES). */
#define TOPIC_MAX_REPLICAS 8

/* A replica set one thread writes and any reads (a sequence lock: topic_assignment.c). */
struct replica_set_slot {
    _Atomic uint32_t seq;   /* odd while being written */
    _Atomic uint32_t count; /* 0: none set */
    _Atomic int32_t nodes[TOPIC_MAX_REPLICAS];
};

struct partition_stats {
    _Atomic int64_t log_start;
    _Atomic int64_t log_end;
    _Atomic int64_t high_watermark;
    _Atomic int64_t size_bytes;
    _Atomic int32_t leader_epoch;
    _Atomic int32_t leader;    /* node id of the leader as this broker knows it, -1: none */
    _Atomic uint64_t isr;      /* in-sync replicas (bit = node id) as the leader last saw them */
    _Atomic uint64_t watchers; /* bit s: shard s has a fetch parked on this partition */
    _Atomic bool online;       /* opened by its owner */
    /* The replicas the controller last assigned (topic_assignment.h): a
     * reassignment changes them; topic_info.replicas keeps the creation's. */
    struct replica_set_slot assigned;
    /* The group's members (voters, then learners) as this broker's replica
     * knows them: while a move runs, the old and the new replicas. */
    struct replica_set_slot members;
    /* A cluster's DeleteRecords (controller_topics.c, shard 0 writes): every
     * replica, one attached later by a reassignment too, moves its records
     * start here once its high watermark reaches it (0: none). */
    _Atomic int64_t records_target;
};

/* topic_config.cleanup_policy bits: the storage engine's LOG_CLEANUP_* */
#define TOPIC_CLEANUP_DELETE 1u
#define TOPIC_CLEANUP_COMPACT 2u

struct topic_config {
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t segment_bytes;
    int64_t segment_ms;
    uint32_t cleanup_policy;          /* TOPIC_CLEANUP_* bits; 0 (old tables): delete */
    int64_t delete_retention_ms;      /* 0: the engine's default (24 h) */
    double min_cleanable_dirty_ratio; /* 0: the engine's default (0.5) */
    int64_t min_compaction_lag_ms;
};

/* "delete", "compact", "compact,delete" (or "delete,compact"), "" (delete): 0, or -1. */
int topic_cleanup_policy_parse(const char *text, uint32_t *out);
/* The policy's name as the wire and the CLI spell it. */
const char *topic_cleanup_policy_name(uint32_t policy);

struct partition_log_config;
/* The topic's cleanup policy and compaction settings, into a partition log's config. */
void topic_config_apply_compaction(const struct topic_config *tc, struct partition_log_config *cfg);

struct topic_info {
    char name[TOPIC_NAME_MAX + 1];
    uint64_t id;
    uint32_t partitions;
    uint32_t replication_factor;
    struct topic_config config;
    struct partition_stats *stats; /* [partitions] */
    /* A cluster's topic: the replicas of partition p are
     * replicas[p * replication_factor ...], the first the preferred leader.
     * NULL on a single broker (every partition is this broker's alone). */
    int32_t *replicas;
    /* Shard 0 only: admin ops still out on other shards point at this topic
     * (a delete's fan-out), so reclaim must not free it even once every
     * shard has passed the version that removed it. */
    uint32_t pins;
    /* Shard 0 only: a newer version of the topic took over this stats array
     * (topic_registry_replace), so freeing this version leaves it alone. */
    bool stats_lent;
};

struct topic_table {
    uint64_t version;
    uint32_t count;
    struct topic_info **topics; /* sorted by name */
};

struct retired {
    uint64_t version; /* free once every shard has seen this version */
    struct topic_table *table;
    struct topic_info *topic; /* a deleted topic, with its stats */
    struct retired *next;
};

struct topic_registry {
    _Atomic(struct topic_table *) current;
    _Atomic uint64_t version;
    uint64_t next_topic_id;
    struct retired *retired; /* shard 0 only */
    char path[4096];
};

/*
 * Loads <data_dir>/meta/topics (absent: empty). Returns 0 or -1 with err.
 * A cluster's broker starts empty instead (its topics are the controller's
 * metadata log, applied again at every start) and writes the table to
 * meta/topics.cluster, which nothing reads: a view for people.
 */
int topic_registry_load(struct topic_registry *r, const char *data_dir, bool cluster, char *err,
                        size_t err_len);
void topic_registry_destroy(struct topic_registry *r);

static inline struct topic_table *topic_registry_snapshot(struct topic_registry *r)
{
    return atomic_load_explicit(&r->current, memory_order_acquire);
}

struct topic_info *topic_table_find(const struct topic_table *t, const char *name);

/* Which shard owns a partition: stable for a topic id across restarts. */
static inline int topic_partition_owner(const struct topic_info *t, uint32_t partition, int nshards)
{
    return (int)((t->id + partition) % (uint64_t)nshards);
}

/* Controller (shard 0) operations. */
struct topic_info *topic_info_new(const char *name, uint64_t id, uint32_t partitions,
                                  uint32_t replication_factor, const struct topic_config *cfg);
void topic_info_free(struct topic_info *t);

/*
 * Publishes a table with `add` added and/or the topic named `remove`
 * removed, after writing it to disk. Returns 0, or -1 (nothing changed).
 */
int topic_registry_publish(struct topic_registry *r, struct topic_info *add, const char *remove,
                           char *err, size_t err_len);

/*
 * Removes <data_dir>/topics/<name> once every partition directory in it is
 * gone, so a deleted topic or a failed create leaves nothing behind.
 * Returns 0 (also when it was already gone) or -errno.
 */
int topic_dir_remove(const char *data_dir, const char *name);

/*
 * A new version of t (AlterConfigs, CreatePartitions): same name, id,
 * replication factor, config and replicas, with `partitions` (>= t's)
 * partitions. With as many partitions it shares t's stats; with more, it
 * has its own, t's values copied into the first ones (the partitions'
 * owners must then point at them before it is published), and room in
 * replicas for the new partitions' (the caller fills them). NULL: no memory.
 */
struct topic_info *topic_info_next(const struct topic_info *t, uint32_t partitions);

/*
 * Publishes `next` (from topic_info_next) in place of the topic of its
 * name, which retires as a deleted topic would. 0, or -1 with err (nothing
 * changed; next is still the caller's).
 */
int topic_registry_replace(struct topic_registry *r, struct topic_info *next, char *err,
                           size_t err_len);

/* Frees what every shard has moved past; min_seen is the least seen version. */
void topic_registry_reclaim(struct topic_registry *r, uint64_t min_seen);

#endif
