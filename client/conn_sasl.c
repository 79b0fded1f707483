#include "conn_sasl.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "errors.h"
#include "frame.h"
#include "sasl.h"

/* Correlation ids of the exchange's two requests: far from the caller's (which count up from 1). */
#define SASL_CORRELATION_BASE (UINT64_MAX - 8)

struct rl_conn_sasl {
    struct rl_sasl scram;
    char mechanism[32];
    uint8_t frame[2 * RL_SCRAM_MAX_MESSAGE];
    size_t frame_len, frame_sent;
    uint64_t correlation_id; /* of the request in flight */
};

int rl_sasl_conf_check(const struct ringlog_conf *conf, char *errbuf, size_t errlen)
{
    if (!conf->security_sasl) {
        if (!conf->sasl_username && !conf->sasl_password)
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen,
                  "sasl.username and sasl.password need security.protocol sasl_plaintext or "
                  "sasl_tls");
        return RINGLOG_ERR_INVALID_ARG;
    }
    struct rl_sasl probe;
    char why[200];
    const char *mech = conf->sasl_mechanism ? conf->sasl_mechanism : "SCRAM-SHA-256";
    if (!conf->sasl_username || !conf->sasl_password) {
        rl_errbuf(errbuf, errlen, "security.protocol sasl_*: set sasl.username and sasl.password");
        return RINGLOG_ERR_INVALID_ARG;
    }
    int rc = rl_sasl_init(&probe, mech, conf->sasl_username, conf->sasl_password, why, sizeof(why));
    rl_sasl_clear(&probe);
    if (rc != 0) {
        rl_errbuf(errbuf, errlen, "%s", why);
        return RINGLOG_ERR_INVALID_ARG;
    }
    return RINGLOG_OK;
}

/* Encodes an Authenticate request carrying msg into s->frame. 0 or -1. */
static int encode(struct rl_conn_sasl *s, const char *mechanism, const char *msg, size_t len)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__AuthenticateRequest ar = RINGLOG__AUTHENTICATE_REQUEST__INIT;
    ar.mechanism = (char *)mechanism;
    ar.auth_bytes.data = (uint8_t *)msg;
    ar.auth_bytes.len = len;
    req.correlation_id = ++s->correlation_id;
    req.api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    req.client_id = "libringlog";
    req.body_case = RINGLOG__REQUEST__BODY_AUTHENTICATE;
    req.authenticate = &ar;
    size_t n = rl_frame_size(&req.base);
    if (n > sizeof(s->frame))
        return -1;
    rl_frame_write(&req.base, s->frame);
    s->frame_len = n;
    s->frame_sent = 0;
    return 0;
}

struct rl_conn_sasl *rl_conn_sasl_new(const struct ringlog_conf *conf)
{
    assert(conf->security_sasl && conf->sasl_username && conf->sasl_password);
    struct rl_conn_sasl *s = calloc(1, sizeof(*s));
    char err[200], first[RL_SCRAM_MAX_MESSAGE];
    if (!s)
        return NULL;
    snprintf(s->mechanism, sizeof(s->mechanism), "%s",
             conf->sasl_mechanism ? conf->sasl_mechanism : "SCRAM-SHA-256");
    s->correlation_id = SASL_CORRELATION_BASE;
    size_t n = 0;
    if (rl_sasl_init(&s->scram, s->mechanism, conf->sasl_username, conf->sasl_password, err,
                     sizeof(err)) == 0)
        n = rl_sasl_first(&s->scram, first, sizeof(first));
    /* The broker wants the mechanism's own spelling. */
    enum rl_scram_hash h = s->scram.hash;
    if (n == 0 || encode(s, rl_scram_mechanism_name(h), first, n) != 0) {
        rl_conn_sasl_free(s);
        return NULL;
    }
    return s;
}

void rl_conn_sasl_free(struct rl_conn_sasl *s)
{
    if (!s)
        return;
    rl_sasl_clear(&s->scram);
    free(s);
}

const uint8_t *rl_conn_sasl_pending(const struct rl_conn_sasl *s, size_t *len)
{
    *len = s->frame_len - s->frame_sent;
    return s->frame + s->frame_sent;
}

void rl_conn_sasl_sent(struct rl_conn_sasl *s, size_t n)
{
    assert(s->frame_sent + n <= s->frame_len);
    s->frame_sent += n;
}

int rl_conn_sasl_owns(const struct rl_conn_sasl *s, const Ringlog__Response *r)
{
    return r->correlation_id == s->correlation_id;
}

/* The broker's refusal in a user's words. */
static int refused(const struct rl_conn_sasl *s, const Ringlog__Response *r, char *err,
                   size_t err_len)
{
    const char *hint = r->error == RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED
                           ? " (wrong user name or password?)"
                           : "";
    snprintf(err, err_len, "SASL %s authentication as %s failed: %s: %s%s", s->mechanism,
             s->scram.user, rl_error_name(r->error), r->error_message ? r->error_message : "",
             hint);
    return RINGLOG_ERR_PROTOCOL;
}

int rl_conn_sasl_answer(struct rl_conn_sasl *s, const Ringlog__Response *r, char *err,
                        size_t err_len)
{
    assert(rl_conn_sasl_owns(s, r));
    if (r->error != RINGLOG__ERROR_CODE__NONE)
        return refused(s, r, err, err_len);
    if (r->body_case != RINGLOG__RESPONSE__BODY_AUTHENTICATE) {
        snprintf(err, err_len, "SASL: the broker answered Authenticate with something else");
        return RINGLOG_ERR_PROTOCOL;
    }
    const ProtobufCBinaryData *in = &r->authenticate->auth_bytes;
    if (s->scram.step == 1) {
        char final[RL_SCRAM_MAX_MESSAGE];
        size_t n = rl_sasl_final(&s->scram, (const char *)in->data, in->len, final, sizeof(final),
                                 err, err_len);
        if (n == 0 || encode(s, "", final, n) != 0)
            return RINGLOG_ERR_PROTOCOL;
        return 0;
    }
    if (!r->authenticate->complete ||
        !rl_sasl_verify(&s->scram, (const char *)in->data, in->len, err, err_len))
        return RINGLOG_ERR_PROTOCOL;
    return 1;
}
