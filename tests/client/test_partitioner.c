/*
 * Issue 20 item 7: the murmur2 partitioner places keys exactly as Kafka's
 * default partitioner does, is chosen by configuration (partitioner=murmur2,
 * librdkafka's murmur2_random as an alias), and a custom partitioner
 * callback takes over keyed records.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "partitioner.h"
#include "ringlog.h"
#include "test_rng.h"

/*
 * A second, independent murmur2: a literal transcription of Kafka's Java
 * Utils.murmur2 (signed bytes masked with 0xff, Java int arithmetic done in
 * 64 bits and cut back to 32, >>> as a shift of the unsigned value).
 */
static int32_t java_int(int64_t x)
{
    uint32_t u = (uint32_t)(x & 0xffffffff);
    return u > INT32_MAX ? (int32_t)(u - 0x80000000u) - INT32_MAX - 1 : (int32_t)u;
}

static int32_t urshift(int32_t x, int n)
{
    return (int32_t)((uint32_t)x >> n);
}

static int32_t java_murmur2(const signed char *data, int length)
{
    const int32_t seed = java_int(0x9747b28cLL), m = 0x5bd1e995, r = 24;
    int32_t h = seed ^ length;
    int length4 = length / 4;
    for (int i = 0; i < length4; i++) {
        int i4 = i * 4;
        int32_t k =
            java_int((int64_t)(data[i4 + 0] & 0xff) + ((data[i4 + 1] & 0xff) << 8) +
                     ((data[i4 + 2] & 0xff) << 16) + ((int64_t)(data[i4 + 3] & 0xff) << 24));
        k = java_int((int64_t)k * m);
        k ^= urshift(k, r);
        k = java_int((int64_t)k * m);
        h = java_int((int64_t)h * m);
        h ^= k;
    }
    switch (length % 4) {
    case 3:
        h ^= (data[(length & ~3) + 2] & 0xff) << 16;
        /* fall through */
    case 2:
        h ^= (data[(length & ~3) + 1] & 0xff) << 8;
        /* fall through */
    case 1:
        h ^= data[length & ~3] & 0xff;
        h = java_int((int64_t)h * m);
    }
    h ^= urshift(h, 13);
    h = java_int((int64_t)h * m);
    h ^= urshift(h, 15);
    return h;
}

struct vector {
    const char *key;
    size_t len;
    int32_t hash;   /* Java's int */
    int32_t part12; /* toPositive(hash) % 12 */
};

/*
 * Kafka's own UtilsTest.testMurmur2 values (the first six and ""), and keys
 * whose hash and partition were derived from Kafka's algorithm by a third
 * implementation (Python) and agree with java_murmur2 above.
 */
static const struct vector VECTORS[] = {
    {"21", 2, -973932308, -1},
    {"foobar", 6, -790332482, -1},
    {"a-little-bit-long-string", 24, -985981536, -1},
    {"a-little-bit-longer-string", 26, -1486304829, -1},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48, -58897971, -1},
    {"abc", 3, 479470107, -1},
    {"", 0, 275646681, -1},
    {"user-1", 6, 1404122828, 8},
    {"user-2", 6, -324981792, 8},
    {"order-42", 8, 501153024, 0},
    {"\xff\x00\x80\x7f\xfe", 5, 1118688894, 6},
    {"kafka", 5, -798503068, 4},
};

Test(partitioner, murmur2_matches_kafka_vectors)
{
    for (size_t i = 0; i < sizeof(VECTORS) / sizeof(VECTORS[0]); i++) {
        const struct vector *v = &VECTORS[i];
        int32_t h = (int32_t)rl_murmur2(v->key, v->len);
        cr_assert_eq(h, v->hash, "murmur2(\"%s\") = %d, Kafka says %d", v->key, h, v->hash);
        cr_assert_eq(java_murmur2((const signed char *)v->key, (int)v->len), v->hash, "%s", v->key);
        int32_t want = (int32_t)(((uint32_t)v->hash & 0x7fffffffu) % 12);
        cr_assert_eq(rl_partition_murmur2(v->key, v->len, 12), want, "%s", v->key);
        if (v->part12 >= 0)
            cr_assert_eq(want, v->part12, "%s", v->key);
    }
    /* Kafka: toPositive(murmur2("foobar")) % 50 = 1357151166 % 50. */
    cr_assert_eq(rl_partition_murmur2("foobar", 6, 50), 16);
}

Test(partitioner, murmur2_agrees_with_the_java_transcription)
{
    struct test_rng rng;
    test_rng_seed(&rng, "partitioner.murmur2_java", 2020);
    unsigned char key[67];
    for (int n = 0; n < 20000; n++) {
        size_t len = test_rng_below(&rng, sizeof(key) + 1);
        for (size_t i = 0; i < len; i++)
            key[i] = (unsigned char)test_rng_next(&rng);
        int32_t parts = 1 + (int32_t)test_rng_below(&rng, 1000);
        int32_t want = java_murmur2((const signed char *)key, (int)len);
        cr_assert_eq((int32_t)rl_murmur2(key, len), want, "case %d, length %zu", n, len);
        cr_assert_eq(rl_partition_murmur2(key, len, parts),
                     (int32_t)(((uint32_t)want & 0x7fffffffu) % (uint32_t)parts));
    }
}

static ringlog_conf *conf_with(const char *partitioner)
{
    ringlog_conf *c = ringlog_conf_new();
    char err[256];
    if (partitioner)
        cr_assert_eq(ringlog_conf_set(c, "partitioner", partitioner, err, sizeof(err)), RINGLOG_OK,
                     "%s", err);
    return c;
}

Test(partitioner, chosen_by_configuration)
{
    char buf[32], err[512];
    ringlog_conf *c = conf_with(NULL);
    cr_assert_eq(ringlog_conf_get(c, "partitioner", buf, sizeof(buf)), RINGLOG_OK);
    cr_assert_str_eq(buf, "xxh64", "the documented default");
    cr_assert_eq(rl_partition_choose(c, "t", "kafka", 5, 12), rl_partition_for_key("kafka", 5, 12));
    ringlog_conf_destroy(c);

    const char *murmurs[] = {"murmur2", "murmur2_random", "MURMUR2"};
    for (size_t i = 0; i < 3; i++) {
        c = conf_with(murmurs[i]);
        cr_assert_eq(ringlog_conf_get(c, "partitioner", buf, sizeof(buf)), RINGLOG_OK);
        cr_assert_str_eq(buf, "murmur2");
        for (size_t v = 0; v < sizeof(VECTORS) / sizeof(VECTORS[0]); v++)
            cr_assert_eq(rl_partition_choose(c, "t", VECTORS[v].key, VECTORS[v].len, 12),
                         rl_partition_murmur2(VECTORS[v].key, VECTORS[v].len, 12));
        cr_assert_eq(rl_partition_choose(c, "t", "kafka", 5, 12), 4);
        ringlog_conf_destroy(c);
    }

    c = conf_with(NULL);
    const char *refused[] = {"consistent_random", "consistent", "fnv1a_random", "random", "crc"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(ringlog_conf_set(c, "partitioner", refused[i], err, sizeof(err)),
                     RINGLOG_ERR_INVALID_ARG, "%s", refused[i]);
        cr_assert(strstr(err, "murmur2") && strstr(err, "xxh64"), "%s", err);
    }
    cr_assert(strstr(err, "crc") != NULL, "the refused value is named: %s", err);
    ringlog_conf_destroy(c);
}

struct calls {
    int n;
    char topic[16];
    char key[16];
    int32_t count;
    int32_t answer;
};

static int32_t by_callback(const char *topic, const void *key, size_t key_len, int32_t count,
                           void *opaque)
{
    struct calls *k = opaque;
    k->n++;
    snprintf(k->topic, sizeof(k->topic), "%s", topic);
    snprintf(k->key, sizeof(k->key), "%.*s", (int)key_len, (const char *)key);
    k->count = count;
    return k->answer;
}

struct logged {
    int n;
    char last[256];
};

static void count_log(int level, const char *message, void *opaque)
{
    struct logged *l = opaque;
    cr_assert_eq(level, RINGLOG_LOG_ERROR);
    snprintf(l->last, sizeof(l->last), "%s", message);
    l->n++;
}

Test(partitioner, custom_callback)
{
    ringlog_conf *c = conf_with("murmur2");
    struct calls k = {.answer = 7};
    struct logged logged = {0};
    ringlog_conf_set_partitioner_cb(c, by_callback, &k);
    ringlog_conf_set_log_cb(c, count_log, &logged);
    cr_assert_eq(rl_partition_choose(c, "orders", "kafka", 5, 12), 7);
    cr_assert_eq(k.n, 1);
    cr_assert_str_eq(k.topic, "orders");
    cr_assert_str_eq(k.key, "kafka");
    cr_assert_eq(k.count, 12);
    /* Out of range: logged, and the configured hash places the record. */
    cr_assert_eq(logged.n, 0);
    k.answer = 12;
    cr_assert_eq(rl_partition_choose(c, "orders", "kafka", 5, 12), 4);
    cr_assert(strstr(logged.last, "partitioner callback returned 12 for topic orders with 12"),
              "%s", logged.last);
    k.answer = -1;
    cr_assert_eq(rl_partition_choose(c, "orders", "kafka", 5, 12), 4);
    cr_assert_eq(logged.n, 2);
    cr_assert(strstr(logged.last, "returned -1"), "%s", logged.last);
    ringlog_conf_destroy(c);
}
