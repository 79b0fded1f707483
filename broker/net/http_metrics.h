/*
 * The /metrics endpoint: a minimal HTTP/1.0 responder on shard 0's ring.
 * Each scrape is one connection: read the request line, answer, close.
 * GET /metrics (Prometheus text) and GET /health ("ready" / "not ready").
 */
#ifndef RINGLOG_BROKER_HTTP_METRICS_H
#define RINGLOG_BROKER_HTTP_METRICS_H

struct shard;

/* Arms the multishot accept on s->metrics_fd. */
void http_metrics_arm(struct shard *s);

#endif
