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

#include "auth/security.h"
#include "config.h"
#include "metrics.h"
#include "offset_store.h"
#include "partition/replica_state.h"
#include "producer_registry.h"
#include "topics.h"

/* What this build calls itself (Handshake, PeerHello). */
#define RINGLOG_SERVER_VERSION "0.1.0"

struct shard;
struct loop;
struct admin_slot;
struct tls_server;
struct peer_net;

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
    struct tls_server *tls;   /* NULL: --listen is plaintext */
    struct security security; /* users, ACLs, the authoriser (auth/security.h) */
    bool security_open;
    uint64_t incarnation;         /* disk incarnation: <data-dir>/meta/incarnation, != 0 */
    int64_t incarnation_birth_ms; /* when this data directory's incarnation was made */
    bool fresh_data_dir;          /* the incarnation was made by this start */
    /* Links to the other brokers of --peers (net/peer.h); NULL without peers. */
    struct peer_net *peers;
    struct peer_stats peer_stats[BROKER_MAX_PEERS]; /* [i] is cfg.peers[i]'s link */
    /* A cluster (--peers names other brokers): topics come from the
     * controller's metadata log (controller/), partitions are replicated. */
    bool cluster;
    _Atomic int32_t controller_leader; /* node id leading the metadata log, -1: none */
    _Atomic bool metadata_loading;     /* replaying the metadata log after a start (controller.c) */
    _Atomic int shards_handing_over;   /* shutdown: shards still handing leaderships over */
    /* Peers met in a handshake, by their cluster id: none yet (a new cluster,
     * or a wiped broker) or one (an existing cluster). Bit = node id. A
     * fresh data directory decides from these whether it founds the
     * cluster's metadata log or joins one (controller.c). */
    _Atomic uint64_t peers_without_cluster_id;
    _Atomic uint64_t peers_with_cluster_id;
    /* Every replica group's hard state found at start (partition/replica_state.h). */
    struct replica_state_table hard_states;
    /* Topic admin jobs (create, delete, configs, partitions), one at a time
     * (touched by shard 0 only): handlers/admin_queue.h. */
    struct {
        struct admin_slot *head, *tail;
        bool running;
    } admin;
};

#endif
