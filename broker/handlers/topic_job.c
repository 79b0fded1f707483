/* topic_job.h */
#include "topic_job.h"

#include <assert.h>
#include <stdlib.h>

#include "errors.h"
#include "fault_alloc.h"
#include "request.h"
#include "server.h"
#include "shard.h"

static void job_loop(struct topic_job *job);

static void job_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct topic_job *job = rl_container_of(c, struct topic_job, msg.arrive);
    if (job->returning) {
        struct request *r = job->r;
        r->reply.pending = 0;
        if (job->finish)
            job->finish(job);
        free(job);
        request_complete(r);
        return;
    }
    admin_queue_enter(shard_current()->srv, &job->slot);
}

static void job_start(struct admin_slot *slot)
{
    job_loop(rl_container_of(slot, struct topic_job, slot));
}

struct topic_job *topic_job_new(struct request *r, size_t count)
{
    struct topic_job *job = FAULT_ALLOC(calloc(1, sizeof(*job)));
    Ringlog__TopicResult **results = request_alloc(r, (count + 1) * sizeof(*results));
    for (size_t i = 0; results && i < count; i++) {
        results[i] = request_alloc(r, sizeof(**results));
        if (!results[i])
            results = NULL;
        else
            ringlog__topic_result__init(results[i]);
    }
    if (!job || !results) {
        free(job);
        return NULL;
    }
    job->r = r;
    job->count = count;
    job->results = results;
    job->msg.arrive.on_complete = job_arrived;
    job->slot.start = job_start;
    return job;
}

void topic_job_run(struct topic_job *job)
{
    struct request *r = job->r;
    assert(job->begin != NULL);
    r->reply.pending = 1; /* keeps the request alive if its connection closes */
    if (r->shard->loop.id == ADMIN_SHARD)
        admin_queue_enter(r->shard->srv, &job->slot);
    else
        loop_send(&r->shard->loop, ADMIN_SHARD, &job->msg);
}

static void job_return(struct topic_job *job)
{
    struct shard *s = shard_current();
    job->returning = true;
    if (job->r->shard == s)
        job_arrived(&job->msg.arrive, 0, 0);
    else
        loop_send(&s->loop, job->r->shard->loop.id, &job->msg);
    admin_queue_leave(s->srv);
}

/* Topics in order; a topic answered inside begin is taken here, not by a nested call. */
static void job_loop(struct topic_job *job)
{
    while (job->next < job->count) {
        job->starting = true;
        job->answered = false;
        job->begin(job);
        job->starting = false;
        if (!job->answered)
            return; /* topic_job_answer goes on */
        job->next++;
    }
    job_return(job);
}

void topic_job_answer(struct topic_job *job, int error, const char *message)
{
    assert(job->next < job->count);
    Ringlog__TopicResult *res = job->results[job->next];
    res->error = error;
    res->error_message = (char *)(message ? message : rl_error_message(error));
    if (job->starting) {
        job->answered = true;
        return;
    }
    job->next++;
    job_loop(job);
}

bool topic_job_not_controller(struct topic_job *job)
{
    const struct server *srv = shard_current()->srv;
    assert(job->next < job->count);
    if (!srv->cluster || atomic_load(&srv->controller_leader) == srv->cfg.node_id)
        return false;
    topic_job_answer(job, RINGLOG__ERROR_CODE__NOT_CONTROLLER,
                     "this broker is not the controller: send it to Metadata's controller_id");
    return true;
}

static void change_done(struct topic_change *c)
{
    struct topic_job *job = c->ctx;
    topic_job_answer(
        job, c->status == 0 ? RINGLOG__ERROR_CODE__NONE : RINGLOG__ERROR_CODE__STORAGE_ERROR,
        c->status == 0 ? "" : c->message);
}

struct topic_change *topic_job_change(struct topic_job *job)
{
    job->change.done = change_done;
    job->change.ctx = job;
    return &job->change;
}

static void call_done(struct controller_call *c)
{
    struct topic_job *job = rl_container_of(c, struct topic_job, call);
    topic_job_answer(job, c->error, c->error == RINGLOG__ERROR_CODE__NONE ? "" : c->message);
}

struct controller_call *topic_job_call(struct topic_job *job)
{
    job->call.done = call_done;
    return &job->call;
}
