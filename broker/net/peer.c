/*
 * The peer links' front: messages, peer_send from any shard, the per-node
 * state shared by every shard, and the turn/tick/stop work of each shard.
 * Frames are in peer_out.c, sockets in peer_link.c, each node's up and
 * down in peer_node.c, dialing in peer_dial.c, accepting in peer_accept.c.
 *
 * A message sent from a shard other than the link shard goes through the
 * node's inbox: a lock-free stack (push: compare-and-swap of the top; the
 * link shard takes the whole stack with one exchange and reverses it), so
 * pushes of one shard come out in the order it made them. A wake makes the
 * link shard take it on its next turn.
 */
#include "peer.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "io/loop.h"
#include "peer_dial.h"
#include "peer_link.h"
#include "peer_node.h"
#include "server.h"
#include "shard.h"

void peer_set_hooks(const struct peer_hooks *h)
{
    peer_node_set_hooks(h);
}

int peer_link_shard(const struct server *srv, int32_t node)
{
    assert(node >= 0 && srv->nshards > 0);
    return (int)(node % srv->nshards);
}

uint64_t peer_link_number(struct shard *link_shard, int32_t node)
{
    assert(link_shard == shard_current());
    struct peer_node *n = peer_node_find(link_shard->srv, node);
    assert(n == NULL || n->link_shard == link_shard->loop.id);
    return n && n->link ? n->link->number : 0;
}

/* ------------------------------------------------------------- sending */

static bool drop(struct peer_node *n, struct peer_out *m)
{
    if (n)
        metrics_add(&n->stats->dropped, 1);
    peer_out_free(m);
    return false;
}

static void inbox_push(struct peer_node *n, struct peer_out *m)
{
    struct peer_out *top = atomic_load_explicit(&n->inbox, memory_order_relaxed);
    do {
        m->next = top;
    } while (!atomic_compare_exchange_weak_explicit(&n->inbox, &top, m, memory_order_release,
                                                    memory_order_relaxed));
}

bool peer_send(struct shard *s, int32_t node, struct peer_out *m)
{
    assert(m != NULL && m->next == NULL);
    assert(s == shard_current());
    struct peer_node *n = peer_node_find(s->srv, node);
    int64_t bytes = (int64_t)peer_out_bytes(m);
    if (!n || !atomic_load(&n->up) || m->head_len + m->records_len == 0 ||
        m->head_len + m->records_len > s->srv->cfg.max_frame_bytes)
        return drop(n, m);
    if (atomic_fetch_add(&n->queued_bytes, bytes) + bytes > PEER_QUEUE_BOUND) {
        atomic_fetch_sub(&n->queued_bytes, bytes);
        return drop(n, m);
    }
    if (s->loop.id == n->link_shard) {
        if (n->link && n->link->state == LINK_UP && !n->link->closing) {
            peer_link_queue(n->link, m, true);
            return true;
        }
        atomic_fetch_sub(&n->queued_bytes, bytes);
        return drop(n, m);
    }
    inbox_push(n, m);
    loop_wake(&s->loop, n->link_shard);
    return true;
}

/* On the link shard: what other shards sent to n since the last turn. */
static void take_inbox(struct peer_node *n)
{
    struct peer_out *m = atomic_exchange_explicit(&n->inbox, NULL, memory_order_acquire);
    struct peer_out *fifo = NULL;
    while (m) {
        struct peer_out *next = m->next;
        m->next = fifo;
        fifo = m;
        m = next;
    }
    if (!fifo)
        return;
    if (!n->link || n->link->state != LINK_UP || n->link->closing) {
        uint64_t count = 0;
        for (struct peer_out *x = fifo; x; x = x->next)
            count++;
        atomic_fetch_sub(&n->queued_bytes, peer_out_free_chain(fifo));
        metrics_add(&n->stats->dropped, count);
        return;
    }
    while (fifo) {
        struct peer_out *next = fifo->next;
        fifo->next = NULL;
        peer_link_queue(n->link, fifo, true);
        fifo = next;
    }
}

/* ------------------------------------------------------ per shard, per turn */

void peer_before_wait(struct shard *s)
{
    struct peer_net *net = s->srv->peers;
    for (int i = 0; net && i < net->count; i++)
        if (net->nodes[i].link_shard == s->loop.id)
            take_inbox(&net->nodes[i]);
    for (struct peer_link *l = s->peer_links; l; l = l->next)
        peer_link_flush(l);
}

void peer_shard_stop(struct shard *s)
{
    assert(s->stopping);
    for (struct peer_link *l = s->peer_links, *next; l; l = next) {
        next = l->next;
        peer_link_close(l, "broker stopping");
        peer_link_maybe_free(l);
    }
}

bool peer_shard_drained(const struct shard *s)
{
    return s->peer_link_count == 0;
}

void peer_tick(struct shard *s)
{
    peer_dial_tick(s);
}

void peer_shard_start(struct shard *s)
{
    peer_dial_start(s);
}

/* ------------------------------------------------------- start and end */

static int resolve(struct peer_node *n, const struct peer *p, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", p->port);
    int rc = getaddrinfo(p->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "--peers: cannot resolve node %d's host %s: %s", p->node_id, p->host,
                 gai_strerror(rc));
        return -1;
    }
    assert(res->ai_addrlen <= sizeof(n->addr));
    memcpy(&n->addr, res->ai_addr, res->ai_addrlen);
    n->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(n->addr_text, sizeof(n->addr_text), "%s:%u", p->host, p->port);
    snprintf(n->host, sizeof(n->host), "%s", p->host);
    return 0;
}

int peer_net_init(struct server *srv, char *err, size_t err_len)
{
    const struct broker_config *cfg = &srv->cfg;
    assert(srv->peers == NULL && srv->nshards > 0);
    srv->peers =
        calloc(1, sizeof(*srv->peers) + (size_t)cfg->peer_count * sizeof(struct peer_node));
    if (!srv->peers) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (int i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].node_id == cfg->node_id)
            continue;
        struct peer_node *n = &srv->peers->nodes[srv->peers->count];
        n->id = cfg->peers[i].node_id;
        n->stats = &srv->peer_stats[i];
        n->link_shard = peer_link_shard(srv, n->id);
        n->backoff_ms = PEER_BACKOFF_FIRST_MS;
        if (resolve(n, &cfg->peers[i], err, err_len) != 0)
            return -1;
        srv->peers->count++;
    }
    return 0;
}

void peer_net_destroy(struct server *srv)
{
    struct peer_net *net = srv->peers;
    for (int i = 0; net && i < net->count; i++) {
        struct peer_node *n = &net->nodes[i];
        assert(n->link == NULL);
        atomic_fetch_sub(&n->queued_bytes, peer_out_free_chain(atomic_exchange(&n->inbox, NULL)));
        assert(atomic_load(&n->queued_bytes) == 0);
    }
    free(net);
    srv->peers = NULL;
}
