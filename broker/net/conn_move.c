/*
 * Moving a connection to the shard that owns its partitions.
 *
 * SO_REUSEPORT puts a connection on a shard at random, and a partition
 * belongs to one shard. A producer writing to a partition of another shard
 * pays, for every request, a message there and a message back, each of
 * which wakes a thread (~5-10 µs apiece on a small VM, a fifth of the
 * ack latency at light load). Once CONN_MOVE_AFTER requests in a row have
 * gone only to partitions of one other shard, the connection is handed to
 * that shard the next time it is idle: nothing queued, nothing being sent,
 * no partial frame. Connections that are never idle (a saturated producer,
 * a consumer with a long-poll fetch outstanding) stay where they are; they
 * lose little to forwarding, which is per request, not per record.
 *
 * The hand-over, all on the old shard until the last step:
 *   1. cancel the multishot recv; bytes that arrived before the cancel
 *      still come as CQEs and are served here as usual (they make the
 *      connection busy again, and the move is called off);
 *   2. once every SQE of the connection has completed, unlink it and post
 *      it to the new shard with MSG_RING; bytes arriving meanwhile wait in
 *      the socket;
 *   3. the new shard links it and arms its recv on its own ring.
 * The fd is the process's, so it needs no passing. A stopping broker moves
 * nothing: shards wait for conns_moving to reach zero before they count
 * themselves drained, and none starts a move once stopping is set.
 */
#include <assert.h>
#include <stdatomic.h>

#include "conn.h"
#include "diag.h"
#include "server.h"
#include "shard.h"

enum { CONN_MOVE_AFTER = 16 };

void conn_note_owner(struct conn *c, int owner)
{
    if (owner < 0 || owner == c->shard->loop.id) {
        c->move_run = 0;
        return;
    }
    if (owner != c->move_target) {
        c->move_target = owner;
        c->move_run = 0;
    }
    c->move_run++;
}

static bool idle(const struct conn *c)
{
    return !c->head && !c->sending && !c->closing && !c->draining && !c->recv_paused &&
           rl_frame_decoder_finish(&c->decoder) == RL_OK;
}

void conn_move_begin(struct conn *c)
{
    if (c->moving || c->move_run < CONN_MOVE_AFTER || !c->recv_armed || !idle(c) ||
        atomic_load(&c->shard->srv->stopping))
        return;
    c->moving = true;
    c->sqes_pending++;
    struct io_uring_sqe *sqe = loop_sqe(&c->shard->loop);
    io_uring_prep_cancel(sqe, &c->recv_done, 0);
    io_uring_sqe_set_data(sqe, &c->cancel_done);
}

/* On the new shard: the connection is ours from here on. */
static void conn_arrive(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct conn *c = rl_container_of(done, struct conn, move_msg.arrive);
    struct shard *s = shard_current();
    conn_link(s, c);
    c->move_run = 0;
    c->move_target = -1;
    atomic_fetch_sub(&s->srv->conns_moving, 1);
    DIAG_DEBUG("connection %llu moved to shard %d", (unsigned long long)c->id, s->loop.id);
    if (s->stopping) {
        conn_begin_drain(c); /* nothing queued: closes it */
        conn_maybe_free(c);
        return;
    }
    conn_arm_recv(c);
}

/* Re-arms the recv on this shard: the move is called off. */
static void stay(struct conn *c)
{
    c->move_run = 0;
    conn_rearm_recv(c);
}

/*
 * The connection is quiet: its socket goes to the taker, and the
 * connection itself, closing with no socket, is freed by the caller's
 * conn_maybe_free.
 */
static void finish_hand_over(struct conn *c)
{
    struct conn_hand_over *h = c->hand_over;
    assert(h != NULL && !c->recv_armed && c->sqes_pending == 0);
    if (c->head || c->sending || rl_frame_decoder_finish(&c->decoder) != RL_OK) {
        metrics_add(&c->shard->metrics.protocol_errors, 1);
        conn_close(c, "bytes after a frame that hands the connection over");
        return;
    }
    int fd = c->fd;
    c->fd = -1;
    c->hand_over = NULL;
    h->tls = c->tls;
    c->tls = NULL;
    c->closing = true;
    h->take(h, c->shard, fd);
}

void conn_hand_over(struct conn *c, struct conn_hand_over *h)
{
    assert(c->hand_over == NULL && h != NULL && h->take != NULL && h->drop != NULL);
    assert(!c->moving && !c->closing);
    c->hand_over = h;
    c->moving = true; /* no re-arm of the recv from here on */
    conn_cancel_timer(c);
    if (c->recv_armed) {
        struct io_uring_sqe *sqe = loop_sqe(&c->shard->loop);
        io_uring_prep_cancel(sqe, &c->recv_done, 0);
        io_uring_sqe_set_data(sqe, &c->cancel_done);
        c->sqes_pending++;
    }
}

void conn_move_step(struct conn *c)
{
    if (!c->moving || c->recv_armed || c->sqes_pending > 0)
        return;
    c->moving = false;
    if (c->closing)
        return; /* the caller's conn_maybe_free takes it from here */
    if (c->hand_over) {
        finish_hand_over(c);
        return;
    }
    struct shard *from = c->shard;
    struct server *srv = from->srv;
    if (!idle(c)) {
        stay(c);
        return;
    }
    atomic_fetch_add(&srv->conns_moving, 1);
    if (atomic_load(&srv->stopping)) {
        atomic_fetch_sub(&srv->conns_moving, 1);
        stay(c);
        return;
    }
    conn_unlink(c);
    metrics_add(&from->metrics.connections_moved, 1);
    c->move_msg.arrive.on_complete = conn_arrive;
    loop_send(&from->loop, c->move_target, &c->move_msg);
}
