/*
 * The storage engine's only door to the operating system.
 *
 * Every file operation of broker/log/ is described by a struct log_io_req and
 * goes through one of three calls of a struct log_io:
 *
 *   submit  asynchronous: queues the operation (an SQE on the shard's ring in
 *           production) and returns 0; the result arrives later through the
 *           given rl_completion. A negative return means nothing was queued
 *           and the completion will not be called.
 *   run     synchronous: performs the operation now and returns its result
 *           (>= 0) or -errno. Only partition open and recovery use it, which
 *           run before the partition serves.
 *   post    delivers a result to a completion through the ring, as if an
 *           operation had completed (a NOP SQE). Lets implementations fail
 *           an operation asynchronously, exactly where a real error arrives.
 *
 * Production is log_io_uring (log_io_uring.h); tests wrap it with
 * log_io_fault (log_io_fault.h) to fail the Nth call with ENOSPC or EIO or
 * to shorten a write. The engine never calls io_uring_submit for the caller:
 * it only fills SQEs (submitting early only when the SQ is full).
 */
#ifndef RINGLOG_BROKER_LOG_IO_H
#define RINGLOG_BROKER_LOG_IO_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "completion.h"

enum log_io_op {
    LOG_IO_WRITE,      /* fd, buf, len, off -> bytes written */
    LOG_IO_WRITEV,     /* fd, iov, iovcnt, off -> bytes written */
    LOG_IO_READ,       /* fd, buf, len, off -> bytes read */
    LOG_IO_FDATASYNC,  /* fd */
    LOG_IO_FSYNC,      /* fd (directories) */
    LOG_IO_FALLOCATE,  /* fd, flags = mode, off, len */
    LOG_IO_FTRUNCATE,  /* fd, len */
    LOG_IO_OPENAT,     /* fd = dirfd, path, flags, mode -> new fd */
    LOG_IO_CLOSE,      /* fd */
    LOG_IO_UNLINKAT,   /* fd = dirfd, path, flags (AT_REMOVEDIR) */
    LOG_IO_MKDIRAT,    /* fd = dirfd, path, mode */
    LOG_IO_FSTAT,      /* fd [, buf: struct stat] -> file size (run only) */
    LOG_IO_GETDENTS,   /* fd, buf, len -> bytes of linux_dirent64 (run only) */
    LOG_IO_SYNC_RANGE, /* fd, off, len, flags: sync_file_range (start writeback) */
    LOG_IO_FADVISE,    /* fd, off, len, flags = advice: posix_fadvise */
    LOG_IO_RENAMEAT,   /* fd = dirfd of both names, path -> buf (the new name, a string) */
    LOG_IO_OP_COUNT,
};

struct log_io_req {
    uint8_t op;
    int fd;
    int flags;
    uint32_t mode;
    const char *path; /* must stay valid until the completion */
    void *buf;
    const struct iovec *iov; /* must stay valid until the completion */
    uint32_t iovcnt;
    uint64_t off;
    uint64_t len;
};

/* submit() flag: the next submitted operation runs only if this one succeeds. */
#define LOG_IO_LINK 1u
/*
 * submit() flag for a small write: the implementation may do it now, on
 * the caller's thread, and deliver the result through its completion
 * path as usual (an operation LINKed after it then runs whatever the
 * result). For buffered writes the ring cannot do without a worker
 * thread (ext4 refuses RWF_NOWAIT), where the hop costs more than the copy.
 */
#define LOG_IO_INLINE 2u

struct log_io;

struct log_io_ops {
    int (*submit)(struct log_io *io, const struct log_io_req *req, struct rl_completion *c,
                  unsigned flags);
    int64_t (*run)(struct log_io *io, const struct log_io_req *req);
    int (*post)(struct log_io *io, struct rl_completion *c, int32_t res);
    /* Makes room for a linked chain of n operations (they must share one submission). */
    int (*reserve)(struct log_io *io, unsigned n);
};

struct log_io {
    const struct log_io_ops *ops;
};

static inline int log_io_submit(struct log_io *io, const struct log_io_req *req,
                                struct rl_completion *c, unsigned flags)
{
    return io->ops->submit(io, req, c, flags);
}

static inline int64_t log_io_run(struct log_io *io, const struct log_io_req *req)
{
    return io->ops->run(io, req);
}

static inline int log_io_post(struct log_io *io, struct rl_completion *c, int32_t res)
{
    return io->ops->post(io, c, res);
}

static inline int log_io_reserve(struct log_io *io, unsigned n)
{
    return io->ops->reserve(io, n);
}

const char *log_io_op_name(int op);

#endif
