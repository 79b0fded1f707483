/*
 * The shared engine under the producer and the consumer: one I/O thread
 * that owns a connection per broker (non-blocking sockets and poll()), the
 * metadata cache (brokers, topics, partition leaders), reconnects with
 * backoff and request timeouts.
 *
 * Locking: one mutex per cluster (rl_cluster_lock). The I/O thread holds it
 * while it works and releases it while it sleeps in poll() and while it
 * runs the owner's application callbacks (hooks.callbacks). Application
 * threads take it to queue work and wake the thread (rl_cluster_wakeup).
 * Everything below, unless it says otherwise, must be called with the lock
 * held.
 */
#ifndef RINGLOG_CLIENT_CLUSTER_H
#define RINGLOG_CLIENT_CLUSTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "conn.h"
#include "events.h"
#include "sbuf.h"
#include "ringlog.pb-c.h"

struct rl_cluster;
struct rl_broker;

/*
 * Answer to a request: resp is the response (owned by the cluster and freed
 * after the call; the callee may take `bytes` fields by setting their data
 * to NULL), or NULL with err (RINGLOG_ERR_TRANSPORT, RINGLOG_ERR_TIMED_OUT,
 * RINGLOG_ERR_PROTOCOL, RINGLOG_ERR_CLOSED) when the request was lost with
 * its connection. Called on the I/O thread with the lock held.
 */
typedef void (*rl_response_cb)(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err);

struct rl_cluster_hooks {
    void *owner;
    /* Each loop turn, lock held: send what is due. Returns when to be called again (ms, -1: no
     * need). */
    int64_t (*tick)(void *owner, int64_t now);
    /* Each loop turn, lock NOT held: run application callbacks. May be NULL. */
    void (*callbacks)(void *owner);
    /* After a metadata update, lock held. May be NULL. */
    void (*metadata_changed)(void *owner);
    /* An error or statistics event was queued, lock held: wake pollers. May be NULL. */
    void (*events_posted)(void *owner);
    /* Appends the owner's statistics fields (`"name":value,` each), lock held. May be NULL. */
    void (*stats)(void *owner, struct rl_sbuf *sb);
    const char *kind; /* "producer", "consumer": in the statistics */
};

struct rl_part_md {
    int32_t leader; /* node id, -1 none */
    int32_t leader_epoch;
    int err;
};

struct rl_topic_md {
    char *name;
    bool known; /* a metadata answer about it arrived */
    int err;    /* topic-level error of the last answer (UNKNOWN_TOPIC, ...) */
    int32_t npart;
    struct rl_part_md *parts;
};

/* Copies conf. RINGLOG_OK or an error with a reason in errbuf. Does not start the thread. */
int rl_cluster_new(const struct ringlog_conf *conf, const struct rl_cluster_hooks *hooks,
                   struct rl_cluster **out, char *errbuf, size_t errlen);

/* Starts the I/O thread. Lock not held. */
int rl_cluster_start(struct rl_cluster *cl, char *errbuf, size_t errlen);

/* Stops and joins the I/O thread, failing in-flight requests with RINGLOG_ERR_CLOSED. Lock not
 * held. */
void rl_cluster_stop(struct rl_cluster *cl);

/* Frees everything (after stop). Lock not held. */
void rl_cluster_destroy(struct rl_cluster *cl);

void rl_cluster_lock(struct rl_cluster *cl);
void rl_cluster_unlock(struct rl_cluster *cl);
pthread_mutex_t *rl_cluster_mutex(struct rl_cluster *cl);

/* Wakes the I/O thread so it runs tick soon. Any thread, lock held or not. */
void rl_cluster_wakeup(struct rl_cluster *cl);

/* rl_cluster_wakeup for a caller holding the lock: writes only if the thread may be asleep. */
void rl_cluster_wakeup_locked(struct rl_cluster *cl);

/*
 * A sleeping I/O thread costs every message a wake-up (a pipe write and a
 * context switch) before it can be sent. While it sleeps in poll, a caller
 * (not the I/O thread: it is awake) holding the lock may send what it queued itself, then tell the
 * cluster with rl_cluster_caller_sent, which wakes the I/O thread only if it must see something:
 * output the socket did not take (POLLOUT), or a deadline
 * (`next`, -1: none) earlier than the one it sleeps until. A request's
 * timeout is not such a deadline: the I/O thread sleeps at most a second.
 */
bool rl_cluster_caller_may_send(struct rl_cluster *cl);
void rl_cluster_caller_sent(struct rl_cluster *cl, int64_t next);

/* Whether the caller is the I/O thread. */
bool rl_cluster_on_io_thread(struct rl_cluster *cl);

const struct ringlog_conf *rl_cluster_conf(const struct rl_cluster *cl);

/* ---- metadata ---- */

/*
 * Adds a topic to those kept in the cache; unknown ones are fetched soon.
 * NULL on ENOMEM. The entry stays at the same address until
 * rl_cluster_unwant_topic (the producer keeps pointers to it).
 */
struct rl_topic_md *rl_cluster_want_topic(struct rl_cluster *cl, const char *topic);

/* The cached topic or NULL. */
struct rl_topic_md *rl_cluster_topic(struct rl_cluster *cl, const char *topic);

/* Forgets a topic (no longer refreshed) and frees its entry. */
void rl_cluster_unwant_topic(struct rl_cluster *cl, const char *topic);

/* Asks for a metadata refresh (rate-limited by retry-backoff-ms). */
void rl_cluster_refresh_metadata(struct rl_cluster *cl);

/* Bumped by every metadata answer. */
uint64_t rl_cluster_metadata_version(const struct rl_cluster *cl);

/*
 * Waits (releasing the lock) until a metadata answer newer than `version`
 * arrives or deadline_ms (CLOCK_MONOTONIC ms, -1 forever) passes.
 * Returns false on timeout.
 */
bool rl_cluster_wait_metadata(struct rl_cluster *cl, uint64_t version, int64_t deadline_ms);

/* The broker leading the partition, NULL when unknown or leaderless. */
struct rl_broker *rl_cluster_leader(struct rl_cluster *cl, const char *topic, int32_t partition);

/*
 * A connected broker for requests any broker can answer (the controller
 * first when known). Starts connecting when none is up; NULL meanwhile.
 */
struct rl_broker *rl_cluster_any_broker(struct rl_cluster *cl);

/* The broker with this node id, NULL when metadata has none. */
struct rl_broker *rl_cluster_broker(struct rl_cluster *cl, int32_t node_id);

/*
 * A second connection to node_id at host:port (the address FindCoordinator
 * gave; made on first use, moved when the address changes; NULL when out of
 * memory) for a consumer group's requests: their answers then never wait
 * behind a long-poll fetch on the node's own connection (a connection
 * answers in request order).
 */
struct rl_broker *rl_cluster_group_link(struct rl_cluster *cl, int32_t node_id, const char *host,
                                        int port);

/* ---- brokers and requests ---- */

/* Whether the broker is connected; starts a connection (respecting backoff) if not. */
bool rl_broker_ready(struct rl_cluster *cl, struct rl_broker *b);

int32_t rl_broker_id(const struct rl_broker *b);

/* Requests on this broker awaiting a response. */
size_t rl_broker_in_flight(const struct rl_broker *b);

/*
 * Encodes and queues req on a ready broker. With expect_response, cb is
 * called later with the answer; without (produce acks=0) nothing is called.
 * extra_timeout_ms lengthens the request timeout (a fetch's long poll).
 * Returns RINGLOG_OK, or an error (the request is not sent, cb not called).
 */
int rl_broker_send(struct rl_cluster *cl, struct rl_broker *b, Ringlog__Request *req,
                   bool expect_response, int64_t extra_timeout_ms, rl_response_cb cb, void *ctx);

/*
 * rl_broker_send without copying the `bytes` fields of req that lie in the
 * `nborrow` spans (rl_conn_enqueue_borrowing): the caller keeps them alive
 * and unchanged until cb is called. Only with expect_response.
 */
int rl_broker_send_borrowing(struct rl_cluster *cl, struct rl_broker *b, Ringlog__Request *req,
                             int64_t extra_timeout_ms, const struct rl_span *borrow, size_t nborrow,
                             rl_response_cb cb, void *ctx);

/* ---- application callbacks (events.h) ---- */

/*
 * Queues an error event for the error callback and tells the owner
 * (hooks.events_posted). Lock held.
 */
void rl_cluster_post_error(struct rl_cluster *cl, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Takes the queued error and statistics events (dispatch them without the lock). Lock held. */
struct rl_event *rl_cluster_take_events(struct rl_cluster *cl);

bool rl_cluster_events_pending(const struct rl_cluster *cl);

/*
 * One thread at a time runs a handle's callbacks, so that they keep their
 * order: a caller that means to serve them calls rl_cluster_serve_begin
 * (false: another thread is serving; do not), takes what is due, runs it
 * without the lock, and ends with rl_cluster_serve_end. Lock held for both.
 */
bool rl_cluster_serve_begin(struct rl_cluster *cl);
void rl_cluster_serve_end(struct rl_cluster *cl);

/*
 * Whether the calling thread is inside one of the handle's callbacks: the
 * thread serving them now, or the I/O thread (which runs application code
 * only in callbacks). A call that would wait for callbacks must refuse
 * (RINGLOG_ERR_IN_CALLBACK). Lock held.
 */
bool rl_cluster_in_callback(struct rl_cluster *cl);

/* Logs through the configuration's log callback. */
#define rl_cluster_log(cl, level, ...) rl_log(rl_cluster_conf(cl), level, __VA_ARGS__)

#endif
