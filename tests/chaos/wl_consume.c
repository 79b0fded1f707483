/*
 * The consumer side of the chaos workload: each consumer is assigned every
 * partition from the beginning and polls until stopped. Every message is
 * noted by offset in one table shared by the consumers; an offset seen
 * again with another record is a failure at once (a consumer was shown
 * data that later changed).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload_internal.h"

static void describe(uint64_t packed, char *out, size_t len)
{
    if (packed == 0) {
        snprintf(out, len, "(unparsable value)");
        return;
    }
    packed--;
    snprintf(out, len, "c%u.%u.%u", (unsigned)(packed >> 48), (unsigned)(packed >> 32) & 0xffff,
             (unsigned)packed);
}

/* Notes what consumer `who` saw at (partition, offset). */
static void note(struct workload *w, uint32_t who, uint32_t partition, int64_t offset,
                 uint64_t packed)
{
    assert(partition < WL_MAX_PARTITIONS && offset >= 0);
    pthread_mutex_lock(&w->seen_lock);
    struct wl_seen_part *s = &w->seen[partition];
    if (offset >= s->cap) {
        int64_t cap = s->cap ? s->cap : 4096;
        while (cap <= offset)
            cap *= 2;
        s->ids = realloc(s->ids, (size_t)cap * sizeof(*s->ids));
        assert(s->ids);
        memset(s->ids + s->cap, 0, (size_t)(cap - s->cap) * sizeof(*s->ids));
        s->cap = cap;
    }
    uint64_t before = s->ids[offset];
    if (before == 0)
        s->ids[offset] = packed ? packed : UINT64_MAX;
    pthread_mutex_unlock(&w->seen_lock);
    if (before != 0 && before != (packed ? packed : UINT64_MAX)) {
        char a[64], b[64];
        describe(before == UINT64_MAX ? 0 : before, a, sizeof(a));
        describe(packed, b, sizeof(b));
        chaos_check_failed("seen",
                           "consumer %u: partition %u offset %" PRId64 " is %s, seen earlier as %s",
                           who, partition, offset, b, a);
    }
}

static void *consumer_main(void *arg)
{
    struct wl_consumer *k = arg;
    struct workload *w = k->w;
    ringlog_conf *conf = ringlog_conf_new();
    char err[256];
    const char *kv[][2] = {{"bootstrap", w->c->bootstrap},
                           {"auto-offset-reset", "earliest"},
                           {"enable-auto-commit", "false"},
                           {"fetch-max-wait-ms", "200"},
                           {"request-timeout-ms", "5000"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (ringlog_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != RINGLOG_OK)
            abort();
    k->log.w = w;
    snprintf(k->log.name, sizeof(k->log.name), "consumer%u", k->index);
    ringlog_conf_set_log_cb(conf, wl_client_log, &k->log);
    ringlog_consumer *rc = ringlog_consumer_new(conf, err, sizeof(err));
    ringlog_conf_destroy(conf);
    if (!rc) {
        chaos_fail("consumer %u: %s", k->index, err);
        return NULL;
    }
    ringlog_topic_partition tps[WL_MAX_PARTITIONS];
    for (int i = 0; i < w->o->partitions; i++)
        tps[i] = (ringlog_topic_partition){CHAOS_TOPIC, i, RINGLOG_OFFSET_BEGINNING};
    ringlog_consumer_assign(rc, tps, (size_t)w->o->partitions);
    while (!atomic_load(&w->stop)) {
        const ringlog_message *m;
        if (ringlog_consumer_poll(rc, 100, &m) != RINGLOG_OK)
            continue;
        struct wl_id id;
        bool ok = wl_parse(m->value, m->value_len, &id);
        note(w, k->index, (uint32_t)m->partition, m->offset, ok ? wl_pack(id) : 0);
        atomic_fetch_add(&w->consumed, 1);
    }
    ringlog_consumer_destroy(rc);
    return NULL;
}

void wl_consumers_start(struct workload *w)
{
    for (int i = 0; i < w->o->consumers; i++) {
        struct wl_consumer *k = &w->consumers[i];
        k->w = w;
        k->index = (uint32_t)i;
        if (pthread_create(&k->thread, NULL, consumer_main, k) != 0)
            abort();
    }
}

void wl_consumers_stop(struct workload *w)
{
    assert(atomic_load(&w->stop));
    for (int i = 0; i < w->o->consumers; i++)
        pthread_join(w->consumers[i].thread, NULL);
}

uint64_t wl_seen(const struct workload *w, uint32_t partition, int64_t offset)
{
    if (partition >= WL_MAX_PARTITIONS || offset < 0 || offset >= w->seen[partition].cap)
        return 0;
    return w->seen[partition].ids[offset];
}

int64_t wl_seen_count(const struct workload *w, uint32_t partition)
{
    return partition < WL_MAX_PARTITIONS ? w->seen[partition].cap : 0;
}
