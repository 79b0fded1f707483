#include "fetch_parse.h"

#include "pb_reader.h"

_Static_assert((int)RL_FETCH_PARSE_OK == (int)PB_PARSE_OK &&
                   (int)RL_FETCH_PARSE_FALLBACK == (int)PB_PARSE_FALLBACK &&
                   (int)RL_FETCH_PARSE_NOMEM == (int)PB_PARSE_NOMEM,
               "one set of return values");

/* The leader hint beside NOT_LEADER / FENCED_LEADER_EPOCH (given once). */
static int parse_leader_hint(const struct pb_field *outer, struct rl_arena *a,
                             Ringlog__LeaderHint **out)
{
    if (*out != NULL)
        return RL_FETCH_PARSE_FALLBACK; /* twice: protobuf-c merges; let it */
    Ringlog__LeaderHint *h = rl_arena_alloc(a, sizeof(*h));
    if (!h)
        return RL_FETCH_PARSE_NOMEM;
    ringlog__leader_hint__init(h);
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.wire == WIRE_VARINT && f.number == 1)
            h->leader_id = (int32_t)(uint32_t)f.varint;
        else if (f.wire == WIRE_VARINT && f.number == 2)
            h->leader_epoch = (int32_t)(uint32_t)f.varint;
        else
            return RL_FETCH_PARSE_FALLBACK;
    }
    if (rc < 0)
        return RL_FETCH_PARSE_FALLBACK;
    *out = h;
    return RL_FETCH_PARSE_OK;
}

static int parse_partition(const struct pb_field *outer, struct rl_arena *a, void **out)
{
    Ringlog__FetchPartitionResult *pr = rl_arena_alloc(a, sizeof(*pr));
    if (!pr)
        return RL_FETCH_PARSE_NOMEM;
    ringlog__fetch_partition_result__init(pr);
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.wire == WIRE_VARINT && f.number == 1)
            pr->partition = (uint32_t)f.varint;
        else if (f.wire == WIRE_VARINT && f.number == 2)
            pr->error = (Ringlog__ErrorCode)(int32_t)(uint32_t)f.varint;
        else if (f.wire == WIRE_LEN && f.number == 3) {
            if (!(pr->error_message = arena_string(a, &f)))
                return RL_FETCH_PARSE_NOMEM;
        } else if (f.wire == WIRE_VARINT && f.number == 4)
            pr->high_watermark = (int64_t)f.varint;
        else if (f.wire == WIRE_VARINT && f.number == 5)
            pr->log_start_offset = (int64_t)f.varint;
        else if (f.wire == WIRE_VARINT && f.number == 6)
            pr->log_end_offset = (int64_t)f.varint;
        else if (f.wire == WIRE_LEN && f.number == 7 && pr->records.len == 0 && f.len > 0)
            pr->records = (ProtobufCBinaryData){.len = f.len, .data = (uint8_t *)f.data};
        else if (f.wire == WIRE_LEN && f.number == 8) {
            int hrc = parse_leader_hint(&f, a, &pr->current_leader);
            if (hrc != RL_FETCH_PARSE_OK)
                return hrc;
        } else
            return RL_FETCH_PARSE_FALLBACK;
    }
    if (rc < 0)
        return RL_FETCH_PARSE_FALLBACK;
    *out = pr;
    return RL_FETCH_PARSE_OK;
}

static int parse_topic(const struct pb_field *outer, struct rl_arena *a, void **out)
{
    Ringlog__FetchTopicResult *tr = rl_arena_alloc(a, sizeof(*tr));
    if (!tr)
        return RL_FETCH_PARSE_NOMEM;
    ringlog__fetch_topic_result__init(tr);
    struct ptr_list parts = {0};
    int rc = pb_parse_named_list(outer, a, &tr->topic, &parts, parse_partition);
    if (rc != PB_PARSE_OK)
        return rc;
    tr->n_partitions = parts.n;
    tr->partitions = (Ringlog__FetchPartitionResult **)parts.items;
    *out = tr;
    return RL_FETCH_PARSE_OK;
}

static int parse_fetch(const struct pb_field *outer, struct rl_arena *a,
                       Ringlog__FetchResponse **out)
{
    Ringlog__FetchResponse *fr = rl_arena_alloc(a, sizeof(*fr));
    if (!fr)
        return RL_FETCH_PARSE_NOMEM;
    ringlog__fetch_response__init(fr);
    struct ptr_list topics = {0};
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_LEN) {
            int trc = pb_parse_child(&f, a, &topics, parse_topic);
            if (trc != RL_FETCH_PARSE_OK)
                return trc;
        } else if (f.number == 2 && f.wire == WIRE_VARINT) {
            fr->throttle_ms = (uint32_t)f.varint;
        } else {
            return RL_FETCH_PARSE_FALLBACK;
        }
    }
    if (rc < 0)
        return RL_FETCH_PARSE_FALLBACK;
    fr->n_topics = topics.n;
    fr->topics = (Ringlog__FetchTopicResult **)topics.items;
    *out = fr;
    return RL_FETCH_PARSE_OK;
}

/* The envelope first, allocating nothing, so other responses fall back at no cost. */
int rl_fetch_response_parse(const uint8_t *frame, size_t len, struct rl_arena *arena,
                            Ringlog__Response *resp)
{
    ringlog__response__init(resp);
    struct pb_envelope e;
    if (pb_read_envelope(frame, len, RINGLOG__RESPONSE__BODY_FETCH, &e) != PB_PARSE_OK)
        return RL_FETCH_PARSE_FALLBACK;
    resp->correlation_id = e.correlation_id;
    resp->error = (Ringlog__ErrorCode)(int32_t)(uint32_t)e.field2;
    if (e.have_text && !(resp->error_message = arena_string(arena, &e.text)))
        return RL_FETCH_PARSE_NOMEM;
    int frc = parse_fetch(&e.body, arena, &resp->fetch);
    if (frc != RL_FETCH_PARSE_OK)
        return frc;
    resp->body_case = RINGLOG__RESPONSE__BODY_FETCH;
    return RL_FETCH_PARSE_OK;
}
