/*
 * The replication driver's storage side: the core's log operations mapped
 * one to one onto the storage engine (truncate, reset, exact-offset appends
 * of received batches, epoch markers and configuration batches), the reads
 * that fill a leader's APPENDs, and the written / durable reports back to
 * the core, with the durable clamp of docs/REPLICATION.md "Storage
 * failures": a durability report never covers a truncation or reset still
 * in flight.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "diag.h"
#include "log/log_status.h"
#include "replica_internal.h"
#include "replica_tail.h"
#include "shard.h"

/* An APPEND read is at most this many bytes (one segment's worth, whole batches). */
#define APPEND_READ_BYTES (1u << 20)
/* ... and moves past at most this many segments compaction emptied (the next APPEND goes on). */
#define APPEND_READ_HOPS 64

void rx_body_put(struct rx_body *b)
{
    assert(b->refs > 0);
    if (--b->refs == 0) {
        free(b->body);
        free(b);
    }
}

/* A storage failure the core cannot take (truncate, reset): stop the group until restart. */
static void fence(struct replica *r, const char *what, int status)
{
    DIAG_ERROR("partition %s-%u: %s failed (%s): replication of this partition stops until "
               "the broker restarts",
               r->host.topic, r->host.index, what, log_status_str(status));
    r->fenced = true;
    r->ev->leadership(r->host.owner, false, -1, replica_term(r));
}

/*
 * The high watermark the log checkpoints (and restores as the group's
 * commit): min(commit, durable end), never while a reset is unsynced — a
 * leader may commit past its own fsync (docs/REPLICATION.md, "Checkpointed
 * high watermark").
 */
void replica_checkpoint_commit(struct replica *r)
{
    if (r->dead || r->reset_pending > 0)
        return;
    int64_t durable = replica_group_durable_end(&r->rg); /* per the flush policy */
    int64_t hw = r->commit < durable ? r->commit : durable;
    if (hw > partition_log_high_watermark(r->host.log))
        partition_log_set_high_watermark(r->host.log, hw);
}

void replica_durable(struct replica *r, int64_t durable)
{
    if (r->dead || r->fenced || r->reset_pending > 0)
        return;
    if (r->trunc_pending > 0 && durable > r->trunc_floor)
        durable = r->trunc_floor;
    struct rg_output *out = replica_out(r->drv);
    replica_finish(r, out, replica_group_durable(&r->rg, durable, out));
    replica_checkpoint_commit(r);
}

/*
 * The core learns the new log start with the config in effect there (the
 * newest config batch below it, which the log's table still keeps after
 * its batch is gone); NULL when none is: the bootstrap is.
 */
void replica_log_start_advanced(struct replica *r, int64_t start)
{
    if (r->dead || r->fenced || r->reset_pending > 0)
        return;
    const struct log_config *c;
    uint32_t n = partition_log_configs(r->host.log, &c);
    struct rg_config_entry at = {.offset = -1};
    for (uint32_t i = 0; i < n && c[i].offset < start; i++)
        if (replica_wire_decode_membership(c[i].value, c[i].len, &at.membership) == RL_OK)
            at.offset = c[i].offset;
    assert(at.offset < start);
    int rc = replica_group_log_start_advanced(&r->rg, start, at.offset >= 0 ? &at : NULL);
    if (rc != RG_OK)
        DIAG_WARN("partition %s-%u: log start %lld not taken by the group: %s", r->host.topic,
                  r->host.index, (long long)start, rg_status_str(rc));
}

/* -------------------------------------------------------------- tail */

/* Idle this long with nothing to send from, a tail gives its memory back. */
#define TAIL_IDLE_MS 1000

void replica_tail_drop(struct replica *r)
{
    if (r->tail == NULL)
        return;
    replica_tail_clear(r->tail, &r->drv->tail_budget);
    free(r->tail);
    r->tail = NULL;
}

static int64_t peers_match(const struct replica *r);

void replica_tail_tick(struct replica *r, int64_t now_ms)
{
    if (r->tail == NULL)
        return;
    /* Trimmed here too: an idle partition sends nothing that would trim it. */
    if (replica_is_leader(r))
        replica_tail_trim(r->tail, peers_match(r), &r->drv->tail_budget);
    if ((r->tail->count == 0 || !replica_is_leader(r)) &&
        now_ms - r->tail->last_used_ms >= TAIL_IDLE_MS)
        replica_tail_drop(r);
}

/* A leader keeps what it appends at [base, end), in log order, for its APPENDs (replica_tail.h). */
static bool tail_keep(struct replica *r, int64_t base, int64_t end, const uint8_t *data, size_t len)
{
    assert(base < end);
    if (r->dead || r->fenced || !replica_is_leader(r))
        return false;
    if (r->tail == NULL && (r->tail = calloc(1, sizeof(*r->tail))) == NULL)
        return false;
    r->tail->last_used_ms = r->host.shard->loop.now_ms;
    return replica_tail_add(r->tail, base, end, data, len, &r->drv->tail_budget);
}

/* The offset every peer's log matches up to: the tail below it is no longer needed. */
static int64_t peers_match(const struct replica *r)
{
    const struct rg_membership *m = replica_group_membership(&r->rg);
    int64_t low = INT64_MAX;
    for (uint32_t i = 0; i < m->voter_count + m->learner_count; i++) {
        int32_t node = i < m->voter_count ? m->voters[i] : m->learners[i - m->voter_count];
        const struct rg_peer *p = replica_group_peer(&r->rg, node); /* NULL: itself */
        if (p != NULL && p->match < low)
            low = p->match;
    }
    return low;
}

/* ------------------------------------------------------------ writes */

struct rwrite {
    struct log_append a;
    struct replica *r;
    struct rx_body *body; /* received batches, or NULL */
    uint8_t *own;         /* a batch the driver built (marker, config), or NULL */
    int64_t end;
    int32_t epoch;
    uint64_t gen;
};

void replica_written(struct replica *r, int64_t end, int32_t epoch, uint64_t gen, int status)
{
    if (r->dead || r->fenced || gen != r->write_gen)
        return; /* dropped after an earlier failure: the core already forgot it */
    struct rg_output *out = replica_out(r->drv);
    if (status != LOG_OK) {
        r->write_gen++;
        DIAG_WARN("partition %s-%u: a replicated write failed (%s)", r->host.topic, r->host.index,
                  log_status_str(status));
        int64_t end_now = partition_log_end_offset(r->host.log);
        replica_finish(r, out, replica_group_write_failed(&r->rg, end_now, out));
        return;
    }
    replica_finish(r, out, replica_group_appended(&r->rg, end, epoch, out));
    /* Under flush=none the policy's "durable" is "written" (docs/REPLICATION.md). */
    if (r->host.flush == LOG_FLUSH_NONE)
        replica_durable(r, end);
}

static void rwrite_done(struct log_append *a, int status)
{
    struct rwrite *w = rl_container_of(a, struct rwrite, a);
    struct replica *r = w->r;
    /* Followers keep producer state from what they append, for a retry after failover. */
    if (!r->dead && status == LOG_OK && w->body && w->gen == r->write_gen)
        r->ev->written(r->host.owner, a->data, a->len);
    if (!r->dead && status == LOG_OK)
        r->ev->log_changed(r->host.owner);
    replica_written(r, w->end, w->epoch, w->gen, status); /* no-op if rwrite_stored did */
    if (w->body)
        rx_body_put(w->body);
    free(w->own);
    free(w);
    replica_release(r);
}

/*
 * Whether the tail holds [the core's written end, end): then the core may
 * send up to end before the log makes it readable (under flush=always an
 * fdatasync later). Without it an APPEND would be read from the log and
 * find nothing yet.
 */
static bool tail_covers(const struct replica *r, int64_t end)
{
    return r->tail != NULL && replica_tail_start(r->tail) <= replica_group_written_end(&r->rg) &&
           end <= replica_tail_end(r->tail);
}

/* A leader's own control batch (epoch marker, config) is in the file: replicated from the tail. */
static void rwrite_stored(struct log_append *a, int status)
{
    struct rwrite *w = rl_container_of(a, struct rwrite, a);
    assert(status == LOG_OK && w->own != NULL);
    if (!w->r->dead && !w->r->fenced && w->gen == w->r->write_gen && tail_covers(w->r, w->end))
        replica_written(w->r, w->end, w->epoch, w->gen, LOG_OK);
}

void replica_proposed(struct replica *r, const uint8_t *data, size_t len, int64_t base, int64_t end,
                      int32_t epoch, uint64_t gen)
{
    assert(base < end && len > 0);
    if (r->dead || r->fenced || gen != r->write_gen || !tail_keep(r, base, end, data, len) ||
        !tail_covers(r, end))
        return; /* reported when written, as without a tail */
    struct rg_output *out = replica_out(r->drv);
    replica_finish(r, out, replica_group_appended(&r->rg, end, epoch, out));
}

static void issue_write(struct replica *r, struct rwrite *w, uint8_t *data, size_t len)
{
    assert(len > 0);
    w->r = r;
    w->gen = r->write_gen;
    w->a.data = data;
    w->a.len = len;
    w->a.flags = LOG_APPEND_EXACT_OFFSETS | LOG_APPEND_CONTROL;
    w->a.on_written = rwrite_done;
    w->a.on_stored = w->own ? rwrite_stored : NULL;
    r->io_pending++;
    int rc = partition_log_append(r->host.log, &w->a);
    if (rc != LOG_OK)
        rwrite_done(&w->a, rc); /* reported as a failed write, like a disk error */
}

/*
 * Batches of a received APPEND whose base offset is in [from, to). In a
 * compacted log (gaps between batches) [from, to) may hold none: this
 * replica holds a batch an earlier leader compacted more than the sender
 * did, which ends inside one of the sender's. The records of [from, to)
 * were superseded (that is why they went), so the range is a gap here:
 * nothing is written, the next batch starts past it (exact-offset appends
 * take gaps), and the core hears it written once the appends queued before
 * it are, through a flush (control operations run in order with appends).
 */
struct rgap {
    struct log_ctl ctl;
    struct replica *r;
    int64_t end;
    int32_t epoch;
    uint64_t gen;
};

static void gap_done(struct log_ctl *c, int status)
{
    struct rgap *g = rl_container_of(c, struct rgap, ctl);
    struct replica *r = g->r;
    assert(r->io_pending > 0);
    replica_written(r, g->end, g->epoch, g->gen, status);
    free(g);
    replica_release(r);
}

static void write_gap(struct replica *r, const struct rg_log_op *op)
{
    assert(op->to > op->offset);
    DIAG_INFO("partition %s-%u: offsets [%lld, %lld] are compacted away here (the sender holds "
              "them in a batch it compacted less): a gap",
              r->host.topic, r->host.index, (long long)op->offset, (long long)op->to - 1);
    struct rgap *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        replica_written(r, op->to, op->epoch, r->write_gen, LOG_ERR_NOMEM);
        return;
    }
    *g = (struct rgap){.r = r, .end = op->to, .epoch = op->epoch, .gen = r->write_gen};
    g->ctl.on_complete = gap_done;
    r->io_pending++;
    int rc = partition_log_flush(r->host.log, &g->ctl);
    if (rc != LOG_OK)
        gap_done(&g->ctl, rc);
}

static void write_received(struct replica *r, const struct rg_log_op *op)
{
    struct rx_body *b = op->payload;
    struct rl_batch_header h;
    size_t pos = 0, start = SIZE_MAX, stop = b->records_len;
    while (pos < b->records_len &&
           rl_batch_header_read(b->records + pos, b->records_len - pos, &h) == RL_OK) {
        if (start == SIZE_MAX && h.base_offset >= op->offset)
            start = pos;
        if (h.base_offset >= op->to) {
            stop = pos;
            break;
        }
        pos += rl_batch_total_bytes(&h);
    }
    if (start == SIZE_MAX || start >= stop) {
        write_gap(r, op);
        return;
    }
    struct rwrite *w = calloc(1, sizeof(*w));
    if (!w) {
        replica_written(r, op->to, op->epoch, r->write_gen, LOG_ERR_NOMEM);
        return;
    }
    b->refs++;
    w->body = b;
    w->end = op->to;
    /* The epoch of the last batch: the core's run covering to - 1. */
    w->epoch = replica_group_epoch_at(&r->rg, op->to - 1);
    issue_write(r, w, b->records + start, stop - start);
}

/* A one-record control batch: an epoch marker or a configuration entry. */
static void write_control(struct replica *r, const struct rg_log_op *op)
{
    uint8_t *buf = malloc(1024);
    struct rwrite *w = calloc(1, sizeof(*w));
    size_t n = 0;
    if (buf && w && op->type == RG_LOG_APPEND_CONFIG) {
        n = replica_wire_build_config_batch(buf, 1024, &op->membership, 0);
    } else if (buf && w) {
        uint8_t key[2] = {(uint8_t)RL_CONTROL_EPOCH_MARKER, 0};
        struct rl_batch_producer none = {
            .producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
        struct rl_batch_builder bb;
        struct rl_record_in rec = {.key = key, .key_len = sizeof(key)};
        if (rl_batch_builder_init(&bb, buf, 1024, &none) == RL_OK &&
            rl_batch_builder_add(&bb, &rec) == RL_OK) {
            n = rl_batch_builder_finish(&bb);
            rl_batch_make_control(buf, n);
        }
    }
    if (n == 0) {
        free(buf);
        free(w);
        replica_written(r, op->offset + 1, op->epoch, r->write_gen, LOG_ERR_NOMEM);
        return;
    }
    rl_batch_stamp(buf, op->offset, op->epoch);
    tail_keep(r, op->offset, op->offset + 1, buf, n); /* in log order, before later proposals */
    w->own = buf;
    w->end = op->offset + 1;
    w->epoch = op->epoch;
    issue_write(r, w, buf, n);
}

/* --------------------------------------------------- truncate, reset */

struct rctl {
    struct log_ctl ctl;
    struct replica *r;
    bool reset;
    int64_t truncated_at;
    struct log_config config; /* reset: the config in effect at the start */
};

static void rctl_done(struct log_ctl *c, int status)
{
    struct rctl *x = rl_container_of(c, struct rctl, ctl);
    struct replica *r = x->r;
    if (x->reset) {
        assert(r->reset_pending > 0);
        r->reset_pending--;
    } else {
        assert(r->trunc_pending > 0);
        if (--r->trunc_pending == 0)
            r->trunc_floor = INT64_MAX;
    }
    if (!r->dead && !r->fenced) {
        if (status != LOG_OK) {
            fence(r, x->reset ? "a reset" : "a truncation", status);
        } else {
            r->ev->truncated(r->host.owner, x->reset ? -1 : x->truncated_at);
            r->ev->log_changed(r->host.owner);
            if (x->reset)
                replica_durable(r, partition_log_durable_offset(r->host.log));
        }
    }
    free(x);
    replica_release(r);
}

static void issue_ctl(struct replica *r, const struct rg_log_op *op)
{
    struct rctl *x = calloc(1, sizeof(*x));
    if (!x) {
        fence(r, "a truncation (no memory)", LOG_ERR_NOMEM);
        return;
    }
    x->r = r;
    x->ctl.on_complete = rctl_done;
    r->io_pending++;
    replica_tail_drop(r); /* what it holds may be cut */
    int rc;
    if (op->type == RG_LOG_TRUNCATE) {
        if (r->trunc_pending++ == 0 || op->offset < r->trunc_floor)
            r->trunc_floor = op->offset;
        x->truncated_at = op->offset;
        rc = partition_log_truncate(r->host.log, op->offset, &x->ctl);
    } else {
        x->reset = true;
        r->reset_pending++;
        if (op->config_offset >= 0) {
            /* The log keeps it: a restart restores this membership, not the bootstrap's. */
            size_t n = replica_wire_encode_membership(x->config.value, LOG_CONFIG_VALUE_MAX,
                                                      &op->membership);
            assert(op->config_offset < op->offset);
            x->config.offset = op->config_offset;
            x->config.len = (uint16_t)n;
            x->ctl.config = n > 0 ? &x->config : NULL; /* 0: a membership past the table's room */
        }
        rc = partition_log_reset(r->host.log, op->offset, op->epoch, &x->ctl);
    }
    if (rc != LOG_OK)
        rctl_done(&x->ctl, rc);
}

void replica_log_op(struct replica *r, const struct rg_log_op *op)
{
    assert(!r->dead);
    if (r->fenced)
        return;
    switch (op->type) {
    case RG_LOG_TRUNCATE:
    case RG_LOG_RESET:
        /* A reset below the log end truncates first (partition_log_reset's rule). */
        if (op->type == RG_LOG_RESET && op->offset < partition_log_end_offset(r->host.log)) {
            struct rg_log_op t = {.type = RG_LOG_TRUNCATE,
                                  .offset = partition_log_start_offset(r->host.log)};
            issue_ctl(r, &t);
        }
        issue_ctl(r, op);
        return;
    case RG_LOG_APPEND_RECEIVED:
        write_received(r, op);
        return;
    case RG_LOG_APPEND_MARKER:
    case RG_LOG_APPEND_CONFIG:
        write_control(r, op);
        return;
    }
    assert(!"unknown log op");
}

/* ------------------------------------------------------ APPEND reads */

struct aread {
    struct log_read read;
    struct replica *r;
    struct rg_message msg;
    uint8_t *buf;
    bool retried;
    uint32_t hops; /* reads moved past segments compaction emptied */
};

static void aread_free(struct aread *a)
{
    struct replica *r = a->r;
    free(a->buf);
    free(a);
    replica_release(r);
}

/*
 * The end of the last whole batch in data (a batch boundary) that an
 * APPEND may carry, or -1; *skip and *bytes get the position of the first
 * batch it carries and the end of the last. An APPEND stops before a config
 * batch past RG_MAX_CONFIGS_PER_APPEND: a follower refuses more, and a run
 * of quick membership changes (a move off a broker and back, again and
 * again) wedged it behind the same refused APPEND (the chaos suite's move
 * fault). In a compacted log the first batch may start past `first` (a
 * gap) or, when this replica compacted a batch less than the one the
 * follower holds, straddle it: that batch is left out, since its records
 * past `first` were compacted away on the follower's side (a superseded
 * value), and the follower's log ends at a boundary of its own.
 */
static int64_t batches_end(const uint8_t *data, size_t len, int64_t first, size_t *skip,
                           size_t *bytes)
{
    struct rl_batch_header h;
    size_t pos = 0;
    int64_t end = -1;
    uint32_t configs = 0;
    *skip = 0;
    while (pos < len && rl_batch_header_read(data + pos, len - pos, &h) == RL_OK &&
           rl_batch_total_bytes(&h) <= len - pos) {
        if (end < 0 && h.base_offset < first) {
            pos += rl_batch_total_bytes(&h); /* straddles first: compacted differently */
            *skip = pos;
            continue;
        }
        if (replica_wire_is_config_batch(data + pos, &h) && ++configs > RG_MAX_CONFIGS_PER_APPEND)
            break;
        end = rl_batch_last_offset(&h) + 1;
        pos += rl_batch_total_bytes(&h);
    }
    assert(pos <= len && configs <= RG_MAX_CONFIGS_PER_APPEND + 1);
    assert(end < 0 || *skip < pos);
    *bytes = pos;
    return end;
}

static int read_at(struct aread *a, int64_t offset, size_t cap);

static void aread_done(struct log_read *rd, int status)
{
    struct aread *a = rl_container_of(rd, struct aread, read);
    struct replica *r = a->r;
    if (!r->dead && status == LOG_ERR_BUFFER_TOO_SMALL && !a->retried) {
        a->retried = true;
        if (read_at(a, rd->offset, rd->needed_bytes) == LOG_OK)
            return;
    }
    if (!r->dead && status == LOG_OK && rd->len == 0 && rd->next_offset > rd->offset &&
        rd->next_offset < a->msg.end && a->hops++ < APPEND_READ_HOPS) {
        /* A closed segment compaction emptied: the batches go on at the next one's base. */
        if (read_at(a, rd->next_offset, rd->cap) == LOG_OK)
            return;
    }
    if (r->dead || r->fenced || status != LOG_OK || rd->len == 0) {
        aread_free(a); /* gone by retention or truncation: the peer is probed again */
        return;
    }
    size_t skip = 0, bytes = 0;
    int64_t end = batches_end(rd->data, rd->len, a->msg.prev_end, &skip, &bytes);
    bytes -= skip;
    skip += (size_t)(rd->data - a->buf);
    if (end <= a->msg.prev_end || end > a->msg.end) {
        aread_free(a);
        return;
    }
    struct rg_output *out = replica_out(r->drv);
    int rc = replica_group_append_read(&r->rg, &a->msg, end, out);
    if (rc == RG_OK) {
        /* The read stopped below msg->end (max_offset), and end is where it
         * stopped: append_read cut the message there, so all of it goes. */
        assert(a->msg.end == end);
        if (skip > 0)
            memmove(a->buf, a->buf + skip, bytes);
        metrics_add(&r->host.shard->metrics.appends_from_log, 1);
        replica_send_message(r, &a->msg, a->buf, a->buf, bytes);
        a->buf = NULL; /* the message owns it */
    }
    replica_finish(r, out, rc);
    aread_free(a);
}

/* Reads from `offset` (the APPEND's prev_end, or past an emptied segment) into a new buffer. */
static int read_at(struct aread *a, int64_t offset, size_t cap)
{
    free(a->buf);
    a->buf = malloc(cap);
    if (!a->buf)
        return LOG_ERR_NOMEM;
    assert(offset >= a->msg.prev_end && offset < a->msg.end);
    struct log_read *rd = &a->read;
    memset(rd, 0, sizeof(*rd));
    rd->offset = offset;
    rd->max_offset = a->msg.end;
    rd->buf = a->buf;
    rd->cap = cap;
    rd->verify = true; /* a batch failing its checksum is not sent: recorded for repair */
    rd->on_complete = aread_done;
    return partition_log_read(a->r->host.log, rd);
}

/*
 * An APPEND sent from the tail when it holds the range's first batches:
 * whole entries of one chunk, cut like a read (APPEND_READ_BYTES, the
 * config cap). False: read it from the log.
 */
static bool send_from_tail(struct replica *r, const struct rg_message *msg)
{
    assert(msg->end > msg->prev_end);
    if (r->tail == NULL)
        return false;
    replica_tail_trim(r->tail, peers_match(r), &r->drv->tail_budget);
    struct tail_slice sl;
    if (!replica_tail_find(r->tail, msg->prev_end, msg->end, APPEND_READ_BYTES, &sl))
        return false;
    r->tail->last_used_ms = r->host.shard->loop.now_ms;
    size_t skip = 0, bytes = 0;
    int64_t end = batches_end(sl.data, sl.len, msg->prev_end, &skip, &bytes);
    if (end <= msg->prev_end || skip > 0) {
        tail_chunk_release(sl.chunk); /* not whole batches from prev_end: the log decides */
        return false;
    }
    assert(end <= sl.end && bytes > 0 && bytes <= sl.len);
    struct rg_message m = *msg;
    struct rg_output *out = replica_out(r->drv);
    int rc = replica_group_append_read(&r->rg, &m, end, out);
    if (rc == RG_OK) {
        assert(m.end == end);
        metrics_add(&r->host.shard->metrics.appends_from_tail, 1);
        replica_send_slice(r, &m, sl.data, bytes, sl.chunk);
    } else {
        tail_chunk_release(sl.chunk);
    }
    replica_finish(r, out, rc);
    return true;
}

static void read_from_log(struct replica *r, const struct rg_message *msg)
{
    assert(msg->end > msg->prev_end);
    struct aread *a = calloc(1, sizeof(*a));
    if (!a)
        return; /* the peer is probed again */
    a->r = r;
    a->msg = *msg;
    r->io_pending++;
    if (read_at(a, msg->prev_end, APPEND_READ_BYTES) != LOG_OK)
        aread_free(a);
}

static void queue_tail_send(struct replica *r, const struct rg_message *msg)
{
    struct tail_send *t = malloc(sizeof(*t));
    if (t == NULL) {
        read_from_log(r, msg);
        return;
    }
    t->next = NULL;
    t->r = r;
    t->msg = *msg;
    r->io_pending++; /* held until sent, like a read */
    struct replica_driver *d = r->drv;
    if (d->tail_sends_last != NULL)
        d->tail_sends_last->next = t;
    else
        d->tail_sends = t;
    d->tail_sends_last = t;
}

void replica_read_append(struct replica *r, const struct rg_message *msg)
{
    assert(msg->type == RG_MSG_APPEND);
    if (msg->end == msg->prev_end) {
        /* A probe or a bare commit update: nothing to read. */
        struct rg_message m = *msg;
        struct rg_output *out = replica_out(r->drv);
        int rc = replica_group_append_read(&r->rg, &m, m.end, out);
        if (rc == RG_OK)
            replica_send_message(r, &m, NULL, NULL, 0);
        replica_finish(r, out, rc);
        return;
    }
    if (r->tail != NULL && r->tail->count > 0) {
        queue_tail_send(r, msg);
        return;
    }
    read_from_log(r, msg);
}

/*
 * The APPENDs queued for the tail this turn, sent before the loop waits:
 * each with an output of its own at the top level (a cut APPEND's next
 * piece queues again), not nested in the event that asked for it, whose
 * output stack is only REPLICA_OUT_DEPTH deep.
 */
void replica_tail_sends(struct replica_driver *d)
{
    assert(d->depth == 0);
    while (d->tail_sends != NULL) {
        struct tail_send *t = d->tail_sends;
        d->tail_sends = t->next;
        if (d->tail_sends == NULL)
            d->tail_sends_last = NULL;
        struct replica *r = t->r;
        if (!r->dead && !r->fenced && !send_from_tail(r, &t->msg))
            read_from_log(r, &t->msg);
        free(t);
        replica_release(r);
    }
    assert(d->tail_sends_last == NULL);
}
