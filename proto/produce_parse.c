#include "produce_parse.h"

#include <stdbool.h>
#include <string.h>

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

static int parse_topic(const struct pb_field *outer, struct rl_arena *a,
                       Ringlog__TopicProduceData **out)
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
