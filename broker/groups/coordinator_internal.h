/* What the coordinator's files share (coordinator.h). Owner shard only. */
#ifndef RINGLOG_BROKER_GROUPS_COORDINATOR_INTERNAL_H
#define RINGLOG_BROKER_GROUPS_COORDINATOR_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "coordinator.h"
#include "group_records.h"
#include "group_table.h"
#include "partition/partition.h"

enum coord_state { COORD_ABSENT, COORD_LOADING, COORD_LOADED, COORD_FAILED };

struct coord_part {
    struct coordinator *co;
    uint32_t index;
    enum coord_state state;
    struct group_table groups;
    int64_t load_offset;
    struct partition_fetch fetch; /* the load's read */
    bool reading;                 /* ... is in flight */
    int32_t term;                 /* the leader epoch the groups were loaded in (cluster) */
    uint32_t writes;              /* appends in flight */
};

enum { COORD_METRIC_FAMILIES = 4 }; /* members, rebalances, committed offset, lag */

struct coordinator {
    struct shard *shard;
    struct coord_part parts[GROUPS_PARTITIONS];
    uint64_t next_member; /* member ids: node, shard, this counter, a clock */
    int64_t next_expire_ms;
    /* Metrics: the samples of each family as text, published once a second by the owner and
     * read by the metrics render on shard 0 (coordinator_metrics.c). */
    pthread_mutex_t metrics_mu;
    char *metrics[COORD_METRIC_FAMILIES];
    int64_t next_metrics_ms;
};

/* Rebuilds the published metrics text (owner, once a second). */
void coord_metrics_publish(struct coordinator *co);

/* The shard's coordinator, made on first use; NULL when out of memory. */
struct coordinator *coordinator_of(struct shard *s);
/* This broker coordinates cp's groups: it holds the partition and leads it (on a cluster, in
 * the term it loaded them in). */
bool coord_part_leads(struct coord_part *cp);
/* The partition of __groups behind cp, NULL when this shard does not hold it. */
struct partition *coord_partition(struct coord_part *cp);
/* The topic view groups subscribe from (the topic table, "__" topics left out). */
void coord_topics(struct group_topics *out);
/* A new member id, unique on this broker. */
void coord_member_id(struct coordinator *co, char *out, size_t len);

/* Appends recs (taken: freed here) to cp's partition; done(ctx, ok) once written (at once if
 * there is nothing to write). */
void coord_write(struct coord_part *cp, struct group_recs *recs, void (*done)(void *ctx, bool ok),
                 void *ctx);
/* Collects g's dirty state and writes it; done as coord_write. A group left with neither
 * members nor offsets is deleted instead (tombstones) and freed: g is not to be used after. */
void coord_write_group(struct coord_part *cp, struct group *g, void (*done)(void *ctx, bool ok),
                       void *ctx);

/* Once cp is loaded: groups of the old per-group offset files move into the log. */
void coord_migrate(struct coord_part *cp);

/* Packs resp into c (freeing nothing of resp) and calls done. */
void coord_answer(struct coord_call *c, Ringlog__Response *resp);
void coord_fail(struct coord_call *c, int error, const char *message);
int coord_wire_error(enum group_error e);

/* coordinator_serve.c / coordinator_admin.c: each answers c exactly once. */
void coord_serve_heartbeat(struct coord_part *cp, struct coord_call *c);
void coord_serve_commit(struct coord_part *cp, struct coord_call *c);
void coord_serve_fetch(struct coord_part *cp, struct coord_call *c);
void coord_serve_describe(struct coord_part *cp, struct coord_call *c);
void coord_serve_delete(struct coord_part *cp, struct coord_call *c);

#endif
