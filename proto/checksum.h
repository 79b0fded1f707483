/*
 * The batch checksum, XXH3-64 with seed 0, computed with the widest vector
 * unit the CPU has. The result is the same on every path; only the speed
 * differs.
 */
#ifndef RINGLOG_CHECKSUM_H
#define RINGLOG_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* XXH3_64bits(data, len), on the fastest path this CPU supports. */
uint64_t rl_checksum(const void *data, size_t len);

/* Which path rl_checksum takes: "avx2" or "generic". */
const char *rl_checksum_path(void);

/* The paths themselves, for tests and benchmarks. rl_checksum_avx2 may only
 * be called when rl_checksum_path() says "avx2". */
uint64_t rl_checksum_generic(const void *data, size_t len);
uint64_t rl_checksum_avx2(const void *data, size_t len);

#endif
