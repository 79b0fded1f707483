/*
 * What the files of the peer links share (peer.c: messages, sending,
 * per-node state; peer_link.c: one link's socket I/O; peer_dial.c: the
 * dialer's side; peer_accept.c: the accepting side). Not for other tiers.
 */
#ifndef RINGLOG_BROKER_PEER_INTERNAL_H
#define RINGLOG_BROKER_PEER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "frame.h"
#include "io/completion.h"
#include "io/loop.h"
#include "metrics.h"
#include "peer.h"

#define PEER_MAX_IOV 256
/* Re-dial back-off, doubling from the first to the last after each failure. */
#define PEER_BACKOFF_FIRST_MS 50
#define PEER_BACKOFF_LAST_MS 1000
#define PEER_CONNECT_TIMEOUT_MS 1000
#define PEER_HANDSHAKE_TIMEOUT_MS 2000
/* A repeated failure is logged at most once per this long. */
#define PEER_LOG_EVERY_MS 30000

struct peer_out {
    struct peer_out *next;
    uint8_t *records;
    size_t records_len;
    size_t head_len;
    bool counted;      /* a message (node->queued_bytes holds its bytes), not a handshake frame */
    uint8_t header[4]; /* the frame's length */
    uint8_t head[];
};

/* Bytes a message takes on the wire (frame header included). */
static inline size_t peer_out_bytes(const struct peer_out *m)
{
    return sizeof(m->header) + m->head_len + m->records_len;
}

/* Rate limit of one kind of log line (a failure that repeats). */
struct peer_logline {
    char last[256];
    int64_t last_ms;
    uint32_t suppressed;
};

enum peer_link_state {
    LINK_CONNECTING, /* dialer: the connect is in flight */
    LINK_HELLO_SENT, /* dialer: waiting for the answer */
    LINK_UP,         /* messages flow */
    LINK_REFUSING,   /* acceptor: the refusal is being sent, then close */
};

struct peer_node;

/* One connection to another broker, on its node's link shard. */
struct peer_link {
    struct peer_link *prev, *next; /* the shard's links */
    struct shard *shard;
    struct peer_node *node; /* NULL for a refused hello from an unknown node */
    int fd;
    bool dialer;
    enum peer_link_state state;
    bool closing;
    bool reported_up; /* on_link(up) was called: on_link(down) is due */
    bool recv_armed;
    bool sending;
    uint32_t sqes_pending;
    uint64_t incarnation; /* the peer's, from the handshake */
    int64_t deadline_ms;  /* connect or handshake timeout */
    struct rl_completion connect_done, recv_done, send_done, close_done, cancel_done;
    struct rl_frame_decoder decoder;
    struct peer_out *head, *tail; /* queued frames, the next to send first */
    size_t head_sent;             /* bytes of head already sent */
    int64_t queued_bytes;         /* counted messages in the queue (not handshake frames) */
    struct iovec iov[PEER_MAX_IOV];
    struct msghdr msg;
    int32_t peer_node_id; /* who the peer said it is (for logs) */
};

/* Another broker of --peers. The atomics are touched by any shard, the rest
 * by the link shard only. */
struct peer_node {
    int32_t id;
    int link_shard;
    int index; /* in cfg.peers: srv->peer_stats[index] */
    struct peer_stats *stats;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char addr_text[300];
    _Atomic(struct peer_out *) inbox; /* pushed by other shards, newest first */
    _Atomic bool up;
    _Atomic int64_t queued_bytes; /* inbox plus the link's queue */
    /* link shard only */
    struct peer_link *link; /* the current link (dialing, handshaking or up) */
    int64_t next_dial_ms;
    int64_t backoff_ms;
    struct peer_logline dial_log;
    struct peer_logline accept_log;
};

struct peer_net {
    struct peer_logline unknown_log; /* hellos from nodes not in --peers (shard 0) */
    int count;
    struct peer_node nodes[];
};

struct peer_identity;

/* peer.c */
/* Who this broker is on a link, read afresh at every handshake. */
void peer_self(const struct server *srv, struct peer_identity *self);
struct peer_node *peer_node_find(struct server *srv, int32_t id);
const struct peer_hooks *peer_hooks_get(void);
void peer_logline(struct peer_logline *l, int64_t now_ms, bool warn, const char *text);
/* Frees a chain of messages, returning how many bytes they counted. */
int64_t peer_out_free_chain(struct peer_out *m);

/* peer_link.c */
struct peer_link *peer_link_new(struct shard *s, struct peer_node *node, int fd, bool dialer);
void peer_link_arm_recv(struct peer_link *l);
/* Queues a frame (counted: a message, whose bytes node->queued_bytes holds). */
void peer_link_queue(struct peer_link *l, struct peer_out *m, bool counted);
void peer_link_flush(struct peer_link *l);
void peer_link_close(struct peer_link *l, const char *why);
void peer_link_maybe_free(struct peer_link *l);
/* The handshake is done: the link carries messages and replaces node->link. */
void peer_link_up(struct peer_link *l, uint64_t incarnation);
/* A whole frame, on a link still in its handshake (dialer: the answer). */
bool peer_dial_on_answer(struct peer_link *l, const uint8_t *frame, size_t len);
/* A link to node went away: the dialer schedules the next dial. */
void peer_dial_link_gone(struct peer_node *node, struct shard *s);
/* Packs msg as a frame into a new (uncounted) peer_out; NULL when out of memory. */
struct peer_out *peer_out_pack(const ProtobufCMessage *msg);

#endif
