/*
 * Which brokers hold a cluster partition's replicas now. A topic's record
 * gives every partition its replicas at creation (topic_info.replicas); a
 * reassignment record of the controller gives it new ones, kept in the
 * partition's stats so every shard reads them without a new topic table.
 * The controller writes them on shard 0 as it applies its log; any shard
 * reads them (a sequence lock: a reader never sees half an assignment).
 * Beside them, the partition's replica publishes the group's members as it
 * knows them: the leader's are what `topic describe` shows.
 */
#ifndef RINGLOG_BROKER_TOPIC_ASSIGNMENT_H
#define RINGLOG_BROKER_TOPIC_ASSIGNMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "topics.h"

/* A replica set's nodes into out; returns how many (0: none set). Any thread. */
uint32_t replica_set_read(const struct replica_set_slot *slot, int32_t out[TOPIC_MAX_REPLICAS]);
/* Sets it (its one writer only). */
void replica_set_write(struct replica_set_slot *slot, const int32_t *nodes, uint32_t n);

/* Partition p's replicas now, the preferred leader first, into out; returns how many (0 for a
 * single broker's topic, which has no replica list). */
uint32_t topic_replicas(const struct topic_info *t, uint32_t p, int32_t out[TOPIC_MAX_REPLICAS]);

/* The controller's new replicas for partition p (shard 0 only). n in 1..TOPIC_MAX_REPLICAS. */
void topic_assign(struct topic_info *t, uint32_t p, const int32_t *nodes, uint32_t n);

/* Reads a partition's assigned replicas; returns 0 when none was assigned after creation. */
uint32_t partition_stats_assignment(struct partition_stats *st, int32_t out[TOPIC_MAX_REPLICAS]);

static inline bool replicas_have(const int32_t *nodes, uint32_t n, int32_t node)
{
    for (uint32_t i = 0; i < n; i++)
        if (nodes[i] == node)
            return true;
    return false;
}

#endif
