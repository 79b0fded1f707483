/*
 * What the consumer's files share (consumer.c: partitions, fetching, poll;
 * consumer_jobs.c: commits, committed-offset and offsets-for-times lookups
 * run as jobs on the I/O thread). Internal to libringlog.
 */
#ifndef RINGLOG_CLIENT_CONSUMER_INTERNAL_H
#define RINGLOG_CLIENT_CONSUMER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "batch.h"
#include "cluster.h"
#include "ringlog.h"

enum cpart_state {
    CP_NEED_OFFSET, /* look up start_spec (committed, earliest, latest, timestamp) */
    CP_LOOKUP,      /* a lookup is in flight */
    CP_FETCHING,
    CP_STOPPED, /* an error was reported; waits for a seek */
};

#define SPEC_TIMESTAMP (-3) /* internal: look up start_ts */

struct cpart {
    char *topic;
    int32_t partition;
    enum cpart_state state;
    int64_t start_spec; /* RINGLOG_OFFSET_* or SPEC_TIMESTAMP */
    int64_t start_ts;
    int64_t fetch_offset;
    uint32_t gen;
    bool fetch_inflight;
    bool removed; /* unassigned; freed when its last request comes back */
    int refs;     /* requests in flight that point at it */
    size_t queued_bytes;
    int64_t high_watermark;
    int64_t backoff_until;
    _Atomic int64_t position; /* next offset for the application, -1 unknown */
    int64_t committed;        /* last position committed */
    uint64_t first_turn;      /* the fetch that last listed it first, 0 none (rotation) */
    int64_t log_start;        /* low watermark of the last fetch answer, -1 unknown */
    bool paused;              /* by ringlog_consumer_pause: no fetching */
    int missing_seen;         /* metadata answers in a row without it (UNKNOWN_*) */
    int missing_reported;     /* the UNKNOWN_* error last reported, 0 none */
    int64_t eof_reported;     /* the offset whose end was last reported, -1 none */
};

/* Prefetched batches of one partition, or an error event, in arrival order. */
struct chunk {
    struct chunk *next;
    struct cpart *part;
    uint32_t gen;
    uint8_t *data; /* whole, verified batches */
    size_t len;
    struct rl_response_hold *hold; /* data lies in a held response's frame; else data is ours */
    int err;                       /* an error event instead of data */
    int64_t offset;                /* of the event */
    char errstr[200];
};

enum job_kind { JOB_COMMIT, JOB_COMMITTED, JOB_TIMES };

enum times_state { TIMES_WAIT, TIMES_SENT, TIMES_DONE };

/* A commit, committed-offset lookup or offsets-for-times lookup handed to the I/O thread. */
struct job {
    struct job *next;
    enum job_kind kind;
    ringlog_topic_partition *tps; /* owned copies of topic names */
    size_t n;
    bool sent, done;
    bool detached; /* nobody waits: free when done */
    struct ringlog_consumer *owner;
    int err;
    char errstr[200];
    /* JOB_TIMES: one ListOffsets per leader; entries wait for their leader until deadline */
    uint8_t *state; /* enum times_state per entry */
    size_t left;    /* entries not done */
    int64_t deadline;
};

struct ringlog_consumer {
    struct rl_cluster *cl;
    const struct ringlog_conf *conf;
    pthread_cond_t ready_cond; /* a chunk was queued */
    pthread_cond_t job_cond;   /* a job finished */

    struct cpart **parts;
    size_t nparts;
    struct cpart **dead; /* unassigned, waiting for in-flight answers */
    size_t ndead;
    struct chunk *q_head, *q_tail;
    struct job *jobs;
    int64_t next_auto_commit;
    uint64_t fetch_turns; /* fetches sent, numbering cpart.first_turn */

    /* application-thread state of poll */
    struct chunk *cur;
    size_t cur_pos; /* next batch in cur */
    bool in_batch;
    struct rl_batch_header bh;
    struct rl_record_iter rit;
    uint8_t *decompressed;
    size_t decompressed_len;
    ringlog_message msg;
    ringlog_header *hdrs;
    size_t hdrs_cap;
    char errstr[256];
    /* an event poll_batch met after messages, returned by the next call */
    int pending_err;
    ringlog_message pending_msg;
    char pending_errstr[256];
    /* a subscribed consumer's group membership (group.h); NULL with assign */
    struct rl_group *group;
    ringlog_rebalance_cb rebalance_cb;
    void *rebalance_opaque;
    bool msg_lent;    /* msg points into cur or decompressed (retire_borrowed) */
    bool closed;      /* ringlog_consumer_close ran */
    bool app_serving; /* an application thread runs the callbacks (serve_events) */
};

/* consumer.c */
struct cpart *consumer_find_part(struct ringlog_consumer *c, const char *topic, int32_t partition);

/* consumer_jobs.c: every call with the cluster lock held */
void job_free(struct job *j);
/* Queues a job for the I/O thread. */
void job_add(struct ringlog_consumer *c, struct job *j);
/* Builds and sends a commit or committed-offset job's request. */
void job_send(struct ringlog_consumer *c, struct job *j);
/* Sends a JOB_TIMES's waiting entries; true when the job is over (possibly freed). */
bool times_send(struct ringlog_consumer *c, struct job *j, int64_t now);
/* A commit job with the current positions (only those moved since the last commit); NULL if none.
 */
struct job *positions_job(struct ringlog_consumer *c, bool only_changed);
/* Queues a job and waits for it; frees the job. */
int run_job(struct ringlog_consumer *c, struct job *j, int timeout_ms, int64_t *offsets_out);

#endif
