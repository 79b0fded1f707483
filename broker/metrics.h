/*
 * Counters and latency histograms, one set per shard (written only by its
 * shard, relaxed atomics so the metrics endpoint may read them from shard
 * 0), summed when /metrics is scraped.
 */
#ifndef RINGLOG_BROKER_METRICS_H
#define RINGLOG_BROKER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_API_SLOTS 128 /* ApiKey values 0..127 (proto/ringlog.proto) */
#define METRICS_LATENCY_BUCKETS 18

struct latency_hist {
    _Atomic uint64_t buckets[METRICS_LATENCY_BUCKETS]; /* cumulative at render time */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
};

struct shard_metrics {
    _Atomic uint64_t requests[METRICS_API_SLOTS];
    _Atomic uint64_t errors[METRICS_API_SLOTS];           /* request-level */
    _Atomic uint64_t partition_errors[METRICS_API_SLOTS]; /* per-partition results */
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t connections_accepted;
    _Atomic uint64_t connections_closed;
    _Atomic uint64_t connections_rejected;
    _Atomic uint64_t connections_moved; /* handed to the shard owning their partitions */
    _Atomic uint64_t protocol_errors;   /* connections closed for bad frames */
    _Atomic uint64_t records_appended;
    _Atomic uint64_t batches_appended;
    _Atomic uint64_t storage_errors;
    /* replication (cluster only): counters, and gauges the driver refreshes every tick */
    _Atomic uint64_t leaderships_gained;
    _Atomic uint64_t replicas_hosted;    /* gauge */
    _Atomic uint64_t replicas_led;       /* gauge */
    _Atomic uint64_t under_replicated;   /* gauge: led here, fewer in sync than replicas */
    _Atomic uint64_t replica_lag_max;    /* gauge: offsets the slowest in-sync follower is behind */
    _Atomic uint64_t appends_from_tail;  /* APPENDs a leader sent from memory (replica_tail.h) */
    _Atomic uint64_t appends_from_log;   /* ... and read back from its log */
    _Atomic uint64_t replica_tail_bytes; /* gauge: memory the leaders' tails hold */
    struct latency_hist leaderless;      /* a replica without a known leader, until one is */
    struct latency_hist produce_latency;
    struct latency_hist fetch_latency;
    struct latency_hist flush_latency;
    /* security (handlers/handle_auth.c, authorise_request.c) */
    _Atomic uint64_t sasl_failures;         /* SASL exchanges refused */
    _Atomic uint64_t authorization_denials; /* requests (or Metadata topics) an ACL refused */
};

/* One other broker's link (net/peer.c), indexed as cfg.peers. */
struct peer_stats {
    _Atomic uint64_t up;       /* 1 while the link is up (gauge) */
    _Atomic uint64_t links_up; /* handshakes completed: 1 + reconnects */
    _Atomic uint64_t refused;  /* handshakes refused, by either side */
    _Atomic uint64_t messages_sent;
    _Atomic uint64_t bytes_sent;
    _Atomic uint64_t messages_received;
    _Atomic uint64_t bytes_received;
    _Atomic uint64_t dropped; /* peer_send refused: no link, queue full, too large */
};

static inline void metrics_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* Upper bounds (µs) of the latency buckets; the last bucket is +Inf. */
extern const int64_t METRICS_BUCKET_US[METRICS_LATENCY_BUCKETS - 1];

void metrics_observe(struct latency_hist *h, int64_t micros);

#endif
