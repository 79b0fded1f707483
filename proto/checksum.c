/*
 * Run-time choice of the XXH3 implementation.
 *
 * Why: Debian's libxxhash is built for the x86-64 baseline, so its XXH3 uses
 * SSE2 (about 13 GB/s here), while the same algorithm with AVX2 runs at
 * about 38 GB/s. The broker checksums every produced byte and the client
 * every built and fetched one, so at 1 GB/s of 1 KiB messages the SSE2 path
 * was ~7% of the broker's CPU. xxhash.h can be compiled inline for a given
 * target (XXH_INLINE_ALL); checksum_avx2.c is that, built with -mavx2, and
 * this file picks it once when the CPU has AVX2, falling back to the library.
 */
#include "checksum.h"

#include <stdatomic.h>
#include <xxhash.h>

typedef uint64_t (*checksum_fn)(const void *, size_t);

uint64_t rl_checksum_generic(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

static checksum_fn choose(void)
{
#if defined(RINGLOG_HAVE_AVX2_CHECKSUM)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return rl_checksum_avx2;
#endif
    return rl_checksum_generic;
}

/* Chosen on first use; racing first users store the same pointer. */
static _Atomic(checksum_fn) chosen;

static checksum_fn current(void)
{
    checksum_fn fn = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!fn) {
        fn = choose();
        atomic_store_explicit(&chosen, fn, memory_order_relaxed);
    }
    return fn;
}

uint64_t rl_checksum(const void *data, size_t len)
{
    return current()(data, len);
}

const char *rl_checksum_path(void)
{
    return current() == rl_checksum_generic ? "generic" : "avx2";
}
