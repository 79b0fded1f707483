/*
 * The cluster controller (docs/REPLICATION.md "Controller"): the cluster's
 * metadata is a log of its own, the partition __cluster-0 (topic id 0),
 * replicated among the --peers by the same replication core and driver as
 * any partition. Its records (ClusterRecord in proto/ringlog.proto) are
 * applied in order on every broker once committed: a topic created there
 * gets its id (the record's offset + 1) and its replicas on every broker,
 * and each broker opens the partitions it holds a replica of.
 *
 * Runs on shard 0 (the metadata partition's owner). CreateTopics and
 * DeleteTopics are proposed on the metadata group's leader only; other
 * brokers answer NOT_CONTROLLER naming it.
 */
#ifndef RINGLOG_BROKER_CONTROLLER_H
#define RINGLOG_BROKER_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "partition/partition.h"
#include "ringlog.pb-c.h"
#include "topics.h"

#define CONTROLLER_TOPIC "__cluster"
/* Voters of the metadata log at most; other brokers follow it as learners (controller.c). */
#define CONTROLLER_MAX_VOTERS 5

struct shard;
struct controller;

/* Shard 0, at start: opens the metadata log and its group, then applies it. 0 or -1 with err. */
int controller_start(struct shard *s, char *err, size_t err_len);
/* Shard 0, at stop: closes the metadata partition. */
void controller_stop(struct shard *s);

/* A CreateTopics / DeleteTopics topic, proposed to the metadata log. */
struct controller_call {
    /* in */
    void (*done)(struct controller_call *c);
    /* out: a wire ErrorCode and its message (static) */
    int error;
    const char *message;
    /* working state */
    struct controller *ctl;
    struct partition_produce pp;
    uint8_t *batch;
    int64_t offset; /* of the record, once written */
    struct controller_call *next;
    /* a DeleteRecords call waiting for the replicas' brokers (controller_applied.c) */
    void (*then)(struct controller_call *c);
    uint64_t topic_id;
    uint32_t partition;
    int64_t deadline_ms;
};

/* Creates `name` with replicas placed across the --peers. done runs once it is applied here. */
void controller_create_topic(struct shard *s, struct controller_call *c, const char *name,
                             uint32_t partitions, uint32_t rf, const struct topic_config *cfg);
void controller_delete_topic(struct shard *s, struct controller_call *c, const char *name);

/* Topic admin (controller_topics.c): proposed like a create; done once applied here. */
void controller_alter_config(struct shard *s, struct controller_call *c, const struct topic_info *t,
                             const struct topic_config *cfg);
void controller_add_partitions(struct shard *s, struct controller_call *c,
                               const struct topic_info *t, uint32_t count);
/* A peer message that is a MetadataApplied (a broker's applied offset, for the controller). */
bool controller_applied_is(const uint8_t *body, size_t len);
/* Takes it (body freed), on any shard. */
void controller_applied_receive(struct shard *s, int32_t from, uint8_t *body, size_t len);

/* Answered once applied here and by every live broker (each then refuses reads below offset
 * on its replica), or TIMEOUT after timeout_ms. */
void controller_delete_records(struct shard *s, struct controller_call *c,
                               const struct topic_info *t, uint32_t partition, int64_t offset,
                               int64_t timeout_ms);
/*
 * Users and ACLs in the metadata log (controller_security.c). apply: a
 * committed record of theirs (user_upserted .. acl_removed) into the
 * store; false when cr is not one. tick: on the leader, once caught_up
 * with the log, proposes --sasl-bootstrap-user while the cluster has no
 * user.
 */
struct server;
bool controller_security_apply(struct server *srv, const Ringlog__ClusterRecord *cr);
void controller_security_tick(struct shard *s, bool caught_up);
/* One partition's new replicas: a reassign request's, or one a decommission planned. */
struct controller_move {
    char topic[TOPIC_NAME_MAX + 1];
    uint32_t partition;
    uint32_t count;
    int32_t replicas[TOPIC_MAX_REPLICAS]; /* the preferred leader first */
    /* out: a wire ErrorCode and its message (static) */
    int error;
    const char *message;
};

/*
 * Reassignment (controller_reassign.c). Each move is validated (its error
 * set); the valid ones go in one record, and done runs once it is applied
 * here (c->error set when nothing was proposed). Each partition's leader
 * then moves its group there.
 */
void controller_reassign(struct shard *s, struct controller_call *c, struct controller_move *moves,
                         uint32_t n);
/*
 * Plans moving every replica off `node` to the brokers holding the fewest
 * (*moves allocated, *n of them; the caller frees) and proposes them with
 * the node decommissioned: new topics place nothing there.
 */
void controller_decommission(struct shard *s, struct controller_call *c, int32_t node,
                             struct controller_move **moves, uint32_t *n);
/* Brokers new replicas may go to: the --peers not decommissioned. */
uint32_t controller_placeable(struct controller *ctl);

/* Shard 0, every loop tick: a fresh directory's start, applying, naming the cluster. */
void controller_tick(struct shard *s);

#endif
