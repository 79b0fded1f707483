/*
 * A group's state as records of __groups, and back. Keys say what
 * compaction keeps the latest of: "g/<group>" (epochs, assignor),
 * "m/<group>/<member id>" (a member: subscription, epoch, assigned,
 * revoking and target partitions), "o/<group>/<topic>/<partition>" (a
 * committed offset); a null value deletes the key. Group, topic names and
 * member ids never contain '/'. Pure.
 */
#ifndef RINGLOG_BROKER_GROUPS_GROUP_RECORDS_H
#define RINGLOG_BROKER_GROUPS_GROUP_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "group_table.h"

struct group_rec {
    char *key;
    uint8_t *value; /* NULL: a tombstone */
    size_t value_len;
};

struct group_recs {
    struct group_rec *v;
    size_t n, cap;
};

/* Records of everything g marked dirty (the marks are cleared); 0 or -1 out of memory. */
int group_records_collect(struct group *g, struct group_recs *out);
/* Tombstones for every key of g (a deleted group); 0 or -1. */
int group_records_tombstones(const struct group *g, struct group_recs *out);
void group_recs_free(struct group_recs *r);

/* Applies one record read back from __groups; 0, or -1 when it is malformed. */
int group_records_apply(struct group_table *t, const uint8_t *key, size_t key_len,
                        const uint8_t *value, int64_t value_len, int64_t now_ms, size_t max_groups);

#endif
