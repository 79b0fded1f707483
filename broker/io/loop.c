#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diag.h"

enum {
    RING_ENTRIES = 4096,
    CQ_ENTRIES = 32768,
    RECV_BUFFERS = 1024,
    RECV_BUFFER_BYTES = 32 * 1024,
    RECV_BUFFER_GROUP = 1,
};

static _Thread_local struct loop *current_loop;

struct loop *loop_current(void)
{
    return current_loop;
}

static void on_tick(struct rl_completion *c, int32_t res, uint32_t flags);

int loop_init(struct loop *l, int id, struct loop *const *all, int count,
              const struct loop_hooks *hooks)
{
    assert(id >= 0 && id < count);
    assert(hooks != NULL && hooks->finished != NULL);
    memset(l, 0, sizeof(*l));
    l->id = id;
    l->count = count;
    l->all = all;
    l->hooks = hooks;
    l->tick_done.on_complete = on_tick;
    l->tick_interval.tv_nsec = LOOP_TICK_MS * 1000000L;
    l->wake_from = calloc((size_t)count, sizeof(*l->wake_from));
    l->wake_pending = calloc((size_t)count, sizeof(*l->wake_pending));
    if (l->wake_from == NULL || l->wake_pending == NULL) {
        loop_destroy(l);
        return -1;
    }
    return 0;
}

void loop_destroy(struct loop *l)
{
    if (l->ring_ready) {
        bufring_destroy(&l->recv_buffers, &l->ring);
        io_uring_queue_exit(&l->ring);
        l->ring_ready = false;
    }
    free(l->wake_from);
    free(l->wake_pending);
    l->wake_from = NULL;
    l->wake_pending = NULL;
}

/*
 * Ring set-up flags, best first. SINGLE_ISSUER and DEFER_TASKRUN: only the
 * loop's thread touches its ring, so completions (io-wq writes, socket
 * receives, messages from other loops) are queued and run when the thread
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

int loop_setup_ring(struct loop *l)
{
    assert(!l->ring_ready);
    struct io_uring_params params;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(ring_flag_sets) / sizeof(ring_flag_sets[0]) && rc < 0; i++) {
        memset(&params, 0, sizeof(params));
        params.flags = ring_flag_sets[i];
        params.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_ENTRIES, &l->ring, &params);
    }
    if (rc < 0)
        return rc;
    rc = bufring_init(&l->recv_buffers, &l->ring, RECV_BUFFER_GROUP, RECV_BUFFERS,
                      RECV_BUFFER_BYTES);
    if (rc < 0) {
        io_uring_queue_exit(&l->ring);
        return rc;
    }
    l->ring_ready = true;
    l->now_ms = clock_monotonic_ms();
    current_loop = l;
    return 0;
}

struct io_uring_sqe *loop_sqe(struct loop *l)
{
    assert(l == current_loop);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    while (!sqe) {
        io_uring_submit(&l->ring);
        sqe = io_uring_get_sqe(&l->ring);
    }
    return sqe;
}

/* ------------------------------------------------------------ messages */

static void msg_send_failed(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct loop_msg *m = rl_container_of(c, struct loop_msg, sent);
    /* The target's completion queue was full: try again on the next tick. */
    DIAG_DEBUG("MSG_RING to shard %d failed (%s); retrying", m->target, strerror(-res));
    m->retry_next = m->from->retry;
    m->from->retry = m;
}

static void post_msg(struct loop *from, struct loop_msg *m)
{
    struct loop *to = from->all[m->target];
    assert(to != NULL && to->ring_ready);
    struct io_uring_sqe *sqe = loop_sqe(from);
    io_uring_prep_msg_ring(sqe, to->ring.ring_fd, 0, (uint64_t)(uintptr_t)&m->arrive, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data(sqe, &m->sent);
}

void loop_send(struct loop *l, int target, struct loop_msg *m)
{
    assert(target >= 0 && target < l->count);
    assert(m->arrive.on_complete != NULL);
    m->from = l;
    m->target = target;
    m->sent.on_complete = msg_send_failed;
    post_msg(l, m);
}

static void on_wake(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct loop_msg *m = rl_container_of(c, struct loop_msg, arrive);
    struct loop *l = current_loop;
    assert(l != NULL && m->target == l->id);
    atomic_store(&l->wake_pending[m->from->id], false);
    if (l->hooks->on_wake)
        l->hooks->on_wake(l);
}

void loop_wake(struct loop *l, int target)
{
    struct loop *to = l->all[target];
    assert(to != NULL);
    if (to == l) {
        if (l->hooks->on_wake)
            l->hooks->on_wake(l);
        return;
    }
    if (atomic_exchange(&to->wake_pending[l->id], true))
        return; /* one already on its way */
    struct loop_msg *m = &to->wake_from[l->id];
    m->arrive.on_complete = on_wake;
    loop_send(l, target, m);
}

/* ---------------------------------------------------------- tick, turn */

static void arm_tick(struct loop *l)
{
    struct io_uring_sqe *sqe = loop_sqe(l);
    io_uring_prep_timeout(sqe, &l->tick_interval, 0, 0);
    io_uring_sqe_set_data(sqe, &l->tick_done);
}

static void on_tick(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct loop *l = rl_container_of(c, struct loop, tick_done);
    l->now_ms = clock_monotonic_ms();
    struct loop_msg *retry = l->retry;
    l->retry = NULL;
    while (retry) {
        struct loop_msg *next = retry->retry_next;
        post_msg(l, retry);
        retry = next;
    }
    if (l->hooks->on_tick)
        l->hooks->on_tick(l);
    arm_tick(l);
}

int loop_run(struct loop *l)
{
    assert(l == current_loop && l->ring_ready);
    arm_tick(l);
    io_uring_submit(&l->ring);
    while (!l->hooks->finished(l)) {
        if (l->hooks->before_wait)
            l->hooks->before_wait(l);
        int rc = io_uring_submit_and_wait(&l->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
            return rc;
        rl_dispatch_ready(&l->ring);
    }
    return 0;
}
