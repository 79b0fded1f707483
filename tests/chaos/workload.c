/*
 * The producer side of the chaos workload: one thread per producer,
 * records paced at the configured rate to each partition in turn, the
 * outcome of every record kept by sequence for the checker.
 */
#include "workload.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workload_internal.h"

#define WL_VALUE_BYTES 64
#define WL_MAX_OUTSTANDING 2000

uint64_t wl_pack(struct wl_id id)
{
    assert(id.producer < 65536 && id.partition < 65536);
    return ((uint64_t)id.producer << 48 | (uint64_t)id.partition << 32 | id.seq) + 1;
}

bool wl_parse(const void *value, size_t len, struct wl_id *id)
{
    char text[WL_VALUE_BYTES + 1];
    if (!value || len == 0 || len > WL_VALUE_BYTES)
        return false;
    memcpy(text, value, len);
    text[len] = '\0';
    return sscanf(text, "c%" SCNu32 ".%" SCNu32 ".%" SCNu32 "|", &id->producer, &id->partition,
                  &id->seq) == 3;
}

void wl_client_log(int level, const char *message, void *opaque)
{
    const struct wl_log_ctx *ctx = opaque;
    if (ctx->w->client_log)
        fprintf(ctx->w->client_log, "%8.3f %s %s: %s\n", chaos_elapsed_s(), ctx->name,
                level <= RINGLOG_LOG_WARNING ? "warn" : "info", message);
}

/* Records the outcome of one record; called on the client's thread. */
static void on_delivery(const ringlog_delivery *d, void *opaque)
{
    struct wl_producer *p = opaque;
    uint64_t key = (uint64_t)(uintptr_t)d->opaque;
    uint32_t partition = (uint32_t)(key >> 32), seq = (uint32_t)key;
    assert(partition < WL_MAX_PARTITIONS && (int32_t)partition == d->partition);
    pthread_mutex_lock(&p->lock);
    struct wl_series *s = &p->series[partition];
    assert(seq < s->count && s->offset[seq] == WL_PENDING);
    s->offset[seq] = d->err == RINGLOG_OK ? d->offset : WL_FAILED;
    s->answered_ms[seq] = (int32_t)(chaos_elapsed_s() * 1000);
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add(d->err == RINGLOG_OK ? &p->w->acked : &p->w->errors, 1);
}

/* Takes the next sequence of a partition, its slot marked pending. */
static uint32_t next_seq(struct wl_producer *p, uint32_t partition)
{
    pthread_mutex_lock(&p->lock);
    struct wl_series *s = &p->series[partition];
    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->offset = realloc(s->offset, s->cap * sizeof(*s->offset));
        s->answered_ms = realloc(s->answered_ms, s->cap * sizeof(*s->answered_ms));
        assert(s->offset && s->answered_ms);
    }
    uint32_t seq = s->count++;
    s->offset[seq] = WL_PENDING;
    s->answered_ms[seq] = -1;
    pthread_mutex_unlock(&p->lock);
    return seq;
}

static void produce_one(struct wl_producer *p, uint32_t partition)
{
    uint32_t seq = next_seq(p, partition);
    char value[WL_VALUE_BYTES];
    int n = snprintf(value, sizeof(value), "c%u.%u.%u|", p->index, partition, seq);
    memset(value + n, 'a' + (char)(seq % 26), sizeof(value) - (size_t)n);
    ringlog_record rec = {.topic = CHAOS_TOPIC,
                          .partition = (int32_t)partition,
                          .value = value,
                          .value_len = sizeof(value),
                          .opaque = (void *)(uintptr_t)((uint64_t)partition << 32 | seq)};
    int rc = ringlog_produce(p->rp, &rec);
    if (rc != RINGLOG_OK) {
        pthread_mutex_lock(&p->lock);
        p->series[partition].offset[seq] = WL_UNSENT;
        pthread_mutex_unlock(&p->lock);
        atomic_fetch_add(&p->w->errors, 1);
    }
}

static void *producer_main(void *arg)
{
    struct wl_producer *p = arg;
    const struct chaos_opts *o = p->w->o;
    int64_t start = chaos_now_ms(), sent = 0;
    uint32_t partition = p->index % (uint32_t)o->partitions;
    while (!atomic_load(&p->w->stop)) {
        int64_t due = start + sent * 1000 / o->rate;
        if (chaos_now_ms() < due || ringlog_producer_outstanding(p->rp) > WL_MAX_OUTSTANDING) {
            usleep(2000);
            continue;
        }
        produce_one(p, partition);
        partition = (partition + 1) % (uint32_t)o->partitions;
        sent++;
    }
    return NULL;
}

static ringlog_producer *producer_new(struct wl_producer *p)
{
    ringlog_conf *conf = ringlog_conf_new();
    char err[256];
    const char *kv[][2] = {{"bootstrap", p->w->c->bootstrap}, {"acks", "all"},
                           {"enable-idempotence", "true"},    {"linger-ms", "2"},
                           {"request-timeout-ms", "5000"},    {"delivery-timeout-ms", "60000"},
                           {"max-block-ms", "5000"},          {"retry-backoff-max-ms", "500"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (ringlog_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != RINGLOG_OK)
            abort();
    ringlog_conf_set_delivery_cb(conf, on_delivery, p);
    p->log.w = p->w;
    snprintf(p->log.name, sizeof(p->log.name), "producer%u", p->index);
    ringlog_conf_set_log_cb(conf, wl_client_log, &p->log);
    ringlog_producer *rp = ringlog_producer_new(conf, err, sizeof(err));
    ringlog_conf_destroy(conf);
    if (!rp)
        chaos_fail("producer %u: %s", p->index, err);
    return rp;
}

struct workload *workload_start(struct chaos_cluster *c, const struct chaos_opts *o)
{
    assert(o->producers <= WL_MAX_PRODUCERS && o->partitions <= WL_MAX_PARTITIONS);
    assert(o->consumers <= WL_MAX_PRODUCERS && o->rate > 0);
    struct workload *w = calloc(1, sizeof(*w));
    assert(w);
    w->o = o;
    w->c = c;
    pthread_mutex_init(&w->seen_lock, NULL);
    char path[600];
    snprintf(path, sizeof(path), "%s/clients.log", c->base_dir);
    w->client_log = fopen(path, "w");
    if (w->client_log)
        setvbuf(w->client_log, NULL, _IOLBF, 0);
    for (int i = 0; i < o->producers; i++) {
        struct wl_producer *p = &w->producers[i];
        p->w = w;
        p->index = (uint32_t)i;
        pthread_mutex_init(&p->lock, NULL);
        p->rp = producer_new(p);
        if (p->rp && pthread_create(&p->thread, NULL, producer_main, p) != 0)
            abort();
    }
    wl_consumers_start(w);
    return w;
}

void workload_stop(struct workload *w, int flush_ms)
{
    atomic_store(&w->stop, true);
    for (int i = 0; i < w->o->producers; i++) {
        struct wl_producer *p = &w->producers[i];
        if (!p->rp)
            continue;
        pthread_join(p->thread, NULL);
        if (ringlog_producer_flush(p->rp, flush_ms) != RINGLOG_OK)
            chaos_log("producer %u: %zu records still unanswered after %d ms", p->index,
                      ringlog_producer_outstanding(p->rp), flush_ms);
        ringlog_producer_destroy(p->rp); /* the rest are reported CLOSED: not acknowledged */
        p->rp = NULL;
    }
    wl_consumers_stop(w);
}

const struct wl_series *wl_series(const struct workload *w, uint32_t producer, uint32_t partition)
{
    if (producer >= (uint32_t)w->o->producers || partition >= (uint32_t)w->o->partitions)
        return NULL;
    return &w->producers[producer].series[partition];
}

uint32_t wl_producers(const struct workload *w)
{
    return (uint32_t)w->o->producers;
}

uint64_t wl_acked(const struct workload *w)
{
    return atomic_load(&w->acked);
}

uint64_t wl_errors(const struct workload *w)
{
    return atomic_load(&w->errors);
}

void workload_free(struct workload *w)
{
    for (int i = 0; i < WL_MAX_PRODUCERS; i++) {
        for (int k = 0; k < WL_MAX_PARTITIONS; k++) {
            free(w->producers[i].series[k].offset);
            free(w->producers[i].series[k].answered_ms);
        }
        if (i < w->o->producers)
            pthread_mutex_destroy(&w->producers[i].lock);
    }
    for (int k = 0; k < WL_MAX_PARTITIONS; k++)
        free(w->seen[k].ids);
    pthread_mutex_destroy(&w->seen_lock);
    if (w->client_log)
        fclose(w->client_log);
    free(w);
}
