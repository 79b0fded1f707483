/* One link's socket I/O (peer_link.h). */
#include "peer_link.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "fault_alloc.h"
#include "recv_prep.h"
#include "io/loop.h"
#include "server.h"
#include "shard.h"
#include "tls.h"

static void on_recv(struct rl_completion *done, int32_t res, uint32_t flags);
static void on_send(struct rl_completion *done, int32_t res, uint32_t flags);
static void on_close_done(struct rl_completion *done, int32_t res, uint32_t flags);
static void on_cancel_done(struct rl_completion *done, int32_t res, uint32_t flags);

static struct io_uring_sqe *link_sqe(struct peer_link *l, struct rl_completion *done)
{
    struct io_uring_sqe *sqe = loop_sqe(&l->shard->loop);
    io_uring_sqe_set_data(sqe, done);
    l->sqes_pending++;
    return sqe;
}

struct peer_link *peer_link_new(struct shard *s, struct peer_node *node, int fd, bool dialer,
                                const struct peer_link_ops *ops)
{
    assert(s == shard_current() && fd >= 0);
    assert(ops != NULL && ops->on_message != NULL && ops->on_close != NULL);
    struct peer_link *l = FAULT_ALLOC(calloc(1, sizeof(*l)));
    if (!l)
        return NULL;
    l->shard = s;
    l->node = node;
    l->fd = fd;
    l->dialer = dialer;
    l->ops = ops;
    l->peer_node_id = node ? node->id : -1;
    l->recv_done.on_complete = on_recv;
    l->send_done.on_complete = on_send;
    l->close_done.on_complete = on_close_done;
    l->cancel_done.on_complete = on_cancel_done;
    rl_frame_decoder_init(&l->decoder, s->srv->cfg.max_frame_bytes);
    /* Not a TCP socket (the request fuzz target's socketpair): no timeout. */
    unsigned timeout = PEER_USER_TIMEOUT_MS;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
    l->next = s->peer_links;
    if (s->peer_links)
        s->peer_links->prev = l;
    s->peer_links = l;
    s->peer_link_count++;
    return l;
}

/* The one recv of a link (net/recv_prep.h). */
void peer_link_arm_recv(struct peer_link *l)
{
    assert(!l->recv_armed && !l->closing);
    struct io_uring_sqe *sqe = link_sqe(l, &l->recv_done);
    l->recv_direct = net_prep_recv(sqe, l->fd, &l->decoder, l->tls == NULL,
                                   l->shard->loop.recv_buffers.group_id);
    l->recv_armed = true;
}

/* Sends l->iov[0..n) (one sendmsg). */
void peer_link_submit(struct peer_link *l, int n)
{
    assert(n > 0 && !l->sending && !l->closing);
    memset(&l->msg, 0, sizeof(l->msg));
    l->msg.msg_iov = l->iov;
    l->msg.msg_iovlen = (size_t)n;
    struct io_uring_sqe *sqe = link_sqe(l, &l->send_done);
    io_uring_prep_sendmsg(sqe, l->fd, &l->msg, MSG_NOSIGNAL);
    l->sending = true;
}

/* A PeerMessage frame: its bytes become the receiver's (no copy when the
 * decoder reassembled it in a buffer of its own). */
static void deliver(struct peer_link *l, const uint8_t *frame, size_t len)
{
    assert(l->node != NULL && l->state == LINK_UP);
    metrics_add(&l->node->stats->messages_received, 1);
    metrics_add(&l->node->stats->bytes_received, len + RL_FRAME_HEADER_BYTES);
    uint8_t *body = rl_frame_decoder_take_frame(&l->decoder, frame);
    if (!body) {
        body = FAULT_ALLOC(malloc(len));
        if (!body) {
            peer_link_close(l, "out of memory receiving a message");
            return;
        }
        memcpy(body, frame, len);
    }
    l->ops->on_message(l, body, len);
}

void peer_link_consume(struct peer_link *l, const uint8_t *data, size_t len)
{
    const uint8_t *frame;
    size_t frame_len;
    int status;
    while (!l->closing && (status = rl_frame_decoder_next(&l->decoder, &data, &len, &frame,
                                                          &frame_len)) == RL_OK) {
        if (l->state == LINK_UP)
            deliver(l, frame, frame_len);
        else if (l->state == LINK_HELLO_SENT && l->ops->on_handshake_frame)
            l->ops->on_handshake_frame(l, frame, frame_len);
        else
            peer_link_close(l, "a frame before the handshake completed");
    }
    if (!l->closing && status != RL_NEED_MORE)
        peer_link_close(l, rl_status_str(status));
}

static void on_recv(struct rl_completion *done, int32_t res, uint32_t flags)
{
    struct peer_link *l = rl_container_of(done, struct peer_link, recv_done);
    if (!(flags & IORING_CQE_F_MORE)) {
        l->recv_armed = false;
        l->sqes_pending--;
    }
    if (res > 0 && l->recv_direct) {
        assert(!(flags & IORING_CQE_F_BUFFER) && !l->tls);
        if (!l->closing) {
            rl_frame_decoder_received(&l->decoder, (size_t)res);
            peer_link_consume(l, NULL, 0); /* delivers the frame once whole */
        }
    } else if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        uint16_t id = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        struct bufring *b = &l->shard->loop.recv_buffers;
        if (!l->closing && l->tls)
            peer_link_tls_received(l, bufring_buffer(b, id), (size_t)res);
        else if (!l->closing)
            peer_link_consume(l, bufring_buffer(b, id), (size_t)res);
        bufring_recycle(b, id);
    } else if (res == 0) {
        peer_link_close(l, "the peer closed the connection");
    } else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
        peer_link_close(l, strerror(-res));
    }
    if (!l->recv_armed && !l->closing)
        peer_link_arm_recv(l);
    peer_link_maybe_free(l);
}

static void on_close_done(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct peer_link *l = rl_container_of(done, struct peer_link, close_done);
    l->sqes_pending--;
    peer_link_maybe_free(l);
}

static void on_cancel_done(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct peer_link *l = rl_container_of(done, struct peer_link, cancel_done);
    l->sqes_pending--;
    peer_link_maybe_free(l);
}

/* ------------------------------------------------------------- sending */

void peer_link_queue(struct peer_link *l, struct peer_out *m, bool counted)
{
    assert(m->next == NULL && !l->closing);
    assert(m->head_len + m->records_len > 0);
    rl_frame_write_header(m->header, (uint32_t)(m->head_len + m->records_len));
    m->counted = counted;
    if (counted)
        l->queued_bytes += (int64_t)peer_out_bytes(m);
    if (l->tail)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
}

/* Adds what is unsent of one piece to the iovecs; false when they are full. */
static bool gather_piece(struct peer_link *l, int *n, size_t *skip, const void *base, size_t len)
{
    if (*skip >= len) {
        *skip -= len;
        return true;
    }
    if (*n == PEER_MAX_IOV)
        return false;
    l->iov[*n].iov_base = (char *)base + *skip;
    l->iov[*n].iov_len = len - *skip;
    (*n)++;
    *skip = 0;
    return true;
}

void peer_link_flush(struct peer_link *l)
{
    if (l->sending || l->closing || l->state == LINK_CONNECTING)
        return;
    if (l->tls && (!l->head || l->tls_failed || !tls_session_established(l->tls))) {
        peer_link_tls_flush(l, 0); /* handshake records, an alert, session tickets */
        return;
    }
    if (!l->head)
        return;
    int n = 0;
    size_t skip = l->head_sent;
    for (struct peer_out *m = l->head; m; m = m->next) {
        if (!gather_piece(l, &n, &skip, m->header, sizeof(m->header)) ||
            !gather_piece(l, &n, &skip, m->head, m->head_len) ||
            !gather_piece(l, &n, &skip, m->records, m->records_len))
            break;
    }
    assert(n > 0);
    if (l->tls)
        peer_link_tls_flush(l, n);
    else
        peer_link_submit(l, n);
}

/* The head message is sent whole: free it. */
static void pop_sent(struct peer_link *l)
{
    struct peer_out *m = l->head;
    assert(m != NULL && l->head_sent == peer_out_bytes(m));
    l->head = m->next;
    if (!l->head)
        l->tail = NULL;
    l->head_sent = 0;
    if (m->counted) {
        int64_t bytes = (int64_t)peer_out_bytes(m);
        assert(l->queued_bytes >= bytes);
        l->queued_bytes -= bytes;
        atomic_fetch_sub(&l->node->queued_bytes, bytes);
        metrics_add(&l->node->stats->messages_sent, 1);
    }
    peer_out_free(m);
}

static void on_send(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)flags;
    struct peer_link *l = rl_container_of(done, struct peer_link, send_done);
    l->sqes_pending--;
    l->sending = false;
    if (res < 0) {
        peer_link_close(l, strerror(-res));
        peer_link_maybe_free(l);
        return;
    }
    if (l->node)
        metrics_add(&l->node->stats->bytes_sent, (uint64_t)res);
    if (l->tls && !peer_link_tls_sent(l, &res)) {
        peer_link_maybe_free(l);
        return;
    }
    size_t left = (size_t)res;
    while (left > 0) {
        assert(l->head != NULL);
        size_t remaining = peer_out_bytes(l->head) - l->head_sent;
        size_t now = left < remaining ? left : remaining;
        l->head_sent += now;
        left -= now;
        if (l->head_sent == peer_out_bytes(l->head))
            pop_sent(l);
    }
    if (l->state == LINK_REFUSING && (!l->head || l->tls_failed))
        peer_link_close(l, NULL); /* the refusal (or the TLS alert) is out */
    peer_link_flush(l);
    peer_link_maybe_free(l);
}

/* ------------------------------------------------------------ closing */

void peer_link_close(struct peer_link *l, const char *why)
{
    if (l->closing)
        return;
    l->closing = true;
    if (why)
        DIAG_DEBUG("closing the peer link with node %d: %s", l->peer_node_id, why);
    l->ops->on_close(l, why);
    if (l->state == LINK_CONNECTING) {
        struct io_uring_sqe *sqe = link_sqe(l, &l->cancel_done);
        io_uring_prep_cancel(sqe, &l->connect_done, 0);
    }
    /* Shutting the socket down ends the multishot recv and any send. */
    struct io_uring_sqe *sqe = link_sqe(l, &l->close_done);
    io_uring_prep_shutdown(sqe, l->fd, SHUT_RDWR);
}

void peer_link_maybe_free(struct peer_link *l)
{
    if (!l->closing || l->sending || l->sqes_pending > 0)
        return;
    struct shard *s = l->shard;
    if (l->prev)
        l->prev->next = l->next;
    else
        s->peer_links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    s->peer_link_count--;
    close(l->fd);
    int64_t counted = l->queued_bytes;
    for (struct peer_out *m = l->head, *next; m; m = next) {
        next = m->next;
        if (m->counted)
            metrics_add(&l->node->stats->dropped, 1);
        peer_out_free(m);
    }
    if (counted > 0)
        atomic_fetch_sub(&l->node->queued_bytes, counted);
    rl_frame_decoder_destroy(&l->decoder);
    tls_session_free(l->tls);
    free(l);
}
