/*
 * The replication driver's network side. Out: single messages are encoded
 * when the core emits them and queued; heartbeat entries and heartbeat
 * replies are gathered per peer; everything leaves in replica_net_flush,
 * once the turn's hard state is durable. In: a PeerMessage arrives on the
 * link shard of its sender (net/peer.h) and is routed to the shard that
 * owns its group (topic_partition_owner); coalesced heartbeats go to every
 * shard owning one of their entries, each taking its own.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "diag.h"
#include "status.h"
#include "net/peer.h"
#include "replica_internal.h"
#include "replica_repair.h"
#include "replica_tail.h"
#include "server.h"
#include "shard.h"

/* Entries of one coalesced heartbeat message (keeps a message well below a frame). */
#define HB_PER_MESSAGE 2048u

static void queue_out(struct replica_driver *d, int32_t node, struct peer_out *m)
{
    struct outq *q = malloc(sizeof(*q));
    if (!q) {
        peer_out_free(m);
        return;
    }
    q->next = NULL;
    q->node = node;
    q->m = m;
    if (d->out_tail)
        d->out_tail->next = q;
    else
        d->out_head = q;
    d->out_tail = q;
}

/* An APPEND's records: malloc'd and handed over (owned), or a tail slice (chunk's reference). */
static void send_append(struct replica *r, const struct rg_message *msg, uint8_t *owned,
                        const uint8_t *records, size_t records_len, void *chunk)
{
    assert(msg->type == RG_MSG_APPEND && msg->to >= 0 && msg->to < REPLICA_MAX_PEERS);
    assert(chunk == NULL || records_len > 0);
    uint8_t head[RW_MAX_HEAD_BYTES];
    size_t n = replica_wire_encode_append_head(head, sizeof(head), &r->group, msg, records_len);
    assert(n > 0);
    struct peer_out *m =
        chunk ? peer_out_new_shared(n, records, records_len, tail_chunk_release, chunk)
              : peer_out_new(n, owned, records_len);
    if (m) {
        memcpy(peer_out_head(m), head, n);
        queue_out(r->drv, msg->to, m);
    }
}

void replica_send_message(struct replica *r, const struct rg_message *msg, uint8_t *records_buf,
                          const uint8_t *records, size_t records_len)
{
    assert(records == records_buf);
    if (msg->to < 0 || msg->to >= REPLICA_MAX_PEERS) {
        free(records_buf);
        return;
    }
    if (msg->type == RG_MSG_APPEND) {
        send_append(r, msg, records_buf, records, records_len, NULL);
        return;
    }
    assert(records_buf == NULL);
    size_t n = replica_wire_encode_message(NULL, 0, &r->group, msg, NULL, 0);
    assert(n > 0);
    struct peer_out *m = peer_out_new(n, NULL, 0);
    if (m) {
        replica_wire_encode_message(peer_out_head(m), n, &r->group, msg, NULL, 0);
        queue_out(r->drv, msg->to, m);
    }
}

void replica_send_slice(struct replica *r, const struct rg_message *msg, const uint8_t *records,
                        size_t records_len, void *chunk)
{
    if (msg->to < 0 || msg->to >= REPLICA_MAX_PEERS) {
        tail_chunk_release(chunk);
        return;
    }
    send_append(r, msg, NULL, records, records_len, chunk);
}

static bool hb_reserve(struct hb_batch *b, bool replies)
{
    if (b->count < b->cap)
        return true;
    uint32_t cap = b->cap ? b->cap * 2 : 64;
    struct rw_group *g = realloc(b->groups, cap * sizeof(*g));
    if (!g)
        return false;
    b->groups = g;
    if (replies) {
        struct rg_heartbeat_reply *x = realloc(b->replies, cap * sizeof(*x));
        if (!x)
            return false;
        b->replies = x;
    } else {
        struct rg_heartbeat *x = realloc(b->hbs, cap * sizeof(*x));
        if (!x)
            return false;
        b->hbs = x;
    }
    b->cap = cap;
    return true;
}

void replica_queue_heartbeat(struct replica *r, const struct rg_heartbeat *hb)
{
    if (hb->to < 0 || hb->to >= REPLICA_MAX_PEERS)
        return;
    struct hb_batch *b = &r->drv->hb_out[hb->to];
    if (!hb_reserve(b, false))
        return; /* a missed heartbeat: the next one comes in a tick */
    b->groups[b->count] = r->group;
    b->hbs[b->count++] = *hb;
}

static void queue_reply(struct replica_driver *d, int32_t node, const struct rw_group *g,
                        const struct rg_heartbeat_reply *reply)
{
    struct hb_batch *b = &d->reply_out[node];
    if (!hb_reserve(b, true))
        return;
    b->groups[b->count] = *g;
    b->replies[b->count++] = *reply;
}

/* One peer's gathered heartbeats (or replies), in messages of HB_PER_MESSAGE entries. */
static void flush_batch(struct replica_driver *d, int32_t node, struct hb_batch *b, bool replies)
{
    for (uint32_t i = 0; i < b->count; i += HB_PER_MESSAGE) {
        uint32_t n = b->count - i < HB_PER_MESSAGE ? b->count - i : HB_PER_MESSAGE;
        size_t len =
            replies
                ? replica_wire_encode_heartbeat_replies(NULL, 0, b->groups + i, b->replies + i, n)
                : replica_wire_encode_heartbeats(NULL, 0, b->groups + i, b->hbs + i, n);
        struct peer_out *m = len ? peer_out_new(len, NULL, 0) : NULL;
        if (!m)
            continue;
        if (replies)
            replica_wire_encode_heartbeat_replies(peer_out_head(m), len, b->groups + i,
                                                  b->replies + i, n);
        else
            replica_wire_encode_heartbeats(peer_out_head(m), len, b->groups + i, b->hbs + i, n);
        peer_send(d->shard, node, m);
    }
    b->count = 0;
}

void replica_net_flush(struct replica_driver *d)
{
    struct outq *q = d->out_head;
    d->out_head = d->out_tail = NULL;
    while (q) {
        struct outq *next = q->next;
        peer_send(d->shard, q->node, q->m);
        free(q);
        q = next;
    }
    for (int32_t node = 0; node < REPLICA_MAX_PEERS; node++) {
        if (d->hb_out[node].count)
            flush_batch(d, node, &d->hb_out[node], false);
        if (d->reply_out[node].count)
            flush_batch(d, node, &d->reply_out[node], true);
    }
}

void replica_net_destroy(struct replica_driver *d)
{
    while (d->out_head) {
        struct outq *q = d->out_head;
        d->out_head = q->next;
        peer_out_free(q->m);
        free(q);
    }
    for (int i = 0; i < REPLICA_MAX_PEERS; i++) {
        struct hb_batch *b[2] = {&d->hb_out[i], &d->reply_out[i]};
        for (int k = 0; k < 2; k++) {
            free(b[k]->groups);
            free(b[k]->hbs);
            free(b[k]->replies);
        }
    }
}

/* ------------------------------------------------------------- receive */

static int owner_of(const struct server *srv, const struct rw_group *g)
{
    return (int)((g->topic_id + g->partition) % (uint64_t)srv->nshards);
}

/* A single message for a group this shard owns. Frees body. */
static void deliver_message(struct replica_driver *d, int32_t self, struct rw_decoded *m,
                            uint8_t *body)
{
    struct replica *r = replica_find(d, m->group.topic_id, m->group.partition);
    if (!r || r->fenced || m->msg.to != self) {
        free(body);
        return;
    }
    struct rx_body *rx = NULL;
    if (m->msg.type == RG_MSG_APPEND) {
        rx = malloc(sizeof(*rx));
        int rc = rx ? replica_wire_check_append(&m->msg, m->records, m->records_len,
                                                r->host.shard->srv->cfg.max_frame_bytes)
                    : RL_ERR_NOMEM;
        if (rc != RL_OK) {
            DIAG_DEBUG("dropping an APPEND from node %d: %s", m->msg.from, rl_status_str(rc));
            free(rx);
            free(body);
            return;
        }
        *rx = (struct rx_body){.refs = 1,
                               .body = body,
                               .records = (uint8_t *)m->records,
                               .records_len = m->records_len};
        m->msg.payload = rx;
    }
    replica_heard(r, m->msg.from);
    replica_member_heard_outsider(r, m->msg.from);
    struct rg_output *out = replica_out(d);
    replica_finish(r, out, replica_group_step(&r->rg, &m->msg, out));
    if (rx)
        rx_body_put(rx);
    else
        free(body);
}

static void deliver_heartbeats(struct replica_driver *d, int32_t self, int32_t from,
                               const struct rw_decoded *m)
{
    struct server *srv = d->shard->srv;
    for (uint32_t i = 0; i < m->count; i++) {
        if (owner_of(srv, &m->groups[i]) != d->shard->loop.id)
            continue;
        struct replica *r = replica_find(d, m->groups[i].topic_id, m->groups[i].partition);
        if (!r || r->fenced)
            continue;
        replica_member_heard_outsider(r, from);
        struct rg_output *out = replica_out(d);
        int rc;
        if (m->kind == RW_KIND_HEARTBEATS) {
            if (m->heartbeats[i].to != self)
                goto next;
            struct rg_heartbeat_reply reply = {.to = RG_NO_NODE};
            rc = replica_group_step_heartbeat(&r->rg, &m->heartbeats[i], &reply, out);
            if (rc == RG_OK && reply.to == from)
                queue_reply(d, from, &m->groups[i], &reply);
        } else {
            if (m->replies[i].to != self)
                goto next;
            replica_heard(r, m->replies[i].from);
            rc = replica_group_step_heartbeat_reply(&r->rg, &m->replies[i], out);
        }
        replica_finish(r, out, rc);
        continue;
    next:
        replica_finish(r, out, RG_ERR_INVALID);
    }
}

/* A decoded PeerMessage (m, from body) for this shard's groups: step them. Frees body. */
static void deliver_decoded(struct shard *s, int32_t from, uint64_t link, struct rw_decoded *m,
                            uint8_t *body)
{
    struct replica_driver *d = s->replicas;
    assert(d != NULL && from >= 0 && from < REPLICA_MAX_PEERS);
    if (link < d->peer_link[from]) {
        free(body); /* an older link's, after a newer one's: never deliver it */
        return;
    }
    d->peer_link[from] = link;
    int32_t self = s->srv->cfg.node_id;
    if (m->kind == RW_KIND_MESSAGE) {
        deliver_message(d, self, m, body);
        return;
    }
    if (m->kind == RW_KIND_HEARTBEATS || m->kind == RW_KIND_HEARTBEAT_REPLIES)
        deliver_heartbeats(d, self, from, m);
    free(body);
}

/* Decodes a PeerMessage into the shard's arena; false (body freed) when it is not one to step. */
static bool decode(struct replica_driver *d, uint8_t *body, size_t len, struct rw_decoded *m)
{
    rl_arena_reset(&d->arena);
    if (replica_wire_decode(body, len, &d->arena, m) == RL_OK && m->kind != RW_KIND_UNKNOWN)
        return true;
    free(body);
    return false;
}

/* A PeerMessage handed over from the link's shard: decoded again here, in this shard's arena. */
static void deliver(struct shard *s, int32_t from, uint64_t link, uint8_t *body, size_t len)
{
    struct rw_decoded m;
    assert(!replica_notice_is(body, len)); /* those travel decoded (replica_member.c) */
    if (replica_repair_peek(body, len, NULL))
        replica_repair_deliver(s, from, body, len);
    else if (decode(s->replicas, body, len, &m))
        deliver_decoded(s, from, link, &m, body);
}

struct fwd {
    struct loop_msg msg;
    int32_t from;
    uint64_t link;
    uint8_t *body;
    size_t len;
};

static void fwd_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct fwd *f = rl_container_of(c, struct fwd, msg.arrive);
    deliver(shard_current(), f->from, f->link, f->body, f->len);
    free(f);
}

/* Hands body (owned) to shard `target` to deliver there. */
static void forward(struct shard *s, int target, int32_t from, uint64_t link, uint8_t *body,
                    size_t len)
{
    struct fwd *f = malloc(sizeof(*f));
    if (!f) {
        free(body);
        return;
    }
    *f = (struct fwd){.from = from, .link = link, .body = body, .len = len};
    f->msg.arrive.on_complete = fwd_arrived;
    loop_send(&s->loop, target, &f->msg);
}

/* Heartbeats: a copy to every other shard owning an entry, then this shard's own. */
static void route_heartbeats(struct shard *s, struct rw_decoded *m, int32_t from, uint64_t link,
                             uint8_t *body, size_t len)
{
    struct server *srv = s->srv;
    uint64_t shards = 0;
    for (uint32_t i = 0; i < m->count; i++)
        shards |= 1ull << (owner_of(srv, &m->groups[i]) & 63);
    for (int t = 0; t < srv->nshards && t < 64; t++) {
        if (t == s->loop.id || !(shards & (1ull << t)))
            continue;
        uint8_t *copy = malloc(len);
        if (copy) {
            memcpy(copy, body, len);
            forward(s, t, from, link, copy, len);
        }
    }
    if (shards & (1ull << s->loop.id))
        deliver_decoded(s, from, link, m, body);
    else
        free(body);
}

void replica_receive(struct shard *s, int32_t from, uint64_t inc, uint8_t *body, size_t len)
{
    struct rw_decoded m;
    (void)inc; /* the core checks incarnations inside the messages */
    uint64_t link = peer_link_number(s, from);
    if (!s->replicas || from < 0 || from >= REPLICA_MAX_PEERS) {
        free(body);
        return;
    }
    if (replica_notice_is(body, len)) {
        replica_notice_receive(s, from, body, len);
        return;
    }
    if (controller_applied_is(body, len)) { /* the controller's, not a group's */
        controller_applied_receive(s, from, body, len);
        return;
    }
    if (replica_repair_peek(body, len, &m.group)) { /* not the core's: no link order needed */
        int owner = owner_of(s->srv, &m.group);
        if (owner == s->loop.id)
            replica_repair_deliver(s, from, body, len);
        else
            forward(s, owner, from, link, body, len);
        return;
    }
    if (!decode(s->replicas, body, len, &m))
        return;
    if (m.kind == RW_KIND_MESSAGE) {
        int owner = owner_of(s->srv, &m.group);
        if (owner == s->loop.id)
            deliver_decoded(s, from, link, &m, body); /* decoded once, here */
        else
            forward(s, owner, from, link, body, len);
        return;
    }
    route_heartbeats(s, &m, from, link, body, len);
}

void replica_link(struct shard *s, int32_t node, uint64_t inc, bool up)
{
    DIAG_INFO("link to node %d %s (incarnation %016llx)", node, up ? "up" : "down",
              (unsigned long long)inc);
    (void)s;
}
