#include "shard.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "http_metrics.h"
#include "diag.h"
#include "partition.h"
#include "producer_state.h"
#include "request.h"
#include "server.h"

enum {
    RING_ENTRIES = 4096,
    CQ_ENTRIES = 32768,
    RECV_BUFFERS = 1024,
    RECV_BUFFER_BYTES = 32 * 1024,
    RECV_BUFFER_GROUP = 1,
    TICK_MS = 5,
};

static _Thread_local struct shard *current_shard;

struct shard *shard_current(void)
{
    return current_shard;
}

int64_t clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_monotonic_ms(void)
{
    return clock_monotonic_ns() / 1000000;
}

int64_t clock_realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------- partitions */

struct partition *shard_find_partition(struct shard *s, const char *topic, uint32_t partition)
{
    uint64_t h = partition_hash(topic, partition) % SHARD_PART_BUCKETS;
    for (struct partition *p = s->parts[h]; p; p = p->hash_next)
        if (p->index == partition && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

void shard_add_partition(struct shard *s, struct partition *p)
{
    uint64_t h = partition_hash(p->topic, p->index) % SHARD_PART_BUCKETS;
    p->hash_next = s->parts[h];
    s->parts[h] = p;
    s->part_count++;
}

void shard_remove_partition(struct shard *s, struct partition *p)
{
    uint64_t h = partition_hash(p->topic, p->index) % SHARD_PART_BUCKETS;
    for (struct partition **link = &s->parts[h]; *link; link = &(*link)->hash_next) {
        if (*link == p) {
            *link = p->hash_next;
            s->part_count--;
            return;
        }
    }
}

/* ------------------------------------------------------------ messages */

struct io_uring_sqe *shard_get_sqe(struct shard *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    while (!sqe) {
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void msg_send_failed(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct shard_msg *m = rl_container_of(c, struct shard_msg, sent);
    /* The target's completion queue was full: try again on the next tick. */
    DIAG_DEBUG("MSG_RING to shard %d failed (%s); retrying", m->target, strerror(-res));
    m->retry_next = m->from->retry;
    m->from->retry = m;
}

static void post_msg(struct shard *from, struct shard_msg *m)
{
    struct shard *to = from->srv->shards[m->target];
    struct io_uring_sqe *sqe = shard_get_sqe(from);
    io_uring_prep_msg_ring(sqe, to->ring.ring_fd, 0, (uint64_t)(uintptr_t)&m->arrive, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data(sqe, &m->sent);
}

void shard_send(struct shard *from, int target, struct shard_msg *m)
{
    m->from = from;
    m->target = target;
    m->sent.on_complete = msg_send_failed;
    post_msg(from, m);
}

static void on_wake(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct shard_msg *m = rl_container_of(c, struct shard_msg, arrive);
    struct shard *s = shard_current();
    atomic_store(&s->wake_pending[m->from->id], false);
    fetch_recheck_parked(s, false);
}

void shard_wake(struct shard *from, int target)
{
    struct shard *to = from->srv->shards[target];
    if (to == from) {
        fetch_recheck_parked(from, false);
        return;
    }
    if (atomic_exchange(&to->wake_pending[from->id], true))
        return; /* one already on its way */
    struct shard_msg *m = &to->wake_from[from->id];
    m->arrive.on_complete = on_wake;
    shard_send(from, target, m);
}

/* -------------------------------------------------------------- accept */

static void arm_accept(struct shard *s)
{
    struct io_uring_sqe *sqe = shard_get_sqe(s);
    io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &s->accept_done);
    s->accepting = true;
}

static void on_accept(struct rl_completion *c, int32_t res, uint32_t flags)
{
    struct shard *s = rl_container_of(c, struct shard, accept_done);
    if (!(flags & IORING_CQE_F_MORE))
        s->accepting = false;
    if (res >= 0) {
        if (s->stopping ||
            s->conn_count >= s->srv->cfg.max_connections / (uint32_t)s->srv->nshards + 1) {
            metrics_add(&s->metrics.connections_rejected, 1);
            close(res);
        } else {
            conn_open(s, res);
        }
    } else if (res != -ECANCELED) {
        DIAG_WARN("accept: %s", strerror(-res));
    }
    if (!s->accepting && !s->stopping)
        arm_accept(s);
    else if (!s->accepting)
        shard_close_listener(&s->listen_fd);
}

void shard_close_listener(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void cancel_accept(struct shard *s, struct rl_completion *accept)
{
    struct io_uring_sqe *sqe = shard_get_sqe(s);
    io_uring_prep_cancel(sqe, accept, 0);
    io_uring_sqe_set_data(sqe, NULL);
}

/* ---------------------------------------------------------------- tick */

static void arm_tick(struct shard *s)
{
    struct io_uring_sqe *sqe = shard_get_sqe(s);
    io_uring_prep_timeout(sqe, &s->tick_interval, 0, 0);
    io_uring_sqe_set_data(sqe, &s->tick_done);
}

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

static void begin_stopping(struct shard *s)
{
    s->stopping = true;
    DIAG_DEBUG("stopping: draining %u connections", s->conn_count);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_begin_drain(c);
        conn_maybe_free(c);
    }
    /* The listeners close when their accepts report the cancel (on_accept). */
    if (s->accepting)
        cancel_accept(s, &s->accept_done);
    else
        shard_close_listener(&s->listen_fd);
    if (s->metrics_accepting)
        cancel_accept(s, &s->metrics_accept_done);
    else
        shard_close_listener(&s->metrics_fd);
}

static void on_tick(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct shard *s = rl_container_of(c, struct shard, tick_done);
    s->now_ms = clock_monotonic_ms();
    log_engine_tick(&s->engine);
    struct shard_msg *retry = s->retry;
    s->retry = NULL;
    while (retry) {
        struct shard_msg *next = retry->retry_next;
        post_msg(s, retry);
        retry = next;
    }
    fetch_recheck_parked(s, true);
    if (s->id == 0)
        topic_registry_reclaim(&s->srv->topics, min_seen_version(s->srv));
    if (!s->stopping && atomic_load(&s->srv->stopping))
        begin_stopping(s);
    arm_tick(s);
}

/* ------------------------------------------------------------ the loop */

static void dispatch_completions(struct shard *s)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&s->ring, head, cqe)
    {
        struct rl_completion *c = io_uring_cqe_get_data(cqe);
        int32_t res = cqe->res;
        uint32_t flags = cqe->flags;
        seen++;
        if (c)
            c->on_complete(c, res, flags);
    }
    io_uring_cq_advance(&s->ring, seen);
}

/* Opens every partition this shard owns (start-up; recovery runs here, in parallel across shards).
 */
static int open_owned_partitions(struct shard *s)
{
    struct topic_table *t = topic_registry_snapshot(&s->srv->topics);
    for (uint32_t i = 0; i < t->count; i++) {
        struct topic_info *ti = t->topics[i];
        for (uint32_t p = 0; p < ti->partitions; p++) {
            if (topic_partition_owner(ti, p, s->srv->nshards) != s->id)
                continue;
            char err[512];
            struct partition *part = partition_open(s, ti, p, err, sizeof(err));
            if (!part) {
                DIAG_ERROR("cannot open partition: %s", err);
                return -1;
            }
            shard_add_partition(s, part);
        }
    }
    return 0;
}

static void close_partitions(struct shard *s);
static int setup_ring(struct shard *s);

static bool shard_drained(struct shard *s)
{
    return s->stopping && s->conn_count == 0 && atomic_load(&s->srv->conns_moving) == 0 &&
           s->listen_fd < 0 && s->metrics_fd < 0;
}

static void *shard_main(void *arg)
{
    struct shard *s = arg;
    current_shard = s;
    char name[16];
    snprintf(name, sizeof(name), "shard-%d", s->id);
    diag_set_thread_name(name);
    s->now_ms = clock_monotonic_ms();
    if (setup_ring(s) != 0) {
        atomic_fetch_add(&s->srv->shards_failed, 1);
        return NULL;
    }
    if (open_owned_partitions(s) != 0) {
        atomic_fetch_add(&s->srv->shards_failed, 1);
        close_partitions(s);
        return NULL;
    }
    /* Serve only once every shard can receive messages. */
    atomic_fetch_add(&s->srv->shards_ready, 1);
    while (atomic_load(&s->srv->shards_ready) + atomic_load(&s->srv->shards_failed) <
           s->srv->nshards)
        usleep(1000);
    if (atomic_load(&s->srv->shards_failed) > 0) {
        close_partitions(s);
        return NULL;
    }
    arm_accept(s);
    if (s->metrics_fd >= 0)
        http_metrics_arm(s);
    arm_tick(s);
    io_uring_submit(&s->ring);
    atomic_fetch_add(&s->srv->shards_serving, 1);

    bool counted_drained = false;
    for (;;) {
        atomic_store(&s->seen_version, atomic_load(&s->srv->topics.version));
        if (shard_drained(s) && !counted_drained) {
            counted_drained = true;
            atomic_fetch_add(&s->srv->shards_stopped, 1);
        }
        /* Every shard drained: nobody can send us work any more. */
        if (counted_drained && atomic_load(&s->srv->shards_stopped) == s->srv->nshards)
            break;
        log_engine_submit(&s->engine);
        int rc = io_uring_submit_and_wait(&s->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
            DIAG_ERROR("io_uring_submit_and_wait: %s", strerror(-rc));
            break;
        }
        dispatch_completions(s);
    }
    close_partitions(s);
    return NULL;
}

struct close_wait {
    struct log_ctl ctl;
    bool done;
};

static void close_done(struct log_ctl *ctl, int status)
{
    struct close_wait *w = rl_container_of(ctl, struct close_wait, ctl);
    if (status != LOG_OK)
        DIAG_WARN("closing a partition: %s", log_status_str(status));
    w->done = true;
}

/* Clean shutdown of every partition: flush, complete indexes, clean marker. */
static void close_partitions(struct shard *s)
{
    for (int b = 0; b < SHARD_PART_BUCKETS; b++) {
        while (s->parts[b]) {
            struct partition *p = s->parts[b];
            s->parts[b] = p->hash_next;
            int rc = producer_state_save(p, s->srv->cfg.data_dir);
            if (rc != 0)
                DIAG_WARN("saving producer state of %s-%u: %s (the next start reads the log)",
                          p->topic, p->index, strerror(-rc));
            struct close_wait w = {.done = false};
            w.ctl.on_complete = close_done;
            if (partition_log_close(p->log, &w.ctl) == LOG_OK)
                log_engine_drive(&s->engine, &s->ring, &w.done);
            partition_free(p);
        }
    }
    log_engine_drive(&s->engine, &s->ring, NULL);
}

/*
 * Ring set-up flags, best first. SINGLE_ISSUER and DEFER_TASKRUN: only the
 * shard's thread touches its ring, so completions (io-wq writes, socket
 * receives, messages from other shards) are queued and run when the thread
 * next waits, in one batch, instead of interrupting it with an IPI each
 * (at half load: ~5 % less broker CPU per message, and a shorter tail).
 * Kernels without DEFER_TASKRUN (before 6.1) get the next set.
 */
static const unsigned ring_flag_sets[] = {
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
        IORING_SETUP_SINGLE_ISSUER,
    IORING_SETUP_CQSIZE,
};

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

/* Creates the ring on the shard's own thread: with SINGLE_ISSUER the
 * creating task is the only one allowed to submit and register. */
static int setup_ring(struct shard *s)
{
    struct io_uring_params params;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(ring_flag_sets) / sizeof(ring_flag_sets[0]) && rc < 0; i++) {
        memset(&params, 0, sizeof(params));
        params.flags = ring_flag_sets[i];
        params.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &params);
    }
    if (rc < 0) {
        DIAG_ERROR("io_uring_queue_init: %s", strerror(-rc));
        return -1;
    }
    rc = bufring_init(&s->recv_buffers, &s->ring, RECV_BUFFER_GROUP, RECV_BUFFERS,
                      RECV_BUFFER_BYTES);
    if (rc < 0) {
        DIAG_ERROR("registering the receive buffer ring: %s", strerror(-rc));
        io_uring_queue_exit(&s->ring);
        return -1;
    }
    s->ring_ready = true;
    log_io_uring_init(&s->io, &s->ring);
    struct log_engine_config ecfg = {.io = &s->io.io, .log = storage_diag};
    log_engine_init(&s->engine, &ecfg);
    return 0;
}

int shard_init(struct shard *s, struct server *srv, int id, char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->srv = srv;
    s->listen_fd = -1;
    s->metrics_fd = -1;
    s->wake_from = calloc((size_t)srv->nshards, sizeof(*s->wake_from));
    s->wake_pending = calloc((size_t)srv->nshards, sizeof(*s->wake_pending));
    if (!s->wake_from || !s->wake_pending) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    s->accept_done.on_complete = on_accept;
    s->tick_done.on_complete = on_tick;
    s->tick_interval.tv_sec = 0;
    s->tick_interval.tv_nsec = TICK_MS * 1000000L;
    atomic_init(&s->seen_version, 0);
    return 0;
}

int shard_start(struct shard *s)
{
    return pthread_create(&s->thread, NULL, shard_main, s);
}

void shard_destroy(struct shard *s)
{
    if (s->ring_ready) {
        bufring_destroy(&s->recv_buffers, &s->ring);
        io_uring_queue_exit(&s->ring);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->metrics_fd >= 0)
        close(s->metrics_fd);
    free(s->wake_from);
    free(s->wake_pending);
}
