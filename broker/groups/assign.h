/*
 * Assignors: from the members' subscriptions and the topics' partition
 * counts, the group's target assignment. Pure functions, deterministic for
 * a given input (members sorted by id, topics by name).
 *
 * uniform (the default): every subscribed partition to exactly one member
 * subscribed to its topic, loads within one of each other where the
 * subscriptions allow, and sticky: a member keeps as much of its previous
 * target as its fair share allows, so a rebalance moves only what must move.
 * range: per topic, contiguous ranges of partitions to the members
 * subscribed to it, in member id order (Kafka's RangeAssignor); not sticky.
 */
#ifndef RINGLOG_BROKER_GROUPS_ASSIGN_H
#define RINGLOG_BROKER_GROUPS_ASSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "tp_set.h"

struct assign_member {
    const char *id;
    char *const *topics; /* its resolved subscription, sorted by name */
    size_t ntopics;
    const struct tp_set *previous; /* its previous target (uniform keeps what it can) */
    struct tp_set *target;         /* out: cleared, then filled */
};

struct assign_topic {
    const char *name;
    uint32_t partitions;
};

enum assignor { ASSIGNOR_UNIFORM, ASSIGNOR_RANGE };

/* "uniform" / "range" / "" (uniform): 0 with *out, or -1 for another name. */
int assignor_parse(const char *name, enum assignor *out);
const char *assignor_name(enum assignor a);

/* Members sorted by id, topics by name. 0, or -1 when out of memory. */
int assign_run(enum assignor a, struct assign_member *m, size_t nm, const struct assign_topic *t,
               size_t nt);

/* The uniform assignor alone (assign_uniform.c); targets must be empty. */
int assign_uniform(struct assign_member *m, size_t nm, const struct assign_topic *t, size_t nt);

/* Whether the member subscribes to the topic (its topics are sorted). */
bool assign_subscribed(const struct assign_member *m, const char *topic);

#endif
