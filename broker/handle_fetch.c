/*
 * Fetch and ListOffsets. A fetch that finds fewer than min_bytes parks
 * until data arrives or max_wait_ms passes: it sets its shard's bit in the
 * watched partitions' `watchers` mask, and the owner, when the high
 * watermark moves, wakes every shard in the mask (shard_wake), which then
 * re-runs its parked fetches. Setting the bit and then re-reading the high
 * watermark closes the race with an append that lands in between.
 */
#include <stdlib.h>

#include "conn.h"
#include "handlers.h"
#include "request.h"
#include "server.h"

static bool fetch_read_committed(const struct request *r)
{
    return r->msg->fetch->isolation == RINGLOG__ISOLATION_LEVEL__ISOLATION_HIGH_WATERMARK;
}

static void fetch_respond(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        Ringlog__FetchPartitionResult *res = r->results[i];
        if (op->owner >= 0) {
            res->error = op->error;
            res->high_watermark = op->high_watermark;
            res->log_start_offset = op->log_start;
            res->log_end_offset = op->log_end;
            res->records.data = op->records;
            res->records.len = op->records_len;
        }
        res->error_message = result_error_message(res->error, op->error_message);
    }
    metrics_observe(&r->shard->metrics.fetch_latency,
                    (clock_monotonic_ns() - r->started_ns) / 1000);
    request_complete(r);
}

/* True when some watched partition has data past what the fetch asked for. */
static bool fetch_has_news(struct request *r)
{
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        if (op->owner < 0)
            continue;
        struct topic_info *ti = topic_table_find(table, op->topic);
        if (!ti || op->partition >= ti->partitions)
            return true; /* deleted meanwhile: answer now */
        struct partition_stats *st = &ti->stats[op->partition];
        int64_t limit =
            op->read_committed ? atomic_load(&st->high_watermark) : atomic_load(&st->log_end);
        if (limit > op->fetch_offset)
            return true;
    }
    return false;
}

static void fetch_watch(struct request *r)
{
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    uint64_t bit = 1ull << r->shard->id;
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        struct topic_info *ti = op->owner >= 0 ? topic_table_find(table, op->topic) : NULL;
        if (ti && op->partition < ti->partitions)
            atomic_fetch_or(&ti->stats[op->partition].watchers, bit);
    }
}

static void fetch_reissue(struct request *r);

static void fetch_ops_done(struct request *r)
{
    struct shard *s = r->shard;
    size_t total = 0;
    bool errors = false;
    for (uint32_t i = 0; i < r->op_count; i++) {
        total += r->ops[i].records_len;
        if (r->ops[i].error || (r->ops[i].owner < 0))
            errors = true;
    }
    uint32_t min_bytes = r->msg->fetch->min_bytes;
    if (total >= min_bytes || errors || s->now_ms >= r->deadline_ms || s->stopping ||
        r->conn->closing) {
        fetch_respond(r);
        return;
    }
    fetch_watch(r);
    if (fetch_has_news(r)) {
        fetch_reissue(r);
        return;
    }
    r->parked = true;
    r->park_next = s->parked;
    s->parked = r;
}

static void fetch_reissue(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        free(op->records);
        op->records = NULL;
        op->records_len = 0;
    }
    request_start_ops(r, fetch_ops_done);
}

void fetch_recheck_parked(struct shard *s, bool deadlines_only)
{
    struct request *list = s->parked;
    s->parked = NULL;
    while (list) {
        struct request *r = list;
        list = r->park_next;
        r->parked = false;
        bool expired = s->now_ms >= r->deadline_ms || s->stopping || r->conn->closing;
        if (expired || (!deadlines_only && fetch_has_news(r))) {
            fetch_reissue(r);
        } else {
            r->parked = true;
            r->park_next = s->parked;
            s->parked = r;
        }
    }
}

void handle_fetch(struct request *r)
{
    Ringlog__FetchRequest *req = r->msg->fetch;
    struct server *srv = r->shard->srv;
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    Ringlog__FetchResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp || request_alloc_ops(r, n) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__fetch_response__init(resp);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    uint32_t total_max = req->max_bytes ? req->max_bytes : 64u << 20;
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__FetchTopic *ft = req->topics[t];
        Ringlog__FetchTopicResult *tr = request_alloc(r, sizeof(*tr));
        ringlog__fetch_topic_result__init(tr);
        tr->topic = ft->topic;
        tr->n_partitions = ft->n_partitions;
        tr->partitions = request_alloc(r, (ft->n_partitions + 1) * sizeof(*tr->partitions));
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, ft->topic);
        for (size_t p = 0; p < ft->n_partitions; p++, i++) {
            Ringlog__FetchPartition *fp = ft->partitions[p];
            Ringlog__FetchPartitionResult *pr = request_alloc(r, sizeof(*pr));
            ringlog__fetch_partition_result__init(pr);
            pr->partition = fp->partition;
            pr->high_watermark = -1;
            pr->log_start_offset = -1;
            pr->log_end_offset = -1;
            tr->partitions[p] = pr;
            r->results[i] = pr;
            if (!ti) {
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
                continue;
            }
            if (fp->partition >= ti->partitions) {
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
                continue;
            }
            struct part_op *op = &r->ops[i];
            op->kind = PART_OP_FETCH;
            op->topic = ft->topic;
            op->partition = fp->partition;
            op->fetch_offset = fp->fetch_offset;
            uint32_t cap = fp->max_bytes ? fp->max_bytes : 1u << 20;
            op->max_bytes = cap < total_max ? cap : total_max;
            op->read_committed = fetch_read_committed(r);
            op->owner = topic_partition_owner(ti, fp->partition, srv->nshards);
        }
    }
    r->deadline_ms = r->shard->now_ms + req->max_wait_ms;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_FETCH;
    r->resp.fetch = resp;
    request_start_ops(r, fetch_ops_done);
}

/* --------------------------------------------------------- list offsets */

static void list_offsets_done(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        Ringlog__ListOffsetsPartitionResult *res = r->results[i];
        if (op->owner >= 0) {
            res->error = op->error;
            res->offset = op->error ? -1 : op->offset;
            res->timestamp = op->error ? -1 : op->found_timestamp;
        }
        res->error_message = result_error_message(res->error, op->error_message);
    }
    request_complete(r);
}

void handle_list_offsets(struct request *r)
{
    Ringlog__ListOffsetsRequest *req = r->msg->list_offsets;
    struct server *srv = r->shard->srv;
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    Ringlog__ListOffsetsResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp || request_alloc_ops(r, n) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__list_offsets_response__init(resp);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__ListOffsetsTopic *lt = req->topics[t];
        Ringlog__ListOffsetsTopicResult *tr = request_alloc(r, sizeof(*tr));
        ringlog__list_offsets_topic_result__init(tr);
        tr->topic = lt->topic;
        tr->n_partitions = lt->n_partitions;
        tr->partitions = request_alloc(r, (lt->n_partitions + 1) * sizeof(*tr->partitions));
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, lt->topic);
        for (size_t p = 0; p < lt->n_partitions; p++, i++) {
            Ringlog__ListOffsetsPartition *lp = lt->partitions[p];
            Ringlog__ListOffsetsPartitionResult *pr = request_alloc(r, sizeof(*pr));
            ringlog__list_offsets_partition_result__init(pr);
            pr->partition = lp->partition;
            pr->offset = -1;
            pr->timestamp = -1;
            tr->partitions[p] = pr;
            r->results[i] = pr;
            if (!ti) {
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
                continue;
            }
            if (lp->partition >= ti->partitions) {
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
                continue;
            }
            struct part_op *op = &r->ops[i];
            op->kind = PART_OP_LIST_OFFSETS;
            op->topic = lt->topic;
            op->partition = lp->partition;
            op->timestamp = lp->timestamp;
            op->read_committed =
                req->isolation == RINGLOG__ISOLATION_LEVEL__ISOLATION_HIGH_WATERMARK;
            op->owner = topic_partition_owner(ti, lp->partition, srv->nshards);
        }
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_LIST_OFFSETS;
    r->resp.list_offsets = resp;
    request_start_ops(r, list_offsets_done);
}
