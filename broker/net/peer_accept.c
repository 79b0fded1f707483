/*
 * The accepting side of a link. A connection on the --listen port whose
 * first frame is a peer_hello Request is handed here by the handler tier:
 * the connection gives up its socket once quiet (conn_hand_over: recv
 * cancelled, nothing queued; the dialer sends nothing more until it is
 * answered), the socket travels to the link shard of the node the hello
 * names (by loop message, counted in srv->conns_moving like a connection
 * move, so a stopping broker waits for it), and there the hello is
 * checked (proto/peer_hello.h, plus: the node must be in --peers). A
 * refusal is answered with the error Response, logged (rate-limited per
 * node) and the socket closed; an accepted hello is answered with this
 * broker's PeerHelloResponse and the link is up, superseding any older
 * link from that node. Hellos naming unknown nodes are refused on shard 0.
 */
#include "peer_accept.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "diag.h"
#include "fault_alloc.h"
#include "io/loop.h"
#include "net/conn.h"
#include "peer_hello.h"
#include "peer_link.h"
#include "peer_node.h"
#include "server.h"
#include "shard.h"
#include "tls.h"

struct pending {
    struct conn_hand_over hand_over;
    struct loop_msg msg;
    Ringlog__Request *req;
    int fd;
};

static void pending_free(struct pending *p)
{
    ringlog__request__free_unpacked(p->req, NULL);
    tls_session_free(p->hand_over.tls); /* NULL once a link took it */
    free(p);
}

static void drop(struct conn_hand_over *h)
{
    pending_free(rl_container_of(h, struct pending, hand_over));
}

/* Refuses the hello: answer with the error, then close (peer_link.c on_send). */
static void refuse(struct peer_link *l, const Ringlog__Request *req, int code, const char *reason)
{
    const Ringlog__PeerHello *hello = req->peer_hello;
    struct server *srv = l->shard->srv;
    char text[768];
    snprintf(text, sizeof(text), "refused a peer link from node %d: %s", hello->node_id, reason);
    struct peer_logline *log = l->node ? &l->node->accept_log : &srv->peers->unknown_log;
    peer_logline(log, l->shard->loop.now_ms, true, text);
    if (l->node)
        metrics_add(&l->node->stats->refused, 1);
    Ringlog__Response resp;
    ringlog__response__init(&resp);
    resp.correlation_id = req->correlation_id;
    resp.error = code;
    resp.error_message = (char *)reason;
    struct peer_out *m = peer_out_pack(&resp.base);
    l->state = LINK_REFUSING;
    if (!m) {
        peer_link_close(l, "out of memory");
        return;
    }
    peer_link_queue(l, m, false);
    peer_link_flush(l);
}

static const struct peer_link_ops accept_ops = {
    .on_handshake_frame = NULL, /* the dialer sends nothing before the answer */
    .on_message = peer_node_on_message,
    .on_close = peer_node_on_close,
};

/*
 * On a TLS cluster, who the link is: it came over TLS (the listener is TLS
 * only, so a plaintext hello never gets here: conn_tls.c refuses it), with
 * a certificate that verified against --tls-ca and names the host --peers
 * gives the node it says it is. 0, or an error code with reason set.
 */
static int check_identity(const struct peer_link *l, char *reason, size_t len)
{
    assert(l->shard->srv->tls != NULL && l->node != NULL);
    if (!l->tls) {
        snprintf(reason, len, "a plaintext peer hello, and this cluster's links use TLS");
        return RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED;
    }
    char why[400];
    if (tls_session_check_peer(l->tls, l->node->host, why, sizeof(why)) != 0) {
        snprintf(reason, len, "%s", why);
        return RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED;
    }
    return RINGLOG__ERROR_CODE__NONE;
}

/* Checks the hello on the link shard; the link is up, or refused. */
static void check_hello(struct shard *s, struct pending *p)
{
    const Ringlog__PeerHello *hello = p->req->peer_hello;
    struct peer_node *n = peer_node_find(s->srv, hello->node_id);
    struct peer_link *l = peer_link_new(s, n, p->fd, false, &accept_ops);
    if (!l) {
        close(p->fd);
        return;
    }
    l->peer_node_id = hello->node_id;
    if (p->hand_over.tls) {
        struct tls_session *t = p->hand_over.tls;
        p->hand_over.tls = NULL;
        peer_link_tls_start(l, t); /* established: nothing to fail */
    }
    struct peer_identity self;
    peer_self(s->srv, &self);
    Ringlog__PeerHelloResponse answer;
    char reason[512];
    int code = peer_hello_accept(hello, &self, &answer, reason, sizeof(reason));
    if (code == RINGLOG__ERROR_CODE__NONE && !n) {
        snprintf(reason, sizeof(reason),
                 "node %d is not in this broker's --peers (this is node %d; check --peers on "
                 "both)",
                 hello->node_id, self.node_id);
        code = RINGLOG__ERROR_CODE__NODE_ID_MISMATCH;
    }
    if (code == RINGLOG__ERROR_CODE__NONE && s->srv->tls)
        code = check_identity(l, reason, sizeof(reason));
    if (code != RINGLOG__ERROR_CODE__NONE) {
        refuse(l, p->req, code, reason);
        return;
    }
    Ringlog__Response resp;
    ringlog__response__init(&resp);
    resp.correlation_id = p->req->correlation_id;
    resp.body_case = RINGLOG__RESPONSE__BODY_PEER_HELLO;
    resp.peer_hello = &answer;
    struct peer_out *m = peer_out_pack(&resp.base);
    if (!m) {
        peer_link_close(l, "out of memory");
        return;
    }
    peer_link_queue(l, m, false);
    peer_link_arm_recv(l);
    peer_note_cluster_id(s->srv, hello->node_id, hello->cluster_id);
    peer_node_up(l, hello->incarnation); /* messages queued from here go after the answer */
    peer_link_flush(l);
}

static void run(struct shard *s, struct pending *p)
{
    assert(s == shard_current());
    if (s->stopping)
        close(p->fd);
    else
        check_hello(s, p);
    pending_free(p);
}

static void arrive(struct rl_completion *done, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct pending *p = rl_container_of(done, struct pending, msg.arrive);
    struct shard *s = shard_current();
    run(s, p);
    atomic_fetch_sub(&s->srv->conns_moving, 1);
}

/* The connection is quiet and its socket ours: go to the link shard. */
static void take(struct conn_hand_over *h, struct shard *s, int fd)
{
    struct pending *p = rl_container_of(h, struct pending, hand_over);
    struct server *srv = s->srv;
    p->fd = fd;
    struct peer_node *n = peer_node_find(srv, p->req->peer_hello->node_id);
    int target = n ? n->link_shard : 0;
    if (target == s->loop.id) {
        run(s, p);
        return;
    }
    atomic_fetch_add(&srv->conns_moving, 1);
    if (atomic_load(&srv->stopping)) {
        atomic_fetch_sub(&srv->conns_moving, 1);
        close(fd);
        pending_free(p);
        return;
    }
    p->msg.arrive.on_complete = arrive;
    loop_send(&s->loop, target, &p->msg);
}

bool peer_accept(struct conn *c, const uint8_t *frame, size_t len)
{
    int status;
    Ringlog__Request *req = FAULT_ALLOC(rl_request_decode(frame, len, NULL, &status));
    if (!req)
        return false;
    if (req->body_case != RINGLOG__REQUEST__BODY_PEER_HELLO || req->peer_hello == NULL) {
        ringlog__request__free_unpacked(req, NULL);
        return false;
    }
    struct pending *p = FAULT_ALLOC(calloc(1, sizeof(*p)));
    if (!p) {
        ringlog__request__free_unpacked(req, NULL);
        return false;
    }
    p->req = req;
    p->fd = -1;
    p->hand_over.take = take;
    p->hand_over.drop = drop;
    conn_hand_over(c, &p->hand_over);
    return true;
}
