/*
 * Fetch, both sides of the hop, and long polls. A fetch that finds fewer
 * than min_bytes parks until data arrives or max_wait_ms passes: it sets
 * its shard's bit in the watched partitions' `watchers` mask, and the
 * owner, when the high watermark moves, wakes every shard in the mask
 * (loop_wake), which then re-runs its parked fetches (fetch_recheck_parked,
 * the shard's on_wake hook). Setting the bit and then re-reading the high
 * watermark closes the race with an append that lands in between.
 */
#include <assert.h>
#include <stdlib.h>

#include "handlers.h"
#include "io/clock.h"
#include "partition/partition.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

/* The limits a fetch gets for a max_bytes of 0 (docs/PROTOCOL.md). */
enum { FETCH_DEFAULT_PARTITION_BYTES = 1 << 20, FETCH_DEFAULT_TOTAL_BYTES = 64 << 20 };

struct fetch_op {
    struct hop hop; /* first: request_op */
    const char *topic;
    uint32_t partition;
    struct partition_fetch call;
    int error; /* wire ErrorCode of the owner's answer */
};

/* ------------------------------------------------------------- owner */

static void fetch_called(struct partition_fetch *pf)
{
    struct fetch_op *op = rl_container_of(pf, struct fetch_op, call);
    op->error = wire_error_from_partition(&pf->result);
    hop_return(&shard_current()->loop, &op->hop);
}

static void fetch_run(struct hop *hop)
{
    struct fetch_op *op = (struct fetch_op *)hop;
    struct partition *p = request_owner_partition(hop, op->topic, op->partition, &op->error,
                                                  &op->call.result.message);
    if (p != NULL) {
        op->call.done = fetch_called;
        partition_fetch(p, &op->call);
    }
}

/* ------------------------------------------------------------ origin */

static bool fetch_read_committed(const struct request *r)
{
    return r->msg->fetch->isolation == RINGLOG__ISOLATION_LEVEL__ISOLATION_HIGH_WATERMARK;
}

static void fetch_respond(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct fetch_op *op = request_op(r, i);
        Ringlog__FetchPartitionResult *res = r->results[i];
        if (op->hop.owner >= 0) {
            res->error = op->error;
            res->high_watermark = op->call.result.high_watermark;
            res->log_start_offset = op->call.result.log_start;
            res->log_end_offset = op->call.result.log_end;
            res->records.data = op->call.records;
            res->records.len = op->call.records_len;
        }
        res->error_message = wire_error_message(res->error, op->call.result.message);
        request_count_partition_error(r, res->error);
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
        struct fetch_op *op = request_op(r, i);
        if (op->hop.owner < 0)
            continue;
        struct topic_info *ti = topic_table_find(table, op->topic);
        if (!ti || op->partition >= ti->partitions)
            return true; /* deleted meanwhile: answer now */
        struct partition_stats *st = &ti->stats[op->partition];
        int64_t limit =
            op->call.read_committed ? atomic_load(&st->high_watermark) : atomic_load(&st->log_end);
        if (limit > op->call.offset)
            return true;
    }
    return false;
}

static void fetch_watch(struct request *r)
{
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    uint64_t bit = 1ull << r->shard->loop.id;
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct fetch_op *op = request_op(r, i);
        struct topic_info *ti = op->hop.owner >= 0 ? topic_table_find(table, op->topic) : NULL;
        if (ti && op->partition < ti->partitions)
            atomic_fetch_or(&ti->stats[op->partition].watchers, bit);
    }
}

static void fetch_reissue(struct request *r);

/*
 * The request's max_bytes across partitions, as Kafka applies it: in the
 * order the request names them, each partition keeps the whole batches that
 * fit in both its own limit and what the request has left; the first
 * partition with data keeps at least its first batch, however large, so a
 * consumer always progresses. The owners read in parallel, each already
 * within its own limit, so this only shortens what they read. Returns the
 * bytes kept.
 */
static size_t fetch_apply_total(struct request *r)
{
    Ringlog__FetchRequest *req = r->msg->fetch;
    size_t left = req->max_bytes ? req->max_bytes : FETCH_DEFAULT_TOTAL_BYTES;
    size_t total = 0;
    bool first = true;
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct fetch_op *op = request_op(r, i);
        if (op->call.records_len == 0)
            continue;
        size_t limit = op->call.max_bytes < left ? op->call.max_bytes : left;
        size_t keep =
            partition_batches_within(op->call.records, op->call.records_len, limit, first);
        assert(keep <= op->call.records_len);
        op->call.records_len = keep;
        left -= keep < left ? keep : left;
        total += keep;
        first = first && keep == 0;
    }
    return total;
}

static void fetch_all_done(struct request *r)
{
    struct shard *s = r->shard;
    size_t total = fetch_apply_total(r);
    bool errors = false;
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct fetch_op *op = request_op(r, i);
        if (op->error || op->hop.owner < 0)
            errors = true;
    }
    uint32_t min_bytes = r->msg->fetch->min_bytes;
    if (total >= min_bytes || errors || s->loop.now_ms >= r->deadline_ms || s->stopping ||
        conn_is_closing(r->conn)) {
        fetch_respond(r);
        return;
    }
    fetch_watch(r);
    if (fetch_has_news(r)) {
        fetch_reissue(r);
        return;
    }
    assert(!r->parked);
    r->parked = true;
    r->park_next = s->parked;
    s->parked = r;
}

/* Frees what the owners read (on the origin, once the response is sent). */
static void fetch_release(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct fetch_op *op = request_op(r, i);
        free(op->call.records);
        op->call.records = NULL;
        op->call.records_len = 0;
    }
}

static void fetch_reissue(struct request *r)
{
    fetch_release(r);
    request_start_hops(r, fetch_all_done);
}

void fetch_recheck_parked(struct shard *s, bool deadlines_only)
{
    struct request *list = s->parked;
    s->parked = NULL;
    while (list) {
        struct request *r = list;
        list = r->park_next;
        r->parked = false;
        bool expired = s->loop.now_ms >= r->deadline_ms || s->stopping || conn_is_closing(r->conn);
        if (expired || (!deadlines_only && fetch_has_news(r))) {
            fetch_reissue(r);
        } else {
            r->parked = true;
            r->park_next = s->parked;
            s->parked = r;
        }
    }
}

/* Fills the op of one partition, or its result's error when it cannot be sent. */
static void fetch_plan(struct request *r, uint32_t i, const struct topic_info *ti,
                       const Ringlog__FetchPartition *fp, const char *topic, uint32_t total_max)
{
    struct fetch_op *op = request_op(r, i);
    Ringlog__FetchPartitionResult *pr = r->results[i];
    pr->error = request_route(r, &op->hop, ti, fp->partition, fetch_run);
    if (pr->error != RINGLOG__ERROR_CODE__NONE)
        return;
    op->topic = topic;
    op->partition = fp->partition;
    op->call.offset = fp->fetch_offset;
    uint32_t cap = fp->max_bytes ? fp->max_bytes : FETCH_DEFAULT_PARTITION_BYTES;
    op->call.max_bytes = cap < total_max ? cap : total_max;
    op->call.read_committed = fetch_read_committed(r);
}

/* A result slot for one partition, its offsets unknown until answered. */
static Ringlog__FetchPartitionResult *fetch_slot(struct request *r, uint32_t partition)
{
    Ringlog__FetchPartitionResult *pr = request_alloc(r, sizeof(*pr));
    if (pr == NULL)
        return NULL;
    ringlog__fetch_partition_result__init(pr);
    pr->partition = partition;
    pr->high_watermark = -1;
    pr->log_start_offset = -1;
    pr->log_end_offset = -1;
    return pr;
}

/* Builds the response skeleton and one op per partition; false when out of memory. */
static bool fetch_build(struct request *r, Ringlog__FetchResponse *resp)
{
    Ringlog__FetchRequest *req = r->msg->fetch;
    uint32_t total_max = req->max_bytes ? req->max_bytes : FETCH_DEFAULT_TOTAL_BYTES;
    struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    if (resp->topics == NULL)
        return false;
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__FetchTopic *ft = req->topics[t];
        Ringlog__FetchTopicResult *tr = request_alloc(r, sizeof(*tr));
        Ringlog__FetchPartitionResult **slots =
            request_alloc(r, (ft->n_partitions + 1) * sizeof(*slots));
        if (tr == NULL || slots == NULL)
            return false;
        ringlog__fetch_topic_result__init(tr);
        tr->topic = ft->topic;
        tr->n_partitions = ft->n_partitions;
        tr->partitions = slots;
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, ft->topic);
        for (size_t p = 0; p < ft->n_partitions; p++, i++) {
            slots[p] = r->results[i] = fetch_slot(r, ft->partitions[p]->partition);
            if (slots[p] == NULL)
                return false;
            fetch_plan(r, i, ti, ft->partitions[p], ft->topic, total_max);
        }
    }
    assert(i == r->op_count);
    return true;
}

void handle_fetch(struct request *r)
{
    Ringlog__FetchRequest *req = r->msg->fetch;
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    Ringlog__FetchResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp || request_alloc_ops(r, n, sizeof(struct fetch_op)) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    r->release_ops = fetch_release;
    ringlog__fetch_response__init(resp);
    if (!fetch_build(r, resp)) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    r->deadline_ms = r->shard->loop.now_ms + req->max_wait_ms;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_FETCH;
    r->resp.fetch = resp;
    request_start_hops(r, fetch_all_done);
}
