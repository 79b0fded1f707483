/*
 * Brokers of a test cluster on 127.0.0.1 for the peer-link tests: free
 * ports and data directories planned up front (--peers needs every
 * address before any broker starts), and what a broker reports about its
 * links, read from its /metrics and its log.
 */
#ifndef RINGLOG_TESTS_PEER_CLUSTER_H
#define RINGLOG_TESTS_PEER_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_proc.h"

struct node {
    struct broker_proc b;
    int id;
    uint16_t port, metrics_port;
    char dir[512];        /* "" once cleaned up */
    const char *extra[4]; /* more flags for start(), NULL-terminated */
};

/* The --peers value start() passes; plan() fills it, a test may rewrite it. */
extern char peers_arg[512];

int64_t now_ms(void);
/* Ports and data directories for n brokers with ids 1..n; --peers names them all. */
void plan(struct node *nodes, int n);
/* Makes the node's data directory belong to cluster `id` before it starts. */
void set_cluster_id(struct node *x, const char *id);
void start(struct node *x);
/* Stops (SIGCONT, then SIGTERM, expecting a clean exit) every broker still running, removes
 * the data and forgets the node; nodes already cleaned up are skipped. */
void cleanup(struct node *nodes, int n);
/* The value of one series (e.g. `ringlog_peer_link_up{node="2"}`), or -1. */
long metric(const struct node *x, const char *series);
long peer_metric(const struct node *x, const char *name, int node);
/* Waits until x's link to `node` is up (1) or down (0); false after 10 s. */
bool wait_link(const struct node *x, int node, long up);
/* Waits until x's log since byte `from` holds needle; false after 10 s. */
bool wait_log(const struct node *x, long from, const char *needle);
/* The peer incarnation x logged for the last link up to `node` since `from`; 0 if none. */
uint64_t logged_incarnation(const struct node *x, long from, int node);
/* Waits until that incarnation is `want` (log lines reach the file a little
 * after the metrics change); false after 10 s. */
bool wait_incarnation(const struct node *x, long from, int node, uint64_t want);
/* The node's <data-dir>/meta/incarnation. */
uint64_t disk_incarnation(const struct node *x);

/* A listening socket on a free loopback port, for a test to be dialed at. */
int listen_free(uint16_t *port);
/* Answers a dialer's hello on fd as node `node` with that incarnation. */
void answer(int fd, int32_t node, uint64_t incarnation);

#endif
