/*
 * ListOffsets, both sides of the hop: the earliest or latest offset of each
 * partition named, or the first record at or after a time.
 */
#include <assert.h>
#include <stdlib.h>

#include "handlers.h"
#include "partition/partition.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

struct list_op {
    struct hop hop; /* first: request_op */
    const char *topic;
    uint32_t partition;
    struct partition_list_offsets call;
    int error; /* wire ErrorCode of the owner's answer */
};

/* ------------------------------------------------------------- owner */

static void list_called(struct partition_list_offsets *pl)
{
    struct list_op *op = rl_container_of(pl, struct list_op, call);
    op->error = wire_error_from_partition(&pl->result);
    hop_return(&shard_current()->loop, &op->hop);
}

static void list_run(struct hop *hop)
{
    struct list_op *op = (struct list_op *)hop;
    struct partition *p = request_owner_partition(hop, op->topic, op->partition, &op->error,
                                                  &op->call.result.message);
    if (p != NULL) {
        op->call.done = list_called;
        partition_list_offsets(p, &op->call);
    }
}

/* ------------------------------------------------------------ origin */

static void list_offsets_done(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct list_op *op = request_op(r, i);
        Ringlog__ListOffsetsPartitionResult *res = r->results[i];
        if (op->hop.owner >= 0) {
            res->error = op->error;
            res->offset = op->error ? -1 : op->call.offset;
            res->timestamp = op->error ? -1 : op->call.found_timestamp;
        }
        res->error_message = wire_error_message(res->error, op->call.result.message);
        request_count_partition_error(r, res->error);
    }
    request_complete(r);
}

/* Fills the op of one partition, or its result's error when it cannot be sent. */
static void list_plan(struct request *r, uint32_t i, const struct topic_info *ti,
                      const Ringlog__ListOffsetsPartition *lp, const char *topic)
{
    struct list_op *op = request_op(r, i);
    Ringlog__ListOffsetsPartitionResult *pr = r->results[i];
    pr->error = request_route(r, &op->hop, ti, lp->partition, list_run);
    if (pr->error != RINGLOG__ERROR_CODE__NONE)
        return;
    op->topic = topic;
    op->partition = lp->partition;
    op->call.timestamp = lp->timestamp;
    op->call.read_committed =
        r->msg->list_offsets->isolation == RINGLOG__ISOLATION_LEVEL__ISOLATION_HIGH_WATERMARK;
}

static Ringlog__ListOffsetsPartitionResult *list_slot(struct request *r, uint32_t partition)
{
    Ringlog__ListOffsetsPartitionResult *pr = request_alloc(r, sizeof(*pr));
    if (pr == NULL)
        return NULL;
    ringlog__list_offsets_partition_result__init(pr);
    pr->partition = partition;
    pr->offset = -1;
    pr->timestamp = -1;
    return pr;
}

/* Builds the response skeleton and one op per partition; false when out of memory. */
static bool list_build(struct request *r, Ringlog__ListOffsetsResponse *resp)
{
    Ringlog__ListOffsetsRequest *req = r->msg->list_offsets;
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    if (resp->topics == NULL)
        return false;
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__ListOffsetsTopic *lt = req->topics[t];
        Ringlog__ListOffsetsTopicResult *tr = request_alloc(r, sizeof(*tr));
        Ringlog__ListOffsetsPartitionResult **slots =
            request_alloc(r, (lt->n_partitions + 1) * sizeof(*slots));
        if (tr == NULL || slots == NULL)
            return false;
        ringlog__list_offsets_topic_result__init(tr);
        tr->topic = lt->topic;
        tr->n_partitions = lt->n_partitions;
        tr->partitions = slots;
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, lt->topic);
        for (size_t p = 0; p < lt->n_partitions; p++, i++) {
            slots[p] = r->results[i] = list_slot(r, lt->partitions[p]->partition);
            if (slots[p] == NULL)
                return false;
            list_plan(r, i, ti, lt->partitions[p], lt->topic);
        }
    }
    assert(i == r->op_count);
    return true;
}

void handle_list_offsets(struct request *r)
{
    Ringlog__ListOffsetsRequest *req = r->msg->list_offsets;
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    Ringlog__ListOffsetsResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp || request_alloc_ops(r, n, sizeof(struct list_op)) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__list_offsets_response__init(resp);
    if (!list_build(r, resp)) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_LIST_OFFSETS;
    r->resp.list_offsets = resp;
    request_start_hops(r, list_offsets_done);
}
