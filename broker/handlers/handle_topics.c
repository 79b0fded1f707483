/*
 * CreateTopics and DeleteTopics. Topic changes are serialised through
 * shard 0, the controller shard: the shard that received the request sends
 * the job there, shard 0 works through the topics one at a time (opening or
 * deleting partitions on their owner shards, then persisting and publishing
 * the new topic table) and sends the job back with every result filled in.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_queue.h"
#include "controller/controller.h"
#include "diag.h"
#include "fault_alloc.h"
#include "errors.h"
#include "groups/coordinator.h"
#include "handlers.h"
#include "names.h"
#include "partition/partition.h"
#include "partition/partition_table.h"
#include "replica_group.h"
#include "request.h"
#include "server.h"
#include "shard.h"

enum { CONTROLLER_SHARD = 0 };

enum admin_op_kind {
    ADMIN_OPEN,   /* create and open a new partition */
    ADMIN_DELETE, /* delete a partition's data */
};

/* One partition's part of a topic change, run on the partition's owner. */
struct admin_op {
    struct hop hop;
    enum admin_op_kind kind;
    struct topic_info *topic;
    uint32_t partition;
    bool failed;
    struct partition_delete del;
};

struct admin_job {
    struct loop_msg msg;
    struct request *r;
    bool returning;
    bool create;
    size_t count;
    size_t next; /* topic being worked on */
    Ringlog__TopicResult **results;
    struct topic_info *creating;
    struct topic_info *undo;     /* a topic whose creation failed, being removed */
    struct topic_info *deleting; /* a published topic being deleted (pinned) */
    struct admin_op *ops;
    uint32_t pending;
    bool failed;
    struct admin_slot slot; /* its place in the admin queue */
    /* A cluster: the topic's record is out at the controller (controller.h). */
    struct controller_call call;
    bool in_call;     /* inside controller_*_topic: a synchronous answer waits for it */
    bool call_answer; /* the answer came while in_call */
};

static void job_step(struct admin_job *job);
static void job_resume(struct admin_job *job);
static void controller_enqueue(struct admin_job *job);

static void set_result(struct admin_job *job, int error, const char *message)
{
    Ringlog__TopicResult *res = job->results[job->next];
    res->error = error;
    res->error_message = (char *)(message ? message : rl_error_message(error));
}

static void job_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct admin_job *job = rl_container_of(c, struct admin_job, msg.arrive);
    if (job->returning) {
        struct request *r = job->r;
        r->reply.pending = 0;
        free(job->ops);
        free(job);
        request_complete(r);
        return;
    }
    controller_enqueue(job);
}

static void job_return(struct admin_job *job)
{
    struct shard *s = shard_current();
    job->returning = true;
    if (job->r->shard == s) {
        job_arrived(&job->msg.arrive, 0, 0);
    } else {
        loop_send(&s->loop, job->r->shard->loop.id, &job->msg);
    }
    admin_queue_leave(s->srv); /* next job in line */
}

static void job_start(struct admin_slot *slot)
{
    job_step(rl_container_of(slot, struct admin_job, slot));
}

static void controller_enqueue(struct admin_job *job)
{
    job->slot.start = job_start;
    admin_queue_enter(shard_current()->srv, &job->slot);
}

/* ------------------------------------------------- owner side of an op */

static void admin_deleted(struct partition_delete *pd)
{
    struct admin_op *op = rl_container_of(pd, struct admin_op, del);
    hop_return(&shard_current()->loop, &op->hop);
}

static void admin_run(struct hop *hop)
{
    struct admin_op *op = (struct admin_op *)hop;
    struct shard *owner = shard_current();
    assert(owner->loop.id == hop->owner);
    struct partition *p = partition_table_find(owner->parts, op->topic->name, op->partition);
    if (op->kind == ADMIN_OPEN && p == NULL) {
        char err[512];
        p = partition_open(owner, op->topic, op->partition, err, sizeof(err));
        if (p == NULL) {
            DIAG_ERROR("cannot create partition: %s", err);
            op->failed = true;
        } else {
            partition_table_add(owner->parts, p);
        }
    } else if (op->kind == ADMIN_DELETE && p != NULL) {
        partition_table_remove(owner->parts, p);
        op->del.done = admin_deleted;
        partition_delete(p, &op->del);
        return;
    }
    hop_return(&owner->loop, hop);
}

/* ------------------------------------------------ controller side of an op */

static void admin_op_done(struct hop *hop)
{
    struct admin_op *op = (struct admin_op *)hop;
    struct admin_job *job = hop->ctx;
    assert(job->pending > 0);
    if (op->failed)
        job->failed = true;
    if (--job->pending == 0)
        job_step(job);
}

/* What the controller does next with a job (job_step's loop). */
enum job_next {
    JOB_WAIT,        /* ops are out on other shards; admin_op_done resumes */
    JOB_FANOUT_DONE, /* every op of the fan-out finished already */
    JOB_NEXT_TOPIC,  /* job->next has its result; go on to the next topic */
};

/*
 * Sends one op of `kind` per partition of t to the partitions' owners.
 * Ops owned by this shard may finish before this returns; the extra count
 * in `pending` keeps admin_op_done from re-entering job_step meanwhile, so
 * the job is only ever advanced by job_step's loop (re-entry once freed the
 * job twice when a failed create's undo finished synchronously).
 */
static enum job_next fan_out(struct admin_job *job, struct topic_info *t, enum admin_op_kind kind)
{
    struct shard *s = shard_current();
    assert(job->ops == NULL);
    assert(t->partitions > 0);
    job->ops = FAULT_ALLOC(calloc(t->partitions, sizeof(*job->ops)));
    if (job->ops == NULL)
        return JOB_NEXT_TOPIC;
    job->failed = false;
    job->pending = t->partitions + 1;
    for (uint32_t p = 0; p < t->partitions; p++) {
        struct admin_op *op = &job->ops[p];
        op->kind = kind;
        op->topic = t;
        op->partition = p;
        op->hop.ctx = job;
        op->hop.run = admin_run;
        op->hop.done = admin_op_done;
        op->hop.owner = topic_partition_owner(t, p, s->srv->nshards);
        hop_start(&s->loop, &op->hop);
    }
    return --job->pending == 0 ? JOB_FANOUT_DONE : JOB_WAIT;
}

/* cleanup_policy and the compaction settings (docs/STORAGE.md, "Compaction"). */
static int validate_compaction(const Ringlog__TopicConfig *c, struct topic_config *out,
                               const char **why)
{
    if (topic_cleanup_policy_parse(c->cleanup_policy ? c->cleanup_policy : "",
                                   &out->cleanup_policy) != 0) {
        *why = "cleanup_policy must be delete, compact or compact,delete";
        return -1;
    }
    if (c->delete_retention_ms < 0 || c->min_compaction_lag_ms < 0) {
        *why = "delete_retention_ms and min_compaction_lag_ms must be 0 (default) or positive";
        return -1;
    }
    if (!(c->min_cleanable_dirty_ratio >= 0.0 && c->min_cleanable_dirty_ratio <= 1.0)) {
        *why = "min_cleanable_dirty_ratio must be in [0, 1] (0: default)";
        return -1;
    }
    out->delete_retention_ms = c->delete_retention_ms;
    out->min_cleanable_dirty_ratio = c->min_cleanable_dirty_ratio;
    out->min_compaction_lag_ms = c->min_compaction_lag_ms;
    return 0;
}

static int validate_config(const Ringlog__TopicConfig *c, struct topic_config *out,
                           const struct broker_config *defaults, const char **why)
{
    out->retention_ms = defaults->default_retention_ms;
    out->retention_bytes = defaults->default_retention_bytes;
    out->segment_bytes = defaults->default_segment_bytes;
    out->segment_ms = defaults->default_segment_ms;
    out->cleanup_policy = TOPIC_CLEANUP_DELETE;
    if (!c)
        return 0;
    if (c->retention_ms < -1 || c->retention_bytes < -1) {
        *why = "retention must be -1 (unlimited), 0 (default) or positive";
        return -1;
    }
    if (c->segment_bytes != 0 && (c->segment_bytes < 4096 || c->segment_bytes > (2LL << 30))) {
        *why = "segment_bytes must be between 4096 and 2147483648 (the storage engine's range)";
        return -1;
    }
    if (c->segment_ms < 0) {
        *why = "segment_ms must be positive";
        return -1;
    }
    if (validate_compaction(c, out, why) != 0)
        return -1;
    if (c->retention_ms)
        out->retention_ms = c->retention_ms;
    if (c->retention_bytes)
        out->retention_bytes = c->retention_bytes;
    if (c->segment_bytes)
        out->segment_bytes = c->segment_bytes;
    if (c->segment_ms)
        out->segment_ms = c->segment_ms;
    return 0;
}

/* A cluster's topic change was answered by the controller. */
static void cluster_answered(struct controller_call *c)
{
    struct admin_job *job = rl_container_of(c, struct admin_job, call);
    set_result(job, c->error, c->message);
    if (job->in_call) {
        job->call_answer = true;
        return;
    }
    job->next++;
    job_resume(job);
}

/* Hands topic job->next to the controller (a cluster); JOB_WAIT until it answers. */
static enum job_next cluster_call(struct admin_job *job, const char *name, uint32_t partitions,
                                  uint32_t rf, const struct topic_config *cfg)
{
    struct shard *s = shard_current();
    job->call.done = cluster_answered;
    job->in_call = true;
    job->call_answer = false;
    if (job->create)
        controller_create_topic(s, &job->call, name, partitions, rf, cfg);
    else
        controller_delete_topic(s, &job->call, name);
    job->in_call = false;
    return job->call_answer ? JOB_NEXT_TOPIC : JOB_WAIT;
}

/* Brokers a cluster can place replicas on (1 on a single broker). */
static uint32_t broker_count(const struct server *srv)
{
    return srv->cluster ? (uint32_t)srv->cfg.peer_count : 1;
}

/* Starts creating topic job->next. */
static enum job_next create_begin(struct admin_job *job)
{
    struct server *srv = shard_current()->srv;
    Ringlog__CreatableTopic *ct = job->r->msg->create_topics->topics[job->next];
    uint32_t partitions = ct->partitions ? ct->partitions : srv->cfg.default_partitions;
    uint32_t rf = ct->replication_factor ? ct->replication_factor : 1;
    struct topic_config cfg;
    const char *why = NULL;
    if (!rl_topic_name_valid(ct->name)) {
        set_result(job, RINGLOG__ERROR_CODE__INVALID_TOPIC,
                   "topic names are 1-249 characters of [A-Za-z0-9._-]");
    } else if (partitions > TOPIC_MAX_PARTITIONS) {
        set_result(job, RINGLOG__ERROR_CODE__INVALID_PARTITIONS,
                   "at most 10000 partitions per topic");
    } else if (rf > broker_count(srv) || rf > RG_MAX_NODES) {
        set_result(job, RINGLOG__ERROR_CODE__INVALID_REPLICATION_FACTOR,
                   "replication factor exceeds the number of brokers");
    } else if (srv->cluster && strncmp(ct->name, "__", 2) == 0) {
        set_result(job, RINGLOG__ERROR_CODE__INVALID_TOPIC,
                   "names starting with __ are reserved for the cluster's internal topics");
    } else if (validate_config(ct->config, &cfg, &srv->cfg, &why) != 0) {
        set_result(job, RINGLOG__ERROR_CODE__INVALID_CONFIG, why);
    } else if (topic_table_find(topic_registry_snapshot(&srv->topics), ct->name)) {
        set_result(job, RINGLOG__ERROR_CODE__TOPIC_EXISTS, NULL);
    } else if (job->r->msg->create_topics->validate_only) {
        set_result(job, RINGLOG__ERROR_CODE__NONE, "");
    } else if (srv->cluster) {
        return cluster_call(job, ct->name, partitions, rf, &cfg);
    } else {
        job->creating = FAULT_ALLOC(
            topic_info_new(ct->name, srv->topics.next_topic_id++, partitions, rf, &cfg));
        enum job_next next =
            job->creating ? fan_out(job, job->creating, ADMIN_OPEN) : JOB_NEXT_TOPIC;
        if (next != JOB_NEXT_TOPIC)
            return next;
        topic_info_free(job->creating);
        job->creating = NULL;
        set_result(job, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
    }
    return JOB_NEXT_TOPIC;
}

/* All partitions of job->creating are open (or some failed). */
static enum job_next create_finish(struct admin_job *job)
{
    struct server *srv = shard_current()->srv;
    struct topic_info *t = job->creating;
    char err[512];
    if (!job->failed && topic_registry_publish(&srv->topics, t, NULL, err, sizeof(err)) == 0) {
        DIAG_INFO("created topic %s with %u partitions", t->name, t->partitions);
        set_result(job, RINGLOG__ERROR_CODE__NONE, "");
        job->creating = NULL;
        return JOB_NEXT_TOPIC;
    }
    if (!job->failed)
        DIAG_ERROR("cannot persist topic %s: %s", t->name, err);
    set_result(job, RINGLOG__ERROR_CODE__STORAGE_ERROR, "cannot create the topic's files");
    /* Undo: drop the partitions that did open; the topic never became visible.
     * Its info is freed once those deletions are back (job_step). */
    job->creating = NULL;
    job->undo = t;
    enum job_next next = fan_out(job, t, ADMIN_DELETE);
    if (next == JOB_NEXT_TOPIC) {
        /* No memory for the undo: the partitions that opened keep pointing
         * into t, so it is left allocated rather than freed under them. */
        DIAG_ERROR("out of memory undoing the creation of %s; its partitions stay open", t->name);
        job->undo = NULL;
    }
    return next;
}

static enum job_next delete_begin(struct admin_job *job)
{
    struct server *srv = shard_current()->srv;
    const char *name = job->r->msg->delete_topics->names[job->next];
    struct topic_info *t = topic_table_find(topic_registry_snapshot(&srv->topics), name);
    if (!t) {
        set_result(job, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC, NULL);
        return JOB_NEXT_TOPIC;
    }
    if (strcmp(name, GROUPS_TOPIC) == 0) {
        /* Every group's members, assignments and committed offsets: not a user's to drop. */
        set_result(job, RINGLOG__ERROR_CODE__INVALID_TOPIC,
                   "__groups is internal (the consumer groups' state): delete groups instead");
        return JOB_NEXT_TOPIC;
    }
    if (srv->cluster)
        return cluster_call(job, name, 0, 0, NULL);
    char err[512];
    /* Unpublish first so no new request reaches the partitions; the info
     * itself stays alive (retired) until every shard has moved on. */
    if (topic_registry_publish(&srv->topics, NULL, name, err, sizeof(err)) != 0) {
        DIAG_ERROR("cannot persist deletion of %s: %s", name, err);
        set_result(job, RINGLOG__ERROR_CODE__STORAGE_ERROR, "cannot update topic metadata");
        return JOB_NEXT_TOPIC;
    }
    DIAG_INFO("deleting topic %s", name);
    set_result(job, RINGLOG__ERROR_CODE__NONE, "");
    /* The ops carry t to the owners: keep it from being reclaimed meanwhile. */
    t->pins++;
    job->deleting = t;
    enum job_next next = fan_out(job, t, ADMIN_DELETE);
    if (next == JOB_NEXT_TOPIC) {
        DIAG_ERROR("out of memory deleting %s; its partitions stay open until restart", name);
        t->pins--;
        job->deleting = NULL;
    }
    return next;
}

/* A fan-out for topic job->next finished: what it means depends on why it ran. */
static enum job_next fan_out_done(struct admin_job *job)
{
    assert(job->ops != NULL);
    assert(job->pending == 0);
    free(job->ops);
    job->ops = NULL;
    if (job->creating)
        return create_finish(job);
    if (job->deleting) {
        assert(job->deleting->pins > 0);
        job->deleting->pins--;
        job->deleting = NULL;
    }
    struct topic_info *t = job->undo;
    const char *name = t ? t->name : job->r->msg->delete_topics->names[job->next];
    int rc = topic_dir_remove(shard_current()->srv->cfg.data_dir, name);
    if (rc != 0)
        DIAG_WARN("removing the directory of topic %s: %s", name, strerror(-rc));
    job->undo = NULL;
    topic_info_free(t);
    return JOB_NEXT_TOPIC;
}

static void job_loop(struct admin_job *job, enum job_next next);

/*
 * The controller's state machine: called when a job starts and whenever
 * its fan-out completes. Walks the topics of the request in order; a
 * fan-out that finishes synchronously is handled by this loop, never by a
 * nested call, so the job is advanced (and finally freed) in one place.
 */
static void job_step(struct admin_job *job)
{
    enum job_next next = job->ops ? JOB_FANOUT_DONE : JOB_NEXT_TOPIC;
    if (next == JOB_NEXT_TOPIC)
        assert(job->next == 0);
    job_loop(job, next);
}

/* After the controller answered a topic (job->next moved past it already). */
static void job_resume(struct admin_job *job)
{
    assert(job->ops == NULL && job->next > 0);
    job_loop(job, JOB_NEXT_TOPIC);
}

static void job_loop(struct admin_job *job, enum job_next next)
{
    for (;;) {
        if (next == JOB_WAIT)
            return;
        if (next == JOB_FANOUT_DONE) {
            next = fan_out_done(job);
            if (next == JOB_NEXT_TOPIC)
                job->next++;
            continue;
        }
        if (job->next >= job->count)
            break;
        next = job->create ? create_begin(job) : delete_begin(job);
        if (next == JOB_NEXT_TOPIC)
            job->next++;
    }
    job_return(job);
}

/* The response's topic results, one per topic named; false when out of memory. */
static bool admin_build(struct request *r, bool create, size_t count, Ringlog__TopicResult ***out)
{
    Ringlog__TopicResult **results = request_alloc(r, (count + 1) * sizeof(*results));
    if (!results)
        return false;
    for (size_t i = 0; i < count; i++) {
        results[i] = request_alloc(r, sizeof(**results));
        if (!results[i])
            return false;
        ringlog__topic_result__init(results[i]);
        results[i]->name =
            create ? r->msg->create_topics->topics[i]->name : r->msg->delete_topics->names[i];
    }
    if (create) {
        Ringlog__CreateTopicsResponse *resp = request_alloc(r, sizeof(*resp));
        if (!resp)
            return false;
        ringlog__create_topics_response__init(resp);
        resp->n_topics = count;
        resp->topics = results;
        r->resp.body_case = RINGLOG__RESPONSE__BODY_CREATE_TOPICS;
        r->resp.create_topics = resp;
    } else {
        Ringlog__DeleteTopicsResponse *resp = request_alloc(r, sizeof(*resp));
        if (!resp)
            return false;
        ringlog__delete_topics_response__init(resp);
        resp->n_topics = count;
        resp->topics = results;
        r->resp.body_case = RINGLOG__RESPONSE__BODY_DELETE_TOPICS;
        r->resp.delete_topics = resp;
    }
    *out = results;
    return true;
}

void handle_topic_admin(struct request *r)
{
    bool create = r->msg->body_case == RINGLOG__REQUEST__BODY_CREATE_TOPICS;
    size_t count = create ? r->msg->create_topics->n_topics : r->msg->delete_topics->n_names;
    struct admin_job *job = FAULT_ALLOC(calloc(1, sizeof(*job)));
    Ringlog__TopicResult **results = NULL;
    if (!job || !admin_build(r, create, count, &results)) {
        free(job);
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    assert(results != NULL);
    job->r = r;
    job->create = create;
    job->count = count;
    job->results = results;
    job->msg.arrive.on_complete = job_arrived;
    r->reply.pending = 1; /* keeps the request alive if its connection closes */
    if (r->shard->loop.id == CONTROLLER_SHARD)
        controller_enqueue(job);
    else
        loop_send(&r->shard->loop, CONTROLLER_SHARD, &job->msg);
}
