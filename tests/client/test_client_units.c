/* Broker-free parts: configuration, bootstrap parsing, partitioners, accumulator, CLI formats,
 * error names. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "accumulator.h"
#include "conf.h"
#include "format.h"
#include "log_throttle.h"
#include "partitioner.h"
#include "ringlog.h"
#include "test_rng.h"

Test(conf, defaults_set_get_and_errors)
{
    ringlog_conf *c = ringlog_conf_new();
    char buf[64], err[256];
    cr_assert_eq(ringlog_conf_get(c, "linger-ms", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "5");
    cr_assert_eq(ringlog_conf_get(c, "batch-bytes", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "65536");
    cr_assert_eq(ringlog_conf_get(c, "buffer-bytes", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "33554432");
    cr_assert_eq(ringlog_conf_get(c, "acks", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "all");
    cr_assert_eq(ringlog_conf_get(c, "enable-idempotence", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "true");
    cr_assert_eq(ringlog_conf_set(c, "acks", "1", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_set(c, "compression", "zstd", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_get(c, "compression", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "zstd");
    cr_assert_eq(ringlog_conf_set(c, "acks", "2", err, sizeof(err)), RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "acks") != NULL);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "-1", err, sizeof(err)), RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "12x", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(ringlog_conf_set(c, "no-such-key", "1", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "no-such-key") != NULL);
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", "nohostport", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(ringlog_conf_set(c, "group", "g", err, sizeof(err)), 0);
    ringlog_conf *d = ringlog_conf_dup(c);
    cr_assert_eq(ringlog_conf_get(d, "group", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "g");
    cr_assert_eq(ringlog_conf_get(d, "acks", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "1");
    ringlog_conf_destroy(c);
    ringlog_conf_destroy(d);
}

Test(conf, bootstrap_lists)
{
    struct rl_hostport *hp;
    size_t n;
    cr_assert_eq(rl_parse_bootstrap("a:1, 127.0.0.1:7171 ,[::1]:9", &hp, &n, NULL, 0), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(hp[0].host, "a");
    cr_assert_eq(hp[0].port, 1);
    cr_assert_str_eq(hp[1].host, "127.0.0.1");
    cr_assert_eq(hp[1].port, 7171);
    cr_assert_str_eq(hp[2].host, "::1");
    cr_assert_eq(hp[2].port, 9);
    free(hp);
    const char *bad[] = {"", "a", "a:", ":1", "a:0", "a:65536", "a:1,", "[::1:2", "a:1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(rl_parse_bootstrap(bad[i], &hp, &n, NULL, 0), RINGLOG_ERR_INVALID_ARG, "%s",
                     bad[i]);
}

Test(partitioner, key_hash_is_xxh64_modulo)
{
    struct test_rng rng;
    test_rng_seed(&rng, "partitioner.key_hash", 99);
    for (int i = 0; i < 1000; i++) {
        uint8_t key[32];
        size_t len = (size_t)test_rng_below(&rng, sizeof(key) + 1);
        test_rng_fill(&rng, key, len);
        int32_t parts = (int32_t)test_rng_below(&rng, 64) + 1;
        int32_t p = rl_partition_for_key(key, len, parts);
        cr_assert_eq(p, (int32_t)(XXH64(key, len, 0) % (uint64_t)parts));
        cr_assert_eq(p, rl_partition_for_key(key, len, parts), "stable");
    }
    /* A known value, so every client implementation can check itself. */
    cr_assert_eq(rl_partition_for_key("orders-42", 9, 1000),
                 (int32_t)(XXH64("orders-42", 9, 0) % 1000));
}

Test(partitioner, sticky_moves_and_covers)
{
    uint64_t rng = 5;
    int hits[7] = {0};
    int32_t p = rl_sticky_next(&rng, -1, 7);
    for (int i = 0; i < 7000; i++) {
        int32_t q = rl_sticky_next(&rng, p, 7);
        cr_assert_neq(q, p);
        cr_assert(q >= 0 && q < 7);
        hits[q]++;
        p = q;
    }
    for (int i = 0; i < 7; i++)
        cr_assert_gt(hits[i], 700, "partition %d picked %d times", i, hits[i]);
    cr_assert_eq(rl_sticky_next(&rng, 0, 1), 0);
}

static void decode_all(const uint8_t *wire, size_t len, int expect)
{
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(wire, len, len, &h), RL_OK);
    cr_assert_eq(h.record_count, expect);
    uint8_t *raw = NULL;
    size_t rawlen;
    struct rl_record_iter it;
    if (rl_batch_codec(&h) != RL_CODEC_NONE) {
        cr_assert_eq(rl_batch_decompress_records(wire, &h, &raw, &rawlen), RL_OK);
        rl_record_iter_init_raw(&it, raw, rawlen, &h);
    } else {
        cr_assert_eq(rl_record_iter_init(&it, wire, &h), RL_OK);
    }
    struct rl_record r;
    for (int i = 0; i < expect; i++) {
        cr_assert_eq(rl_record_iter_next(&it, &r), RL_OK);
        char want[32];
        int n = snprintf(want, sizeof(want), "value-%d", i);
        cr_assert_eq(r.value_len, n);
        cr_assert_eq(memcmp(r.value, want, (size_t)n), 0);
    }
    cr_assert_eq(rl_record_iter_next(&it, &r), RL_END);
    free(raw);
}

/* Adds "value-0", "value-1", ... until the batch is full; returns how many. */
static int fill(struct rl_pbatch *b)
{
    int n = 0, st;
    for (;;) {
        char v[32];
        int len = snprintf(v, sizeof(v), "value-%d", n);
        struct rl_record_in r = {.value = v, .value_len = (size_t)len, .timestamp = 1000 + n};
        st = rl_pbatch_add(b, &r, (void *)(intptr_t)n);
        if (st != RL_OK)
            break;
        n++;
    }
    cr_assert_eq(st, RL_ERR_FULL);
    return n;
}

Test(accumulator, fills_finishes_compresses_restamps)
{
    for (int codec = 0; codec <= 2; codec++) {
        struct rl_pbatch *b = rl_pbatch_new(4096, 0);
        int n = fill(b);
        cr_assert_gt(n, 100);
        cr_assert_eq(rl_pbatch_count(b), n);
        cr_assert_leq(rl_pbatch_size(b), 4096);
        cr_assert_eq(b->msgs[7].opaque, (void *)7);
        cr_assert_eq(b->msgs[7].timestamp, 1007);
        cr_assert_eq(rl_pbatch_finish(b, codec, 77, 3, 1000), RL_OK);
        if (codec)
            cr_assert_lt(b->wire_len, rl_pbatch_size(b), "compressible values shrink");
        decode_all(b->wire, b->wire_len, n);
        struct rl_batch_header h;
        rl_batch_header_read(b->wire, b->wire_len, &h);
        cr_assert_eq(h.producer_id, 77);
        cr_assert_eq(h.base_sequence, 1000);
        cr_assert_eq(rl_batch_codec(&h), (rl_codec)codec);
        rl_pbatch_restamp(b, 78, 4, 0);
        decode_all(b->wire, b->wire_len, n); /* checksum still valid */
        rl_batch_header_read(b->wire, b->wire_len, &h);
        cr_assert_eq(h.producer_id, 78);
        cr_assert_eq(h.producer_epoch, 4);
        cr_assert_eq(h.base_sequence, 0);
        cr_assert_eq(rl_pbatch_add(b, &(struct rl_record_in){.value = "x", .value_len = 1}, NULL),
                     RL_ERR_FULL, "finished batches take no more records");
        rl_pbatch_free(b);
    }
}

/* A reused batch starts empty and builds a correct batch again, with or without a codec. */
Test(accumulator, reuse_starts_over)
{
    struct rl_pbatch *b = rl_pbatch_new(4096, 0);
    for (int round = 0; round < 6; round++) {
        int codec = round % 3;
        int n = fill(b);
        cr_assert_eq(rl_pbatch_finish(b, codec, 9, 1, 100 * round), RL_OK);
        decode_all(b->wire, b->wire_len, n);
        struct rl_batch_header h;
        rl_batch_header_read(b->wire, b->wire_len, &h);
        cr_assert_eq(h.base_sequence, 100 * round);
        cr_assert_eq(rl_batch_codec(&h), (rl_codec)codec);
        b->err = RINGLOG_ERR_TIMED_OUT;
        b->reserved = 12345;
        rl_pbatch_reuse(b, 42 + round);
        cr_assert_eq(rl_pbatch_count(b), 0);
        cr_assert_eq(b->nmsgs, 0);
        cr_assert_eq(b->reserved, 0);
        cr_assert_eq(b->err, 0);
        cr_assert_eq(b->base_seq, -1);
        cr_assert_eq(b->created_ms, 42 + round);
        cr_assert_not(b->finished);
        cr_assert_null(b->zbuf);
        cr_assert_geq(b->msgs_cap, n, "the per-record array is kept");
    }
    rl_pbatch_free(b);
}

Test(accumulator, one_big_record_gets_its_own_batch)
{
    size_t big = 100000;
    char *v = calloc(1, big);
    struct rl_record_in r = {.value = v, .value_len = big, .timestamp = 1};
    size_t need = rl_pbatch_bytes_for(&r);
    cr_assert_gt(need, big);
    struct rl_pbatch *b = rl_pbatch_new(need, 0);
    cr_assert_eq(rl_pbatch_add(b, &r, NULL), RL_OK);
    cr_assert_eq(rl_pbatch_finish(b, 0, -1, -1, -1), RL_OK);
    cr_assert_eq(b->wire_len, need);
    rl_pbatch_free(b);
    free(v);
}

/* The cheap bound is never below the exact size, whatever the lengths and headers. */
Test(accumulator, size_bound_covers_exact_size)
{
    static char buf[70000];
    size_t lens[] = {0, 1, 127, 128, 16383, 16384, 65536};
    struct rl_header_in h[3] = {{.key = "a", .key_len = 1, .value = NULL},
                                {.key = buf, .key_len = 200, .value = buf, .value_len = 20000},
                                {.key = "", .key_len = 0, .value = buf, .value_len = 0}};
    for (size_t k = 0; k < 7; k++)
        for (size_t v = 0; v < 7; v++)
            for (size_t nh = 0; nh <= 3; nh++) {
                struct rl_record_in r = {.key = k ? buf : NULL,
                                         .key_len = lens[k],
                                         .value = v ? buf : NULL,
                                         .value_len = lens[v],
                                         .headers = h,
                                         .header_count = nh,
                                         .timestamp = INT64_MAX / 2};
                cr_assert_geq(rl_pbatch_bytes_bound(rl_record_payload_size(&r)),
                              rl_pbatch_bytes_for(&r));
            }
}

static char *render(const char *fmt, const ringlog_message *m, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    cr_assert_eq(cli_format_message(f, fmt, m), 0);
    fclose(f);
    return buf;
}

Test(cli_format, directives_and_escapes)
{
    ringlog_message m = {.topic = "orders",
                         .partition = 3,
                         .offset = 42,
                         .timestamp = 1700,
                         .key = "k\0y",
                         .key_len = 3,
                         .value = "v",
                         .value_len = 1};
    size_t len;
    char *s = render("%t|%p|%o|%T|%k|%v|%%|\\t|\\\\|\\n", &m, &len);
    const char want[] = "orders|3|42|1700|k\0y|v|%|\t|\\|\n";
    cr_assert_eq(len, sizeof(want) - 1);
    cr_assert_eq(memcmp(s, want, len), 0);
    free(s);
    m.key = NULL;
    m.key_len = 0;
    s = render("[%k]", &m, &len);
    cr_assert_str_eq(s, "[]");
    free(s);
    s = render("%v", &m, &len);
    cr_assert_str_eq(s, "v", "default format is the value");
    free(s);
    char err[128];
    cr_assert_eq(cli_format_check("%t %p %o %k %v %T %% \\n\\t\\\\\\0", err, sizeof(err)), 0);
    cr_assert_eq(cli_format_check("%x", err, sizeof(err)), -1);
    cr_assert(strstr(err, "%x") != NULL, "%s", err);
    cr_assert_eq(cli_format_check("trailing %", err, sizeof(err)), -1);
    cr_assert_eq(cli_format_check("\\q", err, sizeof(err)), -1);
}

Test(cli_format, describe_line_and_json)
{
    int32_t replicas[] = {1, 2, 3}, isr[] = {1, 3};
    ringlog_partition_info p = {.partition = 0,
                                .leader = 1,
                                .replicas = replicas,
                                .replica_count = 3,
                                .isr = isr,
                                .isr_count = 2,
                                .start_offset = 5,
                                .end_offset = 10,
                                .high_watermark = 9};
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    cli_format_partition(f, &p);
    fclose(f);
    cr_assert_str_eq(buf, "partition=0 leader=1 replicas=1,2,3 isr=1,3 start=5 end=10 hw=9");
    free(buf);
    ringlog_topic_info t = {.name = "t\"q", .partitions = &p, .partition_count = 1};
    f = open_memstream(&buf, &len);
    cli_format_topic_json(f, &t);
    fclose(f);
    cr_assert_str_eq(buf,
                     "{\"topic\":\"t\\\"q\",\"config\":{\"retention_ms\":0,\"retention_bytes\":0,"
                     "\"segment_bytes\":0,\"segment_ms\":0},\"partitions\":[{\"partition\":0,"
                     "\"leader\":1,\"replicas\":[1,2,3],\"isr\":[1,3],\"start\":5,\"end\":10,"
                     "\"hw\":9}]}\n");
    free(buf);
}

Test(errors, names_and_texts)
{
    cr_assert_str_eq(ringlog_err_name(RINGLOG_OK), "OK");
    cr_assert_str_eq(ringlog_err_name(RINGLOG_ERR_UNKNOWN_TOPIC), "UNKNOWN_TOPIC");
    cr_assert_str_eq(ringlog_err_name(RINGLOG_ERR_TOO_MANY_CONNECTIONS), "TOO_MANY_CONNECTIONS");
    cr_assert_str_eq(ringlog_err_name(RINGLOG_ERR_TIMED_OUT), "TIMED_OUT");
    cr_assert_str_eq(ringlog_err_name(-999), "UNRECOGNIZED");
    for (int e = -13; e <= 25; e++) {
        cr_assert_not_null(ringlog_err_str(e));
        cr_assert_neq(strcmp(ringlog_err_name(e), "UNRECOGNIZED"), 0, "code %d", e);
    }
    cr_assert_str_eq(ringlog_version(), RINGLOG_VERSION_STRING);
}

/*
 * Retried failures interleave (two brokers down: "cannot connect to A",
 * "cannot connect to B", A, B, ...): each distinct message shows once, a
 * repeat only after RL_LOG_REPEAT_MS with how many were held back, and a
 * full table reuses the slot shown longest ago.
 */
Test(log_throttle, distinct_messages_once_then_every_repeat_interval)
{
    struct rl_log_throttle *t = rl_log_throttle_new();
    cr_assert_not_null(t);
    uint32_t held = 99;
    int shown = 0;
    for (int i = 0; i < 1000; i++) /* 1000 retries within 1 s, alternating */
        shown += rl_log_throttle_pass(t, i % 2 ? "cannot connect to B" : "cannot connect to A",
                                      1000 + i, &held);
    cr_assert_eq(shown, 2);
    cr_assert(!rl_log_throttle_pass(t, "cannot connect to A", 1000 + RL_LOG_REPEAT_MS - 1, &held));
    cr_assert(rl_log_throttle_pass(t, "cannot connect to A", 1000 + RL_LOG_REPEAT_MS, &held));
    cr_assert_eq(held, 500, "499 of the loop and the one just before");
    cr_assert(rl_log_throttle_pass(t, "something else", 1000, &held));
    cr_assert_eq(held, 0);
    rl_log_throttle_free(t);
    /* More distinct messages than slots: the one shown longest ago is forgotten. */
    t = rl_log_throttle_new();
    char text[32];
    for (int i = 0; i <= RL_LOG_THROTTLE_SLOTS; i++) {
        snprintf(text, sizeof(text), "m%d", i);
        cr_assert(rl_log_throttle_pass(t, text, 20000 + i, &held), "%s", text);
    }
    cr_assert(rl_log_throttle_pass(t, "m0", 20100, &held), "m0's slot went to m%d",
              RL_LOG_THROTTLE_SLOTS);
    cr_assert(!rl_log_throttle_pass(t, "m5", 20100, &held));
    rl_log_throttle_free(t);
}

static int logged_lines;
static void count_line(int level, const char *message, void *opaque)
{
    (void)level;
    cr_assert_not_null(message);
    *(int *)opaque += 1;
    logged_lines++;
}

/* rl_log throttles a handle's errors, warnings and information; debug lines all pass. */
Test(log_throttle, rl_log_throttles_all_but_debug)
{
    ringlog_conf *base = ringlog_conf_new();
    int n = 0;
    ringlog_conf_set_log_cb(base, count_line, &n);
    ringlog_conf *c = ringlog_conf_dup(base); /* a handle's copy: it has the throttle */
    cr_assert_not_null(c);
    for (int i = 0; i < 100; i++) {
        rl_log(c, RINGLOG_LOG_WARNING, "cannot connect to %s", i % 2 ? "a" : "b");
        rl_log(c, RINGLOG_LOG_ERROR, "refused");
        rl_log(c, RINGLOG_LOG_DEBUG, "retrying");
    }
    cr_assert_eq(n, 3 + 100);
    ringlog_conf_destroy(c);
    ringlog_conf_destroy(base);
}
