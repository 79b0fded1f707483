/*
 * Production struct log_io: fills SQEs on a ring the caller owns. The caller
 * (the shard loop) submits the ring and dispatches CQEs (completion.h).
 */
#ifndef RINGLOG_BROKER_LOG_IO_URING_H
#define RINGLOG_BROKER_LOG_IO_URING_H

#include <liburing.h>
#include <stdbool.h>

#include "log_io.h"

/* Results delivered through post() that can be outstanding at once. */
#define LOG_IO_URING_POSTS 256

struct log_io_uring_post {
    struct rl_completion self;
    struct rl_completion *target;
    int32_t res;
    struct log_io_uring_post *next_free;
};

struct log_io_uring {
    struct log_io io;
    struct io_uring *ring;
    bool has_ftruncate; /* IORING_OP_FTRUNCATE (Linux 6.9); else run + post */
    struct log_io_uring_post posts[LOG_IO_URING_POSTS];
    struct log_io_uring_post *free_posts;
};

/* Probes the ring's opcodes; never fails (missing ones fall back to run + post). */
void log_io_uring_init(struct log_io_uring *u, struct io_uring *ring);

/*
 * Dispatches every CQE that is ready through its rl_completion, without
 * waiting; returns how many. What a shard loop does after each wait.
 */
unsigned log_ring_dispatch_ready(struct io_uring *ring);

#endif
