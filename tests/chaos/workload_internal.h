/* The workload's state, shared by the producer (workload.c) and consumer (wl_consume.c) sides. */
#ifndef RINGLOG_TESTS_CHAOS_WORKLOAD_INTERNAL_H
#define RINGLOG_TESTS_CHAOS_WORKLOAD_INTERNAL_H

#include <pthread.h>
#include <stdio.h>

#include "ringlog.h"
#include "workload.h"

/* Who a client's diagnostics come from, for the run's clients.log. */
struct wl_log_ctx {
    struct workload *w;
    char name[16];
};

struct wl_producer {
    struct workload *w;
    uint32_t index;
    ringlog_producer *rp;
    pthread_t thread;
    pthread_mutex_t lock; /* series: the delivery callback runs on the client's thread */
    struct wl_series series[WL_MAX_PARTITIONS];
    struct wl_log_ctx log;
};

/* What consumers saw of one partition: packed ids by offset (0: nothing seen). */
struct wl_seen_part {
    uint64_t *ids;
    int64_t cap;
};

struct wl_consumer {
    struct workload *w;
    uint32_t index;
    pthread_t thread;
    struct wl_log_ctx log;
};

struct workload {
    const struct chaos_opts *o;
    const struct chaos_cluster *c;
    atomic_bool stop;
    atomic_uint_fast64_t acked, errors, consumed;
    struct wl_producer producers[WL_MAX_PRODUCERS];
    struct wl_consumer consumers[WL_MAX_PRODUCERS];
    FILE *client_log; /* every client diagnostic, with run time and client name */
    pthread_mutex_t seen_lock;
    struct wl_seen_part seen[WL_MAX_PARTITIONS];
};

/* Client diagnostics go to <base dir>/clients.log (opaque: a struct wl_log_ctx). */
void wl_client_log(int level, const char *message, void *opaque);

void wl_consumers_start(struct workload *w);
void wl_consumers_stop(struct workload *w);

#endif
