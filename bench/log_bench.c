/*
 * ringlog-bench log: appends through the storage engine alone, on one
 * io_uring, the way a shard drives it (log_engine_submit each turn, CQEs
 * dispatched through rl_completion), and reports MB/s and, for
 * flush=always, fdatasync calls per second and batches per fdatasync.
 *
 * ringlog-bench log-recover: times partition_log_open on what `log` left
 * (after a clean close, or after --no-close, which exits like a SIGKILL).
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "bench.h"
#include "log_io_fault.h"
#include "log_io_uring.h"
#include "partition_log.h"

struct slot {
    struct log_append a;
    bool busy;
};

struct bench_state {
    uint64_t appended_bytes, done_bytes, batches_done, failures;
    bool always;
};

static struct bench_state S;

static void on_written(struct log_append *a, int status)
{
    struct slot *s = (struct slot *)a;
    if (status != LOG_OK) {
        S.failures++;
        fprintf(stderr, "ringlog-bench log: append failed: %s\n", log_status_str(status));
    }
    if (!S.always) {
        s->busy = false;
        S.done_bytes += a->len;
        S.batches_done++;
    }
}

static void on_durable(struct log_append *a, int status)
{
    struct slot *s = (struct slot *)a;
    (void)status;
    s->busy = false;
    S.done_bytes += a->len;
    S.batches_done++;
}

static void engine_log(void *ctx, enum log_level level, const char *msg)
{
    (void)ctx;
    if (level >= LOG_LEVEL_WARN)
        fprintf(stderr, "ringlog-bench: %s\n", msg);
}

struct ctl_wait {
    struct log_ctl c;
    bool done;
    int status;
};

static void ctl_done(struct log_ctl *c, int status)
{
    struct ctl_wait *w = (struct ctl_wait *)c;
    w->done = true;
    w->status = status;
}

/* A finished batch of `msg_size`-byte records, as big as fits in batch_bytes. */
static size_t build_batch(uint8_t *buf, size_t cap, size_t msg_size)
{
    struct rl_batch_builder b;
    struct rl_batch_producer prod = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    if (rl_batch_builder_init(&b, buf, cap, &prod) != RL_OK)
        return 0;
    uint8_t *value = malloc(msg_size);
    for (size_t i = 0; i < msg_size; i++)
        value[i] = (uint8_t)('a' + i % 26);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct rl_record_in r = {.value = value,
                             .value_len = msg_size,
                             .timestamp = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000};
    while (rl_batch_builder_add(&b, &r) == RL_OK)
        ;
    free(value);
    return rl_batch_builder_finish(&b);
}

int bench_log(int argc, char **argv)
{
    const char *dir = NULL;
    int64_t bytes = -1, batch_bytes = 64 << 10, msg_size = 1024, segment_bytes = 1ll << 30;
    const char *flush = "none";
    bool json = false, no_close = false, no_prealloc = false;
    int64_t group_bytes = 32 << 20;
    int inflight = 0, groups = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dir") == 0 && v) {
            dir = v;
            i++;
        } else if (strcmp(a, "--bytes") == 0 && v) {
            bytes = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--batch-bytes") == 0 && v) {
            batch_bytes = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--msg-size") == 0 && v) {
            msg_size = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--segment-bytes") == 0 && v) {
            segment_bytes = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--flush") == 0 && v) {
            flush = v;
            i++;
        } else if (strcmp(a, "--inflight") == 0 && v) {
            inflight = atoi(v);
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--no-close") == 0) {
            no_close = true;
        } else if (strcmp(a, "--no-prealloc") == 0) {
            no_prealloc = true;
        } else if (strcmp(a, "--group-bytes") == 0 && v) {
            group_bytes = bench_parse_size(v);
            i++;
        } else if (strcmp(a, "--groups") == 0 && v) {
            groups = atoi(v); /* write groups in flight; 0: the engine's default */
            i++;
        } else {
            fprintf(stderr, "ringlog-bench log: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (dir == NULL || bytes <= 0 || batch_bytes < 128 || msg_size <= 0 ||
        msg_size + 64 > batch_bytes) {
        fprintf(stderr, "ringlog-bench log: --dir DIR and --bytes N are required "
                        "(and --msg-size must fit in --batch-bytes)\n");
        return 2;
    }
    struct partition_log_config cfg;
    partition_log_config_default(&cfg);
    if (partition_log_parse_flush(flush, &cfg) != LOG_OK) {
        fprintf(stderr, "ringlog-bench log: --flush none|always|interval:MS\n");
        return 2;
    }
    cfg.segment_bytes = (uint64_t)segment_bytes;
    cfg.retention_ms = -1; /* a benchmark keeps what it writes */
    cfg.max_append_bytes = (uint32_t)(batch_bytes > (8 << 20) ? batch_bytes : (8 << 20));
    cfg.max_group_bytes = (uint32_t)group_bytes;
    if (groups > 0)
        cfg.max_inflight_groups = (uint32_t)groups;
    cfg.preallocate = !no_prealloc;
    S.always = cfg.flush == LOG_FLUSH_ALWAYS;
    if (inflight <= 0) {
        /*
         * About 8 MiB of batches in flight. A broker writes a batch right
         * after it arrived from the network, while it is still in the CPU's
         * caches; a window of 64 MiB of distinct buffers would measure cache
         * misses in the kernel's page-cache copy instead (measured: 450-690
         * MB/s with a 64 MiB window against 1150-1350 MB/s with 4 MiB, same
         * disk, same run), and the raw-disk yardstick writes from one hot
         * buffer. --inflight N overrides.
         */
        inflight = (int)((8u << 20) / batch_bytes);
        if (inflight < 4)
            inflight = 4;
        if (inflight > 1024)
            inflight = 1024;
    }

    struct io_uring ring;
    int rc = io_uring_queue_init(512, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "ringlog-bench log: io_uring_queue_init: %s\n", strerror(-rc));
        return 1;
    }
    struct log_io_uring uio;
    log_io_uring_init(&uio, &ring);
    /* The fault injector, never armed, counts the fdatasync calls. */
    struct log_io_fault counter;
    log_io_fault_init(&counter, &uio.io);
    counter.op_mask = 1u << LOG_IO_FDATASYNC;
    struct log_engine engine;
    struct log_engine_config ec = {.io = &counter.io, .log = engine_log};
    log_engine_init(&engine, &ec);
    struct partition_log *log;
    struct log_open_report rep;
    rc = partition_log_open(&engine, dir, "bench", 0, &cfg, &log, &rep);
    if (rc != LOG_OK) {
        fprintf(stderr, "ringlog-bench log: open: %s\n", rep.message);
        return 1;
    }

    uint8_t *tmpl = malloc((size_t)batch_bytes);
    size_t blen = build_batch(tmpl, (size_t)batch_bytes, (size_t)msg_size);
    struct slot *slots = calloc((size_t)inflight, sizeof(*slots));
    uint8_t *bufs = malloc((size_t)inflight * blen);
    for (int i = 0; i < inflight; i++)
        memcpy(bufs + (size_t)i * blen, tmpl, blen);
    uint64_t syncs0 = counter.calls;

    double t0 = bench_now(), last_progress = t0;
    while (S.done_bytes < (uint64_t)bytes && S.failures == 0) {
        for (int i = 0; i < inflight && S.appended_bytes < (uint64_t)bytes; i++) {
            struct slot *s = &slots[i];
            if (s->busy)
                continue;
            memset(&s->a, 0, sizeof(s->a));
            s->a.data = bufs + (size_t)i * blen;
            s->a.len = blen;
            s->a.leader_epoch = 1;
            s->a.on_written = on_written;
            s->a.on_durable = S.always ? on_durable : NULL;
            if (partition_log_append(log, &s->a) != LOG_OK) {
                fprintf(stderr, "ringlog-bench log: append refused\n");
                return 1;
            }
            s->busy = true;
            S.appended_bytes += blen;
        }
        log_engine_submit(&engine);
        io_uring_submit_and_wait(&ring, 1);
        log_ring_dispatch_ready(&ring);
        double now = bench_now();
        if (now - last_progress >= 1.0) {
            log_engine_tick(&engine);
            fprintf(stderr, "  %.1f s: %.0f MB, %.1f MB/s\n", now - t0, (double)S.done_bytes / 1e6,
                    (double)S.done_bytes / 1e6 / (now - t0));
            last_progress = now;
        }
    }
    /* The run ends with one flush: everything appended is on disk. */
    struct ctl_wait w = {.c.on_complete = ctl_done};
    partition_log_flush(log, &w.c);
    log_engine_drive(&engine, &ring, &w.done);
    double secs = bench_now() - t0;
    uint64_t syncs = counter.calls - syncs0;
    double mbps = (double)S.done_bytes / 1e6 / secs;
    if (json)
        printf("{\"mode\":\"log\",\"flush\":\"%s\",\"msg_size\":%lld,\"batch_bytes\":%zu,"
               "\"bytes\":%llu,\"batches\":%llu,\"seconds\":%.3f,\"mb_per_sec\":%.1f,"
               "\"fdatasyncs\":%llu,\"fdatasyncs_per_sec\":%.1f,\"batches_per_fdatasync\":%.2f,"
               "\"errors\":%llu}\n",
               flush, (long long)msg_size, blen, (unsigned long long)S.done_bytes,
               (unsigned long long)S.batches_done, secs, mbps, (unsigned long long)syncs,
               (double)syncs / secs, syncs ? (double)S.batches_done / (double)syncs : 0.0,
               (unsigned long long)S.failures);
    else
        printf("log: flush=%s, %zu-byte batches of %lld-byte messages: %llu bytes in %.3f s, "
               "%.1f MB/s; %llu fdatasync (%.1f/s, %.2f batches each)\n",
               flush, blen, (long long)msg_size, (unsigned long long)S.done_bytes, secs, mbps,
               (unsigned long long)syncs, (double)syncs / secs,
               syncs ? (double)S.batches_done / (double)syncs : 0.0);
    if (no_close) {
        fflush(stdout);
        _exit(S.failures ? 1 : 0); /* like a SIGKILL: no clean-shutdown checkpoint */
    }
    struct ctl_wait c = {.c.on_complete = ctl_done};
    partition_log_close(log, &c.c);
    log_engine_drive(&engine, &ring, &c.done);
    log_engine_drive(&engine, &ring, NULL);
    partition_log_free(log);
    io_uring_queue_exit(&ring);
    free(tmpl);
    free(slots);
    free(bufs);
    return S.failures ? 1 : 0;
}

int bench_log_recover(int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    int64_t segment_bytes = 1ll << 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--segment-bytes") == 0 && i + 1 < argc)
            segment_bytes = bench_parse_size(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else {
            fprintf(stderr, "ringlog-bench log-recover: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "ringlog-bench log-recover: --dir DIR is required\n");
        return 2;
    }
    struct io_uring ring;
    if (io_uring_queue_init(64, &ring, 0) < 0)
        return 1;
    struct log_io_uring uio;
    log_io_uring_init(&uio, &ring);
    struct log_engine engine;
    struct log_engine_config ec = {.io = &uio.io, .log = engine_log};
    log_engine_init(&engine, &ec);
    struct partition_log_config cfg;
    partition_log_config_default(&cfg);
    cfg.segment_bytes = (uint64_t)segment_bytes;
    cfg.retention_ms = -1;
    cfg.max_append_bytes = 8 << 20;
    struct partition_log *log;
    struct log_open_report rep;
    double t0 = bench_now();
    int rc = partition_log_open(&engine, dir, "bench", 0, &cfg, &log, &rep);
    double secs = bench_now() - t0;
    if (rc != LOG_OK) {
        fprintf(stderr, "ringlog-bench log-recover: open: %s\n", rep.message);
        return 1;
    }
    uint64_t size = partition_log_size_bytes(log);
    if (json)
        printf("{\"mode\":\"log-recover\",\"clean\":%s,\"seconds\":%.4f,\"log_bytes\":%llu,"
               "\"segments\":%u,\"scanned_bytes\":%llu,\"truncated_bytes\":%llu,"
               "\"rebuilt_indexes\":%u}\n",
               rep.clean ? "true" : "false", secs, (unsigned long long)size, rep.segments,
               (unsigned long long)rep.scanned_bytes, (unsigned long long)rep.truncated_bytes,
               rep.rebuilt_indexes);
    else
        printf("log-recover: %s open of %llu bytes in %u segments: %.4f s (%llu bytes verified, "
               "%llu dropped, %u indexes rebuilt)\n",
               rep.clean ? "clean" : "crash-recovery", (unsigned long long)size, rep.segments, secs,
               (unsigned long long)rep.scanned_bytes, (unsigned long long)rep.truncated_bytes,
               rep.rebuilt_indexes);
    /* Leave it cleanly closed, so the next measurement starts from a clean shutdown. */
    struct ctl_wait c = {.c.on_complete = ctl_done};
    partition_log_close(log, &c.c);
    log_engine_drive(&engine, &ring, &c.done);
    log_engine_drive(&engine, &ring, NULL);
    partition_log_free(log);
    io_uring_queue_exit(&ring);
    return 0;
}
