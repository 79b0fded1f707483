/*
 * Partition assignments (topic_assignment.h). Each replica set has one
 * writer (the controller on shard 0 for the assignment, the partition's
 * owner shard for the members) and readers on every shard: a sequence lock
 * over atomic slots, so a set is read whole or the read is retried.
 */
#include "topic_assignment.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

uint32_t replica_set_read(const struct replica_set_slot *slot, int32_t out[TOPIC_MAX_REPLICAS])
{
    for (;;) {
        uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        if (seq & 1)
            continue; /* the writer is between its two stores: a few instructions */
        uint32_t n = atomic_load_explicit(&slot->count, memory_order_relaxed);
        if (n > TOPIC_MAX_REPLICAS)
            n = TOPIC_MAX_REPLICAS; /* cannot happen whole: the sequence check retries it */
        for (uint32_t i = 0; i < n; i++)
            out[i] = atomic_load_explicit(&slot->nodes[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&slot->seq, memory_order_relaxed) == seq)
            return n;
    }
}

void replica_set_write(struct replica_set_slot *slot, const int32_t *nodes, uint32_t n)
{
    assert(n <= TOPIC_MAX_REPLICAS);
    assert(n == 0 || nodes != NULL);
    uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (uint32_t i = 0; i < n; i++)
        atomic_store_explicit(&slot->nodes[i], nodes[i], memory_order_relaxed);
    atomic_store_explicit(&slot->count, n, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

uint32_t partition_stats_assignment(struct partition_stats *st, int32_t out[TOPIC_MAX_REPLICAS])
{
    return replica_set_read(&st->assigned, out);
}

uint32_t topic_replicas(const struct topic_info *t, uint32_t p, int32_t out[TOPIC_MAX_REPLICAS])
{
    assert(p < t->partitions);
    if (t->replicas == NULL)
        return 0;
    uint32_t n = replica_set_read(&t->stats[p].assigned, out);
    if (n > 0)
        return n;
    uint32_t rf = t->replication_factor;
    assert(rf >= 1 && rf <= TOPIC_MAX_REPLICAS);
    memcpy(out, &t->replicas[(size_t)p * rf], rf * sizeof(int32_t));
    return rf;
}

void topic_assign(struct topic_info *t, uint32_t p, const int32_t *nodes, uint32_t n)
{
    assert(p < t->partitions && t->replicas != NULL);
    assert(n >= 1 && n <= TOPIC_MAX_REPLICAS);
    replica_set_write(&t->stats[p].assigned, nodes, n);
}
