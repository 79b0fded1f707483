#include "cluster.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"
#include "conn.h"
#include "conn_sasl.h"
#include "sbuf.h"

struct rl_inflight {
    rl_response_cb cb;
    void *ctx;
    int64_t deadline;
    int64_t sent_us; /* for the round-trip time; 0: a long poll, not measured */
};

enum broker_state { BROKER_DOWN, BROKER_CONNECTING, BROKER_UP };

/* The longest the I/O thread sleeps in poll. */
enum { IO_MAX_SLEEP_MS = 1000 };

struct rl_broker {
    int32_t node_id; /* -1: a bootstrap address not matched to a node yet */
    char host[256];
    int port;
    enum broker_state state;
    struct rl_conn *conn;
    int64_t connect_deadline;
    int64_t next_attempt_ms;
    int64_t backoff_ms;
    bool wanted;                  /* someone asked for it while it was backing off */
    struct rl_inflight *inflight; /* ring, oldest first */
    size_t if_head, if_count, if_cap;
    bool reported_down; /* its outage went to the error callback; cleared when it answers */
    /* A second connection to a node, for its consumer groups (rl_cluster_group_link): never
     * adopted as a node by metadata, never picked for other requests. */
    bool group_link;
    int32_t group_node;
    /* round-trip times since the last statistics */
    int64_t rtt_sum_us, rtt_min_us, rtt_max_us, rtt_cnt;
};

struct rl_cluster {
    struct ringlog_conf *conf;
    struct rl_cluster_hooks hooks;
    pthread_mutex_t lock;
    pthread_cond_t md_cond;
    pthread_t thread;
    bool thread_started;
    bool stopping;
    int wake_pipe[2];
    bool polling;          /* the I/O thread is past its tick, about to sleep or asleep */
    bool wake_sent;        /* a byte is in the wake pipe since it started polling */
    int64_t poll_until_ms; /* when the polling I/O thread wakes by itself (within 1 s) */

    struct rl_broker **brokers;
    size_t nbrokers;
    struct rl_topic_md **topics;
    size_t ntopics;

    bool md_inflight;
    bool md_wanted;
    int64_t md_last_ms;    /* last answer */
    int64_t md_next_ok_ms; /* rate limit of refreshes */
    uint64_t md_version;
    int32_t controller_id;

    struct rl_events events; /* for the error and statistics callbacks */
    bool serving;            /* a thread runs the callbacks (rl_cluster_serve_begin) */
    pthread_t server;
    int64_t next_stats_ms;
};

/* ---------------------------------------------------------------- lifecycle */

static struct rl_broker *broker_add(struct rl_cluster *cl, int32_t node_id, const char *host,
                                    int port)
{
    struct rl_broker **arr = realloc(cl->brokers, (cl->nbrokers + 1) * sizeof(*arr));
    if (!arr)
        return NULL;
    cl->brokers = arr;
    struct rl_broker *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->node_id = node_id;
    snprintf(b->host, sizeof(b->host), "%s", host);
    b->port = port;
    b->backoff_ms = cl->conf->reconnect_backoff_ms;
    cl->brokers[cl->nbrokers++] = b;
    return b;
}

int rl_cluster_new(const struct ringlog_conf *conf, const struct rl_cluster_hooks *hooks,
                   struct rl_cluster **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    struct rl_hostport *hp;
    size_t n;
    int err = rl_parse_bootstrap(conf->bootstrap, &hp, &n, errbuf, errlen);
    if (err)
        return err;
    struct rl_cluster *cl = calloc(1, sizeof(*cl));
    if (!cl || !(cl->conf = ringlog_conf_dup(conf))) {
        free(cl);
        free(hp);
        rl_errbuf(errbuf, errlen, "out of memory");
        return RINGLOG_ERR_NOMEM;
    }
    if ((err = rl_tls_attach(cl->conf, errbuf, errlen)) != RINGLOG_OK ||
        (err = rl_sasl_conf_check(cl->conf, errbuf, errlen)) != RINGLOG_OK) {
        ringlog_conf_destroy(cl->conf);
        free(cl);
        free(hp);
        return err;
    }
    cl->hooks = *hooks;
    cl->wake_pipe[0] = cl->wake_pipe[1] = -1;
    cl->controller_id = -1;
    pthread_mutex_init(&cl->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cl->md_cond, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < n; i++)
        if (!broker_add(cl, -1, hp[i].host, hp[i].port)) {
            free(hp);
            rl_cluster_destroy(cl);
            rl_errbuf(errbuf, errlen, "out of memory");
            return RINGLOG_ERR_NOMEM;
        }
    free(hp);
    if (pipe2(cl->wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        rl_errbuf(errbuf, errlen, "pipe: %s", strerror(errno));
        rl_cluster_destroy(cl);
        return RINGLOG_ERR_NOMEM;
    }
    *out = cl;
    return RINGLOG_OK;
}

static void *io_main(void *arg);

int rl_cluster_start(struct rl_cluster *cl, char *errbuf, size_t errlen)
{
    int rc = pthread_create(&cl->thread, NULL, io_main, cl);
    if (rc != 0) {
        rl_errbuf(errbuf, errlen, "cannot start the I/O thread: %s", strerror(rc));
        return RINGLOG_ERR_NOMEM;
    }
    cl->thread_started = true;
    return RINGLOG_OK;
}

static void broker_fail(struct rl_cluster *cl, struct rl_broker *b, int err, const char *why);

void rl_cluster_stop(struct rl_cluster *cl)
{
    rl_cluster_lock(cl);
    cl->stopping = true;
    rl_cluster_unlock(cl);
    rl_cluster_wakeup(cl);
    if (cl->thread_started) {
        pthread_join(cl->thread, NULL);
        cl->thread_started = false;
    }
    rl_cluster_lock(cl);
    for (size_t i = 0; i < cl->nbrokers; i++)
        if (cl->brokers[i]->state != BROKER_DOWN)
            broker_fail(cl, cl->brokers[i], RINGLOG_ERR_CLOSED, "client closing");
    rl_cluster_unlock(cl);
}

void rl_cluster_destroy(struct rl_cluster *cl)
{
    if (!cl)
        return;
    for (size_t i = 0; i < cl->nbrokers; i++) {
        rl_conn_close(cl->brokers[i]->conn);
        free(cl->brokers[i]->inflight);
        free(cl->brokers[i]);
    }
    free(cl->brokers);
    for (size_t i = 0; i < cl->ntopics; i++) {
        free(cl->topics[i]->name);
        free(cl->topics[i]->parts);
        free(cl->topics[i]);
    }
    free(cl->topics);
    rl_events_free(rl_events_take(&cl->events));
    if (cl->wake_pipe[0] >= 0)
        close(cl->wake_pipe[0]);
    if (cl->wake_pipe[1] >= 0)
        close(cl->wake_pipe[1]);
    pthread_mutex_destroy(&cl->lock);
    pthread_cond_destroy(&cl->md_cond);
    ringlog_conf_destroy(cl->conf);
    free(cl);
}

void rl_cluster_lock(struct rl_cluster *cl)
{
    pthread_mutex_lock(&cl->lock);
}

void rl_cluster_unlock(struct rl_cluster *cl)
{
    pthread_mutex_unlock(&cl->lock);
}

pthread_mutex_t *rl_cluster_mutex(struct rl_cluster *cl)
{
    return &cl->lock;
}

void rl_cluster_wakeup(struct rl_cluster *cl)
{
    char c = 1;
    /* A full pipe already means "wake up": EAGAIN is fine. */
    ssize_t n = write(cl->wake_pipe[1], &c, 1);
    (void)n;
}

/*
 * A wake-up is a write(2) and, for a sleeping thread, a context switch; a
 * busy producer asks for one at every batch it opens or seals. While the
 * I/O thread is awake it needs none: it holds the lock from its tick until
 * it marks itself polling, so whatever the caller changed under the lock
 * either came before that tick or finds it polling. One byte per sleep is
 * enough.
 */
void rl_cluster_wakeup_locked(struct rl_cluster *cl)
{
    if (!cl->polling || cl->wake_sent)
        return;
    cl->wake_sent = true;
    rl_cluster_wakeup(cl);
}

bool rl_cluster_caller_may_send(struct rl_cluster *cl)
{
    return cl->polling && !cl->wake_sent && !cl->stopping;
}

void rl_cluster_caller_sent(struct rl_cluster *cl, int64_t next)
{
    bool wake = next >= 0 && next < cl->poll_until_ms;
    for (size_t i = 0; i < cl->nbrokers && !wake; i++) {
        struct rl_broker *b = cl->brokers[i];
        wake = b->state == BROKER_UP && rl_conn_pending_out(b->conn) > 0;
    }
    if (wake)
        rl_cluster_wakeup_locked(cl);
}

bool rl_cluster_on_io_thread(struct rl_cluster *cl)
{
    return cl->thread_started && pthread_equal(pthread_self(), cl->thread);
}

const struct ringlog_conf *rl_cluster_conf(const struct rl_cluster *cl)
{
    return cl->conf;
}

/* ---------------------------------------------------------------- callbacks */

void rl_cluster_post_error(struct rl_cluster *cl, int err, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    rl_events_post_error(&cl->events, cl->conf, err, "%s", text);
    if (cl->hooks.events_posted && rl_events_pending(&cl->events))
        cl->hooks.events_posted(cl->hooks.owner);
}

struct rl_event *rl_cluster_take_events(struct rl_cluster *cl)
{
    return rl_events_take(&cl->events);
}

bool rl_cluster_events_pending(const struct rl_cluster *cl)
{
    return rl_events_pending(&cl->events);
}

bool rl_cluster_serve_begin(struct rl_cluster *cl)
{
    if (cl->serving)
        return false;
    cl->serving = true;
    cl->server = pthread_self();
    return true;
}

void rl_cluster_serve_end(struct rl_cluster *cl)
{
    assert(cl->serving && pthread_equal(cl->server, pthread_self()));
    cl->serving = false;
}

bool rl_cluster_in_callback(struct rl_cluster *cl)
{
    if (rl_cluster_on_io_thread(cl))
        return true;
    return cl->serving && pthread_equal(cl->server, pthread_self());
}

static void broker_stats(struct rl_sbuf *sb, struct rl_broker *b)
{
    static const char *const STATES[] = {"DOWN", "CONNECTING", "UP"};
    rl_sbuf_printf(sb, "{\"nodeid\":%d,\"name\":", (int)b->node_id);
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%d", b->host, b->port);
    rl_sbuf_json_str(sb, addr);
    rl_sbuf_printf(sb,
                   ",\"state\":\"%s\",\"outbuf_cnt\":%zu,\"outbuf_bytes\":%zu,"
                   "\"rtt\":{\"cnt\":%lld,\"min\":%lld,\"max\":%lld,\"avg\":%lld}}",
                   STATES[b->state], b->if_count,
                   b->state == BROKER_UP ? rl_conn_pending_out(b->conn) : (size_t)0,
                   (long long)b->rtt_cnt, (long long)b->rtt_min_us, (long long)b->rtt_max_us,
                   (long long)(b->rtt_cnt ? b->rtt_sum_us / b->rtt_cnt : 0));
    b->rtt_sum_us = b->rtt_min_us = b->rtt_max_us = b->rtt_cnt = 0;
}

/*
 * Every statistics-interval-ms (with a statistics callback): the JSON of
 * the brokers and of the owner (hooks.stats), queued as an event. Returns
 * when it is due next, -1 when statistics are off.
 */
static int64_t stats_tick(struct rl_cluster *cl, int64_t now)
{
    int64_t every = cl->conf->statistics_interval_ms;
    if (every <= 0 || !cl->conf->stats_cb)
        return -1;
    if (cl->next_stats_ms == 0)
        cl->next_stats_ms = now + every;
    if (now < cl->next_stats_ms)
        return cl->next_stats_ms;
    cl->next_stats_ms = now + every;
    struct rl_sbuf sb = {0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rl_sbuf_printf(&sb, "{\"name\":");
    rl_sbuf_json_str(&sb, cl->conf->client_id);
    rl_sbuf_printf(&sb, ",\"type\":\"%s\",\"ts\":%lld,\"time\":%lld,", cl->hooks.kind,
                   (long long)rl_now_us(), (long long)ts.tv_sec);
    if (cl->hooks.stats)
        cl->hooks.stats(cl->hooks.owner, &sb);
    rl_sbuf_printf(&sb, "\"brokers\":[");
    for (size_t i = 0; i < cl->nbrokers; i++) {
        if (i)
            rl_sbuf_printf(&sb, ",");
        broker_stats(&sb, cl->brokers[i]);
    }
    rl_sbuf_printf(&sb, "]}");
    size_t len;
    char *json = rl_sbuf_take(&sb, &len);
    if (json) {
        rl_events_post_stats(&cl->events, json, len);
        if (cl->hooks.events_posted)
            cl->hooks.events_posted(cl->hooks.owner);
    }
    assert(cl->next_stats_ms > now);
    return cl->next_stats_ms;
}

/* ---------------------------------------------------------------- metadata */

struct rl_topic_md *rl_cluster_topic(struct rl_cluster *cl, const char *topic)
{
    for (size_t i = 0; i < cl->ntopics; i++)
        if (strcmp(cl->topics[i]->name, topic) == 0)
            return cl->topics[i];
    return NULL;
}

struct rl_topic_md *rl_cluster_want_topic(struct rl_cluster *cl, const char *topic)
{
    struct rl_topic_md *t = rl_cluster_topic(cl, topic);
    if (t)
        return t;
    struct rl_topic_md **arr = realloc(cl->topics, (cl->ntopics + 1) * sizeof(*arr));
    if (!arr)
        return NULL;
    cl->topics = arr;
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(topic))) {
        free(t);
        return NULL;
    }
    cl->topics[cl->ntopics++] = t;
    cl->md_wanted = true;
    cl->md_next_ok_ms = 0; /* a new topic is worth asking about at once */
    rl_cluster_wakeup(cl);
    return t;
}

void rl_cluster_unwant_topic(struct rl_cluster *cl, const char *topic)
{
    for (size_t i = 0; i < cl->ntopics; i++)
        if (strcmp(cl->topics[i]->name, topic) == 0) {
            free(cl->topics[i]->name);
            free(cl->topics[i]->parts);
            free(cl->topics[i]);
            cl->topics[i] = cl->topics[--cl->ntopics];
            return;
        }
}

void rl_cluster_refresh_metadata(struct rl_cluster *cl)
{
    if (!cl->md_wanted) {
        cl->md_wanted = true;
        rl_cluster_wakeup(cl);
    }
}

uint64_t rl_cluster_metadata_version(const struct rl_cluster *cl)
{
    return cl->md_version;
}

bool rl_cluster_wait_metadata(struct rl_cluster *cl, uint64_t version, int64_t deadline_ms)
{
    while (cl->md_version == version && !cl->stopping) {
        if (deadline_ms < 0) {
            pthread_cond_wait(&cl->md_cond, &cl->lock);
            continue;
        }
        if (rl_now_ms() >= deadline_ms)
            return false;
        struct timespec ts = {.tv_sec = deadline_ms / 1000,
                              .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
        pthread_cond_timedwait(&cl->md_cond, &cl->lock, &ts);
    }
    return cl->md_version != version;
}

static struct rl_broker *broker_by_id(struct rl_cluster *cl, int32_t id)
{
    if (id < 0)
        return NULL;
    for (size_t i = 0; i < cl->nbrokers; i++)
        if (cl->brokers[i]->node_id == id)
            return cl->brokers[i];
    return NULL;
}

struct rl_broker *rl_cluster_leader(struct rl_cluster *cl, const char *topic, int32_t partition)
{
    struct rl_topic_md *t = rl_cluster_topic(cl, topic);
    if (!t || partition < 0 || partition >= t->npart)
        return NULL;
    return broker_by_id(cl, t->parts[partition].leader);
}

/* Applies the broker list of a metadata answer: adopt bootstrap entries, add new nodes. */
static void apply_brokers(struct rl_cluster *cl, Ringlog__MetadataResponse *m)
{
    for (size_t i = 0; i < m->n_brokers; i++) {
        Ringlog__BrokerInfo *bi = m->brokers[i];
        struct rl_broker *b = broker_by_id(cl, bi->node_id);
        if (b && (strcmp(b->host, bi->host) != 0 || b->port != (int)bi->port)) {
            /* The node moved: reconnect to its new address. */
            if (b->state != BROKER_DOWN)
                broker_fail(cl, b, RINGLOG_ERR_TRANSPORT, "broker address changed");
            snprintf(b->host, sizeof(b->host), "%s", bi->host);
            b->port = (int)bi->port;
        }
        if (b)
            continue;
        for (size_t j = 0; j < cl->nbrokers && !b; j++)
            if (cl->brokers[j]->node_id < 0 && !cl->brokers[j]->group_link &&
                cl->brokers[j]->port == (int)bi->port &&
                strcmp(cl->brokers[j]->host, bi->host) == 0)
                b = cl->brokers[j];
        if (b)
            b->node_id = bi->node_id;
        else
            broker_add(cl, bi->node_id, bi->host, (int)bi->port);
    }
    cl->controller_id = m->controller_id;
}

static void apply_topic(struct rl_topic_md *t, Ringlog__TopicMetadata *tm)
{
    t->known = true;
    t->err = tm->error;
    int32_t max = -1;
    for (size_t i = 0; i < tm->n_partitions; i++)
        if ((int32_t)tm->partitions[i]->partition > max)
            max = (int32_t)tm->partitions[i]->partition;
    int32_t n = tm->error ? 0 : max + 1;
    struct rl_part_md *parts = n ? calloc((size_t)n, sizeof(*parts)) : NULL;
    if (n && !parts)
        return; /* keep the old view; the next refresh tries again */
    for (int32_t i = 0; i < n; i++) {
        parts[i].leader = -1;
        parts[i].err = RINGLOG_ERR_UNKNOWN_PARTITION;
    }
    for (size_t i = 0; i < tm->n_partitions && n; i++) {
        Ringlog__PartitionMetadata *pm = tm->partitions[i];
        parts[pm->partition].leader = pm->error ? -1 : pm->leader;
        parts[pm->partition].leader_epoch = pm->leader_epoch;
        parts[pm->partition].err = pm->error;
    }
    free(t->parts);
    t->parts = parts;
    t->npart = n;
}

static void on_metadata(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    (void)ctx;
    cl->md_inflight = false;
    int64_t now = rl_now_ms();
    if (!resp && err == RINGLOG_ERR_CLOSED)
        return; /* the client is closing: nothing went wrong */
    if (!resp || resp->error || resp->body_case != RINGLOG__RESPONSE__BODY_METADATA) {
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "metadata request failed: %s",
                       resp ? (resp->error_message && resp->error_message[0]
                                   ? resp->error_message
                                   : ringlog_err_name(resp->error))
                            : ringlog_err_name(err));
        cl->md_wanted = true;
        return;
    }
    Ringlog__MetadataResponse *m = resp->metadata;
    apply_brokers(cl, m);
    for (size_t i = 0; i < m->n_topics; i++) {
        struct rl_topic_md *t = rl_cluster_topic(cl, m->topics[i]->name);
        if (t)
            apply_topic(t, m->topics[i]);
    }
    cl->md_last_ms = now;
    cl->md_version++;
    /* Partitions without a leader (an election) are worth asking about again soon. */
    for (size_t i = 0; i < cl->ntopics; i++)
        for (int32_t p = 0; p < cl->topics[i]->npart; p++)
            if (cl->topics[i]->parts[p].leader < 0)
                cl->md_wanted = true;
    pthread_cond_broadcast(&cl->md_cond);
    if (cl->hooks.metadata_changed)
        cl->hooks.metadata_changed(cl->hooks.owner);
}

/* Sends a metadata request when one is due and a broker is up. */
static void metadata_tick(struct rl_cluster *cl, int64_t now)
{
    if (cl->md_inflight || cl->ntopics == 0)
        return;
    bool stale = now - cl->md_last_ms >= cl->conf->metadata_max_age_ms;
    if (!(cl->md_wanted && now >= cl->md_next_ok_ms) && !stale)
        return;
    struct rl_broker *b = rl_cluster_any_broker(cl);
    if (!b)
        return;
    char **names = malloc(cl->ntopics * sizeof(*names));
    if (!names)
        return;
    for (size_t i = 0; i < cl->ntopics; i++)
        names[i] = cl->topics[i]->name;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    md.n_topics = cl->ntopics;
    md.topics = names;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    if (rl_broker_send(cl, b, &req, true, 0, on_metadata, NULL) == RINGLOG_OK) {
        cl->md_inflight = true;
        cl->md_wanted = false;
        cl->md_next_ok_ms = now + cl->conf->retry_backoff_ms;
    }
    free(names);
}

/* ---------------------------------------------------------------- brokers */

int32_t rl_broker_id(const struct rl_broker *b)
{
    return b->node_id;
}

size_t rl_broker_in_flight(const struct rl_broker *b)
{
    return b->if_count;
}

static void broker_connect(struct rl_cluster *cl, struct rl_broker *b, int64_t now)
{
    char err[256];
    int rc = rl_conn_connect_start(b->host, b->port, &b->conn, err, sizeof(err));
    if (rc != RINGLOG_OK) {
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "%s, retrying", err);
        if (!b->reported_down)
            rl_cluster_post_error(cl, rc, "%s (retrying)", err);
        b->reported_down = true;
        b->next_attempt_ms = now + b->backoff_ms;
        b->backoff_ms = b->backoff_ms * 2 > cl->conf->reconnect_backoff_max_ms
                            ? cl->conf->reconnect_backoff_max_ms
                            : b->backoff_ms * 2;
        return;
    }
    rl_conn_set_client_id(b->conn, cl->conf->client_id);
    if (rl_conn_use_tls(b->conn, cl->conf->tls, b->host) != RINGLOG_OK ||
        rl_conn_use_sasl(b->conn, cl->conf) != RINGLOG_OK) {
        rl_conn_close(b->conn);
        b->conn = NULL;
        b->next_attempt_ms = now + b->backoff_ms;
        return;
    }
    b->state = rl_conn_is_connected(b->conn) ? BROKER_UP : BROKER_CONNECTING;
    b->connect_deadline = now + cl->conf->connect_timeout_ms;
    if (b->state == BROKER_UP)
        b->backoff_ms = cl->conf->reconnect_backoff_ms;
}

bool rl_broker_ready(struct rl_cluster *cl, struct rl_broker *b)
{
    if (b->state == BROKER_UP)
        return true;
    if (b->state == BROKER_DOWN) {
        int64_t now = rl_now_ms();
        if (now >= b->next_attempt_ms && !cl->stopping)
            broker_connect(cl, b, now);
        else
            b->wanted = true;
    }
    return b->state == BROKER_UP;
}

struct rl_broker *rl_cluster_broker(struct rl_cluster *cl, int32_t node_id)
{
    return broker_by_id(cl, node_id);
}

struct rl_broker *rl_cluster_group_link(struct rl_cluster *cl, int32_t node_id, const char *host,
                                        int port)
{
    assert(host != NULL && port > 0);
    for (size_t i = 0; i < cl->nbrokers; i++) {
        struct rl_broker *b = cl->brokers[i];
        if (!b->group_link || b->group_node != node_id)
            continue;
        if (strcmp(b->host, host) != 0 || b->port != port) { /* the node moved */
            if (b->state != BROKER_DOWN)
                broker_fail(cl, b, RINGLOG_ERR_TRANSPORT, "broker address changed");
            snprintf(b->host, sizeof(b->host), "%s", host);
            b->port = port;
        }
        return b;
    }
    struct rl_broker *b = broker_add(cl, -1, host, port);
    if (b) {
        b->group_link = true;
        b->group_node = node_id;
    }
    return b;
}

struct rl_broker *rl_cluster_any_broker(struct rl_cluster *cl)
{
    struct rl_broker *ctl = broker_by_id(cl, cl->controller_id);
    if (ctl && ctl->state == BROKER_UP)
        return ctl;
    for (size_t i = 0; i < cl->nbrokers; i++)
        if (cl->brokers[i]->state == BROKER_UP && !cl->brokers[i]->group_link)
            return cl->brokers[i];
    /* None is up: try every one that is not already connecting. */
    for (size_t i = 0; i < cl->nbrokers; i++)
        if (!cl->brokers[i]->group_link && rl_broker_ready(cl, cl->brokers[i]))
            return cl->brokers[i];
    return NULL;
}

/*
 * Closes the connection and fails every request in flight on it. Their
 * callbacks run now (lock held); they re-queue work as they see fit. A
 * broken connection probably means leadership moved: refresh metadata.
 */
/*
 * Says why a connection failed, in the words a user of a CLI should see:
 * a connect that failed ("cannot connect to HOST:PORT: connection
 * refused, retrying"), a peer that is not a ringlog broker (an error: a
 * retry will not help), or a broker connection lost.
 */
static void log_broker_failure(struct rl_cluster *cl, const struct rl_broker *b, int err,
                               const char *why)
{
    assert(b && why);
    if (err == RINGLOG_ERR_CLOSED)
        return;
    if (b->state == BROKER_CONNECTING && err == RINGLOG_ERR_TIMED_OUT)
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "cannot connect to %s:%d: timed out, retrying",
                       b->host, b->port);
    else if (b->state == BROKER_CONNECTING)
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "%s, retrying", why);
    else if (err == RINGLOG_ERR_PROTOCOL && b->conn && !rl_conn_speaks_protocol(b->conn))
        rl_cluster_log(cl, RINGLOG_LOG_ERROR, "%s", why);
    else
        rl_cluster_log(cl, RINGLOG_LOG_WARNING, "broker %d (%s:%d): %s", b->node_id, b->host,
                       b->port, why);
}

static void broker_fail(struct rl_cluster *cl, struct rl_broker *b, int err, const char *why)
{
    log_broker_failure(cl, b, err, why);
    if (err != RINGLOG_ERR_CLOSED && !b->reported_down) {
        /* A lost connection or a failed connect: the application hears it once per outage. */
        b->reported_down = true;
        rl_cluster_post_error(cl, err == RINGLOG_ERR_PROTOCOL ? err : RINGLOG_ERR_TRANSPORT,
                              "broker %d (%s:%d): %s (%s; reconnecting)", b->node_id, b->host,
                              b->port, why, ringlog_err_name(err));
    }
    rl_conn_close(b->conn);
    b->conn = NULL;
    bool was_up = b->state == BROKER_UP;
    b->state = BROKER_DOWN;
    int64_t now = rl_now_ms();
    b->next_attempt_ms = now + (was_up ? 0 : b->backoff_ms);
    if (!was_up)
        b->backoff_ms = b->backoff_ms * 2 > cl->conf->reconnect_backoff_max_ms
                            ? cl->conf->reconnect_backoff_max_ms
                            : b->backoff_ms * 2;
    /* Take the ring first: callbacks may send new requests on other brokers. */
    struct rl_inflight *ring = b->inflight;
    size_t head = b->if_head, count = b->if_count, cap = b->if_cap;
    b->inflight = NULL;
    b->if_head = b->if_count = b->if_cap = 0;
    for (size_t i = 0; i < count; i++) {
        struct rl_inflight *f = &ring[(head + i) % cap];
        f->cb(cl, f->ctx, NULL, err);
    }
    free(ring);
    if (err != RINGLOG_ERR_CLOSED) {
        cl->md_wanted = true;
        b->wanted = true;
    }
    /* Failed by a caller's send (rl_cluster_caller_may_send): the poll set is stale. */
    rl_cluster_wakeup_locked(cl);
}

static int inflight_push(struct rl_broker *b, const struct rl_inflight *f)
{
    if (b->if_count == b->if_cap) {
        size_t cap = b->if_cap ? b->if_cap * 2 : 8;
        struct rl_inflight *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            return RINGLOG_ERR_NOMEM;
        for (size_t i = 0; i < b->if_count; i++)
            ring[i] = b->inflight[(b->if_head + i) % b->if_cap];
        free(b->inflight);
        b->inflight = ring;
        b->if_cap = cap;
        b->if_head = 0;
    }
    b->inflight[(b->if_head + b->if_count) % b->if_cap] = *f;
    b->if_count++;
    return RINGLOG_OK;
}

static int broker_send(struct rl_cluster *cl, struct rl_broker *b, Ringlog__Request *req,
                       bool expect_response, int64_t extra_timeout_ms, const struct rl_span *borrow,
                       size_t nborrow, rl_response_cb cb, void *ctx)
{
    if (b->state != BROKER_UP)
        return RINGLOG_ERR_TRANSPORT;
    if (expect_response) {
        struct rl_inflight f = {.cb = cb,
                                .ctx = ctx,
                                .deadline =
                                    rl_now_ms() + cl->conf->request_timeout_ms + extra_timeout_ms,
                                .sent_us = extra_timeout_ms > 0 ? 0 : rl_now_us()};
        if (inflight_push(b, &f) != RINGLOG_OK)
            return RINGLOG_ERR_NOMEM;
    }
    int err = rl_conn_enqueue_borrowing(b->conn, req, expect_response, borrow, nborrow, NULL);
    if (err) {
        if (expect_response)
            b->if_count--;
        return err;
    }
    /* Write now; poll() takes over if the socket is full. */
    if (rl_conn_write_some(b->conn) != RINGLOG_OK) {
        if (expect_response)
            b->if_count--; /* the caller sees the error, not the callback */
        broker_fail(cl, b, RINGLOG_ERR_TRANSPORT, rl_conn_errstr(b->conn));
        return RINGLOG_ERR_TRANSPORT;
    }
    return RINGLOG_OK;
}

int rl_broker_send(struct rl_cluster *cl, struct rl_broker *b, Ringlog__Request *req,
                   bool expect_response, int64_t extra_timeout_ms, rl_response_cb cb, void *ctx)
{
    return broker_send(cl, b, req, expect_response, extra_timeout_ms, NULL, 0, cb, ctx);
}

/*
 * Borrowed bytes stay referenced by the connection's output queue until
 * written; the answer (cb) can only come after that, and a failed
 * connection is closed (its queue dropped) before cb reports the failure,
 * so the caller may free them from cb on. Hence: only with a response.
 */
int rl_broker_send_borrowing(struct rl_cluster *cl, struct rl_broker *b, Ringlog__Request *req,
                             int64_t extra_timeout_ms, const struct rl_span *borrow, size_t nborrow,
                             rl_response_cb cb, void *ctx)
{
    return broker_send(cl, b, req, true, extra_timeout_ms, borrow, nborrow, cb, ctx);
}

/* Reads and dispatches every whole response the socket has. */
static void broker_read(struct rl_cluster *cl, struct rl_broker *b)
{
    for (;;) {
        Ringlog__Response *resp;
        int st;
        while ((st = rl_conn_take_response(b->conn, &resp)) == RINGLOG_OK) {
            if (b->if_count == 0) {
                rl_conn_response_free(resp);
                broker_fail(cl, b, RINGLOG_ERR_PROTOCOL, "unexpected response");
                return;
            }
            struct rl_inflight f = b->inflight[b->if_head];
            b->if_head = (b->if_head + 1) % b->if_cap;
            b->if_count--;
            b->reported_down = false; /* it answers: the outage, if any, is over */
            if (f.sent_us) {
                int64_t rtt = rl_now_us() - f.sent_us;
                b->rtt_sum_us += rtt;
                b->rtt_min_us = b->rtt_cnt == 0 || rtt < b->rtt_min_us ? rtt : b->rtt_min_us;
                b->rtt_max_us = rtt > b->rtt_max_us ? rtt : b->rtt_max_us;
                b->rtt_cnt++;
            }
            f.cb(cl, f.ctx, resp, RINGLOG_OK);
            rl_conn_response_free(resp);
            if (b->state != BROKER_UP)
                return; /* a callback failed the broker */
        }
        if (st < 0) {
            broker_fail(cl, b, st, rl_conn_errstr(b->conn));
            return;
        }
        st = rl_conn_read_some(b->conn);
        if (st < 0) {
            broker_fail(cl, b, st, rl_conn_errstr(b->conn));
            return;
        }
        if (st == 1)
            return;
    }
}

/* Connect timeouts, request timeouts and reconnects; returns the next deadline or -1. */
static int64_t brokers_maintain(struct rl_cluster *cl, int64_t now)
{
    int64_t next = -1;
#define CONSIDER(t)                                                                                \
    do {                                                                                           \
        if (next < 0 || (t) < next)                                                                \
            next = (t);                                                                            \
    } while (0)
    for (size_t i = 0; i < cl->nbrokers; i++) {
        struct rl_broker *b = cl->brokers[i];
        if (b->state == BROKER_CONNECTING) {
            if (now >= b->connect_deadline)
                broker_fail(cl, b, RINGLOG_ERR_TIMED_OUT, "connect timed out");
            else
                CONSIDER(b->connect_deadline);
        }
        if (b->state == BROKER_UP && b->if_count > 0) {
            int64_t d = b->inflight[b->if_head].deadline;
            if (now >= d)
                broker_fail(cl, b, RINGLOG_ERR_TIMED_OUT, "request timed out");
            else
                CONSIDER(d);
        }
        if (b->state == BROKER_DOWN && b->wanted)
            CONSIDER(b->next_attempt_ms);
    }
    if (cl->ntopics > 0 && !cl->md_inflight) {
        CONSIDER(cl->md_last_ms + cl->conf->metadata_max_age_ms);
        if (cl->md_wanted)
            CONSIDER(cl->md_next_ok_ms);
    }
#undef CONSIDER
    return next;
}

/* ---------------------------------------------------------------- the I/O thread */

static void drain_wake_pipe(struct rl_cluster *cl)
{
    char buf[64];
    while (read(cl->wake_pipe[0], buf, sizeof(buf)) > 0) {
    }
}

static void *io_main(void *arg)
{
    struct rl_cluster *cl = arg;
    struct pollfd *fds = NULL;
    struct rl_broker **fd_broker = NULL;
    size_t fds_cap = 0;
    rl_cluster_lock(cl);
    while (!cl->stopping) {
        int64_t now = rl_now_ms();
        /* Brokers that were wanted and whose backoff passed get a new attempt. */
        for (size_t i = 0; i < cl->nbrokers; i++) {
            struct rl_broker *b = cl->brokers[i];
            if (b->state == BROKER_DOWN && b->wanted && now >= b->next_attempt_ms) {
                b->wanted = false;
                broker_connect(cl, b, now);
            }
        }
        metadata_tick(cl, now);
        int64_t next = cl->hooks.tick(cl->hooks.owner, now);
        int64_t mnext = brokers_maintain(cl, now);
        if (mnext >= 0 && (next < 0 || mnext < next))
            next = mnext;
        int64_t snext = stats_tick(cl, now);
        if (snext >= 0 && (next < 0 || snext < next))
            next = snext;

        if (fds_cap < cl->nbrokers + 1) {
            free(fds);
            free(fd_broker);
            fds_cap = cl->nbrokers + 8;
            fds = malloc(fds_cap * sizeof(*fds));
            fd_broker = malloc(fds_cap * sizeof(*fd_broker));
            if (!fds || !fd_broker) {
                /* Out of memory: back off and try the turn again. */
                free(fds);
                free(fd_broker);
                fds = NULL;
                fd_broker = NULL;
                fds_cap = 0;
                rl_cluster_unlock(cl);
                poll(NULL, 0, 10);
                rl_cluster_lock(cl);
                continue;
            }
        }
        size_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = cl->wake_pipe[0], .events = POLLIN};
        for (size_t i = 0; i < cl->nbrokers; i++) {
            struct rl_broker *b = cl->brokers[i];
            if (b->state == BROKER_DOWN)
                continue;
            short ev = rl_conn_poll_events(b->conn);
            fd_broker[nfds] = b;
            fds[nfds++] = (struct pollfd){.fd = rl_conn_fd(b->conn), .events = ev};
        }
        /* At least once a second, so a request a caller sent while we slept
         * (rl_cluster_caller_may_send) has its timeout checked. */
        cl->poll_until_ms = now + IO_MAX_SLEEP_MS;
        if (next >= 0 && next < cl->poll_until_ms)
            cl->poll_until_ms = next;
        cl->polling = true;
        rl_cluster_unlock(cl);

        if (cl->hooks.callbacks && cl->conf->callbacks_on_io_thread)
            cl->hooks.callbacks(cl->hooks.owner);
        int64_t left = cl->poll_until_ms - rl_now_ms();
        int n = poll(fds, nfds, left <= 0 ? 0 : (int)left);

        rl_cluster_lock(cl);
        cl->polling = false;
        cl->wake_sent = false;
        if (n <= 0)
            continue;
        if (fds[0].revents)
            drain_wake_pipe(cl);
        for (size_t i = 1; i < nfds; i++) {
            struct rl_broker *b = fd_broker[i];
            short re = fds[i].revents;
            if (!re || b->state == BROKER_DOWN || rl_conn_fd(b->conn) != fds[i].fd)
                continue;
            if (b->state == BROKER_CONNECTING) {
                if (rl_conn_connect_check(b->conn) != RINGLOG_OK) {
                    broker_fail(cl, b, RINGLOG_ERR_TRANSPORT, rl_conn_errstr(b->conn));
                    continue;
                }
                b->state = BROKER_UP;
                b->backoff_ms = cl->conf->reconnect_backoff_ms;
                rl_cluster_log(cl, RINGLOG_LOG_DEBUG, "connected to broker %d (%s:%d)", b->node_id,
                               b->host, b->port);
                continue;
            }
            if ((re & POLLOUT) && rl_conn_write_some(b->conn) != RINGLOG_OK) {
                broker_fail(cl, b, RINGLOG_ERR_TRANSPORT, rl_conn_errstr(b->conn));
                continue;
            }
            if (re & (POLLIN | POLLHUP | POLLERR))
                broker_read(cl, b);
        }
    }
    rl_cluster_unlock(cl);
    /* Last application callbacks (e.g. deliveries that completed just before stop). */
    if (cl->hooks.callbacks && cl->conf->callbacks_on_io_thread)
        cl->hooks.callbacks(cl->hooks.owner);
    free(fds);
    free(fd_broker);
    return NULL;
}
