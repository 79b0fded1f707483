/*
 * struct log_io on io_uring. submit() turns a request into one SQE whose
 * user_data is the caller's rl_completion; run() is the plain syscall for
 * the synchronous open/recovery path; post() is a NOP SQE carrying a result.
 */
#include "log_io_uring.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Not in liburing 2.3's enum; the kernel has it since 6.9 (probed). */
#define LOG_IORING_OP_FTRUNCATE 55

const char *log_io_op_name(int op)
{
    static const char *const names[LOG_IO_OP_COUNT] = {
        [LOG_IO_WRITE] = "write",         [LOG_IO_WRITEV] = "writev",
        [LOG_IO_READ] = "read",           [LOG_IO_FDATASYNC] = "fdatasync",
        [LOG_IO_FSYNC] = "fsync",         [LOG_IO_FALLOCATE] = "fallocate",
        [LOG_IO_FTRUNCATE] = "ftruncate", [LOG_IO_OPENAT] = "openat",
        [LOG_IO_CLOSE] = "close",         [LOG_IO_UNLINKAT] = "unlinkat",
        [LOG_IO_MKDIRAT] = "mkdirat",     [LOG_IO_FSTAT] = "fstat",
        [LOG_IO_GETDENTS] = "getdents",   [LOG_IO_SYNC_RANGE] = "sync_file_range",
        [LOG_IO_FADVISE] = "fadvise",     [LOG_IO_RENAMEAT] = "renameat",
    };
    if (op < 0 || op >= LOG_IO_OP_COUNT)
        return "?";
    return names[op];
}

/* An SQE, submitting what is queued first when the SQ is full. */
static struct io_uring_sqe *uring_sqe(struct log_io_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(u->ring);
    if (sqe == NULL) {
        io_uring_submit(u->ring);
        sqe = io_uring_get_sqe(u->ring);
    }
    return sqe;
}

static int64_t uring_run(struct log_io *io, const struct log_io_req *r)
{
    (void)io;
    int64_t rc;
    switch (r->op) {
    case LOG_IO_WRITE:
        rc = pwrite(r->fd, r->buf, r->len, (off_t)r->off);
        break;
    case LOG_IO_WRITEV:
        rc = pwritev(r->fd, r->iov, (int)r->iovcnt, (off_t)r->off);
        break;
    case LOG_IO_READ:
        rc = pread(r->fd, r->buf, r->len, (off_t)r->off);
        break;
    case LOG_IO_FDATASYNC:
        rc = fdatasync(r->fd);
        break;
    case LOG_IO_FSYNC:
        rc = fsync(r->fd);
        break;
    case LOG_IO_FALLOCATE:
        rc = fallocate(r->fd, r->flags, (off_t)r->off, (off_t)r->len);
        break;
    case LOG_IO_FTRUNCATE:
        rc = ftruncate(r->fd, (off_t)r->len);
        break;
    case LOG_IO_OPENAT:
        rc = openat(r->fd, r->path, r->flags, (mode_t)r->mode);
        break;
    case LOG_IO_CLOSE:
        rc = close(r->fd);
        break;
    case LOG_IO_UNLINKAT:
        rc = unlinkat(r->fd, r->path, r->flags);
        break;
    case LOG_IO_MKDIRAT:
        rc = mkdirat(r->fd, r->path, (mode_t)r->mode);
        break;
    case LOG_IO_FSTAT: {
        struct stat st;
        rc = fstat(r->fd, &st);
        if (rc == 0) {
            if (r->buf != NULL)
                memcpy(r->buf, &st, sizeof(st));
            rc = st.st_size;
        }
        break;
    }
    case LOG_IO_GETDENTS:
        rc = syscall(SYS_getdents64, r->fd, r->buf, r->len);
        break;
    case LOG_IO_SYNC_RANGE:
        rc = sync_file_range(r->fd, (off_t)r->off, (off_t)r->len, (unsigned)r->flags);
        break;
    case LOG_IO_FADVISE:
        rc = posix_fadvise(r->fd, (off_t)r->off, (off_t)r->len, r->flags);
        if (rc != 0) { /* returns the error number itself */
            errno = rc;
            rc = -1;
        }
        break;
    case LOG_IO_RENAMEAT:
        rc = renameat(r->fd, r->path, r->fd, (const char *)r->buf);
        break;
    default:
        return -EINVAL;
    }
    return rc < 0 ? -errno : rc;
}

static void post_complete(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    struct log_io_uring_post *p = rl_container_of(c, struct log_io_uring_post, self);
    struct rl_completion *target = p->target;
    int32_t result = p->res;
    /* The pool entry is free again before the target runs (it may post). */
    struct log_io_uring *u = (struct log_io_uring *)p->next_free;
    p->next_free = u->free_posts;
    u->free_posts = p;
    target->on_complete(target, result, flags);
}

static int uring_post_linked(struct log_io_uring *u, struct rl_completion *c, int32_t res,
                             unsigned flags)
{
    struct log_io_uring_post *p = u->free_posts;
    if (p == NULL)
        return -EBUSY;
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (sqe == NULL)
        return -EBUSY;
    u->free_posts = p->next_free;
    p->target = c;
    p->res = res;
    /* While in flight, next_free remembers the owner for post_complete. */
    p->next_free = (struct log_io_uring_post *)(void *)u;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &p->self);
    if (flags & LOG_IO_LINK)
        sqe->flags |= IOSQE_IO_LINK;
    return 0;
}

static int uring_post(struct log_io *io, struct rl_completion *c, int32_t res)
{
    return uring_post_linked((struct log_io_uring *)io, c, res, 0);
}

static int uring_submit(struct log_io *io, const struct log_io_req *r, struct rl_completion *c,
                        unsigned flags)
{
    struct log_io_uring *u = (struct log_io_uring *)io;
    if (r->op == LOG_IO_FSTAT || r->op == LOG_IO_GETDENTS || r->op >= LOG_IO_OP_COUNT)
        return -EINVAL; /* synchronous only */
    if (r->op == LOG_IO_FTRUNCATE && !u->has_ftruncate) {
        /* Old kernel: a metadata-only call, done now, reported through the ring. */
        int64_t rc = uring_run(io, r);
        return uring_post_linked(u, c, (int32_t)rc, flags);
    }
    /* Inline only with a post free to report it (else the SQE path, as without the flag). */
    if ((flags & LOG_IO_INLINE) && (r->op == LOG_IO_WRITE || r->op == LOG_IO_WRITEV) &&
        u->free_posts != NULL) {
        int64_t rc = uring_run(io, r);
        assert(rc <= INT32_MAX && rc >= INT32_MIN);
        int posted = uring_post_linked(u, c, (int32_t)rc, flags & LOG_IO_LINK);
        assert(posted == 0); /* a post was free and uring_sqe makes room */
        return posted;
    }
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (sqe == NULL)
        return -EBUSY;
    switch (r->op) {
    case LOG_IO_WRITE:
        io_uring_prep_write(sqe, r->fd, r->buf, (unsigned)r->len, r->off);
        break;
    case LOG_IO_WRITEV:
        io_uring_prep_writev(sqe, r->fd, r->iov, r->iovcnt, r->off);
        break;
    case LOG_IO_READ:
        io_uring_prep_read(sqe, r->fd, r->buf, (unsigned)r->len, r->off);
        break;
    case LOG_IO_FDATASYNC:
        io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
        break;
    case LOG_IO_FSYNC:
        io_uring_prep_fsync(sqe, r->fd, 0);
        break;
    case LOG_IO_FALLOCATE:
        io_uring_prep_fallocate(sqe, r->fd, r->flags, r->off, r->len);
        break;
    case LOG_IO_FTRUNCATE:
        io_uring_prep_rw(LOG_IORING_OP_FTRUNCATE, sqe, r->fd, NULL, 0, r->len);
        break;
    case LOG_IO_OPENAT:
        io_uring_prep_openat(sqe, r->fd, r->path, r->flags, (mode_t)r->mode);
        break;
    case LOG_IO_CLOSE:
        io_uring_prep_close(sqe, r->fd);
        break;
    case LOG_IO_UNLINKAT:
        io_uring_prep_unlinkat(sqe, r->fd, r->path, r->flags);
        break;
    case LOG_IO_MKDIRAT:
        io_uring_prep_mkdirat(sqe, r->fd, r->path, (mode_t)r->mode);
        break;
    case LOG_IO_SYNC_RANGE:
        io_uring_prep_sync_file_range(sqe, r->fd, (unsigned)r->len, r->off, r->flags);
        break;
    case LOG_IO_FADVISE:
        io_uring_prep_fadvise(sqe, r->fd, r->off, (off_t)r->len, r->flags);
        break;
    case LOG_IO_RENAMEAT:
        io_uring_prep_renameat(sqe, r->fd, r->path, r->fd, (const char *)r->buf, 0);
        break;
    default:
        /* Unreachable: checked above. A NOP keeps the SQ consistent. */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, NULL);
        return -EINVAL;
    }
    io_uring_sqe_set_data(sqe, c);
    if (flags & LOG_IO_LINK)
        sqe->flags |= IOSQE_IO_LINK;
    return 0;
}

static int uring_reserve(struct log_io *io, unsigned n)
{
    struct log_io_uring *u = (struct log_io_uring *)io;
    if (io_uring_sq_space_left(u->ring) < n)
        io_uring_submit(u->ring);
    return io_uring_sq_space_left(u->ring) >= n ? 0 : -EBUSY;
}

static const struct log_io_ops uring_ops = {
    .submit = uring_submit,
    .run = uring_run,
    .post = uring_post,
    .reserve = uring_reserve,
};

void log_io_uring_init(struct log_io_uring *u, struct io_uring *ring)
{
    memset(u, 0, sizeof(*u));
    u->io.ops = &uring_ops;
    u->ring = ring;
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (probe != NULL) {
        u->has_ftruncate = io_uring_opcode_supported(probe, LOG_IORING_OP_FTRUNCATE);
        io_uring_free_probe(probe);
    }
    for (int i = LOG_IO_URING_POSTS - 1; i >= 0; i--) {
        u->posts[i].self.on_complete = post_complete;
        u->posts[i].next_free = u->free_posts;
        u->free_posts = &u->posts[i];
    }
}

unsigned log_ring_dispatch_ready(struct io_uring *ring)
{
    return rl_dispatch_ready(ring);
}
