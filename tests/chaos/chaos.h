/*
 * The chaos suite (issue 15, tests item 3): three real ringlogd processes,
 * idempotent acks=all producers and consumers throughout, a seeded nemesis
 * (kills, pauses, graceful restarts, partitions, delays and resets between
 * brokers through our own TCP proxy), then heal, read every replica and
 * check what was acknowledged and seen against what the logs hold.
 *
 * Shared types of the driver's parts: the run's options, the cluster of
 * broker processes, the failure counter every part reports into.
 */
#ifndef RINGLOG_TESTS_CHAOS_H
#define RINGLOG_TESTS_CHAOS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker_proc.h"

#define CHAOS_NODES 3
#define CHAOS_TOPIC "chaos"
#define CHAOS_MAX_PARTITIONS 16 /* at least WL_MAX_PARTITIONS */

struct chaos_opts {
    uint64_t seed;
    int duration_s;    /* nemesis and workload time */
    const char *flush; /* "always" or "none" */
    int partitions;
    int producers;
    int consumers;
    int rate;          /* messages per second per producer */
    bool keep;         /* keep data directories even on success */
    bool sabotage;     /* plant a fault for each check (check.h): the checks must catch them */
    const char *known; /* comma-separated checks whose failures are known (not counted) */
    bool flips;        /* the nemesis also flips bits in committed batches on disk (flip.h) */
};

struct chaos_node {
    int id;
    uint16_t port;           /* the broker's own --listen port, the same across restarts */
    struct broker_proc proc; /* proc.pid 0: not running */
    bool paused;
    char dir[512];
};

struct chaos_cluster {
    struct chaos_node nodes[CHAOS_NODES];
    char bootstrap[256]; /* the brokers' real addresses, for clients */
    char base_dir[512];
    const struct chaos_opts *opts;
    struct proxy *proxy;
    bool moved[CHAOS_MAX_PARTITIONS]; /* the nemesis left the partition on fewer nodes */
};

/* Milliseconds on the monotonic clock, and since the run started (for log lines). */
int64_t chaos_now_ms(void);
double chaos_elapsed_s(void);
/* The wall clock (ms since 1970) when the run started: record timestamps are on it. */
int64_t chaos_wall_start_ms(void);

/* Reports one failure (printed at once, counted for the summary). */
void chaos_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int chaos_failures(void);

/*
 * Reports a failure of one named check of the logs ("acked", "order",
 * "seen", "identical"). A check named in --known is a known failure: it is
 * printed as one, counted apart, and does not fail the run.
 */
void chaos_check_failed(const char *check, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* While set, check failures are reported as planted faults caught (--sabotage). */
void chaos_set_planting(bool on);
/* Failures and known failures reported so far. */
int chaos_reports(void);

/* A line of the run's log on stdout, stamped with the elapsed time. */
void chaos_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
