/*
 * Application events other than deliveries and messages: errors for the
 * error callback and statistics for the statistics callback. The I/O
 * thread (or an API call) posts them with the handle's lock held; whoever
 * serves callbacks (cluster.h, rl_cluster_serve_begin) takes the list and
 * dispatches it without the lock. The queue is bounded: past
 * RL_EVENTS_MAX, errors are counted and the count is reported with the
 * next one that fits; a newer statistics event replaces an older one not
 * yet served.
 */
#ifndef RINGLOG_CLIENT_EVENTS_H
#define RINGLOG_CLIENT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

enum { RL_EVENTS_MAX = 256 };

enum rl_event_kind { RL_EV_ERROR, RL_EV_STATS };

struct rl_event {
    struct rl_event *next;
    enum rl_event_kind kind;
    int err;    /* RL_EV_ERROR */
    char *text; /* reason, or the statistics JSON */
    size_t len;
};

struct rl_events {
    struct rl_event *head, *tail;
    size_t count;
    size_t dropped; /* errors not queued since the last one that was */
};

/* Queues an error event (formatted reason). Does nothing without an error callback. */
void rl_events_post_error(struct rl_events *q, const struct ringlog_conf *conf, int err,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Queues statistics; takes json (malloc'ed, NUL-terminated, len bytes). */
void rl_events_post_stats(struct rl_events *q, char *json, size_t len);

/* Whether anything is queued. */
static inline bool rl_events_pending(const struct rl_events *q)
{
    return q->head != NULL;
}

/* Takes the whole queue, oldest first (NULL when empty). */
struct rl_event *rl_events_take(struct rl_events *q);

/* Runs the callbacks of a taken list, in order, and frees it. Returns how many ran. */
int rl_events_dispatch(const struct ringlog_conf *conf, struct rl_event *list);

/* Frees a taken list (or the queue's, with rl_events_take) without callbacks. */
void rl_events_free(struct rl_event *list);

#endif
