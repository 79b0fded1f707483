/*
 * Allocation failures on demand, to prove that every allocation on a
 * request path fails gracefully: the request is answered with an error (or,
 * when not even the request can be allocated, its connection is closed),
 * nothing leaks and the broker keeps serving.
 *
 * RINGLOG_FAULT_ALLOC=N in ringlogd's environment makes the Nth counted
 * allocation fail, once, and logs it. Counted are the allocations wrapped
 * in FAULT_ALLOC, all on request paths (request memory, response arena,
 * fan-out ops, fetch buffers, topic jobs, connections). Without the
 * variable the check is one predictable branch on a constant.
 * tests/integration/test_broker_alloc.c walks N = 1, 2, ... through a
 * create, a produce and a fetch until no allocation is left to fail.
 */
#ifndef RINGLOG_BROKER_FAULT_ALLOC_H
#define RINGLOG_BROKER_FAULT_ALLOC_H

#include <stdbool.h>

/* Reads RINGLOG_FAULT_ALLOC; called once, before any shard starts. */
void fault_alloc_init(void);

/* True when this allocation is the one to fail (then logged). */
bool fault_alloc_fail(void);

#define FAULT_ALLOC(expr) (fault_alloc_fail() ? NULL : (expr))

#endif
