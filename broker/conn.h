/*
 * A client (or peer) connection on a shard. Bytes arrive by multishot recv
 * into the shard's provided buffers; the frame decoder cuts them into
 * requests, which queue in arrival order; responses leave in that same
 * order, gathered into one sendmsg per loop turn.
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
#include "io/completion.h"
#include "shard.h"

struct shard;
struct request;

#define CONN_MAX_IOV 256

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
    struct request *head, *tail;
    uint32_t inflight;     /* requests queued */
    uint64_t unsent_bytes; /* encoded responses not yet sent */
    bool recv_armed;
    bool recv_paused;
    bool sending;
    bool closing;
    bool draining;         /* shutting down: close once the queue is empty */
    bool moving;           /* recv cancelled to hand the connection over (conn_move.c) */
    uint32_t sqes_pending; /* SQEs whose CQE has not arrived */
    /* The shard that owned every partition of the last move_run requests. */
    int move_target;
    uint32_t move_run;
    struct shard_msg move_msg;
    /* the send in flight */
    struct iovec iov[CONN_MAX_IOV];
    int iov_count;
    struct msghdr msg;
};

/* Takes ownership of an accepted socket. */
void conn_open(struct shard *s, int fd);

/* A request at the head may have become ready: send what can be sent. */
void conn_flush(struct conn *c);

/* Closes the connection (protocol error, peer gone, shutdown). */
void conn_close(struct conn *c, const char *why);

/* Shutdown: stop reading; close once every queued request is answered. */
void conn_begin_drain(struct conn *c);

/* A request of this connection finished its fan-out after the conn began closing. */
void conn_maybe_free(struct conn *c);

/* Starts the multishot recv on the connection's shard. */
void conn_arm_recv(struct conn *c);

/* Arms the recv again unless it is armed, or paused, closing, draining or moving. */
void conn_rearm_recv(struct conn *c);

/* Links c into shard s's list of connections. */
void conn_link(struct shard *s, struct conn *c);

/* Unlinks c from its shard's list of connections. */
void conn_unlink(struct conn *c);

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

#endif
