#include "shard_main.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "handlers/handlers.h"
#include "io/clock.h"
#include "net/conn.h"
#include "net/http_metrics.h"
#include "net/listener.h"
#include "controller/controller.h"
#include "groups/coordinator.h"
#include "net/peer.h"
#include "partition/replica.h"
#include "partition/partition.h"
#include "partition/partition_table.h"
#include "server.h"
#include "shard.h"

/* ----------------------------------------------------------- the hooks */

static uint64_t min_seen_version(struct server *srv)
{
    uint64_t min = UINT64_MAX;
    for (int i = 0; i < srv->nshards; i++) {
        uint64_t v = atomic_load(&srv->shards[i]->seen_version);
        if (v < min)
            min = v;
    }
    return min;
}

/* Shutdown, once per shard: stop accepting, drain every connection. */
static void begin_stopping(struct shard *s)
{
    assert(!s->stopping);
    s->stopping = true;
    DIAG_DEBUG("stopping: draining %u connections", s->conn_count);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_begin_drain(c);
        conn_maybe_free(c);
    }
    peer_shard_stop(s);
    listener_stop(s);
}

static void before_wait(struct loop *l)
{
    struct shard *s = shard_of(l);
    /* A quiescent point: this shard holds no topic-table pointer of an older version. */
    atomic_store(&s->seen_version, atomic_load(&s->srv->topics.version));
    /* The turn's hard state is synced and its replica messages queued to
     * the links before the links send. */
    replica_driver_before_wait(s);
    peer_before_wait(s);
    log_engine_submit(&s->engine);
}

/* Leaderships handed over within two election timeouts, or given up on. */
#define HAND_OVER_MS (2 * REPLICA_ELECTION_TICKS * REPLICA_TICK_MS * 2)

/*
 * A cluster's broker asked to stop first hands its leaderships to other
 * replicas while it still serves (clients meet NOT_LEADER and move; nothing
 * they wrote is in doubt), and only then drains. Every shard waits for
 * all: the links a shard's groups use may live on another shard.
 */
static bool hand_over_done(struct shard *s)
{
    struct server *srv = s->srv;
    if (!srv->cluster)
        return true;
    if (!s->handing_over) {
        s->handing_over = true;
        s->hand_over_deadline_ms = s->loop.now_ms + HAND_OVER_MS;
    }
    if (!s->handed_over) {
        uint32_t leading = replica_driver_hand_over(s);
        if (leading == 0 || s->loop.now_ms >= s->hand_over_deadline_ms) {
            if (leading > 0)
                DIAG_WARN("stopping with %u partitions still led here: no replica took them",
                          leading);
            s->handed_over = true;
            atomic_fetch_sub(&srv->shards_handing_over, 1);
        }
    }
    assert(atomic_load(&srv->shards_handing_over) >= 0);
    return s->handed_over && atomic_load(&srv->shards_handing_over) == 0;
}

static void on_tick(struct loop *l)
{
    struct shard *s = shard_of(l);
    log_engine_tick(&s->engine);
    fetch_recheck_parked(s, true);
    replica_driver_tick(s);
    controller_tick(s);
    coordinator_tick(s);
    peer_tick(s);
    if (s->loop.id == 0)
        topic_registry_reclaim(&s->srv->topics, min_seen_version(s->srv));
    if (!s->stopping && atomic_load(&s->srv->stopping) && hand_over_done(s))
        begin_stopping(s);
}

static void on_wake(struct loop *l)
{
    fetch_recheck_parked(shard_of(l), false);
}

static bool drained(const struct shard *s)
{
    return s->stopping && s->conn_count == 0 && atomic_load(&s->srv->conns_moving) == 0 &&
           s->listen_fd < 0 && s->metrics_fd < 0 && peer_shard_drained(s);
}

/* The loop ends once every shard is drained: nobody can send us work any more. */
static bool finished(struct loop *l)
{
    struct shard *s = shard_of(l);
    if (s->stopping && !s->counted_drained && drained(s)) {
        s->counted_drained = true;
        atomic_fetch_add(&s->srv->shards_stopped, 1);
    }
    return s->counted_drained && atomic_load(&s->srv->shards_stopped) == s->srv->nshards;
}

static const struct loop_hooks shard_hooks = {
    .before_wait = before_wait,
    .on_tick = on_tick,
    .on_wake = on_wake,
    .finished = finished,
};

/* ----------------------------------------------------- start and stop */

/* The storage engine's messages, in the broker's diagnostics. */
static void storage_diag(void *ctx, enum log_level level, const char *message)
{
    (void)ctx;
    static const enum diag_level levels[] = {
        [LOG_LEVEL_DEBUG] = DIAG_LEVEL_DEBUG,
        [LOG_LEVEL_INFO] = DIAG_LEVEL_INFO,
        [LOG_LEVEL_WARN] = DIAG_LEVEL_WARN,
        [LOG_LEVEL_ERROR] = DIAG_LEVEL_ERROR,
    };
    assert((size_t)level < sizeof(levels) / sizeof(levels[0]));
    diag(levels[level], "%s", message);
}

/* Opens every partition this shard owns (start-up; recovery runs here, in parallel across shards).
 */
static int open_owned_partitions(struct shard *s)
{
    /* A cluster's partitions open as the controller's metadata log is applied. */
    if (s->srv->cluster)
        return 0;
    struct topic_table *t = topic_registry_snapshot(&s->srv->topics);
    for (uint32_t i = 0; i < t->count; i++) {
        struct topic_info *ti = t->topics[i];
        for (uint32_t p = 0; p < ti->partitions; p++) {
            if (topic_partition_owner(ti, p, s->srv->nshards) != s->loop.id)
                continue;
            char err[512];
            struct partition *part = partition_open(s, ti, p, err, sizeof(err));
            if (!part) {
                DIAG_ERROR("cannot open partition: %s", err);
                return -1;
            }
            partition_table_add(s->parts, part);
        }
    }
    return 0;
}

/* Clean shutdown of every partition: flush, complete indexes, clean marker. */
static void close_partitions(struct shard *s)
{
    struct partition *p;
    controller_stop(s);
    while ((p = partition_table_pop(s->parts)) != NULL)
        partition_close(p);
    log_engine_drive(&s->engine, &s->loop.ring, NULL);
    coordinator_destroy(s);
    replica_driver_destroy(s);
}

static int setup(struct shard *s)
{
    int rc = loop_setup_ring(&s->loop);
    if (rc < 0) {
        DIAG_ERROR("setting up the shard's io_uring: %s", strerror(-rc));
        return -1;
    }
    log_io_uring_init(&s->io, &s->loop.ring);
    struct log_engine_config ecfg = {.io = &s->io.io, .log = storage_diag};
    log_engine_init(&s->engine, &ecfg);
    char err[512];
    if (s->srv->cluster && (replica_driver_init(s, err, sizeof(err)) != 0 ||
                            (s->loop.id == 0 && controller_start(s, err, sizeof(err)) != 0))) {
        DIAG_ERROR("starting replication: %s", err);
        close_partitions(s);
        return -1;
    }
    if (open_owned_partitions(s) != 0) {
        close_partitions(s);
        return -1;
    }
    return 0;
}

/* Serve only once every shard can receive messages; false when one failed. */
static bool wait_for_all_shards(struct shard *s)
{
    atomic_fetch_add(&s->srv->shards_ready, 1);
    while (atomic_load(&s->srv->shards_ready) + atomic_load(&s->srv->shards_failed) <
           s->srv->nshards)
        usleep(1000);
    return atomic_load(&s->srv->shards_failed) == 0;
}

static void *shard_thread(void *arg)
{
    struct shard *s = arg;
    char name[16];
    snprintf(name, sizeof(name), "shard-%d", s->loop.id);
    diag_set_thread_name(name);
    if (setup(s) != 0) {
        atomic_fetch_add(&s->srv->shards_failed, 1);
        return NULL;
    }
    if (!wait_for_all_shards(s)) {
        close_partitions(s);
        return NULL;
    }
    listener_arm(s);
    if (s->metrics_fd >= 0)
        http_metrics_arm(s);
    peer_shard_start(s);
    atomic_fetch_add(&s->srv->shards_serving, 1);
    int rc = loop_run(&s->loop);
    if (rc < 0)
        DIAG_ERROR("io_uring_submit_and_wait: %s", strerror(-rc));
    close_partitions(s);
    return NULL;
}

int shard_attach(struct shard *s)
{
    assert(loop_current() == NULL);
    return setup(s);
}

void shard_detach(struct shard *s)
{
    assert(shard_current() == s);
    close_partitions(s);
}

int shard_init(struct shard *s, struct server *srv, int id, char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    s->srv = srv;
    s->listen_fd = -1;
    s->metrics_fd = -1;
    atomic_init(&s->seen_version, 0);
    s->parts = calloc(1, sizeof(*s->parts));
    if (s->parts == NULL || loop_init(&s->loop, id, (struct loop *const *)srv->loops, srv->nshards,
                                      &shard_hooks) != 0) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    conn_set_hooks(&handler_conn_hooks);
    static const struct peer_hooks replica_peer_hooks = {.on_message = replica_receive,
                                                         .on_link = replica_link};
    peer_set_hooks(&replica_peer_hooks);
    return 0;
}

int shard_start(struct shard *s)
{
    return pthread_create(&s->thread, NULL, shard_thread, s);
}

void shard_destroy(struct shard *s)
{
    assert(s->parts == NULL || s->parts->count == 0);
    loop_destroy(&s->loop);
    listener_close_fd(&s->listen_fd);
    listener_close_fd(&s->metrics_fd);
    free(s->parts);
    s->parts = NULL;
}
