#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

enum {
    READ_CHUNK = 256 * 1024,
    ERRSTR_BYTES = 256,
};

struct rl_conn {
    int fd;
    bool connected;
    uint64_t next_correlation_id;
    char *client_id;

    /* Output: bytes [out_head, out_len) are still to be written. */
    uint8_t *out;
    size_t out_head, out_len, out_cap;

    /* Input: bytes [in_pos, in_len) were read and not yet given to the decoder. */
    uint8_t *in;
    size_t in_pos, in_len;
    struct rl_frame_decoder decoder;

    /* Correlation ids of requests that expect a response, oldest first (a ring). */
    uint64_t *awaiting;
    size_t awaiting_head, awaiting_count, awaiting_cap;

    char errstr[ERRSTR_BYTES];
};

int64_t rl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
        set_err(errbuf, errlen, "cannot connect to %s:%d: %s", host, port, strerror(last_errno));
        return RINGLOG_ERR_TRANSPORT;
    }
    struct rl_conn *c = conn_alloc(fd);
    if (!c) {
        close(fd);
        set_err(errbuf, errlen, "out of memory connecting to %s:%d%s", host, port, "");
        return RINGLOG_ERR_NOMEM;
    }
    c->connected = connected;
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
        return conn_fail_errno(c, "connect");
    if (soerr != 0) {
        errno = soerr;
        return conn_fail_errno(c, "connect");
    }
    c->connected = true;
    return RINGLOG_OK;
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
            set_err(errbuf, errlen, "connect to %s:%d timed out%s", host, port, "");
            rl_conn_close(c);
            return RINGLOG_ERR_TIMED_OUT;
        }
        if (rl_conn_connect_check(c) != RINGLOG_OK) {
            set_err(errbuf, errlen, "%s:%d: %s", host, port, c->errstr);
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
    if (c->fd >= 0)
        close(c->fd);
    rl_frame_decoder_destroy(&c->decoder);
    free(c->client_id);
    free(c->out);
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

/* Makes room for `more` bytes at the end of the output buffer, compacting first. */
static int out_reserve(struct rl_conn *c, size_t more)
{
    if (c->out_head > 0 && (c->out_head == c->out_len || c->out_head > c->out_cap / 2)) {
        memmove(c->out, c->out + c->out_head, c->out_len - c->out_head);
        c->out_len -= c->out_head;
        c->out_head = 0;
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

int rl_conn_enqueue(struct rl_conn *c, Ringlog__Request *req, bool expect_response,
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
    if (!err)
        err = out_reserve(c, size);
    if (!err && expect_response)
        err = awaiting_push(c, req->correlation_id);
    if (!err) {
        rl_frame_write(&req->base, c->out + c->out_len);
        c->out_len += size;
        if (correlation_id)
            *correlation_id = req->correlation_id;
    }
    req->client_id = saved_client_id;
    return err;
}

int rl_conn_enqueue_raw(struct rl_conn *c, const void *bytes, size_t len)
{
    int err = out_reserve(c, len);
    if (err)
        return err;
    memcpy(c->out + c->out_len, bytes, len);
    c->out_len += len;
    return RINGLOG_OK;
}

size_t rl_conn_pending_out(const struct rl_conn *c)
{
    return c->out_len - c->out_head;
}

size_t rl_conn_awaiting(const struct rl_conn *c)
{
    return c->awaiting_count;
}

int rl_conn_write_some(struct rl_conn *c)
{
    while (c->out_head < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_head, c->out_len - c->out_head, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return RINGLOG_OK;
            return conn_fail_errno(c, "send");
        }
        c->out_head += (size_t)n;
    }
    c->out_head = c->out_len = 0;
    return RINGLOG_OK;
}

int rl_conn_read_some(struct rl_conn *c)
{
    if (c->in_pos < c->in_len)
        return RINGLOG_OK; /* decode what we have first: frames point into this buffer */
    for (;;) {
        ssize_t n = recv(c->fd, c->in, READ_CHUNK, 0);
        if (n > 0) {
            c->in_pos = 0;
            c->in_len = (size_t)n;
            return RINGLOG_OK;
        }
        if (n == 0)
            return conn_fail(c, RINGLOG_ERR_TRANSPORT, "connection closed by peer");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        return conn_fail_errno(c, "recv");
    }
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
    if (st != RL_OK) {
        snprintf(c->errstr, sizeof(c->errstr), "bad frame from broker: %s", rl_status_str(st));
        return RINGLOG_ERR_PROTOCOL;
    }
    Ringlog__Response *r = rl_response_decode(frame, frame_len, NULL, &st);
    if (!r)
        return conn_fail(c, RINGLOG_ERR_PROTOCOL, "undecodable response from broker");
    if (c->awaiting_count > 0) {
        uint64_t want = c->awaiting[c->awaiting_head];
        if (r->correlation_id != want) {
            snprintf(c->errstr, sizeof(c->errstr), "response correlation id %llu, expected %llu",
                     (unsigned long long)r->correlation_id, (unsigned long long)want);
            ringlog__response__free_unpacked(r, NULL);
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
    if (resp)
        ringlog__response__free_unpacked(resp, NULL);
}

/* Writes the whole output buffer, waiting for the socket as needed. */
static int flush_blocking(struct rl_conn *c, int64_t deadline)
{
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
    for (;;) {
        int st = rl_conn_take_response(c, resp);
        if (st <= 0)
            return st;
        int n = wait_fd(c->fd, POLLIN, deadline);
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
