/*
 * The partitions one shard owns, by (topic, partition): a fixed array of
 * hash buckets chained through the partitions themselves. Touched only by
 * its shard's thread.
 */
#ifndef RINGLOG_BROKER_PARTITION_TABLE_H
#define RINGLOG_BROKER_PARTITION_TABLE_H

#include <stdint.h>

struct partition;

#define PARTITION_TABLE_BUCKETS 4096

struct partition_table {
    struct partition *buckets[PARTITION_TABLE_BUCKETS];
    uint32_t count;
};

struct partition *partition_table_find(const struct partition_table *t, const char *topic,
                                       uint32_t index);
void partition_table_add(struct partition_table *t, struct partition *p);
void partition_table_remove(struct partition_table *t, struct partition *p);

/* Takes any partition out of the table (NULL when empty): for closing them all. */
struct partition *partition_table_pop(struct partition_table *t);

#endif
