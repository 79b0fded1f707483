/* What admin.c shares with the other admin files (admin_security.c). */
#ifndef RINGLOG_CLIENT_ADMIN_INTERNAL_H
#define RINGLOG_CLIENT_ADMIN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "ringlog.pb-c.h"

struct rl_conn;

struct ringlog_admin {
    struct ringlog_conf *conf;
    struct rl_hostport *bootstrap;
    size_t nbootstrap;
    struct rl_conn *conn;
    pthread_mutex_t mu;
};

/*
 * One request and its answer under the admin's lock (retry: once on a new
 * connection when the old one was lost). A request-level error is returned
 * as its code with the broker's message in errbuf, and *resp is then NULL;
 * else free *resp with rl_conn_response_free.
 */
int rl_admin_call(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                  bool retry, char *errbuf, size_t errlen);

/* The same for a change the cluster's controller makes (users, ACLs): NOT_CONTROLLER moves the
 * connection to the controller Metadata names and tries again. */
int rl_admin_call_controller(struct ringlog_admin *a, Ringlog__Request *req,
                             Ringlog__Response **resp, char *errbuf, size_t errlen);

#endif
