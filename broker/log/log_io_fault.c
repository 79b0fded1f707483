/*
 * Fault injection for struct log_io: see log_io_fault.h. Every call passes
 * through should_fail(), which is the only place that decides.
 */
#include "log_io_fault.h"

#include <errno.h>
#include <string.h>

static bool counts(const struct log_io_fault *f, const struct log_io_req *r)
{
    return f->op_mask == 0 || (f->op_mask & (1u << r->op)) != 0;
}

static bool should_fail(struct log_io_fault *f, const struct log_io_req *r)
{
    if (!counts(f, r))
        return false;
    f->calls++;
    if (f->fail_at == 0)
        return false;
    if (f->calls == f->fail_at || (f->sticky && f->calls > f->fail_at)) {
        if (f->short_write && r->op != LOG_IO_WRITE && r->op != LOG_IO_WRITEV)
            return false;
        f->injected++;
        f->last_failed_op = r->op;
        return true;
    }
    return false;
}

/* The same write, for half of its bytes (at least one byte short). */
static void shorten(struct log_io_fault *f, const struct log_io_req *r, struct log_io_req *out)
{
    *out = *r;
    if (r->op == LOG_IO_WRITE) {
        out->len = r->len / 2;
        return;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < r->iovcnt; i++)
        total += r->iov[i].iov_len;
    uint64_t want = total / 2;
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->iovcnt && want > 0 && n < LOG_IO_FAULT_MAX_IOV; i++) {
        f->iov[n] = r->iov[i];
        if (f->iov[n].iov_len > want)
            f->iov[n].iov_len = want;
        want -= f->iov[n].iov_len;
        n++;
    }
    if (n == 0) { /* a zero-byte write */
        f->iov[0].iov_base = r->iov[0].iov_base;
        f->iov[0].iov_len = 0;
        n = 1;
    }
    out->iov = f->iov;
    out->iovcnt = n;
}

static void held_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct log_io_fault_held *h = rl_container_of(c, struct log_io_fault_held, c);
    h->res = res;
    h->arrived = true;
}

/* The completion to give the inner log_io: the caller's, or a held one standing in for it. */
static struct rl_completion *completion_for(struct log_io_fault *f, const struct log_io_req *r,
                                            struct rl_completion *c)
{
    if (!f->hold || !counts(f, r) || f->nheld == LOG_IO_FAULT_MAX_HELD)
        return c;
    struct log_io_fault_held *h = &f->held[f->nheld++];
    memset(h, 0, sizeof(*h));
    h->c.on_complete = held_arrived;
    h->target = c;
    return &h->c;
}

static int fault_submit(struct log_io *io, const struct log_io_req *r, struct rl_completion *c,
                        unsigned flags)
{
    struct log_io_fault *f = (struct log_io_fault *)io;
    bool fail = should_fail(f, r);
    struct rl_completion *via = completion_for(f, r, c);
    int rc;
    if (!fail) {
        f->inline_writes += (flags & LOG_IO_INLINE) != 0;
        rc = log_io_submit(f->inner, r, via, flags);
    } else if (f->short_write) {
        struct log_io_req shorter;
        shorten(f, r, &shorter);
        rc = log_io_submit(f->inner, &shorter, via, flags);
    } else {
        rc = log_io_post(f->inner, via, -f->fail_errno);
    }
    if (rc != 0 && via != c)
        f->nheld--; /* nothing will complete */
    return rc;
}

static int64_t fault_run(struct log_io *io, const struct log_io_req *r)
{
    struct log_io_fault *f = (struct log_io_fault *)io;
    if (!should_fail(f, r))
        return log_io_run(f->inner, r);
    if (f->short_write) {
        struct log_io_req shorter;
        shorten(f, r, &shorter);
        return log_io_run(f->inner, &shorter);
    }
    return -f->fail_errno;
}

static int fault_post(struct log_io *io, struct rl_completion *c, int32_t res)
{
    struct log_io_fault *f = (struct log_io_fault *)io;
    return log_io_post(f->inner, c, res);
}

static int fault_reserve(struct log_io *io, unsigned n)
{
    struct log_io_fault *f = (struct log_io_fault *)io;
    return log_io_reserve(f->inner, n);
}

static const struct log_io_ops fault_ops = {
    .submit = fault_submit,
    .run = fault_run,
    .post = fault_post,
    .reserve = fault_reserve,
};

void log_io_fault_init(struct log_io_fault *f, struct log_io *inner)
{
    memset(f, 0, sizeof(*f));
    f->io.ops = &fault_ops;
    f->inner = inner;
    f->last_failed_op = -1;
}

void log_io_fault_arm(struct log_io_fault *f, uint64_t at, int err, bool sticky)
{
    f->fail_at = at;
    f->fail_errno = err;
    f->sticky = sticky;
    f->short_write = false;
}

void log_io_fault_disarm(struct log_io_fault *f)
{
    f->fail_at = 0;
    f->sticky = false;
    f->short_write = false;
}

void log_io_fault_hold(struct log_io_fault *f)
{
    f->hold = true;
}

uint32_t log_io_fault_arrived(const struct log_io_fault *f)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->nheld; i++)
        n += f->held[i].arrived;
    return n;
}

int log_io_fault_release(struct log_io_fault *f, uint32_t i)
{
    if (i >= f->nheld || f->held[i].released)
        return -EINVAL;
    struct log_io_fault_held *h = &f->held[i];
    if (!h->arrived)
        return -EAGAIN;
    int rc = log_io_post(f->inner, h->target, h->res);
    if (rc == 0)
        h->released = true;
    return rc;
}
