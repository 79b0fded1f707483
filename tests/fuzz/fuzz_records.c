/*
 * The record and header iterators on decompressed data (proto/batch.c),
 * and the builder and codecs (proto/batch_compress.c) behind a round trip.
 *
 * A compressed batch passes validation on its checksum alone; its records
 * are checked only as they are iterated after rl_batch_decompress_records,
 * so every byte of them is the sender's choice. Fuzzing them through the
 * codec would mostly fuzz the codec, so the input is the decompressed data
 * itself, after a little-endian header:
 *   [0, 4) record_count   [4, 8) last_offset_delta   [8, 16) first_timestamp
 *   [16] codec of the round trip (odd: LZ4, even: zstd)   [17, end) records
 * Headers that rl_batch_validate would refuse are skipped.
 *
 * Checked: every span a record or header yields lies inside the records;
 * offset deltas rise and end at last_offset_delta; RL_END comes only after
 * record_count records that use up the data; a record's headers iterate to
 * RL_END exactly. When the whole input iterates, the records are rebuilt
 * with the builder (a new batch whenever it says full), and each batch must
 * validate, compress, decompress to the same bytes and iterate back to the
 * same keys, values, timestamps and headers.
 */
#include <string.h>

#include "batch.h"
#include "endian_le.h"
#include "fuzz_check.h"

enum { PREFIX = 17, MAX_RECORDS = 1 << 16, MAX_HEADERS = 1 << 16 };

static const uint8_t *g_base;
static size_t g_len;

static void check_inside(const uint8_t *p, int64_t n)
{
    if (p == NULL) {
        FUZZ_CHECK(n == -1);
        return;
    }
    FUZZ_CHECK(n >= 0 && p >= g_base && (uint64_t)n <= g_len &&
               (uint64_t)(p - g_base) <= g_len - (uint64_t)n);
}

/* Walks one record's headers: exactly header_count of them, inside it. */
static uint32_t walk_headers(const struct rl_record *r, struct rl_header_in *out)
{
    struct rl_header_iter hit;
    struct rl_header h;
    uint32_t n = 0;
    int rc;
    rl_header_iter_init(&hit, r);
    while ((rc = rl_header_iter_next(&hit, &h)) == RL_OK) {
        check_inside(h.key, (int64_t)h.key_len);
        check_inside(h.value, h.value_len);
        if (out)
            out[n] =
                (struct rl_header_in){h.key, h.key_len, h.value, h.value ? (size_t)h.value_len : 0};
        n++;
    }
    FUZZ_CHECK(rc == RL_END && n == r->header_count);
    FUZZ_CHECK(hit.pos == r->headers + r->headers_len);
    return n;
}

/* The record as the builder takes it; headers go to `hdrs`. */
static struct rl_record_in to_input(const struct rl_record *r, struct rl_header_in *hdrs)
{
    return (struct rl_record_in){
        .key = r->key,
        .key_len = r->key ? (size_t)r->key_len : 0,
        .value = r->value,
        .value_len = r->value ? (size_t)r->value_len : 0,
        .timestamp = r->timestamp,
        .headers = hdrs,
        .header_count = r->header_count,
    };
}

static int same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    return (a == NULL) == (b == NULL) && alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* One rebuilt record against the original it came from. */
static void check_rebuilt(const struct rl_record *got, const struct rl_record_in *want)
{
    FUZZ_CHECK(got->timestamp == want->timestamp);
    FUZZ_CHECK(same_bytes(got->key, got->key ? (size_t)got->key_len : 0, want->key, want->key_len));
    FUZZ_CHECK(same_bytes(got->value, got->value ? (size_t)got->value_len : 0, want->value,
                          want->value_len));
    FUZZ_CHECK(got->header_count == want->header_count);
    struct rl_header_iter hit;
    struct rl_header h;
    rl_header_iter_init(&hit, got);
    for (size_t i = 0; i < want->header_count; i++) {
        FUZZ_CHECK(rl_header_iter_next(&hit, &h) == RL_OK);
        const struct rl_header_in *w = &want->headers[i];
        FUZZ_CHECK(same_bytes(h.key, h.key_len, w->key, w->key_len));
        FUZZ_CHECK(same_bytes(h.value, h.value ? (size_t)h.value_len : 0, w->value, w->value_len));
    }
}

/* A built batch validates, survives the codec, and iterates back to `in`. */
static void check_batch(uint8_t *batch, size_t total, const struct rl_record_in *in, size_t n,
                        rl_codec codec, struct rl_batch_builder *b)
{
    struct rl_batch_header h;
    FUZZ_CHECK(rl_batch_validate(batch, total, total, &h) == RL_OK);
    FUZZ_CHECK(h.record_count == (int32_t)n && h.last_offset_delta == (int32_t)n - 1);
    size_t cap = rl_batch_compress_bound(b, codec);
    uint8_t *packed = malloc(cap);
    FUZZ_CHECK(packed != NULL);
    int status;
    size_t plen = rl_batch_builder_finish_compressed(b, codec, packed, cap, &status);
    FUZZ_CHECK(plen > 0 && status == RL_OK);
    struct rl_batch_header ph;
    FUZZ_CHECK(rl_batch_validate(packed, plen, plen, &ph) == RL_OK && rl_batch_codec(&ph) == codec);
    uint8_t *plain;
    size_t plain_len;
    FUZZ_CHECK(rl_batch_decompress_records(packed, &ph, &plain, &plain_len) == RL_OK);
    FUZZ_CHECK(plain_len == total - RL_BATCH_HEADER_BYTES);
    FUZZ_CHECK(memcmp(plain, batch + RL_BATCH_HEADER_BYTES, plain_len) == 0);
    free(plain);
    free(packed);
    struct rl_record_iter it;
    struct rl_record r;
    FUZZ_CHECK(rl_record_iter_init(&it, batch, &h) == RL_OK);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(rl_record_iter_next(&it, &r) == RL_OK && r.offset_delta == (int64_t)i);
        check_rebuilt(&r, &in[i]);
    }
    FUZZ_CHECK(rl_record_iter_next(&it, &r) == RL_END);
}

/* Builds in[0, n) into as few batches as the builder allows and checks each. */
static void round_trip(const struct rl_record_in *in, size_t n, size_t bytes, rl_codec codec)
{
    size_t cap = RL_BATCH_HEADER_BYTES + bytes + n * RL_RECORD_MAX_OVERHEAD;
    uint8_t *buf = malloc(cap);
    FUZZ_CHECK(buf != NULL);
    struct rl_batch_builder b;
    size_t first = 0;
    FUZZ_CHECK(rl_batch_builder_init(&b, buf, cap, NULL) == RL_OK);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && rl_batch_builder_add(&b, &in[i]) == RL_OK)
            continue;
        /* Full (or done): this batch is in[first, i); a full one takes in[i] next. */
        FUZZ_CHECK(i > first);
        size_t total = rl_batch_builder_finish(&b);
        check_batch(buf, total, in + first, i - first, codec, &b);
        if (i == n)
            break;
        FUZZ_CHECK(rl_batch_builder_init(&b, buf, cap, NULL) == RL_OK);
        FUZZ_CHECK(rl_batch_builder_add(&b, &in[i]) == RL_OK);
        first = i;
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PREFIX)
        return 0;
    struct rl_batch_header h = {0};
    h.record_count = (int32_t)rl_le32(data);
    h.last_offset_delta = (int32_t)rl_le32(data + 4);
    h.first_timestamp = (int64_t)rl_le64(data + 8);
    rl_codec codec = (data[16] & 1) ? RL_CODEC_LZ4 : RL_CODEC_ZSTD;
    if (h.record_count <= 0 || h.last_offset_delta < h.record_count - 1)
        return 0;
    /* An exactly-sized copy, as rl_batch_decompress_records would return. */
    g_len = size - PREFIX;
    uint8_t *records = malloc(g_len ? g_len : 1);
    FUZZ_CHECK(records != NULL);
    memcpy(records, data + PREFIX, g_len);
    g_base = records;
    static struct rl_record_in in[MAX_RECORDS];
    static struct rl_header_in hdrs[MAX_HEADERS];
    size_t n = 0, nh = 0;
    int64_t last_delta = -1;
    struct rl_record_iter it;
    struct rl_record r;
    int rc;
    rl_record_iter_init_raw(&it, records, g_len, &h);
    while ((rc = rl_record_iter_next(&it, &r)) == RL_OK) {
        FUZZ_CHECK(n < (size_t)h.record_count);
        /* The tables hold what a 64 KiB input can make; larger replays stop here. */
        if (n == MAX_RECORDS || nh + r.header_count > MAX_HEADERS)
            break;
        FUZZ_CHECK(r.offset_delta > last_delta && r.offset_delta <= h.last_offset_delta);
        last_delta = r.offset_delta;
        check_inside(r.key, r.key_len);
        check_inside(r.value, r.value_len);
        check_inside(r.headers, (int64_t)r.headers_len);
        walk_headers(&r, hdrs + nh);
        in[n++] = to_input(&r, hdrs + nh);
        nh += r.header_count;
    }
    if (rc == RL_END) {
        FUZZ_CHECK(n == (size_t)h.record_count && last_delta == h.last_offset_delta);
        FUZZ_CHECK(it.pos == records + g_len);
        round_trip(in, n, g_len, codec);
    } else {
        FUZZ_CHECK(rc == RL_ERR_CORRUPT || rc == RL_OK);
    }
    free(records);
    return 0;
}
