/*
 * What the shards of one broker share: configuration, the data-directory
 * lock, the topic registry, the offset store, the producer-id allocator and
 * registry.
 * Data only; the process that fills it in is daemon.c.
 */
#ifndef RINGLOG_BROKER_SERVER_H
#define RINGLOG_BROKER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "offset_store.h"
#include "producer_registry.h"
#include "topics.h"

struct shard;
struct loop;
struct admin_job;
struct tls_server;

struct server {
    struct broker_config cfg;
    int nshards;
    struct shard **shards;
    struct loop **loops; /* loops[i] is shards[i]'s loop: the targets of loop messages */
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
    /* Every id issued and its current epoch (fencing). */
    struct producer_registry producers;
    char cluster_id[40];
    struct tls_server *tls; /* NULL: --listen is plaintext */
    /* Topic create/delete jobs, one at a time (touched by shard 0 only). */
    struct {
        struct admin_job *head, *tail;
        bool running;
    } admin;
};

#endif
