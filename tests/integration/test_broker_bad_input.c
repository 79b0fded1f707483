/*
 * Bad input against a live ringlogd: each case is followed by a normal
 * produce and fetch on a fresh connection, which must still work.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_proc.h"
#include "frame.h"
#include "test_rng.h"
#include "wire.h"

static struct broker_proc broker;
static int64_t produced;

static void start(void)
{
    cr_assert_eq(broker_start(&broker, NULL, NULL), 0);
    int fd = wire_connect(broker.port);
    Ringlog__Response *r = wire_create_topic(fd, "health", 2);
    cr_assert_not_null(r);
    cr_assert_eq(r->create_topics->topics[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
    produced = 0;
}

static void stop(void)
{
    cr_expect_eq(broker_stop(&broker), 0, "graceful shutdown exits 0 (log: %s)", broker.log_path);
    broker_remove_data(&broker);
}

TestSuite(bad_input, .init = start, .fini = stop, .timeout = 120);

/* A normal produce and fetch on a new connection. */
static void expect_healthy(void)
{
    int fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0, "the broker still accepts connections");
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "ok", 2, -1, -1, -1);
    Ringlog__Response *r = wire_produce(fd, "health", 0, 1, buf, len);
    cr_assert_not_null(r, "the broker still answers produce");
    cr_assert_eq(r->produce->topics[0]->partitions[0]->error, 0);
    cr_assert_eq(r->produce->topics[0]->partitions[0]->base_offset, produced);
    ringlog__response__free_unpacked(r, NULL);
    produced += 2;
    r = wire_fetch(fd, "health", 0, 0, 0, 1);
    cr_assert_not_null(r, "the broker still answers fetch");
    cr_assert_eq(r->fetch->topics[0]->partitions[0]->high_watermark, produced);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
}

/* Sends bytes on a new connection and expects the broker to close it. */
static void expect_closed_after(const void *bytes, size_t len, const char *what)
{
    int fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
    wire_send_raw(fd, bytes, len);
    cr_assert(wire_peer_closed(fd, 5000), "broker closes the connection on %s", what);
    close(fd);
    expect_healthy();
}

Test(bad_input, zero_and_huge_lengths_close_the_connection)
{
    uint8_t zero[4] = {0, 0, 0, 0};
    expect_closed_after(zero, 4, "a zero-length frame");
    uint8_t max[4] = {0xff, 0xff, 0xff, 0xff};
    expect_closed_after(max, 4, "a 2^32-1 length");
    uint8_t over[4];
    rl_frame_write_header(over, (16u << 20) + 1);
    expect_closed_after(over, 4, "a frame over the limit");
}

Test(bad_input, undecodable_and_bodyless_frames)
{
    uint8_t garbage[] = {0, 0, 0, 3, 0x0a, 0x7f, 0x01};
    expect_closed_after(garbage, sizeof(garbage), "an undecodable body");
    Ringlog__Request empty = RINGLOG__REQUEST__INIT;
    empty.correlation_id = 3;
    uint8_t buf[64];
    size_t n = rl_frame_write(&empty.base, buf);
    expect_closed_after(buf, n, "a request without a body");
}

Test(bad_input, truncated_frames_then_disconnect)
{
    size_t len = 0;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    req.api_version = 1;
    uint8_t buf[256];
    len = rl_frame_write(&req.base, buf);
    for (size_t cut = 1; cut < len; cut++) {
        int fd = wire_connect(broker.port);
        wire_send_raw(fd, buf, cut);
        close(fd); /* the client goes away mid-request */
    }
    expect_healthy();
}

Test(bad_input, random_bytes)
{
    struct test_rng rng;
    test_rng_seed(&rng, "bad_input.random_bytes", 0x5eed);
    uint8_t buf[8192];
    for (int round = 0; round < 50; round++) {
        size_t len = 1 + test_rng_below(&rng, sizeof(buf));
        test_rng_fill(&rng, buf, len);
        int fd = wire_connect(broker.port);
        wire_send_raw(fd, buf, len);
        close(fd);
    }
    expect_healthy();
}

Test(bad_input, valid_frames_with_wrong_bodies)
{
    int fd = wire_connect(broker.port);
    /* Produce with acks 7, and with records that are not a batch. */
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__ProduceRequest pr = RINGLOG__PRODUCE_REQUEST__INIT;
    pr.acks = 7;
    req.body_case = RINGLOG__REQUEST__BODY_PRODUCE;
    req.produce = &pr;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, RINGLOG__ERROR_CODE__INVALID_REQUEST);
    ringlog__response__free_unpacked(r, NULL);
    uint8_t junk[100];
    memset(junk, 0x41, sizeof(junk)); /* a batch length of ~1 GB */
    r = wire_produce(fd, "health", 1, 1, junk, sizeof(junk));
    cr_assert_eq(r->produce->topics[0]->partitions[0]->error, RINGLOG__ERROR_CODE__BATCH_TOO_LARGE);
    ringlog__response__free_unpacked(r, NULL);
    memset(junk, 0, sizeof(junk));
    junk[8] = 88; /* a plausible length, but no valid header */
    r = wire_produce(fd, "health", 1, 1, junk, sizeof(junk));
    cr_assert_eq(r->produce->topics[0]->partitions[0]->error, RINGLOG__ERROR_CODE__CORRUPT_BATCH);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_produce(fd, "health", 1, 1, junk, 0);
    cr_assert_eq(r->produce->topics[0]->partitions[0]->error, RINGLOG__ERROR_CODE__INVALID_REQUEST);
    ringlog__response__free_unpacked(r, NULL);
    /* The same connection keeps working after errors answered in-band. */
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "same-conn", 1, -1, -1, -1);
    r = wire_produce(fd, "health", 1, 1, buf, len);
    cr_assert_eq(r->produce->topics[0]->partitions[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
    expect_healthy();
}

Test(bad_input, many_connections_opened_and_dropped)
{
    /* From another loopback address: on loopback Linux reuses TIME_WAIT
     * ports at once, and a reused 4-tuple whose server side is still closing
     * would reset the health check's connection, a test artifact. */
    enum { TOTAL = 10000, BATCH = 500 };
    int fds[BATCH];
    for (int done = 0; done < TOTAL; done += BATCH) {
        int opened = 0;
        for (int i = 0; i < BATCH; i++) {
            fds[i] = wire_connect_from("127.0.0.2", broker.port);
            if (fds[i] >= 0)
                opened++;
        }
        cr_assert_eq(opened, BATCH);
        for (int i = 0; i < BATCH; i++)
            close(fds[i]);
    }
    expect_healthy();
}

Test(bad_input, stuck_consumer_stalls_nobody_else)
{
    /* Fill a partition, then ask for it hundreds of times without reading. */
    int fd = wire_connect(broker.port);
    static uint8_t buf[256 * 1024];
    size_t len =
        wire_build_batch(buf, sizeof(buf), "fill-the-pipe-with-some-bytes", 2000, -1, -1, -1);
    Ringlog__Response *r = wire_produce(fd, "health", 1, 1, buf, len);
    cr_assert_eq(r->produce->topics[0]->partitions[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
    int stuck = wire_connect(broker.port);
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__FetchRequest fr = RINGLOG__FETCH_REQUEST__INIT;
    Ringlog__FetchTopic ft = RINGLOG__FETCH_TOPIC__INIT;
    Ringlog__FetchPartition fp = RINGLOG__FETCH_PARTITION__INIT;
    Ringlog__FetchPartition *fps[1] = {&fp};
    Ringlog__FetchTopic *fts[1] = {&ft};
    fp.partition = 1;
    fp.max_bytes = 1 << 20;
    ft.topic = "health";
    ft.n_partitions = 1;
    ft.partitions = fps;
    fr.n_topics = 1;
    fr.topics = fts;
    req.body_case = RINGLOG__REQUEST__BODY_FETCH;
    req.fetch = &fr;
    req.api_version = 1;
    uint8_t frame[256];
    size_t n = rl_frame_write(&req.base, frame);
    /* Non-blocking sends: stop when the socket buffers are full. */
    int sent = 0;
    for (int i = 0; i < 2000; i++) {
        if (send(stuck, frame, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n)
            break;
        sent++;
    }
    cr_assert_gt(sent, 10);
    for (int i = 0; i < 3; i++)
        expect_healthy();
    close(stuck);
    expect_healthy();
}

/*
 * A large request's body is received straight into its frame buffer once
 * its header is in (broker/net/conn.c): one that arrives in many pieces is
 * appended byte for byte, and one cut off halfway appends nothing.
 */
Test(bad_input, a_large_request_in_small_pieces_and_one_cut_off_halfway)
{
    static uint8_t batch[1 << 20], frame[(1 << 20) + 4096];
    size_t blen = wire_build_batch(batch, sizeof(batch), "big", 8000, -1, -1, -1);
    cr_assert_gt(blen, 128 * 1024, "large enough to be received in place");
    size_t flen = wire_produce_frame(frame, "health", 1, 1, 7, batch, blen);
    int fd = wire_connect(broker.port);
    wire_send_raw(fd, frame, flen / 2);
    usleep(100 * 1000);
    close(fd);
    fd = wire_connect(broker.port);
    for (size_t off = 0; off < flen; off += 16384) {
        wire_send_raw(fd, frame + off, flen - off < 16384 ? flen - off : 16384);
        usleep(1000); /* each piece its own recv */
    }
    Ringlog__Response *r = wire_recv(fd, 10000);
    cr_assert_not_null(r);
    cr_assert_eq(r->correlation_id, 7);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_PRODUCE, "error %d: %s", r->error,
                 r->error_message);
    Ringlog__PartitionProduceResult *pr = r->produce->topics[0]->partitions[0];
    cr_assert_eq(pr->error, 0, "%s", pr->error_message);
    cr_assert_eq(pr->base_offset, 0, "the request cut off appended nothing");
    ringlog__response__free_unpacked(r, NULL);
    r = wire_fetch(fd, "health", 1, 0, 0, 1);
    Ringlog__FetchPartitionResult *fr = r->fetch->topics[0]->partitions[0];
    cr_assert_eq(fr->high_watermark, 8000);
    cr_assert_eq(fr->records.len, blen);
    cr_assert_eq(memcmp(fr->records.data, batch, blen), 0, "stored as sent");
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
    expect_healthy();
}
