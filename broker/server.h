/*
 * The broker process: configuration, the data-directory lock, the shards
 * and what they share (the topic registry, the producer-id allocator).
 * server_run() returns when a SIGTERM or SIGINT has shut everything down.
 */
#ifndef RINGLOG_BROKER_SERVER_H
#define RINGLOG_BROKER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "offset_store.h"
#include "topics.h"

struct shard;
struct admin_job;

struct server {
    struct broker_config cfg;
    int nshards;
    struct shard **shards;
    struct topic_registry topics;
    struct offset_store offsets;
    int lock_fd;
    uint16_t listen_port; /* the real port when --listen asked for 0 */
    uint16_t metrics_port;
    _Atomic bool stopping;
    _Atomic int shards_ready;
    _Atomic int shards_failed;
    _Atomic int shards_serving;
    _Atomic int shards_stopped;
    _Atomic int conns_moving; /* connections on their way between shards */
    /* Producer ids: handed out from a block reserved on disk ahead of use. */
    _Atomic int64_t next_producer_id;
    int64_t producer_id_limit;
    char cluster_id[40];
    /* Topic create/delete jobs, one at a time (touched by shard 0 only). */
    struct {
        struct admin_job *head, *tail;
        bool running;
    } admin;
};

/* Runs the broker until a stop signal. Returns the process exit status. */
int server_run(const struct broker_config *cfg);

/* Producer ids (InitProducerId). Returns -1 when the id space could not be reserved. */
int64_t server_next_producer_id(struct server *srv);

#endif
