/*
 * The dialing side of the links: this broker dials every node of --peers
 * with a higher id than its own, from that node's link shard.
 */
#ifndef RINGLOG_BROKER_PEER_DIAL_H
#define RINGLOG_BROKER_PEER_DIAL_H

struct shard;

/* Once the shard serves: the first dial of each node it holds the link to. */
void peer_dial_start(struct shard *s);
/* Every tick: timeouts of connects and handshakes, and the dials that are due. */
void peer_dial_tick(struct shard *s);

#endif
