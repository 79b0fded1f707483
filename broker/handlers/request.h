/*
 * A request in flight, from the frame that brought it to the response that
 * answers it: the small transport every handler sits on.
 *
 * A request belongs to its connection's shard (the origin). A handler that
 * needs partitions allocates one op per partition named (request_alloc_ops),
 * each op a struct of its own whose first member is a struct hop; ops whose
 * hop->owner is set run their `run` half on the partition's owner shard
 * and come back (io/hop.h); request_start_hops calls the handler's
 * all_done once every one is back. Both halves of a handler's hop live in
 * its own file.
 */
#ifndef RINGLOG_BROKER_REQUEST_H
#define RINGLOG_BROKER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "io/hop.h"
#include "net/conn.h"
#include "ringlog.pb-c.h"

struct partition;
struct shard;

struct request {
    struct conn_reply reply; /* in the connection's queue */
    struct conn *conn;
    struct shard *shard;
    Ringlog__Request *msg;
    /* A produce frame parsed in place (rl_produce_request_parse): msg lives
     * in msg_arena and its records in frame_buf, both owned here. */
    struct rl_arena msg_arena;
    uint8_t *frame_buf;
    bool msg_in_arena;
    Ringlog__Response resp;
    struct rl_arena arena; /* response building */
    int api;               /* ApiKey */
    bool silent;           /* acks=0: no response */
    bool partition_failed; /* some per-partition result is an error */
    int64_t started_ns;
    /* the handler's ops: op_count structs of op_size bytes, a hop first in each */
    void *ops;
    size_t op_size;
    uint32_t op_count;
    void **results;                         /* the response slot of each op */
    void (*all_done)(struct request *r);    /* every hop is back */
    void (*release_ops)(struct request *r); /* frees what the ops hold (may be NULL) */
    /* long-poll fetch */
    struct request *park_next;
    int64_t deadline_ms;
    bool parked;
};

/* Decodes one frame and queues its reply on c; NULL when the frame is undecodable. */
struct request *request_new(struct conn *c, const uint8_t *frame, size_t len);

/* The handler is done with resp: encode it and let the connection send it. */
void request_complete(struct request *r);

/* Answers with a request-level error and no body. */
void request_fail(struct request *r, int error, const char *message);

/* Frees a request (its response sent, or its connection gone): conn_hooks.release. */
void request_release(struct conn_reply *reply);

/* Counts one per-partition result answered with an error (metrics). */
void request_count_partition_error(struct request *r, int error);

/* Arena helpers for building responses: zeroed memory, NULL when out of memory. */
void *request_alloc(struct request *r, size_t size);
char *request_strdup(struct request *r, const char *s);

/* The i-th op of the request. */
static inline void *request_op(const struct request *r, uint32_t i)
{
    return (char *)r->ops + (size_t)i * r->op_size;
}

/*
 * Allocates n zeroed ops of op_size bytes (a struct hop first in each,
 * owner -1: answered locally) and their result slots. Returns 0 or -1.
 */
int request_alloc_ops(struct request *r, uint32_t n, size_t op_size);

/*
 * Starts the hop of every op whose owner is set; all_done runs once all are
 * back (at once, when none went out). Tells the connection which shard
 * owned them, so it may move there (net/conn_move.c).
 */
void request_start_hops(struct request *r, void (*all_done)(struct request *r));

/*
 * Sends an op's hop, with run as its owner half, to the shard that owns
 * (ti, partition). Returns NONE, or UNKNOWN_TOPIC / UNKNOWN_PARTITION for
 * a partition the topic table does not have (the hop then stays home).
 */
struct topic_info;
int request_route(struct request *r, struct hop *hop, const struct topic_info *ti,
                  uint32_t partition, void (*run)(struct hop *hop));

/*
 * On the owner shard: the partition an op names, or NULL when this shard
 * does not hold it (the topic was deleted meanwhile); then the hop has been
 * sent home with *error = UNKNOWN_PARTITION and *message set.
 */
struct partition *request_owner_partition(struct hop *hop, const char *topic, uint32_t partition,
                                          int *error, const char **message);

#endif
