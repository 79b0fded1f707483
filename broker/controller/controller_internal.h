/* What the controller's files share (controller.c, controller_propose.c, controller_reassign.c). */
#ifndef RINGLOG_BROKER_CONTROLLER_INTERNAL_H
#define RINGLOG_BROKER_CONTROLLER_INTERNAL_H

#include "config.h"
#include "controller.h"
#include "io/hop.h"
#include "ringlog.pb-c.h"

/* The metadata partition (NULL while it is not open). */
struct partition *controller_meta(struct controller *ctl);
/* Answers c (c->offset set) once its record is applied here. */
void controller_wait_applied(struct controller *ctl, struct controller_call *c);
/* Proposes one record (a packed ClusterRecord); c ends once it is applied here. */
void controller_propose(struct shard *s, struct controller_call *c, const ProtobufCMessage *rec);
struct server;
/* Partitions [first, end)'s replicas: rf brokers (not decommissioned) in node-id order from a
 * start spread by name. */
void controller_place(struct controller *ctl, const struct server *srv, const char *name,
                      uint32_t first, uint32_t end, uint32_t rf, int32_t *out);
/* controller_topics.c: applies a topic-admin record (20..29); false when cr is none. */
bool controller_topics_apply(struct controller *ctl, const Ringlog__ClusterRecord *cr,
                             int64_t offset, int64_t ts);
/* A topic's config in a record and back (an old record without the compaction fields reads as
 * cleanup_policy delete). */
void controller_config_to_wire(const struct topic_config *cfg, Ringlog__TopicConfig *tc);
void controller_config_from_wire(const Ringlog__TopicConfig *tc, struct topic_config *cfg);
/* Proposes the cluster's id (a ClusterRecord cluster_created). */
void controller_propose_cluster_id(struct shard *s, struct controller_call *c, const char *id);

/* The consumer groups' internal topic (controller_groups.c): proposed once by a leader. */
struct controller_groups {
    bool inflight; /* a create is out */
    bool seen;     /* this leadership saw the topic made */
    int64_t retry_ms;
    struct controller_call call;
};
/* Shard 0, every tick: on the leader caught up with the log, creates __groups while it is
 * absent; leads false resets. */
void controller_groups_tick(struct shard *s, struct controller_groups *g, bool leads,
                            bool caught_up);

/* ------------------------------------------------ applying (controller.c) */

/* One partition's part of applying a record, run on its owner shard: opens
 * this broker's replica (create) or deletes it. */
struct apply_op {
    struct hop hop;
    struct controller *ctl;
    struct topic_info *topic;
    uint32_t partition;
    bool create;
    bool new_group;
    struct partition_delete del;
};

/* A record's ops: begin (ops freed once the record is applied), start each, end. The record is
 * applied once every op came back. */
void controller_ops_begin(struct controller *ctl, struct apply_op *ops);
void controller_op_start(struct controller *ctl, struct apply_op *op);
void controller_ops_end(struct controller *ctl);
/* The record being applied is done (called once per record, by the ops or directly). */
void controller_record_applied(struct controller *ctl);

/* ---------------------------------- reassignment (controller_reassign.c) */

/* A replica this broker holds that the assignment moved away: deleted once the group let it go. */
struct leaving_replica {
    struct hop hop;
    struct leaving_replica *next;
    char topic[TOPIC_NAME_MAX + 1];
    uint64_t topic_id;
    uint32_t partition;
    int32_t self;
    bool busy; /* a check is out on the owner shard */
    bool gone; /* the check found it deleted, or wanted here again */
    struct partition_delete del;
};

struct controller_moves {
    struct leaving_replica *leaving;
    uint32_t checks_out; /* leaving checks on owner shards (applying waits for them) */
    int64_t next_check_ms;
    int32_t decommissioned[BROKER_MAX_PEERS];
    uint32_t decommissioned_count;
};

struct controller_moves *controller_moves_of(struct controller *ctl);
struct shard *controller_shard(struct controller *ctl);
/* Leaving checks out now: while any is, no record is applied. */
uint32_t controller_moves_out(struct controller *ctl);
/* Applies the next committed record if nothing holds it back (controller.c). */
void controller_kick(struct controller *ctl);
/* A record is being applied (read, or its ops out). */
bool controller_applying(struct controller *ctl);
/* A PartitionsReassigned record, applied here. */
void controller_apply_reassignment(struct controller *ctl, const Ringlog__ClusterReassignment *ra);
/* Shard 0's tick: leaving replicas checked every half second. */
void controller_moves_tick(struct controller *ctl);
/* Shard 0's stop: the list goes (checks still out are left to finish and free themselves). */
void controller_moves_stop(struct controller *ctl);
bool controller_is_decommissioned(struct controller *ctl, int32_t node);

#endif
