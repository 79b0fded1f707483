/* Producer against the in-memory fake broker: batching, partitioners, compression, retries,
 * idempotence. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_broker.h"
#include "partitioner.h"
#include "ringlog.h"

struct reports {
    pthread_mutex_t mu;
    int ok, failed, last_err;
    int64_t last_offset[16]; /* per partition: offsets must grow by one */
    int out_of_order;
    int count_per_partition[16];
};

static void on_delivery(const ringlog_delivery *d, void *opaque)
{
    struct reports *r = opaque;
    pthread_mutex_lock(&r->mu);
    if (d->err) {
        r->failed++;
        r->last_err = d->err;
    } else {
        r->ok++;
        if (d->offset >= 0 && d->partition < 16) {
            if (d->offset != r->last_offset[d->partition] + 1)
                r->out_of_order++;
            r->last_offset[d->partition] = d->offset;
            r->count_per_partition[d->partition]++;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* Batch reports: every record once, offsets consecutive within and across batches. */
struct batch_reports {
    struct reports r;
    int batches;
    int bad;                 /* malformed reports (counted here, asserted on the test thread) */
    int64_t next_opaque[16]; /* per partition: the opaque the next record must carry */
};

static void on_delivery_batch(const ringlog_delivery_batch *db, void *opaque)
{
    struct batch_reports *br = opaque;
    pthread_mutex_lock(&br->r.mu);
    br->batches++;
    if (db->count < 1 || !db->records || strcmp(db->topic, "b") != 0 || db->partition != 0)
        br->bad++;
    for (size_t i = 0; i < db->count; i++) {
        int64_t o = (int64_t)(intptr_t)db->records[i].opaque;
        if (db->records[i].timestamp <= 0)
            br->bad++;
        if (o != br->next_opaque[0])
            br->r.out_of_order++;
        br->next_opaque[0] = o + 1;
        if (db->err) {
            br->r.failed++;
            br->r.last_err = db->err;
            if (db->base_offset != -1 || !db->errstr[0])
                br->bad++;
            continue;
        }
        br->r.ok++;
        int64_t off = db->base_offset + (int64_t)i;
        if (off != br->r.last_offset[0] + 1)
            br->r.out_of_order++;
        br->r.last_offset[0] = off;
    }
    pthread_mutex_unlock(&br->r.mu);
}

static void reports_init(struct reports *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    for (int i = 0; i < 16; i++)
        r->last_offset[i] = -1;
}

static ringlog_conf *conf_for(struct fake_broker *fb, struct reports *r)
{
    ringlog_conf *c = ringlog_conf_new();
    char err[256];
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", fake_broker_address(fb), err, sizeof(err)), 0,
                 "%s", err);
    ringlog_conf_set_delivery_cb(c, on_delivery, r);
    return c;
}

static ringlog_producer *producer_for(ringlog_conf *c)
{
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    return p;
}

static void produce_n(ringlog_producer *p, const char *topic, int n, bool keyed)
{
    for (int i = 0; i < n; i++) {
        char key[32], val[64];
        snprintf(key, sizeof(key), "key-%d", i % 37);
        snprintf(val, sizeof(val), "value-%d", i);
        ringlog_record rec = {.topic = topic,
                              .partition = RINGLOG_PARTITION_ANY,
                              .key = keyed ? key : NULL,
                              .key_len = strlen(key),
                              .value = val,
                              .value_len = strlen(val)};
        int rc = ringlog_produce(p, &rec);
        cr_assert_eq(rc, RINGLOG_OK, "produce %d: %s", i, ringlog_err_name(rc));
    }
}

Test(producer, keyed_records_reach_their_partitions_in_order)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "t", 3);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "t", 5000, true);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_outstanding(p), 0);
    cr_assert_eq(r.ok, 5000);
    cr_assert_eq(r.failed, 0);
    cr_assert_eq(r.out_of_order, 0);
    int expect[3] = {0};
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", i % 37);
        expect[rl_partition_for_key(key, strlen(key), 3)]++;
    }
    for (int part = 0; part < 3; part++) {
        cr_assert_eq(fake_broker_record_count(fb, "t", (uint32_t)part), expect[part]);
        cr_assert_eq(r.count_per_partition[part], expect[part]);
    }
    /* Batching: far fewer requests than records. */
    cr_assert_lt(fake_broker_produce_requests(fb), 500);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, null_keys_stick_then_spread)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "s", 4);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "4096", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "s", 4000, false);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(r.ok, 4000);
    int used = 0;
    for (int i = 0; i < 4; i++)
        used += fake_broker_record_count(fb, "s", (uint32_t)i) > 0;
    cr_assert_geq(used, 2, "sticky partition must move when a batch fills");
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

static void compression_round(const char *codec, int expect_codec)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "z", 1);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "compression", codec, NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "z", 2000, false);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(r.ok, 2000);
    cr_assert_eq(fake_broker_first_codec(fb, "z", 0), expect_codec);
    cr_assert_eq(fake_broker_record_count(fb, "z", 0), 2000);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, lz4_batches)
{
    compression_round("lz4", 1);
}

Test(producer, zstd_batches)
{
    compression_round("zstd", 2);
}

/* Issue 20 item 7: partitioner=murmur2 puts keys where Kafka does (partitions from Kafka's
 * algorithm). */
Test(producer, murmur2_partitioner_places_keys_as_kafka_does)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "m", 12);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    char err[256];
    cr_assert_eq(ringlog_conf_set(c, "partitioner", "murmur2", err, sizeof(err)), 0, "%s", err);
    ringlog_producer *p = producer_for(c);
    static const struct {
        const char *key;
        int32_t partition; /* toPositive(murmur2(key)) % 12, from Kafka's algorithm */
        int copies;
    } keys[] = {{"user-1", 8, 3}, {"order-42", 0, 5}, {"kafka", 4, 7}};
    bool xxh64_differs = false;
    for (size_t k = 0; k < 3; k++) {
        xxh64_differs |=
            rl_partition_for_key(keys[k].key, strlen(keys[k].key), 12) != keys[k].partition;
        for (int i = 0; i < keys[k].copies; i++) {
            ringlog_record rec = {.topic = "m",
                                  .partition = RINGLOG_PARTITION_ANY,
                                  .key = keys[k].key,
                                  .key_len = strlen(keys[k].key),
                                  .value = "v",
                                  .value_len = 1};
            cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK);
        }
    }
    cr_assert(xxh64_differs, "the default partitioner would place these keys differently");
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(r.ok, 15);
    for (size_t k = 0; k < 3; k++)
        cr_assert_eq(fake_broker_record_count(fb, "m", (uint32_t)keys[k].partition),
                     (int64_t)keys[k].copies, "%s", keys[k].key);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

struct to_last {
    pthread_mutex_t mu;
    int calls;
};

/* A custom partitioner: every keyed record to the last partition. */
static int32_t last_partition(const char *topic, const void *key, size_t key_len, int32_t count,
                              void *opaque)
{
    struct to_last *t = opaque;
    pthread_mutex_lock(&t->mu);
    t->calls += strcmp(topic, "c") == 0 && key && key_len > 0;
    pthread_mutex_unlock(&t->mu);
    return count - 1;
}

Test(producer, custom_partitioner_callback_places_keyed_records)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "c", 3);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    struct to_last t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ringlog_conf_set_partitioner_cb(c, last_partition, &t);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "c", 200, true);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(t.calls, 200, "once per keyed record");
    cr_assert_eq(fake_broker_record_count(fb, "c", 2), 200);
    /* An explicit partition and a null key do not ask the callback. */
    ringlog_record rec = {.topic = "c", .partition = 0, .key = "k", .key_len = 1};
    cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK);
    produce_n(p, "c", 10, false);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(t.calls, 200);
    cr_assert_eq(r.ok, 211);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, unknown_topic_and_partition)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "one", 1);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    ringlog_producer *p = producer_for(c);
    ringlog_record rec = {.topic = "nope", .partition = -1, .value = "x", .value_len = 1};
    cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_ERR_UNKNOWN_TOPIC);
    rec.topic = "one";
    rec.partition = 5;
    cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_ERR_UNKNOWN_PARTITION);
    rec.partition = 0;
    cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_flush(p, 5000), RINGLOG_OK);
    cr_assert_eq(r.ok, 1);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, lost_answers_are_retried_without_duplicates)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "idem", 2);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "retry-backoff-ms", "10", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "2048", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "idem", 10, true); /* metadata and producer id first */
    cr_assert_eq(ringlog_producer_flush(p, 5000), RINGLOG_OK);
    fake_broker_drop_produce_responses(fb, 3);
    fake_broker_fail_produce_not_leader(fb, 2);
    produce_n(p, "idem", 3000, true);
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    cr_assert_eq(r.ok, 3010);
    cr_assert_eq(r.failed, 0);
    cr_assert_eq(r.out_of_order, 0);
    int64_t total =
        fake_broker_record_count(fb, "idem", 0) + fake_broker_record_count(fb, "idem", 1);
    cr_assert_eq(total, 3010, "exactly once: %lld records stored", (long long)total);
    cr_assert_gt(fake_broker_duplicates(fb), 0, "the retries must have hit the dedup");
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, queue_full_when_not_blocking)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "q", 1);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "buffer-bytes", "4096", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "100000", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    char val[512] = {0};
    ringlog_record rec = {.topic = "q", .partition = 0, .value = val, .value_len = sizeof(val)};
    int rc = RINGLOG_OK, n = 0;
    while (n < 100 && (rc = ringlog_produce(p, &rec)) == RINGLOG_OK)
        n++;
    cr_assert_eq(rc, RINGLOG_ERR_QUEUE_FULL);
    cr_assert_gt(n, 3);
    char big[8192];
    rec.value = big;
    rec.value_len = sizeof(big);
    cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_ERR_MSG_TOO_LARGE);
    cr_assert_eq(ringlog_producer_flush(p, 5000), RINGLOG_OK);
    cr_assert_eq(r.ok, n);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, delivery_timeout_when_broker_is_gone)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "gone", 1);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "delivery-timeout-ms", "700", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "300", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "gone", 1, false);
    cr_assert_eq(ringlog_producer_flush(p, 5000), RINGLOG_OK);
    produce_n(p, "gone", 5, false);
    fake_broker_stop(fb);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(r.ok, 1);
    cr_assert_eq(r.failed, 5);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
}

Test(producer, destroy_reports_undelivered_as_closed)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "d", 1);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "100000", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_n(p, "d", 10, false);
    ringlog_producer_destroy(p);
    cr_assert_eq(r.failed + r.ok, 10);
    cr_assert_eq(r.last_err, RINGLOG_ERR_CLOSED);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/* Produces n records with opaque = 0..n-1 to partition 0 of "b". */
static void produce_numbered(ringlog_producer *p, int n)
{
    for (int i = 0; i < n; i++) {
        char val[32];
        snprintf(val, sizeof(val), "v%d", i);
        ringlog_record rec = {.topic = "b",
                              .partition = 0,
                              .value = val,
                              .value_len = strlen(val),
                              .opaque = (void *)(intptr_t)i};
        cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK);
    }
}

/* A fake broker with topic "b" (1 partition) and a conf reporting batches to br. */
static ringlog_conf *batch_conf(struct fake_broker **fb, struct batch_reports *br)
{
    *fb = fake_broker_start();
    fake_broker_create_topic(*fb, "b", 1);
    memset(br, 0, sizeof(*br));
    reports_init(&br->r);
    ringlog_conf *c = conf_for(*fb, &br->r); /* the per-record callback must not run */
    ringlog_conf_set_delivery_batch_cb(c, on_delivery_batch, br);
    return c;
}

Test(producer, batch_delivery_reports_each_record_once_in_order)
{
    struct fake_broker *fb;
    struct batch_reports br;
    ringlog_conf *c = batch_conf(&fb, &br);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "4096", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_numbered(p, 5000);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_outstanding(p), 0);
    cr_assert_eq(br.r.ok, 5000);
    cr_assert_eq(br.r.failed, 0);
    cr_assert_eq(br.r.out_of_order, 0);
    cr_assert_eq(br.bad, 0);
    cr_assert_eq(br.r.last_offset[0], 4999);
    cr_assert_eq(fake_broker_record_count(fb, "b", 0), 5000);
    /* 4 KiB batches of ~12-byte records: a report carries many records. */
    cr_assert_gt(br.batches, 1);
    cr_assert_lt(br.batches, 500);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, batch_delivery_reports_failures)
{
    struct fake_broker *fb;
    struct batch_reports br;
    ringlog_conf *c = batch_conf(&fb, &br);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "100000", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    produce_numbered(p, 10);
    ringlog_producer_destroy(p); /* undelivered: reported as closed */
    cr_assert_eq(br.r.failed, 10);
    cr_assert_eq(br.r.ok, 0);
    cr_assert_eq(br.r.out_of_order, 0);
    cr_assert_eq(br.bad, 0);
    cr_assert_eq(br.r.last_err, RINGLOG_ERR_CLOSED);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

Test(producer, produce_batch_queues_all_in_order)
{
    struct fake_broker *fb;
    struct batch_reports br;
    ringlog_conf *c = batch_conf(&fb, &br);
    ringlog_producer *p = producer_for(c);
    enum { N = 5000 }; /* many runs of the producer lock */
    static ringlog_record recs[N];
    static char vals[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof(vals[i]), "v%d", i);
        recs[i] = (ringlog_record){.topic = "b",
                                   .partition = RINGLOG_PARTITION_ANY,
                                   .value = vals[i],
                                   .value_len = strlen(vals[i]),
                                   .opaque = (void *)(intptr_t)i};
    }
    size_t queued = 99;
    cr_assert_eq(ringlog_produce_batch(p, recs, 0, &queued), RINGLOG_OK);
    cr_assert_eq(queued, 0);
    cr_assert_eq(ringlog_produce_batch(p, recs, N, &queued), RINGLOG_OK);
    cr_assert_eq(queued, N);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(br.r.ok, N);
    cr_assert_eq(br.r.out_of_order, 0);
    cr_assert_eq(br.bad, 0);
    cr_assert_eq(fake_broker_record_count(fb, "b", 0), N);
    cr_assert_eq(ringlog_produce_batch(NULL, recs, 1, &queued), RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(queued, 0);
    cr_assert_eq(ringlog_produce_batch(p, NULL, 1, NULL), RINGLOG_ERR_INVALID_ARG);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/* A failing record stops the call: those before it are queued and reported, none after. */
Test(producer, produce_batch_stops_at_the_first_failure)
{
    struct fake_broker *fb;
    struct batch_reports br;
    ringlog_conf *c = batch_conf(&fb, &br);
    ringlog_producer *p = producer_for(c);
    ringlog_record recs[8];
    for (int i = 0; i < 8; i++)
        recs[i] = (ringlog_record){.topic = "b",
                                   .partition = 0,
                                   .value = "x",
                                   .value_len = 1,
                                   .opaque = (void *)(intptr_t)i};
    recs[3].partition = 5; /* "b" has one partition */
    size_t queued = 0;
    cr_assert_eq(ringlog_produce_batch(p, recs, 8, &queued), RINGLOG_ERR_UNKNOWN_PARTITION);
    cr_assert_eq(queued, 3);
    recs[5].topic = NULL;
    cr_assert_eq(ringlog_produce_batch(p, recs + 4, 4, &queued), RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(queued, 1);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(br.r.ok, 4);
    cr_assert_eq(br.r.out_of_order, 1, "opaque 3 was never queued: one gap, 2 -> 4");
    cr_assert_eq(br.bad, 0);
    cr_assert_eq(fake_broker_record_count(fb, "b", 0), 4);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/*
 * A small buffer keeps the producer waiting for room again and again: every
 * wait must end (waiters are woken in steps, not at every delivery), and
 * nothing is refused.
 */
Test(producer, blocking_on_a_full_buffer_waits_for_room)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "full", 2);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    cr_assert_eq(ringlog_conf_set(c, "buffer-bytes", "8192", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "1024", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "max-block-ms", "5000", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    char val[100] = {0};
    for (int i = 0; i < 3000; i++) {
        ringlog_record rec = {.topic = "full",
                              .partition = i % 2,
                              .value = val,
                              .value_len = sizeof(val),
                              .flags = RINGLOG_MSG_F_BLOCK};
        cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK, "record %d", i);
    }
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK);
    cr_assert_eq(r.ok, 3000);
    cr_assert_eq(r.out_of_order, 0);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/*
 * Under linger 0 a record produced while the I/O thread sleeps is sent by
 * the producing thread itself (rl_cluster_caller_may_send). What the I/O
 * thread must still do, it must still be told about or find by itself:
 * these run with a pause before each record, so the I/O thread is asleep.
 */
static ringlog_producer *sleeping_io_producer(struct fake_broker *fb, struct reports *r,
                                              ringlog_conf **c, const char *topic, const char *key,
                                              const char *value)
{
    fake_broker_create_topic(fb, topic, 1);
    reports_init(r);
    *c = conf_for(fb, r);
    cr_assert_eq(ringlog_conf_set(*c, "linger-ms", "0", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(*c, "retry-backoff-ms", "10", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(*c, key, value, NULL, 0), 0);
    ringlog_producer *p = producer_for(*c);
    produce_n(p, topic, 1, false); /* metadata and producer id first */
    cr_assert_eq(ringlog_producer_flush(p, 5000), RINGLOG_OK);
    return p;
}

/* Waits for n successful reports without flushing (a flush wakes the I/O thread): ringlog_poll
 * only serves the reports that are due. */
static bool wait_delivered(ringlog_producer *p, struct reports *r, int n, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pthread_mutex_lock(&r->mu);
        bool done = r->ok + r->failed >= n;
        pthread_mutex_unlock(&r->mu);
        if (done)
            return true;
        cr_assert_geq(ringlog_poll(p, 10), 0);
    }
    return false;
}

/* A lost answer to a request the caller sent times out and is retried: the
 * I/O thread sleeps at most a second, then sees the request's deadline. */
Test(producer, caller_sent_request_times_out_and_is_retried)
{
    struct fake_broker *fb = fake_broker_start();
    struct reports r;
    ringlog_conf *c;
    ringlog_producer *p = sleeping_io_producer(fb, &r, &c, "lost", "request-timeout-ms", "200");
    /* One record alone: no later answer can reveal the lost one. */
    fake_broker_swallow_produce_responses(fb, 1);
    usleep(50 * 1000);
    produce_n(p, "lost", 1, false);
    /* A timeout of 200 ms, found within the I/O thread's 1 s sleep, then a retry. */
    cr_assert(wait_delivered(p, &r, 2, 5000), "the lost answer was never timed out");
    cr_assert_eq(r.ok, 2);
    cr_assert_eq(r.failed, 0);
    cr_assert_eq(fake_broker_record_count(fb, "lost", 0), 2, "exactly once");
    cr_assert_gt(fake_broker_duplicates(fb), 0, "the retry reached the broker");
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/* A request larger than the socket takes at once: the rest goes out on
 * POLLOUT, which only the I/O thread waits for, so it is woken for it. */
Test(producer, caller_sent_request_larger_than_the_socket_buffer)
{
    struct fake_broker *fb = fake_broker_start();
    struct reports r;
    ringlog_conf *c;
    ringlog_producer *p = sleeping_io_producer(fb, &r, &c, "big", "max-request-bytes", "15728640");
    /* More than the socket's send and receive buffers hold (4 MiB and more here). */
    enum { BIG = 12 << 20 };
    char *val = calloc(1, BIG);
    cr_assert_not_null(val);
    fake_broker_stall_next_large_request(fb, 100);
    usleep(50 * 1000);
    ringlog_record rec = {.topic = "big", .partition = 0, .value = val, .value_len = BIG};
    cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK);
    /* 100 ms of stall, then the rest: well under the I/O thread's 1 s sleep,
     * so it was woken for POLLOUT rather than finding it by timeout. */
    cr_assert(wait_delivered(p, &r, 2, 800), "the rest of the request waited for a timeout");
    cr_assert_eq(r.ok, 2);
    cr_assert_eq(fake_broker_record_count(fb, "big", 0), 2);
    free(val);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/* What the library told the application at WARNING or worse. */
struct warnings {
    pthread_mutex_t mu;
    int count;
    char first[512];
};

static void on_log(int level, const char *message, void *opaque)
{
    struct warnings *w = opaque;
    if (level > RINGLOG_LOG_WARNING)
        return;
    pthread_mutex_lock(&w->mu);
    if (strstr(message, "refused") && w->count++ == 0)
        snprintf(w->first, sizeof(w->first), "%s", message);
    pthread_mutex_unlock(&w->mu);
}

/* The error callback's reports: how many, the last code, and on which thread. */
struct error_reports {
    int count, last_err;
    pthread_t thread;
};

static void on_error_report(int err, const char *reason, void *opaque)
{
    struct error_reports *e = opaque;
    (void)reason;
    e->count++;
    e->last_err = err;
    e->thread = pthread_self();
}

Test(producer, storage_error_is_shown_at_once_and_retried)
{
    static const char broker_says[] =
        "no space left on the broker's disk: writes fail until space is freed, reads continue";
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "full", 1);
    struct reports r;
    reports_init(&r);
    struct warnings w = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ringlog_conf *c = conf_for(fb, &r);
    ringlog_conf_set_log_cb(c, on_log, &w);
    struct error_reports e = {0};
    ringlog_conf_set_error_cb(c, on_error_report, &e);
    cr_assert_eq(ringlog_conf_set(c, "retry-backoff-ms", "10", NULL, 0), 0);
    ringlog_producer *p = producer_for(c);
    fake_broker_fail_produce(fb, 5, RINGLOG_ERR_STORAGE_ERROR, broker_says);
    produce_n(p, "full", 1, false);
    cr_assert_eq(ringlog_producer_flush(p, 10000), RINGLOG_OK, "retriable: delivered once freed");
    cr_assert_eq(r.ok, 1);
    cr_assert_eq(fake_broker_record_count(fb, "full", 0), 1);
    pthread_mutex_lock(&w.mu);
    cr_assert_eq(w.count, 1, "one warning for five refusals in a row, got %d", w.count);
    cr_assert(strstr(w.first, "STORAGE_ERROR") && strstr(w.first, broker_says),
              "the broker's words reach the application: '%s'", w.first);
    pthread_mutex_unlock(&w.mu);
    /* And to the error callback, once, served by flush on this thread. */
    cr_assert_eq(e.count, 1);
    cr_assert_eq(e.last_err, RINGLOG_ERR_STORAGE_ERROR);
    cr_assert(ringlog_error_is_retriable(e.last_err));
    cr_assert(pthread_equal(e.thread, pthread_self()));
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/* Idempotence with more than 5 batches in flight is refused when the producer
 * is made: the broker deduplicates only a producer's last 5 per partition. */
Test(producer, idempotence_with_more_than_five_in_flight_is_refused)
{
    char err[512];
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", "127.0.0.1:1", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "max-in-flight", "6", err, sizeof(err)), 0, "%s", err);
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_null(p, "accepted 6 in flight with idempotence");
    cr_assert(strstr(err, "at most 5"), "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "enable-idempotence", "false", err, sizeof(err)), 0);
    p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ringlog_poll_us waits its timeout when nothing is due, and returns with
 * the first report that arrives (not at the end of its timeout). */
Test(producer, poll_us_waits_for_the_first_report)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "t", 1);
    struct reports r;
    reports_init(&r);
    ringlog_conf *c = conf_for(fb, &r);
    ringlog_producer *p = producer_for(c);
    cr_assert_eq(ringlog_poll_us(NULL, 0), RINGLOG_ERR_INVALID_ARG);
    int64_t t0 = mono_us();
    cr_assert_eq(ringlog_poll_us(p, 3000), 0);
    cr_assert_geq(mono_us() - t0, 3000, "returned before its timeout with nothing due");
    produce_n(p, "t", 1, false);
    t0 = mono_us();
    int served = 0;
    for (int i = 0; i < 10 && served == 0; i++) /* the first call may see only metadata */
        served = ringlog_poll_us(p, 30 * 1000 * 1000);
    cr_assert_eq(served, 1);
    cr_assert_lt(mono_us() - t0, 30 * 1000 * 1000, "waited out its timeout despite a report");
    cr_assert_eq(r.ok, 1);
    cr_assert_eq(ringlog_poll_us(p, 0), 0); /* nothing more due: at once */
    ringlog_producer_destroy(p);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}
