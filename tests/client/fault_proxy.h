/*
 * A fault-injecting TCP proxy for tests, between a client and a broker on
 * 127.0.0.1. Requests pass through untouched; responses are read frame by
 * frame and, per a seeded schedule, delayed, duplicated, or lost with the
 * connection (the broker has acted on the request, the client never hears
 * of it). Metadata responses are rewritten so that every broker address
 * points back at the proxy, keeping the client behind it.
 */
#ifndef RINGLOG_TESTS_FAULT_PROXY_H
#define RINGLOG_TESTS_FAULT_PROXY_H

#include <stdint.h>

struct fault_proxy;

struct fault_plan {
    uint64_t seed;
    unsigned drop_per_mille;  /* close the connection instead of forwarding a response */
    unsigned dup_per_mille;   /* forward a response twice */
    unsigned delay_per_mille; /* sleep 1..max_delay_ms before forwarding */
    unsigned max_delay_ms;
    unsigned max_faults; /* stop injecting after this many (0: no limit) */
};

/* Proxies to upstream_port on 127.0.0.1. NULL on failure. */
struct fault_proxy *fault_proxy_start(int upstream_port, const struct fault_plan *plan);

/* "127.0.0.1:PORT" of the proxy. */
const char *fault_proxy_address(const struct fault_proxy *p);

/* Faults injected so far: drops, duplicates, delays. */
void fault_proxy_counts(struct fault_proxy *p, unsigned *drops, unsigned *dups, unsigned *delays);

/* Stops injecting (lets a test drain cleanly). */
void fault_proxy_calm(struct fault_proxy *p);

void fault_proxy_stop(struct fault_proxy *p);

#endif
