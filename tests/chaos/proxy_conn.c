/*
 * One proxied connection: a non-blocking connect upstream, the first frame
 * read to tell a peer link from a client, then bytes carried both ways
 * through per-direction queues where delays hold them, cuts stop them and
 * flaky links reset the connection. Half-closes are passed on.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy_internal.h"
#include "ringlog.pb-c.h"

struct link_state conn_fault(const struct proxy *p, const struct pconn *c, int d)
{
    struct link_state ok = {LINK_OK, 0};
    if (!c->peer)
        return ok;
    /* Direction 0 carries node from's bytes to node to; direction 1 the answer. */
    return d == 0 ? p->now[c->from][c->to] : p->now[c->to][c->from];
}

static void queue_free(struct dirq *q)
{
    while (q->head) {
        struct chunk *next = q->head->next;
        free(q->head);
        q->head = next;
    }
    memset(q, 0, sizeof(*q));
}

void conn_close(struct pconn *c)
{
    assert(c->used);
    for (int d = 0; d < 2; d++) {
        if (c->fd[d] >= 0)
            close(c->fd[d]);
        queue_free(&c->q[d]);
    }
    free(c->first);
    memset(c, 0, sizeof(*c));
}

void conn_open(struct proxy *p, int accepted, int from, int to)
{
    struct pconn *c = NULL;
    for (int i = 0; i < PROXY_MAX_CONNS && !c; i++)
        if (!p->conns[i].used)
            c = &p->conns[i];
    int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!c || up < 0) {
        close(accepted);
        if (up >= 0)
            close(up);
        return;
    }
    int one = 1;
    setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(p->upstream[to])};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(up, (struct sockaddr *)&addr, sizeof(addr));
    memset(c, 0, sizeof(*c));
    c->used = true;
    c->fd[0] = accepted;
    c->fd[1] = up;
    c->from = from;
    c->to = to;
    c->connecting = rc != 0;
    c->reset_seen = p->resets_now[from < to ? from : to][from < to ? to : from];
    if (rc != 0 && errno != EINPROGRESS)
        conn_close(c);
}

/* Decides peer or client from the first frame once it is whole (PeerHello is the first). */
static void classify(struct pconn *c, const unsigned char *buf, size_t n)
{
    size_t room = PROXY_CLASSIFY_MAX - c->first_len;
    unsigned char *grown = realloc(c->first, c->first_len + (n < room ? n : room) + 1);
    assert(grown);
    c->first = grown;
    memcpy(c->first + c->first_len, buf, n < room ? n : room);
    c->first_len += n < room ? n : room;
    if (c->first_len < 4)
        return;
    uint32_t len = ((uint32_t)c->first[0] << 24) | ((uint32_t)c->first[1] << 16) |
                   ((uint32_t)c->first[2] << 8) | c->first[3];
    if (len + 4 > PROXY_CLASSIFY_MAX) {
        c->classified = true;
    } else if (c->first_len >= len + 4) {
        Ringlog__Request *req = ringlog__request__unpack(NULL, len, c->first + 4);
        c->peer = req && req->body_case == RINGLOG__REQUEST__BODY_PEER_HELLO;
        if (req)
            ringlog__request__free_unpacked(req, NULL);
        c->classified = true;
    }
    if (c->classified) {
        free(c->first);
        c->first = NULL;
    }
}

static bool may_read(const struct proxy *p, const struct pconn *c, int d)
{
    if (c->q[d].eof || c->q[d].bytes >= PROXY_QUEUE_MAX || c->fd[d] < 0)
        return false;
    if (d == 1 && c->connecting)
        return false;
    return conn_fault(p, c, d).fault != LINK_CUT;
}

/* Bytes of direction d that may go out now (not before they are due, not across a cut). */
static bool may_write(const struct proxy *p, const struct pconn *c, int d, int64_t now)
{
    const struct dirq *q = &c->q[d];
    if (!q->head || (d == 0 && (c->connecting || !c->classified)))
        return false;
    return q->head->due_ms <= now && conn_fault(p, c, d).fault != LINK_CUT;
}

void conn_events(const struct proxy *p, const struct pconn *c, short ev[2], int64_t *wake_ms)
{
    int64_t now = chaos_now_ms();
    ev[0] = ev[1] = 0;
    if (c->connecting)
        ev[1] |= POLLOUT;
    for (int d = 0; d < 2; d++) {
        if (may_read(p, c, d))
            ev[d] |= POLLIN;
        if (may_write(p, c, d, now))
            ev[!d] |= POLLOUT;
        else if (c->q[d].head && c->q[d].head->due_ms > now && c->q[d].head->due_ms < *wake_ms)
            *wake_ms = c->q[d].head->due_ms;
    }
}

/* Reads what fd[d] has into the queue of direction d; false when the connection must go. */
static bool read_dir(struct proxy *p, struct pconn *c, int d)
{
    unsigned char buf[65536];
    ssize_t n = recv(c->fd[d], buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0) {
        c->q[d].eof = true;
        return true;
    }
    if (d == 0 && !c->classified)
        classify(c, buf, (size_t)n);
    struct link_state f = conn_fault(p, c, d);
    if (f.fault == LINK_FLAKY && (int)test_rng_below(&p->rng, 1000) < f.arg) {
        atomic_fetch_add(&p->flaky_resets, 1);
        return false;
    }
    struct chunk *k = malloc(sizeof(*k) + (size_t)n);
    assert(k);
    int64_t due = chaos_now_ms() + (f.fault == LINK_DELAY ? f.arg : 0);
    if (c->q[d].tail && c->q[d].tail->due_ms > due)
        due = c->q[d].tail->due_ms; /* order kept */
    *k = (struct chunk){.due_ms = due, .len = (size_t)n};
    memcpy(k->data, buf, (size_t)n);
    if (c->q[d].tail)
        c->q[d].tail->next = k;
    else
        c->q[d].head = k;
    c->q[d].tail = k;
    c->q[d].bytes += (size_t)n;
    return true;
}

/* Writes due bytes of direction d to fd[!d]; false when the connection must go. */
static bool write_dir(const struct proxy *p, struct pconn *c, int d)
{
    struct dirq *q = &c->q[d];
    int64_t now = chaos_now_ms();
    while (may_write(p, c, d, now)) {
        struct chunk *k = q->head;
        ssize_t n = send(c->fd[!d], k->data + k->off, k->len - k->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        k->off += (size_t)n;
        q->bytes -= (size_t)n;
        if (k->off < k->len)
            return true;
        q->head = k->next;
        if (!q->head)
            q->tail = NULL;
        free(k);
    }
    return true;
}

/* Passes a half-close on once its direction is drained; true when both are done. */
static bool pass_eof(struct pconn *c)
{
    for (int d = 0; d < 2; d++) {
        if (c->q[d].eof && !c->q[d].head && !c->q[d].shut && !c->connecting) {
            shutdown(c->fd[!d], SHUT_WR);
            c->q[d].shut = true;
        }
    }
    return c->q[0].shut && c->q[1].shut;
}

void conn_ready(struct proxy *p, struct pconn *c, const short rev[2])
{
    assert(c->used);
    if (c->connecting && (rev[1] & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            conn_close(c);
            return;
        }
        c->connecting = false;
    }
    bool ok = true;
    for (int d = 0; d < 2 && ok; d++) {
        /* A hang-up that cannot be read (a cut) ends the connection: poll would repeat it. */
        if (rev[d] & POLLERR)
            ok = false;
        else if (rev[d] & (POLLIN | POLLHUP))
            ok = may_read(p, c, d) ? read_dir(p, c, d) : !(rev[d] & POLLHUP);
        if (ok)
            ok = write_dir(p, c, d);
    }
    if (!ok || pass_eof(c))
        conn_close(c);
}
