/*
 * One call per partition of a topic, each on the partition's owner shard,
 * then one `done` back on the calling shard: how topic admin (AlterConfigs,
 * CreatePartitions, DeleteRecords on a cluster) reaches the partitions.
 */
#ifndef RINGLOG_BROKER_TOPIC_FANOUT_H
#define RINGLOG_BROKER_TOPIC_FANOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "io/hop.h"

struct shard;
struct topic_info;
struct topic_fanout;

struct fanout_op {
    struct hop hop;
    struct topic_fanout *f;
    uint32_t partition;
    bool failed;
};

struct topic_fanout {
    /* in: topic stays alive (and unchanged) until done */
    const struct topic_info *topic;
    /* On partition's owner: the work (synchronous); false when it failed. */
    bool (*run)(struct topic_fanout *f, struct shard *owner, uint32_t partition);
    /* On the calling shard once every call is back; may run before topic_fanout_start returns. */
    void (*done)(struct topic_fanout *f);
    void *ctx;
    /* out */
    uint32_t failed; /* calls that returned false (or never ran: no memory) */
    /* working state */
    struct fanout_op *ops;
    uint32_t pending;
};

/* Runs f->run for partitions [first, end) of f->topic. */
void topic_fanout_start(struct topic_fanout *f, uint32_t first, uint32_t end);

#endif
