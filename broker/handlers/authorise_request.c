/*
 * Authorisation at the handler tier: what each request type needs
 * (docs/SECURITY.md "ACLs"), checked once per request in dispatch before
 * its handler runs. Metadata filters what it lists itself (auth_allowed
 * per topic). A request type this table does not know needs ALTER on the
 * cluster, so a new request is closed until someone says what it needs.
 */
#include <stdio.h>
#include <string.h>

#include "auth/security.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"

bool auth_allowed(struct request *r, enum sec_resource res, const char *name, enum sec_op op)
{
    struct security *sec = &r->shard->srv->security;
    const struct sec_snapshot *s = security_view(sec, r->shard->loop.id);
    if (!security_authoriser_on(s))
        return true;
    return security_authorise(sec, s, auth_principal(r->conn), res, name, op);
}

static const char *const OP_NAMES[] = {"",       "read",     "write", "create",
                                       "delete", "describe", "alter"};
static const char *const RES_NAMES[] = {"", "topic", "group", "cluster"};

char *auth_refusal(struct request *r, enum sec_resource res, const char *name, enum sec_op op)
{
    char message[400];
    metrics_add(&r->shard->metrics.authorization_denials, 1);
    snprintf(message, sizeof(message), "%s may not %s %s%s%s", auth_principal(r->conn),
             OP_NAMES[op], RES_NAMES[res], name && *name ? " " : "", name ? name : "");
    return request_strdup(r, message);
}

/* Answers NOT_AUTHORIZED naming what was refused; returns false. */
static bool refuse(struct request *r, enum sec_resource res, const char *name, enum sec_op op)
{
    request_fail(r, RINGLOG__ERROR_CODE__NOT_AUTHORIZED, auth_refusal(r, res, name, op));
    return false;
}

static bool check(struct request *r, enum sec_resource res, const char *name, enum sec_op op)
{
    return auth_allowed(r, res, name, op) || refuse(r, res, name, op);
}

/* Creating a topic: CREATE on the topic, or on the cluster. */
static bool may_create(struct request *r, const Ringlog__CreateTopicsRequest *req)
{
    for (size_t i = 0; i < req->n_topics; i++) {
        const char *name = req->topics[i]->name;
        if (!auth_allowed(r, SEC_RES_CLUSTER, NULL, SEC_OP_CREATE) &&
            !check(r, SEC_RES_TOPIC, name, SEC_OP_CREATE))
            return false;
    }
    return true;
}

typedef const char *(*topic_at_fn)(const void *req, size_t i);

/* op on every topic a request names (topic_at gives the i-th of n). */
static bool each_topic(struct request *r, const void *req, size_t n, topic_at_fn topic_at,
                       enum sec_op op)
{
    for (size_t i = 0; i < n; i++)
        if (!check(r, SEC_RES_TOPIC, topic_at(req, i), op))
            return false;
    return true;
}

/* Every group named may be given `op`. */
static bool each_group(struct request *r, char *const *groups, size_t n, enum sec_op op)
{
    for (size_t i = 0; i < n; i++)
        if (!check(r, SEC_RES_GROUP, groups[i], op))
            return false;
    return true;
}

static const char *produce_topic(const void *req, size_t i)
{
    return ((const Ringlog__ProduceRequest *)req)->topics[i]->topic;
}

static const char *fetch_topic(const void *req, size_t i)
{
    return ((const Ringlog__FetchRequest *)req)->topics[i]->topic;
}

static const char *list_offsets_topic(const void *req, size_t i)
{
    return ((const Ringlog__ListOffsetsRequest *)req)->topics[i]->topic;
}

static const char *delete_topic(const void *req, size_t i)
{
    return ((const Ringlog__DeleteTopicsRequest *)req)->names[i];
}

static const char *describe_configs_topic(const void *req, size_t i)
{
    return ((const Ringlog__DescribeConfigsRequest *)req)->topics[i];
}

static const char *alter_configs_topic(const void *req, size_t i)
{
    return ((const Ringlog__AlterConfigsRequest *)req)->topics[i]->topic;
}

static const char *create_partitions_topic(const void *req, size_t i)
{
    return ((const Ringlog__CreatePartitionsRequest *)req)->topics[i]->topic;
}

static const char *delete_records_topic(const void *req, size_t i)
{
    return ((const Ringlog__DeleteRecordsRequest *)req)->topics[i]->topic;
}

static const char *commit_topic(const void *req, size_t i)
{
    return ((const Ringlog__OffsetCommitRequest *)req)->topics[i]->topic;
}

static const char *offset_fetch_topic(const void *req, size_t i)
{
    return ((const Ringlog__OffsetFetchRequest *)req)->topics[i]->topic;
}

/*
 * InitProducerId names no topic: WRITE on the cluster, or WRITE on some
 * topic (any principal that may produce somewhere may be idempotent).
 */
static bool may_init_producer(struct request *r)
{
    struct security *sec = &r->shard->srv->security;
    const struct sec_snapshot *s = security_view(sec, r->shard->loop.id);
    if (auth_allowed(r, SEC_RES_CLUSTER, NULL, SEC_OP_WRITE) ||
        security_may_on_some(sec, s, auth_principal(r->conn), SEC_RES_TOPIC, SEC_OP_WRITE))
        return true;
    return refuse(r, SEC_RES_CLUSTER, NULL, SEC_OP_WRITE);
}

bool auth_authorise(struct request *r)
{
    const Ringlog__Request *m = r->msg;
    switch (m->body_case) {
    case RINGLOG__REQUEST__BODY_HANDSHAKE:
    case RINGLOG__REQUEST__BODY_AUTHENTICATE:
    case RINGLOG__REQUEST__BODY_METADATA: /* filtered per topic by its handler */
    case RINGLOG__REQUEST__BODY_PEER_HELLO:
    case RINGLOG__REQUEST__BODY__NOT_SET:
        return true;
    case RINGLOG__REQUEST__BODY_CREATE_TOPICS:
        return may_create(r, m->create_topics);
    case RINGLOG__REQUEST__BODY_DELETE_TOPICS:
        return each_topic(r, m->delete_topics, m->delete_topics->n_names, delete_topic,
                          SEC_OP_DELETE);
    case RINGLOG__REQUEST__BODY_PRODUCE:
        return each_topic(r, m->produce, m->produce->n_topics, produce_topic, SEC_OP_WRITE);
    case RINGLOG__REQUEST__BODY_FETCH:
        return each_topic(r, m->fetch, m->fetch->n_topics, fetch_topic, SEC_OP_READ);
    case RINGLOG__REQUEST__BODY_LIST_OFFSETS:
        return each_topic(r, m->list_offsets, m->list_offsets->n_topics, list_offsets_topic,
                          SEC_OP_DESCRIBE);
    case RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID:
        return may_init_producer(r);
    /* Topic admin (issue 20 item 5), as Kafka checks it: configs are described and altered
     * per topic (its DESCRIBE_CONFIGS and ALTER_CONFIGS are DESCRIBE and ALTER here),
     * partitions are added with ALTER, records deleted with DELETE. */
    case RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS:
        return each_topic(r, m->describe_configs, m->describe_configs->n_topics,
                          describe_configs_topic, SEC_OP_DESCRIBE);
    case RINGLOG__REQUEST__BODY_ALTER_CONFIGS:
        return each_topic(r, m->alter_configs, m->alter_configs->n_topics, alter_configs_topic,
                          SEC_OP_ALTER);
    case RINGLOG__REQUEST__BODY_CREATE_PARTITIONS:
        return each_topic(r, m->create_partitions, m->create_partitions->n_topics,
                          create_partitions_topic, SEC_OP_ALTER);
    case RINGLOG__REQUEST__BODY_DELETE_RECORDS:
        return each_topic(r, m->delete_records, m->delete_records->n_topics, delete_records_topic,
                          SEC_OP_DELETE);
    /* OffsetCommit and OffsetFetch: READ on the group and on every topic named. */
    case RINGLOG__REQUEST__BODY_OFFSET_COMMIT:
        return check(r, SEC_RES_GROUP, m->offset_commit->group, SEC_OP_READ) &&
               each_topic(r, m->offset_commit, m->offset_commit->n_topics, commit_topic,
                          SEC_OP_READ);
    case RINGLOG__REQUEST__BODY_OFFSET_FETCH:
        return check(r, SEC_RES_GROUP, m->offset_fetch->group, SEC_OP_READ) &&
               each_topic(r, m->offset_fetch, m->offset_fetch->n_topics, offset_fetch_topic,
                          SEC_OP_READ);
    /* Consumer groups, as Kafka checks them: joining and finding a group read it; listing
     * describes the cluster; describing and deleting name each group. */
    case RINGLOG__REQUEST__BODY_FIND_COORDINATOR:
        return check(r, SEC_RES_GROUP, m->find_coordinator->group, SEC_OP_DESCRIBE);
    case RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT:
        return check(r, SEC_RES_GROUP, m->group_heartbeat->group, SEC_OP_READ);
    case RINGLOG__REQUEST__BODY_LIST_GROUPS:
        return check(r, SEC_RES_CLUSTER, NULL, SEC_OP_DESCRIBE);
    case RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS:
        return each_group(r, m->describe_groups->groups, m->describe_groups->n_groups,
                          SEC_OP_DESCRIBE);
    case RINGLOG__REQUEST__BODY_DELETE_GROUPS:
        return each_group(r, m->delete_groups->groups, m->delete_groups->n_groups, SEC_OP_DELETE);
    case RINGLOG__REQUEST__BODY_LIST_USERS:
    case RINGLOG__REQUEST__BODY_LIST_ACLS:
        return check(r, SEC_RES_CLUSTER, NULL, SEC_OP_DESCRIBE);
    default: /* users, ACLs, cluster administration, and anything newer */
        return check(r, SEC_RES_CLUSTER, NULL, SEC_OP_ALTER);
    }
}
