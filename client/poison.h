/*
 * Under AddressSanitizer, memory the library hands out on loan is poisoned
 * when the loan ends, so that an application keeping a borrowed consumed
 * message (ringlog_message from ringlog_consumer_poll) past the next call
 * is stopped at its first read instead of silently reading reused bytes.
 * No-ops in other builds. ASan poisons whole 8-byte granules only: a few
 * bytes at the end of a range may stay readable, never more than the range.
 */
#ifndef RINGLOG_CLIENT_POISON_H
#define RINGLOG_CLIENT_POISON_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define RL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define RL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define RL_POISON(p, n) ((void)(p), (void)(n))
#define RL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#endif
