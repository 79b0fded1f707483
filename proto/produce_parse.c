#include "produce_parse.h"

#include "pb_reader.h"

_Static_assert((int)RL_PRODUCE_PARSE_OK == (int)PB_PARSE_OK &&
                   (int)RL_PRODUCE_PARSE_FALLBACK == (int)PB_PARSE_FALLBACK &&
                   (int)RL_PRODUCE_PARSE_NOMEM == (int)PB_PARSE_NOMEM,
               "one set of return values");

static int parse_partition(const struct pb_field *outer, struct rl_arena *a, void **out)
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

static int parse_topic(const struct pb_field *outer, struct rl_arena *a, void **out)
{
    Ringlog__TopicProduceData *td = rl_arena_alloc(a, sizeof(*td));
    if (!td)
        return RL_PRODUCE_PARSE_NOMEM;
    ringlog__topic_produce_data__init(td);
    struct ptr_list parts = {0};
    int rc = pb_parse_named_list(outer, a, &td->topic, &parts, parse_partition);
    if (rc != PB_PARSE_OK)
        return rc;
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
            int trc = pb_parse_child(&f, a, &topics, parse_topic);
            if (trc != RL_PRODUCE_PARSE_OK)
                return trc;
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
    struct pb_envelope e;
    if (pb_read_envelope(frame, len, RINGLOG__REQUEST__BODY_PRODUCE, &e) != PB_PARSE_OK)
        return RL_PRODUCE_PARSE_FALLBACK;
    Ringlog__Request *req = rl_arena_alloc(arena, sizeof(*req));
    if (!req)
        return RL_PRODUCE_PARSE_NOMEM;
    ringlog__request__init(req);
    req->correlation_id = e.correlation_id;
    req->api_version = (uint32_t)e.field2;
    if (e.have_text && !(req->client_id = arena_string(arena, &e.text)))
        return RL_PRODUCE_PARSE_NOMEM;
    int prc = parse_produce(&e.body, arena, &req->produce);
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
