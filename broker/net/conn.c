#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "fault_alloc.h"
#include "recv_prep.h"
#include "server.h"
#include "shard.h"
#include "tls.h"

static const struct conn_hooks *hooks;

static void on_timer(struct rl_completion *done, int32_t res, uint32_t flags);

void conn_set_hooks(const struct conn_hooks *h)
{
    assert(h != NULL && h->on_frame != NULL && h->release != NULL);
    hooks = h;
}

static struct io_uring_sqe *conn_sqe(struct conn *c, struct rl_completion *done)
{
    struct io_uring_sqe *sqe = loop_sqe(&c->shard->loop);
    io_uring_sqe_set_data(sqe, done);
    c->sqes_pending++;
    return sqe;
}

/* The one recv of a connection (net/recv_prep.h). */
void conn_arm_recv(struct conn *c)
{
    assert(!c->recv_armed);
    struct io_uring_sqe *sqe = conn_sqe(c, &c->recv_done);
    c->recv_direct = net_prep_recv(sqe, c->fd, &c->decoder, c->tls == NULL,
                                   c->shard->loop.recv_buffers.group_id);
    c->recv_armed = true;
}

void conn_rearm_recv(struct conn *c)
{
    if (!c->recv_armed && !c->recv_paused && !c->closing && !c->draining && !c->moving)
        conn_arm_recv(c);
}

static bool over_limits(const struct conn *c)
{
    const struct broker_config *cfg = &c->shard->srv->cfg;
    return c->inflight >= cfg->max_inflight_requests ||
           c->unsent_bytes >= cfg->max_conn_buffered_bytes;
}

static bool under_resume_marks(const struct conn *c)
{
    const struct broker_config *cfg = &c->shard->srv->cfg;
    return c->inflight < cfg->max_inflight_requests / 2 &&
           c->unsent_bytes < cfg->max_conn_buffered_bytes / 2;
}

/* Stops reading a connection whose client is not draining its responses. */
static void pause_recv(struct conn *c)
{
    if (c->recv_paused)
        return;
    c->recv_paused = true;
    if (c->recv_armed) {
        struct io_uring_sqe *sqe = conn_sqe(c, &c->cancel_done);
        io_uring_prep_cancel(sqe, &c->recv_done, 0);
    }
}

static void maybe_resume_recv(struct conn *c)
{
    if (c->recv_paused && !c->closing && !c->draining && !c->moving && under_resume_marks(c)) {
        c->recv_paused = false;
        if (!c->recv_armed)
            conn_arm_recv(c);
    }
}

void conn_consume(struct conn *c, const uint8_t *data, size_t len)
{
    const uint8_t *frame;
    size_t frame_len;
    int status;
    while ((status = rl_frame_decoder_next(&c->decoder, &data, &len, &frame, &frame_len)) ==
           RL_OK) {
        if (c->closing)
            return;
        uint32_t queued = c->inflight;
        c->frames++;
        if (!hooks->on_frame(c, frame, frame_len)) {
            metrics_add(&c->shard->metrics.protocol_errors, 1);
            conn_close(c, "undecodable request");
            return;
        }
        assert(c->inflight >= queued); /* a reply was queued (and maybe already sent) */
    }
    if (status != RL_NEED_MORE) {
        metrics_add(&c->shard->metrics.protocol_errors, 1);
        conn_close(c, rl_status_str(status));
    }
}

static void on_recv(struct rl_completion *done, int32_t res, uint32_t flags)
{
    struct conn *c = rl_container_of(done, struct conn, recv_done);
    if (!(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = false;
        c->sqes_pending--;
    }
    if (res > 0 && c->recv_direct) {
        assert(!(flags & IORING_CQE_F_BUFFER) && c->tls == NULL);
        metrics_add(&c->shard->metrics.bytes_in, (uint64_t)res);
        if (!c->closing) {
            rl_frame_decoder_received(&c->decoder, (size_t)res);
            conn_consume(c, NULL, 0); /* the request once its frame is whole */
        }
        if (!c->closing && over_limits(c))
            pause_recv(c);
    } else if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        uint16_t id = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        metrics_add(&c->shard->metrics.bytes_in, (uint64_t)res);
        const uint8_t *data = bufring_buffer(&c->shard->loop.recv_buffers, id);
        bool hello = !c->got_bytes && (c->tls ? conn_tls_peer_hello_in_clear(c, data, (size_t)res)
                                              : conn_tls_hello_on_plaintext(c, data, (size_t)res));
        c->got_bytes = true;
        if (!c->closing && !hello && c->tls)
            conn_tls_received(c, data, (size_t)res);
        else if (!c->closing && !hello)
            conn_consume(c, data, (size_t)res);
        bufring_recycle(&c->shard->loop.recv_buffers, id);
        if (!c->closing && over_limits(c))
            pause_recv(c);
    } else if (res == 0) {
        conn_close(c, NULL);
    } else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
        conn_close(c, strerror(-res));
    }
    conn_rearm_recv(c);
    conn_move_step(c);
    conn_maybe_free(c);
}

static void on_aux_done(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct conn *c = rl_container_of(done, struct conn, cancel_done);
    c->sqes_pending--;
    conn_move_step(c);
    conn_maybe_free(c);
}

static void on_shutdown_done(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct conn *c = rl_container_of(done, struct conn, close_done);
    c->sqes_pending--;
    conn_maybe_free(c);
}

/* Releases the reply at the head: answered (or silent) and sent. */
static void pop_reply(struct conn *c)
{
    struct conn_reply *r = c->head;
    assert(r != NULL && r->ready && r->sent == r->out_len);
    assert(c->inflight > 0 && c->unsent_bytes >= r->out_len);
    c->head = r->next;
    if (!c->head)
        c->tail = NULL;
    c->inflight--;
    c->unsent_bytes -= r->out_len;
    hooks->release(r);
}

static void on_send(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)flags;
    struct conn *c = rl_container_of(done, struct conn, send_done);
    c->sqes_pending--;
    c->sending = false;
    if (res < 0) {
        conn_close(c, strerror(-res));
        conn_maybe_free(c);
        return;
    }
    metrics_add(&c->shard->metrics.bytes_out, (uint64_t)res);
    if (c->tls && !conn_tls_sent(c, &res)) {
        conn_maybe_free(c);
        return;
    }
    size_t left = (size_t)res;
    while (c->head && c->head->ready) {
        struct conn_reply *r = c->head;
        size_t remaining = r->out_len - r->sent;
        if (left < remaining) {
            r->sent += left;
            left = 0;
            break;
        }
        left -= remaining;
        r->sent = r->out_len;
        pop_reply(c);
    }
    assert(left == 0);
    conn_flush(c);
    if (c->draining && !c->head)
        conn_close(c, NULL);
    maybe_resume_recv(c);
    conn_move_step(c);
    conn_maybe_free(c);
}

void conn_begin_drain(struct conn *c)
{
    c->draining = true;
    pause_recv(c);
    if (!c->head)
        conn_close(c, NULL);
}

/* Adds r's unsent iovecs to the send being built; returns false when full. */
static bool gather(struct conn *c, struct conn_reply *r, int *n)
{
    size_t skip = r->sent;
    for (int i = 0; i < r->out.iov_count; i++) {
        const struct iovec *v = &r->out.iov[i];
        if (skip >= v->iov_len) {
            skip -= v->iov_len;
            continue;
        }
        if (*n == CONN_MAX_IOV)
            return false;
        c->iov[*n].iov_base = (char *)v->iov_base + skip;
        c->iov[*n].iov_len = v->iov_len - skip;
        (*n)++;
        skip = 0;
    }
    return true;
}

void conn_queue(struct conn *c, struct conn_reply *reply)
{
    assert(reply->next == NULL && !reply->ready);
    assert(!c->closing);
    if (c->tail)
        c->tail->next = reply;
    else
        c->head = reply;
    c->tail = reply;
    c->inflight++;
}

void conn_reply_ready(struct conn *c, struct conn_reply *reply)
{
    assert(!reply->ready && reply->sent == 0);
    reply->ready = true;
    c->unsent_bytes += reply->out_len;
    conn_flush(c);
    conn_maybe_free(c);
}

void conn_flush(struct conn *c)
{
    /* Answered silent requests (acks=0) leave the queue without a byte sent. */
    while (c->head && c->head->ready && c->head->out_len == 0 && !c->sending)
        pop_reply(c);
    if (c->sending || c->closing)
        return;
    /* Every answered reply at the head goes out in one sendmsg. */
    int n = 0;
    for (struct conn_reply *r = c->head; r && r->ready; r = r->next)
        if (!gather(c, r, &n))
            break;
    if (c->tls) {
        conn_tls_flush(c, n);
        return;
    }
    if (n == 0) {
        if (!c->head)
            conn_move_begin(c); /* idle: the moment a move may start */
        return;
    }
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg.msg_iov = c->iov;
    c->msg.msg_iovlen = (size_t)n;
    conn_submit_send(c);
}

void conn_submit_send(struct conn *c)
{
    assert(!c->sending && c->msg.msg_iovlen > 0);
    struct io_uring_sqe *sqe = conn_sqe(c, &c->send_done);
    io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
    c->sending = true;
}

void conn_link(struct shard *s, struct conn *c)
{
    c->shard = s;
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->conn_count++;
}

void conn_unlink(struct conn *c)
{
    struct shard *s = c->shard;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->conn_count--;
}

void conn_open(struct shard *s, int fd)
{
    struct conn *c = FAULT_ALLOC(calloc(1, sizeof(*c)));
    if (!c) {
        close(fd);
        return;
    }
    c->shard = s;
    c->fd = fd;
    c->id = ++s->next_conn_id;
    c->recv_done.on_complete = on_recv;
    c->send_done.on_complete = on_send;
    c->cancel_done.on_complete = on_aux_done;
    c->close_done.on_complete = on_shutdown_done;
    c->timer_done.on_complete = on_timer;
    c->move_target = -1;
    rl_frame_decoder_init(&c->decoder, s->srv->cfg.max_frame_bytes);
    if (s->srv->tls && !conn_tls_attach(c)) {
        rl_frame_decoder_destroy(&c->decoder);
        free(c);
        close(fd);
        return;
    }
    conn_link(s, c);
    metrics_add(&s->metrics.connections_accepted, 1);
    if (hooks->opened)
        hooks->opened(c);
    conn_arm_recv(c);
}

static void on_timer(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct conn *c = rl_container_of(done, struct conn, timer_done);
    assert(c->timer_armed && c->sqes_pending > 0);
    c->timer_armed = false;
    void (*fn)(struct conn *) = c->on_timer;
    c->on_timer = NULL;
    if (fn)
        fn(c); /* our SQE still counts: c cannot be freed inside */
    c->sqes_pending--;
    conn_move_step(c);
    conn_maybe_free(c);
}

void conn_set_timer(struct conn *c, uint32_t ms, void (*fn)(struct conn *c))
{
    assert(fn != NULL && !c->timer_armed);
    c->on_timer = fn;
    c->timer_ts.tv_sec = ms / 1000;
    c->timer_ts.tv_nsec = (long long)(ms % 1000) * 1000000;
    struct io_uring_sqe *sqe = conn_sqe(c, &c->timer_done);
    io_uring_prep_timeout(sqe, &c->timer_ts, 0, 0);
    c->timer_armed = true;
}

void conn_cancel_timer(struct conn *c)
{
    if (!c->timer_armed)
        return;
    struct io_uring_sqe *sqe = conn_sqe(c, &c->cancel_done);
    io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&c->timer_done, 0);
}

void conn_close(struct conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    conn_cancel_timer(c);
    if (why)
        DIAG_DEBUG("closing connection %llu: %s", (unsigned long long)c->id, why);
    /* Shutting the socket down ends the multishot recv and any send. */
    struct io_uring_sqe *sqe = conn_sqe(c, &c->close_done);
    io_uring_prep_shutdown(sqe, c->fd, SHUT_RDWR);
}

void conn_maybe_free(struct conn *c)
{
    /* A send in flight still reads the replies it gathered: release none
     * until it completes (on_send pops what it sent, then calls us again). */
    if (!c->closing || c->sending)
        return;
    /* Replies still waiting on other shards keep the connection alive. */
    struct conn_reply **link = &c->head;
    while (*link) {
        struct conn_reply *r = *link;
        if (r->pending > 0) {
            link = &r->next;
            continue;
        }
        *link = r->next;
        c->inflight--;
        hooks->release(r);
    }
    c->tail = NULL;
    for (struct conn_reply *r = c->head; r; r = r->next)
        c->tail = r;
    if (c->head || c->sqes_pending > 0)
        return;
    struct shard *s = c->shard;
    conn_unlink(c);
    metrics_add(&s->metrics.connections_closed, 1);
    if (c->hand_over)
        c->hand_over->drop(c->hand_over);
    if (c->fd >= 0)
        close(c->fd); /* -1: handed over (conn_hand_over) */
    rl_frame_decoder_destroy(&c->decoder);
    tls_session_free(c->tls);
    if (hooks->forget)
        hooks->forget(c);
    free(c->principal);
    free(c);
}
