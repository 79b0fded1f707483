/*
 * Choosing a partition for a record. Keyed records: a hash of the key
 * modulo the partition count — xxh64 (the default) or Kafka's murmur2
 * (partitioner=murmur2: the same partition as Kafka's Java client and
 * librdkafka's murmur2_random, so a migrating application keeps its key ->
 * partition mapping) — or the application's partitioner callback. Null
 * keys: a sticky partition that changes each time its batch is sealed
 * (full batches instead of many small ones; spread over time).
 */
#ifndef RINGLOG_CLIENT_PARTITIONER_H
#define RINGLOG_CLIENT_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

struct ringlog_conf;

enum rl_partitioner { RL_PARTITIONER_XXH64, RL_PARTITIONER_MURMUR2 };

/* xxh64(key, seed 0) % partitions; partitions > 0. */
int32_t rl_partition_for_key(const void *key, size_t key_len, int32_t partitions);

/* Kafka's Utils.murmur2(key) as an unsigned 32-bit value (cast to int32_t for Java's). */
uint32_t rl_murmur2(const void *key, size_t len);

/* Kafka's default: (murmur2(key) & 0x7fffffff) % partitions; partitions > 0. */
int32_t rl_partition_murmur2(const void *key, size_t key_len, int32_t partitions);

/* The partition of a keyed record under conf (callback, else configured hash). */
int32_t rl_partition_choose(const struct ringlog_conf *conf, const char *topic, const void *key,
                            size_t key_len, int32_t partitions);

/* A new sticky partition in [0, partitions), different from `previous` when there is a choice. */
int32_t rl_sticky_next(uint64_t *rng_state, int32_t previous, int32_t partitions);

/* splitmix64 step: a per-handle random source (no global state). */
uint64_t rl_rand_next(uint64_t *state);

#endif
