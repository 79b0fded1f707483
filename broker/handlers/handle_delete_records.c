/*
 * DeleteRecords: a partition's log start moves to an offset at or below
 * its high watermark (partition_delete_records). On a single broker each
 * partition is a hop to its owner, answered once the new start is durable.
 * On a cluster each partition becomes a controller record (a topic job on
 * shard 0, one partition at a time) that every replica applies once its
 * high watermark reaches the offset (and refuses reads below it at once);
 * the answer comes once the record is applied on the controller and every
 * live broker (controller_applied.c), with the offset as the new low
 * watermark.
 * Only the partition's leader knows its high watermark: where this broker
 * leads the partition it checks the offset (and resolves -1), elsewhere
 * the client has (ringlog_admin_delete_records asks the leader first).
 */
#include <assert.h>
#include <stdatomic.h>

#include "errors.h"
#include "handlers.h"
#include "partition/partition.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "topic_job.h"
#include "wire_errors.h"

struct delete_op {
    struct hop hop; /* first: request_op */
    const char *topic;
    uint32_t partition;
    struct partition_delete_records call;
    int error;
};

/* Every partition's result slot, in request order (topic-major). */
static Ringlog__DeleteRecordsPartitionResult **build(struct request *r, uint32_t n)
{
    const Ringlog__DeleteRecordsRequest *req = r->msg->delete_records;
    Ringlog__DeleteRecordsResponse *resp = request_alloc(r, sizeof(*resp));
    Ringlog__DeleteRecordsTopicResult **topics =
        request_alloc(r, (req->n_topics + 1) * sizeof(*topics));
    Ringlog__DeleteRecordsPartitionResult **all = request_alloc(r, (n + 1) * sizeof(*all));
    if (!resp || !topics || !all)
        return NULL;
    ringlog__delete_records_response__init(resp);
    uint32_t i = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        const Ringlog__DeleteRecordsTopic *dt = req->topics[t];
        topics[t] = request_alloc(r, sizeof(*topics[t]));
        if (!topics[t])
            return NULL;
        ringlog__delete_records_topic_result__init(topics[t]);
        topics[t]->topic = dt->topic;
        topics[t]->n_partitions = dt->n_partitions;
        topics[t]->partitions = all + i;
        for (size_t p = 0; p < dt->n_partitions; p++, i++) {
            all[i] = request_alloc(r, sizeof(*all[i]));
            if (!all[i])
                return NULL;
            ringlog__delete_records_partition_result__init(all[i]);
            all[i]->partition = dt->partitions[p]->partition;
            all[i]->low_watermark = -1;
            all[i]->error_message = "";
        }
    }
    assert(i == n);
    resp->n_topics = req->n_topics;
    resp->topics = topics;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_DELETE_RECORDS;
    r->resp.delete_records = resp;
    return all;
}

/* The i-th partition of the request: its topic and what it asks. */
static const Ringlog__DeleteRecordsPartition *nth(const struct request *r, uint32_t i,
                                                  const char **topic)
{
    const Ringlog__DeleteRecordsRequest *req = r->msg->delete_records;
    for (size_t t = 0; t < req->n_topics; t++) {
        if (i < req->topics[t]->n_partitions) {
            *topic = req->topics[t]->topic ? req->topics[t]->topic : "";
            return req->topics[t]->partitions[i];
        }
        i -= (uint32_t)req->topics[t]->n_partitions;
    }
    assert(!"partition index past the request");
    return NULL;
}

/* ------------------------------------------------------ single broker */

static void deleted(struct partition_delete_records *pd)
{
    struct delete_op *op = rl_container_of(pd, struct delete_op, call);
    op->error = wire_error_from_partition(&pd->result);
    hop_return(&shard_current()->loop, &op->hop);
}

static void delete_run(struct hop *hop)
{
    struct delete_op *op = (struct delete_op *)hop;
    struct partition *p = request_owner_partition(hop, op->topic, op->partition, &op->error,
                                                  &op->call.result.message);
    if (p != NULL) {
        op->call.done = deleted;
        partition_delete_records(p, &op->call);
    }
}

static void local_done(struct request *r)
{
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct delete_op *op = request_op(r, i);
        Ringlog__DeleteRecordsPartitionResult *res = r->results[i];
        if (op->hop.owner >= 0) {
            res->error = op->error;
            res->low_watermark = op->call.result.log_start;
        }
        res->error_message = wire_error_message(res->error, op->call.result.message);
        request_count_partition_error(r, res->error);
    }
    request_complete(r);
}

static void delete_local(struct request *r, uint32_t n)
{
    Ringlog__DeleteRecordsPartitionResult **all = build(r, n);
    if (!all || request_alloc_ops(r, n, sizeof(struct delete_op)) != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    const struct topic_table *table = topic_registry_snapshot(&r->shard->srv->topics);
    for (uint32_t i = 0; i < n; i++) {
        struct delete_op *op = request_op(r, i);
        const Ringlog__DeleteRecordsPartition *dp = nth(r, i, &op->topic);
        r->results[i] = all[i];
        all[i]->error = request_route(r, &op->hop, topic_table_find(table, op->topic),
                                      dp->partition, delete_run);
        op->partition = dp->partition;
        op->call.offset = dp->offset;
    }
    request_start_hops(r, local_done);
}

/* ------------------------------------------------------------ cluster */

/*
 * The offset to propose, or an error. Where this broker leads the partition
 * it resolves -1 (its high watermark) and refuses offsets past its log end
 * (which holds every committed offset: a leader just elected may not know
 * its commit yet, and the client checked the high watermark already).
 */
static int cluster_offset(const struct server *srv, const struct topic_info *t, uint32_t partition,
                          int64_t asked, int64_t *offset)
{
    const struct partition_stats *st = &t->stats[partition];
    bool leads = atomic_load(&st->online) && atomic_load(&st->leader) == srv->cfg.node_id;
    *offset = asked == -1 && leads ? atomic_load(&st->high_watermark) : asked;
    if (*offset < 0 || (leads && *offset > atomic_load(&st->log_end)))
        return RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE;
    return RINGLOG__ERROR_CODE__NONE;
}

/* The request's timeout_ms (0: 30 s): how long the replicas have to apply a new start. */
static int64_t timeout_of(const struct request *r)
{
    uint32_t ms = r->msg->delete_records->timeout_ms;
    return ms > 0 ? ms : 30000;
}

static void cluster_begin(struct topic_job *job)
{
    struct shard *s = shard_current();
    const char *name;
    const Ringlog__DeleteRecordsPartition *dp = nth(job->r, (uint32_t)job->next, &name);
    ((int64_t *)job->ctx)[job->next] = -1;
    if (topic_job_not_controller(job))
        return;
    const struct topic_info *t = topic_table_find(topic_registry_snapshot(&s->srv->topics), name);
    int64_t offset = -1;
    int error = wire_error_partition_known(t, dp->partition);
    if (error == RINGLOG__ERROR_CODE__NONE)
        error = cluster_offset(s->srv, t, dp->partition, dp->offset, &offset);
    ((int64_t *)job->ctx)[job->next] = offset; /* the low watermark once applied */
    if (error == RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE)
        topic_job_answer(job, error,
                         "the offset must be between 0 and the high watermark (-1 is resolved by "
                         "the partition's leader only)");
    else if (error != RINGLOG__ERROR_CODE__NONE)
        topic_job_answer(job, error, NULL);
    else
        controller_delete_records(s, topic_job_call(job), t, dp->partition, offset,
                                  timeout_of(job->r));
}

static void cluster_finish(struct topic_job *job)
{
    const Ringlog__DeleteRecordsResponse *resp = job->r->resp.delete_records;
    uint32_t i = 0;
    for (size_t t = 0; t < resp->n_topics; t++)
        for (size_t p = 0; p < resp->topics[t]->n_partitions; p++, i++) {
            Ringlog__DeleteRecordsPartitionResult *res = resp->topics[t]->partitions[p];
            res->error = job->results[i]->error;
            res->error_message = job->results[i]->error_message;
            res->low_watermark = res->error ? -1 : ((int64_t *)job->ctx)[i];
            request_count_partition_error(job->r, res->error);
        }
}

static void delete_cluster(struct request *r, uint32_t n)
{
    int64_t *offsets = request_alloc(r, (n + 1) * sizeof(int64_t));
    struct topic_job *job = offsets && build(r, n) ? topic_job_new(r, n) : NULL;
    if (!job) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    job->ctx = offsets;
    job->begin = cluster_begin;
    job->finish = cluster_finish;
    topic_job_run(job);
}

void handle_delete_records(struct request *r)
{
    assert(r->msg->body_case == RINGLOG__REQUEST__BODY_DELETE_RECORDS);
    const Ringlog__DeleteRecordsRequest *req = r->msg->delete_records;
    uint32_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += (uint32_t)req->topics[t]->n_partitions;
    if (r->shard->srv->cluster)
        delete_cluster(r, n);
    else
        delete_local(r, n);
}
