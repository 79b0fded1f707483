#include "produce_parse.h"

#include <stdbool.h>
#include <string.h>

#include "varint.h"

enum wire_type { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* A cursor over one message's bytes. */
struct pb_reader {
    const uint8_t *pos, *end;
};

/* One field: its number and wire type, and its value (varint or span). */
struct pb_field {
    uint32_t number;
    uint32_t wire;
    uint64_t varint;
    const uint8_t *data;
    size_t len;
};

/* Reads the next field; returns 1 for a field, 0 at the end, -1 when the
 * bytes are not a field of a wire type this parser takes. */
static int pb_next(struct pb_reader *r, struct pb_field *f)
{
    if (r->pos == r->end)
        return 0;
    uint64_t key;
    if (rl_varint_get(&r->pos, r->end, &key) != 0 || key >> 32 != 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (f->wire == WIRE_VARINT)
        return rl_varint_get(&r->pos, r->end, &f->varint) == 0 ? 1 : -1;
    if (f->wire != WIRE_LEN)
        return -1;
    uint64_t len;
    if (rl_varint_get(&r->pos, r->end, &len) != 0 || len > (uint64_t)(r->end - r->pos))
        return -1;
    f->data = r->pos;
    f->len = (size_t)len;
    r->pos += len;
    return 1;
}

/* The arena's copy of a string field, NUL-terminated as protobuf-c makes it. */
static char *arena_string(struct rl_arena *a, const struct pb_field *f)
{
    char *s = rl_arena_alloc(a, f->len + 1);
    if (s) {
        memcpy(s, f->data, f->len);
        s[f->len] = 0;
    }
    return s;
}

/*
 * A growing array of pointers in the arena. Repeated fields arrive one at a
 * time and their count is unknown up front; doubling keeps it linear.
 */
struct ptr_list {
    void **items;
    size_t n, cap;
};

static int ptr_list_push(struct rl_arena *a, struct ptr_list *l, void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        void **items = rl_arena_alloc(a, cap * sizeof(*items));
        if (!items)
            return -1;
        if (l->n)
            memcpy(items, l->items, l->n * sizeof(*items));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return 0;
}

static int parse_partition(const struct pb_field *outer, struct rl_arena *a,
                           Ringlog__PartitionProduceData **out)
{
    Ringlog__PartitionProduceData *pd = rl_arena_alloc(a, sizeof(*pd));
    if (!pd)
        return RL_PRODUCE_PARSE_NOMEM;
    ringlog__partition_produce_data__init(pd);
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_VARINT)
            pd->partition = (uint32_t)f.varint;
        else if (f.number == 2 && f.wire == WIRE_LEN && f.len > 0)
            pd->records = (ProtobufCBinaryData){.len = f.len, .data = (uint8_t *)f.data};
        else
            return RL_PRODUCE_PARSE_FALLBACK;
    }
    if (rc < 0 || pd->records.len == 0)
        return RL_PRODUCE_PARSE_FALLBACK;
    *out = pd;
    return RL_PRODUCE_PARSE_OK;
}

static int parse_topic(const struct pb_field *outer, struct rl_arena *a,
                       Ringlog__TopicProduceData **out)
{
    Ringlog__TopicProduceData *td = rl_arena_alloc(a, sizeof(*td));
    if (!td)
        return RL_PRODUCE_PARSE_NOMEM;
    ringlog__topic_produce_data__init(td);
    struct ptr_list parts = {0};
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_LEN) {
            if (!(td->topic = arena_string(a, &f)))
                return RL_PRODUCE_PARSE_NOMEM;
        } else if (f.number == 2 && f.wire == WIRE_LEN) {
            Ringlog__PartitionProduceData *pd;
            int prc = parse_partition(&f, a, &pd);
            if (prc != RL_PRODUCE_PARSE_OK)
                return prc;
            if (ptr_list_push(a, &parts, pd) != 0)
                return RL_PRODUCE_PARSE_NOMEM;
        } else {
            return RL_PRODUCE_PARSE_FALLBACK;
        }
    }
    if (rc < 0)
        return RL_PRODUCE_PARSE_FALLBACK;
    td->n_partitions = parts.n;
    td->partitions = (Ringlog__PartitionProduceData **)parts.items;
    *out = td;
    return RL_PRODUCE_PARSE_OK;
}

static int parse_produce(const struct pb_field *outer, struct rl_arena *a,
                         Ringlog__ProduceRequest **out)
{
    Ringlog__ProduceRequest *pr = rl_arena_alloc(a, sizeof(*pr));
    if (!pr)
        return RL_PRODUCE_PARSE_NOMEM;
    ringlog__produce_request__init(pr);
    struct ptr_list topics = {0};
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_VARINT) {
            pr->acks = (int32_t)(uint32_t)f.varint;
        } else if (f.number == 2 && f.wire == WIRE_VARINT) {
            pr->timeout_ms = (uint32_t)f.varint;
        } else if (f.number == 3 && f.wire == WIRE_LEN) {
            Ringlog__TopicProduceData *td;
            int trc = parse_topic(&f, a, &td);
            if (trc != RL_PRODUCE_PARSE_OK)
                return trc;
            if (ptr_list_push(a, &topics, td) != 0)
                return RL_PRODUCE_PARSE_NOMEM;
        } else {
            return RL_PRODUCE_PARSE_FALLBACK;
        }
    }
    if (rc < 0)
        return RL_PRODUCE_PARSE_FALLBACK;
    pr->n_topics = topics.n;
    pr->topics = (Ringlog__TopicProduceData **)topics.items;
    *out = pr;
    return RL_PRODUCE_PARSE_OK;
}

/*
 * The envelope is read in a first pass that allocates nothing, so every
 * request that is not a produce (fetch, metadata, ...) falls back at no
 * cost; only a produce body is then parsed into the arena.
 */
int rl_produce_request_parse(const uint8_t *frame, size_t len, struct rl_arena *arena,
                             Ringlog__Request **out)
{
    *out = NULL;
    Ringlog__Request env;
    ringlog__request__init(&env);
    struct pb_field client_id = {0}, body = {0};
    bool have_client_id = false, have_body = false;
    struct pb_reader r = {frame, frame + len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_VARINT) {
            env.correlation_id = f.varint;
        } else if (f.number == 2 && f.wire == WIRE_VARINT) {
            env.api_version = (uint32_t)f.varint;
        } else if (f.number == 3 && f.wire == WIRE_LEN) {
            client_id = f;
            have_client_id = true;
        } else if (f.number == RINGLOG__REQUEST__BODY_PRODUCE && f.wire == WIRE_LEN && !have_body) {
            body = f;
            have_body = true;
        } else {
            return RL_PRODUCE_PARSE_FALLBACK;
        }
    }
    if (rc < 0 || !have_body)
        return RL_PRODUCE_PARSE_FALLBACK;
    Ringlog__Request *req = rl_arena_alloc(arena, sizeof(*req));
    if (!req)
        return RL_PRODUCE_PARSE_NOMEM;
    *req = env;
    if (have_client_id && !(req->client_id = arena_string(arena, &client_id)))
        return RL_PRODUCE_PARSE_NOMEM;
    int prc = parse_produce(&body, arena, &req->produce);
    if (prc != RL_PRODUCE_PARSE_OK)
        return prc;
    req->body_case = RINGLOG__REQUEST__BODY_PRODUCE;
    *out = req;
    return RL_PRODUCE_PARSE_OK;
}

void rl_produce_request_rebase(Ringlog__Request *req, const uint8_t *from, const uint8_t *to)
{
    Ringlog__ProduceRequest *pr = req->produce;
    for (size_t t = 0; t < pr->n_topics; t++) {
        Ringlog__TopicProduceData *td = pr->topics[t];
        for (size_t p = 0; p < td->n_partitions; p++) {
            ProtobufCBinaryData *b = &td->partitions[p]->records;
            b->data = (uint8_t *)to + (b->data - from);
        }
    }
}
