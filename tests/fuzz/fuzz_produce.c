/*
 * The broker's copy-free produce parse (proto/produce_parse.c, over the
 * envelope and field reader of proto/pb_reader.h) against protobuf-c's own
 * unpack, on every input taken as a Request frame body.
 *
 * What must hold:
 *  - OK: protobuf-c accepts the same bytes as a produce request and reads
 *    every field the same, and each partition's records lie inside the input
 *    (they point into the frame, not into a copy).
 *  - FALLBACK is the one legitimate difference: the broker then unpacks with
 *    protobuf-c, so whatever protobuf-c decides is the answer. The fast parse
 *    takes only the plain shape clients send (the schema's fields with their
 *    wire types, `produce` once, non-empty records, varints as
 *    rl_varint_get reads them) and leaves merges, unknown fields, other
 *    bodies and odd encodings to protobuf-c.
 *  - But the plain shape itself must not fall back: bytes that protobuf-c's
 *    pack gives back unchanged (canonical), with a produce body whose
 *    partitions all carry records, must parse in place.
 *  - NOMEM only when the arena's limit (the broker's, 64 MiB) is reached.
 */
#include <string.h>

#include "fuzz_pb.h"
#include "produce_parse.h"

static void check_partition(const Ringlog__PartitionProduceData *x,
                            const Ringlog__PartitionProduceData *y, const uint8_t *data,
                            size_t size)
{
    FUZZ_CHECK(x->partition == y->partition);
    FUZZ_CHECK(x->records.len == y->records.len && x->records.len > 0);
    FUZZ_CHECK(fuzz_inside(x->records.data, x->records.len, data, size));
    FUZZ_CHECK(memcmp(x->records.data, y->records.data, x->records.len) == 0);
}

/* The in-place request reads exactly what protobuf-c's does. */
static void check_same(const Ringlog__Request *a, const Ringlog__Request *b, const uint8_t *data,
                       size_t size)
{
    FUZZ_CHECK(a->correlation_id == b->correlation_id);
    FUZZ_CHECK(a->api_version == b->api_version);
    FUZZ_CHECK(strcmp(a->client_id, b->client_id) == 0);
    FUZZ_CHECK(a->body_case == RINGLOG__REQUEST__BODY_PRODUCE);
    FUZZ_CHECK(b->body_case == RINGLOG__REQUEST__BODY_PRODUCE);
    const Ringlog__ProduceRequest *pa = a->produce, *pb = b->produce;
    FUZZ_CHECK(pa->acks == pb->acks);
    FUZZ_CHECK(pa->timeout_ms == pb->timeout_ms);
    FUZZ_CHECK(pa->n_topics == pb->n_topics);
    for (size_t t = 0; t < pa->n_topics; t++) {
        const Ringlog__TopicProduceData *x = pa->topics[t], *y = pb->topics[t];
        FUZZ_CHECK(strcmp(x->topic, y->topic) == 0);
        FUZZ_CHECK(x->n_partitions == y->n_partitions);
        for (size_t p = 0; p < x->n_partitions; p++)
            check_partition(x->partitions[p], y->partitions[p], data, size);
    }
}

/* A produce request protobuf-c would write byte for byte, records in every partition. */
static int plain_shape(const Ringlog__Request *req, const uint8_t *data, size_t size)
{
    if (req->body_case != RINGLOG__REQUEST__BODY_PRODUCE)
        return 0;
    const Ringlog__ProduceRequest *pr = req->produce;
    for (size_t t = 0; t < pr->n_topics; t++)
        for (size_t p = 0; p < pr->topics[t]->n_partitions; p++)
            if (pr->topics[t]->partitions[p]->records.len == 0)
                return 0;
    return fuzz_canonical(&req->base, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rl_arena *arena = fuzz_arena();
    Ringlog__Request *fast;
    int rc = rl_produce_request_parse(data, size, arena, &fast);
    Ringlog__Request *slow = ringlog__request__unpack(NULL, size, data);
    if (rc == RL_PRODUCE_PARSE_OK) {
        FUZZ_CHECK(fast != NULL);
        FUZZ_CHECK(slow != NULL); /* accepted in place, so protobuf-c must accept it */
        check_same(fast, slow, data, size);
    } else {
        FUZZ_CHECK(fast == NULL);
        FUZZ_CHECK(rc == RL_PRODUCE_PARSE_FALLBACK || rc == RL_PRODUCE_PARSE_NOMEM);
        FUZZ_CHECK(rc != RL_PRODUCE_PARSE_NOMEM || size > FUZZ_ARENA_LIMIT / 64);
        FUZZ_CHECK(slow == NULL || !plain_shape(slow, data, size));
    }
    if (slow)
        ringlog__request__free_unpacked(slow, NULL);
    rl_arena_reset(arena);
    return 0;
}
