/*
 * Authentication at the handler tier: the gate every request passes
 * (auth_admit), the Authenticate exchange (SCRAM, auth/scram_server.c),
 * client-certificate principals, and the connection's deadline.
 *
 * A connection must authenticate when the broker has a user. Until it
 * has, only Handshake and Authenticate are served; anything else is
 * answered AUTHENTICATION_REQUIRED and the connection closes, and one that
 * has not authenticated --auth-timeout-ms after it was accepted is closed.
 * A failed exchange (wrong password, unknown user, malformed or replayed
 * message) is answered AUTHENTICATION_FAILED only --auth-failure-delay-ms
 * later,
 * then the connection closes: an unknown user takes the same path (a fake
 * credential from the store's secret) and the same time as a wrong
 * password.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/scram_server.h"
#include "auth/security.h"
#include "diag.h"
#include "handlers.h"
#include "net/tls.h"
#include "request.h"
#include "server.h"
#include "shard.h"

enum {
    FAILURE_LOGS_PER_SECOND = 20, /* per shard */
};

/* A SASL exchange under way (conn->auth). */
struct auth_state {
    struct scram_server scram;
    struct request *held; /* a failed exchange's answer, sent at fail_at */
    int held_error;
    int64_t fail_at;
};

static _Thread_local struct diag_limit fail_log;

/* Whether one more failure line may go out this second on this shard. */
static bool may_log(const struct conn *c)
{
    return diag_limit_pass(&fail_log, c->shard->loop.now_ms, FAILURE_LOGS_PER_SECOND,
                           "authentication failures");
}

static const struct sec_snapshot *view_of(const struct conn *c)
{
    return security_view(&c->shard->srv->security, c->shard->loop.id);
}

/* A TLS connection with a verified client certificate is "User:CN" (once). */
static void note_certificate(struct conn *c)
{
    if (c->principal_checked || !c->tls || !tls_session_established(c->tls))
        return;
    c->principal_checked = true;
    char cn[SEC_PRINCIPAL_MAX - 4];
    if (c->authenticated || tls_session_peer_cn(c->tls, cn, sizeof(cn)) != 0)
        return;
    size_t n = strlen(cn) + 6;
    if ((c->principal = malloc(n)) == NULL)
        return;
    snprintf(c->principal, n, "User:%s", cn);
    c->authenticated = true;
}

const char *auth_principal(struct conn *c)
{
    note_certificate(c);
    return c->principal ? c->principal : SEC_ANONYMOUS;
}

/* The deadline or a failure's delay came (or the connection is closing). */
static void on_timer(struct conn *c)
{
    struct auth_state *a = c->auth;
    if (a && a->held) {
        if (!conn_is_closing(c) && c->shard->loop.now_ms + 2 < a->fail_at) {
            conn_set_timer(c, (uint32_t)(a->fail_at - c->shard->loop.now_ms), on_timer);
            return;
        }
        struct request *r = a->held;
        a->held = NULL;
        r->reply.pending--;
        request_fail(r, a->held_error, NULL);
        if (!conn_is_closing(c))
            conn_begin_drain(c);
        return;
    }
    note_certificate(c);
    if (conn_is_closing(c) || c->authenticated || c->hand_over)
        return;
    if (security_auth_required(view_of(c))) {
        if (may_log(c))
            DIAG_WARN("connection %llu: not authenticated %u ms after it was accepted: closed",
                      (unsigned long long)c->id, c->shard->srv->cfg.auth_timeout_ms);
        conn_close(c, "authentication timeout");
    }
}

void auth_conn_opened(struct conn *c)
{
    if (security_auth_required(view_of(c)))
        conn_set_timer(c, c->shard->srv->cfg.auth_timeout_ms, on_timer);
}

void auth_conn_forget(struct conn *c)
{
    struct auth_state *a = c->auth;
    assert(a == NULL || a->held == NULL); /* a held answer keeps the connection alive */
    free(a);
    c->auth = NULL;
}

/*
 * Fails the exchange: the answer waits --auth-failure-delay-ms (whatever went
 * wrong, so failures all look and take alike), then the connection closes.
 */
static void fail_exchange(struct request *r, struct auth_state *a, int error, const char *user,
                          const char *why)
{
    struct conn *c = r->conn;
    assert(a != NULL && a->held == NULL);
    metrics_add(&r->shard->metrics.sasl_failures, 1);
    if (may_log(c))
        DIAG_WARN("connection %llu: SASL authentication%s%s failed: %s", (unsigned long long)c->id,
                  user && *user ? " of user " : "", user ? user : "", why);
    a->held = r;
    a->held_error = error;
    uint32_t delay = c->shard->srv->cfg.auth_failure_delay_ms;
    a->fail_at = c->shard->loop.now_ms + delay;
    r->reply.pending++; /* the answer is ours until the delay is over */
    if (c->timer_armed)
        conn_cancel_timer(c); /* its run re-arms for fail_at */
    else
        conn_set_timer(c, delay, on_timer);
}

static void answer(struct request *r, const char *bytes, size_t len, bool complete)
{
    Ringlog__AuthenticateResponse *ar = request_alloc(r, sizeof(*ar));
    uint8_t *copy = request_alloc(r, len + 1);
    if (!ar || !copy) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__authenticate_response__init(ar);
    memcpy(copy, bytes, len);
    ar->auth_bytes.data = copy;
    ar->auth_bytes.len = len;
    ar->complete = complete;
    if (complete)
        ar->principal = request_strdup(r, r->conn->principal);
    r->resp.body_case = RINGLOG__RESPONSE__BODY_AUTHENTICATE;
    r->resp.authenticate = ar;
    request_complete(r);
}

/* client-first-message: the challenge, from the user's credential or a fake one. */
static void first_message(struct request *r, struct auth_state *a, enum rl_scram_hash h,
                          const ProtobufCBinaryData *in)
{
    struct security *sec = &r->shard->srv->security;
    scram_server_init(&a->scram, h);
    if (!scram_server_start(&a->scram, (const char *)in->data, in->len)) {
        fail_exchange(r, a, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, NULL, a->scram.why);
        return;
    }
    const struct sec_user *u = security_user(view_of(r->conn), a->scram.user);
    struct rl_scram_credential fake;
    security_fake_credential(sec, h, a->scram.user, &fake);
    const struct rl_scram_credential *cred = u && u->has[h] ? &u->cred[h] : &fake;
    uint8_t nonce[RL_SCRAM_NONCE_BYTES];
    char nonce64[2 * RL_SCRAM_NONCE_BYTES + 4];
    char out[RL_SCRAM_MAX_MESSAGE];
    size_t n = 0;
    if (rl_scram_random(nonce, sizeof(nonce)) == 0) {
        rl_scram_b64_encode(nonce, sizeof(nonce), nonce64);
        n = scram_server_challenge(&a->scram, cred, nonce64, out, sizeof(out));
    }
    if (n == 0) {
        fail_exchange(r, a, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, a->scram.user,
                      a->scram.why ? a->scram.why : "no randomness");
        return;
    }
    answer(r, out, n, false);
}

/* client-final-message: the proof checked, the connection is the user's. */
static void final_message(struct request *r, struct auth_state *a, const ProtobufCBinaryData *in)
{
    struct conn *c = r->conn;
    char out[RL_SCRAM_MAX_MESSAGE];
    size_t n = scram_server_finish(&a->scram, (const char *)in->data, in->len, out, sizeof(out));
    /* A user deleted meanwhile fails as unknown users do: the proof was checked against the
     * credential the challenge used. */
    const struct sec_snapshot *s = view_of(c);
    if (n == 0 || !security_user(s, a->scram.user)) {
        fail_exchange(r, a, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, a->scram.user,
                      n == 0 ? a->scram.why : "the user does not exist");
        return;
    }
    size_t len = strlen(a->scram.user) + 6;
    free(c->principal);
    if ((c->principal = malloc(len)) == NULL) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        conn_begin_drain(c);
        return;
    }
    snprintf(c->principal, len, "User:%s", a->scram.user);
    c->authenticated = true;
    c->principal_checked = true;
    c->auth_version = s->version;
    DIAG_DEBUG("connection %llu: authenticated as %s (%s)", (unsigned long long)c->id, c->principal,
               rl_scram_mechanism_name(a->scram.hash));
    free(a);
    c->auth = NULL;
    conn_cancel_timer(c);
    answer(r, out, n, true);
}

void handle_authenticate(struct request *r)
{
    struct conn *c = r->conn;
    const Ringlog__AuthenticateRequest *req = r->msg->authenticate;
    struct auth_state *a = c->auth;
    bool first = req->mechanism && req->mechanism[0];
    if (c->authenticated && !a) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST,
                     "this connection is authenticated already (no re-authentication)");
        return;
    }
    if (!a && (a = c->auth = calloc(1, sizeof(*a))) == NULL) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    if (a->held) { /* a request after a failure: the connection is closing */
        request_fail(r, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, NULL);
        return;
    }
    enum rl_scram_hash h;
    if (first && rl_scram_mechanism_parse(req->mechanism, &h) != 0) {
        fail_exchange(r, a, RINGLOG__ERROR_CODE__UNSUPPORTED_SASL_MECHANISM, NULL,
                      "unsupported mechanism");
        return;
    }
    bool expected = first ? a->scram.state == SCRAM_START && a->scram.user[0] == '\0'
                          : a->scram.state == SCRAM_CHALLENGED;
    if (!expected) {
        a->scram.state = SCRAM_FAILED;
        fail_exchange(r, a, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, a->scram.user,
                      first ? "a second client-first-message" : "client-final-message out of turn");
        return;
    }
    if (first)
        first_message(r, a, h, &req->auth_bytes);
    else
        final_message(r, a, &req->auth_bytes);
}

/*
 * The gate: Handshake and Authenticate always pass; anything else needs an
 * authenticated connection once the broker has users, and its user must
 * still exist. false: r is answered, and the connection closes.
 */
bool auth_admit(struct request *r)
{
    struct conn *c = r->conn;
    int body = r->msg->body_case;
    if (body == RINGLOG__REQUEST__BODY_HANDSHAKE || body == RINGLOG__REQUEST__BODY_AUTHENTICATE)
        return true;
    const struct sec_snapshot *s = view_of(c);
    note_certificate(c);
    if (!c->authenticated && security_auth_required(s)) {
        request_fail(r, RINGLOG__ERROR_CODE__AUTHENTICATION_REQUIRED, NULL);
        conn_begin_drain(c);
        return false;
    }
    /* A SASL user deleted while connected: refused, and closed. */
    if (c->authenticated && c->auth_version != 0 && c->auth_version != s->version) {
        if (!security_user(s, c->principal + 5)) {
            if (may_log(c))
                DIAG_WARN("connection %llu: %s was deleted: closed", (unsigned long long)c->id,
                          c->principal);
            request_fail(r, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED,
                         "the user this connection authenticated as was deleted");
            conn_begin_drain(c);
            return false;
        }
        c->auth_version = s->version;
    }
    return true;
}
