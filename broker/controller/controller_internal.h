/* What controller.c and controller_propose.c share. */
#ifndef RINGLOG_BROKER_CONTROLLER_INTERNAL_H
#define RINGLOG_BROKER_CONTROLLER_INTERNAL_H

#include "controller.h"

/* The metadata partition (NULL while it is not open). */
struct partition *controller_meta(struct controller *ctl);
/* Answers c (c->offset set) once its record is applied here. */
void controller_wait_applied(struct controller *ctl, struct controller_call *c);
/* Proposes the cluster's id (a ClusterRecord cluster_created). */
void controller_propose_cluster_id(struct shard *s, struct controller_call *c, const char *id);

#endif
