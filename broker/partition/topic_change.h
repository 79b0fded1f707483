/*
 * Changing a published topic on this broker, the same way for a single
 * broker's AlterConfigs / CreatePartitions (handlers, on shard 0 in the
 * admin queue) and for a cluster's records applied by the controller
 * (controller_topics.c, on shard 0, one record at a time): a new version
 * of the topic (topic_info_next) is published and the partitions held
 * here follow it on their owner shards.
 */
#ifndef RINGLOG_BROKER_TOPIC_CHANGE_H
#define RINGLOG_BROKER_TOPIC_CHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "topic_fanout.h"
#include "topics.h"

struct topic_change {
    void (*done)(struct topic_change *c); /* may run before the call returns */
    void *ctx;
    /* out: 0, or -1 with message (static) */
    int status;
    const char *message;
    /* working state */
    struct topic_info *next;
    uint32_t old_partitions;
    bool new_group;
    int64_t start_offset;
    struct topic_fanout fan;
};

/* Publishes t with config cfg (persisted on a single broker), then applies it to every local
 * partition. */
void topic_change_config(struct topic_change *c, const struct topic_info *t,
                         const struct topic_config *cfg);

/*
 * Grows t to `count` partitions: the new ones are opened where this broker
 * holds them (a single broker: all of them; a cluster: replicas[] gives the
 * new partitions' replicas, rf each, and new_group as for a created topic),
 * then the topic is published. A partition that fails to open leaves the
 * topic published with it offline (status -1): a restart tries again.
 */
void topic_change_partitions(struct topic_change *c, const struct topic_info *t, uint32_t count,
                             const int32_t *replicas, bool new_group);

/* A cluster's DeleteRecords on the local replica of t's partition (partition_records_start_target).
 */
void topic_change_records_start(struct topic_change *c, const struct topic_info *t,
                                uint32_t partition, int64_t offset);

#endif
