/*
 * A set of topic-partitions: a sorted array of (topic, partition), topic
 * names owned by the set. What a member owns, is revoking or is targeted
 * with; small (a member's share of its group's partitions).
 */
#ifndef RINGLOG_BROKER_GROUPS_TP_SET_H
#define RINGLOG_BROKER_GROUPS_TP_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tp {
    char *topic;
    uint32_t partition;
};

struct tp_set {
    struct tp *v;
    size_t n, cap;
};

int tp_compare(const char *ta, uint32_t pa, const char *tb, uint32_t pb);
bool tp_set_contains(const struct tp_set *s, const char *topic, uint32_t partition);
/* Adds (a copy of topic); 0, or -1 when out of memory. Adding a member again is a no-op. */
int tp_set_add(struct tp_set *s, const char *topic, uint32_t partition);
void tp_set_remove(struct tp_set *s, const char *topic, uint32_t partition);
void tp_set_clear(struct tp_set *s);
/* dst := a copy of src; 0 or -1 (dst then empty). */
int tp_set_copy(struct tp_set *dst, const struct tp_set *src);
bool tp_set_equal(const struct tp_set *a, const struct tp_set *b);
/* Whether a and b share a partition. */
bool tp_set_intersects(const struct tp_set *a, const struct tp_set *b);
void tp_set_free(struct tp_set *s);

#endif
