/*
 * What a broker's replication driver does across the groups it hosts,
 * as docs/REPLICATION.md asks of it:
 *  - hard state: every group's change goes into the host's next fsync,
 *    one at a time, asynchronous; a message made after a change waits
 *    until the fsync covering it is done (the driver-fault early_send
 *    lets it go at once, and the checker catches two leaders in an epoch);
 *  - coalesced heartbeats: the compact heartbeats of all groups to one
 *    host go as ONE network message, answered by one message of replies;
 *  - messages of an older incarnation of a peer's disk are dropped (the
 *    inter-broker handshake names it).
 */
#include <stdlib.h>
#include <string.h>

#include "sim_world.h"

void sim_host_send(struct sim_world *w, struct sim_host *h, struct sim_msg *sm)
{
    sm->disk_id = h->disk_id;
    if (h->hs_wanted == h->hs_durable || w->driver_faults.early_send) {
        sim_send(w, sm);
        return;
    }
    h->held = sim_grow(h->held, &h->capheld, h->nheld + 1, sizeof(*h->held));
    h->held[h->nheld].sm = sm;
    h->held[h->nheld].tag = h->hs_wanted;
    h->nheld++;
}

void sim_host_hard_state(struct sim_world *w, struct sim_node *n, const struct rg_hard_state *hs)
{
    struct sim_host *h = n->host;
    n->hard_pending = *hs;
    n->hard_dirty = true;
    h->hs_wanted++;
    sim_trace(w, "  g%d n%d hard state term %lld vote %d%s floor %lld (fsync %llu)", n->group,
              n->id, (long long)hs->term, hs->voted_for, hs->recovering ? " recovering" : "",
              (long long)hs->vote_floor, (unsigned long long)h->hs_wanted);
}

static void start_hard_sync(struct sim_world *w, struct sim_host *h)
{
    for (int g = 0; g < w->ngroups; g++) {
        struct sim_node *n = &w->groups[g].nodes[h->id];
        n->hard_in_sync = n->hard_dirty;
        n->hard_syncing = n->hard_pending;
        n->hard_dirty = false;
    }
    h->hs_syncing = true;
    h->hs_sync_covers = h->hs_wanted;
    struct sim_event ev = {.time = w->now + sim_rand_range(w, 0, 4),
                           .type = EV_HARD_SYNC,
                           .node = h->id,
                           .inc = h->inc};
    sim_schedule(w, ev);
}

void sim_host_hard_sync_done(struct sim_world *w, struct sim_host *h)
{
    for (int g = 0; g < w->ngroups; g++) {
        struct sim_node *n = &w->groups[g].nodes[h->id];
        if (n->hard_in_sync)
            n->disk.hard = n->hard_syncing;
        n->hard_in_sync = false;
    }
    h->hs_syncing = false;
    h->hs_durable = h->hs_sync_covers;
    sim_trace(w, "n%d hard state durable (fsync %llu)", h->id, (unsigned long long)h->hs_durable);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < h->nheld; i++) {
        if (h->held[i].tag <= h->hs_durable)
            sim_send(w, h->held[i].sm);
        else
            h->held[kept++] = h->held[i];
    }
    h->nheld = kept;
}

void sim_host_queue_heartbeats(struct sim_world *w, struct sim_node *n, const struct rg_output *out)
{
    struct sim_host *h = n->host;
    for (uint32_t i = 0; i < out->heartbeat_count; i++) {
        int to = out->heartbeats[i].to;
        if (to < 0 || to >= w->nodes_total)
            sim_fail(w, "heartbeat to n%d", to);
        h->hb_out[to] =
            sim_grow(h->hb_out[to], &h->caphb_out[to], h->nhb_out[to] + 1, sizeof(*h->hb_out[to]));
        struct sim_hb_entry *e = &h->hb_out[to][h->nhb_out[to]++];
        memset(e, 0, sizeof(*e));
        e->group = n->group;
        e->hb = out->heartbeats[i];
    }
}

static struct sim_msg *batch_msg(enum sim_msg_kind kind, int from, int to,
                                 const struct sim_hb_entry *entries, uint32_t n)
{
    struct sim_msg *sm = calloc(1, sizeof(*sm));
    sm->kind = kind;
    sm->m.from = from;
    sm->m.to = to;
    sm->nhb = n;
    sm->hbs = malloc(n * sizeof(*sm->hbs));
    memcpy(sm->hbs, entries, n * sizeof(*sm->hbs));
    return sm;
}

void sim_hosts_flush(struct sim_world *w)
{
    for (int i = 0; i < w->nodes_total; i++) {
        struct sim_host *h = &w->hosts[i];
        if (!h->up)
            continue;
        for (int to = 0; to < w->nodes_total; to++) {
            if (h->nhb_out[to] == 0)
                continue;
            sim_trace(w, "  n%d -> n%d heartbeats of %u groups", h->id, to, h->nhb_out[to]);
            sim_host_send(w, h,
                          batch_msg(SIM_MSG_HEARTBEATS, h->id, to, h->hb_out[to], h->nhb_out[to]));
            h->nhb_out[to] = 0;
        }
        if (h->hs_wanted > h->hs_durable && !h->hs_syncing)
            start_hard_sync(w, h);
    }
}

void sim_host_crash(struct sim_world *w, struct sim_host *h)
{
    for (uint32_t i = 0; i < h->nheld; i++)
        sim_free_msg(h->held[i].sm);
    h->nheld = 0;
    for (int to = 0; to < SIM_MAX_NODES; to++)
        h->nhb_out[to] = 0;
    h->hs_wanted = h->hs_durable = h->hs_sync_covers = 0;
    h->hs_syncing = false;
    for (int g = 0; g < w->ngroups; g++) {
        struct sim_node *n = &w->groups[g].nodes[h->id];
        n->hard_dirty = n->hard_in_sync = false;
    }
}

void sim_host_free(struct sim_host *h)
{
    for (uint32_t i = 0; i < h->nheld; i++)
        sim_free_msg(h->held[i].sm);
    free(h->held);
    for (int to = 0; to < SIM_MAX_NODES; to++)
        free(h->hb_out[to]);
}

/* Each entry to its group; the replies go back as one message. */
void sim_deliver_heartbeats(struct sim_world *w, struct sim_host *h, struct sim_msg *sm)
{
    uint32_t nreplies = 0;
    sim_trace(w, "n%d <- n%d heartbeats of %u groups", h->id, sm->m.from, sm->nhb);
    for (uint32_t i = 0; i < sm->nhb; i++) {
        struct sim_hb_entry *e = &sm->hbs[i];
        struct sim_node *n = &w->groups[e->group].nodes[h->id];
        struct rg_output *out = sim_out_begin(w);
        int rc = replica_group_step_heartbeat(&n->rg, &e->hb, &e->reply, out);
        if (rc != RG_OK)
            sim_fail(w, "step_heartbeat: %s", rg_status_str(rc));
        sim_process(w, n, out);
        sim_out_end(w, out);
        if (e->reply.to != RG_NO_NODE) {
            if (e->reply.success && e->reply.durable > sim_io_durable_end(n) && !w->opt.end_to_end)
                sim_fail(w, "g%d node %d replies [0,%lld) durable, its disk holds [0,%lld)",
                         n->group, n->id, (long long)e->reply.durable,
                         (long long)sim_io_durable_end(n));
            sm->hbs[nreplies++] = *e;
        }
    }
    if (nreplies > 0)
        sim_trace(w, "  n%d -> n%d heartbeat replies of %u groups", h->id, sm->m.from, nreplies);
    if (nreplies > 0)
        sim_host_send(w, h,
                      batch_msg(SIM_MSG_HEARTBEAT_REPLIES, h->id, sm->m.from, sm->hbs, nreplies));
}

void sim_deliver_replies(struct sim_world *w, struct sim_host *h, struct sim_msg *sm)
{
    sim_trace(w, "n%d <- n%d heartbeat replies of %u groups", h->id, sm->m.from, sm->nhb);
    for (uint32_t i = 0; i < sm->nhb; i++) {
        struct sim_hb_entry *e = &sm->hbs[i];
        struct sim_node *n = &w->groups[e->group].nodes[h->id];
        struct rg_output *out = sim_out_begin(w);
        int rc = replica_group_step_heartbeat_reply(&n->rg, &e->reply, out);
        if (rc != RG_OK && rc != RG_ERR_NOT_MEMBER)
            sim_fail(w, "step_heartbeat_reply: %s", rg_status_str(rc));
        sim_process(w, n, out);
        sim_out_end(w, out);
    }
}
