/*
 * Each other broker's state on its link shard: which link is its current
 * one, up and down (a newer link supersedes an older; a link that goes
 * down schedules the next dial when this broker is the dialer), the
 * callbacks to the tier above, and the rate-limited log lines.
 */
#ifndef RINGLOG_BROKER_PEER_NODE_H
#define RINGLOG_BROKER_PEER_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "peer_hooks.h"
#include "peer_internal.h"

struct server;
struct shard;
struct peer_identity;

void peer_node_set_hooks(const struct peer_hooks *h);

/* The node of --peers with that id (not this broker), or NULL. */
struct peer_node *peer_node_find(struct server *srv, int32_t id);

/* Whether this broker dials n: the lower id of a pair does. */
bool peer_node_dials(const struct server *srv, const struct peer_node *n);

/* Who this broker is on a link, read afresh at every handshake. */
void peer_self(const struct server *srv, struct peer_identity *self);
/* A handshake with node completed: note whether it belongs to a cluster yet. */
void peer_note_cluster_id(struct server *srv, int32_t node, const char *cluster_id);

/* Logs text unless it repeats l's last line within PEER_LOG_EVERY_MS. */
void peer_logline(struct peer_logline *l, int64_t now_ms, bool warn, const char *text);

/* The handshake of l is done: l is its node's link, up, superseding any older. */
void peer_node_up(struct peer_link *l, uint64_t incarnation);

/* The next dial of n (if this broker dials it), after the back-off, which doubles. */
void peer_node_schedule_dial(struct peer_node *n, const struct shard *s);

/* peer_link_ops of a link to a known node: messages go up, a close reports it down. */
void peer_node_on_message(struct peer_link *l, uint8_t *body, size_t len);
void peer_node_on_close(struct peer_link *l, const char *why);

#endif
