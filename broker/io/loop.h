/*
 * The loop tier: one thread, one io_uring, and the ways loops talk to each
 * other. A broker runs one loop per shard. The loop knows nothing of
 * connections, partitions or requests: what a turn, a tick or a wake means
 * to the tiers above is a hook they register at start-up (struct
 * loop_hooks), and every completion goes through the convention of
 * io/completion.h.
 *
 * A turn of the loop:
 *   1. hooks->before_wait (the storage engine turns queued appends into SQEs)
 *   2. submit and wait for at least one CQE
 *   3. dispatch every CQE through its rl_completion
 * until hooks->finished says so.
 */
#ifndef RINGLOG_BROKER_IO_LOOP_H
#define RINGLOG_BROKER_IO_LOOP_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bufring.h"
#include "completion.h"

struct loop;

/*
 * A message from one loop to another (MSG_RING). `arrive` runs on the
 * target; `sent` runs on the sender only if the MSG_RING itself failed
 * (the target's CQ was full), and then the loop posts it again on its next
 * tick, so loop_send never fails.
 */
struct loop_msg {
    struct rl_completion arrive;
    struct rl_completion sent;
    struct loop *from;
    int target;
    struct loop_msg *retry_next;
};

struct loop_hooks {
    void (*before_wait)(struct loop *l); /* each turn, before the loop sleeps */
    void (*on_tick)(struct loop *l);     /* every LOOP_TICK_MS */
    void (*on_wake)(struct loop *l);     /* another loop called loop_wake on us */
    bool (*finished)(struct loop *l);    /* loop_run returns once this is true */
};

#define LOOP_TICK_MS 5

struct loop {
    int id;
    int count;               /* loops in the process */
    struct loop *const *all; /* every loop, by id (the targets of loop_send) */
    const struct loop_hooks *hooks;
    struct io_uring ring;
    bool ring_ready;
    struct bufring recv_buffers; /* provided buffers for multishot recv */
    int64_t now_ms;              /* CLOCK_MONOTONIC, refreshed every tick */
    struct __kernel_timespec tick_interval;
    struct rl_completion tick_done;
    struct loop_msg *retry; /* messages whose MSG_RING failed */
    /* Wakes: one message per sending loop, at most one in flight each. */
    struct loop_msg *wake_from; /* [count]: wake_from[s] is what loop s sends us */
    _Atomic bool *wake_pending; /* [count] */
};

/* Fills in l (no ring yet). Returns 0, or -1 when out of memory. */
int loop_init(struct loop *l, int id, struct loop *const *all, int count,
              const struct loop_hooks *hooks);
void loop_destroy(struct loop *l);

/*
 * Creates the ring, on the loop's own thread: with SINGLE_ISSUER the
 * creating task is the only one allowed to submit. Makes l the thread's
 * current loop. Returns 0 or -errno.
 */
int loop_setup_ring(struct loop *l);

/* Runs turns until hooks->finished. Returns 0, or -errno when the ring failed. */
int loop_run(struct loop *l);

/*
 * The same one turn at a time, for a caller that owns the thread (the
 * whole-request fuzz target): loop_start arms the tick once; each
 * loop_turn runs before_wait, submits, waits up to wait_ms for a first CQE
 * (0: not at all) and dispatches what is ready. Returns the CQEs
 * dispatched, or -errno.
 */
void loop_start(struct loop *l);
int loop_turn(struct loop *l, int wait_ms);

/* The loop of the calling thread (NULL outside loop threads). */
struct loop *loop_current(void);

/* An SQE on l's ring, submitting what is queued when the SQ is full. */
struct io_uring_sqe *loop_sqe(struct loop *l);

/* Posts m to loop `target` (which may be l itself). Never fails: retries. */
void loop_send(struct loop *l, int target, struct loop_msg *m);

/* Makes `target` run its on_wake hook soon; wakes from one loop coalesce. */
void loop_wake(struct loop *l, int target);

#endif
