/*
 * The client's copy-free fetch-response parse (proto/fetch_parse.c, over
 * proto/pb_reader.h) against protobuf-c's own unpack, on every input taken
 * as a Response frame body: what a broker, or anything posing as one, sends
 * a consumer.
 *
 * What must hold:
 *  - OK: protobuf-c accepts the same bytes as a fetch response and reads
 *    every field the same; each partition's records lie inside the input.
 *  - FALLBACK is the one legitimate difference: the client then unpacks
 *    with protobuf-c (client/conn.c), so protobuf-c decides. The fast parse
 *    takes only the shape the broker sends (the schema's fields with their
 *    wire types, `fetch` once, records at most once, varints as
 *    rl_varint_get reads them).
 *  - A canonical fetch response (protobuf-c's pack gives the bytes back
 *    unchanged) must parse in place: the broker's own answers may not fall
 *    back.
 *  - NOMEM only when the arena's limit is reached.
 */
#include <string.h>

#include "fetch_parse.h"
#include "fuzz_pb.h"

static void check_partition(const Ringlog__FetchPartitionResult *u,
                            const Ringlog__FetchPartitionResult *v, const uint8_t *data,
                            size_t size)
{
    FUZZ_CHECK(u->partition == v->partition);
    FUZZ_CHECK(u->error == v->error);
    FUZZ_CHECK(strcmp(u->error_message, v->error_message) == 0);
    FUZZ_CHECK(u->high_watermark == v->high_watermark);
    FUZZ_CHECK(u->log_start_offset == v->log_start_offset);
    FUZZ_CHECK(u->log_end_offset == v->log_end_offset);
    FUZZ_CHECK((u->current_leader == NULL) == (v->current_leader == NULL));
    FUZZ_CHECK(u->current_leader == NULL ||
               (u->current_leader->leader_id == v->current_leader->leader_id &&
                u->current_leader->leader_epoch == v->current_leader->leader_epoch));
    FUZZ_CHECK(u->records.len == v->records.len);
    FUZZ_CHECK(fuzz_inside(u->records.data, u->records.len, data, size));
    FUZZ_CHECK(u->records.len == 0 ||
               memcmp(u->records.data, v->records.data, u->records.len) == 0);
}

/* The in-place response reads exactly what protobuf-c's does. */
static void check_same(const Ringlog__Response *a, const Ringlog__Response *b, const uint8_t *data,
                       size_t size)
{
    FUZZ_CHECK(a->correlation_id == b->correlation_id);
    FUZZ_CHECK(a->error == b->error);
    FUZZ_CHECK(strcmp(a->error_message, b->error_message) == 0);
    FUZZ_CHECK(a->body_case == RINGLOG__RESPONSE__BODY_FETCH);
    FUZZ_CHECK(b->body_case == RINGLOG__RESPONSE__BODY_FETCH);
    FUZZ_CHECK(a->fetch->throttle_ms == b->fetch->throttle_ms);
    FUZZ_CHECK(a->fetch->n_topics == b->fetch->n_topics);
    for (size_t t = 0; t < a->fetch->n_topics; t++) {
        const Ringlog__FetchTopicResult *x = a->fetch->topics[t], *y = b->fetch->topics[t];
        FUZZ_CHECK(strcmp(x->topic, y->topic) == 0);
        FUZZ_CHECK(x->n_partitions == y->n_partitions);
        for (size_t p = 0; p < x->n_partitions; p++)
            check_partition(x->partitions[p], y->partitions[p], data, size);
    }
}

/* A fetch response protobuf-c would write byte for byte. */
static int plain_shape(const Ringlog__Response *resp, const uint8_t *data, size_t size)
{
    return resp->body_case == RINGLOG__RESPONSE__BODY_FETCH &&
           fuzz_canonical(&resp->base, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rl_arena *arena = fuzz_arena();
    Ringlog__Response fast;
    int rc = rl_fetch_response_parse(data, size, arena, &fast);
    Ringlog__Response *slow = ringlog__response__unpack(NULL, size, data);
    if (rc == RL_FETCH_PARSE_OK) {
        FUZZ_CHECK(slow != NULL); /* accepted in place, so protobuf-c must accept it */
        check_same(&fast, slow, data, size);
    } else {
        FUZZ_CHECK(rc == RL_FETCH_PARSE_FALLBACK || rc == RL_FETCH_PARSE_NOMEM);
        FUZZ_CHECK(rc != RL_FETCH_PARSE_NOMEM || size > FUZZ_ARENA_LIMIT / 64);
        FUZZ_CHECK(slow == NULL || !plain_shape(slow, data, size));
    }
    if (slow)
        ringlog__response__free_unpacked(slow, NULL);
    rl_arena_reset(arena);
    return 0;
}
