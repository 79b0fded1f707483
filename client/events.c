#include "events.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(struct rl_events *q, struct rl_event *e)
{
    e->next = NULL;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->count++;
}

void rl_events_post_error(struct rl_events *q, const struct ringlog_conf *conf, int err,
                          const char *fmt, ...)
{
    assert(err != RINGLOG_OK);
    if (!conf->error_cb)
        return;
    if (q->count >= RL_EVENTS_MAX) {
        q->dropped++;
        return;
    }
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (q->dropped && n >= 0 && (size_t)n < sizeof(text))
        snprintf(text + n, sizeof(text) - (size_t)n,
                 " (%zu earlier errors not reported: queue full)", q->dropped);
    struct rl_event *e = calloc(1, sizeof(*e));
    if (!e || !(e->text = strdup(text))) {
        free(e);
        q->dropped++;
        return;
    }
    e->kind = RL_EV_ERROR;
    e->err = err;
    e->len = strlen(e->text);
    q->dropped = 0;
    push(q, e);
}

void rl_events_post_stats(struct rl_events *q, char *json, size_t len)
{
    assert(json && json[len] == '\0');
    for (struct rl_event *e = q->head; e; e = e->next)
        if (e->kind == RL_EV_STATS) {
            /* Not served yet: the newer figures replace it. */
            free(e->text);
            e->text = json;
            e->len = len;
            return;
        }
    struct rl_event *e = calloc(1, sizeof(*e));
    if (!e) {
        free(json);
        return;
    }
    e->kind = RL_EV_STATS;
    e->text = json;
    e->len = len;
    push(q, e);
}

struct rl_event *rl_events_take(struct rl_events *q)
{
    struct rl_event *list = q->head;
    q->head = q->tail = NULL;
    q->count = 0;
    return list;
}

int rl_events_dispatch(const struct ringlog_conf *conf, struct rl_event *list)
{
    int n = 0;
    while (list) {
        struct rl_event *e = list;
        list = e->next;
        if (e->kind == RL_EV_ERROR && conf->error_cb) {
            conf->error_cb(e->err, e->text, conf->error_opaque);
            n++;
        } else if (e->kind == RL_EV_STATS && conf->stats_cb) {
            conf->stats_cb(e->text, e->len, conf->stats_opaque);
            n++;
        }
        free(e->text);
        free(e);
    }
    assert(n >= 0);
    return n;
}

void rl_events_free(struct rl_event *list)
{
    while (list) {
        struct rl_event *e = list;
        list = e->next;
        free(e->text);
        free(e);
    }
}
