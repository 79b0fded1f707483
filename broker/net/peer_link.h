/*
 * One link's socket (peer_internal.h has the struct): multishot recv into
 * the loop's provided buffers, frames cut by the frame decoder and handed
 * to the link's ops, a send queue gathered into one sendmsg per loop turn
 * (record bytes as their own iovecs), and the close. Like net/conn.c, but
 * one-way messages instead of requests and replies.
 */
#ifndef RINGLOG_BROKER_PEER_LINK_H
#define RINGLOG_BROKER_PEER_LINK_H

#include <stdbool.h>

#include "peer_internal.h"

/* A link on shard s over socket fd (taken); NULL when out of memory (fd left open). */
struct peer_link *peer_link_new(struct shard *s, struct peer_node *node, int fd, bool dialer,
                                const struct peer_link_ops *ops);
void peer_link_arm_recv(struct peer_link *l);
/* Queues a frame; counted: a message, whose bytes node->queued_bytes holds. */
void peer_link_queue(struct peer_link *l, struct peer_out *m, bool counted);
/* Sends what is queued, unless a send is in flight. */
void peer_link_flush(struct peer_link *l);
/* Starts the close (ops->on_close runs now); the link is freed once nothing is in flight. */
void peer_link_close(struct peer_link *l, const char *why);
void peer_link_maybe_free(struct peer_link *l);

#endif
