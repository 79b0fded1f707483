/*
 * Consumer-group metrics: the owner shard writes its groups' samples as
 * Prometheus text once a second (one text per family, so families stay
 * contiguous when shards are concatenated); the render on shard 0 copies
 * them under the coordinator's metrics lock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator_internal.h"
#include "server.h"
#include "shard.h"

struct sbuf {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct sbuf *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->buf && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 256;
        char *grown = realloc(b->buf, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->buf = grown;
        b->cap = cap;
    }
}

/* One partition's committed offset and lag samples. */
static void put_partition(struct sbuf *f, const struct group *g, const struct group_offset *o,
                          const struct topic_table *table)
{
    const struct topic_info *ti = topic_table_find(table, o->topic);
    put(&f[2], "ringlog_group_committed_offset{group=\"%s\",topic=\"%s\",partition=\"%u\"} %lld\n",
        g->name, o->topic, o->partition, (long long)o->offset);
    if (ti == NULL || o->partition >= ti->partitions)
        return;
    int64_t end = atomic_load(&ti->stats[o->partition].high_watermark);
    int64_t lag = end > o->offset ? end - o->offset : 0;
    put(&f[3], "ringlog_group_lag{group=\"%s\",topic=\"%s\",partition=\"%u\"} %lld\n", g->name,
        o->topic, o->partition, (long long)lag);
}

void coord_metrics_publish(struct coordinator *co)
{
    struct sbuf f[COORD_METRIC_FAMILIES] = {0};
    const struct topic_table *table = topic_registry_snapshot(&co->shard->srv->topics);
    for (uint32_t i = 0; i < GROUPS_PARTITIONS; i++) {
        const struct group_table *t = &co->parts[i].groups;
        for (size_t k = 0; k < t->n; k++) {
            const struct group *g = t->v[k];
            put(&f[0], "ringlog_group_members{group=\"%s\"} %zu\n", g->name, g->nmembers);
            put(&f[1], "ringlog_group_rebalances_total{group=\"%s\"} %llu\n", g->name,
                (unsigned long long)g->rebalances);
            for (size_t o = 0; o < g->noffsets; o++)
                put_partition(f, g, &g->offsets[o], table);
        }
    }
    pthread_mutex_lock(&co->metrics_mu);
    for (int k = 0; k < COORD_METRIC_FAMILIES; k++) {
        free(co->metrics[k]);
        co->metrics[k] = f[k].failed ? NULL : f[k].buf; /* out of memory: no samples this time */
        if (f[k].failed)
            free(f[k].buf);
    }
    pthread_mutex_unlock(&co->metrics_mu);
}

void coordinator_metrics_render(struct server *srv, void (*emit)(void *ctx, const char *text),
                                void *ctx)
{
    static const char *const HEAD[COORD_METRIC_FAMILIES] = {
        "# HELP ringlog_group_members Members of each consumer group.\n"
        "# TYPE ringlog_group_members gauge\n",
        "# HELP ringlog_group_rebalances_total Target assignments computed for each group "
        "(since its coordinator loaded it).\n"
        "# TYPE ringlog_group_rebalances_total counter\n",
        "# HELP ringlog_group_committed_offset Committed offset per group and partition.\n"
        "# TYPE ringlog_group_committed_offset gauge\n",
        "# HELP ringlog_group_lag High watermark minus committed offset per group and "
        "partition.\n"
        "# TYPE ringlog_group_lag gauge\n"};
    for (int k = 0; k < COORD_METRIC_FAMILIES; k++) {
        emit(ctx, HEAD[k]);
        for (int i = 0; i < srv->nshards; i++) {
            struct coordinator *co = atomic_load(&srv->shards[i]->groups);
            if (co == NULL)
                continue;
            pthread_mutex_lock(&co->metrics_mu);
            if (co->metrics[k])
                emit(ctx, co->metrics[k]);
            pthread_mutex_unlock(&co->metrics_mu);
        }
    }
}
