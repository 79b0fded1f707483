/*
 * Topic admin jobs run one at a time on shard 0 (the controller shard):
 * CreateTopics, DeleteTopics, AlterConfigs and CreatePartitions each
 * look a topic up, change it on its partitions' owners and publish a new
 * topic table; two at once could publish over each other's change.
 */
#ifndef RINGLOG_BROKER_ADMIN_QUEUE_H
#define RINGLOG_BROKER_ADMIN_QUEUE_H

struct server;

struct admin_slot {
    struct admin_slot *next;
    void (*start)(struct admin_slot *slot); /* on shard 0, once it is this job's turn */
};

enum { ADMIN_SHARD = 0 };

/* Shard 0: runs the job now, or after the ones ahead of it. */
void admin_queue_enter(struct server *srv, struct admin_slot *slot);
/* Shard 0: the running job is finished; the next one starts. */
void admin_queue_leave(struct server *srv);

#endif
