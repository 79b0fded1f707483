/*
 * The consumer. The I/O thread keeps one fetch in flight per leader for
 * every assigned partition whose prefetched bytes are under
 * queued-max-bytes, verifies each returned batch (header and checksum) and
 * queues whole batches; the application thread (ringlog_consumer_poll)
 * decompresses and decodes records from the queue, so by the time it asks,
 * the next fetch is usually already on its way (prefetch).
 *
 * Positions: each partition has a generation bumped by assign and seek;
 * data and answers of an older generation are dropped, so a seek never
 * returns records from before it. The position (next offset the
 * application will see) is what commit and auto-commit store.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "cluster.h"
#include "conn.h"
#include "consumer_internal.h"
#include "group.h"
#include "endian_le.h"
#include "poison.h"
#include "ringlog.h"

/* ---------------------------------------------------------------- partitions */

struct cpart *consumer_find_part(struct ringlog_consumer *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i]->partition == partition && strcmp(c->parts[i]->topic, topic) == 0)
            return c->parts[i];
    return NULL;
}

static void part_free(struct cpart *p)
{
    free(p->topic);
    free(p);
}

/* Drops a reference taken by a request; frees an unassigned partition with none left. */
static void part_unref(struct ringlog_consumer *c, struct cpart *p)
{
    p->refs--;
    if (p->removed && p->refs == 0) {
        for (size_t i = 0; i < c->ndead; i++)
            if (c->dead[i] == p) {
                c->dead[i] = c->dead[--c->ndead];
                break;
            }
        part_free(p);
    }
}

static void chunk_free(struct chunk *ch)
{
    if (ch->data) /* the frame may be reused: lift what retire_borrowed poisoned */
        RL_UNPOISON(ch->data, ch->len);
    if (ch->hold)
        rl_conn_response_release(ch->hold);
    else
        free(ch->data);
    free(ch);
}

static void queue_push(struct ringlog_consumer *c, struct chunk *ch)
{
    ch->next = NULL;
    if (c->q_tail)
        c->q_tail->next = ch;
    else
        c->q_head = ch;
    c->q_tail = ch;
    pthread_cond_broadcast(&c->ready_cond);
}

/*
 * Runs the error and statistics callbacks that are due, unless another
 * thread is serving (-1). Returns how many ran. Lock held; released
 * while they run.
 */
static int serve_events(struct ringlog_consumer *c)
{
    if (!rl_cluster_events_pending(c->cl) || !rl_cluster_serve_begin(c->cl))
        return rl_cluster_events_pending(c->cl) ? -1 : 0;
    struct rl_event *events = rl_cluster_take_events(c->cl);
    bool app = !rl_cluster_on_io_thread(c->cl);
    if (app) /* only the application thread touches it */
        c->app_serving = true;
    rl_cluster_unlock(c->cl);
    int n = rl_events_dispatch(c->conf, events);
    rl_cluster_lock(c->cl);
    if (app)
        c->app_serving = false;
    rl_cluster_serve_end(c->cl);
    assert(n >= 0);
    return n;
}

/* Queues an error event about a partition (returned by poll in order with its data). */
static void push_error(struct ringlog_consumer *c, struct cpart *p, int err, const char *fmt,
                       int64_t offset)
{
    struct chunk *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return;
    ch->part = p;
    ch->gen = p->gen;
    ch->err = err;
    ch->offset = offset;
    snprintf(ch->errstr, sizeof(ch->errstr), "%s/%d: ", p->topic, p->partition);
    size_t n = strlen(ch->errstr);
    snprintf(ch->errstr + n, sizeof(ch->errstr) - n, fmt, (long long)offset);
    queue_push(c, ch);
}

/* Applies auto-offset-reset; lock held. */
static void reset_offset(struct ringlog_consumer *c, struct cpart *p, int err, const char *why)
{
    switch (c->conf->auto_offset_reset) {
    case RL_RESET_EARLIEST:
        p->state = CP_NEED_OFFSET;
        p->start_spec = RINGLOG_OFFSET_BEGINNING;
        break;
    case RL_RESET_LATEST:
        p->state = CP_NEED_OFFSET;
        p->start_spec = RINGLOG_OFFSET_END;
        break;
    default:
        p->state = CP_STOPPED;
        push_error(c, p, err, why, p->fetch_offset);
        break;
    }
}

/* ---------------------------------------------------------------- offset lookups */

struct lookup {
    struct ringlog_consumer *c;
    struct cpart *part;
    uint32_t gen;
};

static void lookup_done(struct ringlog_consumer *c, struct cpart *p, int64_t offset)
{
    p->fetch_offset = offset;
    atomic_store(&p->position, offset);
    p->state = CP_FETCHING;
    p->backoff_until = 0;
    rl_cluster_wakeup(c->cl);
}

static void lookup_failed(struct ringlog_consumer *c, struct cpart *p, int err)
{
    p->state = CP_NEED_OFFSET;
    p->backoff_until = rl_now_ms() + c->conf->retry_backoff_ms;
    if (err < 0 || err == RINGLOG_ERR_NOT_LEADER || err == RINGLOG_ERR_UNKNOWN_TOPIC ||
        err == RINGLOG_ERR_UNKNOWN_PARTITION || err == RINGLOG_ERR_LEADER_NOT_AVAILABLE)
        rl_cluster_refresh_metadata(c->cl);
    rl_cluster_log(c->cl, RINGLOG_LOG_DEBUG, "%s/%d: offset lookup failed: %s", p->topic,
                   p->partition, ringlog_err_name(err));
}

static void on_list_offsets(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)cl;
    struct lookup *lk = ctx;
    struct ringlog_consumer *c = lk->c;
    struct cpart *p = lk->part;
    if (!p->removed && p->gen == lk->gen && p->state == CP_LOOKUP) {
        int code = resp ? (int)resp->error : err;
        Ringlog__ListOffsetsPartitionResult *r = NULL;
        if (!code && resp->body_case == RINGLOG__RESPONSE__BODY_LIST_OFFSETS &&
            resp->list_offsets->n_topics == 1 && resp->list_offsets->topics[0]->n_partitions == 1)
            r = resp->list_offsets->topics[0]->partitions[0];
        if (!code && !r)
            code = RINGLOG_ERR_PROTOCOL;
        if (!code)
            code = r->error;
        if (code)
            lookup_failed(c, p, code);
        else if (r->offset < 0) /* nothing at or after the timestamp: the end */
            p->state = CP_NEED_OFFSET, p->start_spec = RINGLOG_OFFSET_END;
        else
            lookup_done(c, p, r->offset);
    }
    part_unref(c, p);
    free(lk);
}

static void on_offset_fetch(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)cl;
    struct lookup *lk = ctx;
    struct ringlog_consumer *c = lk->c;
    struct cpart *p = lk->part;
    if (!p->removed && p->gen == lk->gen && p->state == CP_LOOKUP) {
        int code = resp ? (int)resp->error : err;
        Ringlog__OffsetFetchPartitionResult *r = NULL;
        if (!code && resp->body_case == RINGLOG__RESPONSE__BODY_OFFSET_FETCH &&
            resp->offset_fetch->n_topics >= 1 && resp->offset_fetch->topics[0]->n_partitions >= 1)
            r = resp->offset_fetch->topics[0]->partitions[0];
        if (!code && !r)
            code = RINGLOG_ERR_PROTOCOL;
        if (!code)
            code = r->error;
        if (code == RINGLOG_ERR_UNKNOWN_GROUP || (!code && r->offset < 0)) {
            /* Nothing committed: start where auto-offset-reset says. */
            p->committed = -1;
            if (c->conf->auto_offset_reset == RL_RESET_ERROR) {
                p->state = CP_STOPPED;
                push_error(c, p, RINGLOG_ERR_NO_OFFSET,
                           "no committed offset for the group (%lld) and auto-offset-reset=error",
                           -1);
            } else {
                reset_offset(c, p, RINGLOG_ERR_NO_OFFSET, "");
            }
        } else if (code) {
            lookup_failed(c, p, code);
        } else {
            p->committed = r->offset;
            lookup_done(c, p, r->offset);
        }
    }
    part_unref(c, p);
    free(lk);
}

/* Starts the offset lookup of a partition when its broker is up. */
static void lookup_start(struct ringlog_consumer *c, struct cpart *p, int64_t now)
{
    if (now < p->backoff_until)
        return;
    if (p->start_spec >= 0) {
        lookup_done(c, p, p->start_spec);
        return;
    }
    bool stored = p->start_spec == RINGLOG_OFFSET_STORED;
    if (stored && !c->conf->group) {
        reset_offset(c, p, RINGLOG_ERR_NO_OFFSET, "no group to read a committed offset from");
        return;
    }
    struct rl_broker *b =
        stored ? group_coordinator(c) : rl_cluster_leader(c->cl, p->topic, p->partition);
    if (stored && !b && c->group)
        return; /* a member waits for its coordinator (group_tick finds it) */
    if (stored && !b)
        b = rl_cluster_any_broker(c->cl);
    if (!b) {
        rl_cluster_refresh_metadata(c->cl);
        return;
    }
    if (!rl_broker_ready(c->cl, b))
        return;
    struct lookup *lk = malloc(sizeof(*lk));
    if (!lk)
        return;
    *lk = (struct lookup){.c = c, .part = p, .gen = p->gen};
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    int rc;
    if (stored) {
        uint32_t pn = (uint32_t)p->partition;
        Ringlog__OffsetFetchTopic ft = RINGLOG__OFFSET_FETCH_TOPIC__INIT;
        Ringlog__OffsetFetchTopic *ftp = &ft;
        ft.topic = p->topic;
        ft.n_partitions = 1;
        ft.partitions = &pn;
        Ringlog__OffsetFetchRequest of = RINGLOG__OFFSET_FETCH_REQUEST__INIT;
        of.group = c->conf->group;
        of.n_topics = 1;
        of.topics = &ftp;
        req.body_case = RINGLOG__REQUEST__BODY_OFFSET_FETCH;
        req.offset_fetch = &of;
        rc = rl_broker_send(c->cl, b, &req, true, 0, on_offset_fetch, lk);
    } else {
        Ringlog__ListOffsetsPartition lp = RINGLOG__LIST_OFFSETS_PARTITION__INIT;
        Ringlog__ListOffsetsPartition *lpp = &lp;
        lp.partition = (uint32_t)p->partition;
        lp.timestamp = p->start_spec == SPEC_TIMESTAMP ? p->start_ts : p->start_spec;
        Ringlog__ListOffsetsTopic lt = RINGLOG__LIST_OFFSETS_TOPIC__INIT;
        Ringlog__ListOffsetsTopic *ltp = &lt;
        lt.topic = p->topic;
        lt.n_partitions = 1;
        lt.partitions = &lpp;
        Ringlog__ListOffsetsRequest lo = RINGLOG__LIST_OFFSETS_REQUEST__INIT;
        lo.n_topics = 1;
        lo.topics = &ltp;
        req.body_case = RINGLOG__REQUEST__BODY_LIST_OFFSETS;
        req.list_offsets = &lo;
        rc = rl_broker_send(c->cl, b, &req, true, 0, on_list_offsets, lk);
    }
    if (rc != RINGLOG_OK) {
        free(lk);
        return;
    }
    p->refs++;
    p->state = CP_LOOKUP;
}

/* ---------------------------------------------------------------- fetching */

struct fetch_entry {
    struct cpart *part;
    uint32_t gen;
    int64_t offset;
};

struct fetch_req {
    struct ringlog_consumer *c;
    int n;
    struct fetch_entry e[];
};

/*
 * Takes a partition's fetched records: keeps the whole, verified batches
 * at or after the fetch offset, advances the fetch offset past them, and
 * reports a corrupt batch as an error event (the partition then pauses
 * until a seek, like Kafka's consumer).
 */
static void take_records(struct ringlog_consumer *c, struct cpart *p, Ringlog__Response *resp,
                         Ringlog__FetchPartitionResult *r)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, r->records.data, r->records.len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    it.allow_control = true; /* the broker's own batches: skipped by poll, not handed out */
    int st;
    int64_t next = p->fetch_offset;
    while ((st = rl_batch_iter_next(&it, &batch, &h)) == RL_OK)
        next = rl_batch_last_offset(&h) + 1;
    size_t whole = rl_batch_iter_pos(&it);
    if (whole > 0) {
        struct chunk *ch = calloc(1, sizeof(*ch));
        if (!ch)
            return; /* fetched again later */
        ch->part = p;
        ch->gen = p->gen;
        ch->hold = rl_conn_response_hold(resp);
        ch->data = r->records.data; /* in the held frame, or protobuf-c's copy: taken */
        ch->len = whole;
        if (!ch->hold) {
            r->records.data = NULL;
            r->records.len = 0;
        }
        p->queued_bytes += whole;
        if (next > p->fetch_offset)
            p->fetch_offset = next;
        queue_push(c, ch);
    }
    if (st != RL_END && st != RL_ERR_TRUNCATED) {
        p->state = CP_STOPPED;
        push_error(c, p, RINGLOG_ERR_CORRUPT,
                   "corrupt batch at offset %lld (seek past it to go on)", p->fetch_offset);
        rl_cluster_log(c->cl, RINGLOG_LOG_ERROR, "%s/%d: batch at %lld failed verification: %s",
                       p->topic, p->partition, (long long)p->fetch_offset, rl_status_str(st));
    }
}

/*
 * With enable-partition-eof: a fetch that came back empty at the high
 * watermark queues an end-of-partition event, once per end offset (new
 * data moves the end, and the next end is reported again).
 */
static void maybe_eof(struct ringlog_consumer *c, struct cpart *p)
{
    if (!c->conf->enable_partition_eof || p->fetch_offset < p->high_watermark ||
        p->eof_reported == p->fetch_offset)
        return;
    assert(p->fetch_offset >= 0);
    p->eof_reported = p->fetch_offset;
    push_error(c, p, RINGLOG_ERR_PARTITION_EOF, "reached the end of the partition at offset %lld",
               p->fetch_offset);
}

static Ringlog__FetchPartitionResult *find_fetch_result(Ringlog__FetchResponse *f,
                                                        const char *topic, int32_t partition)
{
    for (size_t i = 0; i < f->n_topics; i++) {
        if (strcmp(f->topics[i]->topic, topic) != 0)
            continue;
        for (size_t j = 0; j < f->topics[i]->n_partitions; j++)
            if ((int32_t)f->topics[i]->partitions[j]->partition == partition)
                return f->topics[i]->partitions[j];
    }
    return NULL;
}

static void on_fetch(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    struct fetch_req *fr = ctx;
    struct ringlog_consumer *c = fr->c;
    int64_t now = rl_now_ms();
    for (int i = 0; i < fr->n; i++) {
        struct cpart *p = fr->e[i].part;
        p->fetch_inflight = false;
        if (p->removed || p->gen != fr->e[i].gen || p->state != CP_FETCHING ||
            p->fetch_offset != fr->e[i].offset) {
            part_unref(c, p);
            continue;
        }
        int code = resp ? (int)resp->error : err;
        Ringlog__FetchPartitionResult *r = NULL;
        if (!code && resp->body_case == RINGLOG__RESPONSE__BODY_FETCH)
            r = find_fetch_result(resp->fetch, p->topic, p->partition);
        if (!code && !r)
            code = RINGLOG_ERR_PROTOCOL;
        if (!code)
            code = r->error;
        if (!code) {
            p->high_watermark = r->high_watermark;
            p->log_start = r->log_start_offset;
            if (r->records.len > 0)
                take_records(c, p, resp, r);
            else
                maybe_eof(c, p);
        } else if (code == RINGLOG_ERR_OFFSET_OUT_OF_RANGE) {
            rl_cluster_log(cl, RINGLOG_LOG_WARNING, "%s/%d: offset %lld out of range", p->topic,
                           p->partition, (long long)p->fetch_offset);
            reset_offset(c, p, code, "fetch offset %lld is out of range");
        } else {
            p->backoff_until = now + c->conf->retry_backoff_ms;
            if (code < 0 || code == RINGLOG_ERR_NOT_LEADER || code == RINGLOG_ERR_UNKNOWN_TOPIC ||
                code == RINGLOG_ERR_UNKNOWN_PARTITION || code == RINGLOG_ERR_LEADER_NOT_AVAILABLE)
                rl_cluster_refresh_metadata(cl);
            rl_cluster_log(cl, RINGLOG_LOG_DEBUG, "%s/%d: fetch failed: %s", p->topic, p->partition,
                           ringlog_err_name(code));
        }
        part_unref(c, p);
    }
    free(fr);
}

static bool fetchable(struct ringlog_consumer *c, struct cpart *p, struct rl_broker *broker,
                      int64_t now)
{
    return p->state == CP_FETCHING && !p->paused && !p->fetch_inflight && now >= p->backoff_until &&
           p->queued_bytes < (size_t)c->conf->queued_max_bytes &&
           rl_cluster_leader(c->cl, p->topic, p->partition) == broker;
}

/*
 * Counts the partitions a fetch to `broker` would carry and picks the one to
 * list first: the one listed first longest ago (never, first), so that
 * partitions of the same broker take turns at the head whatever fetches to
 * other brokers do in between.
 */
static int fetch_candidates(struct ringlog_consumer *c, struct rl_broker *broker, int64_t now,
                            size_t *first)
{
    int n = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        if (!fetchable(c, c->parts[i], broker, now))
            continue;
        if (n == 0 || c->parts[i]->first_turn < c->parts[*first]->first_turn)
            *first = i;
        n++;
    }
    assert(n == 0 || *first < c->nparts);
    return n;
}

/*
 * Sends one fetch to `broker` for every partition it leads that is ready for
 * more. The broker fills partitions in request order within a total budget
 * and only the first one with data is sure of a whole batch (docs/PROTOCOL.md
 * *Fetch*), so the order rotates (fetch_candidates): a partition whose next
 * batch exceeds what earlier ones leave of the budget is listed first within
 * as many fetches to its broker as it has partitions ready, instead of
 * starving while the others have data.
 */
static void fetch_from(struct ringlog_consumer *c, struct rl_broker *broker, int64_t now)
{
    size_t first = 0;
    int n = fetch_candidates(c, broker, now, &first);
    if (n == 0 || !rl_broker_ready(c->cl, broker))
        return;
    struct fetch_req *fr = malloc(sizeof(*fr) + (size_t)n * sizeof(fr->e[0]));
    Ringlog__FetchTopic *fts = calloc((size_t)n, sizeof(*fts));
    Ringlog__FetchTopic **ftp = calloc((size_t)n, sizeof(*ftp));
    Ringlog__FetchPartition *fps = calloc((size_t)n, sizeof(*fps));
    Ringlog__FetchPartition **fpp = calloc((size_t)n, sizeof(*fpp));
    if (!fr || !fts || !ftp || !fps || !fpp)
        goto out;
    fr->c = c;
    fr->n = 0;
    int ntopics = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        struct cpart *p = c->parts[(first + i) % c->nparts];
        if (!fetchable(c, p, broker, now))
            continue;
        int k = fr->n;
        fr->e[k] = (struct fetch_entry){.part = p, .gen = p->gen, .offset = p->fetch_offset};
        ringlog__fetch_partition__init(&fps[k]);
        fps[k].partition = (uint32_t)p->partition;
        fps[k].fetch_offset = p->fetch_offset;
        fps[k].max_bytes = (uint32_t)c->conf->partition_fetch_bytes;
        fr->n++;
        int t = 0;
        while (t < ntopics && strcmp(fts[t].topic, p->topic) != 0)
            t++;
        if (t == ntopics) {
            ringlog__fetch_topic__init(&fts[t]);
            fts[t].topic = p->topic;
            ftp[t] = &fts[t];
            ntopics++;
        }
    }
    int k = 0;
    for (int t = 0; t < ntopics; t++) {
        fts[t].partitions = fpp + k;
        for (int i = 0; i < fr->n; i++)
            if (strcmp(fr->e[i].part->topic, fts[t].topic) == 0)
                fpp[k++] = &fps[i];
        fts[t].n_partitions = (size_t)(fpp + k - fts[t].partitions);
    }
    Ringlog__FetchRequest f = RINGLOG__FETCH_REQUEST__INIT;
    f.max_wait_ms = (uint32_t)c->conf->fetch_max_wait_ms;
    f.min_bytes = (uint32_t)c->conf->fetch_min_bytes;
    f.max_bytes = (uint32_t)c->conf->fetch_max_bytes;
    f.isolation = RINGLOG__ISOLATION_LEVEL__ISOLATION_HIGH_WATERMARK;
    f.n_topics = (size_t)ntopics;
    f.topics = ftp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_FETCH;
    req.fetch = &f;
    if (rl_broker_send(c->cl, broker, &req, true, c->conf->fetch_max_wait_ms, on_fetch, fr) ==
        RINGLOG_OK) {
        assert(fr->e[0].part == c->parts[first]);
        c->parts[first]->first_turn = ++c->fetch_turns;
        for (int i = 0; i < fr->n; i++) {
            fr->e[i].part->fetch_inflight = true;
            fr->e[i].part->refs++;
        }
        fr = NULL;
    }
out:
    free(fr);
    free(fts);
    free(ftp);
    free(fps);
    free(fpp);
}

/* ---------------------------------------------------------------- the I/O tick */

static int64_t hook_tick(void *owner, int64_t now)
{
    struct ringlog_consumer *c = owner;
    int64_t next = -1;
#define CONSIDER(t)                                                                                \
    do {                                                                                           \
        if (next < 0 || (t) < next)                                                                \
            next = (t);                                                                            \
    } while (0)
    for (size_t i = 0; i < c->nparts; i++) {
        struct cpart *p = c->parts[i];
        if (p->state == CP_NEED_OFFSET && !p->paused) {
            lookup_start(c, p, now);
            if (p->state == CP_NEED_OFFSET)
                CONSIDER(p->backoff_until > now ? p->backoff_until : now + 50);
        }
        if (p->state == CP_FETCHING && p->backoff_until > now)
            CONSIDER(p->backoff_until);
    }
    /* One fetch per leader: every broker that leads a fetchable partition. */
    for (size_t i = 0; i < c->nparts; i++) {
        struct cpart *p = c->parts[i];
        if (p->state != CP_FETCHING || p->paused || p->fetch_inflight || now < p->backoff_until ||
            p->queued_bytes >= (size_t)c->conf->queued_max_bytes)
            continue;
        struct rl_broker *b = rl_cluster_leader(c->cl, p->topic, p->partition);
        if (!b) {
            rl_cluster_refresh_metadata(c->cl);
            CONSIDER(now + c->conf->retry_backoff_ms);
            continue;
        }
        fetch_from(c, b, now);
    }
    if (c->conf->group && c->conf->enable_auto_commit) {
        if (now >= c->next_auto_commit) {
            c->next_auto_commit = now + c->conf->auto_commit_interval_ms;
            struct job *j = positions_job(c, true);
            if (j) {
                j->detached = true;
                job_add(c, j);
            }
        }
        CONSIDER(c->next_auto_commit);
    }
    if (c->group) {
        int64_t beat = group_tick(c, now);
        if (beat >= 0)
            CONSIDER(beat);
    }
    for (struct job *j = c->jobs, *after; j; j = after) {
        after = j->next; /* a finished job may be freed */
        if (j->kind == JOB_TIMES) {
            if (!times_send(c, j, now))
                CONSIDER(now + 50);
        } else if (!j->sent) {
            job_send(c, j);
            if (!j->sent)
                CONSIDER(now + 50);
        }
    }
#undef CONSIDER
    return next;
}

/*
 * After each metadata answer: an assigned partition the cluster does not
 * have (its topic unknown, or beyond the partition count) is reported to
 * poll as RINGLOG_ERR_UNKNOWN_TOPIC / _PARTITION, once, on the second
 * answer in a row that says so (the first may predate a creation); the
 * partition keeps waiting and starts should it appear. Lock held.
 */
static void hook_metadata(void *owner)
{
    struct ringlog_consumer *c = owner;
    for (size_t i = 0; i < c->nparts; i++) {
        struct cpart *p = c->parts[i];
        const struct rl_topic_md *md = rl_cluster_topic(c->cl, p->topic);
        if (!md || !md->known)
            continue;
        int missing = md->err == RINGLOG_ERR_UNKNOWN_TOPIC    ? RINGLOG_ERR_UNKNOWN_TOPIC
                      : !md->err && p->partition >= md->npart ? RINGLOG_ERR_UNKNOWN_PARTITION
                                                              : 0;
        if (!missing) {
            p->missing_seen = p->missing_reported = 0;
            continue;
        }
        if (++p->missing_seen < 2) {
            rl_cluster_refresh_metadata(c->cl); /* ask once more before saying so */
            continue;
        }
        if (p->missing_reported == missing)
            continue;
        p->missing_reported = missing;
        push_error(c, p, missing,
                   missing == RINGLOG_ERR_UNKNOWN_TOPIC
                       ? "the topic does not exist (position %lld); waiting for it"
                       : "the topic has no such partition (position %lld); waiting for it",
                   atomic_load(&p->position));
    }
}

/* callbacks-on-io-thread: the error and statistics callbacks, on the I/O thread. */
static void hook_callbacks(void *owner)
{
    struct ringlog_consumer *c = owner;
    rl_cluster_lock(c->cl);
    serve_events(c);
    rl_cluster_unlock(c->cl);
}

/* An error or statistics event: wake a waiting poll. Lock held. */
static void hook_events_posted(void *owner)
{
    struct ringlog_consumer *c = owner;
    pthread_cond_broadcast(&c->ready_cond);
}

static const char *fetch_state(const struct cpart *p)
{
    static const char *const NAMES[] = {"offset-query", "offset-wait", "active", "stopped"};
    return p->paused ? "paused" : NAMES[p->state];
}

/* The consumer's part of the statistics JSON (cluster.h, hooks.stats). Lock held. */
static void hook_stats(void *owner, struct rl_sbuf *sb)
{
    struct ringlog_consumer *c = owner;
    rl_sbuf_printf(sb, "\"partitions\":[");
    for (size_t i = 0; i < c->nparts; i++) {
        const struct cpart *p = c->parts[i];
        int64_t pos = atomic_load(&p->position);
        int64_t lag = pos >= 0 && p->high_watermark >= 0 ? p->high_watermark - pos : -1;
        rl_sbuf_printf(sb, "%s{\"topic\":", i ? "," : "");
        rl_sbuf_json_str(sb, p->topic);
        rl_sbuf_printf(sb,
                       ",\"partition\":%d,\"fetch_state\":\"%s\",\"position\":%lld,"
                       "\"fetch_offset\":%lld,\"lo_offset\":%lld,\"hi_offset\":%lld,"
                       "\"consumer_lag\":%lld,\"committed_offset\":%lld,\"fetchq_bytes\":%zu}",
                       (int)p->partition, fetch_state(p), (long long)pos,
                       (long long)p->fetch_offset, (long long)p->log_start,
                       (long long)p->high_watermark, (long long)lag, (long long)p->committed,
                       p->queued_bytes);
    }
    rl_sbuf_printf(sb, "],");
}

/* ---------------------------------------------------------------- public API */

ringlog_consumer *ringlog_consumer_new(const ringlog_conf *conf, char *errbuf, size_t errlen)
{
    if (!conf) {
        rl_errbuf(errbuf, errlen, "conf must not be NULL");
        return NULL;
    }
    struct ringlog_consumer *c = calloc(1, sizeof(*c));
    if (!c) {
        rl_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    struct rl_cluster_hooks hooks = {.owner = c,
                                     .tick = hook_tick,
                                     .callbacks = hook_callbacks,
                                     .metadata_changed = hook_metadata,
                                     .events_posted = hook_events_posted,
                                     .stats = hook_stats,
                                     .kind = "consumer"};
    if (rl_cluster_new(conf, &hooks, &c->cl, errbuf, errlen) != RINGLOG_OK) {
        free(c);
        return NULL;
    }
    c->conf = rl_cluster_conf(c->cl);
    c->next_auto_commit = rl_now_ms() + c->conf->auto_commit_interval_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->ready_cond, &ca);
    pthread_cond_init(&c->job_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rl_cluster_start(c->cl, errbuf, errlen) != RINGLOG_OK) {
        rl_cluster_destroy(c->cl);
        free(c);
        return NULL;
    }
    return c;
}

/* Frees the decompressed records of the current batch, lifting their poison first. */
static void free_decompressed(struct ringlog_consumer *c)
{
    if (c->decompressed)
        RL_UNPOISON(c->decompressed, c->decompressed_len);
    free(c->decompressed);
    c->decompressed = NULL;
}

/*
 * The borrowed message's loan ends (the next call on the consumer): under
 * ASan its key, value and header bytes are poisoned until their chunk or
 * decompressed buffer is released, so a kept message faults at once.
 */
static void retire_borrowed(struct ringlog_consumer *c)
{
    if (!c->msg_lent)
        return;
    c->msg_lent = false;
    const ringlog_message *m = &c->msg;
    assert(m->header_count == 0 || m->headers == c->hdrs);
    if (m->key && m->key_len)
        RL_POISON((void *)m->key, m->key_len);
    if (m->value && m->value_len)
        RL_POISON((void *)m->value, m->value_len);
    for (size_t i = 0; i < m->header_count; i++) {
        if (m->headers[i].key && m->headers[i].key_len)
            RL_POISON((void *)m->headers[i].key, m->headers[i].key_len);
        if (m->headers[i].value && m->headers[i].value_len)
            RL_POISON((void *)m->headers[i].value, m->headers[i].value_len);
    }
}

/* Forgets the batch being decoded (application thread). */
static void drop_current(struct ringlog_consumer *c)
{
    retire_borrowed(c);
    c->pending_err = 0; /* an event kept by poll_batch is about the old positions */
    free_decompressed(c);
    c->in_batch = false;
    if (c->cur) {
        struct chunk *ch = c->cur;
        c->cur = NULL;
        rl_cluster_lock(c->cl);
        if (!ch->err && !ch->part->removed && ch->part->gen == ch->gen) {
            ch->part->queued_bytes -= ch->len;
            if (ch->part->queued_bytes < (size_t)c->conf->queued_max_bytes)
                rl_cluster_wakeup(c->cl);
        }
        rl_cluster_unlock(c->cl);
        chunk_free(ch);
    }
}

/* Drops queued chunks of a partition; lock held. */
static void purge_queue(struct ringlog_consumer *c, struct cpart *p)
{
    struct chunk **pc = &c->q_head, *prev = NULL;
    while (*pc) {
        struct chunk *ch = *pc;
        if (ch->part == p) {
            *pc = ch->next;
            chunk_free(ch);
            continue;
        }
        prev = ch;
        pc = &ch->next;
    }
    c->q_tail = prev;
    p->queued_bytes = 0;
}

static int64_t normalize_offset(int64_t offset)
{
    return offset;
}

/* Whether tps[0, n) is a valid assignment (topics named, offsets a position or a spec). */
static bool assignment_valid(const ringlog_topic_partition *tps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!tps[i].topic || !tps[i].topic[0] || tps[i].partition < 0 ||
            (tps[i].offset < 0 && tps[i].offset != RINGLOG_OFFSET_BEGINNING &&
             tps[i].offset != RINGLOG_OFFSET_END && tps[i].offset != RINGLOG_OFFSET_STORED))
            return false;
    return true;
}

/* A new partition of the assignment, starting where tp's offset says; NULL out of memory. */
static struct cpart *part_new(const ringlog_topic_partition *tp)
{
    struct cpart *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(tp->topic))) {
        free(p);
        return NULL;
    }
    p->partition = tp->partition;
    p->state = CP_NEED_OFFSET;
    p->start_spec = normalize_offset(tp->offset);
    p->fetch_offset = -1;
    p->committed = -1;
    p->high_watermark = -1;
    p->log_start = -1;
    p->eof_reported = -1;
    atomic_init(&p->position, -1);
    return p;
}

/* Takes p out of the assignment: freed now, or once its requests are back. Lock held. */
static void part_retire(struct ringlog_consumer *c, struct cpart *p)
{
    purge_queue(c, p);
    p->removed = true;
    if (p->refs == 0) {
        part_free(p);
        return;
    }
    struct cpart **d = realloc(c->dead, (c->ndead + 1) * sizeof(*d));
    if (d) {
        c->dead = d;
        c->dead[c->ndead++] = p;
    }
}

int ringlog_consumer_assign(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n)
{
    if (!c || (n && !tps))
        return RINGLOG_ERR_INVALID_ARG;
    if (c->closed || c->group) /* a subscribed consumer's partitions are the group's */
        return RINGLOG_ERR_STATE;
    if (!assignment_valid(tps, n))
        return RINGLOG_ERR_INVALID_ARG;
    struct cpart **parts = n ? calloc(n, sizeof(*parts)) : NULL;
    if (n && !parts)
        return RINGLOG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(parts[i] = part_new(&tps[i]))) {
            for (size_t k = 0; k < i; k++)
                part_free(parts[k]);
            free(parts);
            return RINGLOG_ERR_NOMEM;
        }
    }
    drop_current(c);
    rl_cluster_lock(c->cl);
    for (size_t i = 0; i < c->nparts; i++) /* retire the old assignment */
        part_retire(c, c->parts[i]);
    free(c->parts);
    c->parts = parts;
    c->nparts = n;
    for (size_t i = 0; i < n; i++)
        rl_cluster_want_topic(c->cl, parts[i]->topic);
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}

int ringlog_consumer_incremental_assign(ringlog_consumer *c, const ringlog_topic_partition *tps,
                                        size_t n)
{
    if (!c || (n && !tps) || !assignment_valid(tps, n))
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    int rc = c->closed ? RINGLOG_ERR_STATE : RINGLOG_OK;
    for (size_t i = 0; rc == RINGLOG_OK && i < n; i++)
        if (consumer_find_part(c, tps[i].topic, tps[i].partition))
            rc = RINGLOG_ERR_STATE; /* already assigned */
    struct cpart **parts = rc ? NULL : realloc(c->parts, (c->nparts + n + 1) * sizeof(*parts));
    if (rc == RINGLOG_OK && !parts)
        rc = RINGLOG_ERR_NOMEM;
    if (parts)
        c->parts = parts;
    for (size_t i = 0; rc == RINGLOG_OK && i < n; i++) {
        struct cpart *p = part_new(&tps[i]);
        if (!p) {
            rc = RINGLOG_ERR_NOMEM;
            break;
        }
        c->parts[c->nparts++] = p;
        rl_cluster_want_topic(c->cl, p->topic);
    }
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
    return rc;
}

int ringlog_consumer_incremental_unassign(ringlog_consumer *c, const ringlog_topic_partition *tps,
                                          size_t n)
{
    if (!c || (n && !tps))
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    bool drop_cur = false;
    for (size_t i = 0; i < n; i++)
        drop_cur |= tps[i].topic && c->cur && c->cur->part->partition == tps[i].partition &&
                    !strcmp(c->cur->part->topic, tps[i].topic);
    rl_cluster_unlock(c->cl);
    if (drop_cur)
        drop_current(c); /* the application thread's own chunk: poll is not running */
    rl_cluster_lock(c->cl);
    for (size_t i = 0; i < n; i++) {
        struct cpart *p =
            tps[i].topic ? consumer_find_part(c, tps[i].topic, tps[i].partition) : NULL;
        if (!p)
            continue;
        size_t k = 0;
        while (c->parts[k] != p)
            k++;
        c->parts[k] = c->parts[--c->nparts];
        part_retire(c, p);
    }
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}

static int seek_to(ringlog_consumer *c, const char *topic, int32_t partition, int64_t spec,
                   int64_t ts)
{
    if (!c || !topic)
        return RINGLOG_ERR_INVALID_ARG;
    if (c->cur && c->cur->part->partition == partition && !strcmp(c->cur->part->topic, topic))
        drop_current(c);
    rl_cluster_lock(c->cl);
    struct cpart *p = consumer_find_part(c, topic, partition);
    if (!p) {
        rl_cluster_unlock(c->cl);
        return RINGLOG_ERR_STATE;
    }
    purge_queue(c, p);
    p->gen++;
    p->state = CP_NEED_OFFSET;
    p->start_spec = spec;
    p->start_ts = ts;
    p->backoff_until = 0;
    p->eof_reported = -1;
    atomic_store(&p->position, spec >= 0 ? spec : -1);
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}

int ringlog_consumer_seek(ringlog_consumer *c, const char *topic, int32_t partition, int64_t offset)
{
    if (offset < 0 && offset != RINGLOG_OFFSET_BEGINNING && offset != RINGLOG_OFFSET_END &&
        offset != RINGLOG_OFFSET_STORED)
        return RINGLOG_ERR_INVALID_ARG;
    return seek_to(c, topic, partition, offset, 0);
}

int ringlog_consumer_seek_timestamp(ringlog_consumer *c, const char *topic, int32_t partition,
                                    int64_t ts_ms)
{
    if (ts_ms < 0)
        return RINGLOG_ERR_INVALID_ARG;
    return seek_to(c, topic, partition, SPEC_TIMESTAMP, ts_ms);
}

/* Decodes the next record of the current chunk into c->msg. False when the chunk is used up. */
static int next_record(struct ringlog_consumer *c, bool *got)
{
    struct chunk *ch = c->cur;
    *got = false;
    for (;;) {
        if (!c->in_batch) {
            free_decompressed(c);
            if (c->cur_pos >= ch->len)
                return RINGLOG_OK;
            const uint8_t *b = ch->data + c->cur_pos;
            /* Verified by the I/O thread: header and checksum are good. */
            rl_batch_header_read(b, ch->len - c->cur_pos, &c->bh);
            c->cur_pos += rl_batch_total_bytes(&c->bh);
            if (rl_batch_is_control(&c->bh)) {
                /* The broker's marker, no application records: only the position moves. */
                int64_t end = rl_batch_last_offset(&c->bh) + 1;
                if (end > atomic_load(&ch->part->position))
                    atomic_store(&ch->part->position, end);
                continue;
            }
            if (rl_batch_codec(&c->bh) != RL_CODEC_NONE) {
                size_t rawlen;
                int st = rl_batch_decompress_records(b, &c->bh, &c->decompressed, &rawlen);
                if (st != RL_OK) {
                    snprintf(c->errstr, sizeof(c->errstr),
                             "%s/%d: batch at offset %lld does not decompress: %s", ch->part->topic,
                             ch->part->partition, (long long)c->bh.base_offset, rl_status_str(st));
                    return RINGLOG_ERR_CORRUPT;
                }
                c->decompressed_len = rawlen;
                rl_record_iter_init_raw(&c->rit, c->decompressed, rawlen, &c->bh);
            } else {
                rl_record_iter_init(&c->rit, b, &c->bh);
            }
            c->in_batch = true;
        }
        struct rl_record r;
        int st = rl_record_iter_next(&c->rit, &r);
        if (st == RL_END) {
            c->in_batch = false;
            continue;
        }
        if (st != RL_OK) {
            snprintf(c->errstr, sizeof(c->errstr), "%s/%d: corrupt record in batch at %lld",
                     ch->part->topic, ch->part->partition, (long long)c->bh.base_offset);
            return RINGLOG_ERR_CORRUPT;
        }
        int64_t offset = c->bh.base_offset + r.offset_delta;
        if (offset < atomic_load(&ch->part->position))
            continue; /* before the position: a fetch returns whole batches */
        if (r.header_count > c->hdrs_cap) {
            ringlog_header *h = realloc(c->hdrs, r.header_count * sizeof(*h));
            if (!h)
                return RINGLOG_ERR_NOMEM;
            c->hdrs = h;
            c->hdrs_cap = r.header_count;
        }
        struct rl_header_iter hit;
        struct rl_header hh;
        rl_header_iter_init(&hit, &r);
        size_t nh = 0;
        while (nh < r.header_count && rl_header_iter_next(&hit, &hh) == RL_OK)
            c->hdrs[nh++] =
                (ringlog_header){.key = hh.key,
                                 .key_len = hh.key_len,
                                 .value = hh.value_len < 0 ? NULL : hh.value,
                                 .value_len = hh.value_len < 0 ? 0 : (size_t)hh.value_len};
        c->msg = (ringlog_message){
            .topic = ch->part->topic,
            .partition = ch->part->partition,
            .offset = offset,
            .timestamp = r.timestamp,
            .key = r.key_len < 0 ? NULL : r.key,
            .key_len = r.key_len < 0 ? 0 : (size_t)r.key_len,
            .value = r.value_len < 0 ? NULL : r.value,
            .value_len = r.value_len < 0 ? 0 : (size_t)r.value_len,
            .headers = c->hdrs,
            .header_count = nh,
        };
        /* Empty non-null keys and values still need a non-NULL pointer. */
        if (r.key_len == 0)
            c->msg.key = "";
        if (r.value_len == 0)
            c->msg.value = "";
        atomic_store(&ch->part->position, offset + 1);
        c->msg_lent = true;
        *got = true;
        return RINGLOG_OK;
    }
}

/* Sets c->msg to an event about a partition: where, and no key, value or headers. */
static void event_msg(struct ringlog_consumer *c, const struct cpart *p, int64_t offset)
{
    assert(p && p->topic);
    c->msg = (ringlog_message){.topic = p->topic, .partition = p->partition, .offset = offset};
}

/*
 * Waits until a chunk is queued or deadline (-1 forever) passes, serving
 * the error and statistics callbacks meanwhile in the default mode. False
 * on timeout. Lock held; released while waiting and serving.
 */
static bool wait_chunk(struct ringlog_consumer *c, int64_t deadline)
{
    while (!c->q_head && !group_pending(c)) {
        if (!c->conf->callbacks_on_io_thread && serve_events(c) > 0)
            continue;
        if (deadline >= 0 && rl_now_ms() >= deadline)
            return false;
        if (deadline < 0) {
            pthread_cond_wait(&c->ready_cond, rl_cluster_mutex(c->cl));
        } else {
            struct timespec ts = {.tv_sec = deadline / 1000,
                                  .tv_nsec = (long)(deadline % 1000) * 1000000};
            pthread_cond_timedwait(&c->ready_cond, rl_cluster_mutex(c->cl), &ts);
        }
    }
    return true;
}

/* Decodes the next record of c->cur; an error stops its partition until a seek. */
static int take_from_current(struct ringlog_consumer *c, bool *got)
{
    int err = next_record(c, got);
    if (!err)
        return RINGLOG_OK;
    struct cpart *p = c->cur->part;
    event_msg(c, p, c->bh.base_offset);
    drop_current(c);
    rl_cluster_lock(c->cl);
    if (!p->removed) {
        purge_queue(c, p);
        p->state = CP_STOPPED;
    }
    rl_cluster_unlock(c->cl);
    return err;
}

/*
 * Whether poll may run now: not from a callback, not after close. Without
 * the lock (poll runs per message): the consumer's calls are made by one
 * application thread at a time, so app_serving set means this thread is
 * inside a callback of its own poll or close; the I/O thread's identity
 * does not change.
 */
static int poll_allowed(struct ringlog_consumer *c)
{
    if (c->app_serving || rl_cluster_on_io_thread(c->cl))
        return RINGLOG_ERR_IN_CALLBACK;
    return c->closed ? RINGLOG_ERR_STATE : RINGLOG_OK;
}

/*
 * The next message or partition event into c->msg, for every poll
 * flavour: RINGLOG_OK (a message), RINGLOG_ERR_TIMED_OUT (c->msg not
 * set), or an event's code with c->msg naming its partition.
 */
static int poll_item(struct ringlog_consumer *c, int timeout_ms)
{
    c->errstr[0] = '\0';
    int rc = poll_allowed(c);
    if (rc)
        return rc;
    retire_borrowed(c);
    if (c->pending_err) {
        rc = c->pending_err;
        c->pending_err = 0;
        c->msg = c->pending_msg;
        snprintf(c->errstr, sizeof(c->errstr), "%s", c->pending_errstr);
        return rc;
    }
    int64_t deadline = -2; /* read the clock only if we have to wait */
    for (;;) {
        group_reconcile(c); /* a rebalance first: partitions leaving are committed, then dropped */
        if (c->cur) {
            bool got;
            rc = take_from_current(c, &got);
            if (rc || got)
                return rc;
            drop_current(c);
        }
        rl_cluster_lock(c->cl);
        if (!c->q_head && deadline == -2)
            deadline = timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
        if (!wait_chunk(c, deadline < -1 ? 0 : deadline)) {
            rl_cluster_unlock(c->cl);
            return RINGLOG_ERR_TIMED_OUT;
        }
        if (!c->q_head) { /* woken for a rebalance */
            rl_cluster_unlock(c->cl);
            continue;
        }
        struct chunk *ch = c->q_head;
        c->q_head = ch->next;
        if (!c->q_head)
            c->q_tail = NULL;
        bool stale = ch->part->removed || ch->part->gen != ch->gen;
        rl_cluster_unlock(c->cl);
        if (stale) {
            chunk_free(ch);
            continue;
        }
        if (ch->err) {
            rc = ch->err;
            snprintf(c->errstr, sizeof(c->errstr), "%s", ch->errstr);
            event_msg(c, ch->part, ch->offset);
            chunk_free(ch);
            return rc;
        }
        c->cur = ch;
        c->cur_pos = 0;
        c->in_batch = false;
    }
}

int ringlog_consumer_poll(ringlog_consumer *c, int timeout_ms, const ringlog_message **msg)
{
    if (!c || !msg)
        return RINGLOG_ERR_INVALID_ARG;
    *msg = NULL;
    int rc = poll_item(c, timeout_ms);
    if (rc != RINGLOG_ERR_TIMED_OUT && rc != RINGLOG_ERR_IN_CALLBACK && rc != RINGLOG_ERR_STATE)
        *msg = &c->msg;
    return rc;
}

int ringlog_consumer_poll_owned(ringlog_consumer *c, int timeout_ms, ringlog_message **msg)
{
    if (!c || !msg)
        return RINGLOG_ERR_INVALID_ARG;
    *msg = NULL;
    int rc = poll_item(c, timeout_ms);
    if (rc == RINGLOG_ERR_TIMED_OUT || rc == RINGLOG_ERR_IN_CALLBACK || rc == RINGLOG_ERR_STATE)
        return rc;
    *msg = ringlog_message_dup(&c->msg);
    return *msg ? rc : RINGLOG_ERR_NOMEM;
}

int ringlog_consumer_poll_batch(ringlog_consumer *c, int timeout_ms, ringlog_message **msgs,
                                size_t max, size_t *count)
{
    if (count)
        *count = 0;
    if (!c || !msgs || max == 0 || !count)
        return RINGLOG_ERR_INVALID_ARG;
    int rc = ringlog_consumer_poll_owned(c, timeout_ms, &msgs[0]);
    if (!msgs[0])
        return rc;
    *count = 1;
    if (rc != RINGLOG_OK)
        return rc; /* an event: alone */
    while (*count < max) {
        rc = poll_item(c, 0);
        if (rc == RINGLOG_ERR_TIMED_OUT)
            break;
        if (rc != RINGLOG_OK) {
            /* An event after messages: the next call returns it, in its place. */
            c->pending_err = rc;
            c->pending_msg = c->msg;
            snprintf(c->pending_errstr, sizeof(c->pending_errstr), "%s", c->errstr);
            c->errstr[0] = '\0';
            break;
        }
        msgs[*count] = ringlog_message_dup(&c->msg);
        if (!msgs[*count])
            return RINGLOG_ERR_NOMEM; /* what is in msgs[0, *count) is the caller's */
        (*count)++;
    }
    assert(*count >= 1 && *count <= max);
    return RINGLOG_OK;
}

const char *ringlog_consumer_errstr(ringlog_consumer *c)
{
    return c ? c->errstr : "";
}

int ringlog_consumer_position(ringlog_consumer *c, const char *topic, int32_t partition,
                              int64_t *offset)
{
    if (!c || !topic || !offset)
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    struct cpart *p = consumer_find_part(c, topic, partition);
    *offset = p ? atomic_load(&p->position) : -1;
    rl_cluster_unlock(c->cl);
    return p ? RINGLOG_OK : RINGLOG_ERR_STATE;
}

/* Pause or resume: every partition must be assigned, else nothing changes. */
static int set_paused(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n,
                      bool paused)
{
    if (!c || (n && !tps))
        return RINGLOG_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (!tps[i].topic)
            return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    bool ok = !c->closed;
    bool drop_cur = false;
    for (size_t i = 0; i < n && ok; i++) {
        ok = consumer_find_part(c, tps[i].topic, tps[i].partition) != NULL;
        drop_cur |= paused && c->cur && c->cur->part->partition == tps[i].partition &&
                    !strcmp(c->cur->part->topic, tps[i].topic);
    }
    rl_cluster_unlock(c->cl);
    if (!ok)
        return RINGLOG_ERR_STATE;
    if (drop_cur)
        drop_current(c); /* the application thread's own chunk: poll is not running */
    rl_cluster_lock(c->cl);
    for (size_t i = 0; i < n; i++) {
        struct cpart *p = consumer_find_part(c, tps[i].topic, tps[i].partition);
        assert(p);
        if (p->paused == paused)
            continue;
        p->paused = paused;
        if (!paused)
            continue;
        /* Forget what was fetched past the position: resume fetches it again. */
        purge_queue(c, p);
        p->gen++;
        int64_t pos = atomic_load(&p->position);
        if (p->state == CP_LOOKUP)
            p->state = CP_NEED_OFFSET; /* its answer is dropped (gen); asked again on resume */
        else if (p->state == CP_FETCHING && pos >= 0)
            p->fetch_offset = pos;
    }
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}

int ringlog_consumer_pause(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n)
{
    return set_paused(c, tps, n, true);
}

int ringlog_consumer_resume(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n)
{
    return set_paused(c, tps, n, false);
}

int ringlog_consumer_get_watermark_offsets(ringlog_consumer *c, const char *topic,
                                           int32_t partition, int64_t *low, int64_t *high)
{
    if (!c || !topic || !low || !high)
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    const struct cpart *p = consumer_find_part(c, topic, partition);
    if (p) {
        *low = p->log_start;
        *high = p->high_watermark;
    }
    rl_cluster_unlock(c->cl);
    return p ? RINGLOG_OK : RINGLOG_ERR_STATE;
}

int ringlog_consumer_close(ringlog_consumer *c)
{
    if (!c)
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    if (rl_cluster_in_callback(c->cl) || c->closed) {
        int rc = c->closed ? RINGLOG_OK : RINGLOG_ERR_IN_CALLBACK;
        rl_cluster_unlock(c->cl);
        return rc;
    }
    int rc = RINGLOG_OK;
    if (c->group) { /* revoke (commit) everything and leave the group */
        rl_cluster_unlock(c->cl);
        rc = group_leave(c, (int)c->conf->request_timeout_ms);
        rl_cluster_lock(c->cl);
    }
    if (c->conf->group && c->conf->enable_auto_commit) {
        struct job *j = positions_job(c, true);
        if (j)
            rc = run_job(c, j, (int)c->conf->request_timeout_ms, NULL);
    }
    rl_cluster_unlock(c->cl);
    ringlog_consumer_assign(c, NULL, 0);
    rl_cluster_lock(c->cl);
    c->closed = true;
    if (!c->conf->callbacks_on_io_thread)
        serve_events(c);
    rl_cluster_unlock(c->cl);
    return rc;
}

int ringlog_consumer_destroy(ringlog_consumer *c)
{
    if (!c)
        return RINGLOG_OK;
    rl_cluster_lock(c->cl);
    bool in_cb = rl_cluster_in_callback(c->cl);
    rl_cluster_unlock(c->cl);
    if (in_cb)
        return RINGLOG_ERR_IN_CALLBACK;
    ringlog_consumer_close(c);
    drop_current(c);
    rl_cluster_stop(c->cl);
    /* Requests failed by the stop have released their references; jobs left are detached. */
    while (c->jobs) {
        struct job *j = c->jobs;
        c->jobs = j->next;
        job_free(j);
    }
    while (c->q_head) {
        struct chunk *ch = c->q_head;
        c->q_head = ch->next;
        chunk_free(ch);
    }
    for (size_t i = 0; i < c->nparts; i++)
        part_free(c->parts[i]);
    free(c->parts);
    for (size_t i = 0; i < c->ndead; i++)
        part_free(c->dead[i]);
    free(c->dead);
    free(c->hdrs);
    group_free(c->group);
    rl_cluster_destroy(c->cl);
    pthread_cond_destroy(&c->ready_cond);
    pthread_cond_destroy(&c->job_cond);
    free(c);
    return RINGLOG_OK;
}
