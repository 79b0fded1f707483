/*
 * Committed consumer-group offsets. Each group's offsets live in one file,
 * <data-dir>/groups/<group>.offsets, rewritten atomically (temp file,
 * fsync, rename) on every commit, and loaded at start-up.
 *
 * Commits are rare next to produce and fetch (a consumer commits every few
 * seconds), so the store is one mutex-protected table shared by the shards
 * rather than a per-shard structure: it is off the produce/fetch path.
 */
#ifndef RINGLOG_BROKER_OFFSET_STORE_H
#define RINGLOG_BROKER_OFFSET_STORE_H

#include <pthread.h>
#include <stdint.h>

struct group_offset {
    char *topic;
    uint32_t partition;
    int64_t offset;
    char *metadata;
};

struct group {
    struct group *next;
    char *name;
    struct group_offset *offsets;
    size_t count, cap;
};

struct offset_store {
    pthread_mutex_t lock;
    char dir[4096];
    struct group *groups;
};

int offset_store_open(struct offset_store *gs, const char *data_dir, char *err, size_t err_len);
void offset_store_close(struct offset_store *gs);

struct group_commit {
    const char *topic;
    uint32_t partition;
    int64_t offset;
    const char *metadata;
};

/* Applies and persists commits; returns 0 or -1 (nothing applied). */
int offset_store_commit(struct offset_store *gs, const char *group, const struct group_commit *c,
                        size_t n);

/* Looks one offset up; returns -1 when the group never committed it. */
int64_t offset_store_fetch(struct offset_store *gs, const char *group, const char *topic,
                           uint32_t partition, char *metadata, size_t metadata_len);

/* Calls fn for every committed offset of the group (under the lock). */
void offset_store_each(struct offset_store *gs, const char *group,
                       void (*fn)(void *ctx, const struct group_offset *o), void *ctx);

#endif
