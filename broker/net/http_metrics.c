#include "http_metrics.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "listener.h"
#include "metrics_text.h"
#include "server.h"
#include "shard.h"

enum { HTTP_REQUEST_MAX = 4096 };

struct http_conn {
    struct rl_completion recv_done;
    struct rl_completion send_done;
    struct shard *shard;
    int fd;
    char in[HTTP_REQUEST_MAX];
    size_t in_len;
    char *out;
    size_t out_len, out_sent;
};

static void http_close(struct http_conn *h)
{
    close(h->fd);
    free(h->out);
    free(h);
}

static void arm_recv(struct http_conn *h)
{
    struct io_uring_sqe *sqe = loop_sqe(&h->shard->loop);
    io_uring_prep_recv(sqe, h->fd, h->in + h->in_len, sizeof(h->in) - 1 - h->in_len, 0);
    io_uring_sqe_set_data(sqe, &h->recv_done);
}

static void arm_send(struct http_conn *h)
{
    struct io_uring_sqe *sqe = loop_sqe(&h->shard->loop);
    io_uring_prep_send(sqe, h->fd, h->out + h->out_sent, h->out_len - h->out_sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, &h->send_done);
}

static void on_send(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct http_conn *h = rl_container_of(c, struct http_conn, send_done);
    if (res <= 0) {
        http_close(h);
        return;
    }
    h->out_sent += (size_t)res;
    if (h->out_sent < h->out_len)
        arm_send(h);
    else
        http_close(h);
}

static void respond(struct http_conn *h, const char *status, const char *type, const char *body,
                    size_t body_len)
{
    size_t cap = body_len + 256;
    h->out = malloc(cap);
    if (!h->out) {
        http_close(h);
        return;
    }
    int n = snprintf(h->out, cap,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, body_len);
    memcpy(h->out + n, body, body_len);
    h->out_len = (size_t)n + body_len;
    arm_send(h);
}

/*
 * Whether the bytes so far can start an HTTP request line ("GET /..."): a
 * method of up to 16 capital letters, then a space. Anything else (a
 * ringlog client pointed at this port by mistake sends a binary frame) is
 * answered at once, so that client fails fast instead of waiting for a
 * header end that never comes.
 */
static bool may_be_http(const char *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (in[i] == ' ')
            return i > 0;
        if (in[i] < 'A' || in[i] > 'Z' || i == 16)
            return false;
    }
    return true;
}

static bool is_get(const char *in, const char *path)
{
    size_t n = strlen(path);
    return strncmp(in, "GET ", 4) == 0 && strncmp(in + 4, path, n) == 0 &&
           (in[4 + n] == ' ' || in[4 + n] == '?');
}

/* GET /health: 200 "ready" once every shard serves, 503 while starting or stopping. */
static void respond_health(struct http_conn *h)
{
    struct server *srv = h->shard->srv;
    assert(srv);
    bool ready = !atomic_load(&srv->stopping) &&
                 atomic_load(&srv->shards_serving) == srv->nshards &&
                 atomic_load(&srv->shards_failed) == 0;
    const char *body = ready ? "ready\n" : "not ready\n";
    respond(h, ready ? "200 OK" : "503 Service Unavailable", "text/plain", body, strlen(body));
}

static void respond_metrics(struct http_conn *h)
{
    size_t len;
    char *body = metrics_render(h->shard->srv, &len);
    if (!body) {
        const char *msg = "out of memory\n";
        respond(h, "500 Internal Server Error", "text/plain", msg, strlen(msg));
        return;
    }
    respond(h, "200 OK", "text/plain; version=0.0.4", body, len);
    free(body);
}

static void on_recv(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct http_conn *h = rl_container_of(c, struct http_conn, recv_done);
    if (res <= 0) {
        http_close(h);
        return;
    }
    h->in_len += (size_t)res;
    assert(h->in_len < sizeof(h->in));
    h->in[h->in_len] = '\0';
    if (!may_be_http(h->in, h->in_len)) {
        const char *msg = "not an HTTP request: this is ringlogd's metrics port (GET /metrics, "
                          "GET /health); clients connect to the --listen port\n";
        respond(h, "400 Bad Request", "text/plain", msg, strlen(msg));
        return;
    }
    if (!strstr(h->in, "\r\n\r\n") && !strstr(h->in, "\n\n")) {
        if (h->in_len >= sizeof(h->in) - 1) {
            const char *msg = "request too large\n";
            respond(h, "431 Request Header Fields Too Large", "text/plain", msg, strlen(msg));
        } else {
            arm_recv(h);
        }
        return;
    }
    if (is_get(h->in, "/metrics")) {
        respond_metrics(h);
    } else if (is_get(h->in, "/health")) {
        respond_health(h);
    } else {
        const char *msg = "not found: try GET /metrics or GET /health\n";
        respond(h, "404 Not Found", "text/plain", msg, strlen(msg));
    }
}

static void on_accept(struct rl_completion *c, int32_t res, uint32_t flags)
{
    struct shard *s = rl_container_of(c, struct shard, metrics_accept_done);
    if (res >= 0) {
        struct http_conn *h = calloc(1, sizeof(*h));
        if (!h) {
            close(res);
        } else {
            h->shard = s;
            h->fd = res;
            h->recv_done.on_complete = on_recv;
            h->send_done.on_complete = on_send;
            arm_recv(h);
        }
    } else if (res != -ECANCELED) {
        DIAG_WARN("metrics accept: %s", strerror(-res));
    }
    if (flags & IORING_CQE_F_MORE)
        return;
    s->metrics_accepting = false;
    if (!s->stopping)
        http_metrics_arm(s);
    else
        listener_close_fd(&s->metrics_fd);
}

void http_metrics_arm(struct shard *s)
{
    s->metrics_accept_done.on_complete = on_accept;
    struct io_uring_sqe *sqe = loop_sqe(&s->loop);
    io_uring_prep_multishot_accept(sqe, s->metrics_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &s->metrics_accept_done);
    s->metrics_accepting = true;
}
