/*
 * The accepting side of the links: a connection on the --listen port
 * whose first frame is a peer_hello becomes a link (peer_accept.c says how).
 */
#ifndef RINGLOG_BROKER_PEER_ACCEPT_H
#define RINGLOG_BROKER_PEER_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

/*
 * The handler tier found a peer_hello as the first frame of connection c:
 * the connection becomes an accepted link (answered or refused on the link
 * shard). False: the frame is undecodable (the connection closes).
 */
bool peer_accept(struct conn *c, const uint8_t *frame, size_t len);

#endif
