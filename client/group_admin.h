/* The admin client's group calls (group_admin.c) use admin.c's connection. */
#ifndef RINGLOG_CLIENT_GROUP_ADMIN_H
#define RINGLOG_CLIENT_GROUP_ADMIN_H

#include <stddef.h>

#include "ringlog.h"
#include "ringlog.pb-c.h"

/* One request and its answer on the admin's connection (retried once on a fresh one), under its
 * lock; a request-level error is returned with its message in errbuf. Free *resp with
 * rl_conn_response_free. */
int rl_admin_call(struct ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp,
                  char *errbuf, size_t errlen);

#endif
