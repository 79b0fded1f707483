/*
 * What the tier above the peer links (the replication driver) is told
 * about them: net/peer.h registers it, net/peer_node.c calls it.
 */
#ifndef RINGLOG_BROKER_PEER_HOOKS_H
#define RINGLOG_BROKER_PEER_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shard;

struct peer_hooks {
    /* A PeerMessage arrived from `from` (disk incarnation inc) on the link
     * shard. body is malloc'd and owned by the callee. */
    void (*on_message)(struct shard *link_shard, int32_t from, uint64_t inc, uint8_t *body,
                       size_t len);
    /* A link came up (after the handshake; inc is the peer's disk
     * incarnation) or went down. */
    void (*on_link)(struct shard *link_shard, int32_t node, uint64_t inc, bool up);
};

#endif
