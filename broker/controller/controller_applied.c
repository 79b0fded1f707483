/*
 * How far each broker has applied the metadata log, as the controller
 * hears it, and the DeleteRecords answers that wait for it
 * (controller_internal.h, docs/REPLICATION.md "DeleteRecords"). A broker
 * refuses reads below a partition's new start as soon as it applies the
 * RecordsDeleted record (partition_fill_offsets), whatever its replica's
 * high watermark; so once every live broker has applied it, no replica
 * that becomes leader serves below the start. Each broker tells every
 * other its applied offset (a MetadataApplied peer message) when it moves
 * and once a second.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "controller_internal.h"
#include "io/clock.h"
#include "io/loop.h"
#include "net/peer.h"
#include "server.h"
#include "shard.h"

#define REPORT_EVERY_MS 1000

/* The PeerMessage's first key is field 45, length-delimited (0xea 0x02). */
bool controller_applied_is(const uint8_t *body, size_t len)
{
    return len >= 2 && body[0] == 0xea && body[1] == 0x02;
}

static void report(struct shard *s, int32_t to, int64_t applied)
{
    Ringlog__MetadataApplied ma = RINGLOG__METADATA_APPLIED__INIT;
    ma.applied = applied;
    Ringlog__PeerMessage pm = RINGLOG__PEER_MESSAGE__INIT;
    pm.body_case = RINGLOG__PEER_MESSAGE__BODY_METADATA_APPLIED;
    pm.metadata_applied = &ma;
    size_t len = ringlog__peer_message__get_packed_size(&pm);
    struct peer_out *o = peer_out_new(len, NULL, 0);
    if (!o)
        return; /* the next tick tries again */
    ringlog__peer_message__pack(&pm, peer_out_head(o));
    assert(controller_applied_is(peer_out_head(o), len));
    peer_send(s, to, o);
}

/*
 * Every live broker (its link up) has applied c's record. Every broker,
 * not only the partition's assigned replicas: a replica leaving in a move,
 * or joining, may lead the group too.
 */
static bool all_applied(struct controller *ctl, const struct controller_call *c)
{
    struct controller_acks *a = controller_acks_of(ctl);
    const struct server *srv = controller_shard(ctl)->srv;
    for (int i = 0; i < srv->cfg.peer_count; i++) {
        int32_t node = srv->cfg.peers[i].node_id;
        assert(node >= 0 && node < CONTROLLER_MAX_NODE_ID);
        if (node != srv->cfg.node_id && a->applied[node] <= c->offset &&
            atomic_load(&srv->peer_stats[i].up) != 0)
            return false;
    }
    return true;
}

/* Answers the waiting calls whose record every live broker applied, or whose time is up. */
static void check_waiting(struct controller *ctl, int64_t now)
{
    struct controller_acks *a = controller_acks_of(ctl);
    struct controller_call **pp = &a->waiting;
    while (*pp) {
        struct controller_call *c = *pp;
        bool all = all_applied(ctl, c);
        if (!all && now < c->deadline_ms) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        if (!all) {
            c->error = RINGLOG__ERROR_CODE__TIMEOUT;
            c->message = "the new start is committed, but not every broker applied it within "
                         "the timeout (they will: ask again to know when)";
        }
        c->done = c->then;
        c->done(c);
    }
}

void controller_wait_replicas(struct controller_call *c)
{
    struct controller *ctl = c->ctl;
    assert(ctl != NULL && c->then != NULL);
    if (c->error != RINGLOG__ERROR_CODE__NONE) {
        c->done = c->then;
        c->done(c);
        return;
    }
    struct controller_acks *a = controller_acks_of(ctl);
    c->next = a->waiting;
    a->waiting = c;
    check_waiting(ctl, clock_monotonic_ms());
}

/* Every other broker hears this one's applied offset when it moves and once a second: any of
 * them may be the controller, now or after an election, with answers waiting. */
void controller_acks_tick(struct controller *ctl, int64_t applied)
{
    struct controller_acks *a = controller_acks_of(ctl);
    struct shard *s = controller_shard(ctl);
    int64_t now = clock_monotonic_ms();
    if (applied != a->reported || now - a->reported_ms >= REPORT_EVERY_MS) {
        for (int i = 0; i < s->srv->cfg.peer_count; i++)
            if (s->srv->cfg.peers[i].node_id != s->srv->cfg.node_id)
                report(s, s->srv->cfg.peers[i].node_id, applied);
        a->reported = applied;
        a->reported_ms = now;
    }
    check_waiting(ctl, now);
}

static void note(struct controller *ctl, int32_t from, int64_t applied)
{
    struct controller_acks *a = controller_acks_of(ctl);
    assert(from >= 0 && from < CONTROLLER_MAX_NODE_ID);
    a->applied[from] = applied; /* lower after a restart: it replays from its log's start */
    if (a->waiting)
        check_waiting(ctl, clock_monotonic_ms());
}

struct applied_hop {
    struct loop_msg msg;
    int32_t from;
    int64_t applied;
};

static void applied_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct applied_hop *h = rl_container_of(c, struct applied_hop, msg.arrive);
    struct controller *ctl = shard_current()->controller;
    if (ctl)
        note(ctl, h->from, h->applied);
    free(h);
}

void controller_applied_receive(struct shard *s, int32_t from, uint8_t *body, size_t len)
{
    assert(controller_applied_is(body, len));
    Ringlog__PeerMessage *pm = ringlog__peer_message__unpack(NULL, len, body);
    free(body);
    bool ok = pm && pm->body_case == RINGLOG__PEER_MESSAGE__BODY_METADATA_APPLIED && from >= 0 &&
              from < CONTROLLER_MAX_NODE_ID;
    int64_t applied = ok ? pm->metadata_applied->applied : 0;
    if (pm)
        ringlog__peer_message__free_unpacked(pm, NULL);
    if (!ok)
        return;
    if (s->loop.id == 0) {
        if (s->controller)
            note(s->controller, from, applied);
        return;
    }
    struct applied_hop *h = malloc(sizeof(*h));
    if (!h)
        return; /* the sender repeats it within a second */
    *h = (struct applied_hop){.from = from, .applied = applied};
    h->msg.arrive.on_complete = applied_arrived;
    loop_send(&s->loop, 0, &h->msg);
}

void controller_acks_stop(struct controller *ctl)
{
    struct controller_acks *a = controller_acks_of(ctl);
    while (a->waiting) {
        struct controller_call *c = a->waiting;
        a->waiting = c->next;
        c->error = RINGLOG__ERROR_CODE__SHUTTING_DOWN;
        c->message = "the broker is shutting down";
        c->done = c->then;
        c->done(c);
    }
}
