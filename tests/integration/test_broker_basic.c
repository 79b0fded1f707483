/* ringlogd end to end over the wire: topics, produce, fetch, offsets, idempotence, restart. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "broker_proc.h"
#include "wire.h"

static struct broker_proc broker;
static int fd = -1;

static void start(void)
{
    cr_assert_eq(broker_start(&broker, NULL, NULL), 0);
    fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
}

static void stop(void)
{
    if (fd >= 0)
        close(fd);
    cr_expect_eq(broker_stop(&broker), 0, "graceful shutdown exits 0 (log: %s)", broker.log_path);
    broker_remove_data(&broker);
}

TestSuite(broker, .init = start, .fini = stop, .timeout = 60);

static Ringlog__PartitionProduceResult *produce_result(Ringlog__Response *r)
{
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0, "request error %d: %s", r->error, r->error_message);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_PRODUCE);
    return r->produce->topics[0]->partitions[0];
}

static Ringlog__FetchPartitionResult *fetch_result(Ringlog__Response *r)
{
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0, "request error %d: %s", r->error, r->error_message);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_FETCH);
    return r->fetch->topics[0]->partitions[0];
}

static void create(const char *name, uint32_t partitions)
{
    Ringlog__Response *r = wire_create_topic(fd, name, partitions);
    cr_assert_not_null(r);
    cr_assert_eq(r->create_topics->topics[0]->error, 0, "create %s: %s", name,
                 r->create_topics->topics[0]->error_message);
    ringlog__response__free_unpacked(r, NULL);
}

/* Produces one batch of n records and returns its base offset. */
static int64_t produce(const char *topic, uint32_t partition, const char *prefix, int n)
{
    uint8_t buf[16384];
    size_t len = wire_build_batch(buf, sizeof(buf), prefix, n, -1, -1, -1);
    Ringlog__Response *r = wire_produce(fd, topic, partition, 1, buf, len);
    Ringlog__PartitionProduceResult *pr = produce_result(r);
    cr_assert_eq(pr->error, 0, "produce: %s", pr->error_message);
    int64_t base = pr->base_offset;
    ringlog__response__free_unpacked(r, NULL);
    return base;
}

Test(broker, handshake_and_version_check)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__HandshakeRequest hs = RINGLOG__HANDSHAKE_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_HANDSHAKE;
    req.handshake = &hs;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_HANDSHAKE);
    cr_assert_eq(r->handshake->node_id, 1);
    cr_assert_eq(r->handshake->max_frame_bytes, 16u << 20);
    cr_assert_geq(r->handshake->n_apis, 10);
    cr_assert_eq(strlen(r->handshake->cluster_id), 32);
    ringlog__response__free_unpacked(r, NULL);

    Ringlog__Request bad = RINGLOG__REQUEST__INIT;
    bad.api_version = 99;
    bad.body_case = RINGLOG__REQUEST__BODY_HANDSHAKE;
    bad.handshake = &hs;
    r = wire_call(fd, &bad);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION);
    cr_assert_eq(r->correlation_id, bad.correlation_id);
    cr_assert_neq(strlen(r->error_message), 0);
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker, create_topic_errors)
{
    create("orders", 3);
    Ringlog__Response *r = wire_create_topic(fd, "orders", 3);
    cr_assert_eq(r->create_topics->topics[0]->error, RINGLOG__ERROR_CODE__TOPIC_EXISTS);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_create_topic(fd, "bad name!", 1);
    cr_assert_eq(r->create_topics->topics[0]->error, RINGLOG__ERROR_CODE__INVALID_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_create_topic(fd, "too-many", 10001);
    cr_assert_eq(r->create_topics->topics[0]->error, RINGLOG__ERROR_CODE__INVALID_PARTITIONS);
    ringlog__response__free_unpacked(r, NULL);

    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    char *names[2] = {"orders", "missing"};
    md.n_topics = 2;
    md.topics = names;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->metadata->n_brokers, 1);
    cr_assert_eq(r->metadata->brokers[0]->port, broker.port);
    cr_assert_eq(r->metadata->n_topics, 2);
    cr_assert_eq(r->metadata->topics[0]->error, 0);
    cr_assert_eq(r->metadata->topics[0]->n_partitions, 3);
    cr_assert_eq(r->metadata->topics[0]->partitions[2]->leader, 1);
    cr_assert_eq(r->metadata->topics[1]->error, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker, produce_then_fetch_returns_identical_batches)
{
    create("t", 1);
    uint8_t batches[2][16384];
    size_t lens[2];
    for (int i = 0; i < 2; i++) {
        lens[i] = wire_build_batch(batches[i], sizeof(batches[i]), i ? "second" : "first", 10 + i,
                                   -1, -1, -1);
        Ringlog__Response *r = wire_produce(fd, "t", 0, 1, batches[i], lens[i]);
        Ringlog__PartitionProduceResult *pr = produce_result(r);
        cr_assert_eq(pr->error, 0, "%s", pr->error_message);
        cr_assert_eq(pr->base_offset, i == 0 ? 0 : 10);
        ringlog__response__free_unpacked(r, NULL);
        rl_batch_stamp(batches[i], i == 0 ? 0 : 10, 0);
    }
    Ringlog__Response *r = wire_fetch(fd, "t", 0, 0, 0, 1);
    Ringlog__FetchPartitionResult *fr = fetch_result(r);
    cr_assert_eq(fr->error, 0, "%s", fr->error_message);
    cr_assert_eq(fr->high_watermark, 21);
    cr_assert_eq(fr->log_end_offset, 21);
    cr_assert_eq(fr->records.len, lens[0] + lens[1]);
    cr_assert_eq(memcmp(fr->records.data, batches[0], lens[0]), 0, "bytes stored as produced");
    cr_assert_eq(memcmp(fr->records.data + lens[0], batches[1], lens[1]), 0);
    ringlog__response__free_unpacked(r, NULL);

    /* From the middle: starts with the batch holding the offset. */
    r = wire_fetch(fd, "t", 0, 15, 0, 1);
    fr = fetch_result(r);
    cr_assert_eq(fr->records.len, lens[1]);
    ringlog__response__free_unpacked(r, NULL);

    /* At the end: nothing, no error. Past it: out of range. */
    r = wire_fetch(fd, "t", 0, 21, 0, 1);
    fr = fetch_result(r);
    cr_assert_eq(fr->error, 0);
    cr_assert_eq(fr->records.len, 0);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_fetch(fd, "t", 0, 22, 0, 1);
    cr_assert_eq(fetch_result(r)->error, RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE);
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker, unknown_topic_and_partition)
{
    create("known", 2);
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "x", 1, -1, -1, -1);
    Ringlog__Response *r = wire_produce(fd, "nope", 0, 1, buf, len);
    cr_assert_eq(produce_result(r)->error, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_produce(fd, "known", 2, 1, buf, len);
    cr_assert_eq(produce_result(r)->error, RINGLOG__ERROR_CODE__UNKNOWN_PARTITION);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_fetch(fd, "nope", 0, 0, 0, 1);
    cr_assert_eq(fetch_result(r)->error, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
}

Test(broker, corrupt_batch_appends_nothing)
{
    create("c", 1);
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "v", 3, -1, -1, -1);
    buf[len - 1] ^= 1;
    Ringlog__Response *r = wire_produce(fd, "c", 0, 1, buf, len);
    cr_assert_eq(produce_result(r)->error, RINGLOG__ERROR_CODE__CORRUPT_BATCH);
    ringlog__response__free_unpacked(r, NULL);
    /* Two batches, the second corrupt: neither is appended. */
    uint8_t two[8192];
    size_t a = wire_build_batch(two, sizeof(two), "good", 2, -1, -1, -1);
    size_t b = wire_build_batch(two + a, sizeof(two) - a, "bad", 2, -1, -1, -1);
    two[a + b - 2] ^= 0x40;
    r = wire_produce(fd, "c", 0, 1, two, a + b);
    cr_assert_eq(produce_result(r)->error, RINGLOG__ERROR_CODE__CORRUPT_BATCH);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_fetch(fd, "c", 0, 0, 0, 1);
    cr_assert_eq(fetch_result(r)->log_end_offset, 0, "nothing appended");
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(produce("c", 0, "after", 2), 0, "the partition still takes good batches");
}

Test(broker, many_partitions_across_shards)
{
    create("wide", 8);
    for (uint32_t p = 0; p < 8; p++)
        for (int k = 0; k < 3; k++)
            cr_assert_eq(produce("wide", p, "m", (int)p + 1), (int64_t)(k * (p + 1)));
    for (uint32_t p = 0; p < 8; p++) {
        Ringlog__Response *r = wire_fetch(fd, "wide", p, 0, 0, 1);
        Ringlog__FetchPartitionResult *fr = fetch_result(r);
        cr_assert_eq(fr->high_watermark, 3 * (p + 1), "partition %u", p);
        struct rl_batch_iter it;
        const uint8_t *batch;
        struct rl_batch_header h;
        rl_batch_iter_init(&it, fr->records.data, fr->records.len, 1 << 20);
        int batches = 0;
        while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
            cr_assert_eq(h.base_offset, batches * (int)(p + 1));
            batches++;
        }
        cr_assert_eq(batches, 3);
        ringlog__response__free_unpacked(r, NULL);
    }
}

Test(broker, long_poll_fetch_wakes_on_produce)
{
    create("lp", 4);
    int waiter = wire_connect(broker.port);
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__FetchRequest fr = RINGLOG__FETCH_REQUEST__INIT;
    Ringlog__FetchTopic ft = RINGLOG__FETCH_TOPIC__INIT;
    Ringlog__FetchPartition fp[2] = {RINGLOG__FETCH_PARTITION__INIT,
                                     RINGLOG__FETCH_PARTITION__INIT};
    Ringlog__FetchPartition *fps[2] = {&fp[0], &fp[1]};
    Ringlog__FetchTopic *fts[1] = {&ft};
    fp[0].partition = 1;
    fp[1].partition = 2;
    ft.topic = "lp";
    ft.n_partitions = 2;
    ft.partitions = fps;
    fr.max_wait_ms = 30000;
    fr.min_bytes = 1;
    fr.n_topics = 1;
    fr.topics = fts;
    req.body_case = RINGLOG__REQUEST__BODY_FETCH;
    req.fetch = &fr;
    cr_assert_eq(wire_send(waiter, &req), 0);
    /* Nothing there: the fetch must wait. */
    struct pollfd p = {.fd = waiter, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 300), 0, "an empty long poll must not answer early");
    produce("lp", 2, "wake", 1);
    /* Answered long before max_wait (30 s) runs out. */
    Ringlog__Response *r = wire_recv(waiter, 10000);
    cr_assert_not_null(r, "the produce woke the fetch");
    cr_assert_eq(r->fetch->topics[0]->partitions[1]->high_watermark, 1);
    cr_assert_gt(r->fetch->topics[0]->partitions[1]->records.len, 0);
    ringlog__response__free_unpacked(r, NULL);
    close(waiter);
}

Test(broker, pipelined_requests_answered_in_order)
{
    create("pipe", 2);
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "p", 1, -1, -1, -1);
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        Ringlog__Request req = RINGLOG__REQUEST__INIT;
        Ringlog__ProduceRequest pr = RINGLOG__PRODUCE_REQUEST__INIT;
        Ringlog__TopicProduceData td = RINGLOG__TOPIC_PRODUCE_DATA__INIT;
        Ringlog__PartitionProduceData pd = RINGLOG__PARTITION_PRODUCE_DATA__INIT;
        Ringlog__PartitionProduceData *pds[1] = {&pd};
        Ringlog__TopicProduceData *tds[1] = {&td};
        pd.partition = (uint32_t)(i % 2);
        pd.records.data = buf;
        pd.records.len = len;
        td.topic = "pipe";
        td.n_partitions = 1;
        td.partitions = pds;
        pr.acks = 1;
        pr.n_topics = 1;
        pr.topics = tds;
        req.correlation_id = 1000 + (uint64_t)i;
        req.body_case = RINGLOG__REQUEST__BODY_PRODUCE;
        req.produce = &pr;
        cr_assert_eq(wire_send(fd, &req), 0);
    }
    for (int i = 0; i < N; i++) {
        Ringlog__Response *r = wire_recv(fd, 10000);
        cr_assert_not_null(r);
        cr_assert_eq(r->correlation_id, 1000 + (uint64_t)i, "answers keep request order");
        cr_assert_eq(r->produce->topics[0]->partitions[0]->base_offset, i / 2);
        ringlog__response__free_unpacked(r, NULL);
    }
}

static Ringlog__Response *list_offset(const char *topic, uint32_t partition, int64_t ts)
{
    Ringlog__Response *r = wire_list_offsets(fd, topic, partition, ts);
    cr_assert_not_null(r);
    return r;
}

Test(broker, list_offsets_and_restart_keeps_data)
{
    create("keep", 1);
    for (int i = 0; i < 5; i++)
        produce("keep", 0, "k", 4);
    Ringlog__Response *r = list_offset("keep", 0, -1);
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->offset, 20);
    ringlog__response__free_unpacked(r, NULL);
    r = list_offset("keep", 0, -2);
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->offset, 0);
    ringlog__response__free_unpacked(r, NULL);
    /* Records of each batch have timestamps 1700000000000 + i, i < 4. */
    r = list_offset("keep", 0, 1700000000002LL);
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->offset, 2);
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->timestamp, 1700000000002LL);
    ringlog__response__free_unpacked(r, NULL);
    r = list_offset("keep", 0, 1800000000000LL);
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->offset, -1);
    ringlog__response__free_unpacked(r, NULL);

    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);
    r = list_offset("keep", 0, -1);
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->error, 0, "topic survives restart");
    cr_assert_eq(r->list_offsets->topics[0]->partitions[0]->offset, 20);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(produce("keep", 0, "more", 1), 20, "offsets continue after restart");
}

static void init_producer(int64_t *id, int32_t *epoch)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__InitProducerIdRequest ip = RINGLOG__INIT_PRODUCER_ID_REQUEST__INIT;
    ip.producer_id = -1;
    ip.producer_epoch = -1;
    req.body_case = RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID;
    req.init_producer_id = &ip;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->init_producer_id->error, 0);
    *id = r->init_producer_id->producer_id;
    *epoch = r->init_producer_id->producer_epoch;
    cr_assert_geq(*id, 1);
    ringlog__response__free_unpacked(r, NULL);
}

static Ringlog__PartitionProduceResult *produce_seq_to(Ringlog__Response **out, const char *topic,
                                                       int64_t pid, int16_t epoch, int32_t seq,
                                                       int n)
{
    uint8_t buf[8192];
    size_t len = wire_build_batch(buf, sizeof(buf), "idem", n, pid, epoch, seq);
    *out = wire_produce(fd, topic, 0, -1, buf, len);
    return produce_result(*out);
}

static Ringlog__PartitionProduceResult *produce_seq(Ringlog__Response **out, int64_t pid,
                                                    int16_t epoch, int32_t seq, int n)
{
    return produce_seq_to(out, "idem", pid, epoch, seq, n);
}

Test(broker, idempotent_retries_do_not_duplicate)
{
    create("idem", 1);
    int64_t pid;
    int32_t epoch;
    init_producer(&pid, &epoch);
    int64_t pid2, epoch2;
    int32_t e2;
    init_producer(&pid2, &e2);
    epoch2 = e2;
    cr_assert_neq(pid, pid2, "every producer gets its own id");
    (void)epoch2;
    Ringlog__Response *r;
    cr_assert_eq(produce_seq(&r, pid, (int16_t)epoch, 0, 5)->base_offset, 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(produce_seq(&r, pid, (int16_t)epoch, 5, 5)->base_offset, 5);
    ringlog__response__free_unpacked(r, NULL);
    /* A retry of the first batch: same answer, nothing appended. */
    Ringlog__PartitionProduceResult *pr = produce_seq(&r, pid, (int16_t)epoch, 0, 5);
    cr_assert_eq(pr->error, 0);
    cr_assert_eq(pr->base_offset, 0);
    ringlog__response__free_unpacked(r, NULL);
    /* A gap. */
    pr = produce_seq(&r, pid, (int16_t)epoch, 20, 1);
    cr_assert_eq(pr->error, RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_fetch(fd, "idem", 0, 0, 0, 1);
    cr_assert_eq(fetch_result(r)->log_end_offset, 10, "retries and gaps appended nothing");
    ringlog__response__free_unpacked(r, NULL);

    /* The state survives a restart (rebuilt from the log). */
    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);
    pr = produce_seq(&r, pid, (int16_t)epoch, 5, 5);
    cr_assert_eq(pr->error, 0);
    cr_assert_eq(pr->base_offset, 5, "duplicate recognised after restart");
    ringlog__response__free_unpacked(r, NULL);
    pr = produce_seq(&r, pid, (int16_t)epoch, 10, 1);
    cr_assert_eq(pr->base_offset, 10);
    ringlog__response__free_unpacked(r, NULL);
    int64_t pid3;
    int32_t e3;
    init_producer(&pid3, &e3);
    cr_assert_gt(pid3, pid2, "producer ids are never reused across restarts");
}

Test(broker, delete_and_recreate_topic)
{
    create("gone", 2);
    produce("gone", 1, "x", 3);
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__DeleteTopicsRequest dt = RINGLOG__DELETE_TOPICS_REQUEST__INIT;
    char *names[2] = {"gone", "never"};
    dt.n_names = 2;
    dt.names = names;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_TOPICS;
    req.delete_topics = &dt;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->delete_topics->topics[0]->error, 0);
    cr_assert_eq(r->delete_topics->topics[1]->error, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
    r = wire_fetch(fd, "gone", 1, 0, 0, 1);
    cr_assert_eq(fetch_result(r)->error, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC);
    ringlog__response__free_unpacked(r, NULL);
    create("gone", 2);
    cr_assert_eq(produce("gone", 1, "y", 1), 0, "a re-created topic starts empty");
}

Test(broker, committed_offsets_survive_restart)
{
    create("grp", 2);
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
    Ringlog__OffsetCommitTopic ot = RINGLOG__OFFSET_COMMIT_TOPIC__INIT;
    Ringlog__OffsetCommitPartition op = RINGLOG__OFFSET_COMMIT_PARTITION__INIT;
    Ringlog__OffsetCommitPartition *ops[1] = {&op};
    Ringlog__OffsetCommitTopic *ots[1] = {&ot};
    op.partition = 1;
    op.offset = 42;
    op.metadata = "meta data";
    ot.topic = "grp";
    ot.n_partitions = 1;
    ot.partitions = ops;
    oc.group = "g1";
    oc.n_topics = 1;
    oc.topics = ots;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_COMMIT;
    req.offset_commit = &oc;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->offset_commit->topics[0]->partitions[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);

    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);

    Ringlog__Request freq = RINGLOG__REQUEST__INIT;
    Ringlog__OffsetFetchRequest of = RINGLOG__OFFSET_FETCH_REQUEST__INIT;
    Ringlog__OffsetFetchTopic oft = RINGLOG__OFFSET_FETCH_TOPIC__INIT;
    uint32_t parts[2] = {0, 1};
    Ringlog__OffsetFetchTopic *ofts[1] = {&oft};
    oft.topic = "grp";
    oft.n_partitions = 2;
    oft.partitions = parts;
    of.group = "g1";
    of.n_topics = 1;
    of.topics = ofts;
    freq.body_case = RINGLOG__REQUEST__BODY_OFFSET_FETCH;
    freq.offset_fetch = &of;
    /* A coordinator reading its groups back after the restart says so: asked again. */
    for (int i = 0; i < 200; i++, usleep(25 * 1000)) {
        r = wire_call(fd, &freq);
        cr_assert_not_null(r);
        if (r->error != RINGLOG__ERROR_CODE__COORDINATOR_LOAD_IN_PROGRESS)
            break;
        ringlog__response__free_unpacked(r, NULL);
        freq.correlation_id++;
    }
    cr_assert_eq(r->error, 0, "%s", r->error_message);
    cr_assert_eq(r->offset_fetch->topics[0]->partitions[0]->offset, -1);
    cr_assert_eq(r->offset_fetch->topics[0]->partitions[1]->offset, 42);
    cr_assert_str_eq(r->offset_fetch->topics[0]->partitions[1]->metadata, "meta data");
    ringlog__response__free_unpacked(r, NULL);
}

/* Restarts the broker on its data dir after a SIGKILL. */
static void restart_after_crash(void)
{
    close(fd);
    broker_kill(&broker);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);
}

Test(broker, producer_state_after_clean_restart_and_after_crash)
{
    create("idem", 1);
    int64_t pid;
    int32_t epoch;
    init_producer(&pid, &epoch);
    Ringlog__Response *r;
    cr_assert_eq(produce_seq(&r, pid, (int16_t)epoch, 0, 3)->base_offset, 0);
    ringlog__response__free_unpacked(r, NULL);

    /* Clean: the state is saved at shutdown, loaded at start, then removed. */
    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    char snapshot[600];
    snprintf(snapshot, sizeof(snapshot), "%s/topics/idem/0/producers", broker.data_dir);
    cr_assert_eq(access(snapshot, F_OK), 0, "a clean shutdown saves the producer state");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);
    cr_assert_neq(access(snapshot, F_OK), 0, "the snapshot is used once and removed");
    Ringlog__PartitionProduceResult *pr = produce_seq(&r, pid, (int16_t)epoch, 0, 3);
    cr_assert_eq(pr->error, 0);
    cr_assert_eq(pr->base_offset, 0, "duplicate recognised after a clean restart");
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(produce_seq(&r, pid, (int16_t)epoch, 3, 2)->base_offset, 3);
    ringlog__response__free_unpacked(r, NULL);

    /* Crash: the state is rebuilt from the log's tail. */
    restart_after_crash();
    pr = produce_seq(&r, pid, (int16_t)epoch, 3, 2);
    cr_assert_eq(pr->error, 0);
    cr_assert_eq(pr->base_offset, 3, "duplicate recognised after a crash");
    ringlog__response__free_unpacked(r, NULL);
    pr = produce_seq(&r, pid, (int16_t)epoch, 9, 1);
    cr_assert_eq(pr->error, RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE, "gaps still refused");
    ringlog__response__free_unpacked(r, NULL);

    /* A partition directory holds only the engine's files: deleting it leaves nothing. */
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__DeleteTopicsRequest dt = RINGLOG__DELETE_TOPICS_REQUEST__INIT;
    char *names[1] = {"idem"};
    dt.n_names = 1;
    dt.names = names;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_TOPICS;
    req.delete_topics = &dt;
    r = wire_call(fd, &req);
    cr_assert_eq(r->delete_topics->topics[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    snprintf(snapshot, sizeof(snapshot), "%s/topics/idem/0", broker.data_dir);
    cr_assert_neq(access(snapshot, F_OK), 0, "the partition directory is gone");
}

/*
 * The producer snapshot is written without an fsync at shutdown, so a crash
 * soon after may leave it cut short at a line boundary. Such a file must be
 * refused (the log's tail read instead), not loaded as if whole: here the
 * cut loses producer B's line, and loading it would take B's retry as a new
 * batch and append it twice.
 */
Test(broker, producer_snapshot_cut_short_is_refused)
{
    create("cut", 1);
    int64_t a, b;
    int32_t ea, eb;
    init_producer(&a, &ea);
    init_producer(&b, &eb);
    Ringlog__Response *r;
    cr_assert_eq(produce_seq_to(&r, "cut", a, (int16_t)ea, 0, 3)->base_offset, 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(produce_seq_to(&r, "cut", b, (int16_t)eb, 0, 2)->base_offset, 3);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);

    /* Keep only the header and the first batch line: a cut at a line end. */
    char snapshot[600], text[4096];
    snprintf(snapshot, sizeof(snapshot), "%s/topics/cut/0/producers", broker.data_dir);
    FILE *f = fopen(snapshot, "r");
    cr_assert_not_null(f, "a clean shutdown saves the producer state");
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = 0;
    char *second = strchr(strchr(text, '\n') + 1, '\n');
    cr_assert_not_null(second);
    f = fopen(snapshot, "w");
    fwrite(text, 1, (size_t)(second + 1 - text), f);
    fclose(f);

    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);
    for (int i = 0; i < 2; i++) {
        int64_t pid = i == 0 ? a : b;
        int32_t epoch = i == 0 ? ea : eb;
        Ringlog__PartitionProduceResult *pr =
            produce_seq_to(&r, "cut", pid, (int16_t)epoch, 0, i == 0 ? 3 : 2);
        cr_assert_eq(pr->error, 0);
        cr_assert_eq(pr->base_offset, i == 0 ? 0 : 3, "producer %d's retry is a duplicate", i);
        ringlog__response__free_unpacked(r, NULL);
    }
}
