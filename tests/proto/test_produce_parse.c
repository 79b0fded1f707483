/*
 * The copy-free produce parse against protobuf-c: on every frame it accepts
 * it must mean exactly what protobuf-c's unpack means, with records pointing
 * into the frame; every other shape must fall back. Randomized cases print
 * their seed (RINGLOG_TEST_SEED replays one).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "frame.h"
#include "produce_parse.h"
#include "test_rng.h"

enum { MAX_TOPICS = 4, MAX_PARTS = 5 };

/* A random produce request, packed by protobuf-c (no frame header). */
static uint8_t *random_produce(struct test_rng *rng, size_t *len)
{
    static char names[MAX_TOPICS][16];
    static uint8_t records[MAX_TOPICS][MAX_PARTS][300];
    static Ringlog__PartitionProduceData pds[MAX_TOPICS][MAX_PARTS];
    static Ringlog__PartitionProduceData *pdp[MAX_TOPICS][MAX_PARTS];
    static Ringlog__TopicProduceData tds[MAX_TOPICS];
    static Ringlog__TopicProduceData *tdp[MAX_TOPICS];
    Ringlog__ProduceRequest pr = RINGLOG__PRODUCE_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    size_t nt = test_rng_below(rng, MAX_TOPICS + 1);
    for (size_t t = 0; t < nt; t++) {
        ringlog__topic_produce_data__init(&tds[t]);
        snprintf(names[t], sizeof(names[t]), "t%llu",
                 (unsigned long long)test_rng_below(rng, 100000));
        tds[t].topic = test_rng_below(rng, 8) ? names[t] : "";
        size_t np = test_rng_below(rng, MAX_PARTS + 1);
        for (size_t p = 0; p < np; p++) {
            ringlog__partition_produce_data__init(&pds[t][p]);
            pds[t][p].partition = (uint32_t)test_rng_next(rng);
            size_t rl = 1 + test_rng_below(rng, sizeof(records[t][p]));
            test_rng_fill(rng, records[t][p], rl);
            pds[t][p].records = (ProtobufCBinaryData){.len = rl, .data = records[t][p]};
            pdp[t][p] = &pds[t][p];
        }
        tds[t].n_partitions = np;
        tds[t].partitions = pdp[t];
        tdp[t] = &tds[t];
    }
    pr.n_topics = nt;
    pr.topics = tdp;
    pr.acks = (int32_t[]){0, 1, -1, (int32_t)test_rng_next(rng)}[test_rng_below(rng, 4)];
    pr.timeout_ms = (uint32_t)test_rng_next(rng);
    req.correlation_id = test_rng_next(rng) >> test_rng_below(rng, 64);
    req.api_version = (uint32_t)test_rng_below(rng, 3);
    req.client_id = test_rng_below(rng, 2) ? "bench-client" : "";
    req.body_case = RINGLOG__REQUEST__BODY_PRODUCE;
    req.produce = &pr;
    *len = ringlog__request__get_packed_size(&req);
    uint8_t *buf = malloc(*len);
    cr_assert_eq(ringlog__request__pack(&req, buf), *len);
    return buf;
}

/* The parsed request equals protobuf-c's, field by field, records inside the frame. */
static void expect_same(const Ringlog__Request *a, const Ringlog__Request *b, const uint8_t *frame,
                        size_t len)
{
    cr_assert_eq(a->correlation_id, b->correlation_id);
    cr_assert_eq(a->api_version, b->api_version);
    cr_assert_str_eq(a->client_id, b->client_id);
    cr_assert_eq(a->body_case, RINGLOG__REQUEST__BODY_PRODUCE);
    cr_assert_eq(b->body_case, RINGLOG__REQUEST__BODY_PRODUCE);
    const Ringlog__ProduceRequest *pa = a->produce, *pb = b->produce;
    cr_assert_eq(pa->acks, pb->acks);
    cr_assert_eq(pa->timeout_ms, pb->timeout_ms);
    cr_assert_eq(pa->n_topics, pb->n_topics);
    for (size_t t = 0; t < pa->n_topics; t++) {
        cr_assert_str_eq(pa->topics[t]->topic, pb->topics[t]->topic);
        cr_assert_eq(pa->topics[t]->n_partitions, pb->topics[t]->n_partitions);
        for (size_t p = 0; p < pa->topics[t]->n_partitions; p++) {
            const Ringlog__PartitionProduceData *x = pa->topics[t]->partitions[p];
            const Ringlog__PartitionProduceData *y = pb->topics[t]->partitions[p];
            cr_assert_eq(x->partition, y->partition);
            cr_assert_eq(x->records.len, y->records.len);
            cr_assert_eq(memcmp(x->records.data, y->records.data, x->records.len), 0);
            cr_assert(x->records.data >= frame && x->records.data + x->records.len <= frame + len,
                      "records must point into the frame");
        }
    }
}

Test(produce_parse, random_requests_match_protobuf_c)
{
    struct test_rng rng;
    test_rng_seed(&rng, "produce_parse.random_requests_match_protobuf_c", 11);
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    for (int i = 0; i < 2000; i++) {
        size_t len;
        uint8_t *buf = random_produce(&rng, &len);
        Ringlog__Request *fast;
        int rc = rl_produce_request_parse(buf, len, &arena, &fast);
        Ringlog__Request *slow = ringlog__request__unpack(NULL, len, buf);
        cr_assert_not_null(slow);
        /* Only a partition with empty records is outside the fast shape. */
        if (rc == RL_PRODUCE_PARSE_OK)
            expect_same(fast, slow, buf, len);
        else
            cr_assert_eq(rc, RL_PRODUCE_PARSE_FALLBACK);
        ringlog__request__free_unpacked(slow, NULL);
        rl_arena_reset(&arena);
        free(buf);
    }
    rl_arena_destroy(&arena);
}

/* Damaged frames: whatever the fast parse accepts, protobuf-c accepts the
 * same way; it never reads outside the frame (ASan watches). */
Test(produce_parse, damaged_frames_never_disagree)
{
    struct test_rng rng;
    test_rng_seed(&rng, "produce_parse.damaged_frames_never_disagree", 12);
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    int accepted = 0, fell_back = 0;
    for (int i = 0; i < 4000; i++) {
        size_t len;
        uint8_t *orig = random_produce(&rng, &len);
        size_t cut;
        uint8_t *buf = test_rng_damage(&rng, orig, len, &cut);
        Ringlog__Request *fast;
        int rc = rl_produce_request_parse(buf, cut, &arena, &fast);
        Ringlog__Request *slow = ringlog__request__unpack(NULL, cut, buf);
        if (rc == RL_PRODUCE_PARSE_OK) {
            cr_assert_not_null(slow, "the fast parse accepted a frame protobuf-c rejects (case %d)",
                               i);
            expect_same(fast, slow, buf, cut);
            accepted++;
        } else {
            cr_assert_eq(rc, RL_PRODUCE_PARSE_FALLBACK);
            cr_assert_null(fast);
            fell_back++;
        }
        if (slow)
            ringlog__request__free_unpacked(slow, NULL);
        rl_arena_reset(&arena);
        free(buf);
        free(orig);
    }
    cr_log_info("damaged frames: %d parsed in place, %d fell back", accepted, fell_back);
    cr_assert_gt(accepted, 0);
    cr_assert_gt(fell_back, 0);
    rl_arena_destroy(&arena);
}

/* Appends one varint-keyed field to buf at *n. */
static void put_varint_field(uint8_t *buf, size_t *n, uint32_t number, uint64_t v)
{
    buf[(*n)++] = (uint8_t)(number << 3);
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        buf[(*n)++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
}

Test(produce_parse, other_shapes_fall_back)
{
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    struct test_rng rng = {.state = 5};
    size_t len;
    uint8_t *good = random_produce(&rng, &len);
    Ringlog__Request *out;
    uint8_t buf[4096];

    /* an unknown field in the envelope, before or after the body */
    size_t n = 0;
    put_varint_field(buf, &n, 9, 1);
    memcpy(buf + n, good, len);
    cr_assert_eq(rl_produce_request_parse(buf, n + len, &arena, &out), RL_PRODUCE_PARSE_FALLBACK);
    cr_assert_null(out);
    memcpy(buf, good, len);
    n = len;
    put_varint_field(buf, &n, 9, 1);
    cr_assert_eq(rl_produce_request_parse(buf, n, &arena, &out), RL_PRODUCE_PARSE_FALLBACK);

    /* the produce body twice: protobuf-c merges them, so it decides */
    memcpy(buf, good, len);
    memcpy(buf + len, good, len);
    cr_assert_eq(rl_produce_request_parse(buf, 2 * len, &arena, &out), RL_PRODUCE_PARSE_FALLBACK);

    /* another body: a metadata request */
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    n = ringlog__request__pack(&req, buf);
    cr_assert_eq(rl_produce_request_parse(buf, n, &arena, &out), RL_PRODUCE_PARSE_FALLBACK);

    /* no body at all */
    n = 0;
    put_varint_field(buf, &n, 1, 42);
    cr_assert_eq(rl_produce_request_parse(buf, n, &arena, &out), RL_PRODUCE_PARSE_FALLBACK);

    /* a field with a wire type the schema does not give it (acks as fixed32) */
    uint8_t fixed[] = {(14 << 3) | 2, 5, (1 << 3) | 5, 1, 0, 0, 0};
    cr_assert_eq(rl_produce_request_parse(fixed, sizeof(fixed), &arena, &out),
                 RL_PRODUCE_PARSE_FALLBACK);
    free(good);
    rl_arena_destroy(&arena);
}

Test(produce_parse, rebase_moves_records_to_a_copy)
{
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    struct test_rng rng = {.state = 99};
    Ringlog__Request *out = NULL;
    size_t len;
    uint8_t *buf = NULL;
    /* a request with at least one partition */
    do {
        free(buf);
        buf = random_produce(&rng, &len);
        rl_arena_reset(&arena);
    } while (rl_produce_request_parse(buf, len, &arena, &out) != RL_PRODUCE_PARSE_OK ||
             out->produce->n_topics == 0 || out->produce->topics[0]->n_partitions == 0);
    uint8_t *copy = malloc(len);
    memcpy(copy, buf, len);
    rl_produce_request_rebase(out, buf, copy);
    memset(buf, 0xee, len);
    Ringlog__Request *slow = ringlog__request__unpack(NULL, len, copy);
    expect_same(out, slow, copy, len);
    ringlog__request__free_unpacked(slow, NULL);
    free(copy);
    free(buf);
    rl_arena_destroy(&arena);
}
