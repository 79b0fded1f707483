/*
 * The completion convention of every io_uring user in the broker.
 *
 * Each SQE's user_data is a pointer to a struct rl_completion embedded in the
 * struct that owns the operation. The shard loop does not know what the
 * operation was: for every CQE it calls
 *
 *     struct rl_completion *c = io_uring_cqe_get_data(cqe);
 *     c->on_complete(c, cqe->res, cqe->flags);
 *
 * and the owner recovers itself with container_of. One rl_completion can
 * be attached to at most one in-flight SQE at a time.
 */
#ifndef RINGLOG_BROKER_COMPLETION_H
#define RINGLOG_BROKER_COMPLETION_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

struct rl_completion {
    void (*on_complete)(struct rl_completion *c, int32_t res, uint32_t cqe_flags);
};

#ifndef rl_container_of
#define rl_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#endif

/*
 * Dispatches every CQE ready on ring through its rl_completion; returns how
 * many. One CQE at a time, each marked seen before its handler runs: a
 * handler may queue and submit SQEs, and may even drive the ring itself
 * (the storage engine's synchronous log_engine_drive, when a partition is
 * opened from within a completion), without the outer loop advancing the
 * queue past CQEs it never saw. The shard loop and the storage engine's
 * drive both use this one.
 */
static inline unsigned rl_dispatch_ready(struct io_uring *ring)
{
    unsigned n = 0;
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(ring, &cqe) == 0) {
        struct rl_completion *c = (struct rl_completion *)io_uring_cqe_get_data(cqe);
        int32_t res = cqe->res;
        uint32_t flags = cqe->flags;
        io_uring_cqe_seen(ring, cqe);
        if (c != NULL)
            c->on_complete(c, res, flags);
        n++;
    }
    return n;
}

#endif
