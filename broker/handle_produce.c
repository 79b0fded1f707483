/*
 * Produce: one op per partition, sent to the partition's owner shard. The
 * batches ride in the request's own memory (protobuf-c's copy of the
 * frame) until the owner has written them.
 */
#include <stdlib.h>

#include "handlers.h"
#include "request.h"
#include "server.h"

static void produce_done(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        Ringlog__PartitionProduceResult *res = r->results[i];
        if (op->owner >= 0) {
            res->error = op->error;
            res->log_start_offset = op->log_start;
        }
        res->error_message = result_error_message(res->error, op->error_message);
        res->base_offset = res->error == RINGLOG__ERROR_CODE__NONE ? op->base_offset : -1;
        res->log_append_time = -1;
    }
    metrics_observe(&r->shard->metrics.produce_latency,
                    (clock_monotonic_ns() - r->started_ns) / 1000);
    request_complete(r);
}

void handle_produce(struct request *r)
{
    Ringlog__ProduceRequest *req = r->msg->produce;
    struct server *srv = r->shard->srv;
    if (req->acks != 0 && req->acks != 1 && req->acks != -1) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, "acks must be 0, 1 or -1");
        return;
    }
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    Ringlog__ProduceResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp || request_alloc_ops(r, n) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__produce_response__init(resp);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__TopicProduceData *td = req->topics[t];
        Ringlog__TopicProduceResult *tr = request_alloc(r, sizeof(*tr));
        ringlog__topic_produce_result__init(tr);
        tr->topic = td->topic;
        tr->n_partitions = td->n_partitions;
        tr->partitions = request_alloc(r, (td->n_partitions + 1) * sizeof(*tr->partitions));
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, td->topic);
        for (size_t p = 0; p < td->n_partitions; p++, i++) {
            Ringlog__PartitionProduceData *pd = td->partitions[p];
            Ringlog__PartitionProduceResult *pr = request_alloc(r, sizeof(*pr));
            ringlog__partition_produce_result__init(pr);
            pr->partition = pd->partition;
            tr->partitions[p] = pr;
            r->results[i] = pr;
            struct part_op *op = &r->ops[i];
            if (!ti) {
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
                continue;
            }
            if (pd->partition >= ti->partitions) {
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
                continue;
            }
            op->kind = PART_OP_PRODUCE;
            op->topic = td->topic;
            op->partition = pd->partition;
            op->data = pd->records.data;
            op->len = pd->records.len;
            op->acks = req->acks;
            op->owner = topic_partition_owner(ti, pd->partition, srv->nshards);
        }
    }
    r->silent = req->acks == 0;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_PRODUCE;
    r->resp.produce = resp;
    request_start_ops(r, produce_done);
}
