/*
 * What the admin client's files share (admin.c: connection, calls, topics;
 * admin_reassign.c, admin_security.c; admin_ops.c: configs, partitions,
 * offsets; admin_records.c: delete records).
 */
#ifndef RINGLOG_CLIENT_ADMIN_INTERNAL_H
#define RINGLOG_CLIENT_ADMIN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "conn.h"
#include "ringlog.h"
#include "ringlog.pb-c.h"

struct rl_conn;

struct ringlog_admin {
    struct ringlog_conf *conf;
    struct rl_hostport *bootstrap;
    size_t nbootstrap;
    struct rl_conn *conn;
    size_t next_bootstrap; /* where the next connection starts looking */
    pthread_mutex_t mu;
};

/* The answer's own error code (a topic result's, a move's...), with its text in errbuf. */
typedef int (*rl_result_code_fn)(const Ringlog__Response *resp, char *errbuf, size_t errlen);

/*
 * Sends req to the cluster's controller (the caller holds the admin's
 * lock), following NOT_CONTROLLER and NOT_LEADER, request-level or
 * code_of's answer, to the broker Metadata names, a few times. probe_topic
 * (may be NULL) is what the first-answer probe asks Metadata for. code_of
 * may be NULL for an answer that carries nothing but the request-level
 * error (users, ACLs). Returns the code; *out (when not NULL) gets the
 * answer to free with rl_conn_response_free, also when code_of's code is
 * an error (a request-level error leaves it NULL).
 */
int rl_admin_controller_call(ringlog_admin *a, const char *probe_topic, Ringlog__Request *req,
                             Ringlog__Response **out, rl_result_code_fn code_of, char *errbuf,
                             size_t errlen);

/* The admin's lock: one call at a time on its connection. */
void rl_admin_lock(ringlog_admin *a);
void rl_admin_unlock(ringlog_admin *a);

/*
 * One request and its answer under the admin's lock (retry: once on a new
 * connection when the old one was lost). A request-level error is returned
 * as its code with the broker's message in errbuf, and *resp is then NULL;
 * else free *resp with rl_conn_response_free.
 */
int rl_admin_call(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                  bool retry, char *errbuf, size_t errlen);

/* ---- the admin's own pieces, for calls that hold its lock (rl_admin_lock) */

/* A connection to host:port with the client's security settings (TLS, SASL when configured). */
int rl_admin_open(struct ringlog_admin *a, const char *host, int port, struct rl_conn **out,
                  char *errbuf, size_t errlen);

/* rl_admin_call, the caller holding the admin's lock. */
int rl_admin_call_locked(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                         bool retry, char *errbuf, size_t errlen);

/* Metadata of `topic` (NULL: every topic) on the admin's connection (lock held). */
int rl_admin_metadata(struct ringlog_admin *a, const char *topic, Ringlog__Response **resp,
                      char *errbuf, size_t errlen);

/* Moves the connection to the controller, when the metadata names one we are not on. */
bool rl_admin_move_to_controller(struct ringlog_admin *a);

/*
 * Runs a request about one topic whose answer is one TopicResult
 * (CreateTopics, DeleteTopics, AlterConfigs, CreatePartitions) at the
 * controller (rl_admin_controller_call); returns that result's code.
 */
int rl_admin_topic_call(struct ringlog_admin *a, const char *topic, Ringlog__Request *req,
                        char *errbuf, size_t errlen);

/* req sent to broker `node` of m on a connection of its own: its answer with body_case, or NULL. */
Ringlog__Response *rl_admin_call_node(struct ringlog_admin *a, const Ringlog__MetadataResponse *m,
                                      int32_t node, Ringlog__Request *req, int body_case);

/* Metadata of `topic` from broker `node` of m; NULL if it cannot be asked. */
Ringlog__Response *rl_admin_metadata_from(struct ringlog_admin *a,
                                          const Ringlog__MetadataResponse *m, int32_t node,
                                          const char *topic);

/* ringlog_admin_list_offsets, the caller holding the admin's lock. */
int rl_admin_list_offsets_locked(struct ringlog_admin *a, const char *topic,
                                 ringlog_partition_offset *parts, size_t n, char *errbuf,
                                 size_t errlen);

#endif
