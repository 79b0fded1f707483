#include "listener.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "diag.h"
#include "server.h"
#include "shard.h"

void listener_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static bool at_capacity(const struct shard *s)
{
    return s->conn_count >= s->srv->cfg.max_connections / (uint32_t)s->srv->nshards + 1;
}

static void on_accept(struct rl_completion *c, int32_t res, uint32_t flags)
{
    struct shard *s = rl_container_of(c, struct shard, accept_done);
    assert(s == shard_current());
    if (!(flags & IORING_CQE_F_MORE))
        s->accepting = false;
    if (res >= 0) {
        if (s->stopping || at_capacity(s)) {
            metrics_add(&s->metrics.connections_rejected, 1);
            close(res);
        } else {
            conn_open(s, res);
        }
    } else if (res != -ECANCELED) {
        DIAG_WARN("accept: %s", strerror(-res));
    }
    if (!s->accepting && !s->stopping)
        listener_arm(s);
    else if (!s->accepting)
        listener_close_fd(&s->listen_fd);
}

void listener_arm(struct shard *s)
{
    assert(s->listen_fd >= 0 && !s->accepting);
    s->accept_done.on_complete = on_accept;
    struct io_uring_sqe *sqe = loop_sqe(&s->loop);
    io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &s->accept_done);
    s->accepting = true;
}

static void cancel_accept(struct shard *s, struct rl_completion *accept)
{
    struct io_uring_sqe *sqe = loop_sqe(&s->loop);
    io_uring_prep_cancel(sqe, accept, 0);
    io_uring_sqe_set_data(sqe, NULL);
}

void listener_stop(struct shard *s)
{
    assert(s->stopping);
    if (s->accepting)
        cancel_accept(s, &s->accept_done);
    else
        listener_close_fd(&s->listen_fd);
    if (s->metrics_accepting)
        cancel_accept(s, &s->metrics_accept_done);
    else
        listener_close_fd(&s->metrics_fd);
}
