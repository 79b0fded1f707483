/* Frame codec: round trips, splits at every byte, and every malformed-frame case. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "frame.h"
#include "frame_iov.h"
#include "test_rng.h"

/* Packs a metadata request asking for `topic` into a fresh frame. */
static uint8_t *make_request_frame(uint64_t correlation_id, const char *topic, size_t *len)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    char *topics[1] = {(char *)topic};
    md.n_topics = 1;
    md.topics = topics;
    req.correlation_id = correlation_id;
    req.api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    *len = rl_frame_size(&req.base);
    uint8_t *buf = malloc(*len);
    cr_assert_eq(rl_frame_write(&req.base, buf), *len);
    return buf;
}

static void expect_request(const uint8_t *frame, size_t len, uint64_t correlation_id,
                           const char *topic)
{
    int status;
    Ringlog__Request *req = rl_request_decode(frame, len, NULL, &status);
    cr_assert_eq(status, RL_OK);
    cr_assert_not_null(req);
    cr_assert_eq(req->correlation_id, correlation_id);
    cr_assert_eq(req->body_case, RINGLOG__REQUEST__BODY_METADATA);
    cr_assert_eq(req->metadata->n_topics, 1);
    cr_assert_str_eq(req->metadata->topics[0], topic);
    ringlog__request__free_unpacked(req, NULL);
}

Test(frame, round_trip_in_place)
{
    size_t len;
    uint8_t *buf = make_request_frame(42, "orders", &len);
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    const uint8_t *in = buf, *frame;
    size_t in_len = len, frame_len;
    cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len), RL_OK);
    cr_assert_eq(frame, buf + RL_FRAME_HEADER_BYTES, "a whole frame is returned in place");
    cr_assert_eq(frame_len, len - RL_FRAME_HEADER_BYTES);
    cr_assert_eq(in_len, 0);
    expect_request(frame, frame_len, 42, "orders");
    cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len), RL_NEED_MORE);
    cr_assert_eq(rl_frame_decoder_finish(&d), RL_OK);
    cr_assert_eq(d.body_cap, 0, "no reassembly buffer for whole frames");
    rl_frame_decoder_destroy(&d);
    free(buf);
}

/* Concatenates three frames with correlation ids 1..3. */
static uint8_t *make_three_frames(size_t *total)
{
    size_t l1, l2, l3;
    uint8_t *f1 = make_request_frame(1, "a", &l1);
    uint8_t *f2 = make_request_frame(2, "topic-two", &l2);
    uint8_t *f3 = make_request_frame(3, "", &l3);
    *total = l1 + l2 + l3;
    uint8_t *all = malloc(*total);
    memcpy(all, f1, l1);
    memcpy(all + l1, f2, l2);
    memcpy(all + l1 + l2, f3, l3);
    free(f1);
    free(f2);
    free(f3);
    return all;
}

static const char *THREE_TOPICS[] = {"a", "topic-two", ""};

/* Feeds `all` in the given pieces and checks the three frames come out in order. */
static void feed_and_expect_three(const uint8_t *all, const size_t *cuts, size_t n_cuts,
                                  size_t total)
{
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    int seen = 0;
    size_t start = 0;
    for (size_t c = 0; c <= n_cuts; c++) {
        size_t end = c < n_cuts ? cuts[c] : total;
        const uint8_t *in = all + start, *frame;
        size_t in_len = end - start, frame_len;
        int status;
        while ((status = rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len)) == RL_OK) {
            cr_assert_lt(seen, 3);
            expect_request(frame, frame_len, (uint64_t)seen + 1, THREE_TOPICS[seen]);
            seen++;
        }
        cr_assert_eq(status, RL_NEED_MORE);
        cr_assert_eq(in_len, 0);
        start = end;
    }
    cr_assert_eq(seen, 3);
    cr_assert_eq(rl_frame_decoder_finish(&d), RL_OK);
    rl_frame_decoder_destroy(&d);
}

Test(frame, many_frames_in_one_read)
{
    size_t total;
    uint8_t *all = make_three_frames(&total);
    feed_and_expect_three(all, NULL, 0, total);
    free(all);
}

Test(frame, split_at_every_byte_position)
{
    size_t total;
    uint8_t *all = make_three_frames(&total);
    for (size_t cut = 0; cut <= total; cut++)
        feed_and_expect_three(all, &cut, 1, total);
    free(all);
}

Test(frame, one_byte_at_a_time)
{
    size_t total;
    uint8_t *all = make_three_frames(&total);
    size_t *cuts = malloc(total * sizeof(*cuts));
    for (size_t i = 0; i < total; i++)
        cuts[i] = i;
    feed_and_expect_three(all, cuts, total, total);
    free(cuts);
    free(all);
}

/* Feeds raw bytes (in one piece) and returns the first non-OK status. */
static int feed_raw(struct rl_frame_decoder *d, const uint8_t *bytes, size_t len)
{
    const uint8_t *in = bytes, *frame;
    size_t in_len = len, frame_len;
    int status;
    while ((status = rl_frame_decoder_next(d, &in, &in_len, &frame, &frame_len)) == RL_OK)
        ;
    return status;
}

Test(frame, zero_length_is_an_error_and_sticky)
{
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    uint8_t zero[4] = {0, 0, 0, 0};
    cr_assert_eq(feed_raw(&d, zero, 4), RL_ERR_EMPTY);
    size_t len;
    uint8_t *good = make_request_frame(7, "x", &len);
    cr_assert_eq(feed_raw(&d, good, len), RL_ERR_EMPTY, "errors are sticky");
    cr_assert_eq(rl_frame_decoder_finish(&d), RL_ERR_EMPTY);
    free(good);
    rl_frame_decoder_destroy(&d);
}

Test(frame, oversized_rejected_before_allocating)
{
    uint8_t max_u32[4] = {0xff, 0xff, 0xff, 0xff};
    uint8_t just_over[4];
    rl_frame_write_header(just_over, 1025);
    uint8_t at_limit[4];
    rl_frame_write_header(at_limit, 1024);

    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 1024);
    cr_assert_eq(feed_raw(&d, max_u32, 4), RL_ERR_OVERSIZED);
    cr_assert_eq(d.body_cap, 0);
    rl_frame_decoder_destroy(&d);

    /* Header split over two reads: still rejected, still nothing allocated. */
    rl_frame_decoder_init(&d, 1024);
    cr_assert_eq(feed_raw(&d, just_over, 2), RL_NEED_MORE);
    cr_assert_eq(feed_raw(&d, just_over + 2, 2), RL_ERR_OVERSIZED);
    cr_assert_eq(d.body_cap, 0);
    rl_frame_decoder_destroy(&d);

    /* Exactly the limit is allowed. */
    rl_frame_decoder_init(&d, 1024);
    cr_assert_eq(feed_raw(&d, at_limit, 4), RL_NEED_MORE);
    rl_frame_decoder_destroy(&d);
}

Test(frame, default_limit_is_16_mib)
{
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    cr_assert_eq(d.max_frame_bytes, 16u << 20);
    uint8_t hdr[4];
    rl_frame_write_header(hdr, (16u << 20) + 1);
    cr_assert_eq(feed_raw(&d, hdr, 4), RL_ERR_OVERSIZED);
    rl_frame_decoder_destroy(&d);
}

Test(frame, truncated_header_and_body)
{
    size_t len;
    uint8_t *buf = make_request_frame(9, "truncate-me", &len);
    for (size_t cut = 1; cut < len; cut++) {
        struct rl_frame_decoder d;
        rl_frame_decoder_init(&d, 0);
        cr_assert_eq(feed_raw(&d, buf, cut), RL_NEED_MORE);
        cr_assert_eq(rl_frame_decoder_finish(&d), RL_ERR_TRUNCATED, "cut at %zu", cut);
        rl_frame_decoder_destroy(&d);
    }
    free(buf);
}

Test(frame, reassembly_buffer_grows_with_received_bytes)
{
    /* A peer announcing 16 MiB and sending 10 bytes must not cost 16 MiB:
     * the first buffer is at most 1 MiB (sized so a typical produce frame
     * never moves while it arrives), untouched past the bytes received. */
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    uint8_t bytes[14] = {0};
    rl_frame_write_header(bytes, 16u << 20);
    cr_assert_eq(feed_raw(&d, bytes, sizeof(bytes)), RL_NEED_MORE);
    cr_assert_leq(d.body_cap, 1u << 20);
    rl_frame_decoder_destroy(&d);
}

/*
 * A reader may receive the rest of a frame straight into the decoder's
 * buffer (body_room / received), in pieces of any size, mixed with input
 * fed the usual way; the frame comes out whole and byte for byte, and the
 * buffer still grows only with what arrived.
 */
Test(frame, direct_receive_into_the_frame_buffer)
{
    struct test_rng rng;
    test_rng_seed(&rng, "direct_receive_into_the_frame_buffer", 1);
    const uint32_t body_len = 3u << 20;
    uint8_t *frame = malloc(RL_FRAME_HEADER_BYTES + body_len);
    rl_frame_write_header(frame, body_len);
    for (uint32_t i = 0; i < body_len; i++)
        frame[RL_FRAME_HEADER_BYTES + i] = (uint8_t)(i * 7 + 3);
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    uint8_t *dst;
    cr_assert_eq(rl_frame_decoder_body_room(&d, &dst), 0, "no frame under way");
    /* The header and a few body bytes the usual way. */
    const uint8_t *in = frame, *out;
    size_t in_len = RL_FRAME_HEADER_BYTES + 10, out_len;
    cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &out, &out_len), RL_NEED_MORE);
    size_t pos = RL_FRAME_HEADER_BYTES + 10;
    size_t room = rl_frame_decoder_body_room(&d, &dst);
    cr_assert_gt(room, 0);
    cr_assert_leq(d.body_cap, 1u << 20, "room grows with what arrived, not the announced length");
    while (pos < RL_FRAME_HEADER_BYTES + body_len) {
        room = rl_frame_decoder_body_room(&d, &dst);
        cr_assert_gt(room, 0);
        size_t n = 1 + test_rng_below(&rng, 300000);
        if (n > room)
            n = room;
        if (test_rng_below(&rng, 4) == 0) { /* now and then the usual way */
            in = frame + pos;
            in_len = n;
            int st = rl_frame_decoder_next(&d, &in, &in_len, &out, &out_len);
            pos += n;
            cr_assert_eq(st, pos == RL_FRAME_HEADER_BYTES + body_len ? RL_OK : RL_NEED_MORE);
            continue;
        }
        memcpy(dst, frame + pos, n);
        rl_frame_decoder_received(&d, n);
        pos += n;
    }
    if (rl_frame_decoder_body_room(&d, &dst) == 0 && d.body_have == body_len) {
        in_len = 0;
        cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &out, &out_len), RL_OK);
    }
    cr_assert_eq(out_len, body_len);
    cr_assert_eq(memcmp(out, frame + RL_FRAME_HEADER_BYTES, body_len), 0);
    cr_assert_eq(rl_frame_decoder_body_room(&d, &dst), 0, "the next frame has no header yet");
    rl_frame_decoder_destroy(&d);
    free(frame);
}

Test(frame, undecodable_bodies)
{
    int status;
    /* Field 1 declared as length-delimited with a length past the end. */
    uint8_t garbage[] = {0x0a, 0x7f, 0x01};
    cr_assert_null(rl_request_decode(garbage, sizeof(garbage), NULL, &status));
    cr_assert_eq(status, RL_ERR_UNDECODABLE);

    /* Valid protobuf, but a request without a body is not a request. */
    Ringlog__Request empty = RINGLOG__REQUEST__INIT;
    empty.correlation_id = 5;
    uint8_t buf[64];
    size_t n = protobuf_c_message_pack(&empty.base, buf);
    cr_assert_null(rl_request_decode(buf, n, NULL, &status));
    cr_assert_eq(status, RL_ERR_UNDECODABLE);

    /* A response may carry only an error, no body. */
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.correlation_id = 5;
    resp.error = RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION;
    resp.error_message = "version 9 is not supported";
    n = protobuf_c_message_pack(&resp.base, buf);
    Ringlog__Response *back = rl_response_decode(buf, n, NULL, &status);
    cr_assert_not_null(back);
    cr_assert_eq(back->error, RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION);
    cr_assert_str_eq(back->error_message, "version 9 is not supported");
    ringlog__response__free_unpacked(back, NULL);
}

Test(frame, decode_into_arena)
{
    struct rl_arena arena;
    rl_arena_init(&arena, 4096, 1 << 20);
    size_t len;
    uint8_t *buf = make_request_frame(77, "arena-topic", &len);
    for (int round = 0; round < 100; round++) {
        int status;
        Ringlog__Request *req =
            rl_request_decode(buf + 4, len - 4, rl_arena_allocator(&arena), &status);
        cr_assert_not_null(req);
        cr_assert_str_eq(req->metadata->topics[0], "arena-topic");
        rl_arena_reset(&arena);
    }
    cr_assert_eq(arena.reserved, 4096, "reset keeps exactly the first chunk");
    rl_arena_destroy(&arena);
    free(buf);
}

Test(frame, random_streams_never_misbehave)
{
    struct test_rng rng;
    test_rng_seed(&rng, "frame.random_streams_never_misbehave", 0xf4a3e);
    uint8_t buf[4096];
    for (int round = 0; round < 2000; round++) {
        struct rl_frame_decoder d;
        rl_frame_decoder_init(&d, 1 + (uint32_t)test_rng_below(&rng, 8192));
        size_t len = test_rng_below(&rng, sizeof(buf));
        test_rng_fill(&rng, buf, len);
        /* Small lengths now and then, so some frames are whole. */
        if (len >= 4 && test_rng_below(&rng, 2))
            rl_frame_write_header(buf, (uint32_t)test_rng_below(&rng, len));
        size_t pos = 0;
        int status = RL_NEED_MORE;
        while (pos < len && status >= 0) {
            size_t piece = 1 + test_rng_below(&rng, len - pos);
            const uint8_t *in = buf + pos, *frame;
            size_t in_len = piece, frame_len;
            while ((status = rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len)) ==
                   RL_OK) {
                cr_assert_gt(frame_len, 0);
                cr_assert_leq(frame_len, d.max_frame_bytes);
                int decode_status;
                Ringlog__Request *req = rl_request_decode(frame, frame_len, NULL, &decode_status);
                if (req)
                    ringlog__request__free_unpacked(req, NULL);
            }
            cr_assert(status == RL_NEED_MORE || status == RL_ERR_EMPTY ||
                      status == RL_ERR_OVERSIZED);
            pos += piece;
        }
        rl_frame_decoder_destroy(&d);
    }
}

Test(frame, pack_iov_references_large_bytes_and_matches_plain_packing)
{
    static uint8_t records[3][20000];
    for (int i = 0; i < 3; i++)
        memset(records[i], 'a' + i, sizeof(records[i]));
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    Ringlog__FetchResponse fr = RINGLOG__FETCH_RESPONSE__INIT;
    Ringlog__FetchTopicResult tr = RINGLOG__FETCH_TOPIC_RESULT__INIT;
    Ringlog__FetchPartitionResult pr[3];
    Ringlog__FetchPartitionResult *prs[3];
    for (int i = 0; i < 3; i++) {
        ringlog__fetch_partition_result__init(&pr[i]);
        pr[i].partition = (uint32_t)i;
        pr[i].high_watermark = 1000 + i;
        pr[i].records.data = records[i];
        pr[i].records.len = i == 1 ? 100 : sizeof(records[i]); /* a small one is copied */
        prs[i] = &pr[i];
    }
    tr.topic = "t";
    tr.n_partitions = 3;
    tr.partitions = prs;
    Ringlog__FetchTopicResult *trs[1] = {&tr};
    fr.n_topics = 1;
    fr.topics = trs;
    resp.correlation_id = 9;
    resp.body_case = RINGLOG__RESPONSE__BODY_FETCH;
    resp.fetch = &fr;

    struct rl_frame_iov f;
    cr_assert_eq(rl_frame_pack_iov(&f, &resp.base, RL_FRAME_IOV_DEFAULT_MIN_REF), 0);
    size_t plain_len = rl_frame_size(&resp.base);
    uint8_t *plain = malloc(plain_len);
    rl_frame_write(&resp.base, plain);
    cr_assert_eq(f.total, plain_len);
    uint8_t *joined = malloc(f.total);
    size_t pos = 0;
    int referenced = 0;
    for (int i = 0; i < f.iov_count; i++) {
        if (f.iov[i].iov_base == records[0] || f.iov[i].iov_base == records[2])
            referenced++;
        cr_assert_neq(f.iov[i].iov_base, records[1], "small fields are copied");
        memcpy(joined + pos, f.iov[i].iov_base, f.iov[i].iov_len);
        pos += f.iov[i].iov_len;
    }
    cr_assert_eq(referenced, 2, "large batches are referenced in place");
    cr_assert_eq(memcmp(joined, plain, plain_len), 0, "same bytes as plain packing");
    free(joined);
    free(plain);
    rl_frame_iov_free(&f);
}

Test(frame, take_frame_hands_over_only_reassembled_frames)
{
    size_t len;
    uint8_t *buf = make_request_frame(3, "take-me", &len);
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 0);
    /* whole in the input: nothing to take */
    const uint8_t *in = buf, *frame;
    size_t in_len = len, frame_len;
    cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len), RL_OK);
    cr_assert_null(rl_frame_decoder_take_frame(&d, frame));
    /* split: reassembled in the decoder, taken over, then the next frame
     * reassembles into a new buffer */
    for (int round = 0; round < 2; round++) {
        in = buf;
        in_len = 5;
        cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len), RL_NEED_MORE);
        in = buf + 5;
        in_len = len - 5;
        cr_assert_eq(rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len), RL_OK);
        uint8_t *owned = rl_frame_decoder_take_frame(&d, frame);
        cr_assert_eq(owned, frame);
        cr_assert_null(rl_frame_decoder_take_frame(&d, frame), "taken once only");
        expect_request(owned, frame_len, 3, "take-me");
        free(owned);
    }
    rl_frame_decoder_destroy(&d);
    free(buf);
}
