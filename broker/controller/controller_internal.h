/* What controller.c and controller_propose.c share. */
#ifndef RINGLOG_BROKER_CONTROLLER_INTERNAL_H
#define RINGLOG_BROKER_CONTROLLER_INTERNAL_H

#include "controller.h"
#include "ringlog.pb-c.h"

struct server;

/* The metadata partition (NULL while it is not open). */
struct partition *controller_meta(struct controller *ctl);
/* Answers c (c->offset set) once its record is applied here. */
void controller_wait_applied(struct controller *ctl, struct controller_call *c);
/* Proposes one record (packed ClusterRecord); the call ends when it is applied here. */
void controller_propose(struct shard *s, struct controller_call *c, const ProtobufCMessage *rec);
/* Partitions [first, end)'s replicas: rf brokers in node-id order from a start spread by name. */
void controller_place(const struct server *srv, const char *name, uint32_t first, uint32_t end,
                      uint32_t rf, int32_t *out);
/* The shard the controller runs on (0), and the end of applying the current record. */
struct shard *controller_shard(struct controller *ctl);
void controller_record_applied(struct controller *ctl);
/* controller_topics.c: applies a topic-admin record (20..29); false when cr is none. */
bool controller_topics_apply(struct controller *ctl, const Ringlog__ClusterRecord *cr,
                             int64_t offset, int64_t ts);
/* Proposes the cluster's id (a ClusterRecord cluster_created). */
void controller_propose_cluster_id(struct shard *s, struct controller_call *c, const char *id);

#endif
