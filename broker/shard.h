/*
 * A shard: one thread, one io_uring, its own connections, partitions and
 * memory. Shards share nothing mutable but a few atomics (partition offsets
 * for Metadata, the topic table pointer) and talk by posting completions on
 * each other's rings with IORING_OP_MSG_RING.
 *
 * The loop, once a turn:
 *   1. note the topic-table version seen (quiescent point, topics.h)
 *   2. let the storage engine turn queued appends into SQEs
 *   3. submit and wait for at least one CQE
 *   4. dispatch every CQE through its rl_completion
 */
#ifndef RINGLOG_BROKER_SHARD_H
#define RINGLOG_BROKER_SHARD_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/bufring.h"
#include "io/completion.h"
#include "log/log_io_uring.h"
#include "log/partition_log.h"
#include "metrics.h"

struct server;
struct conn;
struct partition;
struct request;

/*
 * A message from one shard to another. `arrive` runs on the target shard;
 * `sent` runs on the sender only if the MSG_RING itself failed (then the
 * sender retries on its next tick).
 */
struct shard_msg {
    struct rl_completion arrive;
    struct rl_completion sent;
    struct shard *from;
    int target;
    struct shard_msg *retry_next;
};

#define SHARD_PART_BUCKETS 4096

struct shard {
    int id;
    struct server *srv;
    pthread_t thread;
    struct io_uring ring;
    bool ring_ready;
    struct log_io_uring io;
    struct log_engine engine;
    struct bufring recv_buffers;

    int listen_fd;
    struct rl_completion accept_done;
    bool accepting;
    int metrics_fd; /* shard 0 only */
    struct rl_completion metrics_accept_done;
    bool metrics_accepting;

    struct __kernel_timespec tick_interval;
    struct rl_completion tick_done;
    int64_t now_ms; /* CLOCK_MONOTONIC, refreshed every turn */
    int64_t last_engine_tick_ms;

    /* Wakes for parked fetches: one message per sending shard, sent at most once in flight. */
    struct shard_msg *wake_from; /* [nshards]: wake_from[s] is what shard s sends us */
    _Atomic bool *wake_pending;  /* [nshards] */

    struct conn *conns;
    uint32_t conn_count;
    uint64_t next_conn_id;
    struct request *parked; /* long-poll fetches waiting for data */

    struct partition *parts[SHARD_PART_BUCKETS];
    uint32_t part_count;

    struct shard_msg *retry; /* messages whose MSG_RING failed */
    _Atomic uint64_t seen_version;
    bool stopping;
    struct shard_metrics metrics;
};

/*
 * Closes a listening socket whose multishot accept has ended. Only then:
 * the accept holds a reference to the socket, and a socket closed while
 * one is armed stays bound until the ring is torn down, after the process
 * has exited, so a broker restarted at once would find its port taken.
 */
void shard_close_listener(int *fd);

int shard_init(struct shard *s, struct server *srv, int id, char *err, size_t err_len);
void shard_destroy(struct shard *s);
int shard_start(struct shard *s);

/* An SQE on the shard's ring, submitting what is queued when the SQ is full. */
struct io_uring_sqe *shard_get_sqe(struct shard *s);

/* Sends m to shard `target` (which may be this shard). Never fails: retries. */
void shard_send(struct shard *from, int target, struct shard_msg *m);

/* Asks shard `target` to re-check its parked fetches. */
void shard_wake(struct shard *from, int target);

/* The shard whose thread is running (NULL outside shard threads). */
struct shard *shard_current(void);

/* Partition lookup in this shard's own table. */
struct partition *shard_find_partition(struct shard *s, const char *topic, uint32_t partition);
void shard_add_partition(struct shard *s, struct partition *p);
void shard_remove_partition(struct shard *s, struct partition *p);

/* Milliseconds on CLOCK_MONOTONIC and CLOCK_REALTIME. */
int64_t clock_monotonic_ms(void);
int64_t clock_monotonic_ns(void);
int64_t clock_realtime_ms(void);

#endif
