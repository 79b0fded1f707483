/*
 * The handler tier's entry: frames from the network tier become requests
 * and are dispatched by body (conn_hooks), and the requests that need no
 * partition work are answered here: Handshake, Metadata and InitProducerId.
 * The others live in handle_produce.c, handle_fetch.c,
 * handle_list_offsets.c, handle_topics.c and handle_offsets.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "errors.h"
#include "handlers.h"
#include "producer_ids.h"
#include "request.h"
#include "server.h"
#include "shard.h"

#define RINGLOG_SERVER_VERSION "0.1.0"

static const int API_FOR_BODY[][2] = {
    {RINGLOG__REQUEST__BODY_HANDSHAKE, RINGLOG__API_KEY__API_KEY_HANDSHAKE},
    {RINGLOG__REQUEST__BODY_METADATA, RINGLOG__API_KEY__API_KEY_METADATA},
    {RINGLOG__REQUEST__BODY_CREATE_TOPICS, RINGLOG__API_KEY__API_KEY_CREATE_TOPICS},
    {RINGLOG__REQUEST__BODY_DELETE_TOPICS, RINGLOG__API_KEY__API_KEY_DELETE_TOPICS},
    {RINGLOG__REQUEST__BODY_PRODUCE, RINGLOG__API_KEY__API_KEY_PRODUCE},
    {RINGLOG__REQUEST__BODY_FETCH, RINGLOG__API_KEY__API_KEY_FETCH},
    {RINGLOG__REQUEST__BODY_LIST_OFFSETS, RINGLOG__API_KEY__API_KEY_LIST_OFFSETS},
    {RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID, RINGLOG__API_KEY__API_KEY_INIT_PRODUCER_ID},
    {RINGLOG__REQUEST__BODY_OFFSET_COMMIT, RINGLOG__API_KEY__API_KEY_OFFSET_COMMIT},
    {RINGLOG__REQUEST__BODY_OFFSET_FETCH, RINGLOG__API_KEY__API_KEY_OFFSET_FETCH},
};

enum { API_COUNT = sizeof(API_FOR_BODY) / sizeof(API_FOR_BODY[0]) };

static void handle_handshake(struct request *r)
{
    struct server *srv = r->shard->srv;
    Ringlog__HandshakeResponse *h = request_alloc(r, sizeof(*h));
    ringlog__handshake_response__init(h);
    h->n_apis = API_COUNT;
    h->apis = request_alloc(r, API_COUNT * sizeof(*h->apis));
    Ringlog__ApiVersion *versions = request_alloc(r, API_COUNT * sizeof(*versions));
    for (size_t i = 0; i < API_COUNT; i++) {
        ringlog__api_version__init(&versions[i]);
        versions[i].api = API_FOR_BODY[i][1];
        versions[i].min_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        versions[i].max_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        h->apis[i] = &versions[i];
    }
    h->node_id = srv->cfg.node_id;
    h->cluster_id = srv->cluster_id;
    h->server_version = RINGLOG_SERVER_VERSION;
    h->max_frame_bytes = srv->cfg.max_frame_bytes;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_HANDSHAKE;
    r->resp.handshake = h;
    request_complete(r);
}

static Ringlog__PartitionMetadata *describe_partition(struct request *r, const struct topic_info *t,
                                                      uint32_t p)
{
    struct server *srv = r->shard->srv;
    const struct partition_stats *st = &t->stats[p];
    Ringlog__PartitionMetadata *pm = request_alloc(r, sizeof(*pm));
    ringlog__partition_metadata__init(pm);
    pm->partition = p;
    bool online = atomic_load(&st->online);
    pm->error = online ? RINGLOG__ERROR_CODE__NONE : RINGLOG__ERROR_CODE__LEADER_NOT_AVAILABLE;
    pm->error_message = online ? "" : "the partition is being opened";
    pm->leader = online ? srv->cfg.node_id : -1;
    pm->leader_epoch = atomic_load(&st->leader_epoch);
    pm->n_replicas = 1;
    pm->replicas = request_alloc(r, sizeof(int32_t));
    pm->replicas[0] = srv->cfg.node_id;
    pm->n_isr = 1;
    pm->isr = request_alloc(r, sizeof(int32_t));
    pm->isr[0] = srv->cfg.node_id;
    pm->log_start_offset = atomic_load_explicit(&st->log_start, memory_order_relaxed);
    pm->log_end_offset = atomic_load_explicit(&st->log_end, memory_order_relaxed);
    pm->high_watermark = atomic_load_explicit(&st->high_watermark, memory_order_relaxed);
    return pm;
}

static Ringlog__TopicMetadata *describe_topic(struct request *r, const char *name,
                                              const struct topic_info *t)
{
    Ringlog__TopicMetadata *tm = request_alloc(r, sizeof(*tm));
    ringlog__topic_metadata__init(tm);
    tm->name = request_strdup(r, name);
    if (!t) {
        tm->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
        tm->error_message = (char *)rl_error_message(tm->error);
        return tm;
    }
    tm->config = request_alloc(r, sizeof(*tm->config));
    ringlog__topic_config__init(tm->config);
    tm->config->retention_ms = t->config.retention_ms;
    tm->config->retention_bytes = t->config.retention_bytes;
    tm->config->segment_bytes = t->config.segment_bytes;
    tm->config->segment_ms = t->config.segment_ms;
    tm->n_partitions = t->partitions;
    tm->partitions = request_alloc(r, t->partitions * sizeof(*tm->partitions));
    for (uint32_t p = 0; p < t->partitions; p++)
        tm->partitions[p] = describe_partition(r, t, p);
    return tm;
}

static void handle_metadata(struct request *r)
{
    struct server *srv = r->shard->srv;
    Ringlog__MetadataRequest *req = r->msg->metadata;
    Ringlog__MetadataResponse *m = request_alloc(r, sizeof(*m));
    ringlog__metadata_response__init(m);
    Ringlog__BrokerInfo *b = request_alloc(r, sizeof(*b));
    ringlog__broker_info__init(b);
    b->node_id = srv->cfg.node_id;
    b->host = srv->cfg.listen_host;
    b->port = srv->listen_port;
    m->n_brokers = 1;
    m->brokers = request_alloc(r, sizeof(*m->brokers));
    m->brokers[0] = b;
    m->controller_id = srv->cfg.node_id;
    struct topic_table *t = topic_registry_snapshot(&srv->topics);
    size_t n = req->n_topics ? req->n_topics : t->count;
    m->topics = request_alloc(r, (n ? n : 1) * sizeof(*m->topics));
    m->n_topics = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = req->n_topics ? req->topics[i] : t->topics[i]->name;
        m->topics[i] =
            describe_topic(r, name, req->n_topics ? topic_table_find(t, name) : t->topics[i]);
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_METADATA;
    r->resp.metadata = m;
    request_complete(r);
}

static void handle_init_producer_id(struct request *r)
{
    Ringlog__InitProducerIdRequest *req = r->msg->init_producer_id;
    Ringlog__InitProducerIdResponse *p = request_alloc(r, sizeof(*p));
    ringlog__init_producer_id_response__init(p);
    if (req->producer_id >= 0) {
        /* Bumping the epoch of a known id fences its older incarnations. */
        if (req->producer_epoch < 0 || req->producer_epoch >= INT16_MAX) {
            p->error = RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH;
            p->error_message = "the epoch cannot be bumped further: ask for a new id";
            p->producer_id = -1;
            p->producer_epoch = -1;
        } else {
            p->producer_id = req->producer_id;
            p->producer_epoch = req->producer_epoch + 1;
        }
    } else {
        int64_t id = producer_ids_next(r->shard->srv);
        if (id < 0) {
            p->error = RINGLOG__ERROR_CODE__STORAGE_ERROR;
            p->error_message = "cannot reserve producer ids on disk";
        }
        p->producer_id = id;
        p->producer_epoch = 0;
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_INIT_PRODUCER_ID;
    r->resp.init_producer_id = p;
    request_complete(r);
}

static int api_of(int body_case)
{
    for (size_t i = 0; i < API_COUNT; i++)
        if (API_FOR_BODY[i][0] == body_case)
            return API_FOR_BODY[i][1];
    return 0;
}

void handle_request(struct request *r)
{
    r->api = api_of(r->msg->body_case);
    if (r->api < METRICS_API_SLOTS)
        metrics_add(&r->shard->metrics.requests[r->api], 1);
    if (r->msg->api_version != RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT) {
        char message[128];
        snprintf(message, sizeof(message), "api_version %u is not supported (supported: %d)",
                 r->msg->api_version, RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
        request_fail(r, RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION, message);
        return;
    }
    if (r->shard->stopping && r->api != RINGLOG__API_KEY__API_KEY_HANDSHAKE) {
        request_fail(r, RINGLOG__ERROR_CODE__SHUTTING_DOWN, NULL);
        return;
    }
    switch (r->msg->body_case) {
    case RINGLOG__REQUEST__BODY_HANDSHAKE:
        handle_handshake(r);
        break;
    case RINGLOG__REQUEST__BODY_METADATA:
        handle_metadata(r);
        break;
    case RINGLOG__REQUEST__BODY_CREATE_TOPICS:
    case RINGLOG__REQUEST__BODY_DELETE_TOPICS:
        handle_topic_admin(r);
        break;
    case RINGLOG__REQUEST__BODY_PRODUCE:
        handle_produce(r);
        break;
    case RINGLOG__REQUEST__BODY_FETCH:
        handle_fetch(r);
        break;
    case RINGLOG__REQUEST__BODY_LIST_OFFSETS:
        handle_list_offsets(r);
        break;
    case RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID:
        handle_init_producer_id(r);
        break;
    case RINGLOG__REQUEST__BODY_OFFSET_COMMIT:
    case RINGLOG__REQUEST__BODY_OFFSET_FETCH:
        handle_offsets(r);
        break;
    default:
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, "unknown request type");
        break;
    }
}

static bool on_frame(struct conn *c, const uint8_t *frame, size_t len)
{
    struct request *r = request_new(c, frame, len);
    if (r == NULL)
        return false;
    handle_request(r);
    return true;
}

const struct conn_hooks handler_conn_hooks = {
    .on_frame = on_frame,
    .release = request_release,
};
