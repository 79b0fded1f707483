/*
 * A shard: one loop (thread and io_uring, io/loop.h) and what the tiers
 * above it keep per shard: the storage engine, the partitions it owns, its
 * connections and parked fetches, its metrics. Shards share nothing mutable
 * but a few atomics (partition offsets for Metadata, the topic table
 * pointer) and talk by loop messages (io/loop.h) and hops (io/hop.h).
 *
 * This header is data only. The thread that runs a shard is composed in
 * shard_main.c, the one place that knows every tier.
 */
#ifndef RINGLOG_BROKER_SHARD_H
#define RINGLOG_BROKER_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/completion.h"
#include "io/loop.h"
#include "log/log_io_uring.h"
#include "log/partition_log.h"
#include "metrics.h"

struct server;
struct conn;
struct peer_link;
struct request;
struct partition_table;
struct replica_driver;
struct controller;
struct coordinator;

struct shard {
    struct loop loop; /* first: shard_of() */
    struct server *srv;
    pthread_t thread;

    /* storage tier */
    struct log_io_uring io;
    struct log_engine engine;
    int64_t last_engine_tick_ms;

    /* partition tier: the partitions this shard owns */
    struct partition_table *parts;
    struct replica_driver *replicas; /* replication driver (cluster only) */
    struct controller *controller;   /* shard 0 of a cluster */
    /* Consumer groups of its __groups partitions (groups/); set by the owner, read (atomic) by
     * the metrics render on shard 0. */
    struct coordinator *_Atomic groups;

    /* network tier */
    int listen_fd;
    struct rl_completion accept_done;
    bool accepting;
    int metrics_fd; /* shard 0 only */
    struct rl_completion metrics_accept_done;
    bool metrics_accepting;
    struct conn *conns;
    uint32_t conn_count;
    uint64_t next_conn_id;
    struct peer_link *peer_links; /* links to other brokers held here (net/peer.h) */
    uint32_t peer_link_count;

    /* handler tier: long-poll fetches waiting for data */
    struct request *parked;

    _Atomic uint64_t seen_version; /* topic-table version seen (topics.h) */
    bool stopping;
    /* A cluster's shutdown first hands this shard's leaderships over (shard_main.c). */
    bool handing_over, handed_over;
    int64_t hand_over_deadline_ms;
    bool counted_drained; /* counted in server.shards_stopped */
    struct shard_metrics metrics;
};

static inline struct shard *shard_of(struct loop *l)
{
    return rl_container_of(l, struct shard, loop);
}

/* The shard whose thread is running (NULL outside shard threads). */
static inline struct shard *shard_current(void)
{
    struct loop *l = loop_current();
    return l ? shard_of(l) : NULL;
}

#endif
