/*
 * A struct log_io that forwards to another one and fails chosen calls: the
 * Nth call (counting submit and run alike, from 1), or every call from the
 * Nth on (a dead disk), with an errno or as a short write. Asynchronous
 * failures arrive through the ring, like real ones. It can also hold back
 * the completions of submitted calls and deliver them later in any order,
 * to make operations that the engine runs concurrently complete out of
 * order. For tests.
 */
#ifndef RINGLOG_BROKER_LOG_IO_FAULT_H
#define RINGLOG_BROKER_LOG_IO_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "log_io.h"

#define LOG_IO_FAULT_MAX_IOV 1024
#define LOG_IO_FAULT_MAX_HELD 32

/* A completion held back: the operation is done, the engine has not been told yet. */
struct log_io_fault_held {
    struct rl_completion c; /* what the inner log_io completes */
    struct rl_completion *target;
    int32_t res;
    bool arrived;  /* the operation completed; res is its result */
    bool released; /* delivered to target (through the ring) */
};

struct log_io_fault {
    struct log_io io;
    struct log_io *inner;
    uint64_t calls;     /* calls seen so far */
    uint64_t fail_at;   /* 0: never */
    int fail_errno;     /* e.g. ENOSPC, EIO; 0 with short_write */
    bool short_write;   /* the failing call, if a write, writes half its bytes */
    bool sticky;        /* every call from fail_at on fails */
    uint32_t op_mask;   /* ops that count and may fail (1u << LOG_IO_*); 0: all */
    uint64_t injected;  /* failures injected so far */
    int last_failed_op; /* -1 until one was injected */
    struct iovec iov[LOG_IO_FAULT_MAX_IOV];
    uint32_t inline_writes; /* writes submitted with LOG_IO_INLINE (and not failed here) */
    bool hold;              /* completions of counted submits are held (in call order) */
    uint32_t nheld;         /* submits held so far */
    struct log_io_fault_held held[LOG_IO_FAULT_MAX_HELD];
};

void log_io_fault_init(struct log_io_fault *f, struct log_io *inner);

/* Arms a failure at call number `at` (counting from the current count + 1 when relative). */
void log_io_fault_arm(struct log_io_fault *f, uint64_t at, int err, bool sticky);

void log_io_fault_disarm(struct log_io_fault *f);

/* From now on, holds back the completion of every counted submit (at most LOG_IO_FAULT_MAX_HELD).
 */
void log_io_fault_hold(struct log_io_fault *f);

/* Completions held so far whose operation has completed. */
uint32_t log_io_fault_arrived(const struct log_io_fault *f);

/*
 * Delivers held completion i (0: the first held submit) through the ring,
 * once it has arrived. Returns 0, or -EAGAIN when it has not arrived yet,
 * -EINVAL when there is no such completion or it was released already.
 */
int log_io_fault_release(struct log_io_fault *f, uint32_t i);

#endif
