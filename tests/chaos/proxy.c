/*
 * The proxy's thread: listeners per ordered pair of nodes, one poll() over
 * them and every connection, faults copied from what the nemesis set at
 * the top of each turn (so a turn sees one consistent picture).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy_internal.h"

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Copies the nemesis's settings and closes peer connections of pairs it asked to reset. */
static void take_settings(struct proxy *p)
{
    pthread_mutex_lock(&p->lock);
    memcpy(p->now, p->links, sizeof(p->now));
    memcpy(p->resets_now, p->resets, sizeof(p->resets_now));
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < PROXY_MAX_CONNS; i++) {
        struct pconn *c = &p->conns[i];
        if (!c->used || !c->peer)
            continue;
        int lo = c->from < c->to ? c->from : c->to, hi = c->from ^ c->to ^ lo;
        if (c->reset_seen != p->resets_now[lo][hi])
            conn_close(c);
    }
}

static void accept_all(struct proxy *p, int from, int to)
{
    for (int n = 0; n < 16; n++) {
        int fd = accept4(p->listen_fd[from][to], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        conn_open(p, fd, from, to);
    }
}

/* One turn: poll every listener and connection, then act on what is ready. */
static void turn(struct proxy *p)
{
    struct pollfd fds[CHAOS_NODES * CHAOS_NODES + 2 * PROXY_MAX_CONNS];
    int nf = 0;
    int64_t wake = chaos_now_ms() + 20;
    take_settings(p);
    for (int i = 0; i < CHAOS_NODES; i++)
        for (int j = 0; j < CHAOS_NODES; j++)
            if (i != j)
                fds[nf++] = (struct pollfd){.fd = p->listen_fd[i][j], .events = POLLIN};
    for (int i = 0; i < PROXY_MAX_CONNS; i++) {
        struct pconn *c = &p->conns[i];
        short ev[2] = {0, 0};
        if (c->used)
            conn_events(p, c, ev, &wake);
        for (int d = 0; d < 2; d++)
            fds[nf++] = (struct pollfd){.fd = c->used ? c->fd[d] : -1, .events = ev[d]};
    }
    int64_t wait = wake - chaos_now_ms();
    if (poll(fds, (nfds_t)nf, wait > 0 ? (int)wait : 0) < 0)
        return;
    int k = 0;
    for (int i = 0; i < CHAOS_NODES; i++)
        for (int j = 0; j < CHAOS_NODES; j++)
            if (i != j && (fds[k++].revents & POLLIN))
                accept_all(p, i, j);
    for (int i = 0; i < PROXY_MAX_CONNS; i++, k += 2) {
        struct pconn *c = &p->conns[i];
        short rev[2] = {fds[k].revents, fds[k + 1].revents};
        if (c->used && fds[k].fd == c->fd[0])
            conn_ready(p, c, rev);
    }
}

static void *proxy_main(void *arg)
{
    struct proxy *p = arg;
    while (!atomic_load(&p->stop))
        turn(p);
    return NULL;
}

struct proxy *proxy_start(const uint16_t upstream[CHAOS_NODES], uint64_t seed)
{
    struct proxy *p = calloc(1, sizeof(*p));
    assert(p);
    p->rng.state = seed ^ 0x70726f7879ull;
    pthread_mutex_init(&p->lock, NULL);
    memcpy(p->upstream, upstream, sizeof(p->upstream));
    for (int i = 0; i < CHAOS_NODES; i++) {
        for (int j = 0; j < CHAOS_NODES; j++) {
            p->listen_fd[i][j] = i == j ? -1 : listen_any(&p->port[i][j]);
            if (i != j && p->listen_fd[i][j] < 0) {
                fprintf(stderr, "chaos: proxy cannot listen\n");
                abort();
            }
        }
    }
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0)
        abort();
    return p;
}

uint16_t proxy_port(const struct proxy *p, int from, int to)
{
    assert(from != to && from >= 0 && to < CHAOS_NODES);
    return p->port[from][to];
}

void proxy_set(struct proxy *p, int from, int to, enum link_fault f, int arg, bool reset)
{
    assert(from != to && from >= 0 && from < CHAOS_NODES && to >= 0 && to < CHAOS_NODES);
    assert(arg >= 0);
    int lo = from < to ? from : to, hi = from ^ to ^ lo;
    pthread_mutex_lock(&p->lock);
    p->links[from][to] = (struct link_state){f, arg};
    if (reset)
        p->resets[lo][hi]++;
    pthread_mutex_unlock(&p->lock);
}

unsigned proxy_resets(struct proxy *p)
{
    return atomic_load(&p->flaky_resets);
}

void proxy_stop(struct proxy *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    for (int i = 0; i < PROXY_MAX_CONNS; i++)
        if (p->conns[i].used)
            conn_close(&p->conns[i]);
    for (int i = 0; i < CHAOS_NODES; i++)
        for (int j = 0; j < CHAOS_NODES; j++)
            if (i != j)
                close(p->listen_fd[i][j]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
