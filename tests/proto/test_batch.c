/* Record-batch format: build/iterate round trips, validation, checksum, compression. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "test_rng.h"

#define MAX_BATCH (64u << 20)

/* Builds an uncompressed batch of `n` records into buf; returns its size. */
static size_t build(uint8_t *buf, size_t cap, const struct rl_record_in *records, size_t n)
{
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, buf, cap, NULL), RL_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(rl_batch_builder_add(&b, &records[i]), RL_OK, "record %zu", i);
    return rl_batch_builder_finish(&b);
}

static void expect_bytes(const uint8_t *got, int64_t got_len, const void *want, size_t want_len)
{
    if (want == NULL) {
        cr_assert_eq(got_len, -1, "expected null");
        return;
    }
    cr_assert_eq(got_len, (int64_t)want_len);
    cr_assert(want_len == 0 || memcmp(got, want, want_len) == 0);
}

/* Checks that the records of a validated batch equal `want`. */
static void expect_records(const uint8_t *batch, const struct rl_batch_header *h,
                           const struct rl_record_in *want, size_t n)
{
    struct rl_record_iter it;
    uint8_t *plain = NULL;
    if (rl_batch_codec(h) == RL_CODEC_NONE) {
        cr_assert_eq(rl_record_iter_init(&it, batch, h), RL_OK);
    } else {
        size_t plain_len;
        cr_assert_eq(rl_record_iter_init(&it, batch, h), RL_ERR_CODEC);
        cr_assert_eq(rl_batch_decompress_records(batch, h, &plain, &plain_len), RL_OK);
        rl_record_iter_init_raw(&it, plain, plain_len, h);
    }
    struct rl_record r;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(rl_record_iter_next(&it, &r), RL_OK, "record %zu", i);
        cr_assert_eq(r.offset_delta, (int64_t)i);
        cr_assert_eq(r.timestamp, want[i].timestamp);
        expect_bytes(r.key, r.key_len, want[i].key, want[i].key_len);
        expect_bytes(r.value, r.value_len, want[i].value, want[i].value_len);
        cr_assert_eq(r.header_count, want[i].header_count);
        struct rl_header_iter hit;
        struct rl_header hd;
        rl_header_iter_init(&hit, &r);
        for (size_t j = 0; j < want[i].header_count; j++) {
            cr_assert_eq(rl_header_iter_next(&hit, &hd), RL_OK);
            expect_bytes(hd.key, (int64_t)hd.key_len, want[i].headers[j].key,
                         want[i].headers[j].key_len);
            expect_bytes(hd.value, hd.value_len, want[i].headers[j].value,
                         want[i].headers[j].value_len);
        }
        cr_assert_eq(rl_header_iter_next(&hit, &hd), RL_END);
    }
    cr_assert_eq(rl_record_iter_next(&it, &r), RL_END);
    free(plain);
}

static uint8_t binary[256];
static struct rl_header_in headers[] = {
    {"trace-id", 8, "abc", 3},
    {"", 0, "", 0},
    {"null-value", 10, NULL, 0},
};
static struct rl_record_in sample[6];

static void init_sample(void)
{
    for (int i = 0; i < 256; i++)
        binary[i] = (uint8_t)i;
    struct rl_record_in s[] = {
        {.key = "k1", .key_len = 2, .value = "hello", .value_len = 5, .timestamp = 1700000000000},
        {.key = NULL, .value = "null key", .value_len = 8, .timestamp = 1700000000005},
        {.key = "", .key_len = 0, .value = "", .value_len = 0, .timestamp = 1699999999990},
        {.key = "tomb", .key_len = 4, .value = NULL, .timestamp = 1700000000001},
        {.key = binary, .key_len = 256, .value = binary, .value_len = 256, .timestamp = 0},
        {.key = "h",
         .key_len = 1,
         .value = "v",
         .value_len = 1,
         .timestamp = 1700000000002,
         .headers = headers,
         .header_count = 3},
    };
    memcpy(sample, s, sizeof(s));
    /* Record 4 has timestamp 0: far before the first one, a large negative delta. */
}

TestSuite(batch, .init = init_sample);

Test(batch, build_validate_iterate_round_trip)
{
    uint8_t buf[8192];
    size_t n = build(buf, sizeof(buf), sample, 6);
    cr_assert_gt(n, RL_BATCH_HEADER_BYTES);
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(buf, n, MAX_BATCH, &h), RL_OK);
    cr_assert_eq(rl_batch_total_bytes(&h), n);
    cr_assert_eq(h.magic, RL_BATCH_MAGIC);
    cr_assert_eq(h.record_count, 6);
    cr_assert_eq(h.last_offset_delta, 5);
    cr_assert_eq(h.first_timestamp, 1700000000000);
    cr_assert_eq(h.max_timestamp, 1700000000005);
    cr_assert_eq(h.producer_id, -1);
    cr_assert_eq(h.base_sequence, -1);
    cr_assert_eq(rl_batch_codec(&h), RL_CODEC_NONE);
    expect_records(buf, &h, sample, 6);
}

Test(batch, encoded_size_is_exact)
{
    uint8_t buf[8192];
    struct rl_batch_builder b;
    rl_batch_builder_init(&b, buf, sizeof(buf), NULL);
    for (int i = 0; i < 6; i++) {
        size_t before = b.len;
        int64_t first = i == 0 ? sample[0].timestamp : b.first_timestamp;
        size_t predicted = rl_record_encoded_size(&sample[i], first, i);
        size_t payload = rl_record_payload_size(&sample[i]);
        cr_assert_leq(predicted, payload + RL_RECORD_MAX_OVERHEAD);
        cr_assert_gt(predicted, payload);
        cr_assert_eq(rl_batch_builder_add_sized(&b, &sample[i], payload), RL_OK);
        cr_assert_eq(b.len - before, predicted);
    }
}

Test(batch, producer_fields_and_stamp)
{
    uint8_t buf[1024];
    struct rl_batch_producer p = {.producer_id = 1234567, .producer_epoch = 3, .base_sequence = 99};
    struct rl_batch_builder b;
    rl_batch_builder_init(&b, buf, sizeof(buf), &p);
    cr_assert_eq(rl_batch_builder_add(&b, &sample[0]), RL_OK);
    size_t n = rl_batch_builder_finish(&b);
    rl_batch_stamp(buf, 5000000000LL, 17);
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(buf, n, MAX_BATCH, &h), RL_OK, "stamping keeps the checksum");
    cr_assert_eq(h.base_offset, 5000000000LL);
    cr_assert_eq(h.leader_epoch, 17);
    cr_assert_eq(h.producer_id, 1234567);
    cr_assert_eq(h.producer_epoch, 3);
    cr_assert_eq(h.base_sequence, 99);
    cr_assert_eq(rl_batch_last_offset(&h), 5000000000LL);
}

Test(batch, builder_full_writes_nothing)
{
    uint8_t buf[RL_BATCH_HEADER_BYTES + 20];
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, buf, 10, NULL), RL_ERR_FULL);
    rl_batch_builder_init(&b, buf, sizeof(buf), NULL);
    cr_assert_eq(rl_batch_builder_finish(&b), 0, "an empty batch is not a batch");
    cr_assert_eq(rl_batch_builder_add(&b, &sample[0]), RL_OK);
    size_t len = b.len;
    cr_assert_eq(rl_batch_builder_add(&b, &sample[4]), RL_ERR_FULL);
    cr_assert_eq(b.len, len);
    cr_assert_eq(rl_batch_builder_count(&b), 1);
    size_t n = rl_batch_builder_finish(&b);
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(buf, n, MAX_BATCH, &h), RL_OK);
    expect_records(buf, &h, sample, 1);
}

Test(batch, one_mebibyte_value_and_size_limit)
{
    size_t big = 1u << 20;
    uint8_t *value = malloc(big);
    memset(value, 0xab, big);
    struct rl_record_in r = {
        .key = "big", .key_len = 3, .value = value, .value_len = big, .timestamp = 1};
    size_t cap = big + 1024;
    uint8_t *buf = malloc(cap);
    size_t n = build(buf, cap, &r, 1);
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(buf, n, MAX_BATCH, &h), RL_OK);
    expect_records(buf, &h, &r, 1);
    cr_assert_eq(rl_batch_validate(buf, n, n, &h), RL_OK, "exactly the limit is fine");
    cr_assert_eq(rl_batch_validate(buf, n, n - 1, &h), RL_ERR_OVERSIZED);
    free(buf);
    free(value);
}

Test(batch, every_prefix_is_truncated)
{
    uint8_t buf[8192];
    size_t n = build(buf, sizeof(buf), sample, 6);
    struct rl_batch_header h;
    for (size_t len = 0; len < n; len++)
        cr_assert_eq(rl_batch_validate(buf, len, MAX_BATCH, &h), RL_ERR_TRUNCATED, "len %zu", len);
}

static int in_broker_owned_field(size_t byte)
{
    return byte < RL_BATCH_OFF_LENGTH ||
           (byte >= RL_BATCH_OFF_LEADER_EPOCH && byte < RL_BATCH_OFF_MAGIC);
}

Test(batch, checksum_catches_every_single_bit_flip)
{
    uint8_t buf[512];
    size_t n = build(buf, sizeof(buf), sample, 4);
    struct rl_batch_header h;
    for (size_t bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int status = rl_batch_validate(buf, n, MAX_BATCH, &h);
        if (in_broker_owned_field(bit / 8)) {
            /* Not covered by the checksum: a flip gives another valid stamp,
             * unless it makes the base offset negative. */
            cr_assert(status == RL_OK || status == RL_ERR_CORRUPT);
        } else {
            cr_assert_neq(status, RL_OK, "flip of bit %zu went unnoticed", bit);
        }
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    cr_assert_eq(rl_batch_validate(buf, n, MAX_BATCH, &h), RL_OK);
}

/* Rewrites the checksum after a deliberate edit, so deeper checks are reached. */
static void reseal(uint8_t *buf, size_t n)
{
    uint64_t c = rl_batch_compute_checksum(buf, n);
    for (int i = 0; i < 8; i++)
        buf[RL_BATCH_OFF_CHECKSUM + i] = (uint8_t)(c >> (8 * i));
}

Test(batch, impossible_headers_are_corrupt)
{
    uint8_t buf[512];
    size_t n = build(buf, sizeof(buf), sample, 2);
    struct rl_batch_header h;
    struct {
        size_t off;
        uint8_t value;
    } edits[] = {
        {RL_BATCH_OFF_RECORD_COUNT, 0},        /* count 0 */
        {RL_BATCH_OFF_RECORD_COUNT, 3},        /* count disagrees with the records */
        {RL_BATCH_OFF_LAST_OFFSET_DELTA, 0},   /* last delta below count - 1 */
        {RL_BATCH_OFF_ATTRIBUTES, 7},          /* unknown codec */
        {RL_BATCH_OFF_ATTRIBUTES + 1, 1},      /* unknown attribute bit */
        {RL_BATCH_OFF_MAX_TIMESTAMP + 7, 0x80} /* max timestamp before first */
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        uint8_t copy[512];
        memcpy(copy, buf, n);
        copy[edits[i].off] = edits[i].value;
        reseal(copy, n);
        cr_assert_eq(rl_batch_validate(copy, n, MAX_BATCH, &h), RL_ERR_CORRUPT, "edit %zu", i);
    }
    uint8_t copy[512];
    memcpy(copy, buf, n);
    copy[RL_BATCH_OFF_MAGIC] = 2;
    cr_assert_eq(rl_batch_validate(copy, n, MAX_BATCH, &h), RL_ERR_BAD_MAGIC);
    memcpy(copy, buf, n);
    copy[RL_BATCH_OFF_LENGTH] = 10; /* shorter than a header */
    copy[RL_BATCH_OFF_LENGTH + 1] = 0;
    cr_assert_eq(rl_batch_validate(copy, n, MAX_BATCH, &h), RL_ERR_CORRUPT);
}

Test(batch, iterator_walks_back_to_back_batches_and_stops_at_partial)
{
    uint8_t buf[16384];
    size_t pos = 0;
    size_t sizes[3];
    for (int i = 0; i < 3; i++) {
        sizes[i] = build(buf + pos, sizeof(buf) - pos, sample, (size_t)(i + 1));
        rl_batch_stamp(buf + pos, 100 * i, i);
        pos += sizes[i];
    }
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    /* All three whole, then the same with the last one cut short. */
    rl_batch_iter_init(&it, buf, pos, MAX_BATCH);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_OK);
        cr_assert_eq(h.base_offset, 100 * i);
        cr_assert_eq(h.record_count, i + 1);
    }
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_END);

    rl_batch_iter_init(&it, buf, pos - 1, MAX_BATCH);
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_OK);
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_OK);
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_ERR_TRUNCATED);
    cr_assert_eq(rl_batch_iter_pos(&it), sizes[0] + sizes[1]);
}

static void compression_round_trip(rl_codec codec)
{
    static struct rl_record_in many[200];
    char values[200][64];
    for (int i = 0; i < 200; i++) {
        many[i] = sample[i % 6];
        int len = snprintf(values[i], sizeof(values[i]), "compressible value number %d", i);
        if (i % 6 != 3) {
            many[i].value = values[i];
            many[i].value_len = (size_t)len;
        }
    }
    uint8_t *plain = malloc(1 << 20);
    struct rl_batch_builder b;
    rl_batch_builder_init(&b, plain, 1 << 20, NULL);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(rl_batch_builder_add(&b, &many[i]), RL_OK);
    size_t bound = rl_batch_compress_bound(&b, codec);
    uint8_t *out = malloc(bound);
    int status;
    size_t n = rl_batch_builder_finish_compressed(&b, codec, out, bound, &status);
    cr_assert_eq(status, RL_OK);
    cr_assert_lt(n, b.len, "compression saves space on repetitive records");
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(out, n, MAX_BATCH, &h), RL_OK);
    cr_assert_eq(rl_batch_codec(&h), codec);
    cr_assert_eq(h.record_count, 200);
    expect_records(out, &h, many, 200);

    /* Damage the compressed block and reseal: the codec must refuse, not crash. */
    out[n - 3] ^= 0x5a;
    reseal(out, n);
    cr_assert_eq(rl_batch_validate(out, n, MAX_BATCH, &h), RL_OK);
    uint8_t *records = NULL;
    size_t records_len;
    int r = rl_batch_decompress_records(out, &h, &records, &records_len);
    if (r == RL_OK) {
        /* Some codecs cannot see every flip; then the records must still be checked. */
        struct rl_record_iter it;
        struct rl_record rec;
        rl_record_iter_init_raw(&it, records, records_len, &h);
        while ((r = rl_record_iter_next(&it, &rec)) == RL_OK)
            ;
        free(records);
    } else {
        cr_assert_eq(r, RL_ERR_CODEC);
    }
    /* Too small an output buffer is reported, not overrun. */
    cr_assert_eq(rl_batch_builder_finish_compressed(&b, codec, out, 70, &status), 0);
    cr_assert_eq(status, RL_ERR_FULL);
    free(out);
    free(plain);
}

Test(batch, lz4_round_trip)
{
    compression_round_trip(RL_CODEC_LZ4);
}

Test(batch, zstd_round_trip)
{
    compression_round_trip(RL_CODEC_ZSTD);
}

Test(batch, random_batches_round_trip)
{
    struct test_rng rng;
    test_rng_seed(&rng, "batch.random_batches_round_trip", 0xba7c4);
    enum { MAX_RECORDS = 50, DATA = 1 << 16 };
    static uint8_t data[DATA];
    static uint8_t buf[1 << 20];
    static struct rl_record_in records[MAX_RECORDS];
    static struct rl_header_in hdrs[MAX_RECORDS][3];
    test_rng_fill(&rng, data, sizeof(data));
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + test_rng_below(&rng, MAX_RECORDS);
        for (size_t i = 0; i < n; i++) {
            struct rl_record_in *r = &records[i];
            memset(r, 0, sizeof(*r));
            r->key_len = test_rng_below(&rng, 300);
            r->key = test_rng_below(&rng, 5) ? data + test_rng_below(&rng, DATA - 300) : NULL;
            r->value_len = test_rng_below(&rng, 3000);
            r->value = test_rng_below(&rng, 7) ? data + test_rng_below(&rng, DATA - 3000) : NULL;
            if (!r->key)
                r->key_len = 0;
            if (!r->value)
                r->value_len = 0;
            r->timestamp = (int64_t)test_rng_below(&rng, 1ull << 42);
            r->header_count = test_rng_below(&rng, 4);
            for (size_t j = 0; j < r->header_count; j++) {
                hdrs[i][j].key = data + test_rng_below(&rng, DATA - 64);
                hdrs[i][j].key_len = test_rng_below(&rng, 64);
                hdrs[i][j].value = test_rng_below(&rng, 4) ? data : NULL;
                hdrs[i][j].value_len = hdrs[i][j].value ? test_rng_below(&rng, 64) : 0;
            }
            r->headers = hdrs[i];
        }
        size_t size = build(buf, sizeof(buf), records, n);
        struct rl_batch_header h;
        cr_assert_eq(rl_batch_validate(buf, size, MAX_BATCH, &h), RL_OK, "round %d", round);
        expect_records(buf, &h, records, n);
    }
}

Test(batch, iterator_over_validated_batches_reads_headers_only)
{
    uint8_t buf[16384];
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {
        pos += build(buf + pos, sizeof(buf) - pos, sample, (size_t)(i + 1));
    }
    /* A damaged record body is not noticed: the bytes were validated before. */
    buf[pos - 1] ^= 0xff;
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, buf, pos, MAX_BATCH);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(rl_batch_iter_next_validated(&it, &batch, &h), RL_OK);
        cr_assert_eq(h.record_count, i + 1);
    }
    cr_assert_eq(rl_batch_iter_next_validated(&it, &batch, &h), RL_END);
    /* Bounds are still checked. */
    rl_batch_iter_init(&it, buf, pos - 1, MAX_BATCH);
    cr_assert_eq(rl_batch_iter_next_validated(&it, &batch, &h), RL_OK);
    cr_assert_eq(rl_batch_iter_next_validated(&it, &batch, &h), RL_OK);
    cr_assert_eq(rl_batch_iter_next_validated(&it, &batch, &h), RL_ERR_TRUNCATED);
}

/* A leader-epoch marker as the broker builds it: one record whose key is the control type. */
static size_t build_marker(uint8_t *buf, size_t cap)
{
    uint8_t key[2] = {RL_CONTROL_EPOCH_MARKER, 0};
    struct rl_record_in r = {.key = key, .key_len = sizeof(key), .timestamp = 1000};
    size_t n = build(buf, cap, &r, 1);
    rl_batch_make_control(buf, n);
    return n;
}

Test(batch, control_batches_are_refused_from_producers_and_valid_for_the_broker)
{
    uint8_t buf[512];
    size_t n = build_marker(buf, sizeof(buf));
    struct rl_batch_header h;
    cr_assert_eq(rl_batch_validate(buf, n, MAX_BATCH, &h), RL_ERR_CORRUPT, "a producer's");
    cr_assert_eq(rl_batch_validate_control(buf, n, MAX_BATCH, &h), RL_OK);
    cr_assert(rl_batch_is_control(&h));
    /* Iterators refuse them unless told. */
    struct rl_batch_iter it;
    const uint8_t *batch;
    rl_batch_iter_init(&it, buf, n, MAX_BATCH);
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_ERR_CORRUPT);
    rl_batch_iter_init(&it, buf, n, MAX_BATCH);
    it.allow_control = true;
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_OK);
    cr_assert_eq(rl_batch_iter_next(&it, &batch, &h), RL_END);
    /* The bit is hashed: setting it without re-hashing breaks the checksum. */
    uint8_t plain[512];
    uint8_t key[2] = {RL_CONTROL_EPOCH_MARKER, 0};
    struct rl_record_in r = {.key = key, .key_len = sizeof(key), .timestamp = 1000};
    size_t m = build(plain, sizeof(plain), &r, 1);
    plain[RL_BATCH_OFF_ATTRIBUTES] |= RL_BATCH_ATTR_CONTROL;
    cr_assert_eq(rl_batch_validate_control(plain, m, MAX_BATCH, &h), RL_ERR_CHECKSUM);
    /* A control batch with a producer id is not the broker's: refused even for the log. */
    struct rl_batch_producer prod = {.producer_id = 7, .producer_epoch = 0, .base_sequence = 0};
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, plain, sizeof(plain), &prod), RL_OK);
    cr_assert_eq(rl_batch_builder_add(&b, &r), RL_OK);
    m = rl_batch_builder_finish(&b);
    uint16_t attrs = (uint16_t)(plain[RL_BATCH_OFF_ATTRIBUTES] | RL_BATCH_ATTR_CONTROL);
    plain[RL_BATCH_OFF_ATTRIBUTES] = (uint8_t)attrs;
    uint64_t sum = rl_batch_compute_checksum(plain, m);
    for (int i = 0; i < 8; i++)
        plain[RL_BATCH_OFF_CHECKSUM + i] = (uint8_t)(sum >> (8 * i));
    cr_assert_eq(rl_batch_validate_control(plain, m, MAX_BATCH, &h), RL_ERR_CORRUPT);
}
