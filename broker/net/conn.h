/*
 * A client (or peer) connection on a shard: the network tier. Bytes arrive
 * by multishot recv into the loop's provided buffers; the frame decoder cuts
 * them into frames, handed up through conn_hooks.on_frame; each frame's
 * reply queues in arrival order and leaves in that same order, gathered
 * into one sendmsg per loop turn. The connection knows replies (struct
 * conn_reply, embedded in whatever the tier above builds them in), never
 * requests.
 *
 * Backpressure: when a connection has too many requests in flight or too
 * many response bytes unsent, its recv is cancelled and re-armed only once
 * it has drained, so a client that does not read cannot make the broker
 * buffer without bound.
 *
 * Moving: a connection whose requests keep going to partitions of one
 * other shard is handed to that shard once it is idle (conn_move.c), so
 * its requests stop paying two cross-shard hops each.
 */
#ifndef RINGLOG_BROKER_CONN_H
#define RINGLOG_BROKER_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "frame.h"
#include "frame_iov.h"
#include "io/completion.h"
#include "shard.h"

struct shard;
struct conn;
struct tls_session;

#define CONN_MAX_IOV 256

/* One frame's answer, in the connection's queue from arrival until sent. */
struct conn_reply {
    struct conn_reply *next;
    bool ready;              /* the answer is encoded in out (or none is due) */
    uint32_t pending;        /* work still out on other shards: keeps it past a close */
    struct rl_frame_iov out; /* the encoded frame; empty for an answer never sent (acks=0) */
    size_t out_len;
    size_t sent; /* bytes of out already sent */
};

/* What the tier above does with a connection's frames (set once, before any shard runs). */
struct conn_hooks {
    /* A whole frame arrived; its reply must be queued (conn_queue) before
     * this returns. False: the frame is undecodable, and the connection closes. */
    bool (*on_frame)(struct conn *c, const uint8_t *frame, size_t len);
    /* A reply was sent, or its connection is gone: free what holds it. */
    void (*release)(struct conn_reply *reply);
    /* Optional: a connection was accepted (before its first recv), and one
     * is being freed (drop what the tier above hung on it: c->auth). */
    void (*opened)(struct conn *c);
    void (*forget)(struct conn *c);
};

void conn_set_hooks(const struct conn_hooks *hooks);

/*
 * Handing a connection's socket to another user of it (a link between
 * brokers, net/peer.h), which then does its own I/O on it: see
 * conn_hand_over. Embedded in whatever the taker allocates.
 */
struct conn_hand_over {
    /* On the connection's shard, once nothing of the connection is in
     * flight: the socket is the taker's now. */
    void (*take)(struct conn_hand_over *h, struct shard *s, int fd);
    /* The connection closed before that: free h (the socket is closed). */
    void (*drop)(struct conn_hand_over *h);
    /* Set before take on a TLS connection: its session, the taker's now
     * (what was received is decrypted; what is unsent goes with it). */
    struct tls_session *tls;
};

struct conn {
    struct conn *prev, *next;
    struct shard *shard;
    int fd;
    uint64_t id;
    struct rl_completion recv_done;
    struct rl_completion send_done;
    struct rl_completion cancel_done;
    struct rl_completion close_done;
    struct rl_frame_decoder decoder;
    struct conn_reply *head, *tail;
    uint32_t inflight;     /* replies queued */
    uint64_t unsent_bytes; /* encoded responses not yet sent */
    bool recv_armed;
    bool recv_direct; /* the armed recv fills the decoder's frame buffer, not a ring buffer */
    bool recv_paused;
    bool sending;
    bool closing;
    bool draining;         /* shutting down: close once the queue is empty */
    bool moving;           /* recv cancelled to hand the connection over (conn_move.c) */
    uint32_t sqes_pending; /* SQEs whose CQE has not arrived */
    /* The shard that owned every partition of the last move_run requests. */
    int move_target;
    uint32_t move_run;
    struct loop_msg move_msg;
    /* TLS (conn_tls.c): NULL on a plaintext listener */
    struct tls_session *tls;
    size_t tls_plain_sending;         /* reply bytes the ciphertext in flight carries */
    bool got_bytes;                   /* anything received yet */
    uint64_t frames;                  /* frames received, in order (the first is 1) */
    struct conn_hand_over *hand_over; /* a hand-over under way (conn_hand_over) */
    /* Who is at the other end, as the tier above established it
     * (handlers/handle_auth.c): "User:NAME" once authenticated by SASL or
     * a client certificate (malloc'ed, freed with the connection); NULL:
     * nobody yet. auth is that tier's state (a SASL exchange under way). */
    char *principal;
    bool authenticated;
    bool principal_checked; /* the client certificate was looked at */
    uint64_t auth_version;  /* the user store's version principal was last checked against */
    void *auth;
    /* One timer (conn_set_timer): the authentication deadline, a delayed failure. */
    struct rl_completion timer_done;
    struct __kernel_timespec timer_ts;
    bool timer_armed;
    void (*on_timer)(struct conn *c);
    /* the send in flight */
    struct iovec iov[CONN_MAX_IOV];
    int iov_count;
    struct msghdr msg;
};

/* Takes ownership of an accepted socket. */
void conn_open(struct shard *s, int fd);

/* Whether the connection is closing (its replies will not be sent). */
static inline bool conn_is_closing(const struct conn *c)
{
    return c->closing;
}

/* Queues the reply of a frame just received (from on_frame). */
void conn_queue(struct conn *c, struct conn_reply *reply);

/* The reply is ready (out encoded, or none due): send what can be sent. */
void conn_reply_ready(struct conn *c, struct conn_reply *reply);

/* A reply at the head may have become ready: send what can be sent. */
void conn_flush(struct conn *c);

/*
 * Runs fn(c) on c's shard after ms milliseconds, or sooner when the
 * connection closes (check conn_is_closing). One timer at a time: a
 * second call replaces the first's function and deadline once it has
 * fired; conn_cancel_timer makes an armed one fire now.
 */
void conn_set_timer(struct conn *c, uint32_t ms, void (*fn)(struct conn *c));
void conn_cancel_timer(struct conn *c);

/* Closes the connection (protocol error, peer gone, shutdown). */
void conn_close(struct conn *c, const char *why);

/* Shutdown: stop reading; close once every queued request is answered. */
void conn_begin_drain(struct conn *c);

/* Frees a closing connection once nothing of it is in flight (replies, SQEs). */
void conn_maybe_free(struct conn *c);

/* Starts the multishot recv on the connection's shard. */
void conn_arm_recv(struct conn *c);

/* Arms the recv again unless it is armed, or paused, closing, draining or moving. */
void conn_rearm_recv(struct conn *c);

/* Links c into shard s's list of connections. */
void conn_link(struct shard *s, struct conn *c);

/* Unlinks c from its shard's list of connections. */
void conn_unlink(struct conn *c);

/* Cuts received plaintext into frames and hands each to the tier above. */
void conn_consume(struct conn *c, const uint8_t *data, size_t len);

/* Submits c->msg as the connection's one send in flight. */
void conn_submit_send(struct conn *c);

/*
 * TLS (conn_tls.c), the only places conn.c asks about it:
 * conn_tls_attach gives a connection of a TLS listener its session;
 * conn_tls_received feeds it received ciphertext; conn_tls_flush
 * encrypts the first n iovecs gathered for a send and sends ciphertext;
 * conn_tls_sent takes a send's completion and says, when the whole
 * flight is out, how many reply bytes it carried (false: the rest of
 * the flight went out again first). A peer link (client role) gets TLS
 * by setting c->tls to a client session before its first recv.
 */
bool conn_tls_attach(struct conn *c);
void conn_tls_received(struct conn *c, const uint8_t *data, size_t len);
void conn_tls_flush(struct conn *c, int n);
bool conn_tls_sent(struct conn *c, int32_t *res);
/* A plaintext connection whose first bytes are a TLS ClientHello: logs it. */
bool conn_tls_hello_on_plaintext(struct conn *c, const uint8_t *data, size_t len);
/* The first bytes on a TLS listener: true when they are a plaintext peer
 * hello, refused (logged and closed) here. */
bool conn_tls_peer_hello_in_clear(struct conn *c, const uint8_t *data, size_t len);

/*
 * Moving between shards (conn_move.c). conn_note_owner records which shard
 * owned the partitions of a request (-1: several, or none of them
 * remote); conn_move_begin starts a move when the connection is idle and
 * its recent requests all went to one other shard; conn_move_step carries
 * the move on after each of the connection's completions.
 */
void conn_note_owner(struct conn *c, int owner);
void conn_move_begin(struct conn *c);
void conn_move_step(struct conn *c);

/*
 * Gives the connection's socket to h->take once the connection is quiet:
 * its recv cancelled, no reply queued or being sent, no partial frame
 * (bytes past the frame that asked for it close the connection instead,
 * and h->drop runs). Called from on_frame, which then queues no reply.
 */
void conn_hand_over(struct conn *c, struct conn_hand_over *h);

#endif
