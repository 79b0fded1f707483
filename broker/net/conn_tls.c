/*
 * TLS between a connection and its socket. conn.c stays a plaintext
 * pipeline (frames in, replies out); here its received bytes are
 * decrypted before they reach the frame decoder, and the replies it
 * gathered for a send are encrypted into one ciphertext flight (at most
 * TLS_FLUSH_MAX of plaintext at a time, so a large fetch never needs a
 * ciphertext copy of its whole self). A reply counts as sent once the
 * flight carrying its last byte is out, exactly as on a plaintext
 * connection, so the reply queue, backpressure and moves are unchanged.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "diag.h"
#include "endian_le.h"
#include "frame.h"
#include "peer_hello.h"
#include "server.h"
#include "shard.h"
#include "tls.h"

enum {
    TLS_FLUSH_MAX = 256 * 1024,
    FAILURE_LOGS_PER_SECOND = 20, /* per shard: a flood of bad handshakes cannot flood the log */
};

static _Thread_local struct diag_limit failure_log;

/* Whether one more failure line may go out this second on this shard. */
static bool may_log_failure(const struct conn *c)
{
    return diag_limit_pass(&failure_log, c->shard->loop.now_ms, FAILURE_LOGS_PER_SECOND,
                           "TLS failures");
}

/* "127.0.0.1:40412", the peer of a connection, for log lines. */
static const char *peer_text(const struct conn *c, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    snprintf(buf, len, "%s:%u", host, port);
    return buf;
}

bool conn_tls_attach(struct conn *c)
{
    assert(c->tls == NULL && c->shard->srv->tls != NULL);
    SSL_CTX *ctx = tls_server_ctx(c->shard->srv->tls);
    c->tls = tls_session_new(ctx, true, NULL);
    SSL_CTX_free(ctx); /* the session holds its own reference */
    char peer[80];
    if (c->tls && !tls_server_client_certs(c->shard->srv->tls))
        tls_session_cert_for_links_only(c->tls); /* asked for on a cluster, for links only */
    if (c->tls)
        tls_session_set_peer(c->tls, peer_text(c, peer, sizeof(peer)));
    return c->tls != NULL;
}

bool conn_tls_hello_on_plaintext(struct conn *c, const uint8_t *data, size_t len)
{
    assert(c->tls == NULL);
    if (!tls_looks_like_client_hello(data, len))
        return false;
    char peer[80];
    if (may_log_failure(c))
        DIAG_WARN("connection %llu from %s: refused a TLS ClientHello: this listener is "
                  "plaintext (start ringlogd with --tls-cert and --tls-key for TLS)",
                  (unsigned long long)c->id, peer_text(c, peer, sizeof(peer)));
    conn_close(c, NULL);
    return true;
}

bool conn_tls_peer_hello_in_clear(struct conn *c, const uint8_t *data, size_t len)
{
    assert(c->tls != NULL && !tls_session_established(c->tls));
    if (len < RL_FRAME_HEADER_BYTES || tls_looks_like_client_hello(data, len))
        return false;
    uint32_t body = rl_be32(data);
    if (body > len - RL_FRAME_HEADER_BYTES ||
        !peer_hello_in_frame(data + RL_FRAME_HEADER_BYTES, body))
        return false;
    char peer[80];
    if (may_log_failure(c))
        DIAG_WARN("connection %llu from %s: refused a plaintext peer hello: this broker's links "
                  "use TLS (start every broker of the cluster with --tls-cert, --tls-key and "
                  "--tls-ca)",
                  (unsigned long long)c->id, peer_text(c, peer, sizeof(peer)));
    metrics_add(&c->shard->metrics.protocol_errors, 1);
    conn_close(c, NULL);
    return true;
}

/*
 * A failed handshake sends the alert OpenSSL wrote (the peer then knows
 * why) and closes once it is out; a failure later closes at once.
 */
static void tls_failed(struct conn *c)
{
    bool handshake = !tls_session_established(c->tls);
    if (may_log_failure(c))
        DIAG_WARN("connection %llu from %s: TLS %s failed: %s", (unsigned long long)c->id,
                  tls_session_peer(c->tls), handshake ? "handshake" : "record layer",
                  tls_session_error(c->tls));
    metrics_add(&c->shard->metrics.protocol_errors, 1);
    const uint8_t *alert;
    if (!handshake || c->sending || tls_session_flight(c->tls, &alert) == 0) {
        conn_close(c, NULL);
        return;
    }
    c->draining = true; /* on_send closes once the alert is out; nothing is read meanwhile */
    conn_tls_flush(c, 0);
}

static bool deliver(void *arg, const uint8_t *data, size_t len)
{
    struct conn *c = arg;
    conn_consume(c, data, len);
    return !c->closing;
}

void conn_tls_received(struct conn *c, const uint8_t *data, size_t len)
{
    assert(c->tls != NULL && !c->closing);
    if (c->draining && !tls_session_established(c->tls))
        return; /* a failed handshake's alert is on its way out */
    bool was_established = tls_session_established(c->tls);
    enum tls_status st = tls_session_receive(c->tls, data, len, deliver, c);
    if (!was_established && tls_session_established(c->tls)) {
        char what[400];
        tls_session_describe(c->tls, what, sizeof(what));
        DIAG_DEBUG("connection %llu from %s: TLS established: %s", (unsigned long long)c->id,
                   tls_session_peer(c->tls), what);
    }
    if (st == TLS_FAILED) {
        tls_failed(c);
        return;
    }
    if (st == TLS_CLOSED) {
        conn_close(c, "TLS close_notify");
        return;
    }
    if (!c->closing)
        conn_flush(c); /* handshake records, session tickets, key updates */
}

static void send_flight(struct conn *c, const uint8_t *data, size_t len)
{
    assert(len > 0 && !c->sending);
    c->iov[0] = (struct iovec){.iov_base = (void *)data, .iov_len = len};
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg.msg_iov = c->iov;
    c->msg.msg_iovlen = 1;
    conn_submit_send(c);
}

void conn_tls_flush(struct conn *c, int n)
{
    assert(c->tls != NULL && !c->sending && !c->closing);
    size_t plain = 0;
    if (n > 0) {
        assert(tls_session_established(c->tls)); /* replies come from frames, after it */
        n = tls_iov_trim(c->iov, n, TLS_FLUSH_MAX, &plain);
        if (tls_session_seal(c->tls, c->iov, n) != TLS_OK) {
            tls_failed(c);
            return;
        }
    }
    const uint8_t *data;
    size_t len = tls_session_flight(c->tls, &data);
    assert(plain == 0 || len > 0);
    if (len == 0) {
        if (!c->head)
            conn_move_begin(c); /* idle: the moment a move may start */
        return;
    }
    c->tls_plain_sending = plain;
    send_flight(c, data, len);
}

bool conn_tls_sent(struct conn *c, int32_t *res)
{
    assert(c->tls != NULL && *res >= 0);
    if (!tls_session_sent(c->tls, (size_t)*res)) {
        const uint8_t *data;
        size_t len = tls_session_flight(c->tls, &data);
        if (!c->closing)
            send_flight(c, data, len);
        return false;
    }
    assert(c->tls_plain_sending <= TLS_FLUSH_MAX);
    *res = (int32_t)c->tls_plain_sending;
    c->tls_plain_sending = 0;
    return true;
}
