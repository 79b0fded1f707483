/*
 * Repair of known-bad batches from the other replicas (replica_repair.h,
 * docs/REPLICATION.md "Repair"). Three jobs, all on a group's owner shard:
 *  - the scrub: one verifying read of at most REPAIR_SCRUB_READ_BYTES per
 *    shard per tick, walking each replicated log from its start after it
 *    attaches, so a flipped bit anywhere is found (recovery reads only what
 *    follows its checkpoint);
 *  - asking: for a replica's oldest known-bad batch, a ReplicaRepairRequest
 *    to a replica that may hold it (the leader first, then the other
 *    voters in turn), again with back-off until one answers with a copy,
 *    which is checked and written over the bad one (partition_log_overwrite);
 *  - answering: a verifying read of the asked batch, sent back only when its
 *    offsets, epoch, length and checksum are the asked ones.
 * Batches are identified by (base offset, epoch): replicas hold the same
 * bytes for the same (offset, epoch) (log matching, and batches are stored
 * exactly as built), so a copy is a byte-exact replacement.
 */
#include "replica_repair.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "diag.h"
#include "io/clock.h"
#include "log/log_status.h"
#include "net/peer.h"
#include "replica_internal.h"
#include "ringlog.pb-c.h"
#include "server.h"
#include "shard.h"

#define REPAIR_FIRST_BACKOFF_MS 100
#define REPAIR_MAX_BACKOFF_MS 5000
#define REPAIR_MAX_SERVING 8 /* reads answering peers' requests, in flight per shard */

struct replica_repair {
    int64_t scrub_next;   /* next offset the scrub reads; -1: no pass running */
    int64_t scrub_due_ms; /* the next pass starts then */
    int64_t base;         /* the bad batch being repaired (-1: none) */
    uint32_t tries;       /* requests sent for it */
    uint32_t refusals;    /* answers without a copy */
    int64_t next_try_ms;
    bool writing; /* its overwrite is in flight */
};

void replica_repair_free(struct replica *r)
{
    assert(r->dead && r->io_pending == 0);
    free(r->repair);
    r->repair = NULL;
}

/* Packs and sends one PeerMessage to `node` (peer_send takes it; dropped without a link). */
static void send_message(struct shard *s, int32_t node, const Ringlog__PeerMessage *pm)
{
    struct peer_out *m = peer_out_pack(&pm->base);
    if (m)
        peer_send(s, node, m);
}

/* ------------------------------------------------------------------ scrub */

struct scrub {
    struct log_read read;
    struct replica *r;
};

static void scrub_pass_done(struct replica_repair *st, int64_t now)
{
    st->scrub_next = -1;
    st->scrub_due_ms = now + REPAIR_SCRUB_INTERVAL_MS;
}

static int scrub_start(struct scrub *sc, size_t cap);

/* A scrub read is back: the verifying read recorded any bad batch; move on past what it saw. */
static void scrub_done(struct log_read *rd, int status)
{
    struct scrub *sc = rl_container_of(rd, struct scrub, read);
    struct replica *r = sc->r;
    struct replica_driver *d = r->drv;
    struct replica_repair *st = r->repair;
    assert(d->repair_scrubs > 0);
    if (!r->dead && st != NULL) {
        size_t max = r->host.shard->srv->cfg.max_frame_bytes;
        if (status == LOG_ERR_BUFFER_TOO_SMALL && rd->needed_bytes > rd->cap &&
            rd->needed_bytes <= max && scrub_start(sc, rd->needed_bytes) == LOG_OK)
            return; /* one batch larger than a scrub read */
        bool moved =
            (status == LOG_OK || status == LOG_ERR_REPAIRING) && rd->next_offset > st->scrub_next;
        if (moved)
            st->scrub_next = rd->next_offset;
        else
            scrub_pass_done(st, clock_monotonic_ms());
    }
    d->repair_scrubs--;
    free(rd->buf);
    free(sc);
    replica_release(r);
}

static int scrub_start(struct scrub *sc, size_t cap)
{
    struct log_read *rd = &sc->read;
    free(rd->buf);
    uint8_t *buf = malloc(cap);
    memset(rd, 0, sizeof(*rd));
    if (!buf)
        return LOG_ERR_NOMEM;
    rd->offset = sc->r->repair->scrub_next;
    rd->max_offset = INT64_MAX;
    rd->buf = buf;
    rd->cap = cap;
    rd->verify = true;
    rd->on_complete = scrub_done;
    return partition_log_read(sc->r->host.log, rd);
}

/* Starts the shard's one scrub read: the first replica whose pass runs or is due. */
static void scrub_some(struct replica_driver *d, int64_t now)
{
    if (d->repair_scrubs > 0)
        return;
    for (struct replica *r = d->list; r; r = r->next) {
        struct replica_repair *st = r->repair;
        if (r->fenced || st == NULL)
            continue;
        struct partition_log *log = r->host.log;
        if (st->scrub_next < 0 && now >= st->scrub_due_ms)
            st->scrub_next = partition_log_start_offset(log);
        if (st->scrub_next < 0)
            continue;
        if (st->scrub_next < partition_log_start_offset(log))
            st->scrub_next = partition_log_start_offset(log);
        if (st->scrub_next >= partition_log_end_offset(log)) {
            scrub_pass_done(st, now);
            continue;
        }
        struct scrub *sc = calloc(1, sizeof(*sc));
        if (!sc)
            return;
        sc->r = r;
        r->io_pending++;
        d->repair_scrubs++;
        if (scrub_start(sc, REPAIR_SCRUB_READ_BYTES) == LOG_OK)
            return;
        scrub_pass_done(st, now); /* refused at once: the next pass tries again */
        d->repair_scrubs--;
        free(sc->read.buf);
        free(sc);
        replica_release(r);
    }
}

/* ----------------------------------------------------------------- asking */

/* The replicas to ask, in turn: the leader first (when another node), then the other voters. */
static uint32_t candidates(const struct replica *r, int32_t *out)
{
    const struct rg_membership *m = replica_members(r);
    int32_t self = r->rg.config.self, leader = replica_leader(r);
    uint32_t n = 0;
    if (leader >= 0 && leader != self)
        out[n++] = leader;
    for (uint32_t i = 0; i < m->voter_count; i++)
        if (m->voters[i] != self && m->voters[i] != leader)
            out[n++] = m->voters[i];
    assert(n <= RG_MAX_NODES);
    return n;
}

static void ask(struct replica *r, struct replica_repair *st, const struct log_bad_batch *b,
                int64_t now)
{
    int32_t nodes[RG_MAX_NODES];
    uint32_t n = candidates(r, nodes);
    uint32_t shift = st->tries < 6 ? st->tries : 6;
    int64_t backoff = (int64_t)REPAIR_FIRST_BACKOFF_MS << shift;
    st->next_try_ms = now + (backoff < REPAIR_MAX_BACKOFF_MS ? backoff : REPAIR_MAX_BACKOFF_MS);
    if (n == 0)
        return; /* no other replica: nothing can repair it */
    int32_t node = nodes[st->tries++ % n];
    if (st->tries == 1 || st->tries % 20 == 0)
        DIAG_WARN("partition %s-%u: batch at offsets [%lld, %lld] (epoch %d) fails its checksum "
                  "on this disk: asking node %d for its copy (attempt %u)",
                  r->host.topic, r->host.index, (long long)b->base_offset,
                  (long long)b->last_offset, b->epoch, node, st->tries);
    Ringlog__ReplicaRepairRequest q = RINGLOG__REPLICA_REPAIR_REQUEST__INIT;
    q.topic_id = r->group.topic_id;
    q.partition = r->group.partition;
    q.from_node = r->rg.config.self;
    q.to_node = node;
    q.base_offset = b->base_offset;
    q.last_offset = b->last_offset;
    q.epoch = b->epoch;
    q.length = b->len;
    q.checksum = b->checksum;
    Ringlog__PeerMessage pm = RINGLOG__PEER_MESSAGE__INIT;
    pm.body_case = RINGLOG__PEER_MESSAGE__BODY_REPAIR_REQUEST;
    pm.repair_request = &q;
    send_message(r->host.shard, node, &pm);
}

/* The oldest known-bad batch of r is asked for (again when its back-off passed). */
static void repair_replica(struct replica *r, struct replica_repair *st, int64_t now)
{
    const struct log_bad_batch *bad;
    uint32_t n = partition_log_bad_batches(r->host.log, &bad);
    if (n == 0) {
        st->base = -1;
        return;
    }
    if (st->writing)
        return;
    const struct log_bad_batch *b = NULL;
    for (uint32_t i = 0; i < n && b == NULL; i++)
        if (bad[i].base_offset == st->base)
            b = &bad[i];
    if (b == NULL) { /* repaired or cut: the next one */
        b = &bad[0];
        st->base = b->base_offset;
        st->tries = st->refusals = 0;
        st->next_try_ms = now;
    }
    if (now >= st->next_try_ms)
        ask(r, st, b, now);
}

void replica_repair_tick(struct replica_driver *d)
{
    int64_t now = clock_monotonic_ms();
    for (struct replica *r = d->list; r; r = r->next) {
        if (r->fenced)
            continue;
        if (r->repair == NULL) {
            r->repair = calloc(1, sizeof(*r->repair));
            if (r->repair == NULL)
                continue;
            *r->repair = (struct replica_repair){
                .scrub_next = -1, .scrub_due_ms = now, .base = -1}; /* a pass at attach */
        }
        repair_replica(r, r->repair, now);
    }
    scrub_some(d, now);
}

struct overwrite {
    struct log_ctl ctl;
    struct replica *r;
    int32_t from;
    uint8_t data[];
};

static void overwritten(struct log_ctl *c, int status)
{
    struct overwrite *o = rl_container_of(c, struct overwrite, ctl);
    struct replica *r = o->r;
    struct replica_repair *st = r->repair;
    if (!r->dead && st != NULL) {
        assert(st->writing);
        st->writing = false;
        if (status == LOG_OK) {
            DIAG_WARN("partition %s-%u: the bad batch at offset %lld repaired in place with "
                      "node %d's copy",
                      r->host.topic, r->host.index, (long long)st->base, o->from);
            st->base = -1;
        } else {
            DIAG_WARN("partition %s-%u: node %d's copy of offset %lld was not written (%s)",
                      r->host.topic, r->host.index, o->from, (long long)st->base,
                      log_status_str(status));
        }
    }
    free(o);
    replica_release(r);
}

/*
 * A leader whose bad batch no other voter holds, twice asked each: the
 * batch is not committed (a commit needs a majority, and only this replica
 * ever had it), and the followers cannot get past it. It is a lost write,
 * as if its append had failed (docs/REPLICATION.md "Storage failures"):
 * the log is cut there, the core forgets it and the leader steps down, so
 * a replica with a good log leads on. Committed data is never dropped.
 */
static void give_up(struct replica *r, struct replica_repair *st, uint32_t others)
{
    int64_t base = st->base;
    if (!replica_is_leader(r) || st->refusals < 2 * others || base < replica_commit(r) ||
        base >= replica_group_log_end(&r->rg))
        return;
    assert(base >= partition_log_start_offset(r->host.log));
    DIAG_ERROR("partition %s-%u: batch at offset %lld fails its checksum here and no other "
               "replica holds it (it was never committed): dropping it and the log after it as "
               "a lost write; this replica stops leading",
               r->host.topic, r->host.index, (long long)base);
    struct rg_output *out = replica_out(r->drv);
    int rc = replica_group_write_failed(&r->rg, base, out);
    if (rc == RG_OK) {
        r->write_gen++; /* completions of writes in flight are dropped, as after a failed write */
        replica_log_op(r, &(struct rg_log_op){.type = RG_LOG_TRUNCATE, .offset = base});
        st->base = -1;
    }
    replica_finish(r, out, rc);
}

/* A peer has no good copy: the next replica at once, unless a round just ended. */
static void refused(struct replica *r, struct replica_repair *st, int32_t from,
                    const Ringlog__ReplicaRepairResponse *m)
{
    int32_t nodes[RG_MAX_NODES];
    uint32_t n = candidates(r, nodes);
    assert(!m->ok && m->base_offset == st->base);
    DIAG_INFO("partition %s-%u: node %d has no good copy of offset %lld: %s", r->host.topic,
              r->host.index, from, (long long)m->base_offset, m->reason ? m->reason : "");
    st->refusals++;
    if (n > 0 && st->tries % n != 0)
        st->next_try_ms = clock_monotonic_ms();
    give_up(r, st, n);
}

/* A peer's answer to this replica's request: a copy goes over the bad batch, if it fits it. */
static void take_response(struct replica *r, int32_t from, const Ringlog__ReplicaRepairResponse *m)
{
    struct replica_repair *st = r->repair;
    if (st == NULL || st->writing || m->base_offset != st->base)
        return; /* stale: an earlier request's, or already repaired */
    if (!m->ok) {
        refused(r, st, from, m);
        return;
    }
    st->refusals = 0;
    struct overwrite *o = malloc(sizeof(*o) + m->batch.len);
    if (!o)
        return; /* asked again after the back-off */
    memset(&o->ctl, 0, sizeof(o->ctl));
    o->ctl.on_complete = overwritten;
    o->r = r;
    o->from = from;
    memcpy(o->data, m->batch.data, m->batch.len);
    r->io_pending++;
    st->writing = true;
    /* partition_log_overwrite checks it: a valid batch, the bad one's offsets, epoch, length. */
    int rc = partition_log_overwrite(r->host.log, o->data, m->batch.len, &o->ctl);
    if (rc != LOG_OK)
        overwritten(&o->ctl, rc);
}

/* -------------------------------------------------------------- answering */

struct serve {
    struct log_read read;
    struct replica *r;
    Ringlog__ReplicaRepairRequest q; /* the request's scalars */
};

static void reply(struct shard *s, const Ringlog__ReplicaRepairRequest *q, const uint8_t *batch,
                  size_t len, const char *reason)
{
    Ringlog__ReplicaRepairResponse a = RINGLOG__REPLICA_REPAIR_RESPONSE__INIT;
    a.topic_id = q->topic_id;
    a.partition = q->partition;
    a.from_node = q->to_node;
    a.to_node = q->from_node;
    a.base_offset = q->base_offset;
    a.ok = batch != NULL;
    a.batch.data = (uint8_t *)batch;
    a.batch.len = batch ? len : 0;
    a.reason = (char *)(reason ? reason : "");
    Ringlog__PeerMessage pm = RINGLOG__PEER_MESSAGE__INIT;
    pm.body_case = RINGLOG__PEER_MESSAGE__BODY_REPAIR_RESPONSE;
    pm.repair_response = &a;
    send_message(s, q->from_node, &pm);
}

/*
 * Why the read's data is not exactly the asked batch (NULL: it is). In a
 * compacted partition each replica compacts on its own: a batch at the same
 * offsets and epoch may have lost other records here, so only a copy with
 * the asker's stored checksum goes (a flip in that very field is then not
 * repaired, and stays refused to readers, rather than records replaced).
 */
static const char *mismatch(const struct log_read *rd, const Ringlog__ReplicaRepairRequest *q,
                            const struct partition_log *log)
{
    struct rl_batch_header h;
    if (rd->len != q->length || rl_batch_header_read(rd->data, rd->len, &h) != RL_OK)
        return "a different batch here (length)";
    if (h.base_offset != q->base_offset || rl_batch_last_offset(&h) != q->last_offset)
        return "a different batch here (offsets)";
    if (h.leader_epoch != q->epoch)
        return "a different batch here (epoch)";
    if (q->checksum != 0 && h.checksum != q->checksum && partition_log_compacts(log))
        return "a different batch here (compacted differently)";
    return NULL;
}

static void served(struct log_read *rd, int status)
{
    struct serve *sv = rl_container_of(rd, struct serve, read);
    struct replica *r = sv->r;
    struct shard *s = r->host.shard;
    assert(r->drv->repair_serving > 0);
    r->drv->repair_serving--;
    const char *why = status != LOG_OK ? log_status_str(status) : mismatch(rd, &sv->q, r->host.log);
    if (why == NULL)
        reply(s, &sv->q, rd->data, rd->len, NULL);
    else
        reply(s, &sv->q, NULL, 0, why);
    free(rd->buf);
    free(sv);
    replica_release(r);
}

/* A peer asks for a batch of r: read it (verifying), answer with it or why not. */
static void serve_request(struct shard *s, struct replica *r,
                          const Ringlog__ReplicaRepairRequest *q)
{
    struct replica_driver *d = s->replicas;
    if (r == NULL || r->fenced) {
        reply(s, q, NULL, 0, "no replica of this partition here");
        return;
    }
    if (q->length < RL_BATCH_HEADER_BYTES || q->length > s->srv->cfg.max_frame_bytes / 2 ||
        q->last_offset < q->base_offset) {
        reply(s, q, NULL, 0, "invalid request");
        return;
    }
    struct serve *sv = d->repair_serving < REPAIR_MAX_SERVING ? calloc(1, sizeof(*sv)) : NULL;
    uint8_t *buf = sv ? malloc(q->length) : NULL;
    if (!buf) {
        free(sv);
        reply(s, q, NULL, 0, "busy");
        return;
    }
    sv->r = r;
    sv->q = *q;
    sv->read.offset = q->base_offset;
    sv->read.max_offset = q->last_offset + 1;
    sv->read.buf = buf;
    sv->read.cap = q->length;
    sv->read.verify = true; /* our own copy may be bad too: then it is recorded here */
    sv->read.on_complete = served;
    r->io_pending++;
    d->repair_serving++;
    int rc = partition_log_read(r->host.log, &sv->read);
    if (rc != LOG_OK)
        served(&sv->read, rc);
}

/* ---------------------------------------------------------------- receive */

/* The body's first key: PeerMessage field 20 or 21, length-delimited: the varints of
 * 20 << 3 | 2 = 162 (0xa2 0x01) and 21 << 3 | 2 = 170 (0xaa 0x01). */
static bool is_repair(const uint8_t *body, size_t len)
{
    return len >= 2 && body[1] == 0x01 && (body[0] == 0xa2 || body[0] == 0xaa);
}

bool replica_repair_peek(const uint8_t *body, size_t len, struct rw_group *group)
{
    if (!is_repair(body, len))
        return false;
    if (group == NULL)
        return true;
    Ringlog__PeerMessage *pm = ringlog__peer_message__unpack(NULL, len, body);
    if (pm == NULL)
        return false;
    bool req = pm->body_case == RINGLOG__PEER_MESSAGE__BODY_REPAIR_REQUEST;
    group->topic_id = req ? pm->repair_request->topic_id : pm->repair_response->topic_id;
    group->partition = req ? pm->repair_request->partition : pm->repair_response->partition;
    ringlog__peer_message__free_unpacked(pm, NULL);
    return true;
}

void replica_repair_deliver(struct shard *s, int32_t from, uint8_t *body, size_t len)
{
    struct replica_driver *d = s->replicas;
    Ringlog__PeerMessage *pm = d ? ringlog__peer_message__unpack(NULL, len, body) : NULL;
    free(body);
    if (pm == NULL)
        return;
    int32_t self = s->srv->cfg.node_id;
    if (pm->body_case == RINGLOG__PEER_MESSAGE__BODY_REPAIR_REQUEST) {
        const Ringlog__ReplicaRepairRequest *q = pm->repair_request;
        if (q->to_node == self && q->from_node == from)
            serve_request(s, replica_find(d, q->topic_id, q->partition), q);
    } else if (pm->body_case == RINGLOG__PEER_MESSAGE__BODY_REPAIR_RESPONSE) {
        const Ringlog__ReplicaRepairResponse *a = pm->repair_response;
        struct replica *r = replica_find(d, a->topic_id, a->partition);
        if (r && !r->fenced && a->to_node == self && a->from_node == from)
            take_response(r, from, a);
    }
    ringlog__peer_message__free_unpacked(pm, NULL);
}
