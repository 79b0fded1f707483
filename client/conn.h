/*
 * One TCP connection to a broker speaking the framed protocol: requests
 * out, responses in, in order, matched by correlation id.
 *
 * Two ways to use it:
 *   - blocking helpers (rl_conn_open, rl_conn_call, rl_conn_send,
 *     rl_conn_recv, rl_conn_send_raw) for the admin client and for tests;
 *   - non-blocking pieces (rl_conn_connect_start, rl_conn_enqueue,
 *     rl_conn_write_some, rl_conn_read_some, rl_conn_take_response) for the
 *     producer and consumer I/O threads, which poll() the fd themselves.
 *
 * Internal to libringlog (not installed), linkable from tests through the
 * ringlog_client_core static library. Not thread-safe: one owner at a time.
 * Every function returns a ringlog_err code; the text of the last failure is
 * in rl_conn_errstr().
 */
#ifndef RINGLOG_CLIENT_CONN_H
#define RINGLOG_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlog.h"
#include "ringlog.pb-c.h"

struct rl_conn;
struct rl_tls;

/*
 * Connects to host:port (name or address, IPv4 or IPv6), waiting up to
 * timeout_ms (< 0: no limit). The socket is non-blocking with TCP_NODELAY.
 * RINGLOG_OK with *out set; else RINGLOG_ERR_RESOLVE, RINGLOG_ERR_TRANSPORT,
 * RINGLOG_ERR_TIMED_OUT with a reason in errbuf.
 */
int rl_conn_open(const char *host, int port, int timeout_ms, struct rl_conn **out, char *errbuf,
                 size_t errlen);

/*
 * Starts a non-blocking connect. RINGLOG_OK with *out set (the connection
 * may still be in progress: poll for POLLOUT, then rl_conn_connect_check).
 */
int rl_conn_connect_start(const char *host, int port, struct rl_conn **out, char *errbuf,
                          size_t errlen);

/* After POLLOUT on a connecting socket: RINGLOG_OK once connected, else RINGLOG_ERR_TRANSPORT. */
int rl_conn_connect_check(struct rl_conn *c);

/* Whether the connect has completed. */
bool rl_conn_is_connected(const struct rl_conn *c);

/*
 * Whether a well-formed response has arrived on this connection. A bad
 * first answer means the peer is not a ringlog broker (rl_conn_errstr then
 * says "HOST:PORT does not speak the ringlog protocol (it answered ...)").
 */
bool rl_conn_speaks_protocol(const struct rl_conn *c);

/*
 * Makes the connection TLS (tls NULL: it stays plaintext), verifying that
 * the broker's certificate names host. Call it right after the connect
 * started, before anything is queued; the handshake then runs inside the
 * other calls (rl_conn_poll_events says what the socket must wait for).
 */
int rl_conn_use_tls(struct rl_conn *c, const struct rl_tls *tls, const char *host);

/*
 * Authenticates the connection with SASL SCRAM when conf says
 * security.protocol sasl_*: call it after rl_conn_use_tls, before anything
 * is written. The exchange runs first inside the other calls (as the TLS
 * handshake does); requests queued meanwhile go out once it succeeded. A
 * refusal is RINGLOG_ERR_PROTOCOL from the call that read it, with the
 * broker's reason in rl_conn_errstr().
 */
struct ringlog_conf;
int rl_conn_use_sasl(struct rl_conn *c, const struct ringlog_conf *conf);

/*
 * What to poll the socket for: POLLOUT while connecting, what a TLS
 * handshake waits for, else POLLIN, and POLLOUT while output is queued.
 */
short rl_conn_poll_events(const struct rl_conn *c);

/* Closes the socket and frees everything. NULL is fine. */
void rl_conn_close(struct rl_conn *c);

int rl_conn_fd(const struct rl_conn *c);
const char *rl_conn_errstr(const struct rl_conn *c);

/* Sets the client_id put in requests that have none (copied). Default "libringlog". */
void rl_conn_set_client_id(struct rl_conn *c, const char *client_id);

/* Largest frame accepted from the peer (default 16 MiB plus slack). */
void rl_conn_set_max_frame(struct rl_conn *c, uint32_t max_frame_bytes);

/*
 * Encodes req into the output buffer; nothing is written yet. Sets
 * req->correlation_id to the next id of this connection, and api_version
 * and client_id when they are unset. expect_response false is for produce
 * with acks=0, which the broker never answers. *correlation_id (may be
 * NULL) receives the id. RINGLOG_ERR_NOMEM, RINGLOG_ERR_MSG_TOO_LARGE.
 */
int rl_conn_enqueue(struct rl_conn *c, Ringlog__Request *req, bool expect_response,
                    uint64_t *correlation_id);

/* Bytes the caller lends to the connection (see rl_conn_enqueue_borrowing). */
struct rl_span {
    const void *data;
    size_t len;
};

/* bytes fields shorter than this are copied even when borrowable: a reference costs more. */
#define RL_CONN_BORROW_MIN_BYTES 512

/*
 * rl_conn_enqueue, but `bytes` fields of req of at least
 * RL_CONN_BORROW_MIN_BYTES that lie in one of the `nborrow` spans are not
 * copied: they are written to the socket from where they are. The caller
 * must keep those bytes alive and unchanged until they are written
 * (rl_conn_pending_out() reaches 0, or an answer to the request arrives)
 * or the connection is closed.
 */
int rl_conn_enqueue_borrowing(struct rl_conn *c, Ringlog__Request *req, bool expect_response,
                              const struct rl_span *borrow, size_t nborrow,
                              uint64_t *correlation_id);

/* Appends arbitrary bytes to the output buffer (tests of malformed input). */
int rl_conn_enqueue_raw(struct rl_conn *c, const void *bytes, size_t len);

/* Bytes encoded and not yet written to the socket. */
size_t rl_conn_pending_out(const struct rl_conn *c);

/* Requests sent (or queued) that still expect a response. */
size_t rl_conn_awaiting(const struct rl_conn *c);

/*
 * Writes as much of the output buffer as the socket takes now.
 * RINGLOG_OK (maybe with bytes left) or RINGLOG_ERR_TRANSPORT.
 */
int rl_conn_write_some(struct rl_conn *c);

/*
 * Reads what the socket has now into the input buffer, if the buffer has
 * no undecoded bytes left. RINGLOG_OK when there are bytes to decode, 1
 * when the socket had nothing (EAGAIN), RINGLOG_ERR_TRANSPORT on error or
 * end of stream.
 */
int rl_conn_read_some(struct rl_conn *c);

/*
 * Decodes the next whole response from bytes already read. RINGLOG_OK with
 * *resp set (free with rl_conn_response_free); 1 when more bytes are
 * needed; RINGLOG_ERR_PROTOCOL for a bad frame, an undecodable response or
 * a correlation id out of order (the connection is then unusable).
 */
int rl_conn_take_response(struct rl_conn *c, Ringlog__Response **resp);

void rl_conn_response_free(Ringlog__Response *resp);

/*
 * A fetch response may be parsed in place (proto/fetch_parse.h): its
 * partitions' records then point into the received frame, not into copies.
 * rl_conn_response_hold keeps that frame alive past rl_conn_response_free,
 * for a consumer that queues the records: it returns a hold to release
 * (from any thread) once they are no longer read, or NULL when the
 * response was unpacked by protobuf-c (then records.data is the caller's to
 * take and free, as before).
 */
struct rl_response_hold;
struct rl_response_hold *rl_conn_response_hold(Ringlog__Response *resp);
void rl_conn_response_release(struct rl_response_hold *hold);

/* ---- blocking helpers; timeout_ms < 0 waits forever ---- */

/* Enqueues req and writes until it is all on the wire. */
int rl_conn_send(struct rl_conn *c, Ringlog__Request *req, int timeout_ms);

/* Writes raw bytes until they are all on the wire. */
int rl_conn_send_raw(struct rl_conn *c, const void *bytes, size_t len, int timeout_ms);

/*
 * Waits for the next response. RINGLOG_OK with *resp set,
 * RINGLOG_ERR_TIMED_OUT, RINGLOG_ERR_TRANSPORT (closed by the peer),
 * RINGLOG_ERR_PROTOCOL.
 */
int rl_conn_recv(struct rl_conn *c, Ringlog__Response **resp, int timeout_ms);

/*
 * send + recv: the response to this very request (earlier pipelined
 * responses must have been received first). A response carrying a
 * request-level error is still RINGLOG_OK: look at (*resp)->error.
 */
int rl_conn_call(struct rl_conn *c, Ringlog__Request *req, Ringlog__Response **resp,
                 int timeout_ms);

/*
 * Waits until the peer closes the connection (read returns 0 or an error),
 * discarding anything it sends. RINGLOG_OK when closed, RINGLOG_ERR_TIMED_OUT.
 * For tests that expect the broker to drop a connection after bad input.
 */
int rl_conn_wait_closed(struct rl_conn *c, int timeout_ms);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t rl_now_ms(void);
/* The monotonic clock in microseconds. */
int64_t rl_now_us(void);

#endif
