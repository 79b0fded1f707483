/* What the admin client's files share (admin.c, admin_reassign.c, admin_security.c). */
#ifndef RINGLOG_CLIENT_ADMIN_INTERNAL_H
#define RINGLOG_CLIENT_ADMIN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
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
 * Sends req to the cluster's controller, following NOT_CONTROLLER and
 * NOT_LEADER (code_of's answer) to the broker Metadata names, a few times.
 * probe_topic (may be NULL) is what the first-answer probe asks Metadata
 * for. Returns code_of's code; *out (when not NULL) gets the answer to
 * free with rl_conn_response_free, also when its code is an error.
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

/* The same for a change the cluster's controller makes (users, ACLs): a request-level
 * NOT_CONTROLLER moves the connection to the controller Metadata names and tries again. */
int rl_admin_call_controller(struct ringlog_admin *a, Ringlog__Request *req,
                             Ringlog__Response **resp, char *errbuf, size_t errlen);

#endif
