/*
 * End to end against a broker process (RL_BROKER_BIN): the real ringlogd
 * when it is built, and the fake broker process otherwise (both targets are
 * registered when both exist). Covers the library (round trips, ordering,
 * compression, committed offsets across a restart, exactly-once through a
 * faulty proxy, topic re-creation) and the CLI and examples as processes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "client_helpers.h"
#include "spawn_broker.h"
#include "fault_proxy.h"
#include "ringlog.h"
#include "run_proc.h"
#include "test_rng.h"

/*
 * The broker under test: the real ringlogd through the shared helper
 * (tests/common/broker_proc.h), or the fake broker process.
 */
static struct {
    struct broker_proc real;
    struct spawned_broker fake;
    char listen[64];
    int port;
    char data_dir[512];
} broker;

static int start_broker_in(const char *dir)
{
#if RL_BROKER_REAL
    if (broker_start(&broker.real, dir, NULL) != 0)
        return -1;
    broker.port = broker.real.port;
    snprintf(broker.data_dir, sizeof(broker.data_dir), "%s", broker.real.data_dir);
#else
    if (spawn_broker_start(&broker.fake, RL_BROKER_BIN, dir, NULL, 20000) != 0)
        return -1;
    broker.port = broker.fake.port;
    snprintf(broker.data_dir, sizeof(broker.data_dir), "%s", broker.fake.data_dir);
#endif
    snprintf(broker.listen, sizeof(broker.listen), "127.0.0.1:%d", broker.port);
    return 0;
}

/* Stops the broker (SIGTERM); returns its exit status. */
static int stop_broker_keep_data(void)
{
#if RL_BROKER_REAL
    return broker_stop(&broker.real);
#else
    return spawn_broker_stop(&broker.fake, 10000);
#endif
}

static void start_broker(void)
{
    cr_assert_eq(start_broker_in(NULL), 0, "cannot start %s", RL_BROKER_BIN);
}

static void stop_broker(void)
{
    stop_broker_keep_data();
#if RL_BROKER_REAL
    broker_remove_data(&broker.real);
#else
    spawn_broker_remove_data(&broker.fake);
#endif
}

static void create_topic(const char *address, const char *name, int partitions)
{
    create_topic_at(address, name, partitions);
}

struct counts {
    pthread_mutex_t mu;
    long ok, failed;
    int last_err;
};

static void count_delivery(const ringlog_delivery *d, void *opaque)
{
    struct counts *k = opaque;
    pthread_mutex_lock(&k->mu);
    if (d->err) {
        k->failed++;
        k->last_err = d->err;
    } else {
        k->ok++;
    }
    pthread_mutex_unlock(&k->mu);
}

static const ringlog_message *poll_one(ringlog_consumer *k)
{
    const ringlog_message *m = NULL;
    int rc = ringlog_consumer_poll(k, 10000, &m);
    cr_assert_eq(rc, 0, "poll: %s %s", ringlog_err_name(rc), ringlog_consumer_errstr(k));
    return m;
}

static ringlog_consumer *consumer_from(ringlog_conf *c, const char *topic, int32_t part,
                                       int64_t offset)
{
    char err[256];
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    ringlog_topic_partition tp = {.topic = topic, .partition = part, .offset = offset};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    return k;
}

/* ---------------------------------------------------------------- library */

static void round_trip(const char *codec)
{
    start_broker();
    create_topic(broker.listen, "rt", 1);
    ringlog_conf *c = conf_at(broker.listen);
    struct counts k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ringlog_conf_set_delivery_cb(c, count_delivery, &k);
    cr_assert_eq(ringlog_conf_set(c, "compression", codec, NULL, 0), 0);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    struct test_rng rng;
    test_rng_seed(&rng, "e2e.round_trip", 7);
    size_t big_len = 1 << 20;
    uint8_t *big = malloc(big_len);
    test_rng_fill(&rng, big, big_len);
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)(255 - i);
    ringlog_header h[2] = {{"trace", 5, "abc", 3}, {"\0bin", 4, "\0\1\2", 3}};
    ringlog_record recs[] = {
        {.topic = "rt",
         .partition = 0,
         .key = "k1",
         .key_len = 2,
         .value = "hello",
         .value_len = 5,
         .headers = h,
         .header_count = 2,
         .timestamp = 1700000000000},
        {.topic = "rt", .partition = 0, .value = "", .value_len = 0},
        {.topic = "rt", .partition = 0, .key = bin, .key_len = 256, .value = bin, .value_len = 256},
        {.topic = "rt",
         .partition = 0,
         .key = "big",
         .key_len = 3,
         .value = big,
         .value_len = big_len},
    };
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ringlog_produce(p, &recs[i]), 0);
    cr_assert_eq(ringlog_producer_flush(p, 30000), 0);
    cr_assert_eq(k.ok, 4, "delivered %ld, failed %ld (%s)", k.ok, k.failed,
                 ringlog_err_name(k.last_err));
    ringlog_producer_destroy(p);

    ringlog_consumer *kc = consumer_from(c, "rt", 0, RINGLOG_OFFSET_BEGINNING);
    const ringlog_message *m = poll_one(kc);
    cr_assert_eq(m->offset, 0);
    cr_assert_eq(m->timestamp, 1700000000000);
    cr_assert_eq(m->key_len, 2);
    cr_assert_eq(memcmp(m->value, "hello", 5), 0);
    cr_assert_eq(m->header_count, 2);
    cr_assert_eq(memcmp(m->headers[1].key, "\0bin", 4), 0);
    cr_assert_eq(memcmp(m->headers[1].value, "\0\1\2", 3), 0);
    m = poll_one(kc);
    cr_assert_null(m->key);
    cr_assert_eq(m->value_len, 0);
    m = poll_one(kc);
    cr_assert_eq(memcmp(m->key, bin, 256), 0);
    m = poll_one(kc);
    cr_assert_eq(m->value_len, big_len);
    cr_assert_eq(memcmp(m->value, big, big_len), 0);
    ringlog_consumer_destroy(kc);
    ringlog_conf_destroy(c);
    free(big);
    stop_broker();
}

Test(e2e, round_trip_none)
{
    round_trip("none");
}

Test(e2e, round_trip_lz4)
{
    round_trip("lz4");
}

Test(e2e, round_trip_zstd)
{
    round_trip("zstd");
}

Test(e2e, order_within_partition_100k, .timeout = 120)
{
    start_broker();
    create_topic(broker.listen, "ord", 1);
    ringlog_conf *c = conf_at(broker.listen);
    struct counts k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ringlog_conf_set_delivery_cb(c, count_delivery, &k);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", i);
        ringlog_record r = {.topic = "ord", .partition = 0, .value = v, .value_len = (size_t)n};
        cr_assert_eq(ringlog_produce(p, &r), 0);
    }
    cr_assert_eq(ringlog_producer_flush(p, 60000), 0);
    cr_assert_eq(k.ok, N);
    ringlog_producer_destroy(p);
    ringlog_consumer *kc = consumer_from(c, "ord", 0, RINGLOG_OFFSET_BEGINNING);
    for (int i = 0; i < N; i++) {
        const ringlog_message *m = poll_one(kc);
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", i);
        cr_assert_eq(m->offset, i);
        cr_assert(m->value_len == (size_t)n && memcmp(m->value, v, (size_t)n) == 0,
                  "offset %d holds the wrong value", i);
    }
    ringlog_consumer_destroy(kc);
    ringlog_conf_destroy(c);
    stop_broker();
}

/*
 * Fetch starvation against the broker's budget rule (docs/PROTOCOL.md
 * *Fetch*): partition 0 holds many batches of at most batch-bytes = the
 * fetch budget, partition 1 one record larger than the budget. Only the
 * first partition with data is sure of a batch, so partition 1 gets its
 * batch only when it is listed first: with the consumer's rotation that is
 * the second fetch, without it never while partition 0 has data.
 */
Test(e2e, big_batch_partition_is_not_starved, .timeout = 60)
{
    start_broker();
    create_topic(broker.listen, "starve", 2);
    ringlog_conf *c = conf_at(broker.listen);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "1024", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "fetch-max-bytes", "1024", NULL, 0), 0);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    enum { SMALL = 600, BIG = 3000 };
    char v[BIG];
    memset(v, 'v', sizeof(v));
    for (int i = 0; i < SMALL; i++) {
        ringlog_record r = {.topic = "starve", .partition = 0, .value = v, .value_len = 100};
        cr_assert_eq(ringlog_produce(p, &r), 0);
    }
    ringlog_record big = {.topic = "starve", .partition = 1, .value = v, .value_len = BIG};
    cr_assert_eq(ringlog_produce(p, &big), 0);
    cr_assert_eq(ringlog_producer_flush(p, 30000), 0);
    ringlog_producer_destroy(p);
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    ringlog_topic_partition tps[2] = {{.topic = "starve", .partition = 0, .offset = 0},
                                      {.topic = "starve", .partition = 1, .offset = 0}};
    cr_assert_eq(ringlog_consumer_assign(k, tps, 2), 0);
    /* A fetch carries at most one of partition 0's batches (< 10 records of 100 bytes). */
    int small_seen = 0;
    bool big_seen = false;
    while (!big_seen && small_seen < SMALL) {
        const ringlog_message *m = poll_one(k);
        if (m->partition == 1)
            big_seen = m->value_len == BIG;
        else
            cr_assert_eq(m->offset, small_seen++);
    }
    cr_assert(big_seen, "partition 1 waited until partition 0 ran dry");
    cr_assert_lt(small_seen, 3 * 10, "partition 1 waited behind %d messages", small_seen);
    ringlog_consumer_destroy(k);
    ringlog_conf_destroy(c);
    stop_broker();
}

Test(e2e, committed_offsets_survive_restart)
{
    if (!RL_BROKER_REAL)
        cr_skip_test("the fake broker keeps nothing across a restart");
    start_broker();
    create_topic(broker.listen, "co", 1);
    ringlog_conf *c = conf_at(broker.listen);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    for (int i = 0; i < 50; i++) {
        ringlog_record r = {.topic = "co", .partition = 0, .value = "x", .value_len = 1};
        cr_assert_eq(ringlog_produce(p, &r), 0);
    }
    cr_assert_eq(ringlog_producer_flush(p, 30000), 0);
    ringlog_producer_destroy(p);
    cr_assert_eq(ringlog_conf_set(c, "group", "g1", NULL, 0), 0);
    ringlog_consumer *kc = consumer_from(c, "co", 0, RINGLOG_OFFSET_BEGINNING);
    for (int i = 0; i < 20; i++)
        poll_one(kc);
    cr_assert_eq(ringlog_consumer_commit(kc, 10000), 0, "%s", ringlog_consumer_errstr(kc));
    ringlog_consumer_destroy(kc);
    ringlog_conf_destroy(c);

    char dir[sizeof(broker.data_dir)];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(stop_broker_keep_data(), 0, "clean shutdown");
    cr_assert_eq(start_broker_in(dir), 0, "restart on the same data");
    c = conf_at(broker.listen);
    cr_assert_eq(ringlog_conf_set(c, "group", "g1", NULL, 0), 0);
    kc = consumer_from(c, "co", 0, RINGLOG_OFFSET_STORED);
    int64_t off = -5;
    cr_assert_eq(ringlog_consumer_committed(kc, "co", 0, &off, 10000), 0);
    cr_assert_eq(off, 20);
    cr_assert_eq(poll_one(kc)->offset, 20);
    ringlog_consumer_destroy(kc);
    ringlog_conf_destroy(c);
    stop_broker();
}

Test(e2e, exactly_once_in_order_through_faulty_proxy, .timeout = 120)
{
    start_broker();
    create_topic(broker.listen, "idem", 3);
    struct test_rng rng;
    uint64_t seed = test_rng_seed(&rng, "e2e.exactly_once", 1234);
    struct fault_plan plan = {.seed = seed,
                              .drop_per_mille = 80,
                              .dup_per_mille = 60,
                              .delay_per_mille = 150,
                              .max_delay_ms = 30,
                              .max_faults = 200};
    struct fault_proxy *px = fault_proxy_start(broker.port, &plan);
    cr_assert_not_null(px);
    ringlog_conf *c = conf_at(fault_proxy_address(px));
    struct counts k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ringlog_conf_set_delivery_cb(c, count_delivery, &k);
    cr_assert_eq(ringlog_conf_set(c, "retry-backoff-ms", "10", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "2048", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "request-timeout-ms", "3000", NULL, 0), 0);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    enum { N = 20000, KEYS = 16 };
    for (int i = 0; i < N; i++) {
        char key[8], v[16];
        int kl = snprintf(key, sizeof(key), "k%d", i % KEYS);
        int vl = snprintf(v, sizeof(v), "%d", i);
        ringlog_record r = {.topic = "idem",
                            .partition = -1,
                            .key = key,
                            .key_len = (size_t)kl,
                            .value = v,
                            .value_len = (size_t)vl};
        cr_assert_eq(ringlog_produce(p, &r), 0);
    }
    cr_assert_eq(ringlog_producer_flush(p, 90000), 0);
    cr_assert_eq(k.ok, N, "delivered %ld failed %ld (%s)", k.ok, k.failed,
                 ringlog_err_name(k.last_err));
    ringlog_producer_destroy(p);
    unsigned drops, dups, delays;
    fault_proxy_counts(px, &drops, &dups, &delays);
    fprintf(stderr, "faults injected: %u drops, %u duplicates, %u delays\n", drops, dups, delays);
    cr_assert_gt(drops + dups, 0);
    fault_proxy_stop(px);
    ringlog_conf_destroy(c);

    /* Read back directly: every value exactly once, and per key in production order. */
    c = conf_at(broker.listen);
    char errb[256];
    ringlog_consumer *kc = ringlog_consumer_new(c, errb, sizeof(errb));
    ringlog_topic_partition tps[3] = {{"idem", 0, RINGLOG_OFFSET_BEGINNING},
                                      {"idem", 1, RINGLOG_OFFSET_BEGINNING},
                                      {"idem", 2, RINGLOG_OFFSET_BEGINNING}};
    cr_assert_eq(ringlog_consumer_assign(kc, tps, 3), 0);
    char *seen = calloc(N, 1);
    int last[3] = {-1, -1, -1};
    for (int i = 0; i < N; i++) {
        const ringlog_message *m = poll_one(kc);
        int v = atoi((const char *)m->value);
        cr_assert(v >= 0 && v < N);
        cr_assert_eq(seen[v], 0, "value %d delivered twice", v);
        seen[v] = 1;
        cr_assert_gt(v, last[m->partition], "partition %d out of order", m->partition);
        last[m->partition] = v;
    }
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_poll(kc, 500, &m), RINGLOG_ERR_TIMED_OUT, "no extra records");
    free(seen);
    ringlog_consumer_destroy(kc);
    ringlog_conf_destroy(c);
    stop_broker();
}

Test(e2e, topic_deleted_and_recreated, .timeout = 60)
{
    start_broker();
    create_topic(broker.listen, "re", 2);
    ringlog_conf *c = conf_at(broker.listen);
    struct counts k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ringlog_conf_set_delivery_cb(c, count_delivery, &k);
    cr_assert_eq(ringlog_conf_set(c, "retry-backoff-ms", "20", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "metadata-max-age-ms", "200", NULL, 0), 0);
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    ringlog_record r = {.topic = "re", .partition = 1, .value = "before", .value_len = 6};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(ringlog_produce(p, &r), 0);
    cr_assert_eq(ringlog_producer_flush(p, 10000), 0);
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_eq(ringlog_admin_delete_topic(a, "re", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ringlog_admin_create_topic(a, "re", 3, 1, NULL, err, sizeof(err)), 0, "%s", err);
    /* The producer learns the new layout (3 partitions) and its new leaders. */
    r.value = "after";
    r.value_len = 5;
    r.partition = 2;
    int rc;
    for (int tries = 0;
         (rc = ringlog_produce(p, &r)) == RINGLOG_ERR_UNKNOWN_PARTITION && tries < 50; tries++)
        usleep(100000);
    cr_assert_eq(rc, 0, "%s", ringlog_err_name(rc));
    r.partition = 1;
    cr_assert_eq(ringlog_produce(p, &r), 0);
    cr_assert_eq(ringlog_producer_flush(p, 30000), 0);
    cr_assert_eq(k.ok, 12, "ok %ld failed %ld (%s)", k.ok, k.failed, ringlog_err_name(k.last_err));
    ringlog_producer_destroy(p);
    ringlog_topic_info *ti;
    cr_assert_eq(ringlog_admin_describe_topic(a, "re", &ti, err, sizeof(err)), 0);
    cr_assert_eq(ti->partition_count, 3);
    cr_assert_eq(ti->partitions[1].high_watermark, 1, "the old data is gone");
    ringlog_free(ti);
    ringlog_admin_destroy(a);
    ringlog_consumer *kc = consumer_from(c, "re", 1, RINGLOG_OFFSET_BEGINNING);
    const ringlog_message *m = poll_one(kc);
    cr_assert_eq(m->offset, 0);
    cr_assert_eq(memcmp(m->value, "after", 5), 0);
    ringlog_consumer_destroy(kc);
    ringlog_conf_destroy(c);
    stop_broker();
}

/* ---------------------------------------------------------------- processes */

static int cli(const char *stdin_data, struct proc_output *out, const char *const *args)
{
    char bootstrap[96];
    snprintf(bootstrap, sizeof(bootstrap), "RINGLOG_BOOTSTRAP=%s", broker.listen);
    const char *env[] = {bootstrap, NULL};
    const char *argv[32] = {RL_CLI_BIN};
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    return run_proc(argv, env, stdin_data, stdin_data ? strlen(stdin_data) : 0, 30000, out);
}

#define CLI(in, out, ...) cli(in, out, (const char *const[]){__VA_ARGS__, NULL})

Test(e2e, cli, .timeout = 90)
{
    start_broker();
    struct proc_output o;
    cr_assert_eq(CLI(NULL, &o, "topic", "create", "clit", "--partitions", "2"), 0, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "create", "clit"), 1);
    cr_assert(strstr(o.err, "TOPIC_EXISTS") != NULL, "%s", o.err);
    cr_assert_eq(strchr(o.err, '\n'), o.err + o.err_len - 1, "one line: %s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "create", "other"), 0, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "list"), 0, "%s", o.err);
    cr_assert_str_eq(o.out, "clit\nother\n");
    proc_output_free(&o);

    cr_assert_eq(CLI("a:1\nb:2\nno-separator\n:empty-key\nlast:no-newline", &o, "produce", "clit",
                     "--partition", "1", "--key-separator", ":"),
                 0, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "clit", "--partition", "1", "--from-beginning", "--count",
                     "5", "--format", "%t/%p@%o [%k] %v"),
                 0, "%s", o.err);
    cr_assert_str_eq(o.out, "clit/1@0 [a] 1\nclit/1@1 [b] 2\nclit/1@2 [] no-separator\n"
                            "clit/1@3 [] empty-key\nclit/1@4 [last] no-newline\n");
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "clit", "--offset", "3", "--partition", "1",
                     "--timeout-ms", "700"),
                 0, "%s", o.err);
    cr_assert_str_eq(o.out, "empty-key\nno-newline\n");
    proc_output_free(&o);

    cr_assert_eq(CLI("x\ny\n", &o, "produce", "clit", "--partition", "0", "--acks", "1",
                     "--compression", "zstd"),
                 0, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "clit", "--from-beginning", "--timeout-ms", "700",
                     "--format", "%p:%v"),
                 0, "%s", o.err);
    /* Two partitions: each in order, interleaving unspecified. */
    cr_assert(strstr(o.out, "0:x\n") && strstr(o.out, "0:y\n") && strstr(o.out, "1:1\n"), "%s",
              o.out);
    cr_assert_lt(strstr(o.out, "0:x\n"), strstr(o.out, "0:y\n"));
    proc_output_free(&o);

    /* A group remembers where it stopped. */
    cr_assert_eq(CLI(NULL, &o, "consume", "clit", "--partition", "1", "--group", "cg",
                     "--from-beginning", "--count", "2"),
                 0, "%s", o.err);
    cr_assert_str_eq(o.out, "1\n2\n");
    proc_output_free(&o);
    cr_assert_eq(
        CLI(NULL, &o, "consume", "clit", "--partition", "1", "--group", "cg", "--count", "1"), 0,
        "%s", o.err);
    cr_assert_str_eq(o.out, "no-separator\n");
    proc_output_free(&o);

    cr_assert_eq(CLI(NULL, &o, "topic", "describe", "clit"), 0, "%s", o.err);
    cr_assert(strncmp(o.out, "partition=0 leader=", 19) == 0, "%s", o.out);
    cr_assert(strstr(o.out, " start=0 end=2 hw=2\npartition=1 leader=") != NULL, "%s", o.out);
    cr_assert(strstr(o.out, " start=0 end=5 hw=5\n") != NULL, "%s", o.out);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "describe", "clit", "--json"), 0, "%s", o.err);
    cr_assert(strncmp(o.out, "{\"topic\":\"clit\"", 15) == 0, "%s", o.out);
    proc_output_free(&o);

    cr_assert_eq(CLI(NULL, &o, "topic", "delete", "clit"), 0, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "describe", "clit"), 1);
    cr_assert(strstr(o.err, "UNKNOWN_TOPIC") != NULL, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI("z\n", &o, "produce", "clit"), 1);
    cr_assert(strstr(o.err, "UNKNOWN_TOPIC") != NULL, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "other", "--format", "%q"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "bogus"), 2);
    proc_output_free(&o);
    stop_broker();

    /* No broker at all: a clear error, non-zero, no hang. */
    cr_assert_eq(CLI(NULL, &o, "topic", "list"), 1);
    cr_assert(strstr(o.err, "ringlog: ") == o.err, "%s", o.err);
    proc_output_free(&o);
}

Test(e2e, examples, .timeout = 60)
{
    start_broker();
    create_topic(broker.listen, "greetings", 1);
    struct proc_output o;
    const char *pargv[] = {RL_EXAMPLES_DIR "/example_producer", broker.listen, "greetings", NULL};
    cr_assert_eq(run_proc(pargv, NULL, NULL, 0, 30000, &o), 0, "%s", o.err);
    proc_output_free(&o);
    const char *cargv[] = {RL_EXAMPLES_DIR "/example_consumer", broker.listen, "greetings", NULL};
    cr_assert_eq(run_proc(cargv, NULL, NULL, 0, 30000, &o), 0, "%s", o.err);
    cr_assert(strstr(o.out, "offset 0: key=greeting-0 value=hello, ringlog 0") != NULL, "%s",
              o.out);
    cr_assert(strstr(o.out, "offset 9: ") != NULL, "%s", o.out);
    proc_output_free(&o);
    stop_broker();
}
