/*
 * The consumer-group coordinator on a shard: the groups of every partition
 * of __groups this shard owns (group g lives in partition
 * groups_partition_of(g)), rebuilt by reading the partition back when the
 * shard holds it, kept in memory, and changed only by appending records
 * to it through the partition tier (group_records.h) before answering.
 *
 * Requests reach it by a hop from the connection's shard
 * (handlers/handle_group*.c): coordinator_call runs on the owner and ends
 * with a packed Response (body and request-level error), which the origin
 * unpacks; no pointer crosses back.
 */
#ifndef RINGLOG_BROKER_GROUPS_COORDINATOR_H
#define RINGLOG_BROKER_GROUPS_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog.pb-c.h"

#define GROUPS_TOPIC "__groups"
#define GROUPS_PARTITIONS 8
#define COORD_MAX_GROUPS 10000 /* per __groups partition */

struct server;
struct shard;

struct topic_config;
/* __groups' config: compacted, kept forever, 16 MiB segments. */
void groups_topic_config(const struct server *srv, struct topic_config *cfg);
/* Creates __groups on a single broker when absent (start-up; on a cluster the controller's
 * leader does, controller_groups.c); 0 or -1 with err. */
int groups_topic_ensure(struct server *srv, char *err, size_t err_len);

/* The __groups partition coordinating a group. */
uint32_t groups_partition_of(const char *group);

struct coord_call {
    /* in: the origin's request, read only */
    const Ringlog__Request *msg;
    uint32_t partition; /* of __groups, owned by this shard */
    const char *group;  /* DescribeGroups, DeleteGroups: the one group this call is about */
    void (*done)(struct coord_call *c);
    /* out: a packed Response (malloc'd, the origin frees it) */
    uint8_t *resp;
    size_t resp_len;
    /* working state */
    struct shard *shard;
    void *work;
};

/* Serves a FindCoordinator-routed call on the owner of its partition; done runs once. */
void coordinator_call(struct shard *s, struct coord_call *c);

/* Every loop tick: loads partitions newly held, expires members, writes what changed. */
void coordinator_tick(struct shard *s);
/* Shutdown: frees the shard's coordinator. */
void coordinator_destroy(struct shard *s);

/* Appends the Prometheus text of every shard's groups (members, rebalances, committed offset
 * and lag per partition) through emit; called by the metrics render (metrics_text.c). */
void coordinator_metrics_render(struct server *srv, void (*emit)(void *ctx, const char *text),
                                void *ctx);

/* The groups this shard coordinates, for ListGroups: a packed ListGroupsResponse (malloc'd). */
uint8_t *coordinator_list(struct shard *s, size_t *len);

#endif
