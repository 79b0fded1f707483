/*
 * The copy-free fetch-response parse against protobuf-c: on every frame it
 * accepts it must mean exactly what protobuf-c's unpack means, with records
 * pointing into the frame; other shapes fall back. Randomized cases print
 * their seed (RINGLOG_TEST_SEED replays one).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "fetch_parse.h"
#include "test_rng.h"

enum { MAX_TOPICS = 3, MAX_PARTS = 4 };

static int64_t random_i64(struct test_rng *rng)
{
    switch (test_rng_below(rng, 3)) {
    case 0:
        return -1 - (int64_t)test_rng_below(rng, 3);
    case 1:
        return (int64_t)test_rng_below(rng, 1000);
    default:
        return (int64_t)(test_rng_next(rng) >> 2);
    }
}

/* A random fetch response, packed by protobuf-c (no frame header). */
static uint8_t *random_fetch(struct test_rng *rng, size_t *len)
{
    static char names[MAX_TOPICS][16], msgs[MAX_TOPICS][MAX_PARTS][16];
    static uint8_t records[MAX_TOPICS][MAX_PARTS][300];
    static Ringlog__FetchPartitionResult prs[MAX_TOPICS][MAX_PARTS];
    static Ringlog__FetchPartitionResult *prp[MAX_TOPICS][MAX_PARTS];
    static Ringlog__FetchTopicResult trs[MAX_TOPICS];
    static Ringlog__FetchTopicResult *trp[MAX_TOPICS];
    Ringlog__FetchResponse fr = RINGLOG__FETCH_RESPONSE__INIT;
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    size_t nt = test_rng_below(rng, MAX_TOPICS + 1);
    for (size_t t = 0; t < nt; t++) {
        ringlog__fetch_topic_result__init(&trs[t]);
        snprintf(names[t], sizeof(names[t]), "t%u", (unsigned)test_rng_below(rng, 1000));
        trs[t].topic = names[t];
        size_t np = test_rng_below(rng, MAX_PARTS + 1);
        for (size_t p = 0; p < np; p++) {
            Ringlog__FetchPartitionResult *pr = &prs[t][p];
            ringlog__fetch_partition_result__init(pr);
            pr->partition = (uint32_t)test_rng_below(rng, 64);
            pr->error = test_rng_below(rng, 4) == 0 ? (Ringlog__ErrorCode)test_rng_below(rng, 20)
                                                    : RINGLOG__ERROR_CODE__NONE;
            if (pr->error) {
                snprintf(msgs[t][p], sizeof(msgs[t][p]), "e%u", (unsigned)pr->error);
                pr->error_message = msgs[t][p];
            }
            pr->high_watermark = random_i64(rng);
            pr->log_start_offset = random_i64(rng);
            pr->log_end_offset = random_i64(rng);
            size_t n = test_rng_below(rng, 4) == 0 ? 0 : 1 + test_rng_below(rng, 299);
            test_rng_fill(rng, records[t][p], n);
            pr->records = (ProtobufCBinaryData){.len = n, .data = n ? records[t][p] : NULL};
            prp[t][p] = pr;
        }
        trs[t].n_partitions = np;
        trs[t].partitions = prp[t];
        trp[t] = &trs[t];
    }
    fr.n_topics = nt;
    fr.topics = trp;
    fr.throttle_ms = (uint32_t)test_rng_below(rng, 3);
    resp.correlation_id = test_rng_next(rng) >> (test_rng_below(rng, 64));
    resp.body_case = RINGLOG__RESPONSE__BODY_FETCH;
    resp.fetch = &fr;
    *len = ringlog__response__get_packed_size(&resp);
    uint8_t *buf = malloc(*len);
    ringlog__response__pack(&resp, buf);
    return buf;
}

static void expect_same(const Ringlog__Response *a, const Ringlog__Response *b,
                        const uint8_t *frame, size_t len)
{
    cr_assert_eq(a->correlation_id, b->correlation_id);
    cr_assert_eq(a->error, b->error);
    cr_assert_str_eq(a->error_message, b->error_message);
    cr_assert_eq(a->body_case, b->body_case);
    cr_assert_eq(a->fetch->throttle_ms, b->fetch->throttle_ms);
    cr_assert_eq(a->fetch->n_topics, b->fetch->n_topics);
    for (size_t t = 0; t < a->fetch->n_topics; t++) {
        const Ringlog__FetchTopicResult *x = a->fetch->topics[t], *y = b->fetch->topics[t];
        cr_assert_str_eq(x->topic, y->topic);
        cr_assert_eq(x->n_partitions, y->n_partitions);
        for (size_t p = 0; p < x->n_partitions; p++) {
            const Ringlog__FetchPartitionResult *u = x->partitions[p], *v = y->partitions[p];
            cr_assert_eq(u->partition, v->partition);
            cr_assert_eq(u->error, v->error);
            cr_assert_str_eq(u->error_message, v->error_message);
            cr_assert_eq(u->high_watermark, v->high_watermark);
            cr_assert_eq(u->log_start_offset, v->log_start_offset);
            cr_assert_eq(u->log_end_offset, v->log_end_offset);
            cr_assert_eq(u->records.len, v->records.len);
            if (u->records.len) {
                cr_assert(u->records.data >= frame &&
                              u->records.data + u->records.len <= frame + len,
                          "records point into the frame");
                cr_assert_eq(memcmp(u->records.data, v->records.data, u->records.len), 0);
            }
        }
    }
}

Test(fetch_parse, random_responses_match_protobuf_c)
{
    struct test_rng rng;
    test_rng_seed(&rng, "fetch_parse.random_responses_match_protobuf_c", 21);
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    for (int i = 0; i < 2000; i++) {
        size_t len;
        uint8_t *buf = random_fetch(&rng, &len);
        Ringlog__Response fast;
        cr_assert_eq(rl_fetch_response_parse(buf, len, &arena, &fast), RL_FETCH_PARSE_OK, "case %d",
                     i);
        Ringlog__Response *slow = ringlog__response__unpack(NULL, len, buf);
        cr_assert_not_null(slow);
        expect_same(&fast, slow, buf, len);
        ringlog__response__free_unpacked(slow, NULL);
        rl_arena_reset(&arena);
        free(buf);
    }
    rl_arena_destroy(&arena);
}

Test(fetch_parse, damaged_frames_never_disagree)
{
    struct test_rng rng;
    test_rng_seed(&rng, "fetch_parse.damaged_frames_never_disagree", 22);
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    int accepted = 0, fell_back = 0;
    for (int i = 0; i < 4000; i++) {
        size_t len;
        uint8_t *orig = random_fetch(&rng, &len);
        size_t cut;
        uint8_t *buf = test_rng_damage(&rng, orig, len, &cut);
        Ringlog__Response fast;
        int rc = rl_fetch_response_parse(buf, cut, &arena, &fast);
        Ringlog__Response *slow = ringlog__response__unpack(NULL, cut, buf);
        if (rc == RL_FETCH_PARSE_OK) {
            cr_assert_not_null(slow, "the fast parse accepted a frame protobuf-c rejects (case %d)",
                               i);
            expect_same(&fast, slow, buf, cut);
            accepted++;
        } else {
            cr_assert_eq(rc, RL_FETCH_PARSE_FALLBACK);
            fell_back++;
        }
        if (slow)
            ringlog__response__free_unpacked(slow, NULL);
        rl_arena_reset(&arena);
        free(buf);
        free(orig);
    }
    cr_log_info("damaged frames: %d parsed in place, %d fell back", accepted, fell_back);
    cr_assert_gt(accepted, 0);
    cr_assert_gt(fell_back, 0);
    rl_arena_destroy(&arena);
}

Test(fetch_parse, other_responses_fall_back)
{
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    Ringlog__ProduceResponse pr = RINGLOG__PRODUCE_RESPONSE__INIT;
    resp.correlation_id = 7;
    resp.body_case = RINGLOG__RESPONSE__BODY_PRODUCE;
    resp.produce = &pr;
    uint8_t buf[64];
    size_t len = ringlog__response__pack(&resp, buf);
    struct rl_arena arena;
    rl_arena_init(&arena, 1024, 1 << 20);
    Ringlog__Response fast;
    cr_assert_eq(rl_fetch_response_parse(buf, len, &arena, &fast), RL_FETCH_PARSE_FALLBACK);
    /* An empty fetch body parses. */
    Ringlog__FetchResponse fr = RINGLOG__FETCH_RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_FETCH;
    resp.fetch = &fr;
    len = ringlog__response__pack(&resp, buf);
    cr_assert_eq(rl_fetch_response_parse(buf, len, &arena, &fast), RL_FETCH_PARSE_OK);
    cr_assert_eq(fast.correlation_id, 7);
    cr_assert_eq(fast.fetch->n_topics, 0);
    /* An unknown envelope field (9), and `fetch` twice (protobuf-c merges): fall back. */
    const uint8_t unknown[] = {0x08, 0x07, 0x48, 0x01, 0x7a, 0x00};
    cr_assert_eq(rl_fetch_response_parse(unknown, sizeof(unknown), &arena, &fast),
                 RL_FETCH_PARSE_FALLBACK);
    const uint8_t twice[] = {0x08, 0x07, 0x7a, 0x00, 0x7a, 0x00};
    cr_assert_eq(rl_fetch_response_parse(twice, sizeof(twice), &arena, &fast),
                 RL_FETCH_PARSE_FALLBACK);
    rl_arena_destroy(&arena);
}
