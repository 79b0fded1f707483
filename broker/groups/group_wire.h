/*
 * Topic-partition sets to and from the wire's GroupTopicPartitions lists
 * (heartbeats, descriptions, __groups records). Pure.
 */
#ifndef RINGLOG_BROKER_GROUPS_GROUP_WIRE_H
#define RINGLOG_BROKER_GROUPS_GROUP_WIRE_H

#include "ringlog.pb-c.h"
#include "tp_set.h"

/* A malloc'd list (one entry per topic; free with tp_wire_free); 0 or -1 out of memory. */
int tp_set_to_wire(const struct tp_set *s, Ringlog__GroupTopicPartitions ***out, size_t *n);
void tp_wire_free(Ringlog__GroupTopicPartitions **v, size_t n);
/* Adds every partition listed to s; 0 or -1 out of memory. */
int tp_set_from_wire(struct tp_set *s, Ringlog__GroupTopicPartitions *const *v, size_t n);

#endif
