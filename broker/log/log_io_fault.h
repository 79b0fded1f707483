/*
 * A struct log_io that forwards to another one and fails chosen calls: the
 * Nth call (counting submit and run alike, from 1), or every call from the
 * Nth on (a dead disk), with an errno or as a short write. Asynchronous
 * failures arrive through the ring, like real ones. For tests.
 */
#ifndef RINGLOG_BROKER_LOG_IO_FAULT_H
#define RINGLOG_BROKER_LOG_IO_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "log_io.h"

#define LOG_IO_FAULT_MAX_IOV 1024

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
};

void log_io_fault_init(struct log_io_fault *f, struct log_io *inner);

/* Arms a failure at call number `at` (counting from the current count + 1 when relative). */
void log_io_fault_arm(struct log_io_fault *f, uint64_t at, int err, bool sticky);

void log_io_fault_disarm(struct log_io_fault *f);

#endif
