/* See log_harness.h. */
#define _XOPEN_SOURCE 700
#include "log_harness.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"

static int64_t fake_now(void *ctx)
{
    return ((struct harness *)ctx)->now_ms;
}

static void capture(void *ctx, enum log_level level, const char *msg)
{
    struct harness *h = ctx;
    if (level == LOG_LEVEL_ERROR) {
        h->errors++;
        snprintf(h->last_error, sizeof(h->last_error), "%s", msg);
    } else if (level == LOG_LEVEL_WARN) {
        h->warnings++;
        snprintf(h->last_warning, sizeof(h->last_warning), "%s", msg);
    }
    if (!h->quiet && level >= LOG_LEVEL_WARN)
        fprintf(stderr, "  [engine] %s\n", msg);
}

static void h_init_common(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    int rc = io_uring_queue_init(256, &h->ring, 0);
    cr_assert_eq(rc, 0, "io_uring_queue_init: %s", strerror(-rc));
    log_io_uring_init(&h->uio, &h->ring);
    log_io_fault_init(&h->fault, &h->uio.io);
    h->now_ms = 1700000000000ll;
    struct log_engine_config ec = {
        .io = &h->fault.io, .log = capture, .log_ctx = h, .now_ms = fake_now, .clock_ctx = h};
    log_engine_init(&h->engine, &ec);
}

void h_init_dir(struct harness *h, const char *dir)
{
    h_init_common(h);
    snprintf(h->dir, sizeof(h->dir), "%s", dir);
}

void h_fini_keep(struct harness *h)
{
    io_uring_queue_exit(&h->ring);
}

void h_init(struct harness *h)
{
    h_init_common(h);
    const char *tmp = getenv("TMPDIR");
    snprintf(h->dir, sizeof(h->dir), "%s/ringlog-log-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(h->dir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void h_rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void h_fini(struct harness *h)
{
    h_rm_rf(h->dir);
    io_uring_queue_exit(&h->ring);
}

void h_cfg(struct partition_log_config *cfg)
{
    partition_log_config_default(cfg);
    cfg->segment_bytes = 64 << 10;
    cfg->max_append_bytes = 32 << 10;
    cfg->index_interval_bytes = 1024;
    cfg->retention_ms = -1;
}

int h_open_status(struct harness *h, const struct partition_log_config *cfg,
                  struct partition_log **out, struct log_open_report *rep)
{
    return partition_log_open(&h->engine, h->dir, "t", 0, cfg, out, rep);
}

struct partition_log *h_open(struct harness *h, const struct partition_log_config *cfg,
                             struct log_open_report *rep)
{
    struct log_open_report local;
    if (rep == NULL)
        rep = &local;
    struct partition_log *log = NULL;
    int rc = h_open_status(h, cfg, &log, rep);
    cr_assert_eq(rc, LOG_OK, "open: %s: %s", log_status_str(rc), rep->message);
    return log;
}

void h_drive(struct harness *h)
{
    int rc = log_engine_drive(&h->engine, &h->ring, NULL);
    cr_assert_eq(rc, 0, "drive: %s", strerror(-rc));
}

void h_spin(struct harness *h, int ms)
{
    for (int i = 0; i < ms; i++) {
        log_engine_submit(&h->engine);
        io_uring_submit(&h->ring);
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_nsec = 1000000};
        io_uring_wait_cqe_timeout(&h->ring, &cqe, &ts);
        log_ring_dispatch_ready(&h->ring);
    }
}

bool h_wait_held(struct harness *h, uint32_t n)
{
    for (int i = 0; i < 5000 && log_io_fault_arrived(&h->fault) < n; i++)
        h_spin(h, 1);
    return log_io_fault_arrived(&h->fault) >= n;
}

struct h_ctl {
    struct log_ctl c;
    bool done;
    int status;
};

static void ctl_done(struct log_ctl *c, int status)
{
    struct h_ctl *hc = (struct h_ctl *)c;
    hc->done = true;
    hc->status = status;
}

static int run_ctl(struct harness *h, int (*fn)(struct partition_log *, struct log_ctl *),
                   struct partition_log *log, struct h_ctl *hc)
{
    hc->c.on_complete = ctl_done;
    int rc = fn(log, &hc->c);
    if (rc != LOG_OK)
        return rc;
    rc = log_engine_drive(&h->engine, &h->ring, &hc->done);
    cr_assert_eq(rc, 0, "drive: %s", strerror(-rc));
    cr_assert(hc->done);
    return hc->status;
}

int h_close(struct harness *h, struct partition_log *log)
{
    struct h_ctl hc = {0};
    int rc = run_ctl(h, partition_log_close, log, &hc);
    h_drive(h);
    partition_log_free(log);
    return rc;
}

int h_delete(struct harness *h, struct partition_log *log)
{
    struct h_ctl hc = {0};
    int rc = run_ctl(h, partition_log_delete, log, &hc);
    h_drive(h);
    partition_log_free(log);
    return rc;
}

int h_flush(struct harness *h, struct partition_log *log)
{
    struct h_ctl hc = {0};
    return run_ctl(h, partition_log_flush, log, &hc);
}

int h_retention(struct harness *h, struct partition_log *log)
{
    struct h_ctl hc = {0};
    return run_ctl(h, partition_log_enforce_retention, log, &hc);
}

int h_reset(struct harness *h, struct partition_log *log, int64_t offset, int32_t start_epoch)
{
    return h_reset_with(h, log, NULL, offset, start_epoch);
}

int h_reset_with(struct harness *h, struct partition_log *log, const struct log_ctl *in,
                 int64_t offset, int32_t start_epoch)
{
    struct h_ctl hc = {0};
    if (in)
        hc.c.config = in->config;
    hc.c.on_complete = ctl_done;
    int rc = partition_log_reset(log, offset, start_epoch, &hc.c);
    if (rc != LOG_OK)
        return rc;
    rc = log_engine_drive(&h->engine, &h->ring, &hc.done);
    cr_assert_eq(rc, 0);
    return hc.status;
}

int h_advance_start(struct harness *h, struct partition_log *log, int64_t offset)
{
    struct h_ctl hc = {0};
    hc.c.on_complete = ctl_done;
    int rc = partition_log_advance_start(log, offset, &hc.c);
    if (rc != LOG_OK)
        return rc;
    rc = log_engine_drive(&h->engine, &h->ring, &hc.done);
    cr_assert_eq(rc, 0);
    return hc.status;
}

int h_truncate(struct harness *h, struct partition_log *log, int64_t offset, int64_t *new_end)
{
    struct h_ctl hc = {0};
    hc.c.on_complete = ctl_done;
    int rc = partition_log_truncate(log, offset, &hc.c);
    if (rc != LOG_OK)
        return rc;
    rc = log_engine_drive(&h->engine, &h->ring, &hc.done);
    cr_assert_eq(rc, 0);
    if (new_end != NULL)
        *new_end = hc.c.offset;
    return hc.status;
}

size_t h_control_batch(uint8_t *buf, size_t cap, uint16_t type, int64_t timestamp)
{
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, buf, cap, NULL), RL_OK);
    uint8_t key[2] = {(uint8_t)type, (uint8_t)(type >> 8)};
    struct rl_record_in r = {.key = key, .key_len = sizeof(key), .timestamp = timestamp};
    cr_assert_eq(rl_batch_builder_add(&b, &r), RL_OK);
    size_t n = rl_batch_builder_finish(&b);
    rl_batch_make_control(buf, n);
    return n;
}

size_t h_batch(uint8_t *buf, size_t cap, uint64_t tag, int records, size_t value_len,
               int64_t timestamp)
{
    struct rl_batch_builder b;
    struct rl_batch_producer prod = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    cr_assert_eq(rl_batch_builder_init(&b, buf, cap, &prod), RL_OK);
    uint8_t value[4096];
    cr_assert(value_len >= 16 && value_len <= sizeof(value));
    for (int i = 0; i < records; i++) {
        memset(value, (int)(tag & 0xff), value_len);
        memcpy(value, &tag, 8);
        uint64_t idx = (uint64_t)i;
        memcpy(value + 8, &idx, 8);
        struct rl_record_in r = {
            .key = NULL, .value = value, .value_len = value_len, .timestamp = timestamp};
        cr_assert_eq(rl_batch_builder_add(&b, &r), RL_OK);
    }
    size_t n = rl_batch_builder_finish(&b);
    cr_assert_gt(n, 0);
    return n;
}

bool h_batch_check(const uint8_t *batch, size_t len, uint64_t *tag)
{
    struct rl_batch_header hd;
    if (rl_batch_validate(batch, len, RL_BATCH_ABSOLUTE_MAX_BYTES, &hd) != RL_OK)
        return false;
    struct rl_record_iter it;
    struct rl_record r;
    if (rl_record_iter_init(&it, batch, &hd) != RL_OK)
        return false;
    uint64_t t = 0;
    int64_t i = 0;
    while (rl_record_iter_next(&it, &r) == RL_OK) {
        if (r.value_len < 16)
            return false;
        uint64_t rt, ri;
        memcpy(&rt, r.value, 8);
        memcpy(&ri, r.value + 8, 8);
        if (i == 0)
            t = rt;
        if (rt != t || ri != (uint64_t)i)
            return false;
        for (int64_t j = 16; j < r.value_len; j++)
            if (r.value[j] != (uint8_t)(t & 0xff))
                return false;
        i++;
    }
    if (i != hd.record_count)
        return false;
    *tag = t;
    return true;
}

static unsigned callback_seq;

static void on_written(struct log_append *a, int status)
{
    struct h_append *ha = (struct h_append *)a;
    ha->written_seq = ++callback_seq;
    ha->written = true;
    ha->written_status = status;
}

static void on_durable(struct log_append *a, int status)
{
    struct h_append *ha = (struct h_append *)a;
    ha->durable_seq = ++callback_seq;
    ha->durable = true;
    ha->durable_status = status;
}

int h_append_async(struct harness *h, struct partition_log *log, struct h_append *ha, uint8_t *data,
                   size_t len, uint32_t flags, int32_t epoch)
{
    (void)h;
    memset(ha, 0, sizeof(*ha));
    ha->a.data = data;
    ha->a.len = len;
    ha->a.flags = flags;
    ha->a.leader_epoch = epoch;
    ha->a.on_written = on_written;
    ha->a.on_durable = on_durable;
    return partition_log_append(log, &ha->a);
}

int h_append(struct harness *h, struct partition_log *log, uint8_t *data, size_t len,
             int64_t *base_offset)
{
    struct h_append ha;
    int rc = h_append_async(h, log, &ha, data, len, 0, 1);
    if (rc != LOG_OK)
        return rc;
    rc = log_engine_drive(&h->engine, &h->ring, &ha.written);
    cr_assert_eq(rc, 0);
    if (base_offset != NULL)
        *base_offset = ha.a.base_offset;
    if (ha.written_status != LOG_OK)
        return ha.written_status;
    /* Under flush=always, durable comes with written. */
    h_drive(h);
    return ha.written_status;
}

struct h_read {
    struct log_read r;
    bool done;
    int status;
};

static void read_done(struct log_read *r, int status)
{
    struct h_read *hr = (struct h_read *)r;
    hr->done = true;
    hr->status = status;
}

static int finish_read(struct harness *h, struct h_read *hr, int rc, struct h_read_result *out)
{
    memset(out, 0, sizeof(*out));
    if (rc != LOG_OK) {
        out->status = rc;
        free(hr->r.buf);
        return rc;
    }
    rc = log_engine_drive(&h->engine, &h->ring, &hr->done);
    cr_assert_eq(rc, 0);
    out->status = hr->status;
    out->len = hr->r.len;
    out->next_offset = hr->r.next_offset;
    out->needed = hr->r.needed_bytes;
    out->data = malloc(out->len + 1);
    memcpy(out->data, hr->r.data, out->len);
    free(hr->r.buf);
    return out->status;
}

static int read_at(struct harness *h, struct partition_log *log, int64_t offset, size_t cap,
                   bool verify, struct h_read_result *out)
{
    struct h_read hr;
    memset(&hr, 0, sizeof(hr));
    hr.r.offset = offset;
    hr.r.max_offset = INT64_MAX;
    hr.r.buf = malloc(cap);
    hr.r.cap = cap;
    hr.r.verify = verify;
    hr.r.on_complete = read_done;
    return finish_read(h, &hr, partition_log_read(log, &hr.r), out);
}

int h_read(struct harness *h, struct partition_log *log, int64_t offset, size_t cap,
           struct h_read_result *out)
{
    return read_at(h, log, offset, cap, false, out);
}

int h_read_verify(struct harness *h, struct partition_log *log, int64_t offset, size_t cap,
                  struct h_read_result *out)
{
    return read_at(h, log, offset, cap, true, out);
}

int h_overwrite(struct harness *h, struct partition_log *log, const uint8_t *data, size_t len)
{
    struct h_ctl hc = {0};
    hc.c.on_complete = ctl_done;
    int rc = partition_log_overwrite(log, data, len, &hc.c);
    if (rc != LOG_OK)
        return rc;
    rc = log_engine_drive(&h->engine, &h->ring, &hc.done);
    cr_assert_eq(rc, 0);
    return hc.status;
}

int h_read_by_time(struct harness *h, struct partition_log *log, int64_t ts, size_t cap,
                   struct h_read_result *out)
{
    struct h_read hr;
    memset(&hr, 0, sizeof(hr));
    hr.r.max_offset = INT64_MAX;
    hr.r.buf = malloc(cap);
    hr.r.cap = cap;
    hr.r.on_complete = read_done;
    return finish_read(h, &hr, partition_log_read_by_time(log, ts, &hr.r), out);
}

long h_read_all(struct harness *h, struct partition_log *log, uint64_t *tags, int64_t *bases,
                long max)
{
    int64_t off = partition_log_start_offset(log);
    int64_t end = partition_log_end_offset(log);
    long n = 0;
    while (off < end) {
        struct h_read_result rr;
        int rc = h_read(h, log, off, 256 << 10, &rr);
        if (rc != LOG_OK) {
            fprintf(stderr, "read at %lld: %s\n", (long long)off, log_status_str(rc));
            free(rr.data);
            return -1;
        }
        if (rr.len == 0) {
            free(rr.data);
            if (rr.next_offset <= off)
                return -1;
            off = rr.next_offset;
            continue;
        }
        struct rl_batch_iter it;
        rl_batch_iter_init(&it, rr.data, rr.len, RL_BATCH_ABSOLUTE_MAX_BYTES);
        it.allow_control = true; /* the broker's own batches: tag UINT64_MAX */
        const uint8_t *b;
        struct rl_batch_header hd;
        int st;
        while ((st = rl_batch_iter_next(&it, &b, &hd)) == RL_OK) {
            uint64_t tag = UINT64_MAX;
            if ((h->allow_gaps ? hd.base_offset < off : hd.base_offset != off) ||
                (!rl_batch_is_control(&hd) && !h_batch_check(b, rl_batch_total_bytes(&hd), &tag))) {
                fprintf(stderr, "bad batch at %lld (base %lld)\n", (long long)off,
                        (long long)hd.base_offset);
                free(rr.data);
                return -1;
            }
            if (n < max) {
                if (tags != NULL)
                    tags[n] = tag;
                if (bases != NULL)
                    bases[n] = hd.base_offset;
            }
            n++;
            off = rl_batch_last_offset(&hd) + 1;
        }
        free(rr.data);
        if (st != RL_END)
            return -1;
    }
    return n;
}
