/*
 * A topic admin request worked through on shard 0, one topic at a time, in
 * the admin queue (admin_queue.h): AlterConfigs and CreatePartitions. The
 * handler fills in the results and `begin`; begin works on topic `next`
 * and ends, now or later, with topic_job_answer. The job goes back to the
 * request's shard when every topic has its answer, and the request is
 * answered there.
 */
#ifndef RINGLOG_BROKER_TOPIC_JOB_H
#define RINGLOG_BROKER_TOPIC_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "admin_queue.h"
#include "controller/controller.h"
#include "io/loop.h"
#include "partition/topic_change.h"
#include "ringlog.pb-c.h"

struct request;

struct topic_job {
    struct loop_msg msg;
    struct admin_slot slot;
    struct request *r;
    size_t count;
    size_t next;
    Ringlog__TopicResult **results; /* [count] */
    void (*begin)(struct topic_job *job);
    /* Optional, on the request's shard before it is answered: results into the response. */
    void (*finish)(struct topic_job *job);
    void *ctx;
    /* the topic being worked on: a local change or a controller call */
    struct topic_change change;
    struct controller_call call;
    /* working state */
    bool returning;
    bool starting; /* inside begin: an answer now is taken by the loop */
    bool answered;
};

/* The request's shard: a new job with `count` results (in r's arena); NULL when out of memory. */
struct topic_job *topic_job_new(struct request *r, size_t count);
/* The request's shard: runs the job (the request is answered when it is back). */
void topic_job_run(struct topic_job *job);
/* Topic `next` is done (message NULL: the code's default text). */
void topic_job_answer(struct topic_job *job, int error, const char *message);
/*
 * On a cluster's broker that is not the controller: answers topic `next`
 * NOT_CONTROLLER and returns true, before anything is looked up (its topic
 * table may lag the controller's: an UNKNOWN_TOPIC from here would be wrong).
 */
bool topic_job_not_controller(struct topic_job *job);
/* Hands a local change or a controller call to the job: its end answers the topic. */
struct topic_change *topic_job_change(struct topic_job *job);
struct controller_call *topic_job_call(struct topic_job *job);

#endif
