/*
 * The dialing side of a link: the broker with the lower node id of a pair
 * connects (io_uring connect on the link shard, PEER_CONNECT_TIMEOUT_MS),
 * sends its PeerHello and checks the answer (proto/peer_hello.h). A failed
 * dial, a refusal or a link that breaks is dialed again after a back-off
 * that doubles from PEER_BACKOFF_FIRST_MS to PEER_BACKOFF_LAST_MS and
 * starts over once a link is up. Timeouts and re-dials run off the
 * shard's tick. Failures that repeat are logged once per PEER_LOG_EVERY_MS.
 */
#include "peer_dial.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "io/loop.h"
#include "peer_hello.h"
#include "peer_link.h"
#include "peer_node.h"
#include "server.h"
#include "shard.h"
#include "tls.h"

static const struct peer_link_ops dial_ops;

/* A dial failed before the handshake: log (rate-limited) and close. */
static void dial_failed(struct peer_link *l, bool warn, const char *reason)
{
    struct peer_node *n = l->node;
    char text[512];
    snprintf(text, sizeof(text), "peer link to node %d at %s: %s (dialing again)", n->id,
             n->addr_text, reason);
    peer_logline(&n->dial_log, l->shard->loop.now_ms, warn, text);
    peer_link_close(l, reason);
}

static void send_hello(struct peer_link *l)
{
    struct peer_identity self;
    peer_self(l->shard->srv, &self);
    Ringlog__PeerHello hello;
    peer_hello_fill(&hello, &self, l->node->id);
    Ringlog__Request req;
    ringlog__request__init(&req);
    req.correlation_id = 1;
    req.api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    req.body_case = RINGLOG__REQUEST__BODY_PEER_HELLO;
    req.peer_hello = &hello;
    struct peer_out *m = peer_out_pack(&req.base);
    if (!m) {
        dial_failed(l, true, "out of memory");
        return;
    }
    peer_link_queue(l, m, false);
    peer_link_arm_recv(l);
    peer_link_flush(l);
}

/*
 * On a TLS cluster the link is a TLS client: it shows this broker's
 * certificate and checks the other's against --tls-ca and the host
 * --peers gives it. False when it failed (the link is closing).
 */
static bool start_tls(struct peer_link *l)
{
    struct server *srv = l->shard->srv;
    assert(l->dialer && l->tls == NULL);
    if (!srv->tls)
        return true;
    SSL_CTX *ctx = tls_server_ctx(srv->tls);
    struct tls_session *t = tls_session_new(ctx, false, l->node->host);
    SSL_CTX_free(ctx); /* the session holds its own reference */
    if (!t) {
        dial_failed(l, true, "out of memory for a TLS session");
        return false;
    }
    return peer_link_tls_start(l, t);
}

static void on_connect(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)flags;
    struct peer_link *l = rl_container_of(done, struct peer_link, connect_done);
    l->sqes_pending--;
    if (l->closing) {
        peer_link_maybe_free(l);
        return;
    }
    assert(l->state == LINK_CONNECTING);
    if (res < 0) {
        dial_failed(l, false, res == -ECANCELED ? "connect timed out" : strerror(-res));
        peer_link_maybe_free(l);
        return;
    }
    l->state = LINK_HELLO_SENT;
    l->deadline_ms = l->shard->loop.now_ms + PEER_HANDSHAKE_TIMEOUT_MS;
    if (start_tls(l))
        send_hello(l);
    peer_link_maybe_free(l);
}

static void dial(struct shard *s, struct peer_node *n)
{
    assert(n->link == NULL && !s->stopping);
    int fd = socket(n->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        char text[512];
        snprintf(text, sizeof(text), "peer link to node %d: socket: %s", n->id, strerror(errno));
        peer_logline(&n->dial_log, s->loop.now_ms, true, text);
        if (fd >= 0)
            close(fd);
        peer_node_schedule_dial(n, s);
        return;
    }
    struct peer_link *l = peer_link_new(s, n, fd, true, &dial_ops);
    if (!l) {
        close(fd);
        peer_node_schedule_dial(n, s);
        return;
    }
    n->link = l;
    l->state = LINK_CONNECTING;
    l->deadline_ms = s->loop.now_ms + PEER_CONNECT_TIMEOUT_MS;
    l->connect_done.on_complete = on_connect;
    struct io_uring_sqe *sqe = loop_sqe(&s->loop);
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&n->addr, n->addr_len);
    io_uring_sqe_set_data(sqe, &l->connect_done);
    l->sqes_pending++;
}

/* The answer to our hello: the link is up, or refused (logged) and closed. */
static void on_answer(struct peer_link *l, const uint8_t *frame, size_t len)
{
    struct peer_node *n = l->node;
    assert(l->dialer && l->state == LINK_HELLO_SENT && n != NULL);
    int status;
    Ringlog__Response *resp = rl_response_decode(frame, len, NULL, &status);
    if (!resp) {
        metrics_add(&n->stats->refused, 1);
        dial_failed(l, true, "the answer to the peer hello is not a Response (not a ringlogd?)");
        return;
    }
    struct peer_identity self;
    peer_self(l->shard->srv, &self);
    char reason[512];
    uint32_t version;
    int code = peer_hello_check_answer(resp, &self, n->id, &version, reason, sizeof(reason));
    uint64_t incarnation = resp->peer_hello ? resp->peer_hello->incarnation : 0;
    if (code == RINGLOG__ERROR_CODE__NONE && resp->peer_hello)
        peer_note_cluster_id(l->shard->srv, n->id, resp->peer_hello->cluster_id);
    ringlog__response__free_unpacked(resp, NULL);
    if (code != RINGLOG__ERROR_CODE__NONE) {
        metrics_add(&n->stats->refused, 1);
        dial_failed(l, true, reason);
        return;
    }
    peer_node_up(l, incarnation);
}

static const struct peer_link_ops dial_ops = {
    .on_handshake_frame = on_answer,
    .on_message = peer_node_on_message,
    .on_close = peer_node_on_close,
};

/* Connects and handshakes that take too long are given up (and dialed again). */
static void expire(struct shard *s)
{
    int64_t now = s->loop.now_ms;
    for (struct peer_link *l = s->peer_links, *next; l; l = next) {
        next = l->next;
        if (l->closing || now < l->deadline_ms)
            continue;
        if (l->state == LINK_CONNECTING)
            dial_failed(l, false, "connect timed out");
        else if (l->state == LINK_HELLO_SENT)
            dial_failed(l, true, "no answer to the peer hello");
        else
            continue;
        peer_link_maybe_free(l);
    }
}

void peer_dial_tick(struct shard *s)
{
    struct peer_net *net = s->srv->peers;
    if (s->stopping || !net)
        return;
    expire(s);
    for (int i = 0; i < net->count; i++) {
        struct peer_node *n = &net->nodes[i];
        if (n->link_shard == s->loop.id && peer_node_dials(s->srv, n) && !n->link &&
            s->loop.now_ms >= n->next_dial_ms)
            dial(s, n);
    }
}

void peer_dial_start(struct shard *s)
{
    struct peer_net *net = s->srv->peers;
    for (int i = 0; net && i < net->count; i++)
        if (net->nodes[i].link_shard == s->loop.id && peer_node_dials(s->srv, &net->nodes[i]))
            dial(s, &net->nodes[i]);
}
