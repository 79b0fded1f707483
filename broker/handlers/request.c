#include "request.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "fault_alloc.h"
#include "errors.h"
#include "frame.h"
#include "io/clock.h"
#include "partition/partition_table.h"
#include "produce_parse.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

enum { RESPONSE_ARENA_CHUNK = 4096, RESPONSE_ARENA_LIMIT = 64 << 20 };

enum { MSG_ARENA_CHUNK = 2048 };

/*
 * Produce frames take the copy-free parse: the request keeps the frame and
 * the batches are written from it. A frame the decoder reassembled is taken
 * over as is; one that lay whole in a receive buffer is copied out, because
 * that buffer goes back to the ring now. Returns false when the frame is not
 * of the plain produce shape (or memory ran out) and protobuf-c should
 * decode it instead.
 */
static bool parse_produce_in_place(struct request *r, const uint8_t *frame, size_t len)
{
    rl_arena_init(&r->msg_arena, MSG_ARENA_CHUNK, RESPONSE_ARENA_LIMIT);
    Ringlog__Request *msg;
    if (rl_produce_request_parse(frame, len, &r->msg_arena, &msg) != RL_PRODUCE_PARSE_OK) {
        rl_arena_destroy(&r->msg_arena);
        return false;
    }
    uint8_t *owned = rl_frame_decoder_take_frame(&r->conn->decoder, frame);
    if (!owned) {
        owned = FAULT_ALLOC(malloc(len));
        if (!owned) {
            rl_arena_destroy(&r->msg_arena);
            return false;
        }
        memcpy(owned, frame, len);
        rl_produce_request_rebase(msg, frame, owned);
    }
    r->frame_buf = owned;
    r->msg = msg;
    r->msg_in_arena = true;
    return true;
}

struct request *request_new(struct conn *c, const uint8_t *frame, size_t len)
{
    assert(c->shard == shard_current());
    struct request *r = FAULT_ALLOC(calloc(1, sizeof(*r)));
    if (!r)
        return NULL;
    r->conn = c;
    r->shard = c->shard;
    if (!parse_produce_in_place(r, frame, len)) {
        int status;
        r->msg = FAULT_ALLOC(rl_request_decode(frame, len, NULL, &status));
        if (!r->msg) {
            free(r);
            return NULL;
        }
    }
    r->started_ns = clock_monotonic_ns();
    ringlog__response__init(&r->resp);
    r->resp.correlation_id = r->msg->correlation_id;
    rl_arena_init(&r->arena, RESPONSE_ARENA_CHUNK, RESPONSE_ARENA_LIMIT);
    conn_queue(c, &r->reply);
    return r;
}

void *request_alloc(struct request *r, size_t size)
{
    void *p = FAULT_ALLOC(rl_arena_alloc(&r->arena, size));
    if (p)
        memset(p, 0, size);
    return p;
}

char *request_strdup(struct request *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = FAULT_ALLOC(rl_arena_alloc(&r->arena, n));
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

void request_complete(struct request *r)
{
    struct conn *c = r->conn;
    assert(r->shard == shard_current());
    assert(r->reply.pending == 0 && !r->reply.ready);
    /* An acks=0 request that failed cannot say so: as Kafka does, the
     * connection closes once the requests before it are answered, so the
     * client learns that something it sent was not applied. */
    bool close_after = r->silent && !conn_is_closing(c) &&
                       (r->resp.error != RINGLOG__ERROR_CODE__NONE || r->partition_failed);
    if (r->resp.error != RINGLOG__ERROR_CODE__NONE && r->api < METRICS_API_SLOTS)
        metrics_add(&r->shard->metrics.errors[r->api], 1);
    if (!r->silent && !conn_is_closing(c)) {
        /* Fetched batches are referenced, not copied: they stay in the ops
         * until the response has been sent and the request is freed. */
        if (!fault_alloc_fail() &&
            rl_frame_pack_iov(&r->reply.out, &r->resp.base, RL_FRAME_IOV_DEFAULT_MIN_REF) == 0) {
            r->reply.out_len = r->reply.out.total;
        } else {
            DIAG_ERROR("out of memory encoding a response");
            conn_close(c, "out of memory");
        }
    }
    /* The response owns copies of everything now; drop what built it. */
    rl_arena_destroy(&r->arena);
    conn_reply_ready(c, &r->reply); /* may free r */
    if (close_after && !conn_is_closing(c)) {
        DIAG_DEBUG("closing connection %llu: an acks=0 produce failed", (unsigned long long)c->id);
        conn_begin_drain(c);
        conn_maybe_free(c);
    }
}

void request_count_partition_error(struct request *r, int error)
{
    r->partition_failed = r->partition_failed || error != RINGLOG__ERROR_CODE__NONE;
    if (error != RINGLOG__ERROR_CODE__NONE && r->api > 0 && r->api < METRICS_API_SLOTS)
        metrics_add(&r->shard->metrics.partition_errors[r->api], 1);
}

void request_fail(struct request *r, int error, const char *message)
{
    r->resp.error = error;
    r->resp.error_message = request_strdup(r, message ? message : rl_error_message(error));
    if (r->resp.error_message == NULL)
        r->resp.error_message = (char *)rl_error_message(error);
    r->resp.body_case = RINGLOG__RESPONSE__BODY__NOT_SET;
    request_complete(r);
}

static void request_free(struct request *r)
{
    assert(r->reply.pending == 0);
    if (r->parked) {
        struct request **link = &r->shard->parked;
        while (*link && *link != r)
            link = &(*link)->park_next;
        if (*link)
            *link = r->park_next;
    }
    if (r->release_ops)
        r->release_ops(r);
    free(r->ops);
    free(r->results);
    rl_frame_iov_free(&r->reply.out);
    rl_arena_destroy(&r->arena);
    if (r->msg_in_arena) {
        rl_arena_destroy(&r->msg_arena);
        free(r->frame_buf);
    } else {
        ringlog__request__free_unpacked(r->msg, NULL);
    }
    free(r);
}

void request_release(struct conn_reply *reply)
{
    request_free(rl_container_of(reply, struct request, reply));
}

/* ------------------------------------------------------------- fan-out */

int request_alloc_ops(struct request *r, uint32_t n, size_t op_size)
{
    assert(r->ops == NULL && op_size >= sizeof(struct hop));
    r->ops = FAULT_ALLOC(calloc(n ? n : 1, op_size));
    r->results = FAULT_ALLOC(calloc(n ? n : 1, sizeof(*r->results)));
    if (!r->ops || !r->results)
        return -1;
    r->op_size = op_size;
    r->op_count = n;
    for (uint32_t i = 0; i < n; i++) {
        struct hop *h = request_op(r, i);
        h->owner = -1;
        h->ctx = r;
    }
    return 0;
}

static void hop_back(struct hop *h)
{
    struct request *r = h->ctx;
    assert(r->reply.pending > 0);
    if (--r->reply.pending == 0)
        r->all_done(r);
}

/* Tells the connection which shard owned every partition of r (-1: several). */
static void note_owner(const struct request *r)
{
    int owner = -2; /* none yet */
    for (uint32_t i = 0; i < r->op_count && owner != -1; i++) {
        int o = ((const struct hop *)request_op(r, i))->owner;
        if (o >= 0)
            owner = owner == -2 || owner == o ? o : -1;
    }
    if (owner != -2)
        conn_note_owner(r->conn, owner);
}

void request_start_hops(struct request *r, void (*all_done)(struct request *r))
{
    assert(r->reply.pending == 0);
    r->all_done = all_done;
    /* One extra count held while starting, so a hop that finishes at once
     * cannot complete the request before the rest have started. */
    r->reply.pending = 1;
    note_owner(r);
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct hop *h = request_op(r, i);
        if (h->owner < 0)
            continue;
        assert(h->run != NULL && h->ctx == r);
        r->reply.pending++;
        h->done = hop_back;
        hop_start(&r->shard->loop, h);
    }
    if (--r->reply.pending == 0)
        all_done(r);
}

int request_route(struct request *r, struct hop *hop, const struct topic_info *ti,
                  uint32_t partition, void (*run)(struct hop *hop))
{
    assert(hop->ctx == r && hop->owner == -1);
    int error = wire_error_partition_known(ti, partition);
    if (error == RINGLOG__ERROR_CODE__NONE) {
        hop->run = run;
        hop->owner = topic_partition_owner(ti, partition, r->shard->srv->nshards);
    }
    return error;
}

struct partition *request_owner_partition(struct hop *hop, const char *topic, uint32_t partition,
                                          int *error, const char **message)
{
    struct shard *owner = shard_current();
    assert(owner->loop.id == hop->owner && !hop->returning);
    struct partition *p = partition_table_find(owner->parts, topic, partition);
    if (p == NULL) {
        *error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
        *message = "the partition is not open on this broker";
        hop_return(&owner->loop, hop);
    }
    return p;
}
