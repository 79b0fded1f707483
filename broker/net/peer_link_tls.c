/*
 * TLS between a link and its socket (peer_link.h), as conn_tls.c does it
 * for client connections, on the same sessions (tls.h): received
 * ciphertext is decrypted before it reaches the frame decoder, and the
 * frames gathered for a send are sealed into one ciphertext flight (at
 * most LINK_FLUSH_MAX of plaintext at a time). A queued frame counts as
 * sent once the flight carrying its last byte is out, so the queue, its
 * byte counts and the refusal path are those of a plaintext link.
 */
#include <assert.h>
#include <stdio.h>

#include "diag.h"
#include "peer_link.h"
#include "peer_node.h"
#include "server.h"
#include "shard.h"
#include "tls.h"

enum { LINK_FLUSH_MAX = 256 * 1024 };

static bool deliver(void *arg, const uint8_t *data, size_t len)
{
    struct peer_link *l = arg;
    peer_link_consume(l, data, len);
    return !l->closing;
}

/*
 * Logs why (rate-limited like the link's other failures). A failed
 * handshake sends the alert OpenSSL wrote, so the other broker logs that
 * we refused it, and closes once it is out; a later failure closes now.
 */
static void failed(struct peer_link *l)
{
    assert(l->tls != NULL && !l->closing);
    bool handshake = !tls_session_established(l->tls);
    char text[512];
    snprintf(text, sizeof(text), "peer link %s node %d at %s: TLS %s failed: %s%s",
             l->dialer ? "to" : "from", l->peer_node_id, tls_session_peer(l->tls),
             handshake ? "handshake" : "record layer", tls_session_error(l->tls),
             l->dialer ? " (dialing again)" : "");
    if (l->node) {
        if (handshake)
            metrics_add(&l->node->stats->refused, 1);
        peer_logline(l->dialer ? &l->node->dial_log : &l->node->accept_log, l->shard->loop.now_ms,
                     true, text);
    }
    const uint8_t *alert;
    if (!handshake || l->sending || tls_session_flight(l->tls, &alert) == 0) {
        peer_link_close(l, tls_session_error(l->tls));
        return;
    }
    l->tls_failed = true;
    l->state = LINK_REFUSING; /* on_send closes once the alert is out */
    peer_link_tls_flush(l, 0);
}

bool peer_link_tls_start(struct peer_link *l, struct tls_session *t)
{
    assert(l->tls == NULL && t != NULL);
    l->tls = t;
    if (!l->node)
        tls_session_set_peer(t, "an unknown node");
    else
        tls_session_set_peer(t, l->node->addr_text);
    if (!l->dialer || tls_session_established(t))
        return true;
    /* Nothing received yet: this writes the ClientHello. */
    enum tls_status st = tls_session_receive(t, NULL, 0, deliver, l);
    if (st != TLS_OK) {
        failed(l);
        return false;
    }
    return true;
}

void peer_link_tls_received(struct peer_link *l, const uint8_t *data, size_t len)
{
    assert(l->tls != NULL && !l->closing);
    if (l->tls_failed)
        return; /* the alert is on its way out */
    bool was_established = tls_session_established(l->tls);
    enum tls_status st = tls_session_receive(l->tls, data, len, deliver, l);
    if (!was_established && tls_session_established(l->tls)) {
        char what[400];
        tls_session_describe(l->tls, what, sizeof(what));
        DIAG_DEBUG("peer link %s node %d: TLS established: %s", l->dialer ? "to" : "from",
                   l->peer_node_id, what);
    }
    if (l->closing)
        return;
    if (st == TLS_FAILED)
        failed(l);
    else if (st == TLS_CLOSED)
        peer_link_close(l, "TLS close_notify");
    else
        peer_link_flush(l); /* handshake records, the queued hello, session tickets */
}

/* The flight (or what is left of it) as the link's one iovec. */
static void send_flight(struct peer_link *l, const uint8_t *data, size_t len)
{
    assert(len > 0 && !l->sending);
    l->iov[0] = (struct iovec){.iov_base = (void *)data, .iov_len = len};
    peer_link_submit(l, 1);
}

void peer_link_tls_flush(struct peer_link *l, int n)
{
    assert(l->tls != NULL && !l->sending && !l->closing);
    size_t plain = 0;
    if (n > 0) {
        assert(tls_session_established(l->tls) && !l->tls_failed);
        n = tls_iov_trim(l->iov, n, LINK_FLUSH_MAX, &plain);
        if (tls_session_seal(l->tls, l->iov, n) != TLS_OK) {
            failed(l);
            return;
        }
    }
    const uint8_t *data;
    size_t len = tls_session_flight(l->tls, &data);
    assert(plain == 0 || len > 0);
    if (len == 0)
        return;
    l->tls_plain_sending = plain;
    send_flight(l, data, len);
}

bool peer_link_tls_sent(struct peer_link *l, int32_t *res)
{
    assert(l->tls != NULL && *res >= 0);
    if (!tls_session_sent(l->tls, (size_t)*res)) {
        const uint8_t *data;
        size_t len = tls_session_flight(l->tls, &data);
        if (!l->closing)
            send_flight(l, data, len);
        return false;
    }
    assert(l->tls_plain_sending <= LINK_FLUSH_MAX);
    *res = (int32_t)l->tls_plain_sending;
    l->tls_plain_sending = 0;
    return true;
}
