/*
 * The configuration behind ringlog_conf: typed fields filled from string
 * key/value pairs (ringlog_conf_set), shared by producer, consumer and admin.
 */
#ifndef RINGLOG_CLIENT_CONF_H
#define RINGLOG_CLIENT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlog.h"

enum rl_offset_reset { RL_RESET_EARLIEST, RL_RESET_LATEST, RL_RESET_ERROR };

struct ringlog_conf {
    /* connection */
    char *bootstrap;
    char *client_id;
    int64_t connect_timeout_ms;
    int64_t request_timeout_ms;
    int64_t reconnect_backoff_ms;
    int64_t reconnect_backoff_max_ms;
    int64_t metadata_max_age_ms;
    /* security: TLS when security_tls; tls is the context built from the
     * tls_* files by rl_tls_attach (client/tls.h), never copied by dup */
    bool security_tls;
    bool security_sasl;   /* sasl_plaintext / sasl_tls: SCRAM after connecting (client/sasl.h) */
    char *sasl_mechanism; /* SCRAM-SHA-256 (the default) or SCRAM-SHA-512 */
    char *sasl_username;
    char *sasl_password;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    struct rl_tls *tls;
    /* producer */
    int64_t acks; /* 0, 1, -1 */
    int64_t linger_ms;
    int64_t batch_bytes;
    int64_t buffer_bytes;
    bool block_on_buffer_full;
    int64_t max_block_ms;
    int64_t compression; /* rl_codec */
    bool enable_idempotence;
    int64_t max_in_flight;
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;
    int64_t delivery_timeout_ms;
    int64_t max_request_bytes;
    /* consumer */
    char *group;
    char *group_instance_id; /* static membership; NULL: dynamic */
    char *group_assignor;    /* NULL: the coordinator's default (uniform) */
    int64_t session_timeout_ms;
    int64_t rebalance_timeout_ms;
    bool enable_auto_commit;
    int64_t auto_commit_interval_ms;
    int64_t auto_offset_reset; /* enum rl_offset_reset */
    int64_t fetch_max_wait_ms;
    int64_t fetch_min_bytes;
    int64_t fetch_max_bytes;
    int64_t partition_fetch_bytes;
    int64_t queued_max_bytes;
    int64_t partitioner; /* enum rl_partitioner */
    ringlog_partitioner_cb partitioner_cb;
    void *partitioner_opaque;
    /* callbacks */
    ringlog_log_cb log_cb;
    void *log_opaque;
    struct rl_log_throttle *log_throttle; /* a handle's own (ringlog_conf_dup); NULL: none */
    ringlog_delivery_cb delivery_cb;
    void *delivery_opaque;
    ringlog_delivery_batch_cb delivery_batch_cb;
    void *delivery_batch_opaque;
    /* events and who runs the callbacks (issue 20 items 2, 4, 8) */
    bool callbacks_on_io_thread;
    int64_t statistics_interval_ms; /* 0: no statistics */
    bool enable_partition_eof;
    ringlog_error_cb error_cb;
    void *error_opaque;
    ringlog_stats_cb stats_cb;
    void *stats_opaque;
};

/* One bootstrap address. */
struct rl_hostport {
    char host[256];
    int port;
};

/*
 * Parses "HOST:PORT" or "[V6]:PORT" (whitespace around is ignored).
 * Returns RINGLOG_OK or RINGLOG_ERR_INVALID_ARG.
 */
int rl_parse_hostport(const char *s, size_t len, struct rl_hostport *out);

/*
 * Parses a comma-separated bootstrap list into a malloc'ed array.
 * RINGLOG_OK, RINGLOG_ERR_INVALID_ARG (reason in errbuf) or RINGLOG_ERR_NOMEM.
 */
int rl_parse_bootstrap(const char *list, struct rl_hostport **out, size_t *count, char *errbuf,
                       size_t errlen);

/* Formats into errbuf when it is not NULL; always NUL-terminates. */
void rl_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Sends a formatted line to the configured log callback, if any. Errors,
 * warnings and information repeated by retries pass the conf's throttle
 * (log_throttle.h): each distinct line once, then at most every 10 s with
 * how many times it was held back. Debug lines all pass.
 */
void rl_log(const struct ringlog_conf *conf, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
