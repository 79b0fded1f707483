/* Consumer against the in-memory fake broker: round trips, seeks, prefetch, committed offsets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_broker.h"
#include "ringlog.h"
#include "test_rng.h"

static ringlog_conf *conf_for(struct fake_broker *fb)
{
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", fake_broker_address(fb), NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "fetch-max-wait-ms", "100", NULL, 0), 0);
    return c;
}

static void produce_all(ringlog_conf *c, const ringlog_record *recs, size_t n)
{
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    for (size_t i = 0; i < n; i++) {
        int rc = ringlog_produce(p, &recs[i]);
        cr_assert_eq(rc, 0, "produce %zu: %s", i, ringlog_err_name(rc));
    }
    cr_assert_eq(ringlog_producer_flush(p, 20000), 0);
    ringlog_producer_destroy(p);
}

static ringlog_consumer *consumer_at(ringlog_conf *c, const char *topic, int32_t part,
                                     int64_t offset)
{
    char err[256];
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    ringlog_topic_partition tp = {.topic = topic, .partition = part, .offset = offset};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    return k;
}

static const ringlog_message *poll_one(ringlog_consumer *k)
{
    const ringlog_message *m;
    int rc = ringlog_consumer_poll(k, 5000, &m);
    cr_assert_eq(rc, 0, "poll: %s %s", ringlog_err_name(rc), ringlog_consumer_errstr(k));
    return m;
}

static void round_trip(const char *codec)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "rt", 1);
    ringlog_conf *c = conf_for(fb);
    cr_assert_eq(ringlog_conf_set(c, "compression", codec, NULL, 0), 0);
    struct test_rng rng;
    test_rng_seed(&rng, "consumer.round_trip", 42);
    size_t big_len = 1 << 20;
    uint8_t *big = malloc(big_len);
    test_rng_fill(&rng, big, big_len);
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    ringlog_header hdrs[2] = {{.key = "h1", .key_len = 2, .value = "v1", .value_len = 2},
                              {.key = "null", .key_len = 4, .value = NULL, .value_len = 0}};
    ringlog_record recs[] = {
        {.topic = "rt",
         .partition = 0,
         .key = "k",
         .key_len = 1,
         .value = "v",
         .value_len = 1,
         .headers = hdrs,
         .header_count = 2,
         .timestamp = 1000},
        {.topic = "rt",
         .partition = 0,
         .key = NULL,
         .value = "",
         .value_len = 0,
         .timestamp = 2000},
        {.topic = "rt", .partition = 0, .key = "", .key_len = 0, .value = NULL, .timestamp = 3000},
        {.topic = "rt",
         .partition = 0,
         .key = bin,
         .key_len = 256,
         .value = bin,
         .value_len = 256,
         .timestamp = 4000},
        {.topic = "rt",
         .partition = 0,
         .key = "big",
         .key_len = 3,
         .value = big,
         .value_len = big_len,
         .timestamp = 5000},
    };
    produce_all(c, recs, 5);

    ringlog_consumer *k = consumer_at(c, "rt", 0, RINGLOG_OFFSET_BEGINNING);
    const ringlog_message *m = poll_one(k);
    cr_assert_eq(m->offset, 0);
    cr_assert_eq(m->timestamp, 1000);
    cr_assert_str_eq(m->topic, "rt");
    cr_assert_eq(m->key_len, 1);
    cr_assert_eq(memcmp(m->key, "k", 1), 0);
    cr_assert_eq(m->header_count, 2);
    cr_assert_eq(memcmp(m->headers[0].key, "h1", 2), 0);
    cr_assert_eq(memcmp(m->headers[0].value, "v1", 2), 0);
    cr_assert_null(m->headers[1].value);
    m = poll_one(k);
    cr_assert_eq(m->offset, 1);
    cr_assert_null(m->key);
    cr_assert_not_null(m->value);
    cr_assert_eq(m->value_len, 0);
    m = poll_one(k);
    cr_assert_not_null(m->key);
    cr_assert_eq(m->key_len, 0);
    cr_assert_null(m->value);
    m = poll_one(k);
    cr_assert_eq(m->key_len, 256);
    cr_assert_eq(memcmp(m->value, bin, 256), 0);
    m = poll_one(k);
    cr_assert_eq(m->offset, 4);
    cr_assert_eq(m->value_len, big_len);
    cr_assert_eq(memcmp(m->value, big, big_len), 0);
    cr_assert_eq(ringlog_consumer_poll(k, 200, &m), RINGLOG_ERR_TIMED_OUT);
    int64_t pos;
    cr_assert_eq(ringlog_consumer_position(k, "rt", 0, &pos), 0);
    cr_assert_eq(pos, 5);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    free(big);
    fake_broker_stop(fb);
}

Test(consumer, round_trip_plain)
{
    round_trip("none");
}

Test(consumer, round_trip_lz4)
{
    round_trip("lz4");
}

Test(consumer, round_trip_zstd)
{
    round_trip("zstd");
}

static void produce_numbered(ringlog_conf *c, const char *topic, int32_t part, int from, int n)
{
    ringlog_record *recs = calloc((size_t)n, sizeof(*recs));
    char(*vals)[16] = calloc((size_t)n, 16);
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], 16, "%d", from + i);
        recs[i] = (ringlog_record){.topic = topic,
                                   .partition = part,
                                   .value = vals[i],
                                   .value_len = strlen(vals[i]),
                                   .timestamp = 1000000 + from + i};
    }
    produce_all(c, recs, (size_t)n);
    free(recs);
    free(vals);
}

Test(consumer, ordered_prefetching_seeks)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "o", 1);
    ringlog_conf *c = conf_for(fb);
    cr_assert_eq(ringlog_conf_set(c, "partition-fetch-bytes", "4096", NULL, 0), 0);
    produce_numbered(c, "o", 0, 0, 20000);
    ringlog_consumer *k = consumer_at(c, "o", 0, RINGLOG_OFFSET_BEGINNING);
    for (int i = 0; i < 20000; i++) {
        const ringlog_message *m = poll_one(k);
        cr_assert_eq(m->offset, i);
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        cr_assert_eq(m->value_len, strlen(want));
        cr_assert_eq(memcmp(m->value, want, m->value_len), 0);
    }
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_seek(k, "o", 0, 1234), 0);
    cr_assert_eq(poll_one(k)->offset, 1234);
    cr_assert_eq(ringlog_consumer_seek_timestamp(k, "o", 0, 1000000 + 777), 0);
    cr_assert_eq(poll_one(k)->offset, 777);
    cr_assert_eq(ringlog_consumer_seek(k, "o", 0, RINGLOG_OFFSET_END), 0);
    cr_assert_eq(ringlog_consumer_poll(k, 300, &m), RINGLOG_ERR_TIMED_OUT);
    produce_numbered(c, "o", 0, 20000, 1);
    cr_assert_eq(poll_one(k)->offset, 20000);
    cr_assert_eq(ringlog_consumer_seek(k, "nope", 0, 0), RINGLOG_ERR_STATE);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(consumer, committed_offsets_and_stored_start)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "g", 2);
    ringlog_conf *c = conf_for(fb);
    produce_numbered(c, "g", 0, 0, 100);
    produce_numbered(c, "g", 1, 0, 10);
    cr_assert_eq(ringlog_conf_set(c, "group", "grp", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "enable-auto-commit", "false", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "auto-offset-reset", "earliest", NULL, 0), 0);

    ringlog_consumer *k = consumer_at(c, "g", 0, RINGLOG_OFFSET_STORED);
    int64_t off = 99;
    cr_assert_eq(ringlog_consumer_committed(k, "g", 0, &off, 5000), 0);
    cr_assert_eq(off, -1);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(poll_one(k)->offset, i, "no commit yet: starts at earliest");
    cr_assert_eq(ringlog_consumer_commit(k, 5000), 0);
    cr_assert_eq(ringlog_consumer_committed(k, "g", 0, &off, 5000), 0);
    cr_assert_eq(off, 40);
    ringlog_topic_partition tp = {.topic = "g", .partition = 1, .offset = 7};
    cr_assert_eq(ringlog_consumer_commit_offsets(k, &tp, 1, 5000), 0);
    ringlog_consumer_destroy(k);

    k = consumer_at(c, "g", 0, RINGLOG_OFFSET_STORED);
    cr_assert_eq(poll_one(k)->offset, 40);
    ringlog_topic_partition tps[2] = {
        {.topic = "g", .partition = 0, .offset = 90},
        {.topic = "g", .partition = 1, .offset = RINGLOG_OFFSET_STORED}};
    cr_assert_eq(ringlog_consumer_assign(k, tps, 2), 0);
    int seen0 = 0, seen1 = 0;
    for (int i = 0; i < 13; i++) {
        const ringlog_message *m = poll_one(k);
        if (m->partition == 0) {
            cr_assert_eq(m->offset, 90 + seen0++);
        } else {
            cr_assert_eq(m->offset, 7 + seen1++);
        }
    }
    cr_assert_eq(seen0, 10);
    cr_assert_eq(seen1, 3);
    ringlog_consumer_destroy(k);

    /* Auto-commit on destroy. */
    cr_assert_eq(ringlog_conf_set(c, "enable-auto-commit", "true", NULL, 0), 0);
    k = consumer_at(c, "g", 0, 10);
    for (int i = 0; i < 5; i++)
        poll_one(k);
    ringlog_consumer_destroy(k);
    k = consumer_at(c, "g", 0, RINGLOG_OFFSET_STORED);
    cr_assert_eq(poll_one(k)->offset, 15);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(consumer, no_offset_and_out_of_range)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "r", 1);
    ringlog_conf *c = conf_for(fb);
    produce_numbered(c, "r", 0, 0, 10);
    cr_assert_eq(ringlog_conf_set(c, "group", "fresh", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "auto-offset-reset", "error", NULL, 0), 0);
    ringlog_consumer *k = consumer_at(c, "r", 0, RINGLOG_OFFSET_STORED);
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_poll(k, 5000, &m), RINGLOG_ERR_NO_OFFSET);
    cr_assert(strstr(ringlog_consumer_errstr(k), "r/0") != NULL, "%s", ringlog_consumer_errstr(k));
    cr_assert_eq(ringlog_consumer_seek(k, "r", 0, 500), 0);
    cr_assert_eq(ringlog_consumer_poll(k, 5000, &m), RINGLOG_ERR_OFFSET_OUT_OF_RANGE);
    ringlog_consumer_destroy(k);

    cr_assert_eq(ringlog_conf_set(c, "auto-offset-reset", "earliest", NULL, 0), 0);
    k = consumer_at(c, "r", 0, 500);
    cr_assert_eq(poll_one(k)->offset, 0);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/*
 * Fetch starvation (docs/PROTOCOL.md *Fetch*): partition 0 holds many small
 * batches, partition 1 one batch larger than the fetch's whole budget. Only
 * the first partition with data is sure of a batch, so without rotating the
 * order partition 1 would wait until partition 0 ran dry; with it, partition
 * 1 is first in the second fetch and its message comes within two fetches'
 * worth of partition 0's.
 */
Test(consumer, rotation_feeds_a_partition_with_a_big_batch)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "rot", 2);
    enum { SMALL = 1000, VALUE = 40, BUDGET = 1024 };
    for (int i = 0; i < SMALL; i++)
        cr_assert_eq(fake_broker_append_records(fb, "rot", 0, 1, VALUE, 's'), i);
    cr_assert_eq(fake_broker_append_records(fb, "rot", 1, 1, 2 * BUDGET, 'B'), 0);
    ringlog_conf *c = conf_for(fb);
    cr_assert_eq(ringlog_conf_set(c, "fetch-max-bytes", "1024", NULL, 0), 0);
    char err[256];
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    ringlog_topic_partition tps[2] = {{.topic = "rot", .partition = 0, .offset = 0},
                                      {.topic = "rot", .partition = 1, .offset = 0}};
    cr_assert_eq(ringlog_consumer_assign(k, tps, 2), 0);
    /* A small batch takes more than BUDGET / 20 bytes: a fetch carries fewer than 20. */
    int small_seen = 0;
    bool big_seen = false;
    while (!big_seen && small_seen < SMALL) {
        const ringlog_message *m = poll_one(k);
        if (m->partition == 1) {
            cr_assert_eq(m->value_len, (size_t)(2 * BUDGET));
            big_seen = true;
        } else {
            cr_assert_eq(m->offset, small_seen);
            small_seen++;
        }
    }
    cr_assert(big_seen);
    cr_assert_lt(small_seen, 2 * 20, "partition 1 waited behind %d small messages", small_seen);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/*
 * Control batches (docs/FORMAT.md): a fetch returns the broker's epoch
 * markers and configuration entries in place; the consumer hands out only
 * the application's records and its position still moves past the markers.
 */
Test(consumer, control_batches_are_skipped)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "ctl", 1);
    cr_assert_eq(fake_broker_append_control(fb, "ctl", 0, 0), 0);
    cr_assert_eq(fake_broker_append_records(fb, "ctl", 0, 2, 3, 'a'), 1);
    cr_assert_eq(fake_broker_append_control(fb, "ctl", 0, 1), 3);
    cr_assert_eq(fake_broker_append_records(fb, "ctl", 0, 1, 3, 'b'), 4);
    cr_assert_eq(fake_broker_append_control(fb, "ctl", 0, 0), 5);
    ringlog_conf *c = conf_for(fb);
    ringlog_consumer *k = consumer_at(c, "ctl", 0, RINGLOG_OFFSET_BEGINNING);
    const int64_t want[] = {1, 2, 4};
    for (size_t i = 0; i < 3; i++) {
        const ringlog_message *m = poll_one(k);
        cr_assert_eq(m->offset, want[i]);
        cr_assert_eq(m->value_len, 3);
        cr_assert_eq(memcmp(m->value, i < 2 ? "aaa" : "bbb", 3), 0);
    }
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_poll(k, 300, &m), RINGLOG_ERR_TIMED_OUT);
    int64_t pos;
    cr_assert_eq(ringlog_consumer_position(k, "ctl", 0, &pos), 0);
    cr_assert_eq(pos, 6, "position %lld is not past the last control batch", (long long)pos);
    /* One appended later is skipped as well, and data after it still arrives. */
    cr_assert_eq(fake_broker_append_control(fb, "ctl", 0, 0), 6);
    cr_assert_eq(fake_broker_append_records(fb, "ctl", 0, 1, 3, 'c'), 7);
    m = poll_one(k);
    cr_assert_eq(m->offset, 7);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}
