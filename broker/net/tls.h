/*
 * TLS for connections whose bytes move through io_uring: OpenSSL never
 * touches the socket. A session reads ciphertext from a window the caller
 * points at a received buffer, and writes ciphertext into a buffer of its
 * own that the caller sends (one flight at a time); the handshake and the
 * record layer run on the calling thread, never blocking.
 *
 * Two halves:
 *   - struct tls_server (tls_context.c): the SSL_CTX built from
 *     --tls-cert/--tls-key/--tls-ca/--tls-client-auth, replaced on SIGHUP
 *     (tls_server_reload) while sessions made from the old one go on;
 *   - struct tls_session (tls.c): one connection's TLS state. It knows
 *     nothing of struct conn, so a client-role session (an inter-broker
 *     link, tls_session_new with server = false) works the same way.
 */
#ifndef RINGLOG_BROKER_TLS_H
#define RINGLOG_BROKER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "config.h"

/* ---- the server's context (tls_context.c) ---- */

struct tls_server;

/*
 * Loads cert, key and CA of cfg into a new context, and probes kernel TLS
 * (logged). Returns 0 with *out set, or -1 with err set.
 */
int tls_server_open(const struct broker_config *cfg, struct tls_server **out, char *err,
                    size_t err_len);

/* Loads the files again; on failure the old context stays (-1, err set). */
int tls_server_reload(struct tls_server *t, char *err, size_t err_len);

void tls_server_close(struct tls_server *t);

/* The current context, with a reference the caller drops (SSL_CTX_free). */
SSL_CTX *tls_server_ctx(struct tls_server *t);

/* Whether a client's certificate may name its principal (--tls-client-auth
 * request or require); under none it is asked for on a cluster, for links only. */
bool tls_server_client_certs(const struct tls_server *t);

/* "user-space" or "kernel": which record layer the sessions use. */
const char *tls_server_mode(const struct tls_server *t);

/* ---- one connection (tls.c) ---- */

struct tls_session;

/* Plaintext out of tls_session_receive; false stops it (the connection closes). */
typedef bool (*tls_deliver_fn)(void *arg, const uint8_t *data, size_t len);

enum tls_status {
    TLS_OK = 0,
    TLS_CLOSED = 1,  /* the peer sent close_notify */
    TLS_FAILED = -1, /* handshake or record failure: tls_session_error says why */
};

/*
 * A session on ctx (which it references). verify_host: for a client
 * session, the name (or address) the peer's certificate must carry.
 * NULL when out of memory.
 */
struct tls_session *tls_session_new(SSL_CTX *ctx, bool server, const char *verify_host);
void tls_session_free(struct tls_session *t);

bool tls_session_established(const struct tls_session *t);

/* The peer's certificate serves links only: tls_session_peer_cn says none. */
void tls_session_cert_for_links_only(struct tls_session *t);

/*
 * Feeds received ciphertext: runs the handshake, then decrypts every
 * whole record, handing the plaintext to deliver. Consumes all of it
 * (a partial record is kept inside OpenSSL) unless deliver stopped it.
 */
enum tls_status tls_session_receive(struct tls_session *t, const uint8_t *cipher, size_t len,
                                    tls_deliver_fn deliver, void *arg);

/* Encrypts the plaintext of iov[0..n) into the pending output. */
enum tls_status tls_session_seal(struct tls_session *t, const struct iovec *iov, int n);

/*
 * Output. tls_session_flight makes the pending output the flight when
 * no flight is out, and returns what of the flight is still unsent (0:
 * nothing to send); those bytes stay put until tls_session_sent says
 * they are all out, whatever the session writes meanwhile.
 */
size_t tls_session_flight(struct tls_session *t, const uint8_t **data);
/* n bytes of the flight went out; true when the flight is done. */
bool tls_session_sent(struct tls_session *t, size_t n);

/* Who is at the other end ("127.0.0.1:40412"), kept for log lines: a socket
 * the peer closed no longer says. */
void tls_session_set_peer(struct tls_session *t, const char *peer);
const char *tls_session_peer(const struct tls_session *t);

/* Why the last TLS_FAILED happened, in words for a log line. */
const char *tls_session_error(const struct tls_session *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" and the peer certificate's subject, for logs. */
void tls_session_describe(const struct tls_session *t, char *buf, size_t len);

/*
 * The common name of the peer's certificate once the handshake verified it
 * (UTF-8, into buf): 0, or -1 when there is no verified certificate, no
 * CN, several CNs, or one that does not fit.
 */
int tls_session_peer_cn(const struct tls_session *t, char *buf, size_t len);

/*
 * Whether the peer is the broker at host (its --peers host): its
 * certificate verified against --tls-ca and names host, as an IP or DNS
 * subject alternative name (or, without DNS names, the CN). 0, or -1 with
 * why set for a log line.
 */
int tls_session_check_peer(const struct tls_session *t, const char *host, char *why, size_t len);

/* Cuts iov[0..n) at max bytes; returns how many iovecs remain, *total their bytes. */
int tls_iov_trim(struct iovec *iov, int n, size_t max, size_t *total);

/* Whether bytes starting a connection look like a TLS ClientHello record. */
bool tls_looks_like_client_hello(const uint8_t *data, size_t len);

#endif
