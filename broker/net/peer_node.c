/* Each other broker's state on its link shard (peer_node.h). */
#include "peer_node.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "peer_hello.h"
#include "peer_link.h"
#include "server.h"
#include "shard.h"

static const struct peer_hooks *hooks;

void peer_node_set_hooks(const struct peer_hooks *h)
{
    assert(h != NULL && h->on_message != NULL && h->on_link != NULL);
    hooks = h;
}

struct peer_node *peer_node_find(struct server *srv, int32_t id)
{
    struct peer_net *net = srv->peers;
    for (int i = 0; net && i < net->count; i++)
        if (net->nodes[i].id == id)
            return &net->nodes[i];
    return NULL;
}

bool peer_node_dials(const struct server *srv, const struct peer_node *n)
{
    assert(n->id != srv->cfg.node_id);
    return srv->cfg.node_id < n->id;
}

void peer_note_cluster_id(struct server *srv, int32_t node, const char *cluster_id)
{
    if (node < 0 || node >= 64)
        return;
    bool has = cluster_id && cluster_id[0];
    atomic_fetch_or(has ? &srv->peers_with_cluster_id : &srv->peers_without_cluster_id,
                    1ull << node);
}

void peer_self(const struct server *srv, struct peer_identity *self)
{
    assert(srv->incarnation != 0);
    self->cluster_id = srv->cluster_id;
    self->node_id = srv->cfg.node_id;
    self->incarnation = srv->incarnation;
    self->software_version = RINGLOG_SERVER_VERSION;
}

void peer_logline(struct peer_logline *l, int64_t now_ms, bool warn, const char *text)
{
    enum diag_level level = warn ? DIAG_LEVEL_WARN : DIAG_LEVEL_INFO;
    if (strcmp(l->last, text) == 0 && now_ms - l->last_ms < PEER_LOG_EVERY_MS) {
        l->suppressed++;
        return;
    }
    if (l->suppressed > 0)
        diag(level, "%s (and %u times more since it was last logged)", text, l->suppressed);
    else
        diag(level, "%s", text);
    snprintf(l->last, sizeof(l->last), "%s", text);
    l->last_ms = now_ms;
    l->suppressed = 0;
}

void peer_node_up(struct peer_link *l, uint64_t incarnation)
{
    struct peer_node *n = l->node;
    assert(n != NULL && !l->closing && incarnation != 0);
    assert(l->shard->loop.id == n->link_shard);
    if (n->link && n->link != l)
        peer_link_close(n->link, "superseded by a newer link from the same node");
    n->link = l;
    n->backoff_ms = PEER_BACKOFF_FIRST_MS;
    n->dial_log.last[0] = 0; /* a later failure is news again */
    l->state = LINK_UP;
    l->incarnation = incarnation;
    l->number = ++n->links_up;
    l->reported_up = true;
    atomic_store(&n->up, true);
    atomic_store(&n->stats->up, 1);
    metrics_add(&n->stats->links_up, 1);
    DIAG_INFO("peer link to node %d (%s) up: %s, peer incarnation %016llx", n->id, n->addr_text,
              l->dialer ? "dialed" : "accepted", (unsigned long long)incarnation);
    if (hooks)
        hooks->on_link(l->shard, n->id, incarnation, true);
}

void peer_node_on_message(struct peer_link *l, uint8_t *body, size_t len)
{
    assert(l->node != NULL && l->reported_up);
    if (hooks)
        hooks->on_message(l->shard, l->node->id, l->incarnation, body, len);
    else
        free(body);
}

void peer_node_schedule_dial(struct peer_node *n, const struct shard *s)
{
    if (!peer_node_dials(s->srv, n))
        return;
    n->next_dial_ms = s->loop.now_ms + n->backoff_ms;
    n->backoff_ms =
        n->backoff_ms * 2 > PEER_BACKOFF_LAST_MS ? PEER_BACKOFF_LAST_MS : n->backoff_ms * 2;
}

void peer_node_on_close(struct peer_link *l, const char *why)
{
    struct peer_node *n = l->node;
    if (!n)
        return;
    if (l->reported_up) {
        l->reported_up = false;
        assert(n->link == l);
        atomic_store(&n->up, false);
        atomic_store(&n->stats->up, 0);
        DIAG_INFO("peer link to node %d down: %s", n->id, why ? why : "closed");
        if (hooks)
            hooks->on_link(l->shard, n->id, l->incarnation, false);
    }
    if (n->link == l) {
        n->link = NULL;
        peer_node_schedule_dial(n, l->shard);
    }
}
