/*
 * Committed offsets as older brokers stored them: one file per group,
 * <data-dir>/groups/<group>.offsets. Consumer groups now live in the
 * __groups topic (groups/coordinator.h); this store is read once at start
 * so the coordinator can move each group's offsets into the log
 * (coordinator_migrate.c), after which the group's file is renamed
 * <group>.offsets.migrated and never read again.
 */
#ifndef RINGLOG_BROKER_OFFSET_STORE_H
#define RINGLOG_BROKER_OFFSET_STORE_H

#include <pthread.h>
#include <stdint.h>

struct legacy_offset {
    char *topic;
    uint32_t partition;
    int64_t offset;
    char *metadata;
};

struct legacy_group {
    struct legacy_group *next;
    char *name;
    struct legacy_offset *offsets;
    size_t count, cap;
    int migrated; /* its offsets are in __groups, its file renamed */
};

struct offset_store {
    pthread_mutex_t lock; /* shards migrate their own groups, concurrently */
    char dir[4096];
    struct legacy_group *groups;
};

int offset_store_open(struct offset_store *gs, const char *data_dir, char *err, size_t err_len);
void offset_store_close(struct offset_store *gs);

/* Calls fn for every group not migrated yet (under the lock; fn must not call back in). */
void offset_store_each_group(struct offset_store *gs,
                             void (*fn)(void *ctx, const struct legacy_group *g), void *ctx);

/* The group's offsets are in __groups: rename its file .offsets.migrated. 0 or -errno. */
int offset_store_retire(struct offset_store *gs, const char *group);

#endif
