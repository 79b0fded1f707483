/*
 * SASL on a connection (security.protocol sasl_plaintext / sasl_tls): the
 * Authenticate requests of a SCRAM exchange (client/sasl.h) as frames to
 * send, and the broker's answers taken in. client/conn.c does the I/O: it
 * sends these frames first and holds the caller's requests until the
 * exchange is done, the way it holds them during a TLS handshake.
 */
#ifndef RINGLOG_CLIENT_CONN_SASL_H
#define RINGLOG_CLIENT_CONN_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog.pb-c.h"

struct ringlog_conf;
struct rl_conn_sasl;

/*
 * Checks the sasl.* keys against security.protocol when a client is made:
 * sasl_* needs sasl.username and sasl.password (and a known mechanism);
 * sasl.* keys without it are a mistake. RINGLOG_OK or
 * RINGLOG_ERR_INVALID_ARG with the reason.
 */
int rl_sasl_conf_check(const struct ringlog_conf *conf, char *errbuf, size_t errlen);

/* A new exchange with conf's credentials, its first frame ready. NULL: out of memory. */
struct rl_conn_sasl *rl_conn_sasl_new(const struct ringlog_conf *conf);
void rl_conn_sasl_free(struct rl_conn_sasl *s);

/* The frame to send now (*len 0: none, waiting for an answer). */
const uint8_t *rl_conn_sasl_pending(const struct rl_conn_sasl *s, size_t *len);
/* n bytes of it were sent. */
void rl_conn_sasl_sent(struct rl_conn_sasl *s, size_t n);

/* Whether a response is the answer to this exchange's request (by correlation id). */
int rl_conn_sasl_owns(const struct rl_conn_sasl *s, const Ringlog__Response *r);

/*
 * Takes the broker's answer: 0 when the next frame is ready, 1 when the
 * exchange is done (authenticated, and the broker proved it knows the
 * key), or a negative ringlog_err with the reason in err.
 */
int rl_conn_sasl_answer(struct rl_conn_sasl *s, const Ringlog__Response *r, char *err,
                        size_t err_len);

#endif
