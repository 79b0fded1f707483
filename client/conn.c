#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "arena.h"
#include "conf.h"
#include "conn_sasl.h"
#include "fetch_parse.h"
#include "frame.h"
#include "tls.h"

enum {
    READ_CHUNK = 256 * 1024,
    READ_DIRECT_MIN = 16 * 1024, /* frame bytes still missing for a direct receive */
    ERRSTR_BYTES = 256,
    TLS_STAGE_BYTES = 64 * 1024, /* plaintext handed to SSL_write at a time */
};

struct out_seg {
    const uint8_t *ext; /* borrowed bytes, or NULL: owned bytes at out + off */
    size_t off, len;
};

struct rl_conn {
    int fd;
    bool connected;
    uint64_t next_correlation_id;
    char *client_id;

    /*
     * Output: a queue of segments, oldest first, each either bytes the
     * connection owns (out[off, off + len)) or bytes borrowed from the
     * caller (ext[0, len), see rl_conn_enqueue_borrowing). out[0, out_len)
     * holds the owned bytes queued since the queue was last empty.
     */
    uint8_t *out;
    size_t out_len, out_cap;
    struct out_seg *segs;
    size_t seg_head, seg_count, seg_cap;
    size_t out_pending; /* bytes in the queue */
    size_t out_shift;   /* bytes compaction has moved out down by, in all */

    /* Input: bytes [in_pos, in_len) were read and not yet given to the decoder. */
    uint8_t *in;
    size_t in_pos, in_len;
    struct rl_frame_decoder decoder;

    /* Correlation ids of requests that expect a response, oldest first (a ring). */
    uint64_t *awaiting;
    size_t awaiting_head, awaiting_count, awaiting_cap;

    /* TLS (rl_conn_use_tls): the session, whether its handshake is done and
     * what it waits for, and plaintext taken from the queue that SSL_write
     * has not accepted yet (stage[stage_off, stage_len)). */
    SSL *ssl;
    bool tls_ready;
    short tls_want;
    uint8_t *stage;
    size_t stage_off, stage_len;

    /* SASL (rl_conn_use_sasl): the exchange under way; the caller's
     * requests wait in the queue until it is done (NULL). */
    struct rl_conn_sasl *sasl;

    char peer[280]; /* "host:port", for messages */
    bool answered;  /* a well-formed response has arrived: the peer speaks the protocol */
    char errstr[ERRSTR_BYTES];
};

int64_t rl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_err(char *buf, size_t len, const char *fmt, const char *a, int port, const char *b)
{
    if (buf && len)
        snprintf(buf, len, fmt, a, port, b);
}

static int conn_fail(struct rl_conn *c, int err, const char *what)
{
    snprintf(c->errstr, sizeof(c->errstr), "%s", what);
    return err;
}

static int conn_fail_errno(struct rl_conn *c, const char *what)
{
    snprintf(c->errstr, sizeof(c->errstr), "%s: %s", what, strerror(errno));
    return RINGLOG_ERR_TRANSPORT;
}

/* strerror(e) as it reads inside a sentence: "connection refused". */
static const char *reason(int e, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && (buf[1] < 'A' || buf[1] > 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

/* "cannot connect to HOST:PORT: connection refused": what a user is shown while it retries. */
static int conn_fail_connect(struct rl_conn *c, int e)
{
    char why[128];
    snprintf(c->errstr, sizeof(c->errstr), "cannot connect to %s: %s", c->peer,
             reason(e, why, sizeof(why)));
    return RINGLOG_ERR_TRANSPORT;
}

/*
 * The first answer on a connection is not a frame of the protocol: the
 * address is some other service (an HTTP server, the broker's metrics
 * port). Says so, with what the peer sent: its first line when it is text,
 * else its first bytes in hex.
 */
static int conn_fail_not_protocol(struct rl_conn *c)
{
    assert(!c->answered);
    char seen[64];
    size_t n = 0, avail = c->in_len < 40 ? c->in_len : 40;
    bool text = avail > 0;
    for (size_t i = 0; i < avail && text; i++)
        text = c->in[i] == '\r' || c->in[i] == '\n' || (c->in[i] >= 0x20 && c->in[i] < 0x7f);
    if (text) {
        while (n < avail && c->in[n] != '\r' && c->in[n] != '\n')
            n++;
        snprintf(seen, sizeof(seen), "\"%.*s\"", (int)n, (const char *)c->in);
    } else {
        for (size_t i = 0; i < avail && i < 8; i++)
            n += (size_t)snprintf(seen + n, sizeof(seen) - n, "%s%02x", i ? " " : "bytes ",
                                  c->in[i]);
        if (n == 0)
            snprintf(seen, sizeof(seen), "a malformed frame");
    }
    snprintf(c->errstr, sizeof(c->errstr),
             "%s does not speak the ringlog protocol (it answered %s); is it a broker's --listen "
             "address?",
             c->peer, seen);
    return RINGLOG_ERR_PROTOCOL;
}

static struct rl_conn *conn_alloc(int fd)
{
    struct rl_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in = malloc(READ_CHUNK);
    if (!c->in) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->next_correlation_id = 1;
    /* Leave room above the broker's default limit for a large fetch response. */
    rl_frame_decoder_init(&c->decoder, RL_FRAME_DEFAULT_MAX_BYTES + (1u << 20));
    return c;
}

/*
 * Resolves and starts a non-blocking connect on the first address that
 * accepts the attempt. Connects to 127.0.0.1 usually complete at once.
 */
int rl_conn_connect_start(const char *host, int port, struct rl_conn **out, char *errbuf,
                          size_t errlen)
{
    *out = NULL;
    if (!host || port <= 0 || port > 65535) {
        set_err(errbuf, errlen, "invalid address %s:%d%s", host ? host : "(null)", port, "");
        return RINGLOG_ERR_INVALID_ARG;
    }
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        set_err(errbuf, errlen, "cannot resolve %s:%d: %s", host, port, gai_strerror(gai));
        return RINGLOG_ERR_RESOLVE;
    }
    int last_errno = 0;
    int fd = -1;
    bool connected = false;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            connected = true;
            break;
        }
        if (errno == EINPROGRESS)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        char why[128];
        set_err(errbuf, errlen, "cannot connect to %s:%d: %s", host, port,
                reason(last_errno, why, sizeof(why)));
        return RINGLOG_ERR_TRANSPORT;
    }
    struct rl_conn *c = conn_alloc(fd);
    if (!c) {
        close(fd);
        set_err(errbuf, errlen, "out of memory connecting to %s:%d%s", host, port, "");
        return RINGLOG_ERR_NOMEM;
    }
    c->connected = connected;
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    *out = c;
    return RINGLOG_OK;
}

int rl_conn_connect_check(struct rl_conn *c)
{
    if (c->connected)
        return RINGLOG_OK;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return conn_fail_connect(c, errno);
    if (soerr != 0)
        return conn_fail_connect(c, soerr);
    c->connected = true;
    return RINGLOG_OK;
}

bool rl_conn_speaks_protocol(const struct rl_conn *c)
{
    return c->answered;
}

bool rl_conn_is_connected(const struct rl_conn *c)
{
    return c->connected;
}

/* Waits for events on the socket until deadline (< 0: none). 0 on timeout. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - rl_now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : n;
    }
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
}

int rl_conn_open(const char *host, int port, int timeout_ms, struct rl_conn **out, char *errbuf,
                 size_t errlen)
{
    int64_t deadline = deadline_of(timeout_ms);
    struct rl_conn *c;
    int err = rl_conn_connect_start(host, port, &c, errbuf, errlen);
    if (err)
        return err;
    if (!c->connected) {
        int n = wait_fd(c->fd, POLLOUT, deadline);
        if (n == 0) {
            set_err(errbuf, errlen, "cannot connect to %s:%d: %s", host, port, "timed out");
            rl_conn_close(c);
            return RINGLOG_ERR_TIMED_OUT;
        }
        if (rl_conn_connect_check(c) != RINGLOG_OK) {
            if (errbuf && errlen)
                snprintf(errbuf, errlen, "%s", c->errstr);
            rl_conn_close(c);
            return RINGLOG_ERR_TRANSPORT;
        }
    }
    *out = c;
    return RINGLOG_OK;
}

void rl_conn_close(struct rl_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    free(c->stage);
    rl_conn_sasl_free(c->sasl);
    if (c->fd >= 0)
        close(c->fd);
    rl_frame_decoder_destroy(&c->decoder);
    free(c->client_id);
    free(c->out);
    free(c->segs);
    free(c->in);
    free(c->awaiting);
    free(c);
}

int rl_conn_fd(const struct rl_conn *c)
{
    return c->fd;
}

const char *rl_conn_errstr(const struct rl_conn *c)
{
    return c->errstr;
}

void rl_conn_set_client_id(struct rl_conn *c, const char *client_id)
{
    free(c->client_id);
    c->client_id = client_id ? strdup(client_id) : NULL;
}

void rl_conn_set_max_frame(struct rl_conn *c, uint32_t max_frame_bytes)
{
    c->decoder.max_frame_bytes = max_frame_bytes;
}

/* Offset in out of the first owned byte still queued; out_len when there is none. */
static size_t out_first_owned(const struct rl_conn *c)
{
    for (size_t i = c->seg_head; i < c->seg_head + c->seg_count; i++)
        if (!c->segs[i].ext)
            return c->segs[i].off;
    return c->out_len;
}

/* Makes room for `more` bytes at the end of the output buffer, compacting first. */
static int out_reserve(struct rl_conn *c, size_t more)
{
    if (c->out_cap - c->out_len >= more)
        return RINGLOG_OK;
    size_t lo = out_first_owned(c);
    if (lo > 0 && (lo == c->out_len || lo > c->out_cap / 2)) {
        memmove(c->out, c->out + lo, c->out_len - lo);
        c->out_len -= lo;
        c->out_shift += lo;
        for (size_t i = c->seg_head; i < c->seg_head + c->seg_count; i++)
            if (!c->segs[i].ext)
                c->segs[i].off -= lo;
    }
    if (c->out_cap - c->out_len >= more)
        return RINGLOG_OK;
    size_t cap = c->out_cap ? c->out_cap : 64 * 1024;
    while (cap - c->out_len < more)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p)
        return conn_fail(c, RINGLOG_ERR_NOMEM, "out of memory");
    c->out = p;
    c->out_cap = cap;
    return RINGLOG_OK;
}

/* Queues len bytes: borrowed at ext, or (ext NULL) owned at out + off, merged with the last. */
static int seg_push(struct rl_conn *c, const uint8_t *ext, size_t off, size_t len)
{
    if (len == 0)
        return RINGLOG_OK;
    if (c->seg_count > 0) {
        struct out_seg *last = &c->segs[c->seg_head + c->seg_count - 1];
        if (!ext && !last->ext && last->off + last->len == off) {
            last->len += len;
            c->out_pending += len;
            return RINGLOG_OK;
        }
    }
    if (c->seg_head + c->seg_count == c->seg_cap) {
        if (c->seg_head > 0) {
            memmove(c->segs, c->segs + c->seg_head, c->seg_count * sizeof(*c->segs));
            c->seg_head = 0;
        } else {
            size_t cap = c->seg_cap ? c->seg_cap * 2 : 16;
            struct out_seg *segs = realloc(c->segs, cap * sizeof(*segs));
            if (!segs)
                return conn_fail(c, RINGLOG_ERR_NOMEM, "out of memory");
            c->segs = segs;
            c->seg_cap = cap;
        }
    }
    c->segs[c->seg_head + c->seg_count++] = (struct out_seg){.ext = ext, .off = off, .len = len};
    c->out_pending += len;
    return RINGLOG_OK;
}

/* Copies len bytes to the end of the output queue. */
static int out_copy(struct rl_conn *c, const void *bytes, size_t len)
{
    int err = out_reserve(c, len);
    if (err)
        return err;
    memcpy(c->out + c->out_len, bytes, len);
    c->out_len += len;
    return seg_push(c, NULL, c->out_len - len, len);
}

/* Drops n written bytes from the head of the output queue. */
static void out_consume(struct rl_conn *c, size_t n)
{
    assert(n <= c->out_pending);
    c->out_pending -= n;
    while (n > 0) {
        struct out_seg *s = &c->segs[c->seg_head];
        size_t k = n < s->len ? n : s->len;
        if (s->ext)
            s->ext += k;
        else
            s->off += k;
        s->len -= k;
        n -= k;
        if (s->len == 0) {
            c->seg_head++;
            c->seg_count--;
        }
    }
    if (c->seg_count == 0) {
        c->seg_head = 0;
        c->out_len = 0;
    }
}

static int awaiting_push(struct rl_conn *c, uint64_t id)
{
    if (c->awaiting_count == c->awaiting_cap) {
        size_t cap = c->awaiting_cap ? c->awaiting_cap * 2 : 16;
        uint64_t *a = malloc(cap * sizeof(*a));
        if (!a)
            return conn_fail(c, RINGLOG_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < c->awaiting_count; i++)
            a[i] = c->awaiting[(c->awaiting_head + i) % c->awaiting_cap];
        free(c->awaiting);
        c->awaiting = a;
        c->awaiting_cap = cap;
        c->awaiting_head = 0;
    }
    c->awaiting[(c->awaiting_head + c->awaiting_count) % c->awaiting_cap] = id;
    c->awaiting_count++;
    return RINGLOG_OK;
}

/* Where the output queue ended, to take back a request that could not be queued whole. */
struct out_mark {
    size_t seg_count, last_len, out_len, out_shift, out_pending;
};

static struct out_mark out_mark(const struct rl_conn *c)
{
    struct out_mark m = {.seg_count = c->seg_count,
                         .out_len = c->out_len,
                         .out_shift = c->out_shift,
                         .out_pending = c->out_pending};
    if (c->seg_count > 0)
        m.last_len = c->segs[c->seg_head + c->seg_count - 1].len;
    return m;
}

static void out_rollback(struct rl_conn *c, const struct out_mark *m)
{
    c->seg_count = m->seg_count;
    if (m->seg_count > 0)
        c->segs[c->seg_head + m->seg_count - 1].len = m->last_len;
    c->out_len = m->out_len - (c->out_shift - m->out_shift);
    c->out_pending = m->out_pending;
}

/* Packs a frame into the owned buffer. */
static int pack_copy(struct rl_conn *c, const ProtobufCMessage *msg, size_t size)
{
    int err = out_reserve(c, size);
    if (err)
        return err;
    rl_frame_write(msg, c->out + c->out_len);
    c->out_len += size;
    return seg_push(c, NULL, c->out_len - size, size);
}

/* protobuf-c's output sink for pack_borrowing. */
struct borrow_sink {
    ProtobufCBuffer base;
    struct rl_conn *c;
    const struct rl_span *spans;
    size_t nspans;
    int err;
};

static bool in_spans(const struct rl_span *spans, size_t n, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *lo = spans[i].data;
        if (p >= lo && len <= spans[i].len && (size_t)(p - lo) <= spans[i].len - len)
            return true;
    }
    return false;
}

static void borrow_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
    struct borrow_sink *bs = (struct borrow_sink *)buf;
    if (bs->err)
        return;
    if (len >= RL_CONN_BORROW_MIN_BYTES && in_spans(bs->spans, bs->nspans, data, len))
        bs->err = seg_push(bs->c, data, 0, len);
    else
        bs->err = out_copy(bs->c, data, len);
}

/*
 * Packs a frame without copying the borrowed spans: protobuf-c hands every
 * field's bytes to the sink, which queues a large `bytes` field lying in a
 * borrowed span by reference and copies everything else (tags, lengths,
 * small fields). A producer's request is mostly record batches, and this
 * saves copying each of them once more (the socket copies them anyway).
 */
static int pack_borrowing(struct rl_conn *c, const ProtobufCMessage *msg, size_t size,
                          const struct rl_span *spans, size_t nspans)
{
    uint8_t head[RL_FRAME_HEADER_BYTES];
    rl_frame_write_header(head, (uint32_t)(size - RL_FRAME_HEADER_BYTES));
    int err = out_copy(c, head, sizeof(head));
    if (err)
        return err;
    size_t before = c->out_pending;
    struct borrow_sink bs = {
        .base = {.append = borrow_append}, .c = c, .spans = spans, .nspans = nspans};
    protobuf_c_message_pack_to_buffer(msg, &bs.base);
    assert(bs.err || c->out_pending - before == size - RL_FRAME_HEADER_BYTES);
    (void)before;
    return bs.err;
}

int rl_conn_enqueue_borrowing(struct rl_conn *c, Ringlog__Request *req, bool expect_response,
                              const struct rl_span *borrow, size_t nborrow,
                              uint64_t *correlation_id)
{
    req->correlation_id = c->next_correlation_id++;
    if (req->api_version == 0)
        req->api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    char *saved_client_id = req->client_id;
    if ((!req->client_id || !req->client_id[0]) && c->client_id)
        req->client_id = c->client_id;
    size_t size = rl_frame_size(&req->base);
    int err = RINGLOG_OK;
    if (size - RL_FRAME_HEADER_BYTES > UINT32_MAX)
        err = conn_fail(c, RINGLOG_ERR_MSG_TOO_LARGE, "request larger than a frame");
    struct out_mark m = out_mark(c);
    if (!err)
        err = nborrow ? pack_borrowing(c, &req->base, size, borrow, nborrow)
                      : pack_copy(c, &req->base, size);
    if (!err && expect_response)
        err = awaiting_push(c, req->correlation_id);
    if (err)
        out_rollback(c, &m);
    else if (correlation_id)
        *correlation_id = req->correlation_id;
    req->client_id = saved_client_id;
    return err;
}

int rl_conn_enqueue(struct rl_conn *c, Ringlog__Request *req, bool expect_response,
                    uint64_t *correlation_id)
{
    return rl_conn_enqueue_borrowing(c, req, expect_response, NULL, 0, correlation_id);
}

int rl_conn_enqueue_raw(struct rl_conn *c, const void *bytes, size_t len)
{
    return out_copy(c, bytes, len);
}

size_t rl_conn_pending_out(const struct rl_conn *c)
{
    return c->out_pending + (c->stage_len - c->stage_off);
}

short rl_conn_poll_events(const struct rl_conn *c)
{
    if (!c->connected)
        return POLLIN | POLLOUT;
    if (c->ssl && !c->tls_ready)
        return c->tls_want;
    if (c->sasl) {
        size_t n;
        rl_conn_sasl_pending(c->sasl, &n);
        return n > 0 ? POLLIN | POLLOUT : POLLIN;
    }
    return rl_conn_pending_out(c) > 0 ? POLLIN | POLLOUT : POLLIN;
}

int rl_conn_use_sasl(struct rl_conn *c, const struct ringlog_conf *conf)
{
    assert(c->sasl == NULL);
    if (!conf->security_sasl)
        return RINGLOG_OK;
    c->sasl = rl_conn_sasl_new(conf);
    return c->sasl ? RINGLOG_OK : conn_fail(c, RINGLOG_ERR_NOMEM, "out of memory");
}

/* ---- TLS ---- */

int rl_conn_use_tls(struct rl_conn *c, const struct rl_tls *tls, const char *host)
{
    assert(c->ssl == NULL && c->out_pending == 0);
    if (!tls)
        return RINGLOG_OK;
    c->ssl = rl_tls_session(tls, c->fd, host);
    if (!c->ssl)
        return conn_fail(c, RINGLOG_ERR_NOMEM, "out of memory");
    c->tls_want = POLLOUT; /* the ClientHello goes first */
    return RINGLOG_OK;
}

/*
 * A TLS failure, said for a user: a failed handshake is a protocol error
 * (a retry will not help: a certificate, a CA or a broker without TLS).
 */
static int tls_fail(struct rl_conn *c, int ssl_error)
{
    char why[200];
    rl_tls_describe(c->ssl, ssl_error, why, sizeof(why));
    if (!c->tls_ready) {
        snprintf(c->errstr, sizeof(c->errstr), "TLS handshake with %s failed: %s", c->peer, why);
        return RINGLOG_ERR_PROTOCOL;
    }
    snprintf(c->errstr, sizeof(c->errstr), "TLS error from %s: %s", c->peer, why);
    return RINGLOG_ERR_TRANSPORT;
}

/* Advances the handshake: RINGLOG_OK when done or waiting (tls_want says for what). */
static int tls_handshake(struct rl_conn *c)
{
    if (c->tls_ready)
        return RINGLOG_OK;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_ready = true;
        return RINGLOG_OK;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        return tls_fail(c, e);
    c->tls_want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return RINGLOG_OK;
}

/* Moves up to TLS_STAGE_BYTES of the output queue into the stage: records of 16 KiB, not per
 * segment. */
static int stage_fill(struct rl_conn *c)
{
    assert(c->stage_off == c->stage_len && c->seg_count > 0);
    if (!c->stage && !(c->stage = malloc(TLS_STAGE_BYTES)))
        return conn_fail(c, RINGLOG_ERR_NOMEM, "out of memory");
    size_t n = 0;
    while (n < TLS_STAGE_BYTES && c->seg_count > 0) {
        const struct out_seg *sg = &c->segs[c->seg_head];
        size_t k = sg->len < TLS_STAGE_BYTES - n ? sg->len : TLS_STAGE_BYTES - n;
        memcpy(c->stage + n, sg->ext ? sg->ext : c->out + sg->off, k);
        n += k;
        out_consume(c, k);
    }
    c->stage_off = 0;
    c->stage_len = n;
    return RINGLOG_OK;
}

static int tls_write_some(struct rl_conn *c)
{
    int err = tls_handshake(c);
    if (err || !c->tls_ready)
        return err;
    for (;;) {
        if (c->stage_off == c->stage_len) {
            if (c->seg_count == 0)
                return RINGLOG_OK;
            if ((err = stage_fill(c)) != RINGLOG_OK)
                return err;
        }
        size_t w = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_write_ex(c->ssl, c->stage + c->stage_off, c->stage_len - c->stage_off, &w);
        if (r == 1) {
            c->stage_off += w;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            return RINGLOG_OK; /* the same bytes are offered again */
        return tls_fail(c, e);
    }
}

/* recv_some over TLS: plaintext bytes, 0 when none are there yet, or an error. */
static ssize_t tls_recv_some(struct rl_conn *c, uint8_t *buf, size_t len)
{
    int err = tls_handshake(c);
    if (err || !c->tls_ready)
        return err;
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(c->ssl, buf, len, &got);
    if (r == 1)
        return (ssize_t)got;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
        return conn_fail(c, RINGLOG_ERR_TRANSPORT, "connection closed by peer");
    return tls_fail(c, e);
}

/* Completes the handshake of a blocking helper, waiting for the socket as it asks. */
static int tls_ready_blocking(struct rl_conn *c, int64_t deadline)
{
    while (c->ssl && !c->tls_ready) {
        int err = tls_handshake(c);
        if (err || c->tls_ready)
            return err;
        int n = wait_fd(c->fd, c->tls_want, deadline);
        if (n == 0)
            return conn_fail(c, RINGLOG_ERR_TIMED_OUT, "TLS handshake timed out");
        if (n < 0)
            return conn_fail_errno(c, "poll");
    }
    return RINGLOG_OK;
}

size_t rl_conn_awaiting(const struct rl_conn *c)
{
    return c->awaiting_count;
}

/* Writes bytes once the TLS handshake (if any) is done: the count (0: not now), or an error. */
static ssize_t write_raw(struct rl_conn *c, const uint8_t *p, size_t len)
{
    if (c->ssl) {
        int err = tls_handshake(c);
        if (err || !c->tls_ready)
            return err;
        size_t w = 0;
        ERR_clear_error();
        int r = SSL_write_ex(c->ssl, p, len, &w);
        if (r == 1)
            return (ssize_t)w;
        int e = SSL_get_error(c->ssl, r);
        return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : tls_fail(c, e);
    }
    for (;;) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w >= 0)
            return w;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            return conn_fail_errno(c, "send");
    }
}

/* During SASL only the exchange's frames go out; the caller's wait. */
static int sasl_write_some(struct rl_conn *c)
{
    for (;;) {
        size_t len;
        const uint8_t *p = rl_conn_sasl_pending(c->sasl, &len);
        if (len == 0)
            return RINGLOG_OK;
        ssize_t w = write_raw(c, p, len);
        if (w <= 0)
            return (int)w;
        rl_conn_sasl_sent(c->sasl, (size_t)w);
    }
}

/* An answer to the SASL exchange: 1 (more to come, or done), or an error. */
static int sasl_take(struct rl_conn *c, Ringlog__Response *r)
{
    int st = rl_conn_sasl_answer(c->sasl, r, c->errstr, sizeof(c->errstr));
    rl_conn_response_free(r);
    if (st < 0)
        return st;
    if (st == 1) {
        rl_conn_sasl_free(c->sasl);
        c->sasl = NULL;
    }
    return 1;
}

int rl_conn_write_some(struct rl_conn *c)
{
    if (c->sasl)
        return sasl_write_some(c);
    if (c->ssl)
        return tls_write_some(c);
    while (c->seg_count > 0) {
        struct iovec iov[64];
        size_t n = 0;
        for (; n < c->seg_count && n < sizeof(iov) / sizeof(iov[0]); n++) {
            const struct out_seg *sg = &c->segs[c->seg_head + n];
            iov[n].iov_base = (void *)(sg->ext ? sg->ext : c->out + sg->off);
            iov[n].iov_len = sg->len;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return RINGLOG_OK;
            return conn_fail_errno(c, "send");
        }
        out_consume(c, (size_t)w);
    }
    return RINGLOG_OK;
}

/* One recv into buf: the byte count (> 0), 0 when nothing is there yet (EAGAIN), or an error. */
static ssize_t recv_some(struct rl_conn *c, uint8_t *buf, size_t len)
{
    if (c->ssl)
        return tls_recv_some(c, buf, len);
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n > 0)
            return n;
        if (n == 0 && !c->answered && c->awaiting_count > 0)
            return conn_fail(c, RINGLOG_ERR_TRANSPORT,
                             "connection closed by peer before any answer (a broker serving TLS "
                             "closes plaintext connections: --security-protocol tls)");
        if (n == 0)
            return conn_fail(c, RINGLOG_ERR_TRANSPORT, "connection closed by peer");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return conn_fail_errno(c, "recv");
    }
}

/*
 * Reads what the socket has. The rest of a large frame (a fetch response of
 * many batches) is received straight into the decoder's frame buffer, not
 * through the read buffer: that copy was a third of a consumer's CPU.
 */
int rl_conn_read_some(struct rl_conn *c)
{
    if (c->in_pos < c->in_len)
        return RINGLOG_OK; /* decode what we have first: frames point into this buffer */
    uint8_t *dst;
    size_t room = rl_frame_decoder_body_room(&c->decoder, &dst);
    if (room >= READ_DIRECT_MIN) {
        ssize_t n = recv_some(c, dst, room);
        if (n > 0)
            rl_frame_decoder_received(&c->decoder, (size_t)n);
        return n > 0 ? RINGLOG_OK : n == 0 ? 1 : (int)n;
    }
    ssize_t n = recv_some(c, c->in, READ_CHUNK);
    if (n <= 0)
        return n == 0 ? 1 : (int)n;
    c->in_pos = 0;
    c->in_len = (size_t)n;
    return RINGLOG_OK;
}

/*
 * A fetch response parsed in place: the Response and what it points to in
 * the arena, the records in the frame buffer taken over from the decoder.
 * Freed when the last of the I/O thread's reference and the consumer's
 * holds is dropped.
 */
struct rl_response_hold {
    Ringlog__Response resp; /* first: what callers see */
    struct rl_arena arena;
    uint8_t *frame;
    uint32_t frame_cap;
    atomic_uint refs;
};

/*
 * Frame buffers of released fetch responses, for the next large frames to
 * be received into: a fresh multi-MiB buffer per response costs as much in
 * page faults as the copy the in-place parse saves. Process-wide (a held
 * response may outlive its connection), at most FRAME_POOL buffers.
 */
enum { FRAME_POOL = 2 };
static pthread_mutex_t frame_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint8_t *buf;
    uint32_t cap;
} frame_pool[FRAME_POOL];

static void frame_pool_put(uint8_t *buf, uint32_t cap)
{
    pthread_mutex_lock(&frame_pool_lock);
    for (int i = 0; i < FRAME_POOL && buf; i++) {
        if (!frame_pool[i].buf) {
            frame_pool[i].buf = buf;
            frame_pool[i].cap = cap;
            buf = NULL;
        }
    }
    pthread_mutex_unlock(&frame_pool_lock);
    free(buf);
}

static void frame_pool_give(struct rl_frame_decoder *d)
{
    pthread_mutex_lock(&frame_pool_lock);
    for (int i = 0; i < FRAME_POOL; i++) {
        if (frame_pool[i].buf &&
            rl_frame_decoder_give_buffer(d, frame_pool[i].buf, frame_pool[i].cap)) {
            frame_pool[i].buf = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&frame_pool_lock);
}

/* Marks a Response as the first member of an rl_response_hold (never dereferenced). */
static ProtobufCMessageUnknownField held_marker;

enum { HELD_ARENA_CHUNK = 4096, HELD_ARENA_LIMIT = 16u << 20 };

/*
 * A frame reassembled in the decoder's buffer (a large response) that is a
 * fetch response is parsed in place and its buffer kept; anything else, or
 * a frame that lies in the read buffer, is left to protobuf-c (NULL).
 */
static Ringlog__Response *take_fetch_in_place(struct rl_conn *c, const uint8_t *frame,
                                              size_t frame_len)
{
    if (frame != c->decoder.body)
        return NULL;
    struct rl_response_hold *h = malloc(sizeof(*h));
    if (!h)
        return NULL;
    rl_arena_init(&h->arena, HELD_ARENA_CHUNK, HELD_ARENA_LIMIT);
    if (rl_fetch_response_parse(frame, frame_len, &h->arena, &h->resp) != RL_FETCH_PARSE_OK) {
        rl_arena_destroy(&h->arena);
        free(h);
        return NULL;
    }
    h->frame_cap = c->decoder.body_cap;
    h->frame = rl_frame_decoder_take_frame(&c->decoder, frame);
    frame_pool_give(&c->decoder);
    atomic_init(&h->refs, 1);
    h->resp.base.unknown_fields = &held_marker;
    return &h->resp;
}

struct rl_response_hold *rl_conn_response_hold(Ringlog__Response *resp)
{
    if (!resp || resp->base.unknown_fields != &held_marker)
        return NULL;
    struct rl_response_hold *h = (struct rl_response_hold *)resp;
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    return h;
}

void rl_conn_response_release(struct rl_response_hold *h)
{
    if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    rl_arena_destroy(&h->arena);
    frame_pool_put(h->frame, h->frame_cap);
    free(h);
}

int rl_conn_take_response(struct rl_conn *c, Ringlog__Response **resp)
{
    const uint8_t *in = c->in + c->in_pos;
    size_t in_len = c->in_len - c->in_pos;
    const uint8_t *frame;
    size_t frame_len;
    int st = rl_frame_decoder_next(&c->decoder, &in, &in_len, &frame, &frame_len);
    c->in_pos = c->in_len - in_len;
    if (st == RL_NEED_MORE)
        return 1;
    if (st != RL_OK && !c->answered)
        return conn_fail_not_protocol(c);
    if (st != RL_OK) {
        snprintf(c->errstr, sizeof(c->errstr), "bad frame from broker: %s", rl_status_str(st));
        return RINGLOG_ERR_PROTOCOL;
    }
    Ringlog__Response *r = take_fetch_in_place(c, frame, frame_len);
    if (!r)
        r = rl_response_decode(frame, frame_len, NULL, &st);
    if (!r && !c->answered)
        return conn_fail_not_protocol(c);
    if (!r)
        return conn_fail(c, RINGLOG_ERR_PROTOCOL, "undecodable response from broker");
    c->answered = true;
    if (c->sasl && rl_conn_sasl_owns(c->sasl, r))
        return sasl_take(c, r);
    if (c->awaiting_count > 0) {
        uint64_t want = c->awaiting[c->awaiting_head];
        if (r->correlation_id != want) {
            snprintf(c->errstr, sizeof(c->errstr), "response correlation id %llu, expected %llu",
                     (unsigned long long)r->correlation_id, (unsigned long long)want);
            rl_conn_response_free(r);
            return RINGLOG_ERR_PROTOCOL;
        }
        c->awaiting_head = (c->awaiting_head + 1) % c->awaiting_cap;
        c->awaiting_count--;
    }
    *resp = r;
    return RINGLOG_OK;
}

void rl_conn_response_free(Ringlog__Response *resp)
{
    if (resp && resp->base.unknown_fields == &held_marker)
        rl_conn_response_release((struct rl_response_hold *)resp);
    else if (resp)
        ringlog__response__free_unpacked(resp, NULL);
}

/* Runs the SASL exchange of a blocking helper to its end. */
static int sasl_ready_blocking(struct rl_conn *c, int64_t deadline)
{
    while (c->sasl) {
        int err = rl_conn_write_some(c);
        if (err)
            return err;
        size_t left;
        rl_conn_sasl_pending(c->sasl, &left);
        short ev = c->ssl && !c->tls_ready ? c->tls_want : left > 0 ? POLLOUT : POLLIN;
        int n = wait_fd(c->fd, ev, deadline);
        if (n == 0)
            return conn_fail(c, RINGLOG_ERR_TIMED_OUT, "SASL authentication timed out");
        if (n < 0)
            return conn_fail_errno(c, "poll");
        if (ev != POLLIN)
            continue;
        if ((err = rl_conn_read_some(c)) < 0)
            return err;
        Ringlog__Response *r;
        int st;
        while (c->sasl && (st = rl_conn_take_response(c, &r)) != 1) {
            if (st < 0)
                return st;
            rl_conn_response_free(r); /* nothing else was asked yet */
        }
    }
    return RINGLOG_OK;
}

/* Writes the whole output buffer, waiting for the socket as needed. */
static int flush_blocking(struct rl_conn *c, int64_t deadline)
{
    int tls_err = tls_ready_blocking(c, deadline);
    if (!tls_err)
        tls_err = sasl_ready_blocking(c, deadline);
    if (tls_err)
        return tls_err;
    while (rl_conn_pending_out(c) > 0) {
        int err = rl_conn_write_some(c);
        if (err)
            return err;
        if (rl_conn_pending_out(c) == 0)
            break;
        int n = wait_fd(c->fd, POLLOUT, deadline);
        if (n == 0)
            return conn_fail(c, RINGLOG_ERR_TIMED_OUT, "send timed out");
        if (n < 0)
            return conn_fail_errno(c, "poll");
    }
    return RINGLOG_OK;
}

int rl_conn_send(struct rl_conn *c, Ringlog__Request *req, int timeout_ms)
{
    int err = rl_conn_enqueue(c, req, true, NULL);
    return err ? err : flush_blocking(c, deadline_of(timeout_ms));
}

int rl_conn_send_raw(struct rl_conn *c, const void *bytes, size_t len, int timeout_ms)
{
    int err = rl_conn_enqueue_raw(c, bytes, len);
    return err ? err : flush_blocking(c, deadline_of(timeout_ms));
}

static int recv_until(struct rl_conn *c, Ringlog__Response **resp, int64_t deadline)
{
    int tls_err = tls_ready_blocking(c, deadline);
    if (!tls_err)
        tls_err = sasl_ready_blocking(c, deadline);
    if (tls_err)
        return tls_err;
    for (;;) {
        int st = rl_conn_take_response(c, resp);
        if (st <= 0)
            return st;
        int n = wait_fd(c->fd, POLLIN, deadline);
        if (n == 0 && !c->answered) {
            snprintf(c->errstr, sizeof(c->errstr),
                     "%s accepted the connection but sent no answer in time; is it a broker's "
                     "--listen address?",
                     c->peer);
            return RINGLOG_ERR_TIMED_OUT;
        }
        if (n == 0)
            return conn_fail(c, RINGLOG_ERR_TIMED_OUT, "no response in time");
        if (n < 0)
            return conn_fail_errno(c, "poll");
        int err = rl_conn_read_some(c);
        if (err < 0)
            return err;
    }
}

int rl_conn_recv(struct rl_conn *c, Ringlog__Response **resp, int timeout_ms)
{
    *resp = NULL;
    int64_t deadline = deadline_of(timeout_ms);
    /* Anything still queued (e.g. after rl_conn_enqueue) must go out first. */
    int err = flush_blocking(c, deadline);
    return err ? err : recv_until(c, resp, deadline);
}

int rl_conn_call(struct rl_conn *c, Ringlog__Request *req, Ringlog__Response **resp, int timeout_ms)
{
    *resp = NULL;
    int64_t deadline = deadline_of(timeout_ms);
    int err = rl_conn_enqueue(c, req, true, NULL);
    if (!err)
        err = flush_blocking(c, deadline);
    if (!err)
        err = recv_until(c, resp, deadline);
    return err;
}

int rl_conn_wait_closed(struct rl_conn *c, int timeout_ms)
{
    int64_t deadline = deadline_of(timeout_ms);
    for (;;) {
        int n = wait_fd(c->fd, POLLIN, deadline);
        if (n == 0)
            return RINGLOG_ERR_TIMED_OUT;
        if (n < 0)
            return RINGLOG_OK;
        ssize_t r = recv(c->fd, c->in, READ_CHUNK, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK))
            return RINGLOG_OK;
    }
}
