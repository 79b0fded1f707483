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
/* Received plaintext: frames to the link's ops. */
void peer_link_consume(struct peer_link *l, const uint8_t *data, size_t len);
/* Sends l->iov[0..n) (one sendmsg; peer_link_tls.c sends its flights with it). */
void peer_link_submit(struct peer_link *l, int n);
/* Queues a frame; counted: a message, whose bytes node->queued_bytes holds. */
void peer_link_queue(struct peer_link *l, struct peer_out *m, bool counted);
/* Sends what is queued, unless a send is in flight. */
void peer_link_flush(struct peer_link *l);
/* Starts the close (ops->on_close runs now); the link is freed once nothing is in flight. */
void peer_link_close(struct peer_link *l, const char *why);
void peer_link_maybe_free(struct peer_link *l);

/*
 * TLS on a link (peer_link_tls.c), the only places peer_link.c asks
 * about it. peer_link_tls_start gives the link its session (a dialer's
 * new client session, whose ClientHello it writes; or the session of the
 * connection the hello came on); peer_link_tls_received feeds it
 * received ciphertext; peer_link_tls_flush seals the gathered iovecs
 * (none: only what the session wrote itself) and sends the flight;
 * peer_link_tls_sent takes a send's completion and says, when the whole
 * flight is out, how many queued bytes it carried (in *res).
 */
bool peer_link_tls_start(struct peer_link *l, struct tls_session *t);
void peer_link_tls_received(struct peer_link *l, const uint8_t *data, size_t len);
void peer_link_tls_flush(struct peer_link *l, int n);
bool peer_link_tls_sent(struct peer_link *l, int32_t *res);

#endif
