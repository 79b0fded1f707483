/*
 * Compaction (broker/log/compact*.c): a batch rewritten around the records
 * it keeps; a consumer reading a compacted log from its start sees the
 * newest value of every key (randomized against a model; the seed is
 * printed, RINGLOG_TEST_SEED replays it); offsets stay and gaps read as
 * the next batch; tombstones go after delete_retention_ms; only closed,
 * committed segments are touched; and a dead disk at every I/O call of a
 * pass, followed by a crash and a reopen, leaves the log whole.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "batch.h"
#include "compact_batch.h"
#include "log_harness.h"

static struct harness H;

static void setup(void)
{
    h_init(&H);
    H.quiet = true;
}

static void teardown(void)
{
    h_fini(&H);
}

TestSuite(log_compact, .init = setup, .fini = teardown);

/* ------------------------------------------------------------- the model */

#define NKEYS 40
#define MAX_OFFSETS 20000

/* One record as produced: key index (-1: no key), version (-1: tombstone). */
struct rec {
    int key, version;
};

struct model {
    struct rec at[MAX_OFFSETS]; /* by offset */
    int64_t end;
    int latest[NKEYS]; /* newest version of each key, -1 tombstone, -2 never written */
    int64_t latest_off[NKEYS];
    long keyless;
};

static struct model M;

static void model_reset(void)
{
    memset(&M, 0, sizeof(M));
    for (int k = 0; k < NKEYS; k++) {
        M.latest[k] = -2;
        M.latest_off[k] = -1;
    }
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Builds one batch of n records (into buf) and notes them in the model from offset `base`. */
static size_t build(uint8_t *buf, size_t cap, const struct rec *recs, int n, rl_codec codec,
                    int64_t ts)
{
    static uint8_t tmp[64 << 10];
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, tmp, sizeof(tmp), NULL), RL_OK);
    char keys[64][16], vals[64][32];
    cr_assert(n <= 64);
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%03d", recs[i].key);
        snprintf(vals[i], sizeof(vals[i]), "v%d-%d-%.*s", recs[i].key, recs[i].version,
                 (int)(recs[i].version % 7) * 3, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        struct rl_record_in r = {.timestamp = ts + i};
        if (recs[i].key >= 0) {
            r.key = keys[i];
            r.key_len = strlen(keys[i]);
        }
        if (recs[i].version >= 0) {
            r.value = vals[i];
            r.value_len = strlen(vals[i]);
        }
        cr_assert_eq(rl_batch_builder_add(&b, &r), RL_OK);
    }
    if (codec == RL_CODEC_NONE) {
        size_t len = rl_batch_builder_finish(&b);
        cr_assert(len <= cap);
        memcpy(buf, tmp, len);
        return len;
    }
    int st;
    size_t len = rl_batch_builder_finish_compressed(&b, codec, buf, cap, &st);
    cr_assert_gt(len, 0, "compress: %d", st);
    return len;
}

static void note(const struct rec *recs, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert_lt(M.end, MAX_OFFSETS);
        M.at[M.end] = recs[i];
        if (recs[i].key < 0) {
            M.keyless++;
        } else {
            M.latest[recs[i].key] = recs[i].version;
            M.latest_off[recs[i].key] = M.end;
        }
        M.end++;
    }
}

static void append_recs(struct partition_log *log, const struct rec *recs, int n, rl_codec codec,
                        int64_t ts)
{
    static uint8_t buf[64 << 10];
    size_t len = build(buf, sizeof(buf), recs, n, codec, ts);
    int64_t base;
    cr_assert_eq(h_append(&H, log, buf, len, &base), LOG_OK);
    cr_assert_eq(base, M.end, "base %lld, model end %lld", (long long)base, (long long)M.end);
    note(recs, n);
}

/* Random batches: keys from NKEYS, about 1 in 10 a tombstone and 1 in 20 without a key. */
static void append_random(struct partition_log *log, int batches, int64_t ts)
{
    static int version = 0;
    for (int i = 0; i < batches; i++) {
        struct rec recs[8];
        int n = 1 + (int)(rnd() % 8);
        for (int r = 0; r < n; r++) {
            recs[r].key = rnd() % 20 == 0 ? -1 : (int)(rnd() % NKEYS);
            recs[r].version = rnd() % 10 == 0 ? -1 : ++version;
        }
        append_recs(log, recs, n, (rl_codec)(rnd() % 3), ts);
    }
}

/* ------------------------------------------------------- reading it back */

struct seen {
    int64_t offset;
    int key, version; /* as decoded from the bytes */
};

struct readback {
    struct seen *recs;
    long n;
    long control;
};

static void parse_record(const struct rl_record *r, int64_t offset, struct seen *out)
{
    out->offset = offset;
    out->key = -1;
    out->version = -1;
    if (r->key_len >= 0) {
        cr_assert_eq(r->key_len, 4);
        char k[5];
        memcpy(k, r->key, 4);
        k[4] = 0;
        out->key = atoi(k + 1);
    }
    if (r->value_len >= 0) {
        char v[64];
        cr_assert_lt(r->value_len, (int64_t)sizeof(v));
        memcpy(v, r->value, (size_t)r->value_len);
        v[r->value_len] = 0;
        int key, version;
        cr_assert_eq(sscanf(v, "v%d-%d", &key, &version), 2, "value %s", v);
        cr_assert_eq(key, out->key, "value of another key at %lld", (long long)offset);
        out->version = version;
    }
}

static void read_batch_records(const uint8_t *b, const struct rl_batch_header *h,
                               struct readback *rb)
{
    if (rl_batch_is_control(h)) {
        rb->control++;
        return;
    }
    uint8_t *plain = NULL;
    const uint8_t *records = b + RL_BATCH_HEADER_BYTES;
    size_t len = rl_batch_total_bytes(h) - RL_BATCH_HEADER_BYTES;
    if (rl_batch_codec(h) != RL_CODEC_NONE) {
        cr_assert_eq(rl_batch_decompress_records(b, h, &plain, &len), RL_OK);
        records = plain;
    }
    struct rl_record_iter it;
    rl_record_iter_init_raw(&it, records, len, h);
    struct rl_record r;
    int rc;
    while ((rc = rl_record_iter_next(&it, &r)) == RL_OK) {
        rb->recs = realloc(rb->recs, (size_t)(rb->n + 1) * sizeof(*rb->recs));
        parse_record(&r, h->base_offset + r.offset_delta, &rb->recs[rb->n++]);
    }
    cr_assert_eq(rc, RL_END);
    free(plain);
}

/* Reads the log from its start as a consumer does (gaps included): every record, in order. */
static void read_back(struct partition_log *log, struct readback *rb)
{
    memset(rb, 0, sizeof(*rb));
    int64_t off = partition_log_start_offset(log), end = partition_log_end_offset(log);
    while (off < end) {
        struct h_read_result rr;
        cr_assert_eq(h_read(&H, log, off, 256 << 10, &rr), LOG_OK, "read at %lld", (long long)off);
        cr_assert_gt(rr.next_offset, off, "a read at %lld does not move on", (long long)off);
        struct rl_batch_iter it;
        rl_batch_iter_init(&it, rr.data, rr.len, RL_BATCH_ABSOLUTE_MAX_BYTES);
        it.allow_control = true;
        const uint8_t *b;
        struct rl_batch_header h;
        int rc;
        while ((rc = rl_batch_iter_next(&it, &b, &h)) == RL_OK)
            if (rl_batch_last_offset(&h) >= off)
                read_batch_records(b, &h, rb);
        cr_assert_eq(rc, RL_END, "batch checksum or layout: %d", rc);
        free(rr.data);
        off = rr.next_offset;
    }
    for (long i = 1; i < rb->n; i++)
        cr_assert_gt(rb->recs[i].offset, rb->recs[i - 1].offset, "offsets must grow");
}

/*
 * What a consumer reading from the start ends with is the model's newest
 * value of every key, every record is the one the model has at its offset,
 * and every record without a key is there.
 */
static void expect_consumer_state(const struct readback *rb)
{
    int state[NKEYS];
    long keyless = 0;
    for (int k = 0; k < NKEYS; k++)
        state[k] = -2;
    for (long i = 0; i < rb->n; i++) {
        const struct seen *s = &rb->recs[i];
        const struct rec *want = &M.at[s->offset];
        cr_assert_eq(s->key, want->key, "offset %lld: key", (long long)s->offset);
        cr_assert_eq(s->version, want->version, "offset %lld: version", (long long)s->offset);
        if (s->key < 0)
            keyless++;
        else
            state[s->key] = s->version;
    }
    cr_assert_eq(keyless, M.keyless, "records without a key stay");
    for (int k = 0; k < NKEYS; k++) {
        if (M.latest[k] == -1)
            cr_assert(state[k] == -1 || state[k] == -2, "key %d: deleted, reads %d", k, state[k]);
        else
            cr_assert_eq(state[k], M.latest[k], "key %d: newest %d, reads %d", k, M.latest[k],
                         state[k]);
    }
}

/* Below `limit`, no key appears twice. */
static void expect_unique_below(const struct readback *rb, int64_t limit)
{
    int64_t where[NKEYS];
    for (int k = 0; k < NKEYS; k++)
        where[k] = -1;
    for (long i = 0; i < rb->n && rb->recs[i].offset < limit; i++) {
        int k = rb->recs[i].key;
        if (k < 0)
            continue;
        cr_assert_eq(where[k], -1, "key %d at %lld and %lld, below %lld", k, (long long)where[k],
                     (long long)rb->recs[i].offset, (long long)limit);
        where[k] = rb->recs[i].offset;
    }
}

static void compact(struct partition_log *log)
{
    int rc = partition_log_compact_now(log);
    cr_assert_eq(rc, LOG_OK, "compact: %s", log_status_str(rc));
    h_drive(&H);
    cr_assert(!partition_log_compacting(log));
}

static void compact_cfg(struct partition_log_config *cfg)
{
    h_cfg(cfg);
    cfg->segment_bytes = 8 << 10;
    cfg->cleanup_policy = LOG_CLEANUP_COMPACT;
}

/* A compacted partition with `batches` random batches from `seed`. */
static struct partition_log *open_random(uint64_t seed, int batches)
{
    rng_state = seed;
    model_reset();
    struct partition_log_config cfg;
    compact_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    append_random(log, batches, H.now_ms);
    return log;
}

static uint64_t seed_from_env(void)
{
    const char *s = getenv("RINGLOG_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
    if (seed == 0)
        seed = 1;
    fprintf(stderr, "log_compact: seed %llu (RINGLOG_TEST_SEED replays it)\n",
            (unsigned long long)seed);
    return seed;
}

/* ------------------------------------------------------------ the tests */

static bool keep_even(void *ctx, const struct rl_record *r, int64_t offset)
{
    (void)ctx;
    (void)r;
    return offset % 2 == 0;
}

static bool keep_last(void *ctx, const struct rl_record *r, int64_t offset)
{
    (void)r;
    return offset == *(int64_t *)ctx;
}

/* A batch keeps its base offset, epoch, codec and producer; kept records keep their offsets. */
Test(log_compact, batch_rewrite_keeps_offsets_and_checksums)
{
    for (int codec = 0; codec < 3; codec++) {
        model_reset();
        uint8_t buf[8192];
        struct rec recs[7];
        for (int i = 0; i < 7; i++)
            recs[i] = (struct rec){.key = i, .version = 100 + i};
        size_t len = build(buf, sizeof(buf), recs, 7, (rl_codec)codec, 5000);
        rl_batch_stamp(buf, 40, 3);
        struct rl_batch_header h;
        cr_assert_eq(rl_batch_validate(buf, len, sizeof(buf), &h), RL_OK);
        struct compact_scratch s = {0};
        const uint8_t *out;
        size_t out_len;
        int r = compact_batch_filter(buf, &h, keep_even, NULL, &s, &out, &out_len);
        cr_assert_eq(r, COMPACT_BATCH_REBUILT, "codec %d", codec);
        struct rl_batch_header nh;
        cr_assert_eq(rl_batch_validate((uint8_t *)out, out_len, sizeof(buf), &nh), RL_OK,
                     "codec %d: the rebuilt batch validates", codec);
        cr_assert_eq(nh.base_offset, 40);
        cr_assert_eq(nh.leader_epoch, 3);
        cr_assert_eq(rl_batch_codec(&nh), (rl_codec)codec);
        cr_assert_eq(nh.record_count, 4); /* 40, 42, 44, 46 */
        cr_assert_eq(nh.last_offset_delta, 6);
        cr_assert_eq(nh.first_timestamp, h.first_timestamp);
        cr_assert_eq(nh.max_timestamp, h.max_timestamp);
        struct readback rb = {0};
        read_batch_records(out, &nh, &rb);
        cr_assert_eq(rb.n, 4);
        for (long i = 0; i < rb.n; i++) {
            cr_assert_eq(rb.recs[i].offset, 40 + 2 * i);
            cr_assert_eq(rb.recs[i].version, 100 + 2 * i);
        }
        free(rb.recs);
        /* The last record alone: a batch of one whose offset is its base + 6. */
        int64_t last = 46;
        r = compact_batch_filter(buf, &h, keep_last, &last, &s, &out, &out_len);
        cr_assert_eq(r, COMPACT_BATCH_REBUILT);
        cr_assert_eq(rl_batch_validate((uint8_t *)out, out_len, sizeof(buf), &nh), RL_OK);
        cr_assert_eq(nh.record_count, 1);
        cr_assert_eq(rl_batch_last_offset(&nh), 46);
        last = 99;
        cr_assert_eq(compact_batch_filter(buf, &h, keep_last, &last, &s, &out, &out_len),
                     COMPACT_BATCH_DROPPED);
        compact_scratch_free(&s);
    }
}

/*
 * Randomized: keys overwritten many times, tombstones, records without a
 * key, compressed batches, a control batch; compacted while more is
 * appended, several passes. A consumer from the start ends with the model's
 * newest value of every key, and below the compacted offset no key repeats.
 */
Test(log_compact, consumer_from_start_sees_the_newest_value_of_every_key)
{
    rng_state = seed_from_env();
    model_reset();
    struct partition_log_config cfg;
    compact_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    append_random(log, 150, H.now_ms);
    uint8_t ctl[256];
    size_t clen = h_control_batch(ctl, sizeof(ctl), RL_CONTROL_EPOCH_MARKER, H.now_ms);
    struct h_append ha;
    cr_assert_eq(h_append_async(&H, log, &ha, ctl, clen, LOG_APPEND_CONTROL, 1), LOG_OK);
    h_drive(&H);
    cr_assert_eq(ha.written_status, LOG_OK);
    M.at[M.end++] = (struct rec){.key = -3, .version = -3}; /* not a record: skipped */
    for (int round = 0; round < 4; round++) {
        uint64_t before = partition_log_size_bytes(log);
        compact(log);
        struct readback rb;
        read_back(log, &rb);
        expect_consumer_state(&rb);
        expect_unique_below(&rb, partition_log_compacted_offset(log));
        cr_assert_eq(rb.control, 1, "the control batch stays");
        cr_assert_lt(partition_log_size_bytes(log), before, "round %d: nothing removed", round);
        free(rb.recs);
        append_random(log, 100, H.now_ms);
    }
    struct log_compact_stats st;
    partition_log_compact_stats(log, &st);
    cr_assert_eq(st.passes, 4);
    cr_assert_gt(st.segments_cleaned, 0);
    cr_assert_gt(st.records_removed, 0);
    cr_assert_gt(st.bytes_removed, 0);
    cr_assert_eq(atomic_load(&H.engine.compact.passes), 4);
    /* After a clean restart, the swapped-in index files are used as they are. */
    cr_assert_eq(h_close(&H, log), LOG_OK);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(rep.rebuilt_indexes, 0);
    struct readback rb;
    read_back(log, &rb);
    expect_consumer_state(&rb);
    free(rb.recs);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* Reads at every offset: one inside a removed gap returns the batch that follows it. */
Test(log_compact, a_read_inside_a_gap_returns_the_next_batch)
{
    struct partition_log *log = open_random(12345, 120);
    compact(log);
    struct readback rb;
    read_back(log, &rb);
    int64_t limit = partition_log_compacted_offset(log);
    long gaps = 0, i = 0;
    for (int64_t off = partition_log_start_offset(log); off < limit; off++) {
        while (i < rb.n && rb.recs[i].offset < off)
            i++;
        cr_assert_lt(i, rb.n);
        int64_t next = rb.recs[i].offset; /* the first surviving record at or after off */
        gaps += next != off;
        /* A read stays in one segment: at a gap at its end, it is empty and says where the
         * next segment starts, and the fetch continues there (partition_read.c). */
        struct h_read_result rr;
        int64_t at = off;
        for (int hop = 0;; hop++) {
            cr_assert_eq(h_read(&H, log, at, 64 << 10, &rr), LOG_OK);
            if (rr.len > 0)
                break;
            cr_assert(rr.next_offset > at && hop < 3, "offset %lld: stuck", (long long)off);
            at = rr.next_offset;
            free(rr.data);
        }
        struct rl_batch_header h;
        rl_batch_header_read(rr.data, rr.len, &h);
        cr_assert(h.base_offset <= next && rl_batch_last_offset(&h) >= next,
                  "read at %lld: batch [%lld, %lld] does not hold %lld", (long long)off,
                  (long long)h.base_offset, (long long)rl_batch_last_offset(&h), (long long)next);
        free(rr.data);
    }
    cr_assert_gt(gaps, 0, "the test needs gaps");
    free(rb.recs);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* A tombstone stays delete_retention_ms after its timestamp, then goes, with its key. */
Test(log_compact, tombstones_vanish_after_the_delay)
{
    model_reset();
    struct partition_log_config cfg;
    compact_cfg(&cfg);
    cfg.delete_retention_ms = 60000;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    for (int v = 1; v <= 3; v++)
        for (int k = 0; k < 10; k++)
            append_recs(log, &(struct rec){.key = k, .version = v * 100 + k}, 1, RL_CODEC_NONE,
                        H.now_ms);
    for (int k = 0; k < 5; k++) /* keys 0..4 deleted */
        append_recs(log, &(struct rec){.key = k, .version = -1}, 1, RL_CODEC_NONE, H.now_ms);
    /* Keys 20.. fill segments until the tombstones are in a closed one. */
    for (int i = 0; i < 200; i++)
        append_recs(log, &(struct rec){.key = 20 + i % 20, .version = 1000 + i}, 1, RL_CODEC_NONE,
                    H.now_ms);
    compact(log);
    struct readback rb;
    read_back(log, &rb);
    expect_consumer_state(&rb);
    long tombstones = 0;
    for (long i = 0; i < rb.n; i++)
        tombstones += rb.recs[i].key >= 0 && rb.recs[i].version < 0;
    cr_assert_eq(tombstones, 5, "young tombstones stay");
    free(rb.recs);

    /* The tick starts a pass by itself once they are due, with nothing new to compact. */
    H.now_ms += 60001;
    log_engine_tick(&H.engine);
    cr_assert(partition_log_compacting(log), "a tombstone due starts a pass");
    h_drive(&H);
    read_back(log, &rb);
    expect_consumer_state(&rb);
    for (long i = 0; i < rb.n; i++)
        cr_assert(rb.recs[i].key >= 5 || rb.recs[i].key < 0, "key %d at %lld is still there",
                  rb.recs[i].key, (long long)rb.recs[i].offset);
    free(rb.recs);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* Never past the high watermark, never the active segment; the tick honours the dirty ratio. */
Test(log_compact, only_committed_closed_segments_are_compacted)
{
    model_reset();
    struct partition_log_config cfg;
    compact_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    for (int i = 0; i < 400; i++)
        append_recs(log, &(struct rec){.key = i % 4, .version = i}, 1, RL_CODEC_NONE, H.now_ms);
    int64_t hw = 150;
    partition_log_set_high_watermark(log, hw);
    compact(log);
    int64_t done = partition_log_compacted_offset(log);
    cr_assert_leq(done, hw, "compacted to %lld past the watermark", (long long)done);
    cr_assert_gt(done, 0);
    struct readback rb;
    read_back(log, &rb);
    expect_consumer_state(&rb);
    /* Every record at or past the compacted offset is still there. */
    long past = 0;
    for (long i = 0; i < rb.n; i++)
        past += rb.recs[i].offset >= done;
    cr_assert_eq(past, M.end - done);
    free(rb.recs);

    /* The watermark moves to the end: the tick compacts (all of it is dirty now) up to the
     * active segment, which keeps its duplicates. */
    partition_log_set_high_watermark(log, partition_log_end_offset(log));
    H.now_ms += 2000;
    log_engine_tick(&H.engine);
    h_drive(&H);
    cr_assert_gt(partition_log_compacted_offset(log), done);
    read_back(log, &rb);
    expect_consumer_state(&rb);
    expect_unique_below(&rb, partition_log_compacted_offset(log));
    long active = 0;
    for (long i = 0; i < rb.n; i++)
        active += rb.recs[i].offset >= partition_log_compacted_offset(log);
    cr_assert_gt(active, 4, "the active segment keeps its duplicates");
    free(rb.recs);

    /* Nothing dirty: no pass starts. */
    H.now_ms += 2000;
    log_engine_tick(&H.engine);
    cr_assert(!partition_log_compacting(log));
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

/* Appends go on while a pass runs, and the pass's result stays consistent with them. */
Test(log_compact, appends_go_on_during_a_pass)
{
    struct partition_log *log = open_random(777, 200);
    cr_assert_eq(partition_log_compact_now(log), LOG_OK);
    int during = 0;
    while (partition_log_compacting(log) && during < 100) {
        append_random(log, 1, H.now_ms); /* h_append drives the ring: the pass moves too */
        during++;
    }
    cr_assert_gt(during, 0);
    h_drive(&H);
    struct readback rb;
    read_back(log, &rb);
    expect_consumer_state(&rb);
    free(rb.recs);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static long count_leftovers(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/topics/t/0", dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".cleaned") != NULL;
    closedir(d);
    return n;
}

/* Reads at every `stride`-th offset (through the index) return whole, valid batches from there. */
static void expect_reads_at(struct partition_log *log, int stride, uint64_t k)
{
    int64_t end = partition_log_end_offset(log);
    for (int64_t off = partition_log_start_offset(log); off < end; off += stride) {
        struct h_read_result rr;
        cr_assert_eq(h_read(&H, log, off, 64 << 10, &rr), LOG_OK, "call %llu: read at %lld",
                     (unsigned long long)k, (long long)off);
        struct rl_batch_iter it;
        rl_batch_iter_init(&it, rr.data, rr.len, RL_BATCH_ABSOLUTE_MAX_BYTES);
        it.allow_control = true;
        const uint8_t *b;
        struct rl_batch_header h;
        int rc, n = 0;
        while ((rc = rl_batch_iter_next(&it, &b, &h)) == RL_OK)
            cr_assert(n++ > 0 || rl_batch_last_offset(&h) >= off, "call %llu: read at %lld",
                      (unsigned long long)k, (long long)off);
        cr_assert_eq(rc, RL_END, "call %llu: read at %lld: bad batch", (unsigned long long)k,
                     (long long)off);
        free(rr.data);
    }
}

/* A random log over small segments: many removals in every segment. */
static void fill_random(struct partition_log *log)
{
    rng_state = 99;
    append_random(log, 80, H.now_ms);
}

/*
 * One removal near the start of a long segment (key 0's first value, then
 * records without a key, then key 0 again in a later segment): the old
 * index's positions still lie inside the new, slightly shorter segment, so
 * an old index left beside the new data would pass open's quick check and
 * send reads into the middle of batches.
 */
static void fill_one_early_removal(struct partition_log *log)
{
    append_recs(log, &(struct rec){.key = 0, .version = 1}, 1, RL_CODEC_NONE, H.now_ms);
    struct rec none[8];
    for (int i = 0; i < 8; i++)
        none[i] = (struct rec){.key = -1, .version = 10 + i};
    for (int b = 0; b < 20; b++)
        append_recs(log, none, 8, RL_CODEC_NONE, H.now_ms);
    append_recs(log, &(struct rec){.key = 0, .version = 2}, 1, RL_CODEC_NONE, H.now_ms);
    for (int b = 0; b < 20; b++) /* until key 0's second value is in a closed segment */
        append_recs(log, none, 8, RL_CODEC_NONE, H.now_ms);
}

/*
 * Crash points: the disk dies at the pass's k-th I/O call (every call from
 * there fails), the process "crashes" (the log is dropped without a close),
 * and the log reopens on a working disk: every segment is the old one or
 * the compacted one, whole; a consumer sees the newest value of every key;
 * no temp file is left.
 */
static void crash_at_every_call(uint64_t segment_bytes, void (*fill)(struct partition_log *))
{
    struct partition_log_config cfg;
    compact_cfg(&cfg);
    cfg.segment_bytes = segment_bytes;
    int compacted = 0, untouched = 0;
    uint64_t k;
    for (k = 1; k < 1000; k++) {
        h_rm_rf(H.dir);
        mkdir(H.dir, 0755);
        model_reset();
        struct partition_log *log = h_open(&H, &cfg, NULL);
        fill(log);
        uint64_t before = partition_log_size_bytes(log);
        uint64_t injected_before = H.fault.injected;
        log_io_fault_arm(&H.fault, H.fault.calls + k, EIO, true);
        cr_assert_eq(partition_log_compact_now(log), LOG_OK);
        h_drive(&H);
        bool injected = H.fault.injected > injected_before;
        log_io_fault_disarm(&H.fault);
        cr_assert(!partition_log_compacting(log));
        partition_log_free(log);
        struct log_open_report rep;
        unsigned errors = H.errors;
        log = h_open(&H, &cfg, &rep);
        cr_assert_eq(rep.truncated_bytes, 0, "call %llu: data lost", (unsigned long long)k);
        cr_assert_eq(H.errors, errors, "call %llu: open: %s", (unsigned long long)k, H.last_error);
        cr_assert_eq(count_leftovers(H.dir), 0, "call %llu: temp files left",
                     (unsigned long long)k);
        struct readback rb;
        read_back(log, &rb);
        expect_consumer_state(&rb);
        free(rb.recs);
        expect_reads_at(log, 5, k);
        if (partition_log_size_bytes(log) < before)
            compacted++;
        else
            untouched++;
        /* And it compacts fine now. */
        compact(log);
        read_back(log, &rb);
        expect_consumer_state(&rb);
        free(rb.recs);
        cr_assert_eq(h_close(&H, log), LOG_OK);
        if (!injected)
            break; /* the pass ran out of calls before k: every point is covered */
    }
    cr_assert_lt(k, 1000, "every call point was tried");
    cr_assert_gt(compacted, 0);
    cr_assert_gt(untouched, 0);
}

Test(log_compact, crash_at_every_call_of_a_pass_loses_nothing)
{
    crash_at_every_call(4 << 10, fill_random);
}

Test(log_compact, crash_at_every_call_of_a_swap_never_pairs_old_index_and_new_data)
{
    crash_at_every_call(4 << 10, fill_one_early_removal);
}
