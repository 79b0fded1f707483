/*
 * ringlogd's configuration: the flags of the contract (docs/OPERATIONS.md),
 * optionally read from a `key = value` file first (--config FILE); flags on
 * the command line win over the file.
 */
#ifndef RINGLOG_BROKER_CONFIG_H
#define RINGLOG_BROKER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "log/partition_log.h"

/* Brokers of a cluster: every one may hold a replica of every partition, and a replication
 * group has at most 8 members (replication/replica_group.h RG_MAX_NODES). */
#define BROKER_MAX_PEERS 8
/* A cluster's node ids are below this (replica traffic and in-sync sets index brokers by id). */
#define BROKER_MAX_NODE_ID 64
/* The longest line a --config file may hold, newline not counted. */
#define BROKER_CONFIG_MAX_LINE 4096
#define BROKER_MAX_SHARDS 64

/* --tls-client-auth: whether a TLS client must show a certificate. */
enum tls_client_auth { TLS_CLIENT_AUTH_NONE, TLS_CLIENT_AUTH_REQUEST, TLS_CLIENT_AUTH_REQUIRE };

struct peer {
    int32_t node_id;
    char host[256];
    uint16_t port;
};

struct broker_config {
    char data_dir[PATH_MAX];
    char listen_host[256];
    uint16_t listen_port;
    bool metrics_enabled;
    char metrics_host[256];
    uint16_t metrics_port;
    int32_t node_id;
    struct peer peers[BROKER_MAX_PEERS];
    int peer_count;
    int shards;
    enum log_flush_policy flush;
    int64_t flush_interval_ms;
    int64_t cache_keep_bytes;   /* per partition; < 0: keep everything (partition_log.h) */
    int64_t replica_tail_bytes; /* per shard: leaders' in-memory tails (replica_tail.h) */
    uint32_t max_frame_bytes;
    uint32_t max_connections;
    uint32_t max_conn_buffered_bytes; /* stop reading a connection past this much unsent output */
    uint32_t max_inflight_requests;   /* per connection */
    uint32_t default_partitions;
    int64_t default_retention_ms;
    int64_t default_retention_bytes;
    int64_t default_segment_bytes;
    int64_t default_segment_ms;
    enum diag_level log_level;
    /* TLS on --listen when tls_cert is set (tls_key then is too). */
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    char tls_ca[PATH_MAX];
    enum tls_client_auth tls_client_auth;
    /* SASL (auth/security.h): NAME:PASSWORD of the first user, and the
     * comma-separated principals ACLs do not apply to ("" each: none). */
    char sasl_bootstrap_user[512];
    char super_users[4096];
    uint32_t auth_timeout_ms;       /* an unauthenticated connection is closed after this */
    uint32_t auth_failure_delay_ms; /* a failed authentication is answered this much later */
};

void broker_config_default(struct broker_config *cfg);

/*
 * Fills cfg from argv (and the --config file it names). Returns 0, 1 when
 * --help or --version was printed (exit 0), or -1 with err set (exit 2).
 */
int broker_config_parse(struct broker_config *cfg, int argc, char **argv, char *err,
                        size_t err_len);

/* Parses "HOST:PORT" (port 0..65535). Returns 0 or -1. */
int parse_host_port(const char *text, char *host, size_t host_len, uint16_t *port);

void broker_config_usage(void);

/* Whether --peers names a broker other than this one (a cluster, not a single node). */
bool config_has_other_brokers(const struct broker_config *cfg);

#endif
