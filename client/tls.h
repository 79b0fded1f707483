/*
 * The client's TLS: one OpenSSL context per client (producer, consumer,
 * admin), built from its configuration (security.protocol=tls, tls.ca,
 * tls.cert, tls.key), and the sessions conn.c runs over its non-blocking
 * sockets. The broker's certificate is always verified: against tls.ca, or
 * the system's CAs without it, and for the host name (or address) the
 * connection was made to.
 */
#ifndef RINGLOG_CLIENT_TLS_H
#define RINGLOG_CLIENT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct ringlog_conf;
struct rl_tls;

/*
 * Builds conf->tls when conf asks for TLS (nothing otherwise). Refuses, with
 * the reason in errbuf, unreadable files, a certificate without its key, and
 * tls.* keys given while security.protocol is plaintext.
 */
int rl_tls_attach(struct ringlog_conf *conf, char *errbuf, size_t errlen);

void rl_tls_free(struct rl_tls *t);

/*
 * A client session on the connected socket fd, verifying that the broker's
 * certificate names host. NULL when out of memory.
 */
SSL *rl_tls_session(const struct rl_tls *t, int fd, const char *host);

/*
 * Why a TLS call on ssl failed (its SSL_get_error code), for an error line:
 * "certificate verify failed: certificate has expired", "the broker refused
 * the handshake (...)"; a peer that is no TLS server gets a hint. Clears
 * the thread's OpenSSL error queue.
 */
void rl_tls_describe(SSL *ssl, int ssl_error, char *buf, size_t len);

#endif
