/*
 * The admin client: blocking calls over one connection (conn.h), to the
 * first bootstrap broker that answers, moving to the controller when a
 * broker says it is not the one to ask. No I/O thread: admin calls are rare
 * and a caller wants the answer before going on.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_internal.h"
#include "conf.h"
#include "conn.h"
#include "conn_sasl.h"
#include "ringlog.h"
#include "group_admin.h"
#include "tls.h"

/* Leaders a describe asks for their own view (the brokers of a cluster). */
#define RL_MAX_DESCRIBE_LEADERS 64

ringlog_admin *ringlog_admin_new(const ringlog_conf *conf, char *errbuf, size_t errlen)
{
    if (!conf) {
        rl_errbuf(errbuf, errlen, "conf must not be NULL");
        return NULL;
    }
    struct ringlog_admin *a = calloc(1, sizeof(*a));
    if (!a || !(a->conf = ringlog_conf_dup(conf))) {
        free(a);
        rl_errbuf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (rl_parse_bootstrap(a->conf->bootstrap, &a->bootstrap, &a->nbootstrap, errbuf, errlen) ||
        rl_tls_attach(a->conf, errbuf, errlen) != RINGLOG_OK ||
        rl_sasl_conf_check(a->conf, errbuf, errlen) != RINGLOG_OK) {
        free(a->bootstrap);
        ringlog_conf_destroy(a->conf);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void ringlog_admin_destroy(ringlog_admin *a)
{
    if (!a)
        return;
    rl_conn_close(a->conn);
    free(a->bootstrap);
    ringlog_conf_destroy(a->conf);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void rl_admin_lock(ringlog_admin *a)
{
    pthread_mutex_lock(&a->mu);
}

void rl_admin_unlock(ringlog_admin *a)
{
    pthread_mutex_unlock(&a->mu);
}

void ringlog_free(void *ptr)
{
    free(ptr);
}

int rl_admin_open(struct ringlog_admin *a, const char *host, int port, struct rl_conn **out,
                  char *errbuf, size_t errlen)
{
    int err = rl_conn_open(host, port, (int)a->conf->connect_timeout_ms, out, errbuf, errlen);
    if (err == RINGLOG_OK && ((err = rl_conn_use_tls(*out, a->conf->tls, host)) != RINGLOG_OK ||
                              (err = rl_conn_use_sasl(*out, a->conf)) != RINGLOG_OK)) {
        rl_errbuf(errbuf, errlen, "%s", rl_conn_errstr(*out));
        rl_conn_close(*out);
        *out = NULL;
    }
    return err;
}

/* Connects to the first bootstrap broker that accepts, from the one after the last that failed. */
static int admin_connect(struct ringlog_admin *a, char *errbuf, size_t errlen)
{
    if (a->conn)
        return RINGLOG_OK;
    int err = RINGLOG_ERR_TRANSPORT;
    assert(a->nbootstrap > 0);
    for (size_t k = 0; k < a->nbootstrap; k++) {
        size_t i = (a->next_bootstrap + k) % a->nbootstrap;
        err =
            rl_admin_open(a, a->bootstrap[i].host, a->bootstrap[i].port, &a->conn, errbuf, errlen);
        if (err == RINGLOG_OK) {
            a->next_bootstrap = i;
            rl_conn_set_client_id(a->conn, a->conf->client_id);
            return RINGLOG_OK;
        }
        /* Info only: the caller gets the error (a later bootstrap broker may still answer). */
        rl_log(a->conf, RINGLOG_LOG_INFO, "admin: %s", errbuf ? errbuf : "connect failed");
    }
    return err;
}

/*
 * One request, one answer. When `retry` is set (requests safe to repeat), a
 * lost connection is retried once on a fresh one, and a broker that
 * accepted the connection but never answered (stopped, hung, or not a
 * broker) is passed over for the next bootstrap broker, each in turn.
 */
static int admin_call(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                      bool retry, char *errbuf, size_t errlen)
{
    int silent = 0; /* brokers passed over for never answering */
    for (int attempt = 0;; attempt++) {
        int err = admin_connect(a, errbuf, errlen);
        if (err)
            return err;
        /* A broker answers a new connection's first request at once; a peer that does not
         * speak the protocol may never answer: it gets connect-timeout-ms, not the full
         * request-timeout-ms. */
        int64_t timeout = a->conf->request_timeout_ms;
        if (!rl_conn_speaks_protocol(a->conn) && a->conf->connect_timeout_ms < timeout)
            timeout = a->conf->connect_timeout_ms;
        err = rl_conn_call(a->conn, req, resp, (int)timeout);
        if (err == RINGLOG_OK) {
            if ((*resp)->error) {
                int code = (*resp)->error;
                rl_errbuf(errbuf, errlen, "%s",
                          (*resp)->error_message && (*resp)->error_message[0]
                              ? (*resp)->error_message
                              : ringlog_err_str(code));
                rl_conn_response_free(*resp);
                *resp = NULL;
                return code;
            }
            return RINGLOG_OK;
        }
        rl_errbuf(errbuf, errlen, "%s", rl_conn_errstr(a->conn));
        bool never_answered = !rl_conn_speaks_protocol(a->conn);
        rl_conn_close(a->conn);
        a->conn = NULL;
        a->next_bootstrap++; /* the next connection starts with another broker */
        /* silent counts only brokers passed over: counted on every failure, it kept pace
         * with attempt and a lone broker answering garbage was retried forever. */
        bool pass_over = retry && never_answered && silent + 1 < (int)a->nbootstrap;
        silent += pass_over;
        if (!pass_over && (!retry || attempt > silent || err == RINGLOG_ERR_TIMED_OUT))
            return err;
        req->correlation_id = 0;
    }
}

int rl_admin_call(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                  bool retry, char *errbuf, size_t errlen)
{
    pthread_mutex_lock(&a->mu);
    int err = admin_call(a, req, resp, retry, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    return err;
}

int rl_admin_call_locked(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                         bool retry, char *errbuf, size_t errlen)
{
    return admin_call(a, req, resp, retry, errbuf, errlen);
}

int rl_admin_metadata(struct ringlog_admin *a, const char *topic, Ringlog__Response **resp,
                      char *errbuf, size_t errlen)
{
    char *topics[1] = {(char *)topic};
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    if (topic) {
        md.n_topics = 1;
        md.topics = topics;
    }
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    int err = admin_call(a, &req, resp, true, errbuf, errlen);
    if (!err && (*resp)->body_case != RINGLOG__RESPONSE__BODY_METADATA) {
        rl_conn_response_free(*resp);
        *resp = NULL;
        rl_errbuf(errbuf, errlen, "metadata answer without a body");
        return RINGLOG_ERR_PROTOCOL;
    }
    return err;
}

bool rl_admin_move_to_controller(struct ringlog_admin *a)
{
    Ringlog__Response *resp;
    if (rl_admin_metadata(a, NULL, &resp, NULL, 0) != RINGLOG_OK)
        return false;
    Ringlog__MetadataResponse *m = resp->metadata;
    bool moved = false;
    for (size_t i = 0; i < m->n_brokers; i++) {
        if (m->brokers[i]->node_id != m->controller_id)
            continue;
        struct rl_conn *c;
        if (rl_admin_open(a, m->brokers[i]->host, (int)m->brokers[i]->port, &c, NULL, 0) ==
            RINGLOG_OK) {
            rl_conn_close(a->conn);
            a->conn = c;
            moved = true;
        }
    }
    rl_conn_response_free(resp);
    return moved;
}

/*
 * Makes sure the connection has answered once before a request the broker
 * may take long over (CreateTopics, DeleteTopics): a Metadata request for
 * just `topic` gets the short first-answer timeout that tells a silent peer
 * from a broker, so the slow request itself gets the whole
 * request-timeout-ms.
 */
static int admin_probe(struct ringlog_admin *a, const char *topic, char *errbuf, size_t errlen)
{
    if (a->conn && rl_conn_speaks_protocol(a->conn))
        return RINGLOG_OK;
    Ringlog__Response *resp;
    int err = rl_admin_metadata(a, topic, &resp, errbuf, errlen);
    if (err)
        return err;
    assert(a->conn && rl_conn_speaks_protocol(a->conn));
    rl_conn_response_free(resp);
    return RINGLOG_OK;
}

/* The one topic result of a create or delete: its code (and errbuf). */
static int topic_result_code(const Ringlog__Response *resp, char *errbuf, size_t errlen)
{
    Ringlog__TopicResult *r = NULL;
    if (resp->body_case == RINGLOG__RESPONSE__BODY_CREATE_TOPICS &&
        resp->create_topics->n_topics == 1)
        r = resp->create_topics->topics[0];
    if (resp->body_case == RINGLOG__RESPONSE__BODY_DELETE_TOPICS &&
        resp->delete_topics->n_topics == 1)
        r = resp->delete_topics->topics[0];
    if (resp->body_case == RINGLOG__RESPONSE__BODY_ALTER_CONFIGS &&
        resp->alter_configs->n_topics == 1)
        r = resp->alter_configs->topics[0];
    if (resp->body_case == RINGLOG__RESPONSE__BODY_CREATE_PARTITIONS &&
        resp->create_partitions->n_topics == 1)
        r = resp->create_partitions->topics[0];
    if (!r) {
        rl_errbuf(errbuf, errlen, "unexpected answer from the broker");
        return RINGLOG_ERR_PROTOCOL;
    }
    if (r->error)
        rl_errbuf(errbuf, errlen, "%s",
                  r->error_message && r->error_message[0] ? r->error_message
                                                          : ringlog_err_str(r->error));
    return r->error;
}

/* Whether an answer's code says the controller is elsewhere; moves there, or on to the next
 * bootstrap broker after a pause when no controller is known (an election, a cut-off broker). */
static bool follow_controller(ringlog_admin *a, int err, int attempt)
{
    if ((err != RINGLOG_ERR_NOT_LEADER && err != RINGLOG_ERR_NOT_CONTROLLER) || attempt >= 20)
        return false;
    if (rl_admin_move_to_controller(a))
        return true;
    if (err != RINGLOG_ERR_NOT_CONTROLLER)
        return false;
    rl_conn_close(a->conn);
    a->conn = NULL;
    a->next_bootstrap++;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return true;
}

int rl_admin_controller_call(ringlog_admin *a, const char *probe_topic, Ringlog__Request *req,
                             Ringlog__Response **out, rl_result_code_fn code_of, char *errbuf,
                             size_t errlen)
{
    assert(a && req);
    for (int attempt = 0;; attempt++) {
        Ringlog__Response *resp = NULL;
        int err = admin_probe(a, probe_topic, errbuf, errlen);
        if (!err)
            err = admin_call(a, req, &resp, false, errbuf, errlen); /* request-level: no resp */
        if (!err && code_of)
            err = code_of(resp, errbuf, errlen);
        /* A cluster's metadata changes go to its controller, which may be
         * moving (an election): follow Metadata's controller_id a few times. */
        bool moved = follow_controller(a, err, attempt);
        if (moved || !out || err == RINGLOG_ERR_PROTOCOL) {
            rl_conn_response_free(resp);
            resp = NULL;
        }
        if (moved) {
            req->correlation_id = 0;
            continue;
        }
        if (out)
            *out = resp;
        return err;
    }
}

int rl_admin_topic_call(struct ringlog_admin *a, const char *topic, Ringlog__Request *req,
                        char *errbuf, size_t errlen)
{
    assert(topic && req);
    return rl_admin_controller_call(a, topic, req, NULL, topic_result_code, errbuf, errlen);
}

int ringlog_admin_create_topic(ringlog_admin *a, const char *name, int32_t partitions,
                               int32_t replication_factor, const ringlog_topic_config *config,
                               char *errbuf, size_t errlen)
{
    return ringlog_admin_create_topic_cleanup(a, name, partitions, replication_factor, config, NULL,
                                              errbuf, errlen);
}

int ringlog_admin_create_topic_cleanup(ringlog_admin *a, const char *name, int32_t partitions,
                                       int32_t replication_factor,
                                       const ringlog_topic_config *config,
                                       const ringlog_topic_cleanup *cleanup, char *errbuf,
                                       size_t errlen)
{
    if (!a || !name || partitions < 0 || replication_factor < 0) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__TopicConfig tc = RINGLOG__TOPIC_CONFIG__INIT;
    if (config) {
        tc.retention_ms = config->retention_ms;
        tc.retention_bytes = config->retention_bytes;
        tc.segment_bytes = config->segment_bytes;
        tc.segment_ms = config->segment_ms;
    }
    if (cleanup) {
        tc.cleanup_policy = (char *)(cleanup->policy ? cleanup->policy : "");
        tc.delete_retention_ms = cleanup->delete_retention_ms;
        tc.min_cleanable_dirty_ratio = cleanup->min_cleanable_dirty_ratio;
        tc.min_compaction_lag_ms = cleanup->min_compaction_lag_ms;
    }
    Ringlog__CreatableTopic ct = RINGLOG__CREATABLE_TOPIC__INIT;
    Ringlog__CreatableTopic *ctp = &ct;
    ct.name = (char *)name;
    ct.partitions = (uint32_t)partitions;
    ct.replication_factor = (uint32_t)replication_factor;
    ct.config = &tc;
    Ringlog__CreateTopicsRequest cr = RINGLOG__CREATE_TOPICS_REQUEST__INIT;
    cr.n_topics = 1;
    cr.topics = &ctp;
    cr.timeout_ms = (uint32_t)a->conf->request_timeout_ms;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_TOPICS;
    req.create_topics = &cr;
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_topic_call(a, name, &req, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    return err;
}

int ringlog_admin_delete_topic(ringlog_admin *a, const char *name, char *errbuf, size_t errlen)
{
    if (!a || !name) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    char *names[1] = {(char *)name};
    Ringlog__DeleteTopicsRequest dr = RINGLOG__DELETE_TOPICS_REQUEST__INIT;
    dr.n_names = 1;
    dr.names = names;
    dr.timeout_ms = (uint32_t)a->conf->request_timeout_ms;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_TOPICS;
    req.delete_topics = &dr;
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_topic_call(a, name, &req, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    return err;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Metadata of every topic and broker, under the admin's lock. */
static int cluster_metadata(struct ringlog_admin *a, Ringlog__Response **resp, char *errbuf,
                            size_t errlen)
{
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_metadata(a, NULL, resp, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    assert(err || *resp);
    return err;
}

int ringlog_admin_list_topics(ringlog_admin *a, char ***names, size_t *count, char *errbuf,
                              size_t errlen)
{
    if (!a || !names || !count)
        return RINGLOG_ERR_INVALID_ARG;
    *names = NULL;
    *count = 0;
    Ringlog__Response *resp;
    int err = cluster_metadata(a, &resp, errbuf, errlen);
    if (err)
        return err;
    Ringlog__MetadataResponse *m = resp->metadata;
    size_t bytes = (m->n_topics + 1) * sizeof(char *);
    for (size_t i = 0; i < m->n_topics; i++)
        bytes += strlen(m->topics[i]->name) + 1;
    char **arr = malloc(bytes);
    if (!arr) {
        rl_conn_response_free(resp);
        return RINGLOG_ERR_NOMEM;
    }
    char *s = (char *)(arr + m->n_topics + 1);
    size_t n = 0;
    for (size_t i = 0; i < m->n_topics; i++) {
        if (m->topics[i]->error)
            continue;
        size_t len = strlen(m->topics[i]->name) + 1;
        memcpy(s, m->topics[i]->name, len);
        arr[n++] = s;
        s += len;
    }
    arr[n] = NULL;
    qsort(arr, n, sizeof(*arr), cmp_str);
    rl_conn_response_free(resp);
    *names = arr;
    *count = n;
    return RINGLOG_OK;
}

static int cmp_partition(const void *x, const void *y)
{
    const ringlog_partition_info *a = x, *b = y;
    return (a->partition > b->partition) - (a->partition < b->partition);
}

Ringlog__Response *rl_admin_call_node(struct ringlog_admin *a, const Ringlog__MetadataResponse *m,
                                      int32_t node, Ringlog__Request *req, int body_case)
{
    for (size_t i = 0; i < m->n_brokers; i++) {
        if (m->brokers[i]->node_id != node)
            continue;
        struct rl_conn *c;
        if (rl_admin_open(a, m->brokers[i]->host, (int)m->brokers[i]->port, &c, NULL, 0) !=
            RINGLOG_OK)
            return NULL;
        Ringlog__Response *resp = NULL;
        int err = rl_conn_call(c, req, &resp, (int)a->conf->request_timeout_ms);
        rl_conn_close(c);
        if (err == RINGLOG_OK && resp->error == 0 && (int)resp->body_case == body_case)
            return resp;
        if (resp)
            rl_conn_response_free(resp);
        return NULL;
    }
    return NULL;
}

Ringlog__Response *rl_admin_metadata_from(struct ringlog_admin *a,
                                          const Ringlog__MetadataResponse *m, int32_t node,
                                          const char *topic)
{
    char *topics[1] = {(char *)topic};
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    md.n_topics = topic ? 1 : 0;
    md.topics = topic ? topics : NULL;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    return rl_admin_call_node(a, m, node, &req, RINGLOG__RESPONSE__BODY_METADATA);
}

/*
 * In a cluster each partition is described as its leader sees it (in-sync
 * replicas, log end, high watermark): another broker knows only its own
 * replica, or none. Partitions whose leader cannot be asked keep the first
 * answer. The leaders' answers are kept in extra[] until the caller copied.
 */
static void leaders_view(struct ringlog_admin *a, const Ringlog__MetadataResponse *m,
                         Ringlog__TopicMetadata *t, Ringlog__Response **extra, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_partitions && n < cap; i++) {
        int32_t leader = t->partitions[i]->leader;
        bool asked = leader < 0 || t->partitions[i]->n_replicas <= 1;
        for (size_t k = 0; k < i && !asked; k++)
            asked = t->partitions[k]->leader == leader;
        if (asked || !(extra[n] = rl_admin_metadata_from(a, m, leader, t->name)))
            continue;
        const Ringlog__MetadataResponse *lm = extra[n++]->metadata;
        if (lm->n_topics != 1 || lm->topics[0]->error)
            continue;
        for (size_t p = 0; p < lm->topics[0]->n_partitions; p++) {
            Ringlog__PartitionMetadata *pm = lm->topics[0]->partitions[p];
            for (size_t k = 0; k < t->n_partitions; k++)
                if (t->partitions[k]->partition == pm->partition && pm->leader == leader &&
                    t->partitions[k]->leader == leader)
                    t->partitions[k] = pm;
        }
    }
}

/* Gives t its own partitions back, then frees every answer. */
static void describe_done(Ringlog__Response *resp, Ringlog__TopicMetadata *t,
                          Ringlog__PartitionMetadata **own, Ringlog__Response **extra)
{
    if (own)
        memcpy(t->partitions, own, t->n_partitions * sizeof(*own));
    free(own);
    rl_conn_response_free(resp);
    for (size_t i = 0; i < RL_MAX_DESCRIBE_LEADERS; i++)
        if (extra[i])
            rl_conn_response_free(extra[i]);
}

int ringlog_admin_describe_topic(ringlog_admin *a, const char *name, ringlog_topic_info **info,
                                 char *errbuf, size_t errlen)
{
    if (!a || !name || !info)
        return RINGLOG_ERR_INVALID_ARG;
    *info = NULL;
    pthread_mutex_lock(&a->mu);
    Ringlog__Response *resp;
    int err = rl_admin_metadata(a, name, &resp, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    if (err)
        return err;
    Ringlog__MetadataResponse *m = resp->metadata;
    Ringlog__TopicMetadata *t = NULL;
    for (size_t i = 0; i < m->n_topics; i++)
        if (strcmp(m->topics[i]->name, name) == 0)
            t = m->topics[i];
    if (!t || t->error) {
        err = t ? (int)t->error : RINGLOG_ERR_UNKNOWN_TOPIC;
        rl_errbuf(errbuf, errlen, "%s: %s", name,
                  t && t->error_message && t->error_message[0] ? t->error_message
                                                               : ringlog_err_str(err));
        rl_conn_response_free(resp);
        return err;
    }
    /* The leaders' partitions are lent into t: its own go back before it is freed. */
    Ringlog__Response *extra[RL_MAX_DESCRIBE_LEADERS] = {0};
    Ringlog__PartitionMetadata **own = malloc((t->n_partitions + 1) * sizeof(*own));
    if (own) {
        memcpy(own, t->partitions, t->n_partitions * sizeof(*own));
        leaders_view(a, m, t, extra, RL_MAX_DESCRIBE_LEADERS);
    }
    /* One allocation: info, partitions, replica and isr ids, the name. */
    size_t ids = 0;
    for (size_t i = 0; i < t->n_partitions; i++)
        ids += t->partitions[i]->n_replicas + t->partitions[i]->n_isr;
    size_t bytes = sizeof(ringlog_topic_info) + t->n_partitions * sizeof(ringlog_partition_info) +
                   ids * sizeof(int32_t) + strlen(t->name) + 1;
    ringlog_topic_info *ti = malloc(bytes);
    if (!ti) {
        describe_done(resp, t, own, extra);
        return RINGLOG_ERR_NOMEM;
    }
    ringlog_partition_info *parts = (ringlog_partition_info *)(ti + 1);
    int32_t *idp = (int32_t *)(parts + t->n_partitions);
    for (size_t i = 0; i < t->n_partitions; i++) {
        Ringlog__PartitionMetadata *pm = t->partitions[i];
        parts[i] = (ringlog_partition_info){
            .partition = (int32_t)pm->partition,
            .err = pm->error,
            .leader = pm->leader,
            .leader_epoch = pm->leader_epoch,
            .replicas = idp,
            .replica_count = pm->n_replicas,
            .start_offset = pm->log_start_offset,
            .end_offset = pm->log_end_offset,
            .high_watermark = pm->high_watermark,
        };
        if (pm->n_replicas) /* an empty repeated field is NULL */
            memcpy(idp, pm->replicas, pm->n_replicas * sizeof(int32_t));
        idp += pm->n_replicas;
        parts[i].isr = idp;
        parts[i].isr_count = pm->n_isr;
        if (pm->n_isr)
            memcpy(idp, pm->isr, pm->n_isr * sizeof(int32_t));
        idp += pm->n_isr;
    }
    qsort(parts, t->n_partitions, sizeof(*parts), cmp_partition);
    char *nm = (char *)idp;
    strcpy(nm, t->name);
    ti->name = nm;
    ti->partitions = parts;
    ti->partition_count = t->n_partitions;
    memset(&ti->config, 0, sizeof(ti->config));
    if (t->config) {
        ti->config.retention_ms = t->config->retention_ms;
        ti->config.retention_bytes = t->config->retention_bytes;
        ti->config.segment_bytes = t->config->segment_bytes;
        ti->config.segment_ms = t->config->segment_ms;
    }
    describe_done(resp, t, own, extra);
    *info = ti;
    return RINGLOG_OK;
}

static int cmp_broker(const void *x, const void *y)
{
    const ringlog_broker_info *a = x, *b = y;
    return (a->node_id > b->node_id) - (a->node_id < b->node_id);
}

int ringlog_admin_describe_cluster(ringlog_admin *a, ringlog_cluster_info **info, char *errbuf,
                                   size_t errlen)
{
    if (!a || !info)
        return RINGLOG_ERR_INVALID_ARG;
    *info = NULL;
    pthread_mutex_lock(&a->mu);
    Ringlog__Response *resp;
    int err = rl_admin_metadata(a, NULL, &resp, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    if (err)
        return err;
    const Ringlog__MetadataResponse *m = resp->metadata;
    size_t bytes = sizeof(ringlog_cluster_info) + m->n_brokers * sizeof(ringlog_broker_info);
    for (size_t i = 0; i < m->n_brokers; i++)
        bytes += strlen(m->brokers[i]->host) + 1;
    ringlog_cluster_info *ci = malloc(bytes);
    if (!ci) {
        rl_conn_response_free(resp);
        return RINGLOG_ERR_NOMEM;
    }
    ringlog_broker_info *b = (ringlog_broker_info *)(ci + 1);
    char *text = (char *)(b + m->n_brokers);
    for (size_t i = 0; i < m->n_brokers; i++) {
        const Ringlog__BrokerInfo *bi = m->brokers[i];
        strcpy(text, bi->host);
        b[i] =
            (ringlog_broker_info){.node_id = bi->node_id, .host = text, .port = (int32_t)bi->port};
        text += strlen(bi->host) + 1;
        /* Reachable: it answers a Metadata request now. */
        Ringlog__Response *probe = rl_admin_metadata_from(a, m, bi->node_id, NULL);
        b[i].reachable = probe != NULL;
        if (probe)
            rl_conn_response_free(probe);
    }
    qsort(b, m->n_brokers, sizeof(*b), cmp_broker);
    ci->controller = m->controller_id;
    ci->brokers = b;
    ci->broker_count = m->n_brokers;
    rl_conn_response_free(resp);
    *info = ci;
    return RINGLOG_OK;
}
