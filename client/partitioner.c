#include "partitioner.h"

#include <xxhash.h>

int32_t rl_partition_for_key(const void *key, size_t key_len, int32_t partitions)
{
    return (int32_t)(XXH64(key, key_len, 0) % (uint64_t)partitions);
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
