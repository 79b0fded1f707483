/*
 * The handler tier's entry: frames from the network tier become requests
 * and are dispatched by body (conn_hooks); Handshake, which lists the
 * request types, is answered here. The others live in handle_metadata.c
 * (Metadata, InitProducerId), handle_produce.c, handle_fetch.c,
 * handle_list_offsets.c, handle_topics.c, handle_group.c and handle_reassign.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "errors.h"
#include "handlers.h"
#include "net/peer_accept.h"
#include "peer_hello.h"
#include "request.h"
#include "server.h"
#include "shard.h"

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
    {RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS, RINGLOG__API_KEY__API_KEY_DESCRIBE_CONFIGS},
    {RINGLOG__REQUEST__BODY_ALTER_CONFIGS, RINGLOG__API_KEY__API_KEY_ALTER_CONFIGS},
    {RINGLOG__REQUEST__BODY_CREATE_PARTITIONS, RINGLOG__API_KEY__API_KEY_CREATE_PARTITIONS},
    {RINGLOG__REQUEST__BODY_DELETE_RECORDS, RINGLOG__API_KEY__API_KEY_DELETE_RECORDS},
    {RINGLOG__REQUEST__BODY_AUTHENTICATE, RINGLOG__API_KEY__API_KEY_AUTHENTICATE},
    {RINGLOG__REQUEST__BODY_CREATE_USER, RINGLOG__API_KEY__API_KEY_CREATE_USER},
    {RINGLOG__REQUEST__BODY_DELETE_USER, RINGLOG__API_KEY__API_KEY_DELETE_USER},
    {RINGLOG__REQUEST__BODY_LIST_USERS, RINGLOG__API_KEY__API_KEY_LIST_USERS},
    {RINGLOG__REQUEST__BODY_CREATE_ACL, RINGLOG__API_KEY__API_KEY_CREATE_ACL},
    {RINGLOG__REQUEST__BODY_DELETE_ACL, RINGLOG__API_KEY__API_KEY_DELETE_ACL},
    {RINGLOG__REQUEST__BODY_LIST_ACLS, RINGLOG__API_KEY__API_KEY_LIST_ACLS},
    {RINGLOG__REQUEST__BODY_FIND_COORDINATOR, RINGLOG__API_KEY__API_KEY_FIND_COORDINATOR},
    {RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT, RINGLOG__API_KEY__API_KEY_CONSUMER_GROUP_HEARTBEAT},
    {RINGLOG__REQUEST__BODY_LIST_GROUPS, RINGLOG__API_KEY__API_KEY_LIST_GROUPS},
    {RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS, RINGLOG__API_KEY__API_KEY_DESCRIBE_GROUPS},
    {RINGLOG__REQUEST__BODY_DELETE_GROUPS, RINGLOG__API_KEY__API_KEY_DELETE_GROUPS},
    {RINGLOG__REQUEST__BODY_REASSIGN_PARTITIONS, RINGLOG__API_KEY__API_KEY_REASSIGN_PARTITIONS},
    {RINGLOG__REQUEST__BODY_DECOMMISSION_BROKER, RINGLOG__API_KEY__API_KEY_DECOMMISSION_BROKER},
};

static char *SASL_MECHANISMS[] = {"SCRAM-SHA-256", "SCRAM-SHA-512"};

enum { API_COUNT = sizeof(API_FOR_BODY) / sizeof(API_FOR_BODY[0]) };

static void handle_handshake(struct request *r)
{
    struct server *srv = r->shard->srv;
    Ringlog__HandshakeResponse *h = request_alloc(r, sizeof(*h));
    Ringlog__ApiVersion **apis = request_alloc(r, API_COUNT * sizeof(*apis));
    Ringlog__ApiVersion *versions = request_alloc(r, API_COUNT * sizeof(*versions));
    if (!h || !apis || !versions) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__handshake_response__init(h);
    h->n_apis = API_COUNT;
    h->apis = apis;
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
    h->n_sasl_mechanisms = sizeof(SASL_MECHANISMS) / sizeof(SASL_MECHANISMS[0]);
    h->sasl_mechanisms = SASL_MECHANISMS;
    (void)auth_principal(r->conn); /* a verified client certificate authenticates */
    h->authentication_required =
        !r->conn->authenticated &&
        security_auth_required(security_view(&srv->security, r->shard->loop.id));
    r->resp.body_case = RINGLOG__RESPONSE__BODY_HANDSHAKE;
    r->resp.handshake = h;
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
    /* acks=0 gets no answer, whatever happens to it (request_complete). */
    r->silent = r->msg->body_case == RINGLOG__REQUEST__BODY_PRODUCE && r->msg->produce->acks == 0;
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
    /* Authentication, then the ACLs: each answers and stops r when it refuses. */
    if (!auth_admit(r) || !auth_authorise(r))
        return;
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
    case RINGLOG__REQUEST__BODY_FIND_COORDINATOR:
    case RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT:
    case RINGLOG__REQUEST__BODY_LIST_GROUPS:
    case RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS:
    case RINGLOG__REQUEST__BODY_DELETE_GROUPS:
        handle_group(r);
        break;
    case RINGLOG__REQUEST__BODY_AUTHENTICATE:
        handle_authenticate(r);
        break;
    case RINGLOG__REQUEST__BODY_CREATE_USER:
    case RINGLOG__REQUEST__BODY_DELETE_USER:
    case RINGLOG__REQUEST__BODY_LIST_USERS:
        handle_users(r);
        break;
    case RINGLOG__REQUEST__BODY_CREATE_ACL:
    case RINGLOG__REQUEST__BODY_DELETE_ACL:
    case RINGLOG__REQUEST__BODY_LIST_ACLS:
        handle_acls(r);
        break;
    case RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS:
    case RINGLOG__REQUEST__BODY_ALTER_CONFIGS:
        handle_configs(r);
        break;
    case RINGLOG__REQUEST__BODY_CREATE_PARTITIONS:
        handle_create_partitions(r);
        break;
    case RINGLOG__REQUEST__BODY_DELETE_RECORDS:
        handle_delete_records(r);
        break;
    case RINGLOG__REQUEST__BODY_REASSIGN_PARTITIONS:
    case RINGLOG__REQUEST__BODY_DECOMMISSION_BROKER:
        handle_reassign(r);
        break;
    case RINGLOG__REQUEST__BODY_PEER_HELLO: /* the first frame went to peer_accept */
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST,
                     "peer_hello is only valid as the first frame of a connection");
        break;
    default:
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, "unknown request type");
        break;
    }
}

static bool on_frame(struct conn *c, const uint8_t *frame, size_t len)
{
    /* A link between brokers opens with a peer_hello: the connection
     * becomes a peer link (net/peer.h), and nothing may follow the hello
     * until it is answered. */
    if (c->hand_over)
        return false;
    if (c->frames == 1 && peer_hello_in_frame(frame, len))
        return peer_accept(c, frame, len);
    struct request *r = request_new(c, frame, len);
    if (r == NULL)
        return false;
    handle_request(r);
    return true;
}

const struct conn_hooks handler_conn_hooks = {
    .on_frame = on_frame,
    .release = request_release,
    .opened = auth_conn_opened,
    .forget = auth_conn_forget,
};
