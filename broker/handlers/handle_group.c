/*
 * Consumer-group requests, the origin's side (groups/coordinator.h is the
 * owner's): FindCoordinator is answered here; ConsumerGroupHeartbeat,
 * OffsetCommit and OffsetFetch hop to the shard that owns the group's
 * partition of __groups, DescribeGroups and DeleteGroups hop once per
 * group, ListGroups once per shard. The owner answers with a packed
 * Response, unpacked here into this request's answer.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "groups/coordinator.h"
#include "handlers.h"
#include "names.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "topic_assignment.h"

struct group_op {
    struct hop hop; /* first: request_op */
    struct coord_call call;
    Ringlog__Response *answer; /* unpacked on the origin; freed with the request */
    /* ListGroups */
    uint8_t *list;
    size_t list_len;
    Ringlog__ListGroupsResponse *listed;
};

/* ------------------------------------------------------------- owner */

static void group_called(struct coord_call *c)
{
    struct group_op *op = rl_container_of(c, struct group_op, call);
    hop_return(&shard_current()->loop, &op->hop);
}

static void group_run(struct hop *hop)
{
    struct group_op *op = (struct group_op *)hop;
    op->call.done = group_called;
    coordinator_call(shard_current(), &op->call);
}

static void list_run(struct hop *hop)
{
    struct group_op *op = (struct group_op *)hop;
    op->list = coordinator_list(shard_current(), &op->list_len);
    hop_return(&shard_current()->loop, hop);
}

/* ------------------------------------------------------------ origin */

static void release_group_ops(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct group_op *op = request_op(r, i);
        free(op->call.resp);
        free(op->list);
        if (op->answer)
            ringlog__response__free_unpacked(op->answer, NULL);
        if (op->listed)
            ringlog__list_groups_response__free_unpacked(op->listed, NULL);
    }
}

/* Unpacks op's answer; NULL when the owner ran out of memory. */
static Ringlog__Response *answer_of(struct group_op *op)
{
    if (op->answer == NULL && op->call.resp != NULL)
        op->answer = ringlog__response__unpack(NULL, op->call.resp_len, op->call.resp);
    return op->answer;
}

/* A single-op request: the owner's answer is the answer. */
static void single_done(struct request *r)
{
    assert(r->op_count == 1);
    Ringlog__Response *a = answer_of(request_op(r, 0));
    if (a == NULL) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    uint64_t correlation_id = r->resp.correlation_id;
    r->resp = *a;
    r->resp.correlation_id = correlation_id;
    request_complete(r);
}

/* Plans op i as a call about group (one of its partition of __groups), or fails r. */
static bool plan_call(struct request *r, uint32_t i, const char *group)
{
    struct group_op *op = request_op(r, i);
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    op->call.msg = r->msg;
    op->call.group = group;
    op->call.partition = groups_partition_of(group);
    int error = request_route(r, &op->hop, topic_table_find(table, GROUPS_TOPIC),
                              op->call.partition, group_run);
    if (error != RINGLOG__ERROR_CODE__NONE) {
        request_fail(r, RINGLOG__ERROR_CODE__NOT_COORDINATOR,
                     "this broker has no __groups partition for the group");
        return false;
    }
    return true;
}

static bool alloc_ops(struct request *r, uint32_t n)
{
    if (request_alloc_ops(r, n, sizeof(struct group_op)) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return false;
    }
    r->release_ops = release_group_ops;
    return true;
}

/* ConsumerGroupHeartbeat, OffsetCommit, OffsetFetch: one call to the group's coordinator. */
static void handle_group_call(struct request *r, const char *group)
{
    if (!rl_group_name_valid(group)) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST,
                     "group names are 1-200 characters of [A-Za-z0-9._-], not starting with '.'");
        return;
    }
    if (!alloc_ops(r, 1) || !plan_call(r, 0, group))
        return;
    request_start_hops(r, single_done);
}

/* ----------------------------------------------- describe and delete */

/* Op i's result for its group: its own, or one carrying the request-level error it met. */
static void *group_result(struct request *r, uint32_t i, bool describe)
{
    struct group_op *op = request_op(r, i);
    Ringlog__Response *a = answer_of(op);
    if (a && describe && a->body_case == RINGLOG__RESPONSE__BODY_DESCRIBE_GROUPS &&
        a->describe_groups->n_groups == 1)
        return a->describe_groups->groups[0];
    if (a && !describe && a->body_case == RINGLOG__RESPONSE__BODY_DELETE_GROUPS &&
        a->delete_groups->n_groups == 1)
        return a->delete_groups->groups[0];
    int error = a ? (int)a->error : RINGLOG__ERROR_CODE__UNKNOWN;
    const char *message = a ? a->error_message : "out of memory";
    if (describe) {
        Ringlog__DescribedGroup *d = request_alloc(r, sizeof(*d));
        if (d) {
            ringlog__described_group__init(d);
            d->group = (char *)op->call.group;
            d->error = error ? error : RINGLOG__ERROR_CODE__UNKNOWN;
            d->error_message = (char *)message;
        }
        return d;
    }
    Ringlog__TopicResult *t = request_alloc(r, sizeof(*t));
    if (t) {
        ringlog__topic_result__init(t);
        t->name = (char *)op->call.group;
        t->error = error ? error : RINGLOG__ERROR_CODE__UNKNOWN;
        t->error_message = (char *)message;
    }
    return t;
}

static void per_group_done(struct request *r)
{
    bool describe = r->msg->body_case == RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS;
    void **results = request_alloc(r, (r->op_count + 1) * sizeof(*results));
    for (uint32_t i = 0; results && i < r->op_count; i++)
        if ((results[i] = group_result(r, i, describe)) == NULL)
            results = NULL;
    if (results == NULL) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    if (describe) {
        Ringlog__DescribeGroupsResponse *d = request_alloc(r, sizeof(*d));
        if (d == NULL) {
            request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
        ringlog__describe_groups_response__init(d);
        d->n_groups = r->op_count;
        d->groups = (Ringlog__DescribedGroup **)results;
        r->resp.body_case = RINGLOG__RESPONSE__BODY_DESCRIBE_GROUPS;
        r->resp.describe_groups = d;
    } else {
        Ringlog__DeleteGroupsResponse *d = request_alloc(r, sizeof(*d));
        if (d == NULL) {
            request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
        ringlog__delete_groups_response__init(d);
        d->n_groups = r->op_count;
        d->groups = (Ringlog__TopicResult **)results;
        r->resp.body_case = RINGLOG__RESPONSE__BODY_DELETE_GROUPS;
        r->resp.delete_groups = d;
    }
    request_complete(r);
}

static void handle_per_group(struct request *r, char **groups, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!rl_group_name_valid(groups[i])) {
            request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, "a group name is not valid");
            return;
        }
    if (!alloc_ops(r, (uint32_t)n))
        return;
    for (uint32_t i = 0; i < n; i++)
        if (!plan_call(r, i, groups[i]))
            return;
    request_start_hops(r, per_group_done);
}

/* -------------------------------------------------------------- list */

static void list_done(struct request *r)
{
    size_t n = 0;
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct group_op *op = request_op(r, i);
        if (op->list)
            op->listed = ringlog__list_groups_response__unpack(NULL, op->list_len, op->list);
        if (op->listed == NULL) {
            request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
        n += op->listed->n_groups;
    }
    Ringlog__ListGroupsResponse *l = request_alloc(r, sizeof(*l));
    Ringlog__ListedGroup **all = request_alloc(r, (n + 1) * sizeof(*all));
    if (l == NULL || all == NULL) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__list_groups_response__init(l);
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct group_op *op = request_op(r, i);
        for (size_t k = 0; k < op->listed->n_groups; k++)
            all[l->n_groups++] = op->listed->groups[k];
    }
    assert(l->n_groups == n);
    l->groups = all;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_LIST_GROUPS;
    r->resp.list_groups = l;
    request_complete(r);
}

static void handle_list_groups(struct request *r)
{
    int n = r->shard->srv->nshards;
    if (!alloc_ops(r, (uint32_t)n))
        return;
    for (int i = 0; i < n; i++) {
        struct group_op *op = request_op(r, (uint32_t)i);
        op->hop.owner = i;
        op->hop.run = list_run;
    }
    request_start_hops(r, list_done);
}

/* --------------------------------------------------- find coordinator */

/*
 * The coordinator of a group on a cluster: the leader of its partition of
 * __groups, as this broker knows it (a replica here knows the leader; a
 * broker without one names the preferred replica, which answers
 * NOT_COORDINATOR if it does not lead, and the client asks again). Fills
 * f's node, host and port; false while there is none (no __groups yet, an
 * election running).
 */
static bool cluster_coordinator(struct server *srv, uint32_t partition,
                                Ringlog__FindCoordinatorResponse *f)
{
    const struct topic_info *t =
        topic_table_find(topic_registry_snapshot(&srv->topics), GROUPS_TOPIC);
    if (t == NULL || partition >= t->partitions)
        return false;
    const struct partition_stats *st = &t->stats[partition];
    int32_t reps[TOPIC_MAX_REPLICAS];
    int32_t leader = atomic_load(&st->leader);
    if (!atomic_load(&st->online))
        leader = topic_replicas(t, partition, reps) > 0 ? reps[0] : -1;
    for (int i = 0; leader >= 0 && i < srv->cfg.peer_count; i++) {
        const struct peer *p = &srv->cfg.peers[i];
        if (p->node_id != leader)
            continue;
        f->node_id = leader;
        f->host = leader == srv->cfg.node_id ? (char *)srv->cfg.listen_host : (char *)p->host;
        f->port = leader == srv->cfg.node_id ? srv->listen_port : p->port;
        return true;
    }
    return false;
}

static void handle_find_coordinator(struct request *r)
{
    const char *group = r->msg->find_coordinator->group;
    struct server *srv = r->shard->srv;
    Ringlog__FindCoordinatorResponse *f = request_alloc(r, sizeof(*f));
    if (f == NULL) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__find_coordinator_response__init(f);
    if (!rl_group_name_valid(group)) {
        f->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
        f->error_message = "the group name is not valid";
    } else if (srv->cluster) {
        f->partition = groups_partition_of(group);
        f->error_message = "";
        if (!cluster_coordinator(srv, f->partition, f)) {
            f->error = RINGLOG__ERROR_CODE__NOT_COORDINATOR;
            f->error_message = "no coordinator for the group yet (__groups is being created, "
                               "or its partition is electing a leader): ask again";
        }
    } else {
        f->error_message = "";
        f->node_id = srv->cfg.node_id;
        f->host = srv->cfg.listen_host;
        f->port = srv->listen_port;
        f->partition = groups_partition_of(group);
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_FIND_COORDINATOR;
    r->resp.find_coordinator = f;
    request_complete(r);
}

void handle_group(struct request *r)
{
    Ringlog__Request *m = r->msg;
    switch (m->body_case) {
    case RINGLOG__REQUEST__BODY_FIND_COORDINATOR:
        handle_find_coordinator(r);
        break;
    case RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT:
        handle_group_call(r, m->group_heartbeat->group);
        break;
    case RINGLOG__REQUEST__BODY_OFFSET_COMMIT:
        handle_group_call(r, m->offset_commit->group);
        break;
    case RINGLOG__REQUEST__BODY_OFFSET_FETCH:
        handle_group_call(r, m->offset_fetch->group);
        break;
    case RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS:
        handle_per_group(r, m->describe_groups->groups, m->describe_groups->n_groups);
        break;
    case RINGLOG__REQUEST__BODY_DELETE_GROUPS:
        handle_per_group(r, m->delete_groups->groups, m->delete_groups->n_groups);
        break;
    default:
        assert(m->body_case == RINGLOG__REQUEST__BODY_LIST_GROUPS);
        handle_list_groups(r);
        break;
    }
}
