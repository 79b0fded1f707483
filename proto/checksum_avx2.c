/*
 * XXH3-64 compiled inline from xxhash.h for AVX2 (this file alone is built
 * with -mavx2; see checksum.c for why and for the CPU check that guards the
 * call). XXH_INLINE_ALL makes every xxhash symbol static here, so nothing
 * clashes with the library's.
 */
#include "checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#if !defined(__AVX2__)
#error "checksum_avx2.c must be compiled with -mavx2"
#endif

uint64_t rl_checksum_avx2(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}
