/*
 * The handler tier: one handler per request type, each holding both halves
 * of its hop to the partitions' owner shards (request.h has the transport).
 * Wire error codes are made here and only here (wire_errors.h).
 */
#ifndef RINGLOG_BROKER_HANDLERS_H
#define RINGLOG_BROKER_HANDLERS_H

#include <stdbool.h>

#include "net/conn.h"

struct request;
struct shard;

/* What the network tier calls with each frame (registered at start-up). */
extern const struct conn_hooks handler_conn_hooks;

/* Dispatch by body. */
void handle_request(struct request *r);

/* Re-runs this shard's parked fetches: all of them on a wake, only the
 * expired ones (deadlines_only) on a tick. */
void fetch_recheck_parked(struct shard *s, bool deadlines_only);

void handle_metadata(struct request *r);
void handle_init_producer_id(struct request *r);
void handle_produce(struct request *r);
void handle_fetch(struct request *r);
void handle_list_offsets(struct request *r);
void handle_topic_admin(struct request *r);
void handle_offsets(struct request *r);
void handle_configs(struct request *r);
void handle_create_partitions(struct request *r);
void handle_delete_records(struct request *r);
/* Consumer groups and their committed offsets (handle_group.c, groups/coordinator.h). */
void handle_group(struct request *r);
/* ReassignPartitions and DecommissionBroker: to the controller (handle_reassign.c). */
void handle_reassign(struct request *r);

/* Security (handle_auth.c, authorise_request.c, handle_users.c, handle_acls.c). */
#include "auth/security.h"
void handle_authenticate(struct request *r);
void handle_users(struct request *r);
void handle_acls(struct request *r);
/* Whether r may run (authenticated when it must be, its user not deleted);
 * false: r is answered and the connection closes. */
bool auth_admit(struct request *r);
/* Whether the request's principal may do what r asks; false: answered NOT_AUTHORIZED. */
bool auth_authorise(struct request *r);
/*
 * The one-function API for handlers that check a resource themselves
 * (Metadata per topic; consumer groups): whether r's principal may do op
 * on the resource. Always true while the authoriser is off.
 */
bool auth_allowed(struct request *r, enum sec_resource res, const char *name, enum sec_op op);
/* Counts a denial (metrics) and says it: "User:bob may not write topic orders", in r's
 * arena (NULL when out of memory). */
char *auth_refusal(struct request *r, enum sec_resource res, const char *name, enum sec_op op);
/* The connection's principal: "User:NAME", or SEC_ANONYMOUS. */
const char *auth_principal(struct conn *c);
void auth_conn_opened(struct conn *c);
void auth_conn_forget(struct conn *c);
/* A cluster's user and ACL changes, proposed to the metadata log. */
void security_cluster_propose(struct request *r);

#endif
