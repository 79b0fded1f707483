/*
 * Compaction through a real broker: a topic created with cleanup_policy
 * "compact" (and refused with a bad one), keys overwritten many times, the
 * broker compacting by itself (dirty ratio, on its timer), and a consumer
 * fetching from offset 0 that sees the newest value of every key, offsets
 * growing with gaps; the policy survives a restart, and so does the data.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

TestSuite(broker_compact, .init = start, .fini = stop, .timeout = 90);

enum { KEYS = 30, ROUNDS = 20 };

static void policy_of(const char *name, char *out, size_t len);

static int create_compacted(const char *name, const char *policy)
{
    Ringlog__TopicConfig config = RINGLOG__TOPIC_CONFIG__INIT;
    config.segment_bytes = 4096;
    config.cleanup_policy = (char *)policy;
    Ringlog__Response *r = wire_create_topic_full(fd, name, 1, 0, &config);
    cr_assert_not_null(r);
    int err = r->create_topics->topics[0]->error;
    ringlog__response__free_unpacked(r, NULL);
    return err;
}

/* One batch: key k%02d for every key, value "r<round>". */
static void produce_round(int round)
{
    uint8_t buf[8192];
    size_t len = wire_kv_round(buf, sizeof(buf), KEYS, round);
    cr_assert_gt(len, 0);
    Ringlog__Response *r = wire_produce(fd, "kv", 0, -1, buf, len);
    cr_assert_not_null(r);
    cr_assert_eq(wire_first_error(r), 0);
    ringlog__response__free_unpacked(r, NULL);
}

/*
 * Bytes of the closed segments (every .log but the newest: the active one is
 * preallocated, its file size is not its data).
 */
static long long closed_bytes(void)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/topics/kv/0", broker.data_dir);
    long long n = broker_closed_segment_bytes(path);
    cr_assert_geq(n, 0, "cannot list %s", path);
    return n;
}

struct consumed {
    int value[KEYS]; /* newest round seen per key, -1: none */
    long records;
};

static void consume_records(const uint8_t *data, size_t len, int64_t *next, struct consumed *c)
{
    struct rl_batch_iter it;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    it.allow_control = true;
    const uint8_t *batch;
    struct rl_batch_header h;
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        if (rl_batch_is_control(&h)) {
            *next = rl_batch_last_offset(&h) + 1;
            continue;
        }
        struct rl_record_iter ri;
        cr_assert_eq(rl_record_iter_init(&ri, batch, &h), RL_OK);
        struct rl_record rec;
        while (rl_record_iter_next(&ri, &rec) == RL_OK) {
            int64_t off = h.base_offset + rec.offset_delta;
            if (off < *next)
                continue; /* before what was asked */
            cr_assert_geq(off, *next, "offsets grow");
            *next = off + 1;
            char key[8] = {0}, value[16] = {0};
            cr_assert(rec.key_len > 0 && rec.key_len < 8 && rec.value_len > 0 &&
                      rec.value_len < 16);
            memcpy(key, rec.key, (size_t)rec.key_len);
            memcpy(value, rec.value, (size_t)rec.value_len);
            c->value[atoi(key + 1)] = atoi(value + 1);
            c->records++;
        }
        *next = rl_batch_last_offset(&h) + 1;
    }
}

/* Fetches the partition from offset 0 to its high watermark, as a consumer from the start. */
static void consume_all(struct consumed *c)
{
    memset(c, 0, sizeof(*c));
    for (int k = 0; k < KEYS; k++)
        c->value[k] = -1;
    int64_t next = 0, hw = -1;
    for (int guard = 0; guard < 1000 && next != hw; guard++) {
        Ringlog__Response *r = wire_fetch(fd, "kv", 0, next, 0, 1);
        cr_assert_not_null(r);
        Ringlog__FetchPartitionResult *fr = r->fetch->topics[0]->partitions[0];
        cr_assert_eq(fr->error, 0, "fetch at %lld: %s", (long long)next, fr->error_message);
        hw = fr->high_watermark;
        int64_t before = next;
        consume_records(fr->records.data, fr->records.len, &next, c);
        cr_assert(next > before || next == hw, "a fetch at %lld does not move on",
                  (long long)before);
        ringlog__response__free_unpacked(r, NULL);
    }
    cr_assert_eq(next, hw);
}

static void expect_newest(const struct consumed *c)
{
    for (int k = 0; k < KEYS; k++)
        cr_assert_eq(c->value[k], ROUNDS - 1, "key %d: reads round %d", k, c->value[k]);
}

Test(broker_compact, a_bad_policy_is_refused)
{
    cr_assert_eq(create_compacted("bad", "shred"), RINGLOG__ERROR_CODE__INVALID_CONFIG);
    cr_assert_eq(create_compacted("fine", "compact,delete"), 0);
}

Test(broker_compact, a_consumer_from_the_start_sees_the_newest_value_of_every_key)
{
    cr_assert_eq(create_compacted("kv", "compact"), 0);
    for (int round = 0; round < ROUNDS; round++)
        produce_round(round);
    /* The broker compacts by itself (the dirty ratio is 1; it looks once a second): the closed
     * segments, about 8 KiB of 18 rounds, keep one round (under 500 bytes). */
    long long closed = closed_bytes();
    for (int i = 0; i < 150 && closed > 1000; i++) {
        usleep(100 * 1000);
        closed = closed_bytes();
    }
    cr_assert_leq(closed, 1000, "closed segments hold %lld bytes: not compacted", closed);
    struct consumed c;
    consume_all(&c);
    expect_newest(&c);
    cr_assert_lt(c.records, (long)KEYS * ROUNDS, "older values are gone");
    cr_assert_geq(c.records, KEYS);

    /* After a restart: the policy is still compact (Metadata says so) and the data reads the
     * same. */
    close(fd);
    fd = -1;
    cr_assert_eq(broker_stop(&broker), 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0);
    fd = wire_connect(broker.port);
    char policy[32];
    policy_of("kv", policy, sizeof(policy));
    cr_assert_str_eq(policy, "compact");
    consume_all(&c);
    expect_newest(&c);
}

/* Metadata's config of topic `name`: its cleanup policy into out. */
static void policy_of(const char *name, char *out, size_t len)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    char *names[1] = {(char *)name};
    md.n_topics = 1;
    md.topics = names;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->metadata->topics[0]->error, 0);
    snprintf(out, len, "%s", r->metadata->topics[0]->config->cleanup_policy);
    ringlog__response__free_unpacked(r, NULL);
}

/* A topics table written before cleanup_policy existed loads; its topics keep "delete". */
Test(broker_compact, an_old_topics_table_still_loads)
{
    close(fd);
    fd = -1;
    cr_assert_eq(broker_stop(&broker), 0);
    broker_remove_data(&broker);
    char dir[] = "/tmp/ringlog-compact-XXXXXX", meta[64], path[96];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(meta, sizeof(meta), "%s/meta", dir);
    cr_assert_eq(mkdir(meta, 0755), 0);
    snprintf(path, sizeof(path), "%s/topics", meta);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "# ringlog topics v1\ntopic old id=1 partitions=1 rf=1 retention_ms=-1 "
               "retention_bytes=-1 segment_bytes=1048576 segment_ms=604800000\n");
    fclose(f);
    cr_assert_eq(broker_start(&broker, dir, NULL), 0, "log: %s", broker.log_path);
    fd = wire_connect(broker.port);
    char policy[32];
    policy_of("old", policy, sizeof(policy));
    cr_assert_str_eq(policy, "delete");
    cr_assert_eq(create_compacted("new", "compact,delete"), 0);
    policy_of("new", policy, sizeof(policy));
    cr_assert_str_eq(policy, "compact,delete");
}
