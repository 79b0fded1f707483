/* What the admin client's files share (admin.c, admin_reassign.c). */
#ifndef RINGLOG_CLIENT_ADMIN_INTERNAL_H
#define RINGLOG_CLIENT_ADMIN_INTERNAL_H

#include <stddef.h>

#include "ringlog.h"
#include "ringlog.pb-c.h"

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

#endif
