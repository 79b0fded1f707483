#include "request.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "frame.h"
#include "diag.h"
#include "produce_parse.h"
#include "server.h"

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
        owned = malloc(len);
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
    struct request *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->conn = c;
    r->shard = c->shard;
    if (!parse_produce_in_place(r, frame, len)) {
        int status;
        r->msg = rl_request_decode(frame, len, NULL, &status);
        if (!r->msg) {
            free(r);
            return NULL;
        }
    }
    Ringlog__Request *msg = r->msg;
    r->started_ns = clock_monotonic_ns();
    ringlog__response__init(&r->resp);
    r->resp.correlation_id = msg->correlation_id;
    rl_arena_init(&r->arena, RESPONSE_ARENA_CHUNK, RESPONSE_ARENA_LIMIT);
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->inflight++;
    return r;
}

void *request_alloc(struct request *r, size_t size)
{
    void *p = rl_arena_alloc(&r->arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *request_strdup(struct request *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = rl_arena_alloc(&r->arena, n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

void request_complete(struct request *r)
{
    struct conn *c = r->conn;
    if (r->resp.error != RINGLOG__ERROR_CODE__NONE && r->api < METRICS_API_SLOTS)
        metrics_add(&r->shard->metrics.errors[r->api], 1);
    if (!r->silent && !c->closing) {
        /* Fetched batches are referenced, not copied: they stay in r->ops
         * until the response has been sent and the request is freed. */
        if (rl_frame_pack_iov(&r->out, &r->resp.base, RL_FRAME_IOV_DEFAULT_MIN_REF) == 0) {
            r->out_len = r->out.total;
            c->unsent_bytes += r->out_len;
        } else {
            DIAG_ERROR("out of memory encoding a response");
            conn_close(c, "out of memory");
        }
    }
    r->ready = true;
    /* The response owns copies of everything now; drop what built it. */
    rl_arena_destroy(&r->arena);
    conn_flush(c);
    conn_maybe_free(c);
}

void request_free(struct request *r)
{
    if (r->parked) {
        struct request **link = &r->shard->parked;
        while (*link && *link != r)
            link = &(*link)->park_next;
        if (*link)
            *link = r->park_next;
    }
    for (uint32_t i = 0; i < r->op_count; i++)
        free(r->ops[i].records);
    free(r->ops);
    free(r->results);
    free(r->state);
    rl_frame_iov_free(&r->out);
    rl_arena_destroy(&r->arena);
    if (r->msg_in_arena) {
        rl_arena_destroy(&r->msg_arena);
        free(r->frame_buf);
    } else {
        ringlog__request__free_unpacked(r->msg, NULL);
    }
    free(r);
}

/* ------------------------------------------------------------ part ops */

static void op_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct part_op *op = rl_container_of(c, struct part_op, msg.arrive);
    struct shard *s = shard_current();
    if (op->returning)
        op->on_done(op);
    else
        partition_run_op(s, op);
}

void part_op_start(struct shard *origin, struct part_op *op)
{
    op->origin = origin->id;
    op->returning = false;
    op->msg.arrive.on_complete = op_arrived;
    if (op->owner == origin->id)
        partition_run_op(origin, op);
    else
        shard_send(origin, op->owner, &op->msg);
}

void part_op_finish(struct shard *owner, struct part_op *op)
{
    op->returning = true;
    if (op->origin == owner->id)
        op->on_done(op);
    else
        shard_send(owner, op->origin, &op->msg);
}

int request_alloc_ops(struct request *r, uint32_t n)
{
    r->ops = calloc(n ? n : 1, sizeof(*r->ops));
    r->results = calloc(n ? n : 1, sizeof(*r->results));
    if (!r->ops || !r->results)
        return -1;
    r->op_count = n;
    for (uint32_t i = 0; i < n; i++) {
        r->ops[i].index = i;
        r->ops[i].owner = -1;
        r->ops[i].ctx = r;
    }
    return 0;
}

static void fanout_op_done(struct part_op *op)
{
    struct request *r = op->ctx;
    if (--r->pending == 0)
        r->ops_done(r);
}

/* Tells the connection which shard owned every partition of r (-1: several). */
static void note_owner(const struct request *r)
{
    int owner = -2; /* none yet */
    for (uint32_t i = 0; i < r->op_count && owner != -1; i++) {
        int o = r->ops[i].owner;
        if (o >= 0)
            owner = owner == -2 || owner == o ? o : -1;
    }
    if (owner != -2)
        conn_note_owner(r->conn, owner);
}

void request_start_ops(struct request *r, void (*ops_done)(struct request *r))
{
    r->ops_done = ops_done;
    /* One extra count held while starting, so an op that finishes at once
     * cannot complete the request before the rest have started. */
    r->pending = 1;
    note_owner(r);
    for (uint32_t i = 0; i < r->op_count; i++) {
        struct part_op *op = &r->ops[i];
        if (op->owner < 0)
            continue;
        r->pending++;
        op->on_done = fanout_op_done;
        op->error = 0;
        op->error_message = NULL;
        part_op_start(r->shard, op);
    }
    if (--r->pending == 0)
        ops_done(r);
}
