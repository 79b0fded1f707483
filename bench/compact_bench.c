/*
 * ringlog-bench log-compact: writes a keyed log through the storage engine
 * (--keys distinct keys overwritten at random, --msg-size values), then
 * times one compaction pass over it (partition_log_compact_now, driven on
 * the same ring as a shard would) and reports the bytes read and removed
 * and MB/s of segment read. docs/STORAGE.md, "Compaction".
 */
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "bench.h"
#include "log_io_uring.h"
#include "partition_log.h"

struct compact_opts {
    const char *dir;
    int64_t bytes, keys, msg_size, segment_bytes;
    bool json;
};

static bool appended, deleted;

static void on_deleted(struct log_ctl *c, int status)
{
    (void)c;
    (void)status;
    deleted = true;
}

static void on_written(struct log_append *a, int status)
{
    (void)a;
    if (status != LOG_OK)
        fprintf(stderr, "log-compact: append failed: %s\n", log_status_str(status));
    appended = true;
}

/* One ~64 KiB batch of random keys; returns its size. */
static size_t build(uint8_t *buf, size_t cap, const struct compact_opts *o, uint64_t *rng,
                    uint8_t *value)
{
    struct rl_batch_builder b;
    rl_batch_builder_init(&b, buf, cap, NULL);
    for (;;) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        char key[24];
        int klen = snprintf(key, sizeof(key), "key-%llu",
                            (unsigned long long)((*rng >> 33) % (uint64_t)o->keys));
        struct rl_record_in r = {.key = key,
                                 .key_len = (size_t)klen,
                                 .value = value,
                                 .value_len = (size_t)o->msg_size,
                                 .timestamp = 1700000000000ll};
        if (rl_batch_builder_add(&b, &r) != RL_OK)
            break;
    }
    return rl_batch_builder_finish(&b);
}

static int parse(int argc, char **argv, struct compact_opts *o)
{
    *o = (struct compact_opts){
        .bytes = 256 << 20, .keys = 100000, .msg_size = 100, .segment_bytes = 16 << 20};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *num = strcmp(a, "--bytes") == 0           ? &o->bytes
                       : strcmp(a, "--keys") == 0          ? &o->keys
                       : strcmp(a, "--msg-size") == 0      ? &o->msg_size
                       : strcmp(a, "--segment-bytes") == 0 ? &o->segment_bytes
                                                           : NULL;
        if (strcmp(a, "--dir") == 0 && v) {
            o->dir = v;
            i++;
        } else if (num != NULL && v) {
            *num = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else {
            fprintf(stderr, "ringlog-bench log-compact: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (o->dir == NULL || o->bytes <= 0 || o->keys <= 0 || o->msg_size <= 0) {
        fprintf(stderr, "ringlog-bench log-compact: --dir DIR is required; sizes positive\n");
        return 2;
    }
    return 0;
}

static void fill(struct log_engine *e, struct io_uring *ring, struct partition_log *log,
                 const struct compact_opts *o)
{
    size_t cap = 64 << 10;
    uint8_t *buf = malloc(cap), *value = malloc((size_t)o->msg_size);
    memset(value, 'v', (size_t)o->msg_size);
    uint64_t rng = 42;
    while ((int64_t)partition_log_size_bytes(log) < o->bytes) {
        size_t len = build(buf, cap, o, &rng, value);
        struct log_append a = {.data = buf, .len = len, .on_written = on_written};
        appended = false;
        if (len == 0 || partition_log_append(log, &a) != LOG_OK)
            break;
        log_engine_drive(e, ring, &appended);
    }
    free(buf);
    free(value);
}

int bench_log_compact(int argc, char **argv)
{
    struct compact_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc;
    struct io_uring ring;
    if (io_uring_queue_init(64, &ring, 0) < 0)
        return 1;
    struct log_io_uring uio;
    log_io_uring_init(&uio, &ring);
    struct log_engine engine;
    log_engine_init(&engine, &(struct log_engine_config){.io = &uio.io});
    struct partition_log_config cfg;
    partition_log_config_default(&cfg);
    cfg.segment_bytes = (uint64_t)o.segment_bytes;
    cfg.flush = LOG_FLUSH_NONE;
    cfg.cleanup_policy = LOG_CLEANUP_COMPACT;
    cfg.min_cleanable_dirty_ratio = 1.0; /* only the pass this bench starts */
    struct partition_log *log;
    struct log_open_report rep;
    if (partition_log_open(&engine, o.dir, "bench-compact", 0, &cfg, &log, &rep) != LOG_OK) {
        fprintf(stderr, "ringlog-bench log-compact: open: %s\n", rep.message);
        return 1;
    }
    fill(&engine, &ring, log, &o);
    uint64_t before = partition_log_size_bytes(log);
    double t0 = bench_now();
    rc = partition_log_compact_now(log);
    if (rc == LOG_OK)
        log_engine_drive(&engine, &ring, NULL);
    double secs = bench_now() - t0;
    struct log_compact_stats st;
    partition_log_compact_stats(log, &st);
    uint64_t after = partition_log_size_bytes(log);
    double mbps = secs > 0 ? (double)st.bytes_read / 1e6 / secs : 0;
    if (o.json)
        printf("{\"mode\":\"log-compact\",\"seconds\":%.3f,\"log_bytes_before\":%llu,"
               "\"log_bytes_after\":%llu,\"bytes_read\":%llu,\"segments_cleaned\":%llu,"
               "\"records_removed\":%llu,\"mb_per_sec_read\":%.1f}\n",
               secs, (unsigned long long)before, (unsigned long long)after,
               (unsigned long long)st.bytes_read, (unsigned long long)st.segments_cleaned,
               (unsigned long long)st.records_removed, mbps);
    else
        printf("log-compact: %llu -> %llu bytes in %.3f s; %llu bytes read (%.1f MB/s), %llu "
               "segments rewritten, %llu records removed\n",
               (unsigned long long)before, (unsigned long long)after, secs,
               (unsigned long long)st.bytes_read, mbps, (unsigned long long)st.segments_cleaned,
               (unsigned long long)st.records_removed);
    struct log_ctl c = {.on_complete = on_deleted};
    if (partition_log_delete(log, &c) == LOG_OK)
        log_engine_drive(&engine, &ring, &deleted);
    log_engine_drive(&engine, &ring, NULL);
    partition_log_free(log);
    io_uring_queue_exit(&ring);
    return rc == LOG_OK && st.passes == 1 ? 0 : 1;
}
