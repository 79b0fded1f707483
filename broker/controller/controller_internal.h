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
    int64_t moved_at; /* the offset of the move's record */
    bool busy;        /* a check is out on the owner shard */
    bool gone;        /* the check found it deleted, or wanted here again */
    bool deleted;     /* the check deleted it: remembered in the removed list */
    struct partition_delete del;
};

/* A replica deleted here after a move: records before moved_at that open it are superseded. */
struct removed_replica {
    uint64_t topic_id;
    uint32_t partition;
    int64_t moved_at;
};

struct controller_moves {
    struct leaving_replica *leaving;
    uint32_t checks_out; /* leaving checks on owner shards (applying waits for them) */
    int64_t next_check_ms;
    int32_t decommissioned[BROKER_MAX_PEERS];
    uint32_t decommissioned_count;
    struct removed_replica *removed; /* controller_removed.c */
    uint32_t removed_count, removed_cap;
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
/* The offset of the record being applied. */
int64_t controller_record_offset(struct controller *ctl);

/* ------------------------ metadata applied (controller_applied.c) */

#define CONTROLLER_MAX_NODE_ID 64 /* node ids 0..63 (config.c) */

struct controller_acks {
    int64_t applied[CONTROLLER_MAX_NODE_ID]; /* each broker's, as it last said */
    int64_t reported;                        /* what this broker last said */
    int64_t reported_ms;
    struct controller_call *waiting; /* DeleteRecords answers waiting for the replicas */
};

struct controller_acks *controller_acks_of(struct controller *ctl);
/* Shard 0's tick: says `applied` to the other brokers when due; answers waits that are over. */
void controller_acks_tick(struct controller *ctl, int64_t applied);
/* c's record is applied here: c->then runs once every live broker applied it too. */
void controller_wait_replicas(struct controller_call *c);
/* Fails the waiting calls (SHUTTING_DOWN). */
void controller_acks_stop(struct controller *ctl);

/* --------------------------- removed replicas (controller_removed.c) */

/* Reads <data-dir>/meta/removed_replicas (none: an empty list). 0 or -errno. */
int controller_removed_load(struct controller_moves *mv, const char *data_dir);
/* This broker deleted its replica of (topic id, p), moved away by the record at moved_at. */
void controller_removed_add(struct controller_moves *mv, const char *data_dir, uint64_t topic_id,
                            uint32_t p, int64_t moved_at);
/* The topic is deleted: its entries go. */
void controller_removed_forget_topic(struct controller_moves *mv, const char *data_dir,
                                     uint64_t topic_id);
/* A record at record_offset that opens (topic id, p) here is superseded by a later move. */
bool controller_removed_supersedes(struct controller_moves *mv, uint64_t topic_id, uint32_t p,
                                   int64_t record_offset);
void controller_removed_free(struct controller_moves *mv);

#endif
