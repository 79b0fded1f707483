/*
 * One consumer group's coordinator state machine (KIP-848 style), pure: no
 * I/O, clocks or ids of its own (the caller passes now and new member ids),
 * so tests drive it directly. The coordinator (coordinator.h) persists what
 * it marks dirty as records of __groups and rebuilds it from them.
 *
 * Epochs: the group epoch moves whenever what the assignment depends on
 * changes (a member joins, leaves or changes its subscription, a subscribed
 * topic appears or grows); the target assignment is recomputed when the
 * group epoch passes the assignment epoch. Each member then reconciles
 * alone: partitions it must give up are first taken out of its assignment
 * (it commits and revokes them, and says so by no longer reporting them
 * owned); only then does it move to the assignment epoch, and a partition
 * goes to its new owner only once nobody else owns or is revoking it. A
 * member whose partitions stay is never asked to revoke anything.
 */
#ifndef RINGLOG_BROKER_GROUPS_GROUP_H
#define RINGLOG_BROKER_GROUPS_GROUP_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assign.h"
#include "tp_set.h"

#define GROUP_MAX_MEMBERS 500
#define GROUP_MAX_OFFSETS 100000
#define GROUP_MAX_TOPICS 1000 /* subscribed names per member */
#define GROUP_SESSION_MIN_MS 1000
#define GROUP_SESSION_MAX_MS 300000
#define GROUP_SESSION_DEFAULT_MS 45000
#define GROUP_REBALANCE_DEFAULT_MS 60000

/* Mapped to wire codes at the protocol edge (handlers/handle_group*.c). */
enum group_error {
    GROUP_OK,
    GROUP_UNKNOWN_MEMBER,
    GROUP_FENCED_EPOCH,
    GROUP_STALE_EPOCH,
    GROUP_NOT_EMPTY,
    GROUP_FULL,
    GROUP_BAD_PATTERN,
    GROUP_BAD_REQUEST, /* detail in the heartbeat's message */
    GROUP_NO_MEMORY,
};

struct group_member {
    char *id;
    char *instance_id; /* NULL: dynamic */
    char *client_id;
    int32_t epoch;
    int32_t prev_epoch; /* a heartbeat whose answer was lost may still use it */
    char **topics;      /* subscribed names, sorted */
    size_t ntopics;
    char *pattern; /* NULL: none */
    regex_t re;
    char **resolved; /* topics + pattern matches that exist, sorted */
    size_t nresolved;
    uint32_t rebalance_timeout_ms, session_timeout_ms;
    struct tp_set assigned, revoking, target;
    int64_t session_deadline_ms;
    int64_t revoke_deadline_ms;
    bool dirty; /* its record must be written */
};

struct group_offset {
    char *topic;
    uint32_t partition;
    int64_t offset;
    char *metadata;
    bool dirty;
};

struct group {
    char *name;
    int32_t epoch;
    int32_t assignment_epoch;
    enum assignor assignor;
    struct group_member **members; /* sorted by id */
    size_t nmembers, members_cap;
    uint64_t topics_hash;         /* of the subscribed topics and their partition counts */
    struct group_offset *offsets; /* sorted by (topic, partition) */
    size_t noffsets, offsets_cap;
    bool meta_dirty;
    char **removed; /* members removed since the caller last wrote their tombstones */
    size_t nremoved;
    uint64_t rebalances; /* target assignments computed (metrics) */
};

/* The topics a group may subscribe to (internal "__" topics excluded by the caller). */
struct group_topics {
    void *ctx;
    uint32_t (*partitions)(void *ctx, const char *topic); /* 0: no such topic */
    void (*each)(void *ctx, void (*fn)(void *arg, const char *name, uint32_t partitions),
                 void *arg);
};

struct group_heartbeat {
    /* in */
    const char *member_id; /* "" to join */
    int32_t member_epoch;  /* 0 join, -1 leave, -2 static leave, else current */
    const char *instance_id;
    const char *client_id;
    char *const *topics;
    size_t ntopics;
    const char *pattern;
    const struct tp_set *owned;
    uint32_t rebalance_timeout_ms, session_timeout_ms;
    const char *assignor;
    const char *new_member_id; /* the id a joining member gets */
    int64_t now_ms;
    /* out */
    struct group_member *member; /* NULL after a leave */
    const char *message;         /* with an error */
};

struct group *group_new(const char *name);
void group_free(struct group *g);

/* One heartbeat; GROUP_OK with hb->member answered, or an error. */
enum group_error group_heartbeat(struct group *g, struct group_heartbeat *hb,
                                 const struct group_topics *topics);

/* Removes members past their session or revocation deadline; recomputes a stale target. */
void group_expire(struct group *g, int64_t now_ms, const struct group_topics *topics);

/* Whether a commit from member_id ("" outside the group) at epoch may be stored. */
enum group_error group_commit_check(const struct group *g, const char *member_id, int32_t epoch);

/* Stores a committed offset (marked dirty); 0, -1 out of memory, -2 past GROUP_MAX_OFFSETS. */
int group_offset_set(struct group *g, const char *topic, uint32_t partition, int64_t offset,
                     const char *metadata);
/* Forgets a committed offset (a tombstone read back, a reset). */
void group_offset_remove(struct group *g, const char *topic, uint32_t partition);
/* The committed offset, or NULL. */
const struct group_offset *group_offset_get(const struct group *g, const char *topic,
                                            uint32_t partition);

struct group_member *group_member_find(const struct group *g, const char *id);
/* Adds an empty member (restoring from records); NULL when out of memory or full. */
struct group_member *group_member_add(struct group *g, const char *id);
/* Removes a member (its tombstone is queued in removed). */
void group_member_remove(struct group *g, struct group_member *m, bool bump_epoch);
/* Sets a member's subscription; GROUP_OK or GROUP_BAD_PATTERN / GROUP_NO_MEMORY. */
enum group_error group_member_subscribe(struct group_member *m, char *const *topics, size_t ntopics,
                                        const char *pattern);

/* After a rebuild from records: members' subscriptions resolved, the topic view taken as seen
 * (so a restart alone moves no epoch). */
void group_settle_loaded(struct group *g, const struct group_topics *topics);

/* "empty", "assigning", "reconciling" or "stable". */
const char *group_state(const struct group *g);

/* Drops the removed list (after its tombstones were written). */
void group_clear_removed(struct group *g);

#endif
