/*
 * The consumer's jobs: a commit, a committed-offset lookup or an
 * offsets-for-times lookup is queued by the application thread and sent and
 * answered on the I/O thread (hook_tick in consumer.c calls job_send and
 * times_send); run_job waits for the answer.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer_internal.h"
#include "group.h"

void job_free(struct job *j)
{
    for (size_t i = 0; i < j->n; i++)
        free((char *)j->tps[i].topic);
    free(j->tps);
    free(j->state);
    free(j);
}

/* ---------------------------------------------------------------- commits */

static void job_finish(struct ringlog_consumer *c, struct job *j, int err, const char *msg)
{
    j->done = true;
    j->err = err;
    snprintf(j->errstr, sizeof(j->errstr), "%s", msg ? msg : "");
    /* unlink */
    for (struct job **pj = &c->jobs; *pj; pj = &(*pj)->next)
        if (*pj == j) {
            *pj = j->next;
            break;
        }
    if (j->detached) {
        job_free(j);
        return;
    }
    pthread_cond_broadcast(&c->job_cond);
}

/* ---------------------------------------------------------------- offsets for times */

/* The entries of a JOB_TIMES that one ListOffsets request carries. */
struct times_req {
    struct job *j;
    size_t n;
    size_t idx[];
};

/* An entry of a JOB_TIMES is settled: its offset, or err (the job keeps the first). */
static void times_entry_done(struct job *j, size_t i, int err, int64_t offset)
{
    assert(j->state[i] != TIMES_DONE && j->left > 0);
    j->state[i] = TIMES_DONE;
    j->left--;
    j->tps[i].offset = err ? -1 : offset;
    if (err && !j->err) {
        j->err = err;
        snprintf(j->errstr, sizeof(j->errstr), "%s/%d: %s", j->tps[i].topic, j->tps[i].partition,
                 ringlog_err_str(err));
    }
}

/* Finishes a JOB_TIMES whose entries are all settled; its err and errstr are already set. */
static void times_finish(struct ringlog_consumer *c, struct job *j)
{
    char msg[sizeof(j->errstr)];
    snprintf(msg, sizeof(msg), "%s", j->errstr);
    job_finish(c, j, j->err, msg);
}

static void on_times(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)cl;
    struct times_req *tr = ctx;
    struct job *j = tr->j;
    int code = resp ? (int)resp->error : err;
    if (!code && resp->body_case != RINGLOG__RESPONSE__BODY_LIST_OFFSETS)
        code = RINGLOG_ERR_PROTOCOL;
    for (size_t k = 0; k < tr->n; k++) {
        size_t i = tr->idx[k];
        const Ringlog__ListOffsetsPartitionResult *r = NULL;
        for (size_t t = 0; !code && !r && t < resp->list_offsets->n_topics; t++) {
            const Ringlog__ListOffsetsTopicResult *tres = resp->list_offsets->topics[t];
            for (size_t q = 0; strcmp(tres->topic, j->tps[i].topic) == 0 && q < tres->n_partitions;
                 q++)
                if ((int32_t)tres->partitions[q]->partition == j->tps[i].partition)
                    r = tres->partitions[q];
        }
        int e = code ? code : r ? (int)r->error : RINGLOG_ERR_PROTOCOL;
        times_entry_done(j, i, e, e ? -1 : r->offset);
    }
    free(tr);
    if (j->left == 0)
        times_finish(j->owner, j);
}

/* Sends one ListOffsets to `broker` for the entries idx[0, m). Lock held. */
static void times_request(struct ringlog_consumer *c, struct job *j, struct rl_broker *broker,
                          const size_t *idx, size_t m)
{
    struct times_req *tr = malloc(sizeof(*tr) + m * sizeof(tr->idx[0]));
    Ringlog__ListOffsetsTopic *lts = calloc(m, sizeof(*lts));
    Ringlog__ListOffsetsTopic **ltp = calloc(m, sizeof(*ltp));
    Ringlog__ListOffsetsPartition *lps = calloc(m, sizeof(*lps));
    Ringlog__ListOffsetsPartition **lpp = calloc(m, sizeof(*lpp));
    if (tr && lts && ltp && lps && lpp) {
        /* One topic entry per entry: the broker answers each in its place. */
        for (size_t k = 0; k < m; k++) {
            ringlog__list_offsets_partition__init(&lps[k]);
            lps[k].partition = (uint32_t)j->tps[idx[k]].partition;
            lps[k].timestamp = j->tps[idx[k]].offset;
            lpp[k] = &lps[k];
            ringlog__list_offsets_topic__init(&lts[k]);
            lts[k].topic = (char *)j->tps[idx[k]].topic;
            lts[k].n_partitions = 1;
            lts[k].partitions = &lpp[k];
            ltp[k] = &lts[k];
        }
        Ringlog__ListOffsetsRequest lo = RINGLOG__LIST_OFFSETS_REQUEST__INIT;
        lo.n_topics = m;
        lo.topics = ltp;
        Ringlog__Request req = RINGLOG__REQUEST__INIT;
        req.body_case = RINGLOG__REQUEST__BODY_LIST_OFFSETS;
        req.list_offsets = &lo;
        *tr = (struct times_req){.j = j, .n = m};
        memcpy(tr->idx, idx, m * sizeof(idx[0]));
        if (rl_broker_send(c->cl, broker, &req, true, 0, on_times, tr) == RINGLOG_OK) {
            for (size_t k = 0; k < m; k++)
                j->state[idx[k]] = TIMES_SENT;
            tr = NULL;
        }
    }
    free(tr);
    free(lts);
    free(ltp);
    free(lps);
    free(lpp);
}

/*
 * Whether entry k's partition is among idx[0, m): a request names each
 * partition once (answers are matched by name), so a second question about
 * the same partition waits for the next request.
 */
static bool times_listed(const struct job *j, const size_t *idx, size_t m, size_t k)
{
    for (size_t q = 0; q < m; q++)
        if (j->tps[idx[q]].partition == j->tps[k].partition &&
            strcmp(j->tps[idx[q]].topic, j->tps[k].topic) == 0)
            return true;
    return false;
}

/*
 * Sends the waiting entries of a JOB_TIMES, one request per leader; an
 * entry whose topic or partition the cluster does not have fails. Returns
 * true when the job is over (finished, possibly freed). Lock held.
 */
bool times_send(struct ringlog_consumer *c, struct job *j, int64_t now)
{
    size_t *idx = malloc(j->n * sizeof(*idx));
    bool in_flight = false;
    for (size_t i = 0; idx && i < j->n; i++) {
        in_flight |= j->state[i] == TIMES_SENT;
        if (j->state[i] != TIMES_WAIT)
            continue;
        const struct rl_topic_md *md = rl_cluster_topic(c->cl, j->tps[i].topic);
        struct rl_broker *leader = rl_cluster_leader(c->cl, j->tps[i].topic, j->tps[i].partition);
        if (md && md->known && (md->err || j->tps[i].partition >= md->npart)) {
            times_entry_done(j, i, md->err ? md->err : RINGLOG_ERR_UNKNOWN_PARTITION, -1);
            continue;
        }
        if (!leader)
            rl_cluster_refresh_metadata(c->cl);
        if (!leader || !rl_broker_ready(c->cl, leader))
            continue;
        size_t m = 0;
        for (size_t k = i; k < j->n; k++)
            if (j->state[k] == TIMES_WAIT &&
                rl_cluster_leader(c->cl, j->tps[k].topic, j->tps[k].partition) == leader &&
                !times_listed(j, idx, m, k))
                idx[m++] = k;
        times_request(c, j, leader, idx, m);
        in_flight |= j->state[i] == TIMES_SENT;
    }
    free(idx);
    if (j->left > 0 && !in_flight && j->deadline >= 0 && now >= j->deadline) {
        for (size_t i = 0; i < j->n; i++)
            if (j->state[i] == TIMES_WAIT)
                times_entry_done(j, i, RINGLOG_ERR_TIMED_OUT, -1);
    }
    if (j->left > 0)
        return false;
    times_finish(c, j);
    return true;
}

/*
 * A group call's answer from a coordinator that is no longer the group's
 * (NOT_COORDINATOR) or a connection lost (it died: a failover is under
 * way): the group looks for its coordinator again, and the caller retries
 * (coordinator_retry) as for NOT_COORDINATOR. A commit retried this way is
 * harmless: committing the same offsets again changes nothing.
 */
static int coordinator_moved(struct ringlog_consumer *c, int code)
{
    if (code != RINGLOG_ERR_NOT_COORDINATOR && code != RINGLOG_ERR_TRANSPORT)
        return code;
    group_coordinator_lost(c);
    return RINGLOG_ERR_NOT_COORDINATOR;
}

static void on_commit(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)cl;
    struct job *j = ctx;
    struct ringlog_consumer *c = j->owner;
    int code = resp ? (int)resp->error : err;
    const char *msg = resp && resp->error_message ? resp->error_message : NULL;
    if (!code && resp->body_case != RINGLOG__RESPONSE__BODY_OFFSET_COMMIT)
        code = RINGLOG_ERR_PROTOCOL;
    if (!code) {
        Ringlog__OffsetCommitResponse *r = resp->offset_commit;
        for (size_t i = 0; i < r->n_topics && !code; i++)
            for (size_t k = 0; k < r->topics[i]->n_partitions; k++) {
                Ringlog__OffsetCommitPartitionResult *pr = r->topics[i]->partitions[k];
                if (pr->error) {
                    code = pr->error;
                    msg = pr->error_message;
                    break;
                }
                struct cpart *p =
                    consumer_find_part(c, r->topics[i]->topic, (int32_t)pr->partition);
                for (size_t m = 0; p && m < j->n; m++)
                    if (j->tps[m].partition == p->partition && !strcmp(j->tps[m].topic, p->topic))
                        p->committed = j->tps[m].offset;
            }
    }
    code = coordinator_moved(c, code);
    if (code)
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "offset commit failed: %s",
                       msg && msg[0] ? msg : ringlog_err_name(code));
    job_finish(c, j, code, msg && msg[0] ? msg : (code ? ringlog_err_str(code) : ""));
}

static void on_committed(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)cl;
    struct job *j = ctx;
    struct ringlog_consumer *c = j->owner;
    int code = resp ? (int)resp->error : err;
    if (!code &&
        (resp->body_case != RINGLOG__RESPONSE__BODY_OFFSET_FETCH ||
         resp->offset_fetch->n_topics < 1 || resp->offset_fetch->topics[0]->n_partitions < 1))
        code = RINGLOG_ERR_PROTOCOL;
    if (!code) {
        Ringlog__OffsetFetchPartitionResult *r = resp->offset_fetch->topics[0]->partitions[0];
        code = r->error;
        j->tps[0].offset = r->offset;
        if (code == RINGLOG_ERR_UNKNOWN_GROUP) {
            code = RINGLOG_OK;
            j->tps[0].offset = -1;
        }
    }
    code = coordinator_moved(c, code);
    job_finish(c, j, code, code ? ringlog_err_str(code) : "");
}

/* Builds and sends a job's request; lock held. */
void job_send(struct ringlog_consumer *c, struct job *j)
{
    struct rl_broker *b = group_coordinator(c);
    if (!b && c->group)
        return; /* a member waits for its coordinator (group_tick finds it) */
    if (!b)
        b = rl_cluster_any_broker(c->cl); /* assign: a single broker coordinates */
    if (!b)
        return;
    j->owner = c;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    int rc;
    if (j->kind == JOB_COMMITTED) {
        uint32_t pn = (uint32_t)j->tps[0].partition;
        Ringlog__OffsetFetchTopic ft = RINGLOG__OFFSET_FETCH_TOPIC__INIT;
        Ringlog__OffsetFetchTopic *ftp = &ft;
        ft.topic = (char *)j->tps[0].topic;
        ft.n_partitions = 1;
        ft.partitions = &pn;
        Ringlog__OffsetFetchRequest of = RINGLOG__OFFSET_FETCH_REQUEST__INIT;
        of.group = c->conf->group;
        of.n_topics = 1;
        of.topics = &ftp;
        req.body_case = RINGLOG__REQUEST__BODY_OFFSET_FETCH;
        req.offset_fetch = &of;
        rc = rl_broker_send(c->cl, b, &req, true, 0, on_committed, j);
    } else {
        size_t n = j->n;
        Ringlog__OffsetCommitTopic *ts = calloc(n, sizeof(*ts));
        Ringlog__OffsetCommitTopic **tp = calloc(n, sizeof(*tp));
        Ringlog__OffsetCommitPartition *ps = calloc(n, sizeof(*ps));
        Ringlog__OffsetCommitPartition **pp = calloc(n, sizeof(*pp));
        rc = RINGLOG_ERR_NOMEM;
        if (ts && tp && ps && pp) {
            size_t nt = 0, k = 0;
            for (size_t i = 0; i < n; i++) {
                size_t t = 0;
                while (t < nt && strcmp(ts[t].topic, j->tps[i].topic) != 0)
                    t++;
                if (t == nt) {
                    ringlog__offset_commit_topic__init(&ts[t]);
                    ts[t].topic = (char *)j->tps[i].topic;
                    tp[t] = &ts[t];
                    nt++;
                }
            }
            for (size_t t = 0; t < nt; t++) {
                ts[t].partitions = pp + k;
                for (size_t i = 0; i < n; i++)
                    if (!strcmp(j->tps[i].topic, ts[t].topic)) {
                        ringlog__offset_commit_partition__init(&ps[i]);
                        ps[i].partition = (uint32_t)j->tps[i].partition;
                        ps[i].offset = j->tps[i].offset;
                        ps[i].metadata = "";
                        pp[k++] = &ps[i];
                    }
                ts[t].n_partitions = (size_t)(pp + k - ts[t].partitions);
            }
            Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
            oc.group = c->conf->group;
            oc.member_id = (char *)group_member(c, &oc.member_epoch);
            oc.n_topics = nt;
            oc.topics = tp;
            req.body_case = RINGLOG__REQUEST__BODY_OFFSET_COMMIT;
            req.offset_commit = &oc;
            rc = rl_broker_send(c->cl, b, &req, true, 0, on_commit, j);
        }
        free(ts);
        free(tp);
        free(ps);
        free(pp);
    }
    if (rc == RINGLOG_OK)
        j->sent = true;
}

/* A commit job with the current positions that moved since the last commit; NULL if none. */
struct job *positions_job(struct ringlog_consumer *c, bool only_changed)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        int64_t pos = atomic_load(&c->parts[i]->position);
        if (pos >= 0 && (!only_changed || pos != c->parts[i]->committed))
            n++;
    }
    if (n == 0)
        return NULL;
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = JOB_COMMIT;
    j->tps = calloc(n, sizeof(*j->tps));
    if (!j->tps) {
        free(j);
        return NULL;
    }
    for (size_t i = 0; i < c->nparts && j->n < n; i++) {
        struct cpart *p = c->parts[i];
        int64_t pos = atomic_load(&p->position);
        if (pos >= 0 && (!only_changed || pos != p->committed)) {
            j->tps[j->n] = (ringlog_topic_partition){
                .topic = strdup(p->topic), .partition = p->partition, .offset = pos};
            if (j->tps[j->n].topic)
                j->n++;
        }
    }
    return j;
}

void job_add(struct ringlog_consumer *c, struct job *j)
{
    j->next = c->jobs;
    c->jobs = j;
    rl_cluster_wakeup(c->cl);
}
/* Queues a job and waits for it; lock held on entry and exit. Frees the job. */
int run_job(struct ringlog_consumer *c, struct job *j, int timeout_ms, int64_t *offsets_out)
{
    int64_t deadline = timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
    if (rl_cluster_on_io_thread(c->cl)) {
        /* A callback on the I/O thread: the answer could never be read. */
        j->done = true;
        j->err = RINGLOG_ERR_IN_CALLBACK;
        snprintf(j->errstr, sizeof(j->errstr), "%s", ringlog_err_str(RINGLOG_ERR_IN_CALLBACK));
    } else {
        job_add(c, j);
    }
    while (!j->done) {
        if (deadline >= 0 && rl_now_ms() >= deadline) {
            /* Leave it to the I/O thread; it frees the job when done. */
            j->detached = true;
            snprintf(c->errstr, sizeof(c->errstr), "no answer from the broker in time");
            return RINGLOG_ERR_TIMED_OUT;
        }
        if (deadline < 0) {
            pthread_cond_wait(&c->job_cond, rl_cluster_mutex(c->cl));
        } else {
            struct timespec ts = {.tv_sec = deadline / 1000,
                                  .tv_nsec = (long)(deadline % 1000) * 1000000};
            pthread_cond_timedwait(&c->job_cond, rl_cluster_mutex(c->cl), &ts);
        }
    }
    int err = j->err;
    if (err)
        snprintf(c->errstr, sizeof(c->errstr), "%s", j->errstr);
    for (size_t i = 0; offsets_out && i < j->n; i++)
        offsets_out[i] = j->tps[i].offset;
    job_free(j);
    return err;
}

/*
 * A coordinator still reading its groups back (just started, or just
 * took the group over) or not the group's any more answers again in a
 * moment: the call retries until its timeout, as a Kafka client does.
 * Returns the time left (ms, -1: none set) for another try, or 0 to stop.
 */
static int coordinator_retry(int rc, int64_t deadline)
{
    if (rc != RINGLOG_ERR_COORDINATOR_LOAD_IN_PROGRESS && rc != RINGLOG_ERR_NOT_COORDINATOR)
        return 0;
    int64_t left = deadline < 0 ? -1 : deadline - rl_now_ms();
    if (deadline >= 0 && left <= 50)
        return 0;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return deadline < 0 ? -1 : (int)(left - 50);
}

int ringlog_consumer_commit(ringlog_consumer *c, int timeout_ms)
{
    if (!c)
        return RINGLOG_ERR_INVALID_ARG;
    if (!c->conf->group)
        return RINGLOG_ERR_STATE;
    int64_t deadline = timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
    for (;;) {
        rl_cluster_lock(c->cl);
        struct job *j = positions_job(c, false);
        int rc = j ? run_job(c, j, timeout_ms, NULL) : RINGLOG_OK;
        rl_cluster_unlock(c->cl);
        if ((timeout_ms = coordinator_retry(rc, deadline)) == 0)
            return rc;
    }
}

/* A JOB_COMMIT of tps (copied), or NULL on allocation failure. */
static struct job *commit_job(const ringlog_topic_partition *tps, size_t n)
{
    assert(n > 0);
    struct job *j = calloc(1, sizeof(*j));
    if (!j || !(j->tps = calloc(n, sizeof(*j->tps)))) {
        free(j);
        return NULL;
    }
    j->kind = JOB_COMMIT;
    for (size_t i = 0; i < n; i++) {
        j->tps[i] = tps[i];
        if (!(j->tps[i].topic = strdup(tps[i].topic))) {
            job_free(j);
            return NULL;
        }
        j->n++;
    }
    return j;
}

int ringlog_consumer_commit_offsets(ringlog_consumer *c, const ringlog_topic_partition *tps,
                                    size_t n, int timeout_ms)
{
    if (!c || (n && !tps))
        return RINGLOG_ERR_INVALID_ARG;
    if (!c->conf->group)
        return RINGLOG_ERR_STATE;
    if (n == 0)
        return RINGLOG_OK;
    for (size_t i = 0; i < n; i++)
        if (!tps[i].topic || tps[i].offset < 0)
            return RINGLOG_ERR_INVALID_ARG;
    /* Retried while the coordinator moves or loads, as ringlog_consumer_commit is: a commit
     * before a revoke that failed would hand the partition over at an older offset. */
    int64_t deadline = timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
    for (;;) {
        struct job *j = commit_job(tps, n);
        if (!j)
            return RINGLOG_ERR_NOMEM;
        rl_cluster_lock(c->cl);
        int rc = run_job(c, j, timeout_ms, NULL);
        rl_cluster_unlock(c->cl);
        if ((timeout_ms = coordinator_retry(rc, deadline)) == 0)
            return rc;
    }
}

/* A JOB_TIMES for tps (copied), or NULL on allocation failure. */
static struct job *times_job(const ringlog_topic_partition *tps, size_t n, int timeout_ms)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = JOB_TIMES;
    j->tps = calloc(n, sizeof(*j->tps));
    j->state = calloc(n, sizeof(*j->state));
    if (!j->tps || !j->state) {
        job_free(j);
        return NULL;
    }
    for (size_t i = 0; i < n; i++, j->n++) {
        j->tps[i] = tps[i];
        if (!(j->tps[i].topic = strdup(tps[i].topic))) {
            job_free(j);
            return NULL;
        }
    }
    j->left = n;
    j->deadline = timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
    assert(j->n == n);
    return j;
}

int ringlog_consumer_offsets_for_times(ringlog_consumer *c, ringlog_topic_partition *tps, size_t n,
                                       int timeout_ms)
{
    if (!c || (n && !tps))
        return RINGLOG_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (!tps[i].topic || !tps[i].topic[0] || tps[i].partition < 0 ||
            (tps[i].offset < 0 && tps[i].offset != RINGLOG_OFFSET_BEGINNING &&
             tps[i].offset != RINGLOG_OFFSET_END))
            return RINGLOG_ERR_INVALID_ARG;
    if (n == 0)
        return RINGLOG_OK;
    struct job *j = times_job(tps, n, timeout_ms);
    int64_t *offsets = malloc(n * sizeof(*offsets));
    if (!j || !offsets) {
        if (j)
            job_free(j);
        free(offsets);
        return RINGLOG_ERR_NOMEM;
    }
    j->owner = c;
    rl_cluster_lock(c->cl);
    for (size_t i = 0; i < n; i++)
        rl_cluster_want_topic(c->cl, tps[i].topic); /* for the leaders; NULL: waits, times out */
    int rc = run_job(c, j, timeout_ms, offsets);
    rl_cluster_unlock(c->cl);
    for (size_t i = 0; i < n && rc != RINGLOG_ERR_TIMED_OUT; i++)
        tps[i].offset = offsets[i];
    free(offsets);
    return rc;
}

/* One OffsetFetch of the committed offset (ringlog_consumer_committed retries it). */
static int committed_once(ringlog_consumer *c, const char *topic, int32_t partition,
                          int64_t *offset, int timeout_ms)
{
    if (!c || !topic || !offset || partition < 0)
        return RINGLOG_ERR_INVALID_ARG;
    if (!c->conf->group)
        return RINGLOG_ERR_STATE;
    struct job *j = calloc(1, sizeof(*j));
    if (!j || !(j->tps = calloc(1, sizeof(*j->tps))) || !(j->tps[0].topic = strdup(topic))) {
        if (j)
            free(j->tps);
        free(j);
        return RINGLOG_ERR_NOMEM;
    }
    j->kind = JOB_COMMITTED;
    j->n = 1;
    j->tps[0].partition = partition;
    j->tps[0].offset = -1;
    rl_cluster_lock(c->cl);
    int rc = run_job(c, j, timeout_ms, offset);
    rl_cluster_unlock(c->cl);
    return rc;
}

int ringlog_consumer_committed(ringlog_consumer *c, const char *topic, int32_t partition,
                               int64_t *offset, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : rl_now_ms() + timeout_ms;
    for (;;) {
        int rc = committed_once(c, topic, partition, offset, timeout_ms);
        if ((timeout_ms = coordinator_retry(rc, deadline)) == 0)
            return rc;
    }
}
