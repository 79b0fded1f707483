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
/* ReassignPartitions and DecommissionBroker: to the controller (handle_reassign.c). */
void handle_reassign(struct request *r);

#endif
