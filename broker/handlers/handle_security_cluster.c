/*
 * A cluster's user and ACL changes: the request's change becomes one
 * ClusterRecord, proposed to the metadata log on shard 0 (the controller
 * shard) of the metadata group's leader, and answered once it is applied
 * there (controller/controller_security.c applies it on every broker).
 * Elsewhere the answer is NOT_CONTROLLER naming it, as for topics.
 */
#include <assert.h>
#include <stdlib.h>

#include "controller/controller.h"
#include "controller/controller_internal.h"
#include "fault_alloc.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"

enum { CONTROLLER_SHARD = 0 };

struct sec_job {
    struct loop_msg msg;
    struct request *r;
    bool returning;
    Ringlog__ClusterRecord rec; /* points into r->msg, which the job keeps alive */
    Ringlog__ClusterUser user;
    struct controller_call call;
};

static void job_arrived(struct rl_completion *c, int32_t res, uint32_t flags);

/* On shard 0: the record is applied here (or the proposal failed): back to the origin. */
static void applied(struct controller_call *c)
{
    struct sec_job *job = rl_container_of(c, struct sec_job, call);
    job->returning = true;
    struct shard *s = shard_current();
    if (job->r->shard == s)
        job_arrived(&job->msg.arrive, 0, 0);
    else
        loop_send(&s->loop, job->r->shard->loop.id, &job->msg);
}

static void job_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct sec_job *job = rl_container_of(c, struct sec_job, msg.arrive);
    if (!job->returning) {
        assert(shard_current()->loop.id == CONTROLLER_SHARD);
        job->call.done = applied;
        controller_propose(shard_current(), &job->call, &job->rec.base);
        return;
    }
    struct request *r = job->r;
    int error = job->call.error;
    const char *message = job->call.message;
    free(job);
    r->reply.pending = 0;
    if (error != RINGLOG__ERROR_CODE__NONE)
        request_fail(r, error, message);
    else
        request_complete(r);
}

/* The request's change as a record (pointing into the request). */
static void build_record(struct sec_job *job, const Ringlog__Request *m)
{
    Ringlog__ClusterRecord *rec = &job->rec;
    ringlog__cluster_record__init(rec);
    switch (m->body_case) {
    case RINGLOG__REQUEST__BODY_CREATE_USER:
        ringlog__cluster_user__init(&job->user);
        job->user.name = m->create_user->name;
        job->user.n_credentials = m->create_user->n_credentials;
        job->user.credentials = m->create_user->credentials;
        rec->body_case = RINGLOG__CLUSTER_RECORD__BODY_USER_UPSERTED;
        rec->user_upserted = &job->user;
        break;
    case RINGLOG__REQUEST__BODY_DELETE_USER:
        rec->body_case = RINGLOG__CLUSTER_RECORD__BODY_USER_DELETED;
        rec->user_deleted = m->delete_user->name;
        break;
    case RINGLOG__REQUEST__BODY_CREATE_ACL:
        rec->body_case = RINGLOG__CLUSTER_RECORD__BODY_ACL_ADDED;
        rec->acl_added = m->create_acl->acl;
        break;
    default:
        assert(m->body_case == RINGLOG__REQUEST__BODY_DELETE_ACL);
        rec->body_case = RINGLOG__CLUSTER_RECORD__BODY_ACL_REMOVED;
        rec->acl_removed = m->delete_acl->acl;
        break;
    }
}

void security_cluster_propose(struct request *r)
{
    struct sec_job *job = FAULT_ALLOC(calloc(1, sizeof(*job)));
    if (!job) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    job->r = r;
    build_record(job, r->msg);
    job->msg.arrive.on_complete = job_arrived;
    r->reply.pending = 1; /* keeps the request alive if its connection closes */
    if (r->shard->loop.id == CONTROLLER_SHARD)
        job_arrived(&job->msg.arrive, 0, 0);
    else
        loop_send(&r->shard->loop, CONTROLLER_SHARD, &job->msg);
}
