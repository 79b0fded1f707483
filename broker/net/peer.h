/*
 * Links between brokers (docs/PROTOCOL.md "Between brokers"): one TCP
 * connection per broker pair, dialed by the lower node id, opened with the
 * PeerHello handshake and then carrying one-way PeerMessage frames in both
 * directions. The link to node N lives on shard N % nshards (its "link
 * shard"): its socket, its send queue and every callback about it.
 *
 * Sending works from any shard: peer_send takes ownership of a message and
 * queues it to the link shard (directly there, else through a lock-free
 * inbox per node and a wake), where each loop turn gathers everything
 * queued into one sendmsg. Record bytes are never copied: they go to the
 * socket as their own iovec. Messages one shard sends to one node leave in
 * the order sent. Memory is bounded per link (PEER_QUEUE_BOUND bytes):
 * past it, or without a link up, peer_send drops (replication re-sends).
 *
 * Receiving: each PeerMessage frame becomes a malloc'd body handed to
 * peer_hooks.on_message on the link shard. The ordering a receiver may
 * rely on, per node, all on the link shard: on_link(up) of a link, then
 * its messages, then its on_link(down), then the next link's on_link(up).
 * A newer link from a node supersedes an older one (the older is closed
 * and reported down first), so nothing of a peer's older incarnation is
 * delivered after anything of its newer one.
 */
#ifndef RINGLOG_BROKER_PEER_H
#define RINGLOG_BROKER_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_hooks.h" /* struct peer_hooks: on_message, on_link */
#include "peer_out.h"   /* struct peer_out: peer_out_new, peer_out_head, peer_out_free */

struct shard;
struct server;

/* Bytes a link may hold queued (all senders together) before peer_send drops. */
#define PEER_QUEUE_BOUND ((int64_t)64 << 20)

/*
 * Queues m to node `node`; callable on any shard thread; takes ownership
 * always. Returns false (m freed, the drop counted) when no link to node
 * is up, its queue is over PEER_QUEUE_BOUND, or m is larger than a frame.
 */
bool peer_send(struct shard *s, int32_t node, struct peer_out *m);

/* Before any shard runs. Without hooks, received messages are dropped. */
void peer_set_hooks(const struct peer_hooks *h);

/*
 * On the link shard, in a callback about node: the number of the link it
 * is about, counted from 1 per node by this process; a newer link has a
 * larger number (disk incarnations are random and cannot be compared). A
 * message handed to another shard carries it, and that shard drops numbers
 * below the newest it has seen from the node (PROTOCOL.md "Incarnations
 * and superseded links"). 0 when no link to node exists.
 */
uint64_t peer_link_number(struct shard *link_shard, int32_t node);

/* The shard that holds the link to node: node % nshards. */
int peer_link_shard(const struct server *srv, int32_t node);

/* ------------------------------------------- for the broker's composition */

/* Resolves every other node of --peers; srv->peers stays NULL without any. */
int peer_net_init(struct server *srv, char *err, size_t err_len);
/* After every shard thread has ended: frees what is still queued. */
void peer_net_destroy(struct server *srv);

/* On each shard: once serving (starts dialing), each turn, each tick, at stop. */
void peer_shard_start(struct shard *s);
void peer_before_wait(struct shard *s);
void peer_tick(struct shard *s);
void peer_shard_stop(struct shard *s);
/* Whether every link of this shard is closed and freed. */
bool peer_shard_drained(const struct shard *s);

#endif
