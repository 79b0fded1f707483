/* The Prometheus text exposition of the broker (GET /metrics). */
#ifndef RINGLOG_BROKER_METRICS_TEXT_H
#define RINGLOG_BROKER_METRICS_TEXT_H

#include <stddef.h>

struct server;

/* Renders every shard's counters and every partition's gauges into a malloc'd buffer. */
char *metrics_render(struct server *srv, size_t *len);

#endif
