/*
 * A request in flight, from the frame that brought it to the response
 * frame that answers it, and the partition operations it fans out to the
 * shards that own the partitions.
 *
 * A request belongs to its connection's shard (the origin). Work on a
 * partition runs on the partition's owner shard: the origin sends a
 * part_op there (MSG_RING), the owner fills in the result and sends it
 * back, and the origin's handler folds it into the response. When the
 * origin is the owner the op runs without a message.
 */
#ifndef RINGLOG_BROKER_REQUEST_H
#define RINGLOG_BROKER_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "frame_iov.h"
#include "log/partition_log.h"
#include "ringlog.pb-c.h"
#include "shard.h"

struct conn;
struct request;

enum part_op_kind {
    PART_OP_PRODUCE,
    PART_OP_FETCH,
    PART_OP_LIST_OFFSETS,
    PART_OP_OPEN,   /* controller -> owner: create and open a new partition */
    PART_OP_DELETE, /* controller -> owner: delete a partition's data */
};

struct part_op {
    struct shard_msg msg;
    enum part_op_kind kind;
    int origin;
    int owner;
    bool returning;                    /* on its way back to the origin */
    void (*on_done)(struct part_op *); /* runs on the origin shard */
    void *ctx;
    uint32_t index; /* the caller's slot for this op */

    const char *topic;
    uint32_t partition;
    struct topic_info *topic_info; /* OPEN: the topic being created */

    /* PRODUCE */
    uint8_t *data;
    size_t len;
    int32_t acks;
    /* FETCH */
    int64_t fetch_offset;
    uint32_t max_bytes;
    bool read_committed;
    /* LIST_OFFSETS */
    int64_t timestamp;

    /* results */
    int error; /* Ringlog__ErrorCode */
    const char *error_message;
    int64_t base_offset;
    int64_t high_watermark;
    int64_t log_start;
    int64_t log_end;
    uint8_t *records; /* FETCH: malloc'd, freed by the origin */
    size_t records_len;
    int64_t offset; /* LIST_OFFSETS */
    int64_t found_timestamp;

    /* owner-side working state */
    struct partition *part;
    struct log_append append;
    struct log_read read;
    struct log_ctl ctl;
    int64_t started_ns;
    int64_t timestamp_lookup; /* LIST_OFFSETS by time */
};

/* Starts op on its owner shard (op->owner must be set). */
void part_op_start(struct shard *origin, struct part_op *op);

/* Called on the owner when the op's result is ready: sends it home. */
void part_op_finish(struct shard *owner, struct part_op *op);

struct request {
    struct request *next; /* in the connection's queue, arrival order */
    struct conn *conn;
    struct shard *shard;
    Ringlog__Request *msg;
    /* A produce frame parsed in place (rl_produce_request_parse): msg lives
     * in msg_arena and its records in frame_buf, both owned here. */
    struct rl_arena msg_arena;
    uint8_t *frame_buf;
    bool msg_in_arena;
    Ringlog__Response resp;
    struct rl_arena arena;   /* response building */
    int api;                 /* ApiKey */
    uint32_t pending;        /* part ops not back yet */
    bool ready;              /* response encoded (or none due) */
    bool silent;             /* acks=0: no response */
    struct rl_frame_iov out; /* the encoded response frame, batches referenced in place */
    size_t out_len;
    size_t sent; /* bytes of out already sent */
    int64_t started_ns;
    /* handler state: one part op per partition named, and its result slot */
    struct part_op *ops;
    uint32_t op_count;
    void **results;
    void (*ops_done)(struct request *r);
    void *state;
    /* long-poll fetch */
    struct request *park_next;
    int64_t deadline_ms;
    bool parked;
};

/* Decodes and dispatches one frame; returns NULL when the frame is undecodable. */
struct request *request_new(struct conn *c, const uint8_t *frame, size_t len);

/* The handler is done with resp: encode it and let the connection send it. */
void request_complete(struct request *r);

/* Frees a request (its response sent, or its connection gone). */
void request_free(struct request *r);

/* Arena helpers for building responses. */
void *request_alloc(struct request *r, size_t size);
char *request_strdup(struct request *r, const char *s);

/*
 * Fan-out: allocate one op per partition, let the handler fill them (an op
 * with owner -1 is answered locally and not sent), then start them all;
 * ops_done runs once every op is back.
 */
int request_alloc_ops(struct request *r, uint32_t n);
void request_start_ops(struct request *r, void (*ops_done)(struct request *r));

/* Dispatch by body (handlers.c). */
void handle_request(struct request *r);

/* Re-checks this shard's parked fetches (new data, or deadlines). */
void fetch_recheck_parked(struct shard *s, bool deadlines_only);

/* Owner side of each op kind (partition.c / handlers). */
void partition_run_op(struct shard *owner, struct part_op *op);

#endif
