/* What one broker says of the chaos topic's partitions (Metadata), and creating it. */
#ifndef RINGLOG_TESTS_CHAOS_VIEW_H
#define RINGLOG_TESTS_CHAOS_VIEW_H

#include "chaos.h"

struct view_part {
    int leader; /* node id, -1: none */
    int64_t hw, end;
};

/*
 * Partitions of the chaos topic as node n sees them, into out[0..count);
 * 0, or -1 when n did not answer or does not know the topic.
 */
int view_topic(const struct chaos_node *n, struct view_part *out, int count);

/* Creates the chaos topic (replication factor 3) through the controller, retrying NOT_CONTROLLER.
 */
int view_create_topic(const struct chaos_cluster *c, int partitions, int timeout_ms);

#endif
