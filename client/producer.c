/*
 * The producer: records are appended to a per-partition batch under the
 * cluster lock by the application thread (ringlog_produce); the I/O thread
 * seals batches after linger-ms or when full, builds produce requests per
 * leader (several in flight per connection), handles answers, retries with
 * backoff until delivery-timeout-ms, and hands finished batches to the
 * delivery callback outside the lock.
 *
 * Ordering and idempotence: a partition's sealed batches wait in one FIFO,
 * in sequence order, whether in flight or not. After a retriable failure the
 * partition stops sending until everything it has in flight has come back,
 * then resends from the head, so a partition's records reach the log in the
 * order they were produced. With enable-idempotence (default) each batch
 * carries the producer id, epoch and its base sequence: the broker drops a
 * retried batch it already has, and rejects a gap. A rejected head batch
 * (the broker lost our sequence, e.g. the topic was re-created) makes the
 * producer bump its epoch, restart every partition at sequence 0 and
 * re-stamp the waiting batches.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accumulator.h"
#include "cluster.h"
#include "conn.h"
#include "errors.h"
#include "partitioner.h"
#include "ringlog.h"

struct ptopic;

struct ppart {
    struct ptopic *topic;
    int32_t id;
    struct rl_pbatch *open;        /* accepting records */
    struct rl_pbatch *head, *tail; /* sealed, in order: waiting or in flight */
    int inflight;
    int32_t next_seq;
    bool retry_pending; /* resend from the head once inflight is 0 */
    int64_t backoff_until;
    int64_t backoff_ms;
    int64_t leadership_since; /* first NOT_LEADER of the current episode (0: none) */
    int warned_err;           /* the refusal last shown to the application; 0 after a success */
};

struct ptopic {
    char *name;
    struct rl_topic_md *md; /* the cluster's entry: stable (a producer never unwants a topic) */
    int32_t npart;
    struct ppart **parts;
    int32_t sticky;
};

enum pid_state { PID_NONE, PID_REQUESTING, PID_READY };

struct ringlog_producer {
    struct rl_cluster *cl;
    const struct ringlog_conf *conf;
    pthread_cond_t space_cond; /* buffer room freed */
    pthread_cond_t done_cond;  /* deliveries reported */

    struct ptopic **topics;
    size_t ntopics;
    struct ptopic *last_topic; /* of the last produce: most calls name the same topic */

    size_t buffered;      /* bytes charged to buffer-bytes */
    uint64_t outstanding; /* records produced and not yet reported */
    int flushing;         /* flush() callers waiting */
    int space_waiters;
    size_t space_need; /* the largest footprint a space waiter waits to queue */
    int fatal;

    /* idempotence */
    enum pid_state pid_state;
    int64_t pid;
    int16_t epoch;
    bool need_bump;
    int64_t pid_retry_at;
    int total_inflight;

    /* finished batches, reported by the callbacks hook */
    struct rl_pbatch *done_head, *done_tail;
    size_t done_bytes; /* their buffer-bytes, freed once they are reported */
    /* reported batches of batch-bytes kept for reuse (rl_pbatch_reuse) */
    struct rl_pbatch *spare;
    int nspare;

    uint64_t rng;
};

/* One produce request in flight: which batches it carries. */
struct preq {
    struct ringlog_producer *p;
    int n;
    struct rl_pbatch *batches[];
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- topics and partitions */

static struct ptopic *ptopic_find(struct ringlog_producer *p, const char *name)
{
    for (size_t i = 0; i < p->ntopics; i++)
        if (strcmp(p->topics[i]->name, name) == 0)
            return p->topics[i];
    return NULL;
}

/* The topic if the producer has used it, trying the last one first. */
static struct ptopic *ptopic_recent(struct ringlog_producer *p, const char *name)
{
    struct ptopic *t = p->last_topic;
    if (t && strcmp(t->name, name) == 0)
        return t;
    t = ptopic_find(p, name);
    if (t)
        p->last_topic = t;
    return t;
}

static struct ptopic *ptopic_get(struct ringlog_producer *p, const char *name)
{
    struct ptopic *t = ptopic_find(p, name);
    if (t)
        return t;
    struct ptopic **arr = realloc(p->topics, (p->ntopics + 1) * sizeof(*arr));
    if (!arr)
        return NULL;
    p->topics = arr;
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->sticky = -1;
    p->topics[p->ntopics++] = t;
    return t;
}

/* Grows the topic's partition array to n (partitions never shrink). */
static int ptopic_resize(struct ptopic *t, int32_t n)
{
    if (n <= t->npart)
        return RINGLOG_OK;
    struct ppart **arr = realloc(t->parts, (size_t)n * sizeof(*arr));
    if (!arr)
        return RINGLOG_ERR_NOMEM;
    t->parts = arr;
    for (int32_t i = t->npart; i < n; i++) {
        struct ppart *pp = calloc(1, sizeof(*pp));
        if (!pp)
            return RINGLOG_ERR_NOMEM;
        pp->topic = t;
        pp->id = i;
        t->parts[i] = pp;
        t->npart = i + 1;
    }
    return RINGLOG_OK;
}

/* ---------------------------------------------------------------- completion */

static void batch_unlink(struct ppart *pp, struct rl_pbatch *b)
{
    struct rl_pbatch **pb = &pp->head, *prev = NULL;
    while (*pb && *pb != b) {
        prev = *pb;
        pb = &(*pb)->next;
    }
    if (!*pb)
        return;
    *pb = b->next;
    if (pp->tail == b)
        pp->tail = prev;
    b->next = NULL;
}

/*
 * In the default callback mode, whether a producer waiting for room should
 * serve the reports due now: when they free what it needs plus an eighth
 * of buffer-bytes (as room_for_waiters, so that it does not wake for every
 * acknowledged batch), or everything queued is done. Lock held.
 */
static bool room_once_served(const struct ringlog_producer *p)
{
    size_t cap = (size_t)p->conf->buffer_bytes;
    assert(p->done_bytes <= p->buffered);
    if (!p->done_head)
        return false;
    return p->done_bytes == p->buffered ||
           p->buffered - p->done_bytes + p->space_need + cap / 8 <= cap;
}

/* Moves a batch to the done list; its delivery reports run outside the lock. */
static void batch_complete(struct ringlog_producer *p, struct rl_pbatch *b, int err,
                           int64_t base_offset, const char *errstr)
{
    b->err = err;
    b->base_offset = err ? -1 : base_offset;
    snprintf(b->errstr, sizeof(b->errstr), "%s",
             err ? (errstr && errstr[0] ? errstr : ringlog_err_str(err)) : "");
    b->next = NULL;
    if (p->done_tail)
        p->done_tail->next = b;
    else
        p->done_head = b;
    p->done_tail = b;
    p->done_bytes += b->reserved;
    if (!p->conf->callbacks_on_io_thread) {
        pthread_cond_broadcast(&p->done_cond); /* ringlog_poll and flush serve it */
        if (p->space_waiters && room_once_served(p))
            pthread_cond_broadcast(&p->space_cond);
    }
}

/* Seals the open batch of a partition: it joins the send queue. */
static void seal(struct ringlog_producer *p, struct ppart *pp)
{
    struct rl_pbatch *b = pp->open;
    if (!b)
        return;
    pp->open = NULL;
    b->next = NULL;
    assert(!pp->tail || pp->tail->created_ms <= b->created_ms); /* see expire */
    if (pp->tail)
        pp->tail->next = b;
    else
        pp->head = b;
    pp->tail = b;
    struct ptopic *t = pp->topic;
    if (t->sticky == pp->id)
        t->sticky = rl_sticky_next(&p->rng, t->sticky, t->npart);
}

enum { MAX_SPARE_BATCHES = 16, MAX_SPARE_BYTES = 4 << 20 };

/* Keeps reported batches of the usual size for reuse; returns the others. Lock held. */
static struct rl_pbatch *keep_spares(struct ringlog_producer *p, struct rl_pbatch *list)
{
    struct rl_pbatch *rest = NULL;
    while (list) {
        struct rl_pbatch *b = list;
        list = b->next;
        if (p->nspare < MAX_SPARE_BATCHES && b->cap == (size_t)p->conf->batch_bytes &&
            (size_t)(p->nspare + 1) * b->cap <= MAX_SPARE_BYTES) {
            b->next = p->spare;
            p->spare = b;
            p->nspare++;
        } else {
            b->next = rest;
            rest = b;
        }
    }
    return rest;
}

/* An empty batch of `cap` bytes: a spare one when it has that size. NULL on ENOMEM. Lock held. */
static struct rl_pbatch *batch_open(struct ringlog_producer *p, size_t cap)
{
    int64_t now = rl_now_ms();
    struct rl_pbatch *b = p->spare;
    if (!b || b->cap != cap)
        return rl_pbatch_new(cap, now);
    p->spare = b->next;
    p->nspare--;
    rl_pbatch_reuse(b, now);
    return b;
}

/*
 * The records of a batch as they were produced, for the keys and values of
 * the delivery reports: the builder's buffer keeps them uncompressed
 * (compression writes a copy), whether the batch was sent or not.
 */
static void batch_records(const struct rl_pbatch *b, struct rl_record_iter *it)
{
    assert(b->builder.len >= RL_BATCH_HEADER_BYTES);
    struct rl_batch_header h = {.record_count = b->builder.count,
                                .last_offset_delta = b->builder.count - 1,
                                .first_timestamp = b->builder.first_timestamp};
    rl_record_iter_init_raw(it, b->builder.buf + RL_BATCH_HEADER_BYTES,
                            b->builder.len - RL_BATCH_HEADER_BYTES, &h);
}

/* Reports one finished batch: one call of the batch callback, else one per record. Returns calls.
 */
static int report_batch(struct ringlog_producer *p, const struct rl_pbatch *b)
{
    const struct ppart *pp = b->owner;
    const struct ringlog_conf *conf = p->conf;
    if (b->nmsgs == 0)
        return 0;
    if (conf->delivery_batch_cb) {
        ringlog_delivery_batch db = {
            .topic = pp->topic->name,
            .partition = pp->id,
            .base_offset = b->base_offset,
            .err = b->err,
            .errstr = b->errstr,
            .count = (size_t)b->nmsgs,
            .records = b->msgs,
        };
        conf->delivery_batch_cb(&db, conf->delivery_batch_opaque);
        return 1;
    }
    if (!conf->delivery_cb)
        return 0;
    assert(b->nmsgs == b->builder.count);
    struct rl_record_iter it;
    batch_records(b, &it);
    for (int32_t i = 0; i < b->nmsgs; i++) {
        struct rl_record r = {0};
        int st = rl_record_iter_next(&it, &r);
        assert(st == RL_OK); /* our own encoding */
        (void)st;
        ringlog_delivery d = {
            .topic = pp->topic->name,
            .partition = pp->id,
            .offset = b->base_offset >= 0 ? b->base_offset + i : -1,
            .timestamp = b->msgs[i].timestamp,
            .err = b->err,
            .errstr = b->errstr,
            .opaque = b->msgs[i].opaque,
            .key = r.key_len < 0    ? NULL
                   : r.key_len == 0 ? (const void *)""
                                    : r.key,
            .key_len = r.key_len < 0 ? 0 : (size_t)r.key_len,
            .value = r.value_len < 0    ? NULL
                     : r.value_len == 0 ? (const void *)""
                                        : r.value,
            .value_len = r.value_len < 0 ? 0 : (size_t)r.value_len,
        };
        conf->delivery_cb(&d, conf->delivery_opaque);
    }
    return (int)b->nmsgs;
}

/*
 * Whether to wake producers waiting for buffer room. Not at every delivery:
 * with a full buffer (the broker is the bottleneck) that would switch to
 * the producer for each acknowledged batch, to queue one batch's worth and
 * sleep again. They wake once an eighth of buffer-bytes beyond what they
 * need is free (or nothing is queued); a waiter whose max-block-ms passes
 * checks the room itself. Lock held.
 */
static bool room_for_waiters(const struct ringlog_producer *p)
{
    size_t cap = (size_t)p->conf->buffer_bytes;
    if (p->space_waiters == 0 || p->buffered == 0)
        return true;
    return p->buffered + p->space_need + cap / 8 <= cap;
}

/*
 * Runs the callbacks that are due: delivery reports of finished batches,
 * then errors and statistics. On the I/O thread with
 * callbacks-on-io-thread; else on the application's thread, in poll,
 * flush, destroy or a produce waiting for room. One thread at a time, so
 * reports keep their order: returns -1 when another thread is serving,
 * else how many callbacks ran. Lock NOT held.
 */
static int serve(struct ringlog_producer *p)
{
    rl_cluster_lock(p->cl);
    if (!rl_cluster_serve_begin(p->cl)) {
        rl_cluster_unlock(p->cl);
        return -1;
    }
    struct rl_pbatch *list = p->done_head;
    p->done_head = p->done_tail = NULL;
    p->done_bytes = 0; /* until freed below, they still count in buffered */
    struct rl_event *events = rl_cluster_take_events(p->cl);
    rl_cluster_unlock(p->cl);
    int calls = 0;
    size_t freed = 0;
    uint64_t reported = 0;
    for (struct rl_pbatch *b = list; b; b = b->next) {
        calls += report_batch(p, b);
        freed += b->reserved;
        reported += (uint64_t)b->nmsgs;
    }
    calls += rl_events_dispatch(p->conf, events);
    rl_cluster_lock(p->cl);
    rl_cluster_serve_end(p->cl);
    p->buffered -= freed;
    p->outstanding -= reported;
    if (room_for_waiters(p))
        pthread_cond_broadcast(&p->space_cond);
    pthread_cond_broadcast(&p->done_cond);
    list = keep_spares(p, list);
    rl_cluster_unlock(p->cl);
    while (list) {
        struct rl_pbatch *next = list->next;
        rl_pbatch_free(list);
        list = next;
    }
    assert(calls >= 0);
    return calls;
}

/* callbacks-on-io-thread: the I/O thread serves at each loop turn. */
static void hook_callbacks(void *owner)
{
    serve(owner);
}

/* An error or statistics event: wake ringlog_poll. Lock held. */
static void hook_events_posted(void *owner)
{
    struct ringlog_producer *p = owner;
    pthread_cond_broadcast(&p->done_cond);
}

/* ---------------------------------------------------------------- idempotence */

static void on_init_pid(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    struct ringlog_producer *p = ctx;
    int64_t now = rl_now_ms();
    int code = err;
    if (resp) {
        code = resp->error;
        if (!code && resp->body_case != RINGLOG__RESPONSE__BODY_INIT_PRODUCER_ID)
            code = RINGLOG_ERR_PROTOCOL;
        if (!code)
            code = resp->init_producer_id->error;
    }
    if (code) {
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "InitProducerId failed: %s",
                       ringlog_err_name(code));
        if (code == RINGLOG_ERR_INVALID_PRODUCER_EPOCH || code == RINGLOG_ERR_UNKNOWN_PRODUCER_ID)
            p->pid = -1; /* start over with a new id */
        p->pid_state = p->pid >= 0 ? PID_READY : PID_NONE;
        p->pid_retry_at = now + p->conf->retry_backoff_ms;
        return;
    }
    Ringlog__InitProducerIdResponse *r = resp->init_producer_id;
    bool bump = p->need_bump;
    p->pid = r->producer_id;
    p->epoch = (int16_t)r->producer_epoch;
    p->pid_state = PID_READY;
    p->need_bump = false;
    rl_cluster_log(cl, RINGLOG_LOG_INFO, "producer id %lld epoch %d%s", (long long)p->pid, p->epoch,
                   bump ? " (epoch bumped, sequences restart)" : "");
    /* A new id or epoch: the broker expects sequence 0 on every partition. */
    for (size_t i = 0; i < p->ntopics; i++)
        for (int32_t j = 0; j < p->topics[i]->npart; j++) {
            struct ppart *pp = p->topics[i]->parts[j];
            pp->next_seq = 0;
            for (struct rl_pbatch *b = pp->head; b; b = b->next)
                if (b->finished) {
                    rl_pbatch_restamp(b, p->pid, p->epoch, pp->next_seq);
                    pp->next_seq += rl_pbatch_count(b);
                }
        }
}

/* Gets (or bumps) the producer id. Returns false while batches must wait. */
static bool pid_ready(struct ringlog_producer *p, int64_t now)
{
    if (!p->conf->enable_idempotence)
        return true;
    if (p->pid_state == PID_READY && !p->need_bump)
        return true;
    if (p->pid_state == PID_REQUESTING || now < p->pid_retry_at)
        return false;
    if (p->need_bump && p->total_inflight > 0)
        return false; /* let every answer come back first */
    struct rl_broker *b = rl_cluster_any_broker(p->cl);
    if (!b)
        return false;
    Ringlog__InitProducerIdRequest ip = RINGLOG__INIT_PRODUCER_ID_REQUEST__INIT;
    ip.producer_id = p->pid_state == PID_READY ? p->pid : -1;
    ip.producer_epoch = p->pid_state == PID_READY ? p->epoch : -1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID;
    req.init_producer_id = &ip;
    if (rl_broker_send(p->cl, b, &req, true, 0, on_init_pid, p) == RINGLOG_OK)
        p->pid_state = PID_REQUESTING;
    return false;
}

/* ---------------------------------------------------------------- answers */

static bool expired(struct ringlog_producer *p, const struct rl_pbatch *b, int64_t now)
{
    return now - b->created_ms >= p->conf->delivery_timeout_ms;
}

/* A batch came back unsent or rejected retriably: keep its place, back off. */
static void batch_retry(struct ringlog_producer *p, struct ppart *pp, struct rl_pbatch *b, int err,
                        const char *why, int64_t now)
{
    if (expired(p, b, now) || p->fatal) {
        batch_unlink(pp, b);
        batch_complete(p, b, p->fatal ? p->fatal : err, -1, why);
        return;
    }
    pp->retry_pending = true;
    /* A leadership change (a leader killed, an election) settles within a
     * few hundred ms on a cluster: retry it at the base backoff for the
     * first second instead of doubling, so a failover costs the election
     * and not 100 + 200 + 400 ms of backoff on top (measured: failovers
     * clustered at 365 and 765 ms; Metadata refreshes stay rate-limited by
     * the cluster engine). */
    bool leadership = err == RINGLOG_ERR_NOT_LEADER || err == RINGLOG_ERR_LEADER_NOT_AVAILABLE ||
                      err == RINGLOG_ERR_TRANSPORT; /* a leader that just died */
    if (leadership && pp->leadership_since == 0)
        pp->leadership_since = now;
    if (leadership && now - pp->leadership_since < 1000)
        pp->backoff_ms = 0; /* stays at the base below */
    if (pp->backoff_ms == 0)
        pp->backoff_ms = p->conf->retry_backoff_ms;
    else if (pp->backoff_ms * 2 <= p->conf->retry_backoff_max_ms)
        pp->backoff_ms *= 2;
    else
        pp->backoff_ms = p->conf->retry_backoff_max_ms;
    if (pp->backoff_until < now + pp->backoff_ms)
        pp->backoff_until = now + pp->backoff_ms;
    rl_cluster_log(p->cl, RINGLOG_LOG_DEBUG, "retrying %s/%d after %s (%s)", pp->topic->name,
                   pp->id, ringlog_err_name(err), why ? why : "");
}

static bool needs_metadata(int err)
{
    return err == RINGLOG_ERR_NOT_LEADER || err == RINGLOG_ERR_UNKNOWN_TOPIC ||
           err == RINGLOG_ERR_UNKNOWN_PARTITION || err == RINGLOG_ERR_LEADER_NOT_AVAILABLE ||
           err < 0;
}

static bool retriable(int err)
{
    return err < 0 ? err != RINGLOG_ERR_CLOSED : rl_error_is_retriable(err) != 0;
}

/*
 * A broker that refuses a retriable produce for a reason of its own (a
 * full disk, too few replicas, shutting down) says why; the application
 * hears it on the first refusal, as a warning with the broker's words
 * (log and error callback), while the batch keeps being retried. Routing errors (metadata) and
 * connection errors are not shown here: they heal by themselves or are
 * reported by the cluster code.
 */
static void warn_refusal(struct ringlog_producer *p, struct ppart *pp, int err, const char *msg)
{
    assert(err > 0 && retriable(err));
    if (needs_metadata(err) || pp->warned_err == err)
        return;
    pp->warned_err = err;
    const char *why = msg && msg[0] ? msg : ringlog_err_str(err);
    rl_cluster_log(p->cl, RINGLOG_LOG_WARNING, "produce to %s/%d refused: %s: %s (retrying)",
                   pp->topic->name, pp->id, ringlog_err_name(err), why);
    rl_cluster_post_error(p->cl, err, "produce to %s/%d refused: %s: %s (retrying)",
                          pp->topic->name, pp->id, ringlog_err_name(err), why);
}

/* Applies one partition's result to its batch. */
static void batch_result(struct ringlog_producer *p, struct rl_pbatch *b, int err,
                         int64_t base_offset, const char *msg, int64_t now)
{
    struct ppart *pp = b->owner;
    if (err == RINGLOG_OK || err == RINGLOG_ERR_DUPLICATE_SEQUENCE) {
        pp->backoff_ms = 0;
        pp->leadership_since = 0;
        pp->warned_err = 0;
        batch_unlink(pp, b);
        batch_complete(p, b, RINGLOG_OK, base_offset, NULL);
        return;
    }
    if (err == RINGLOG_ERR_OUT_OF_ORDER_SEQUENCE || err == RINGLOG_ERR_UNKNOWN_PRODUCER_ID) {
        /*
         * Behind an earlier batch that will be resent, a gap is expected.
         * At the head, the broker has lost our sequence: restart it.
         */
        if (pp->head == b) {
            p->need_bump = true;
            rl_cluster_log(p->cl, RINGLOG_LOG_WARNING, "%s/%d: %s at the head batch, bumping epoch",
                           pp->topic->name, pp->id, ringlog_err_name(err));
        }
        batch_retry(p, pp, b, err, msg, now);
        return;
    }
    if (retriable(err)) {
        if (needs_metadata(err))
            rl_cluster_refresh_metadata(p->cl);
        else if (err > 0)
            warn_refusal(p, pp, err, msg);
        batch_retry(p, pp, b, err, msg, now);
        return;
    }
    batch_unlink(pp, b);
    batch_complete(p, b, err, -1, msg);
}

static Ringlog__PartitionProduceResult *find_result(Ringlog__ProduceResponse *r, const char *topic,
                                                    int32_t partition)
{
    for (size_t i = 0; i < r->n_topics; i++) {
        if (strcmp(r->topics[i]->topic, topic) != 0)
            continue;
        for (size_t j = 0; j < r->topics[i]->n_partitions; j++)
            if ((int32_t)r->topics[i]->partitions[j]->partition == partition)
                return r->topics[i]->partitions[j];
    }
    return NULL;
}

static void on_produce(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)cl;
    struct preq *rq = ctx;
    struct ringlog_producer *p = rq->p;
    int64_t now = rl_now_ms();
    for (int i = 0; i < rq->n; i++) {
        struct rl_pbatch *b = rq->batches[i];
        struct ppart *pp = b->owner;
        b->inflight = false;
        pp->inflight--;
        p->total_inflight--;
    }
    for (int i = 0; i < rq->n; i++) {
        struct rl_pbatch *b = rq->batches[i];
        struct ppart *pp = b->owner;
        if (!resp) {
            batch_result(p, b, err, -1, ringlog_err_str(err), now);
            continue;
        }
        if (resp->error) {
            batch_result(p, b, resp->error, -1, resp->error_message, now);
            continue;
        }
        Ringlog__PartitionProduceResult *r =
            resp->body_case == RINGLOG__RESPONSE__BODY_PRODUCE
                ? find_result(resp->produce, pp->topic->name, pp->id)
                : NULL;
        if (!r)
            batch_result(p, b, RINGLOG_ERR_PROTOCOL, -1, "partition missing from produce answer",
                         now);
        else
            batch_result(p, b, r->error, r->base_offset, r->error_message, now);
    }
    free(rq);
}

/* ---------------------------------------------------------------- sending */

/* The next batch of the partition that may be sent now, or NULL. */
static struct rl_pbatch *sendable(struct ringlog_producer *p, struct ppart *pp, int64_t now)
{
    if (pp->retry_pending) {
        if (pp->inflight > 0 || now < pp->backoff_until)
            return NULL;
        pp->retry_pending = false;
    }
    if (pp->inflight >= p->conf->max_in_flight)
        return NULL;
    struct rl_pbatch *b = pp->head;
    while (b && b->inflight)
        b = b->next;
    return b;
}

/* Builds the wire bytes of a batch the first time it goes out. */
static int prepare(struct ringlog_producer *p, struct ppart *pp, struct rl_pbatch *b)
{
    if (b->finished)
        return RINGLOG_OK;
    int64_t pid = -1;
    int16_t epoch = -1;
    int32_t seq = -1;
    if (p->conf->enable_idempotence) {
        pid = p->pid;
        epoch = p->epoch;
        seq = pp->next_seq;
    }
    int st = rl_pbatch_finish(b, (int)p->conf->compression, pid, epoch, seq);
    if (st != RL_OK)
        return st == RL_ERR_NOMEM ? RINGLOG_ERR_NOMEM : RINGLOG_ERR_INVALID_ARG;
    if (seq >= 0)
        pp->next_seq += rl_pbatch_count(b);
    return RINGLOG_OK;
}

struct pending {
    struct rl_broker *broker;
    struct rl_pbatch **batches;
    int n;
};

/*
 * Sends one produce request to `broker` with up to one batch per partition
 * from `batches`, within max-request-bytes. Returns how many it took.
 */
static int send_request(struct ringlog_producer *p, struct rl_broker *broker,
                        struct rl_pbatch **batches, int n)
{
    size_t limit = (size_t)p->conf->max_request_bytes, bytes = 0;
    int take = 0;
    while (take < n && (take == 0 || bytes + batches[take]->wire_len <= limit))
        bytes += batches[take++]->wire_len;

    struct preq *rq = malloc(sizeof(*rq) + (size_t)take * sizeof(rq->batches[0]));
    Ringlog__TopicProduceData *tds = calloc((size_t)take, sizeof(*tds));
    Ringlog__TopicProduceData **tdp = calloc((size_t)take, sizeof(*tdp));
    Ringlog__PartitionProduceData *pds = calloc((size_t)take, sizeof(*pds));
    Ringlog__PartitionProduceData **pdp = calloc((size_t)take, sizeof(*pdp));
    struct rl_span *spans = calloc((size_t)take, sizeof(*spans));
    int ntopics = 0;
    int rc = RINGLOG_ERR_NOMEM;
    if (rq && tds && tdp && pds && pdp && spans) {
        /* Group by topic: batches of one topic share a TopicProduceData. */
        for (int i = 0; i < take; i++) {
            struct ppart *pp = batches[i]->owner;
            Ringlog__PartitionProduceData *pd = &pds[i];
            ringlog__partition_produce_data__init(pd);
            pd->partition = (uint32_t)pp->id;
            pd->records.data = batches[i]->wire;
            pd->records.len = batches[i]->wire_len;
            spans[i] = (struct rl_span){batches[i]->wire, batches[i]->wire_len};
            int t = 0;
            while (t < ntopics && strcmp(tds[t].topic, pp->topic->name) != 0)
                t++;
            if (t == ntopics) {
                ringlog__topic_produce_data__init(&tds[t]);
                tds[t].topic = pp->topic->name;
                tds[t].partitions = pdp + i; /* filled below in topic order */
                tdp[t] = &tds[t];
                ntopics++;
            }
        }
        /* Lay the partition pointers out topic by topic. */
        int k = 0;
        for (int t = 0; t < ntopics; t++) {
            tds[t].partitions = pdp + k;
            for (int i = 0; i < take; i++)
                if (strcmp(((struct ppart *)batches[i]->owner)->topic->name, tds[t].topic) == 0)
                    pdp[k++] = &pds[i];
            tds[t].n_partitions = (size_t)(pdp + k - tds[t].partitions);
        }
        Ringlog__ProduceRequest pr = RINGLOG__PRODUCE_REQUEST__INIT;
        pr.acks = (int32_t)p->conf->acks;
        pr.timeout_ms = (uint32_t)p->conf->request_timeout_ms;
        pr.n_topics = (size_t)ntopics;
        pr.topics = tdp;
        Ringlog__Request req = RINGLOG__REQUEST__INIT;
        req.body_case = RINGLOG__REQUEST__BODY_PRODUCE;
        req.produce = &pr;
        rq->p = p;
        rq->n = take;
        memcpy(rq->batches, batches, (size_t)take * sizeof(rq->batches[0]));
        /*
         * The batches stay untouched until on_produce: the connection sends
         * them from their buffers. With acks=0 they are reported (and freed)
         * at once, so they are copied.
         */
        if (p->conf->acks == 0)
            rc = rl_broker_send(p->cl, broker, &req, false, 0, on_produce, rq);
        else
            rc = rl_broker_send_borrowing(p->cl, broker, &req, 0, spans, (size_t)take, on_produce,
                                          rq);
    }
    free(spans);
    free(tds);
    free(tdp);
    free(pds);
    free(pdp);
    if (rc != RINGLOG_OK) {
        free(rq);
        return 0;
    }
    for (int i = 0; i < take; i++) {
        struct rl_pbatch *b = batches[i];
        struct ppart *pp = b->owner;
        b->attempts++;
        if (p->conf->acks == 0) {
            /* No answer will come: delivered as far as we can know. */
            batch_unlink(pp, b);
            batch_complete(p, b, RINGLOG_OK, -1, NULL);
        } else {
            b->inflight = true;
            pp->inflight++;
            p->total_inflight++;
        }
    }
    if (p->conf->acks == 0)
        free(rq);
    return take;
}

/* One round: the next sendable batch of every partition, grouped by leader. */
static bool send_round(struct ringlog_producer *p, int64_t now)
{
    struct pending *groups = NULL;
    int ngroups = 0;
    bool sent = false;
    for (size_t i = 0; i < p->ntopics; i++) {
        struct ptopic *t = p->topics[i];
        for (int32_t j = 0; j < t->npart; j++) {
            struct ppart *pp = t->parts[j];
            if (!pp->head)
                continue;
            struct rl_pbatch *b = sendable(p, pp, now);
            if (!b)
                continue;
            struct rl_broker *leader = rl_cluster_leader(p->cl, t->name, pp->id);
            if (!leader) {
                rl_cluster_refresh_metadata(p->cl);
                continue;
            }
            if (!rl_broker_ready(p->cl, leader) ||
                rl_broker_in_flight(leader) >= (size_t)p->conf->max_in_flight)
                continue;
            if (prepare(p, pp, b) != RINGLOG_OK) {
                batch_unlink(pp, b);
                batch_complete(p, b, RINGLOG_ERR_NOMEM, -1, "cannot build the batch");
                continue;
            }
            int g = 0;
            while (g < ngroups && groups[g].broker != leader)
                g++;
            if (g == ngroups) {
                struct pending *ng = realloc(groups, (size_t)(ngroups + 1) * sizeof(*ng));
                if (!ng)
                    continue;
                groups = ng;
                groups[g] = (struct pending){.broker = leader, .batches = NULL, .n = 0};
                ngroups++;
            }
            struct rl_pbatch **nb =
                realloc(groups[g].batches, (size_t)(groups[g].n + 1) * sizeof(*nb));
            if (!nb)
                continue;
            groups[g].batches = nb;
            nb[groups[g].n++] = b;
        }
    }
    for (int g = 0; g < ngroups; g++) {
        int off = 0;
        while (off < groups[g].n &&
               rl_broker_in_flight(groups[g].broker) < (size_t)p->conf->max_in_flight) {
            int took =
                send_request(p, groups[g].broker, groups[g].batches + off, groups[g].n - off);
            if (took == 0)
                break;
            off += took;
            sent = true;
        }
        free(groups[g].batches);
    }
    free(groups);
    return sent;
}

/*
 * Fails waiting batches older than delivery-timeout-ms; returns the next
 * expiry (-1: none). A partition's queue is in creation order (seal
 * appends, nothing reorders), so the walk stops at the first waiting batch
 * that has time left: tick runs at every loop turn, and with a full buffer
 * the queue holds hundreds of batches.
 */
static int64_t expire(struct ringlog_producer *p, struct ppart *pp, int64_t now)
{
    struct rl_pbatch *b = pp->head;
    while (b) {
        struct rl_pbatch *nxt = b->next;
        if (!b->inflight) {
            if (!expired(p, b, now))
                return b->created_ms + p->conf->delivery_timeout_ms;
            batch_unlink(pp, b);
            batch_complete(p, b, RINGLOG_ERR_TIMED_OUT, -1,
                           "delivery timeout passed before the broker acknowledged");
        }
        b = nxt;
    }
    return -1;
}

/* A sealed batch of the partition not yet sent (waiting for a request slot or a retry). */
static bool queued_batch(const struct ppart *pp)
{
    for (const struct rl_pbatch *b = pp->head; b; b = b->next)
        if (!b->inflight)
            return true;
    return false;
}

static int64_t hook_tick(void *owner, int64_t now)
{
    struct ringlog_producer *p = owner;
    int64_t next = -1;
#define CONSIDER(t)                                                                                \
    do {                                                                                           \
        if (next < 0 || (t) < next)                                                                \
            next = (t);                                                                            \
    } while (0)
    bool hurry = p->flushing > 0 || p->space_waiters > 0;
    for (size_t i = 0; i < p->ntopics; i++) {
        struct ptopic *t = p->topics[i];
        for (int32_t j = 0; j < t->npart; j++) {
            struct ppart *pp = t->parts[j];
            if (pp->open) {
                int64_t due = pp->open->created_ms + p->conf->linger_ms;
                if (hurry)
                    seal(p, pp);
                else if (now >= due) {
                    /*
                     * Lingered long enough. If an earlier batch of this
                     * partition is still waiting for a request slot, keep
                     * this one open: it grows until that one leaves (a
                     * response or the retry backoff runs tick again), so a
                     * backlog becomes a few large batches, not many tiny ones.
                     */
                    if (!queued_batch(pp))
                        seal(p, pp);
                } else
                    CONSIDER(due);
            }
            int64_t e = expire(p, pp, now);
            if (e >= 0)
                CONSIDER(e);
            if (pp->retry_pending && pp->inflight == 0)
                CONSIDER(pp->backoff_until);
        }
    }
    if (pid_ready(p, now)) {
        while (send_round(p, now)) {
        }
    } else if (p->pid_state != PID_REQUESTING) {
        CONSIDER(p->pid_retry_at > now ? p->pid_retry_at : now + 10);
    }
    if (p->done_head && p->conf->callbacks_on_io_thread)
        CONSIDER(now); /* deliveries to report: come back at once */
#undef CONSIDER
    return next;
}

/* ---------------------------------------------------------------- statistics */

/* One partition's queue for the statistics: records waiting, and in flight. */
static void part_stats(struct rl_sbuf *sb, const struct ppart *pp)
{
    int64_t queued = pp->open ? rl_pbatch_count(pp->open) : 0, inflight = 0;
    for (const struct rl_pbatch *b = pp->head; b; b = b->next) {
        if (b->inflight)
            inflight += rl_pbatch_count(b);
        else
            queued += rl_pbatch_count(b);
    }
    assert(queued >= 0 && inflight >= 0);
    rl_sbuf_printf(sb,
                   "{\"partition\":%d,\"msgq_cnt\":%lld,\"msgs_inflight\":%lld,"
                   "\"batches_inflight\":%d,\"next_seq\":%d}",
                   (int)pp->id, (long long)queued, (long long)inflight, pp->inflight,
                   (int)pp->next_seq);
}

/* The producer's part of the statistics JSON (cluster.h, hooks.stats). Lock held. */
static void hook_stats(void *owner, struct rl_sbuf *sb)
{
    struct ringlog_producer *p = owner;
    size_t unreported = 0;
    for (const struct rl_pbatch *b = p->done_head; b; b = b->next)
        unreported += (size_t)b->nmsgs;
    rl_sbuf_printf(sb,
                   "\"msg_cnt\":%llu,\"msg_bytes\":%zu,\"msg_bytes_max\":%lld,"
                   "\"reports_unserved\":%zu,\"topics\":[",
                   (unsigned long long)p->outstanding, p->buffered,
                   (long long)p->conf->buffer_bytes, unreported);
    for (size_t i = 0; i < p->ntopics; i++) {
        const struct ptopic *t = p->topics[i];
        rl_sbuf_printf(sb, "%s{\"topic\":", i ? "," : "");
        rl_sbuf_json_str(sb, t->name);
        rl_sbuf_printf(sb, ",\"partitions\":[");
        for (int32_t j = 0; j < t->npart; j++) {
            if (j)
                rl_sbuf_printf(sb, ",");
            part_stats(sb, t->parts[j]);
        }
        rl_sbuf_printf(sb, "]}");
    }
    rl_sbuf_printf(sb, "],");
}

/* ---------------------------------------------------------------- public API */

ringlog_producer *ringlog_producer_new(const ringlog_conf *conf, char *errbuf, size_t errlen)
{
    if (!conf) {
        rl_errbuf(errbuf, errlen, "conf must not be NULL");
        return NULL;
    }
    /* The broker remembers a producer's last 5 batches per partition: more in
     * flight and a retry after a failover can be appended twice (Kafka refuses
     * the same combination). */
    if (conf->enable_idempotence && conf->max_in_flight > 5) {
        rl_errbuf(errbuf, errlen,
                  "max-in-flight %lld with enable-idempotence: at most 5 (the broker deduplicates "
                  "the last 5 batches of a producer per partition); lower it or turn idempotence "
                  "off",
                  (long long)conf->max_in_flight);
        return NULL;
    }
    struct ringlog_producer *p = calloc(1, sizeof(*p));
    if (!p) {
        rl_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    struct rl_cluster_hooks hooks = {.owner = p,
                                     .tick = hook_tick,
                                     .callbacks = hook_callbacks,
                                     .metadata_changed = NULL,
                                     .events_posted = hook_events_posted,
                                     .stats = hook_stats,
                                     .kind = "producer"};
    if (rl_cluster_new(conf, &hooks, &p->cl, errbuf, errlen) != RINGLOG_OK) {
        free(p);
        return NULL;
    }
    p->conf = rl_cluster_conf(p->cl);
    p->pid = -1;
    p->epoch = -1;
    p->rng = (uint64_t)rl_now_ms() ^ (uint64_t)(uintptr_t)p;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->space_cond, &ca);
    pthread_cond_init(&p->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rl_cluster_start(p->cl, errbuf, errlen) != RINGLOG_OK) {
        rl_cluster_destroy(p->cl);
        pthread_cond_destroy(&p->space_cond);
        pthread_cond_destroy(&p->done_cond);
        free(p);
        return NULL;
    }
    return p;
}

/* Waits on cond until deadline_us (monotonic; -1 forever). False on timeout. */
static bool cond_wait_until_us(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline_us)
{
    if (deadline_us < 0) {
        pthread_cond_wait(cond, mu);
        return true;
    }
    if (rl_now_us() >= deadline_us)
        return false;
    struct timespec ts = {.tv_sec = deadline_us / 1000000,
                          .tv_nsec = (long)(deadline_us % 1000000) * 1000};
    return pthread_cond_timedwait(cond, mu, &ts) != ETIMEDOUT || rl_now_us() < deadline_us;
}

/* The same with a deadline in ms (-1 forever). */
static bool cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline)
{
    return cond_wait_until_us(cond, mu, deadline < 0 ? -1 : deadline * 1000);
}

/* Waits for the topic's metadata; lock held. RINGLOG_OK with *md, or an error. */
static int topic_metadata(struct ringlog_producer *p, const char *topic, int64_t deadline,
                          bool can_block, struct rl_topic_md **out)
{
    struct rl_topic_md *md = rl_cluster_want_topic(p->cl, topic);
    if (!md)
        return RINGLOG_ERR_NOMEM;
    bool refreshed = false;
    for (;;) {
        if (md->known && md->err == RINGLOG_OK && md->npart > 0) {
            *out = md;
            return RINGLOG_OK;
        }
        if (md->known && md->err && refreshed)
            return md->err;
        if (!can_block)
            return md->known && md->err ? md->err : RINGLOG_ERR_TIMED_OUT;
        uint64_t v = rl_cluster_metadata_version(p->cl);
        if (md->known)
            rl_cluster_refresh_metadata(p->cl); /* an error may be stale: ask once more */
        if (!rl_cluster_wait_metadata(p->cl, v, deadline))
            return md->known && md->err ? md->err : RINGLOG_ERR_TIMED_OUT;
        refreshed = md->known;
        md = rl_cluster_topic(p->cl, topic);
        if (!md)
            return RINGLOG_ERR_UNKNOWN_TOPIC;
    }
}

/*
 * Waits once for buffer room, up to deadline; false on timeout. Room is
 * freed when deliveries are reported, so in the default callback mode
 * nobody else may be serving them: the waiter serves what is due itself
 * (its own thread runs the callbacks) and otherwise waits for new
 * completions. Lock held; released meanwhile.
 */
static bool wait_room(struct ringlog_producer *p, size_t footprint, int64_t deadline)
{
    assert(!rl_cluster_in_callback(p->cl));
    p->space_waiters++;
    if (footprint > p->space_need)
        p->space_need = footprint;
    rl_cluster_wakeup(p->cl); /* seal lingering batches: they are what frees room */
    bool ok = true;
    if (!p->conf->callbacks_on_io_thread && room_once_served(p)) {
        rl_cluster_unlock(p->cl);
        int served = serve(p);
        rl_cluster_lock(p->cl);
        if (served < 0) /* another thread serves: it broadcasts when done */
            ok = cond_wait_until(&p->space_cond, rl_cluster_mutex(p->cl), deadline);
    } else {
        ok = cond_wait_until(&p->space_cond, rl_cluster_mutex(p->cl), deadline);
    }
    if (--p->space_waiters == 0)
        p->space_need = 0;
    return ok;
}

static int32_t choose_partition(struct ringlog_producer *p, struct ptopic *t,
                                const ringlog_record *rec, int32_t npart)
{
    if (rec->partition >= 0)
        return rec->partition;
    if (rec->key)
        return rl_partition_choose(p->conf, rec->topic, rec->key, rec->key_len, npart);
    if (t->sticky < 0 || t->sticky >= npart)
        t->sticky = rl_sticky_next(&p->rng, -1, npart);
    return t->sticky;
}

/*
 * The per-record steps below are forced inline into ringlog_produce and
 * ringlog_produce_batch: as calls, their register saves and restores were a
 * tenth of the instructions spent on a 100-byte record.
 */
#define PER_RECORD static inline __attribute__((always_inline))

/* A record converted for the batch builder, with what it costs; see prec_init. */
struct prec {
    struct rl_record_in in;
    size_t payload;   /* rl_record_payload_size */
    size_t need;      /* batch bytes it needs (a bound unless near a limit) */
    size_t footprint; /* what it counts against buffer-bytes */
    struct rl_header_in small[8];
};

/*
 * Checks and converts a record, without the lock. `now_ms` is the
 * timestamp of a record that has none (0: read the clock). Free with
 * prec_done.
 */
PER_RECORD int prec_init(const struct ringlog_producer *p, const ringlog_record *rec,
                         int64_t now_ms, struct prec *r)
{
    if (!rec || !rec->topic || !rec->topic[0] || rec->partition < -1 ||
        (rec->header_count && !rec->headers))
        return RINGLOG_ERR_INVALID_ARG;
    struct rl_header_in *hdrs = r->small;
    if (rec->header_count > sizeof(r->small) / sizeof(r->small[0])) {
        hdrs = malloc(rec->header_count * sizeof(*hdrs));
        if (!hdrs)
            return RINGLOG_ERR_NOMEM;
    }
    for (size_t i = 0; i < rec->header_count; i++)
        hdrs[i] = (struct rl_header_in){.key = rec->headers[i].key,
                                        .key_len = rec->headers[i].key_len,
                                        .value = rec->headers[i].value,
                                        .value_len = rec->headers[i].value_len};
    int64_t ts = rec->timestamp ? rec->timestamp : now_ms ? now_ms : wall_ms();
    r->in = (struct rl_record_in){.key = rec->key,
                                  .key_len = rec->key ? rec->key_len : 0,
                                  .value = rec->value,
                                  .value_len = rec->value ? rec->value_len : 0,
                                  .timestamp = ts,
                                  .headers = hdrs,
                                  .header_count = rec->header_count};
    size_t max_request = (size_t)p->conf->max_request_bytes;
    r->payload = rl_record_payload_size(&r->in);
    r->need = rl_pbatch_bytes_bound(r->payload);
    if (r->need + 1024 > max_request || r->need > (size_t)p->conf->batch_bytes)
        r->need = rl_pbatch_bytes_for(&r->in); /* near a limit: the exact size */
    r->footprint = rl_record_footprint(r->payload);
    if (r->need + 1024 > max_request || r->footprint > (size_t)p->conf->buffer_bytes) {
        if (hdrs != r->small)
            free(hdrs);
        return RINGLOG_ERR_MSG_TOO_LARGE;
    }
    return RINGLOG_OK;
}

static void prec_done(struct prec *r)
{
    if (r->in.headers != r->small)
        free((void *)r->in.headers);
}

/*
 * Queues one checked record: metadata, buffer room, partition, then the
 * partition's open batch. Lock held; it may be released while waiting
 * (metadata, room) when can_block. Sets *wake when the I/O thread has new
 * work (a batch opened or sealed). *topic: in, the record's topic if the
 * caller knows it (NULL: look it up); out, the record's topic.
 */
PER_RECORD int produce_locked(struct ringlog_producer *p, const ringlog_record *rec, struct prec *r,
                              bool can_block, bool *wake, struct ptopic **topic)
{
    /* The clock is read only when we have to wait (it is a hot path). */
    int64_t deadline = -1;
    struct rl_topic_md *md = NULL;
    int rc = RINGLOG_OK;
    if (p->fatal)
        return RINGLOG_ERR_FATAL;
    struct ptopic *t = *topic ? *topic : ptopic_recent(p, rec->topic);
    md = t ? t->md : rl_cluster_topic(p->cl, rec->topic);
    if (!md || !md->known || md->err || md->npart <= 0) {
        deadline = rl_now_ms() + p->conf->max_block_ms;
        rc = topic_metadata(p, rec->topic, deadline, can_block, &md);
    }
    if (rc)
        return rc;
    if (!t) {
        t = ptopic_get(p, rec->topic);
        if (t)
            t->md = md;
    }
    assert(!t || t->md == md);
    if (!t || ptopic_resize(t, md->npart) != RINGLOG_OK)
        return RINGLOG_ERR_NOMEM;
    *topic = t;
    if (rec->partition >= md->npart)
        return RINGLOG_ERR_UNKNOWN_PARTITION;
    /* Room in the buffer: refuse, or wait for deliveries if the record asks to. */
    while (p->buffered + r->footprint > (size_t)p->conf->buffer_bytes) {
        bool block = (rec->flags & RINGLOG_MSG_F_BLOCK) || p->conf->block_on_buffer_full;
        if (!block || !can_block)
            return RINGLOG_ERR_QUEUE_FULL;
        if (deadline < 0)
            deadline = rl_now_ms() + p->conf->max_block_ms;
        if (!wait_room(p, r->footprint, deadline) &&
            p->buffered + r->footprint > (size_t)p->conf->buffer_bytes)
            return RINGLOG_ERR_TIMED_OUT;
    }
    struct ppart *pp = t->parts[choose_partition(p, t, rec, md->npart)];
    int st =
        pp->open ? rl_pbatch_add_sized(pp->open, &r->in, r->payload, rec->opaque) : RL_ERR_FULL;
    if (st == RL_ERR_FULL) {
        if (pp->open) {
            seal(p, pp);
            /* The sticky partition may have moved with the seal. */
            if (rec->partition < 0 && !rec->key)
                pp = t->parts[choose_partition(p, t, rec, md->npart)];
            *wake = true;
        }
        if (!pp->open) {
            size_t cap =
                r->need > (size_t)p->conf->batch_bytes ? r->need : (size_t)p->conf->batch_bytes;
            pp->open = batch_open(p, cap);
            if (!pp->open)
                return RINGLOG_ERR_NOMEM;
            pp->open->owner = pp;
            *wake = true;
        }
        st = rl_pbatch_add_sized(pp->open, &r->in, r->payload, rec->opaque);
    }
    if (st != RL_OK)
        return st == RL_ERR_NOMEM ? RINGLOG_ERR_NOMEM : RINGLOG_ERR_MSG_TOO_LARGE;
    pp->open->reserved += r->footprint;
    p->buffered += r->footprint;
    p->outstanding++;
    if (rl_pbatch_size(pp->open) + 64 >= pp->open->cap) {
        seal(p, pp);
        *wake = true;
    }
    return RINGLOG_OK;
}

/*
 * A batch opened or sealed: work for the I/O thread. Under linger 0 the
 * batch is due at once, and if the I/O thread is asleep the caller sends
 * it itself rather than pay a wake-up and a context switch before the
 * send (cluster.h, rl_cluster_caller_may_send). Lock held.
 */
static void work_queued(struct ringlog_producer *p)
{
    if (p->conf->linger_ms == 0 && rl_cluster_caller_may_send(p->cl))
        rl_cluster_caller_sent(p->cl, hook_tick(p, rl_now_ms()));
    else
        rl_cluster_wakeup_locked(p->cl);
}

/* Whether the calling thread may wait in produce (never in a callback); lock held. */
static bool produce_can_block(struct ringlog_producer *p, bool *on_io)
{
    *on_io = rl_cluster_on_io_thread(p->cl);
    return !*on_io && p->conf->max_block_ms > 0 && !rl_cluster_in_callback(p->cl);
}

int ringlog_produce(ringlog_producer *p, const ringlog_record *rec)
{
    if (!p)
        return RINGLOG_ERR_INVALID_ARG;
    struct prec r;
    int rc = prec_init(p, rec, 0, &r);
    if (rc)
        return rc;
    bool on_io, wake = false;
    struct ptopic *t = NULL;
    rl_cluster_lock(p->cl);
    rc = produce_locked(p, rec, &r, produce_can_block(p, &on_io), &wake, &t);
    if (wake && !on_io)
        work_queued(p);
    rl_cluster_unlock(p->cl);
    prec_done(&r);
    return rc;
}

/*
 * The lock is taken once per run of this many records: a producer that
 * sends small records spends much of its time in lock and unlock (atomic
 * operations that wait for the record just copied to reach the cache),
 * while a long run would keep the I/O thread waiting.
 */
enum { PRODUCE_RUN = 64 };

int ringlog_produce_batch(ringlog_producer *p, const ringlog_record *recs, size_t count,
                          size_t *queued)
{
    size_t done = 0;
    int rc = RINGLOG_OK;
    if (!p || (count && !recs))
        rc = RINGLOG_ERR_INVALID_ARG;
    int64_t now_ms = 0;      /* one timestamp for the records that have none */
    struct ptopic *t = NULL; /* the previous record's topic */
    while (rc == RINGLOG_OK && done < count) {
        size_t end = count - done > PRODUCE_RUN ? done + PRODUCE_RUN : count;
        bool on_io, wake = false;
        rl_cluster_lock(p->cl);
        bool can_block = produce_can_block(p, &on_io);
        for (; done < end; done++) {
            if (!now_ms && !recs[done].timestamp)
                now_ms = wall_ms();
            struct prec r;
            rc = prec_init(p, &recs[done], now_ms, &r);
            if (rc)
                break;
            /* The same name pointer in one call is the same name (it is ours until we return). */
            if (done == 0 || recs[done].topic != recs[done - 1].topic)
                t = NULL;
            rc = produce_locked(p, &recs[done], &r, can_block, &wake, &t);
            prec_done(&r);
            if (rc)
                break;
        }
        if (wake && !on_io)
            work_queued(p);
        rl_cluster_unlock(p->cl);
    }
    if (queued)
        *queued = done;
    return rc;
}

/*
 * Waits for completions or events until deadline_us (monotonic; -1
 * forever, 0 not at all), serving them in the default mode. Returns the
 * callbacks served (>= 0; 0 also on timeout). Lock held; released meanwhile.
 */
static int serve_or_wait(struct ringlog_producer *p, int64_t deadline_us)
{
    bool due = p->done_head || rl_cluster_events_pending(p->cl);
    if (!p->conf->callbacks_on_io_thread && due) {
        rl_cluster_unlock(p->cl);
        int served = serve(p);
        rl_cluster_lock(p->cl);
        if (served >= 0)
            return served;
    }
    if (deadline_us != 0)
        cond_wait_until_us(&p->done_cond, rl_cluster_mutex(p->cl), deadline_us);
    return 0;
}

/* ringlog_poll and ringlog_poll_us: timeout_us < 0 forever, 0 not at all. */
static int poll_for(ringlog_producer *p, int64_t timeout_us)
{
    if (!p)
        return RINGLOG_ERR_INVALID_ARG;
    /* Without a timeout the clock is not read (called after every produce by some). */
    int64_t deadline = timeout_us < 0 ? -1 : timeout_us == 0 ? 0 : rl_now_us() + timeout_us;
    rl_cluster_lock(p->cl);
    if (rl_cluster_in_callback(p->cl)) {
        rl_cluster_unlock(p->cl);
        return RINGLOG_ERR_IN_CALLBACK;
    }
    int served = 0;
    for (;;) {
        served = serve_or_wait(p, deadline);
        if (served > 0 || p->conf->callbacks_on_io_thread || deadline == 0 ||
            (deadline > 0 && rl_now_us() >= deadline))
            break;
    }
    rl_cluster_unlock(p->cl);
    assert(served >= 0);
    return served;
}

int ringlog_poll(ringlog_producer *p, int timeout_ms)
{
    return poll_for(p, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000);
}

int ringlog_poll_us(ringlog_producer *p, int64_t timeout_us)
{
    return poll_for(p, timeout_us);
}

int ringlog_producer_flush(ringlog_producer *p, int timeout_ms)
{
    if (!p)
        return RINGLOG_ERR_INVALID_ARG;
    int64_t deadline = timeout_ms < 0 ? -1 : rl_now_us() + (int64_t)timeout_ms * 1000;
    rl_cluster_lock(p->cl);
    if (rl_cluster_in_callback(p->cl)) {
        rl_cluster_unlock(p->cl);
        return RINGLOG_ERR_IN_CALLBACK;
    }
    p->flushing++;
    rl_cluster_wakeup(p->cl);
    int rc = RINGLOG_OK;
    while (p->outstanding > 0) {
        serve_or_wait(p, deadline);
        if (p->outstanding > 0 && deadline >= 0 && rl_now_us() >= deadline) {
            rc = RINGLOG_ERR_TIMED_OUT;
            break;
        }
    }
    p->flushing--;
    /* The last errors and statistics too, as ringlog_poll would. */
    if (!p->conf->callbacks_on_io_thread && rl_cluster_events_pending(p->cl))
        serve_or_wait(p, 0);
    rl_cluster_unlock(p->cl);
    return rc;
}

size_t ringlog_producer_outstanding(ringlog_producer *p)
{
    rl_cluster_lock(p->cl);
    size_t n = (size_t)p->outstanding;
    rl_cluster_unlock(p->cl);
    return n;
}

int ringlog_producer_destroy(ringlog_producer *p)
{
    if (!p)
        return RINGLOG_OK;
    rl_cluster_lock(p->cl);
    if (rl_cluster_in_callback(p->cl)) {
        rl_cluster_unlock(p->cl);
        return RINGLOG_ERR_IN_CALLBACK;
    }
    p->fatal = RINGLOG_ERR_CLOSED; /* in-flight answers that still arrive fail their batches */
    rl_cluster_unlock(p->cl);
    rl_cluster_stop(p->cl);
    rl_cluster_lock(p->cl);
    for (size_t i = 0; i < p->ntopics; i++) {
        struct ptopic *t = p->topics[i];
        for (int32_t j = 0; j < t->npart; j++) {
            struct ppart *pp = t->parts[j];
            seal(p, pp);
            while (pp->head) {
                struct rl_pbatch *b = pp->head;
                batch_unlink(pp, b);
                batch_complete(p, b, RINGLOG_ERR_CLOSED, -1, "producer destroyed");
            }
        }
    }
    rl_cluster_unlock(p->cl);
    serve(p);
    for (size_t i = 0; i < p->ntopics; i++) {
        for (int32_t j = 0; j < p->topics[i]->npart; j++)
            free(p->topics[i]->parts[j]);
        free(p->topics[i]->parts);
        free(p->topics[i]->name);
        free(p->topics[i]);
    }
    free(p->topics);
    while (p->spare) {
        struct rl_pbatch *b = p->spare;
        p->spare = b->next;
        rl_pbatch_free(b);
    }
    rl_cluster_destroy(p->cl);
    pthread_cond_destroy(&p->space_cond);
    pthread_cond_destroy(&p->done_cond);
    free(p);
    return RINGLOG_OK;
}
