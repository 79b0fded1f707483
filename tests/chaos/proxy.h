/*
 * A fault-injecting TCP proxy between brokers, on 127.0.0.1, run in a
 * thread of the chaos driver. There is one listener per ordered pair of
 * nodes (from, to): node `from` is told (by its --peers) that node `to`
 * lives at that listener, which forwards to `to`'s real port. A broker's
 * Metadata then names the proxies too, so clients come through as well:
 * the first frame of each connection tells a peer link (PeerHello) from a
 * client, and only peer links are faulted. Faults are per directed pair
 * (bytes from node a to node b): cut (nothing passes, in either
 * direction's connection), delay (each chunk held for some ms, order
 * kept), flaky (each chunk may reset the connection instead).
 */
#ifndef RINGLOG_TESTS_CHAOS_PROXY_H
#define RINGLOG_TESTS_CHAOS_PROXY_H

#include <stdint.h>

#include "chaos.h"

enum link_fault { LINK_OK, LINK_CUT, LINK_DELAY, LINK_FLAKY };

struct proxy;

/* Listeners for every ordered pair, forwarding to upstream[to]; NULL on failure. */
struct proxy *proxy_start(const uint16_t upstream[CHAOS_NODES], uint64_t seed);

/* The port node `from` (index) dials to reach node `to`. */
uint16_t proxy_port(const struct proxy *p, int from, int to);

/*
 * Sets the fault of bytes from node `from` to node `to` (indexes); arg is
 * the delay in ms or the reset chance per mille. reset: also close every
 * peer connection between the two now (what a long partition ends in).
 */
void proxy_set(struct proxy *p, int from, int to, enum link_fault f, int arg, bool reset);

/* Connections reset by flaky links so far. */
unsigned proxy_resets(struct proxy *p);

void proxy_stop(struct proxy *p);

#endif
