/*
 * CreatePartitions: a topic grows to `count` partitions (never shrinks:
 * INVALID_PARTITIONS). A topic job (topic_job.h) on shard 0: a single
 * broker opens the new partitions on their owners and publishes the topic
 * (topic_change.h); a cluster proposes the new partitions' replicas,
 * placed as at create, to the controller. Producers and consumers see the
 * new count at their next metadata refresh.
 */
#include <assert.h>

#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "topic_job.h"

static void partitions_begin(struct topic_job *job)
{
    struct shard *s = shard_current();
    const Ringlog__CreatePartitionsRequest *req = job->r->msg->create_partitions;
    const Ringlog__CreatePartitionsTopic *ct = req->topics[job->next];
    const struct topic_info *t =
        topic_table_find(topic_registry_snapshot(&s->srv->topics), ct->topic ? ct->topic : "");
    if (topic_job_not_controller(job))
        return;
    if (!t)
        topic_job_answer(job, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC, NULL);
    else if (ct->count <= t->partitions)
        topic_job_answer(
            job, RINGLOG__ERROR_CODE__INVALID_PARTITIONS,
            ct->count == t->partitions
                ? "the topic already has that many partitions"
                : "partitions can only be added: the count must exceed the current one");
    else if (ct->count > TOPIC_MAX_PARTITIONS)
        topic_job_answer(job, RINGLOG__ERROR_CODE__INVALID_PARTITIONS,
                         "at most 10000 partitions per topic");
    else if (req->validate_only)
        topic_job_answer(job, RINGLOG__ERROR_CODE__NONE, "");
    else if (s->srv->cluster)
        controller_add_partitions(s, topic_job_call(job), t, ct->count);
    else
        topic_change_partitions(topic_job_change(job), t, ct->count, NULL, true);
}

void handle_create_partitions(struct request *r)
{
    const Ringlog__CreatePartitionsRequest *req = r->msg->create_partitions;
    assert(r->msg->body_case == RINGLOG__REQUEST__BODY_CREATE_PARTITIONS);
    Ringlog__CreatePartitionsResponse *resp = request_alloc(r, sizeof(*resp));
    struct topic_job *job = resp ? topic_job_new(r, req->n_topics) : NULL;
    if (!job) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__create_partitions_response__init(resp);
    for (size_t i = 0; i < req->n_topics; i++)
        job->results[i]->name = req->topics[i]->topic;
    resp->n_topics = req->n_topics;
    resp->topics = job->results;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_CREATE_PARTITIONS;
    r->resp.create_partitions = resp;
    job->begin = partitions_begin;
    topic_job_run(job);
}
