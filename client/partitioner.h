/*
 * Choosing a partition for a record: xxh64 of the key modulo the partition
 * count (the same function every client must use, so keyed records land on
 * the same partition whatever client wrote them), or a sticky partition for
 * null keys that changes each time its batch is sealed (full batches
 * instead of many small ones; spread over time).
 */
#ifndef RINGLOG_CLIENT_PARTITIONER_H
#define RINGLOG_CLIENT_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

/* xxh64(key, seed 0) % partitions; partitions > 0. */
int32_t rl_partition_for_key(const void *key, size_t key_len, int32_t partitions);

/* A new sticky partition in [0, partitions), different from `previous` when there is a choice. */
int32_t rl_sticky_next(uint64_t *rng_state, int32_t previous, int32_t partitions);

/* splitmix64 step: a per-handle random source (no global state). */
uint64_t rl_rand_next(uint64_t *state);

#endif
