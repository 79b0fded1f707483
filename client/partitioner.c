#include "partitioner.h"

#include <assert.h>
#include <string.h>
#include <xxhash.h>

#include "conf.h"

int32_t rl_partition_for_key(const void *key, size_t key_len, int32_t partitions)
{
    assert(partitions > 0);
    return (int32_t)(XXH64(key, key_len, 0) % (uint64_t)partitions);
}

/*
 * Kafka's Utils.murmur2 (seed 0x9747b28c), in unsigned arithmetic: Java's
 * int overflow wraps, which uint32_t reproduces without C's signed overflow.
 */
uint32_t rl_murmur2(const void *key, size_t len)
{
    const unsigned char *d = key;
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 |
                     (uint32_t)d[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h = (h * m) ^ k;
    }
    assert(len - i < 4);
    switch (len - i) {
    case 3:
        h ^= (uint32_t)d[i + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)d[i + 1] << 8;
        /* fall through */
    case 1:
        h ^= d[i];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t rl_partition_murmur2(const void *key, size_t key_len, int32_t partitions)
{
    assert(partitions > 0);
    /* Kafka: Utils.toPositive(murmur2(key)) % numPartitions. */
    return (int32_t)((rl_murmur2(key, key_len) & 0x7fffffffu) % (uint32_t)partitions);
}

/*
 * The partition of a keyed record under the configuration: the
 * application's callback when set (a return outside [0, partitions) is the
 * application's bug: it is logged and the configured hash decides, since
 * the record must go somewhere valid), else the configured hash.
 */
int32_t rl_partition_choose(const struct ringlog_conf *conf, const char *topic, const void *key,
                            size_t key_len, int32_t partitions)
{
    assert(conf && partitions > 0);
    if (conf->partitioner_cb) {
        int32_t p = conf->partitioner_cb(topic, key, key_len, partitions, conf->partitioner_opaque);
        if (p >= 0 && p < partitions)
            return p;
        rl_log(conf, RINGLOG_LOG_ERROR,
               "partitioner callback returned %d for topic %s with %d partitions; "
               "using the %s partitioner for this record",
               (int)p, topic, (int)partitions,
               conf->partitioner == RL_PARTITIONER_MURMUR2 ? "murmur2" : "xxh64");
    }
    if (conf->partitioner == RL_PARTITIONER_MURMUR2)
        return rl_partition_murmur2(key, key_len, partitions);
    return rl_partition_for_key(key, key_len, partitions);
}

uint64_t rl_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int32_t rl_sticky_next(uint64_t *rng_state, int32_t previous, int32_t partitions)
{
    if (partitions <= 1)
        return 0;
    if (previous < 0 || previous >= partitions)
        return (int32_t)(rl_rand_next(rng_state) % (uint64_t)partitions);
    /* Any partition but the previous one, uniformly. */
    int32_t p = (int32_t)(rl_rand_next(rng_state) % (uint64_t)(partitions - 1));
    return p >= previous ? p + 1 : p;
}
