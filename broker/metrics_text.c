#include "metrics_text.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groups/coordinator.h"
#include "metrics.h"
#include "ringlog.pb-c.h"
#include "server.h"
#include "shard.h"
#include "topics.h"

struct text {
    char *buf;
    size_t len, cap;
    int failed;
};

static void emit(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

/* Appends text as it is (consumer-group samples, groups/coordinator.h). */
static void emit_text(void *ctx, const char *text)
{
    emit(ctx, "%s", text);
}

static uint64_t load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

#define SUM(field)                                                                                 \
    ({                                                                                             \
        uint64_t total_ = 0;                                                                       \
        for (int i_ = 0; i_ < srv->nshards; i_++)                                                  \
            total_ += load(&srv->shards[i_]->metrics.field);                                       \
        total_;                                                                                    \
    })

/*
 * One sample of `family{api="NAME"}` per ApiKey of proto/ringlog.proto,
 * named after it (API_KEY_CREATE_TOPICS: "create_topics"), so a request
 * type added to the schema is counted and shown without a table here.
 */
static void emit_per_api(struct text *t, struct server *srv, const char *family, size_t offset)
{
    const ProtobufCEnumDescriptor *keys = &ringlog__api_key__descriptor;
    for (unsigned i = 0; i < keys->n_values; i++) {
        int api = keys->values[i].value;
        const char *name = keys->values[i].name;
        assert(api >= 0 && api < METRICS_API_SLOTS);
        assert(strncmp(name, "API_KEY_", 8) == 0);
        if (api == RINGLOG__API_KEY__API_KEY_UNSPECIFIED)
            continue;
        char lower[64];
        size_t n = 0;
        for (const char *p = name + 8; *p && n + 1 < sizeof(lower); p++)
            lower[n++] = (char)tolower((unsigned char)*p);
        lower[n] = '\0';
        uint64_t total = 0;
        for (int s = 0; s < srv->nshards; s++)
            total += load((_Atomic uint64_t *)((char *)&srv->shards[s]->metrics + offset) + api);
        emit(t, "%s{api=\"%s\"} %llu\n", family, lower, (unsigned long long)total);
    }
}

static void emit_histogram(struct text *t, struct server *srv, const char *name, const char *help,
                           size_t offset)
{
    emit(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (int b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
        for (int i = 0; i < srv->nshards; i++) {
            struct latency_hist *h =
                (struct latency_hist *)((char *)&srv->shards[i]->metrics + offset);
            cumulative += load(&h->buckets[b]);
        }
        if (b < METRICS_LATENCY_BUCKETS - 1)
            emit(t, "%s_bucket{le=\"%g\"} %llu\n", name, (double)METRICS_BUCKET_US[b] / 1e6,
                 (unsigned long long)cumulative);
        else
            emit(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    }
    uint64_t sum = 0, count = 0;
    for (int i = 0; i < srv->nshards; i++) {
        struct latency_hist *h = (struct latency_hist *)((char *)&srv->shards[i]->metrics + offset);
        sum += load(&h->sum_us);
        count += load(&h->count);
    }
    emit(t, "%s_sum %g\n%s_count %llu\n", name, (double)sum / 1e6, name, (unsigned long long)count);
}

static void emit_partitions(struct text *t, struct server *srv)
{
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    uint64_t partitions = 0;
    for (uint32_t i = 0; i < table->count; i++)
        partitions += table->topics[i]->partitions;
    emit(t,
         "# HELP ringlog_partitions Partitions on this broker.\n"
         "# TYPE ringlog_partitions gauge\nringlog_partitions %llu\n",
         (unsigned long long)partitions);
    emit(t,
         "# HELP ringlog_topics Topics on this broker.\n# TYPE ringlog_topics gauge\n"
         "ringlog_topics %u\n",
         table->count);
    static const char *const NAMES[] = {"ringlog_log_end_offset", "ringlog_log_start_offset",
                                        "ringlog_high_watermark", "ringlog_log_size_bytes"};
    for (int k = 0; k < 4; k++) {
        emit(t, "# TYPE %s gauge\n", NAMES[k]);
        for (uint32_t i = 0; i < table->count; i++) {
            const struct topic_info *ti = table->topics[i];
            for (uint32_t p = 0; p < ti->partitions; p++) {
                const struct partition_stats *st = &ti->stats[p];
                int64_t v = k == 0   ? atomic_load(&st->log_end)
                            : k == 1 ? atomic_load(&st->log_start)
                            : k == 2 ? atomic_load(&st->high_watermark)
                                     : atomic_load(&st->size_bytes);
                emit(t, "%s{topic=\"%s\",partition=\"%u\"} %lld\n", NAMES[k], ti->name, p,
                     (long long)v);
            }
        }
    }
}

#define SUM_COMPACT(field)                                                                         \
    ({                                                                                             \
        uint64_t total_ = 0;                                                                       \
        for (int i_ = 0; i_ < srv->nshards; i_++)                                                  \
            total_ += load(&srv->shards[i_]->engine.compact.field);                                \
        total_;                                                                                    \
    })

/* Compaction (docs/STORAGE.md, "Compaction"): what the shards' storage engines did. */
static void emit_compaction(struct text *t, struct server *srv)
{
    int64_t last = 0;
    for (int i = 0; i < srv->nshards; i++) {
        int64_t v =
            atomic_load_explicit(&srv->shards[i]->engine.compact.last_run_ms, memory_order_relaxed);
        last = v > last ? v : last;
    }
    emit(t,
         "# TYPE ringlog_compaction_passes_total counter\nringlog_compaction_passes_total %llu\n"
         "# TYPE ringlog_compaction_failures_total counter\n"
         "ringlog_compaction_failures_total %llu\n"
         "# TYPE ringlog_compaction_segments_cleaned_total counter\n"
         "ringlog_compaction_segments_cleaned_total %llu\n"
         "# TYPE ringlog_compaction_bytes_read_total counter\n"
         "ringlog_compaction_bytes_read_total %llu\n"
         "# TYPE ringlog_compaction_bytes_removed_total counter\n"
         "ringlog_compaction_bytes_removed_total %llu\n"
         "# TYPE ringlog_compaction_records_removed_total counter\n"
         "ringlog_compaction_records_removed_total %llu\n"
         "# TYPE ringlog_compaction_last_run_timestamp_seconds gauge\n"
         "ringlog_compaction_last_run_timestamp_seconds %.3f\n",
         (unsigned long long)SUM_COMPACT(passes), (unsigned long long)SUM_COMPACT(failures),
         (unsigned long long)SUM_COMPACT(segments_cleaned),
         (unsigned long long)SUM_COMPACT(bytes_read),
         (unsigned long long)SUM_COMPACT(bytes_removed),
         (unsigned long long)SUM_COMPACT(records_removed), (double)last / 1000.0);
}

/* Known-bad batches (a flipped bit) found on this broker's disk and repaired from replicas. */
static void emit_corrupt(struct text *t, struct server *srv)
{
    uint64_t v[3] = {0, 0, 0};
    for (int i = 0; i < srv->nshards; i++) {
        struct log_bad_counters *c = &srv->shards[i]->engine.bad;
        v[0] += atomic_load_explicit(&c->found, memory_order_relaxed);
        v[1] += atomic_load_explicit(&c->repaired, memory_order_relaxed);
        v[2] += atomic_load_explicit(&c->outstanding, memory_order_relaxed);
    }
    emit(t,
         "# HELP ringlog_replica_corrupt_batches_detected_total Batches found failing their "
         "checksum on this broker's disk (recovery, reads, scrub).\n"
         "# TYPE ringlog_replica_corrupt_batches_detected_total counter\n"
         "ringlog_replica_corrupt_batches_detected_total %llu\n"
         "# HELP ringlog_replica_corrupt_batches_repaired_total Of those, overwritten in place "
         "with a replica's good copy.\n"
         "# TYPE ringlog_replica_corrupt_batches_repaired_total counter\n"
         "ringlog_replica_corrupt_batches_repaired_total %llu\n"
         "# HELP ringlog_replica_corrupt_batches_outstanding Bad batches waiting for a repair "
         "(never served meanwhile).\n"
         "# TYPE ringlog_replica_corrupt_batches_outstanding gauge\n"
         "ringlog_replica_corrupt_batches_outstanding %llu\n",
         (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2]);
}

/* The write path: groups, how many skipped the io-wq hop, fdatasyncs and what they covered. */
static void emit_writes(struct text *t, struct server *srv)
{
    uint64_t v[4] = {0, 0, 0, 0};
    for (int i = 0; i < srv->nshards; i++) {
        struct log_write_counters *c = &srv->shards[i]->engine.writes;
        v[0] += atomic_load_explicit(&c->groups, memory_order_relaxed);
        v[1] += atomic_load_explicit(&c->inline_writes, memory_order_relaxed);
        v[2] += atomic_load_explicit(&c->fdatasyncs, memory_order_relaxed);
        v[3] += atomic_load_explicit(&c->synced_bytes, memory_order_relaxed);
    }
    emit(t,
         "# HELP ringlog_log_write_groups_total Write groups (one writev of one or more "
         "appends) started.\n"
         "# TYPE ringlog_log_write_groups_total counter\n"
         "ringlog_log_write_groups_total %llu\n"
         "# HELP ringlog_log_inline_writes_total Of those, small ones written on the shard "
         "thread rather than by an io_uring worker.\n"
         "# TYPE ringlog_log_inline_writes_total counter\n"
         "ringlog_log_inline_writes_total %llu\n"
         "# HELP ringlog_log_fdatasyncs_total fdatasyncs of segment data (per group under "
         "flush=always, per flush under flush=interval).\n"
         "# TYPE ringlog_log_fdatasyncs_total counter\n"
         "ringlog_log_fdatasyncs_total %llu\n"
         "# HELP ringlog_log_fdatasync_bytes_total Bytes those fdatasyncs made durable.\n"
         "# TYPE ringlog_log_fdatasync_bytes_total counter\n"
         "ringlog_log_fdatasync_bytes_total %llu\n",
         (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
         (unsigned long long)v[3]);
}

/* Links to the other brokers of --peers (net/peer.c), one series per node. */
static void emit_peers(struct text *t, struct server *srv)
{
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } SERIES[] = {
        {"ringlog_peer_link_up", "gauge", "1 while the link to the node is up.",
         offsetof(struct peer_stats, up)},
        {"ringlog_peer_links_up_total", "counter",
         "Links to the node that completed their handshake (the first, then reconnects).",
         offsetof(struct peer_stats, links_up)},
        {"ringlog_peer_refused_total", "counter",
         "Handshakes with the node refused, by either side.", offsetof(struct peer_stats, refused)},
        {"ringlog_peer_messages_sent_total", "counter", "Messages sent to the node.",
         offsetof(struct peer_stats, messages_sent)},
        {"ringlog_peer_bytes_sent_total", "counter", "Bytes sent to the node.",
         offsetof(struct peer_stats, bytes_sent)},
        {"ringlog_peer_messages_received_total", "counter", "Messages received from the node.",
         offsetof(struct peer_stats, messages_received)},
        {"ringlog_peer_bytes_received_total", "counter", "Message bytes received from the node.",
         offsetof(struct peer_stats, bytes_received)},
        {"ringlog_peer_dropped_total", "counter",
         "Messages to the node dropped: no link up, its queue full, or too large.",
         offsetof(struct peer_stats, dropped)},
    };
    for (size_t k = 0; k < sizeof(SERIES) / sizeof(SERIES[0]); k++) {
        emit(t, "# HELP %s %s\n# TYPE %s %s\n", SERIES[k].name, SERIES[k].help, SERIES[k].name,
             SERIES[k].type);
        for (int i = 0; i < srv->cfg.peer_count; i++) {
            if (srv->cfg.peers[i].node_id == srv->cfg.node_id)
                continue;
            _Atomic uint64_t *v =
                (_Atomic uint64_t *)((char *)&srv->peer_stats[i] + SERIES[k].offset);
            emit(t, "%s{node=\"%d\"} %llu\n", SERIES[k].name, srv->cfg.peers[i].node_id,
                 (unsigned long long)load(v));
        }
    }
}

char *metrics_render(struct server *srv, size_t *len)
{
    struct text t = {.cap = 16384};
    t.buf = malloc(t.cap);
    if (!t.buf)
        return NULL;
    emit(&t, "# HELP ringlog_requests_total Requests received, by type.\n"
             "# TYPE ringlog_requests_total counter\n");
    emit_per_api(&t, srv, "ringlog_requests_total", offsetof(struct shard_metrics, requests));
    emit(&t, "# HELP ringlog_request_errors_total Requests answered with a request-level "
             "error, by type.\n# TYPE ringlog_request_errors_total counter\n");
    emit_per_api(&t, srv, "ringlog_request_errors_total", offsetof(struct shard_metrics, errors));
    emit(&t, "# HELP ringlog_partition_errors_total Per-partition results answered with an "
             "error (a full disk, an unknown partition, a sequence gap...), by type.\n"
             "# TYPE ringlog_partition_errors_total counter\n");
    emit_per_api(&t, srv, "ringlog_partition_errors_total",
                 offsetof(struct shard_metrics, partition_errors));
    uint64_t accepted = SUM(connections_accepted), closed = SUM(connections_closed);
    emit(&t,
         "# TYPE ringlog_bytes_in_total counter\nringlog_bytes_in_total %llu\n"
         "# TYPE ringlog_bytes_out_total counter\nringlog_bytes_out_total %llu\n"
         "# TYPE ringlog_connections gauge\nringlog_connections %llu\n"
         "# TYPE ringlog_connections_accepted_total counter\n"
         "ringlog_connections_accepted_total %llu\n"
         "# TYPE ringlog_connections_rejected_total counter\n"
         "ringlog_connections_rejected_total %llu\n"
         "# TYPE ringlog_connections_moved_total counter\n"
         "ringlog_connections_moved_total %llu\n"
         "# TYPE ringlog_protocol_errors_total counter\nringlog_protocol_errors_total %llu\n"
         "# TYPE ringlog_records_appended_total counter\nringlog_records_appended_total %llu\n"
         "# TYPE ringlog_batches_appended_total counter\nringlog_batches_appended_total %llu\n"
         "# TYPE ringlog_storage_errors_total counter\nringlog_storage_errors_total %llu\n",
         (unsigned long long)SUM(bytes_in), (unsigned long long)SUM(bytes_out),
         (unsigned long long)(accepted - closed), (unsigned long long)accepted,
         (unsigned long long)SUM(connections_rejected), (unsigned long long)SUM(connections_moved),
         (unsigned long long)SUM(protocol_errors), (unsigned long long)SUM(records_appended),
         (unsigned long long)SUM(batches_appended), (unsigned long long)SUM(storage_errors));
    emit(&t,
         "# HELP ringlog_sasl_failures_total SASL authentications refused.\n"
         "# TYPE ringlog_sasl_failures_total counter\nringlog_sasl_failures_total %llu\n"
         "# HELP ringlog_authorization_denials_total Requests and Metadata topics ACLs refused.\n"
         "# TYPE ringlog_authorization_denials_total counter\n"
         "ringlog_authorization_denials_total %llu\n",
         (unsigned long long)SUM(sasl_failures), (unsigned long long)SUM(authorization_denials));
    uint64_t lag = 0;
    for (int i = 0; i < srv->nshards; i++) {
        uint64_t v = atomic_load(&srv->shards[i]->metrics.replica_lag_max);
        lag = v > lag ? v : lag;
    }
    emit(&t,
         "# HELP ringlog_leaderships_gained_total Partitions this broker became the leader of.\n"
         "# TYPE ringlog_leaderships_gained_total counter\nringlog_leaderships_gained_total %llu\n"
         "# TYPE ringlog_replicas gauge\nringlog_replicas %llu\n"
         "# TYPE ringlog_replicas_led gauge\nringlog_replicas_led %llu\n"
         "# HELP ringlog_under_replicated_partitions Partitions led here with a replica out of "
         "sync.\n"
         "# TYPE ringlog_under_replicated_partitions gauge\n"
         "ringlog_under_replicated_partitions %llu\n"
         "# HELP ringlog_replica_lag_max_offsets The furthest any follower of a partition led "
         "here is behind its log end.\n"
         "# TYPE ringlog_replica_lag_max_offsets gauge\nringlog_replica_lag_max_offsets %llu\n",
         (unsigned long long)SUM(leaderships_gained), (unsigned long long)SUM(replicas_hosted),
         (unsigned long long)SUM(replicas_led), (unsigned long long)SUM(under_replicated),
         (unsigned long long)lag);
    emit(&t,
         "# HELP ringlog_replica_appends_total APPENDs sent to followers, by where their "
         "batches came from: the leader's in-memory tail or its log.\n"
         "# TYPE ringlog_replica_appends_total counter\n"
         "ringlog_replica_appends_total{source=\"tail\"} %llu\n"
         "ringlog_replica_appends_total{source=\"log\"} %llu\n"
         "# HELP ringlog_replica_tail_bytes Memory the tails of the partitions led here hold "
         "(--replica-tail-bytes per shard at most).\n"
         "# TYPE ringlog_replica_tail_bytes gauge\nringlog_replica_tail_bytes %llu\n",
         (unsigned long long)SUM(appends_from_tail), (unsigned long long)SUM(appends_from_log),
         (unsigned long long)SUM(replica_tail_bytes));
    emit_histogram(&t, srv, "ringlog_partition_leaderless_seconds",
                   "How long a replica here knew no leader, until it knew one (failover time "
                   "as this broker saw it).",
                   offsetof(struct shard_metrics, leaderless));
    emit_histogram(&t, srv, "ringlog_produce_latency_seconds",
                   "Produce request latency, receipt to response.",
                   offsetof(struct shard_metrics, produce_latency));
    emit_histogram(&t, srv, "ringlog_fetch_latency_seconds",
                   "Fetch request latency, including long-poll waits.",
                   offsetof(struct shard_metrics, fetch_latency));
    emit_histogram(&t, srv, "ringlog_append_latency_seconds",
                   "Append latency in the owner shard, until written (and flushed under "
                   "flush=always).",
                   offsetof(struct shard_metrics, flush_latency));
    emit_partitions(&t, srv);
    emit_compaction(&t, srv);
    emit_corrupt(&t, srv);
    emit_writes(&t, srv);
    emit_peers(&t, srv);
    coordinator_metrics_render(srv, emit_text, &t);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
