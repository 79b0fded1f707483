/*
 * Deterministic pseudo-random numbers for tests (splitmix64). A test takes
 * its seed from RINGLOG_TEST_SEED when set, else a fixed default, and
 * prints it, so any failure can be replayed exactly.
 */
#ifndef RINGLOG_TESTS_TEST_RNG_H
#define RINGLOG_TESTS_TEST_RNG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_rng {
    uint64_t state;
};

static inline uint64_t test_rng_next(struct test_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t test_rng_below(struct test_rng *r, uint64_t n)
{
    return test_rng_next(r) % n;
}

static inline void test_rng_fill(struct test_rng *r, void *buf, size_t len)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)test_rng_next(r);
}

/*
 * A damaged copy of buf[0, len) for parser tests: cut short one time in
 * four, then up to three bytes flipped. Returns the malloc'd copy (at least
 * one byte allocated) and its length in *out_len.
 */
static inline uint8_t *test_rng_damage(struct test_rng *r, const uint8_t *buf, size_t len,
                                       size_t *out_len)
{
    size_t cut = test_rng_below(r, 4) == 0 ? test_rng_below(r, len + 1) : len;
    uint8_t *copy = malloc(cut ? cut : 1);
    if (!copy)
        abort();
    memcpy(copy, buf, cut);
    for (uint64_t k = test_rng_below(r, 4); k > 0 && cut > 0; k--)
        copy[test_rng_below(r, cut)] ^= (uint8_t)(1 + test_rng_below(r, 255));
    *out_len = cut;
    return copy;
}

/* Seeds from RINGLOG_TEST_SEED or `fallback`, and prints the seed with the test's name. */
static inline uint64_t test_rng_seed(struct test_rng *r, const char *test_name, uint64_t fallback)
{
    const char *env = getenv("RINGLOG_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : fallback;
    fprintf(stderr, "%s: seed %llu (set RINGLOG_TEST_SEED to replay)\n", test_name,
            (unsigned long long)seed);
    r->state = seed;
    return seed;
}

#endif
