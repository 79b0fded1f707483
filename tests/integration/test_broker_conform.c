/*
 * Wire protocol conformance (issue 14, items 15-18): what docs/PROTOCOL.md
 * promises an outside client author, checked against a real ringlogd.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
    const char *args[] = {"--shards", "2", NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
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

TestSuite(conform, .init = start, .fini = stop, .timeout = 60);

static void create(const char *name, uint32_t partitions)
{
    Ringlog__Response *r = wire_create_topic(fd, name, partitions);
    cr_assert_not_null(r);
    cr_assert_eq(r->create_topics->topics[0]->error, 0, "create %s: %s", name,
                 r->create_topics->topics[0]->error_message);
    ringlog__response__free_unpacked(r, NULL);
}

/* Produces one batch of 20 records; returns its size in bytes. */
static size_t produce_batch(const char *topic, uint32_t partition, int64_t pid, int16_t epoch,
                            int32_t seq, Ringlog__PartitionProduceResult *out)
{
    uint8_t buf[8192];
    size_t len = wire_build_batch(buf, sizeof(buf), "record", 20, pid, epoch, seq);
    Ringlog__Response *r = wire_produce(fd, topic, partition, 1, buf, len);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0, "%s", r->error_message);
    Ringlog__PartitionProduceResult *pr = r->produce->topics[0]->partitions[0];
    if (out) {
        out->error = pr->error;
        out->base_offset = pr->base_offset;
        out->error_message = strdup(pr->error_message);
    } else {
        cr_assert_eq(pr->error, 0, "produce: %s", pr->error_message);
    }
    ringlog__response__free_unpacked(r, NULL);
    return len;
}

/* ------------------------------------------------------------------ fetch limits */

/* Fetches partitions 0 and 1 of `topic`; returns the records length of each. */
static void fetch_two(const char *topic, const int64_t offset[2], uint32_t part_max,
                      uint32_t total_max, size_t got[2])
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__FetchRequest fr = RINGLOG__FETCH_REQUEST__INIT;
    Ringlog__FetchTopic ft = RINGLOG__FETCH_TOPIC__INIT;
    Ringlog__FetchPartition fp[2] = {RINGLOG__FETCH_PARTITION__INIT,
                                     RINGLOG__FETCH_PARTITION__INIT};
    Ringlog__FetchPartition *fps[2] = {&fp[0], &fp[1]};
    Ringlog__FetchTopic *fts[1] = {&ft};
    for (uint32_t p = 0; p < 2; p++) {
        fp[p].partition = p;
        fp[p].fetch_offset = offset[p];
        fp[p].max_bytes = part_max;
    }
    ft.topic = (char *)topic;
    ft.n_partitions = 2;
    ft.partitions = fps;
    fr.max_bytes = total_max;
    fr.n_topics = 1;
    fr.topics = fts;
    req.body_case = RINGLOG__REQUEST__BODY_FETCH;
    req.fetch = &fr;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0, "%s", r->error_message);
    for (uint32_t p = 0; p < 2; p++) {
        Ringlog__FetchPartitionResult *res = r->fetch->topics[0]->partitions[p];
        cr_assert_eq(res->error, 0, "%s", res->error_message);
        got[p] = res->records.len;
    }
    ringlog__response__free_unpacked(r, NULL);
}

Test(conform, fetch_max_bytes_per_partition_and_in_total)
{
    create("limits", 2);
    size_t batch = 0;
    for (int i = 0; i < 6; i++)
        for (uint32_t p = 0; p < 2; p++)
            batch = produce_batch("limits", p, -1, -1, -1, NULL);
    cr_assert_gt(batch, 100);
    const int64_t from_start[2] = {0, 0};
    size_t got[2];

    /* Per partition: whole batches within the limit. */
    fetch_two("limits", from_start, (uint32_t)(batch * 5 / 2), 1 << 20, got);
    cr_expect_eq(got[0], 2 * batch, "2.5 batches' worth gives 2 batches, got %zu", got[0]);
    cr_expect_eq(got[1], 2 * batch);

    /* Below one batch: the first partition with data still gets one whole batch, the
     * next one nothing (its first batch does not fit its limit). */
    fetch_two("limits", from_start, 1, 1 << 20, got);
    cr_expect_eq(got[0], batch, "max_bytes=1 returns exactly one batch, got %zu", got[0]);
    cr_expect_eq(got[1], 0);

    /* In total: the request's limit spans partitions, in request order. */
    fetch_two("limits", from_start, 1 << 20, (uint32_t)(batch * 7 / 2), got);
    cr_expect_eq(got[0], 3 * batch, "got %zu", got[0]);
    cr_expect_eq(got[1], 0, "nothing left for the second partition, got %zu", got[1]);
    fetch_two("limits", from_start, 1 << 20, (uint32_t)(batch * 8), got);
    cr_expect_eq(got[0], 6 * batch);
    cr_expect_eq(got[1], 2 * batch);
    fetch_two("limits", from_start, 1 << 20, 1, got);
    cr_expect_eq(got[0], batch);
    cr_expect_eq(got[1], 0);

    /* The first partition has nothing new: the second is the first with data. */
    const int64_t first_at_end[2] = {6 * 20, 0};
    fetch_two("limits", first_at_end, 1, 1, got);
    cr_expect_eq(got[0], 0);
    cr_expect_eq(got[1], batch, "progress on the first partition with data, got %zu", got[1]);
}

/* ------------------------------------------------------------- producer fencing */

/* InitProducerId; returns the error and sets *epoch (and *id for a new one). */
static int init_pid(int64_t *id, int32_t *epoch, int32_t from_epoch)
{
    Ringlog__Response *r = wire_init_producer_id(fd, *id, from_epoch);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0, "%s", r->error_message);
    Ringlog__InitProducerIdResponse *ip = r->init_producer_id;
    int error = ip->error;
    if (error == 0) {
        *id = ip->producer_id;
        *epoch = ip->producer_epoch;
    } else {
        cr_assert_neq(strlen(ip->error_message), 0, "error %d comes with a message", error);
        cr_assert_eq(ip->producer_id, -1);
    }
    ringlog__response__free_unpacked(r, NULL);
    return error;
}

/* Produces an idempotent batch; returns its error (the message must be there). */
static int produce_idem(uint32_t partition, int64_t pid, int32_t epoch, int32_t seq)
{
    Ringlog__PartitionProduceResult pr;
    produce_batch("fence", partition, pid, (int16_t)epoch, seq, &pr);
    if (pr.error)
        cr_assert_neq(strlen(pr.error_message), 0, "error %d comes with a message", pr.error);
    free(pr.error_message);
    return pr.error;
}

/* Restarts the broker on its data (fd < 0: it is stopped already). */
static void restart(bool crash)
{
    if (fd >= 0) {
        close(fd);
        if (crash)
            broker_kill(&broker);
        else
            cr_assert_eq(broker_stop(&broker), 0);
    }
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    const char *args[] = {"--shards", "2", NULL};
    cr_assert_eq(broker_start(&broker, dir, args), 0);
    fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
}

Test(conform, producer_ids_are_fenced_as_kafka_does)
{
    enum {
        UNKNOWN_ID = RINGLOG__ERROR_CODE__UNKNOWN_PRODUCER_ID,
        BAD_EPOCH = RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH
    };
    create("fence", 2);
    cr_assert_eq(produce_idem(0, 987654321, 0, 0), UNKNOWN_ID, "a never-issued id is refused");
    int64_t never = 987654321;
    int32_t epoch = 0;
    cr_assert_eq(init_pid(&never, &epoch, 0), UNKNOWN_ID, "only issued ids are bumped");

    int64_t id = -1;
    cr_assert_eq(init_pid(&id, &epoch, -1), 0);
    cr_assert_eq(epoch, 0);
    cr_assert_eq(produce_idem(0, id, 1, 0), BAD_EPOCH, "an epoch above the issued one");
    cr_assert_eq(produce_idem(0, id, 0, 0), 0);
    int32_t ahead = 0;
    int64_t same = id;
    cr_assert_eq(init_pid(&same, &ahead, 5), BAD_EPOCH, "a bump from an epoch never issued");

    /* A second instance bumps the epoch: the first is fenced everywhere. */
    int32_t bumped = 0;
    cr_assert_eq(init_pid(&same, &bumped, 0), 0);
    cr_assert_eq(same, id);
    cr_assert_eq(bumped, 1);
    int32_t stale = 0;
    cr_assert_eq(init_pid(&same, &stale, 0), BAD_EPOCH, "a stale epoch cannot bump again");
    cr_assert_eq(produce_idem(0, id, 0, 20), BAD_EPOCH, "the zombie is fenced where it wrote");
    cr_assert_eq(produce_idem(1, id, 0, 0), BAD_EPOCH, "and where it never wrote");
    cr_assert_eq(produce_idem(0, id, 1, 0), 0, "the new epoch starts at sequence 0");

    /* Durable: after a clean stop and after a crash. */
    restart(false);
    cr_assert_eq(init_pid(&same, &stale, 0), BAD_EPOCH, "fencing survives a restart");
    cr_assert_eq(produce_idem(0, id, 1, 20), 0, "the current epoch goes on");
    restart(true);
    cr_assert_eq(produce_idem(1, id, 0, 0), BAD_EPOCH, "fencing survives a crash");
    cr_assert_eq(init_pid(&same, &bumped, 1), 0);
    cr_assert_eq(bumped, 2);
    int64_t fresh = -1;
    int32_t e0;
    cr_assert_eq(init_pid(&fresh, &e0, -1), 0);
    cr_assert_gt(fresh, id, "ids are never reused");

    /* Even with the allocator's file lost, no id the registry knows is issued again. */
    close(fd);
    fd = -1;
    cr_assert_eq(broker_stop(&broker), 0);
    char path[600];
    snprintf(path, sizeof(path), "%s/meta/producer_ids", broker.data_dir);
    cr_assert_eq(unlink(path), 0);
    restart(false);
    int64_t after = -1;
    cr_assert_eq(init_pid(&after, &e0, -1), 0);
    cr_assert_gt(after, fresh, "issued ids stay unique: %lld after %lld", (long long)after,
                 (long long)fresh);
}

/* ------------------------------------------------------------------------ acks=0 */

static void send_metadata(int conn)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    cr_assert_eq(wire_send(conn, &req), 0);
}

/* Sends an acks=0 produce of one batch at api_version `version`. */
static void send_acks0(int conn, const char *topic, uint32_t version)
{
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "fire-and-forget", 3, -1, -1, -1);
    wire_send_produce_as(conn, topic, 0, 0, version, buf, len);
}

/* The answer to an earlier metadata request, then the connection closes with no other. */
static void expect_answer_then_close(int conn, const char *why)
{
    Ringlog__Response *r = wire_recv(conn, 5000);
    cr_assert_not_null(r, "%s: the request before it is answered", why);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_METADATA, "%s", why);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(wire_peer_closed(conn, 5000), 1, "%s: no answer, the connection closes", why);
}

Test(conform, acks0_gets_no_answer_and_a_failure_closes_the_connection)
{
    create("quiet", 1);
    /* Success: no answer, and the connection goes on. */
    send_acks0(fd, "quiet", 1);
    send_metadata(fd);
    Ringlog__Response *r = wire_recv(fd, 5000);
    cr_assert_not_null(r);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_METADATA, "the next answer is the next's");
    ringlog__response__free_unpacked(r, NULL);

    /* An unsupported api_version is a failure like any other: still no answer. */
    int c1 = wire_connect(broker.port);
    send_metadata(c1);
    send_acks0(c1, "quiet", 99);
    expect_answer_then_close(c1, "api_version 99");
    close(c1);
    int c2 = wire_connect(broker.port);
    send_metadata(c2);
    send_acks0(c2, "no-such-topic", 1);
    expect_answer_then_close(c2, "unknown topic");
    close(c2);

    r = wire_fetch(fd, "quiet", 0, 0, 0, 1);
    cr_assert_not_null(r);
    cr_assert_eq(r->fetch->topics[0]->partitions[0]->log_end_offset, 3,
                 "only the successful acks=0 batch was appended");
    ringlog__response__free_unpacked(r, NULL);
}

/* -------------------------------------------------------- errors and their messages */

static Ringlog__Response *commit_offset(const char *group, const char *topic, uint32_t partition,
                                        int64_t offset)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
    Ringlog__OffsetCommitTopic ot = RINGLOG__OFFSET_COMMIT_TOPIC__INIT;
    Ringlog__OffsetCommitPartition op = RINGLOG__OFFSET_COMMIT_PARTITION__INIT;
    Ringlog__OffsetCommitPartition *ops[1] = {&op};
    Ringlog__OffsetCommitTopic *ots[1] = {&ot};
    op.partition = partition;
    op.offset = offset;
    ot.topic = (char *)topic;
    ot.n_partitions = 1;
    ot.partitions = ops;
    oc.group = (char *)group;
    oc.n_topics = 1;
    oc.topics = ots;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_COMMIT;
    req.offset_commit = &oc;
    return wire_call(fd, &req);
}

/* OffsetFetch of one partition; *offset gets its answer. */
static Ringlog__Response *fetch_offset(const char *group, const char *topic, uint32_t partition,
                                       int64_t *offset)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__OffsetFetchRequest of = RINGLOG__OFFSET_FETCH_REQUEST__INIT;
    Ringlog__OffsetFetchTopic oft = RINGLOG__OFFSET_FETCH_TOPIC__INIT;
    Ringlog__OffsetFetchTopic *ofts[1] = {&oft};
    oft.topic = (char *)topic;
    oft.n_partitions = 1;
    oft.partitions = &partition;
    of.group = (char *)group;
    of.n_topics = 1;
    of.topics = ofts;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_FETCH;
    req.offset_fetch = &of;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    *offset = r->error ? -1 : r->offset_fetch->topics[0]->partitions[0]->offset;
    return r;
}

static Ringlog__Response *metadata_of(const char *topic, uint32_t version)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    char *names[1] = {(char *)topic};
    md.n_topics = 1;
    md.topics = names;
    req.api_version = version;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    return wire_call(fd, &req);
}

/* Checks a response's first error and frees it (wire_recv checked every message). */
static void expect_error(Ringlog__Response *r, int code, const char *what)
{
    cr_assert_not_null(r, "%s: answered", what);
    cr_expect_eq(wire_first_error(r), code, "%s: error %d, expected %d", what, wire_first_error(r),
                 code);
    ringlog__response__free_unpacked(r, NULL);
}

/* A retried batch sent right behind its original, in one segment (TCP_CORK): the
 * original's append is then still in flight when the retry is judged. */
static void produce_twice_at_once(const uint8_t *batch, size_t len, int *errors)
{
    int conn = wire_connect(broker.port);
    int on = 1, off = 0;
    cr_assert_eq(setsockopt(conn, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)), 0);
    for (int i = 0; i < 2; i++)
        wire_send_produce_as(conn, "errors", 0, 1, 0, batch, len);
    cr_assert_eq(setsockopt(conn, IPPROTO_TCP, TCP_CORK, &off, sizeof(off)), 0);
    for (int i = 0; i < 2; i++) {
        Ringlog__Response *r = wire_recv(conn, 5000);
        cr_assert_not_null(r);
        errors[i] = wire_first_error(r);
        ringlog__response__free_unpacked(r, NULL);
    }
    close(conn);
}

Test(conform, every_error_comes_with_a_message)
{
    enum {
        E_TOPIC = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC,
        E_PART = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION,
        E_INVALID = RINGLOG__ERROR_CODE__INVALID_REQUEST,
    };
    create("errors", 1);
    uint8_t batch[4096];
    size_t len = wire_build_batch(batch, sizeof(batch), "e", 2, -1, -1, -1);
    uint8_t junk[100] = {0};
    junk[8] = 88; /* a plausible length, but no valid header */

    expect_error(metadata_of("errors", 99), RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION, "version");
    expect_error(metadata_of("missing", 1), E_TOPIC, "metadata");
    expect_error(wire_produce(fd, "missing", 0, 1, batch, len), E_TOPIC, "produce");
    expect_error(wire_produce(fd, "errors", 3, 1, batch, len), E_PART, "produce");
    expect_error(wire_produce(fd, "errors", 0, 1, junk, sizeof(junk)),
                 RINGLOG__ERROR_CODE__CORRUPT_BATCH, "corrupt");
    expect_error(wire_produce(fd, "errors", 0, 1, junk, 0), E_INVALID, "no batch");
    expect_error(wire_produce(fd, "errors", 0, 7, batch, len), E_INVALID, "acks 7");
    expect_error(wire_fetch(fd, "missing", 0, 0, 0, 0), E_TOPIC, "fetch");
    expect_error(wire_fetch(fd, "errors", 3, 0, 0, 0), E_PART, "fetch");
    expect_error(wire_fetch(fd, "errors", 0, 1000, 0, 0), RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE,
                 "fetch offset");
    expect_error(wire_list_offsets(fd, "missing", 0, -1), E_TOPIC, "list offsets");
    expect_error(wire_list_offsets(fd, "errors", 3, -1), E_PART, "list offsets");
    expect_error(wire_list_offsets(fd, "errors", 0, -3), E_INVALID, "timestamp -3");
    expect_error(wire_create_topic(fd, "errors", 1), RINGLOG__ERROR_CODE__TOPIC_EXISTS, "exists");
    expect_error(wire_create_topic(fd, "bad name!", 1), RINGLOG__ERROR_CODE__INVALID_TOPIC, "name");
    expect_error(wire_create_topic(fd, "many", 10001), RINGLOG__ERROR_CODE__INVALID_PARTITIONS,
                 "partitions");
    expect_error(wire_create_topic_with(fd, "rf", 1, 3, 0),
                 RINGLOG__ERROR_CODE__INVALID_REPLICATION_FACTOR, "rf");
    expect_error(wire_create_topic_with(fd, "seg", 1, 1, 1023), RINGLOG__ERROR_CODE__INVALID_CONFIG,
                 "segment");
    /* Below the storage engine's 4096 it is a config error, not a STORAGE_ERROR at open. */
    expect_error(wire_create_topic_with(fd, "seg", 1, 1, 4095), RINGLOG__ERROR_CODE__INVALID_CONFIG,
                 "segment 4095");
    expect_error(wire_delete_topic(fd, "missing"), E_TOPIC, "delete");
    expect_error(commit_offset("g", "missing", 0, 1), E_TOPIC, "commit");
    expect_error(commit_offset("g", "errors", 3, 1), E_PART, "commit");
    expect_error(commit_offset("g", "errors", 0, -5), E_INVALID, "commit -5");
    expect_error(commit_offset(".g", "errors", 0, 1), E_INVALID, "commit group name");
    int64_t id = 5;
    int32_t epoch = 0;
    expect_error(wire_init_producer_id(fd, id, -1), E_INVALID, "bump without an epoch");
    cr_assert_eq(init_pid(&id, &epoch, 0), RINGLOG__ERROR_CODE__UNKNOWN_PRODUCER_ID);
    id = -1;
    cr_assert_eq(init_pid(&id, &epoch, -1), 0);
    size_t idem = wire_build_batch(batch, sizeof(batch), "i", 2, id, (int16_t)epoch, 0);
    int errors[2];
    produce_twice_at_once(batch, idem, errors);
    cr_expect_eq(errors[0], 0);
    cr_expect(errors[1] == 0 || errors[1] == RINGLOG__ERROR_CODE__DUPLICATE_SEQUENCE,
              "a retry is answered as the original or as in flight: %d", errors[1]);
    idem = wire_build_batch(batch, sizeof(batch), "i", 2, id, (int16_t)epoch, 7);
    expect_error(wire_produce(fd, "errors", 0, 1, batch, idem),
                 RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE, "gap");
}

Test(conform, offset_fetch_and_commit_agree_on_unknown_names)
{
    create("known", 1);
    int64_t offset;
    /* Unknown topic or partition: the same error from both. */
    expect_error(commit_offset("g", "unknown", 0, 1), RINGLOG__ERROR_CODE__UNKNOWN_TOPIC, "commit");
    expect_error(fetch_offset("g", "unknown", 0, &offset), RINGLOG__ERROR_CODE__UNKNOWN_TOPIC,
                 "fetch");
    cr_assert_eq(offset, -1);
    expect_error(commit_offset("g", "known", 1, 1), RINGLOG__ERROR_CODE__UNKNOWN_PARTITION,
                 "commit");
    expect_error(fetch_offset("g", "known", 1, &offset), RINGLOG__ERROR_CODE__UNKNOWN_PARTITION,
                 "fetch");
    /* A malformed group name: the same refusal from both. */
    expect_error(commit_offset("", "known", 0, 1), RINGLOG__ERROR_CODE__INVALID_REQUEST, "commit");
    expect_error(fetch_offset("", "known", 0, &offset), RINGLOG__ERROR_CODE__INVALID_REQUEST,
                 "fetch");
    /* A group that never committed is no error: nothing committed yet, -1. */
    expect_error(fetch_offset("fresh", "known", 0, &offset), 0, "fetch");
    cr_assert_eq(offset, -1);
    expect_error(commit_offset("fresh", "known", 0, 4), 0, "commit");
    expect_error(fetch_offset("fresh", "known", 0, &offset), 0, "fetch");
    cr_assert_eq(offset, 4);
}
