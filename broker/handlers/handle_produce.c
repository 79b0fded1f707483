/*
 * Produce, both sides of the hop. The origin (the connection's shard)
 * makes one op per partition named and sends each to the partition's
 * owner; the owner runs partition_produce and sends the result back; the
 * origin folds the results into the response. The batches ride in the
 * request's own memory (the received frame, parsed in place) until the
 * owner has written them.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "groups/coordinator.h"
#include "handlers.h"
#include "io/clock.h"
#include "partition/partition.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

struct produce_op {
    struct hop hop; /* first: request_op */
    const char *topic;
    uint32_t partition;
    struct partition_produce call;
    int error; /* wire ErrorCode, set on the origin */
    const char *error_message;
};

/* ------------------------------------------------------------- owner */

static void produce_called(struct partition_produce *pp)
{
    struct produce_op *op = rl_container_of(pp, struct produce_op, call);
    struct shard *owner = shard_current();
    assert(owner->loop.id == op->hop.owner);
    op->error = wire_error_from_partition(&pp->result);
    op->error_message = pp->result.message;
    hop_return(&owner->loop, &op->hop);
}

static void produce_run(struct hop *hop)
{
    struct produce_op *op = (struct produce_op *)hop;
    struct partition *p =
        request_owner_partition(hop, op->topic, op->partition, &op->error, &op->error_message);
    if (p != NULL) {
        op->call.done = produce_called;
        partition_produce(p, &op->call);
    }
}

/* ------------------------------------------------------------ origin */

/* Where the client should go instead (NULL when out of memory: it refreshes Metadata). */
static Ringlog__LeaderHint *leader_hint(struct request *r, const struct partition_result *res)
{
    Ringlog__LeaderHint *hint = request_alloc(r, sizeof(*hint));
    if (!hint)
        return NULL;
    ringlog__leader_hint__init(hint);
    hint->leader_id = res->leader_id;
    hint->leader_epoch = res->leader_epoch;
    return hint;
}

static void produce_done(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct produce_op *op = request_op(r, i);
        Ringlog__PartitionProduceResult *res = r->results[i];
        if (op->hop.owner >= 0) {
            res->error = op->error;
            res->log_start_offset = op->call.result.log_start;
        }
        res->error_message = wire_error_message(res->error, op->error_message);
        request_count_partition_error(r, res->error);
        res->base_offset = res->error == RINGLOG__ERROR_CODE__NONE ? op->call.base_offset : -1;
        if (res->error == RINGLOG__ERROR_CODE__NOT_LEADER && op->hop.owner >= 0)
            res->current_leader = leader_hint(r, &op->call.result);
        res->log_append_time = -1;
    }
    metrics_observe(&r->shard->metrics.produce_latency,
                    (clock_monotonic_ns() - r->started_ns) / 1000);
    request_complete(r);
}

/* Fills the op of one partition, or its result's error when it cannot be sent. */
static void produce_plan(struct request *r, struct produce_op *op, const struct topic_info *ti,
                         const Ringlog__PartitionProduceData *pd, const char *topic)
{
    Ringlog__PartitionProduceResult *pr = r->results[op - (struct produce_op *)r->ops];
    if (ti != NULL && strcmp(topic, GROUPS_TOPIC) == 0) {
        /* The consumer groups' state, written by their coordinators only (as Kafka's
         * __consumer_offsets): a client's record there would be loaded as group state. */
        pr->error = RINGLOG__ERROR_CODE__INVALID_TOPIC;
        op->error_message = "__groups is internal (the consumer groups' state)";
        return;
    }
    pr->error = request_route(r, &op->hop, ti, pd->partition, produce_run);
    if (pr->error != RINGLOG__ERROR_CODE__NONE)
        return;
    op->topic = topic;
    op->partition = pd->partition;
    op->call.data = pd->records.data;
    op->call.len = pd->records.len;
    op->call.acks = r->msg->produce->acks;
}

/* Builds the response skeleton and one op per partition; false when out of memory. */
static bool produce_build(struct request *r, Ringlog__ProduceResponse *resp)
{
    Ringlog__ProduceRequest *req = r->msg->produce;
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    if (resp->topics == NULL)
        return false;
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__TopicProduceData *td = req->topics[t];
        Ringlog__TopicProduceResult *tr = request_alloc(r, sizeof(*tr));
        Ringlog__PartitionProduceResult **slots =
            request_alloc(r, (td->n_partitions + 1) * sizeof(*slots));
        if (tr == NULL || slots == NULL)
            return false;
        ringlog__topic_produce_result__init(tr);
        tr->topic = td->topic;
        tr->n_partitions = td->n_partitions;
        tr->partitions = slots;
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, td->topic);
        for (size_t p = 0; p < td->n_partitions; p++, i++) {
            Ringlog__PartitionProduceResult *pr = request_alloc(r, sizeof(*pr));
            if (pr == NULL)
                return false;
            ringlog__partition_produce_result__init(pr);
            pr->partition = td->partitions[p]->partition;
            slots[p] = pr;
            r->results[i] = pr;
            produce_plan(r, request_op(r, i), ti, td->partitions[p], td->topic);
        }
    }
    assert(i == r->op_count);
    return true;
}

void handle_produce(struct request *r)
{
    Ringlog__ProduceRequest *req = r->msg->produce;
    if (req->acks != 0 && req->acks != 1 && req->acks != -1) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, "acks must be 0, 1 or -1");
        return;
    }
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    Ringlog__ProduceResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp || request_alloc_ops(r, n, sizeof(struct produce_op)) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__produce_response__init(resp);
    if (!produce_build(r, resp)) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    r->silent = req->acks == 0;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_PRODUCE;
    r->resp.produce = resp;
    request_start_hops(r, produce_done);
}
