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

#include <stddef.h>
#include <stdint.h>

struct rl_completion {
    void (*on_complete)(struct rl_completion *c, int32_t res, uint32_t cqe_flags);
};

#ifndef rl_container_of
#define rl_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#endif

#endif
