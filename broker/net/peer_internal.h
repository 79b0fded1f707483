/*
 * The data the modules of the peer links share, bottom up: peer_out.c
 * (frames), peer_link.c (one link's socket), peer_node.c (each other
 * broker's state, up and down), peer_dial.c and peer_accept.c (the two
 * ends of a handshake), peer.c (the front: sending, per-shard work).
 * Data only; not for other tiers.
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
#include "metrics.h"
#include "peer_out.h"

#define PEER_MAX_IOV 256
/* Re-dial back-off, doubling from the first to the last after each failure. */
#define PEER_BACKOFF_FIRST_MS 50
#define PEER_BACKOFF_LAST_MS 1000
#define PEER_CONNECT_TIMEOUT_MS 1000
#define PEER_HANDSHAKE_TIMEOUT_MS 2000
/* Data unacknowledged this long breaks a link (TCP_USER_TIMEOUT): a peer cut
 * off by the network is dialed again, and found within a back-off of the
 * network healing, instead of after TCP's retransmission back-off (minutes).
 * A stopped peer (SIGSTOP) still acknowledges, so it keeps its link. */
#define PEER_USER_TIMEOUT_MS 5000
/* A repeated failure is logged at most once per this long. */
#define PEER_LOG_EVERY_MS 30000

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

struct peer_link;
struct peer_node;
struct shard;
struct tls_session;

/* What a link tells the module that made it (peer_dial.c, peer_accept.c). */
struct peer_link_ops {
    /* A whole frame before the link is up (the dialer's answer); NULL: close. */
    void (*on_handshake_frame)(struct peer_link *l, const uint8_t *frame, size_t len);
    /* A message on a link that is up; body is malloc'd and passes on. */
    void (*on_message)(struct peer_link *l, uint8_t *body, size_t len);
    /* The link is closing (why may be NULL): it no longer counts. */
    void (*on_close)(struct peer_link *l, const char *why);
};

/* One connection to another broker, on its node's link shard. */
struct peer_link {
    struct peer_link *prev, *next; /* the shard's links */
    struct shard *shard;
    const struct peer_link_ops *ops;
    struct peer_node *node; /* NULL for a refused hello from an unknown node */
    int32_t peer_node_id;   /* who the peer is, or says it is (logs) */
    int fd;
    bool dialer;
    enum peer_link_state state;
    bool closing;
    bool reported_up; /* on_link(up) was called: on_link(down) is due */
    bool recv_armed;
    bool recv_direct; /* the armed recv fills the decoder's frame buffer, not a ring buffer */
    bool sending;
    uint32_t sqes_pending;
    uint64_t incarnation; /* the peer's, from the handshake */
    uint64_t number;      /* its node's links counted up to this one (peer_link_number) */
    int64_t deadline_ms;  /* connect or handshake timeout */
    struct rl_completion connect_done, recv_done, send_done, close_done, cancel_done;
    struct rl_frame_decoder decoder;
    struct peer_out *head, *tail; /* queued frames, the next to send first */
    size_t head_sent;             /* bytes of head already sent */
    int64_t queued_bytes;         /* counted messages in the queue (not handshake frames) */
    struct iovec iov[PEER_MAX_IOV];
    struct msghdr msg;
    /* TLS (peer_link_tls.c): NULL on a plaintext cluster */
    struct tls_session *tls;
    size_t tls_plain_sending; /* queued bytes the ciphertext in flight carries */
    bool tls_failed;          /* the handshake failed: its alert goes out, then close */
};

/* Another broker of --peers. The atomics are touched by any shard, the rest
 * by the link shard only. */
struct peer_node {
    int32_t id;
    int link_shard;
    struct peer_stats *stats;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char addr_text[300];
    char host[256]; /* as --peers gives it: what the node's certificate must name */
    _Atomic(struct peer_out *) inbox; /* pushed by other shards, newest first */
    _Atomic bool up;
    _Atomic int64_t queued_bytes; /* inbox plus the link's queue */
    /* link shard only */
    struct peer_link *link; /* the current link (dialing, handshaking or up) */
    uint64_t links_up;      /* links that came up, this one included */
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

#endif
