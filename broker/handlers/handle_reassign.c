/*
 * ReassignPartitions and DecommissionBroker (PROTOCOL.md "Cluster
 * operations"). Both are the controller's: the receiving shard hops the
 * request to shard 0, which proposes the reassignment record there
 * (controller_reassign / controller_decommission) and hops back once it is
 * applied, or at once with NOT_CONTROLLER on a broker that does not lead
 * the metadata log. Both sides of the hop live in this file.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "errors.h"
#include "fault_alloc.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"

struct reassign_job {
    struct hop hop;
    struct request *r;
    bool decommission;
    struct controller_call call;
    struct controller_move *moves; /* the request's, or the decommission's plan (malloc) */
    uint32_t count;
    int error; /* the call's: a wire ErrorCode */
    const char *message;
};

/* ------------------------------------------------ shard 0 side */

static void call_done(struct controller_call *c)
{
    struct reassign_job *job = rl_container_of(c, struct reassign_job, call);
    job->error = c->error;
    job->message = c->message;
    hop_return(&shard_current()->loop, &job->hop);
}

static void job_run(struct hop *hop)
{
    struct reassign_job *job = (struct reassign_job *)hop;
    struct shard *s = shard_current();
    assert(s->loop.id == 0);
    job->call.done = call_done;
    if (!s->srv->cluster || !s->controller) {
        job->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
        job->message = "this broker runs alone (no --peers): there is nothing to move between";
        hop_return(&s->loop, hop);
    } else if (job->decommission) {
        controller_decommission(s, &job->call, job->r->msg->decommission_broker->node_id,
                                &job->moves, &job->count);
    } else {
        controller_reassign(s, &job->call, job->moves, job->count);
    }
}

/* ------------------------------------------------ receiving side */

static Ringlog__PartitionMove *move_out(struct request *r, const struct controller_move *m)
{
    Ringlog__PartitionMove *pm = request_alloc(r, sizeof(*pm));
    int32_t *reps = request_alloc(r, (m->count ? m->count : 1) * sizeof(int32_t));
    size_t len = strlen(m->topic) + 1;
    char *topic = request_alloc(r, len); /* the plan's memory goes before the answer is packed */
    if (!pm || !reps || !topic)
        return NULL;
    memcpy(topic, m->topic, len);
    ringlog__partition_move__init(pm);
    pm->topic = topic;
    pm->partition = m->partition;
    memcpy(reps, m->replicas, m->count * sizeof(int32_t));
    pm->n_replicas = m->count;
    pm->replicas = reps;
    return pm;
}

static bool answer_decommission(struct request *r, struct reassign_job *job)
{
    Ringlog__DecommissionBrokerResponse *resp = request_alloc(r, sizeof(*resp));
    Ringlog__PartitionMove **moves = request_alloc(r, (job->count + 1) * sizeof(*moves));
    if (!resp || !moves)
        return false;
    ringlog__decommission_broker_response__init(resp);
    resp->error = job->error;
    resp->error_message =
        (char *)(job->error ? (job->message ? job->message : rl_error_message(job->error)) : "");
    for (uint32_t i = 0; job->error == 0 && i < job->count; i++)
        if ((moves[resp->n_moves++] = move_out(r, &job->moves[i])) == NULL)
            return false;
    resp->moves = moves;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_DECOMMISSION_BROKER;
    r->resp.decommission_broker = resp;
    return true;
}

static bool answer_reassign(struct request *r, struct reassign_job *job)
{
    Ringlog__ReassignPartitionsResponse *resp = request_alloc(r, sizeof(*resp));
    Ringlog__PartitionMoveResult **res = request_alloc(r, (job->count + 1) * sizeof(*res));
    if (!resp || !res)
        return false;
    ringlog__reassign_partitions_response__init(resp);
    for (uint32_t i = 0; i < job->count; i++) {
        const struct controller_move *m = &job->moves[i];
        Ringlog__PartitionMoveResult *x = request_alloc(r, sizeof(*x));
        if (!x)
            return false;
        ringlog__partition_move_result__init(x);
        x->topic = r->msg->reassign_partitions->moves[i]->topic;
        x->partition = m->partition;
        /* A move that passed its checks fails with the call (NOT_CONTROLLER, ...). */
        x->error = m->error != RINGLOG__ERROR_CODE__NONE ? m->error : job->error;
        const char *why = m->error != RINGLOG__ERROR_CODE__NONE ? m->message : job->message;
        x->error_message = (char *)(x->error == RINGLOG__ERROR_CODE__NONE ? ""
                                    : why                                 ? why
                                          : rl_error_message(x->error));
        res[resp->n_results++] = x;
    }
    resp->results = res;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_REASSIGN_PARTITIONS;
    r->resp.reassign_partitions = resp;
    return true;
}

static void job_done(struct hop *hop)
{
    struct reassign_job *job = (struct reassign_job *)hop;
    struct request *r = job->r;
    r->reply.pending = 0;
    bool ok = job->decommission ? answer_decommission(r, job) : answer_reassign(r, job);
    free(job->moves);
    free(job);
    if (!ok)
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
    else
        request_complete(r);
}

/* The request's moves, copied so shard 0 can check and fill them; false: bad or no memory. */
static bool copy_moves(struct request *r, struct reassign_job *job)
{
    const Ringlog__ReassignPartitionsRequest *req = r->msg->reassign_partitions;
    job->count = (uint32_t)req->n_moves;
    job->moves = calloc(req->n_moves ? req->n_moves : 1, sizeof(*job->moves));
    if (!job->moves)
        return false;
    for (size_t i = 0; i < req->n_moves; i++) {
        const Ringlog__PartitionMove *pm = req->moves[i];
        struct controller_move *m = &job->moves[i];
        snprintf(m->topic, sizeof(m->topic), "%s", pm->topic ? pm->topic : "");
        m->partition = pm->partition;
        m->count = pm->n_replicas <= TOPIC_MAX_REPLICAS ? (uint32_t)pm->n_replicas
                                                        : TOPIC_MAX_REPLICAS + 1;
        for (uint32_t k = 0; k < m->count && k < TOPIC_MAX_REPLICAS; k++)
            m->replicas[k] = pm->replicas[k];
    }
    return true;
}

void handle_reassign(struct request *r)
{
    bool decommission = r->msg->body_case == RINGLOG__REQUEST__BODY_DECOMMISSION_BROKER;
    if (!decommission && r->msg->reassign_partitions->n_moves == 0) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, "no partition to move");
        return;
    }
    struct reassign_job *job = FAULT_ALLOC(calloc(1, sizeof(*job)));
    if (!job || (!decommission && !copy_moves(r, job))) {
        if (job)
            free(job->moves);
        free(job);
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    job->r = r;
    job->decommission = decommission;
    job->hop.run = job_run;
    job->hop.done = job_done;
    job->hop.owner = 0;
    r->reply.pending = 1; /* keeps the request alive if its connection closes */
    hop_start(&r->shard->loop, &job->hop);
}
