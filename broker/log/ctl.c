/*
 * Control operations: flush, checkpoint, segment roll, repair after a failed
 * write, retention, truncation, clean close and delete. Each one runs alone
 * on its partition (no write group in flight) as a short program of I/O
 * requests (log_internal.h), so every step goes through the ring and through
 * the fault-injection points of struct log_io.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "batch.h"
#include "log_internal.h"

/* ------------------------------------------------------------- programs */

static void ctl_step(struct partition_log *log);

static struct ctl_io *prog_add(struct partition_log *log, struct log_io_req req, uint8_t policy)
{
    struct log_ctl_run *r = &log->ctl;
    assert(r->nprog < LOG_CTL_PROGRAM);
    struct ctl_io *io = &r->prog[r->nprog++];
    memset(io, 0, sizeof(*io));
    io->req = req;
    io->policy = policy;
    return io;
}

static void prog_reset(struct partition_log *log)
{
    log->ctl.nprog = 0;
    log->ctl.pc = 0;
}

static void prog_run(struct partition_log *log, void (*done)(struct partition_log *, int))
{
    log->ctl.done = done;
    log->ctl.pc = 0;
    ctl_step(log);
}

static bool io_ok(const struct ctl_io *io, int32_t res)
{
    if (res < 0)
        return false;
    if (io->req.op == LOG_IO_WRITE || io->req.op == LOG_IO_READ)
        return io->req.op == LOG_IO_READ || (uint64_t)res == io->req.len;
    return true;
}

static void ctl_io_result(struct partition_log *log, int32_t res)
{
    struct log_ctl_run *r = &log->ctl;
    struct ctl_io *io = &r->prog[r->pc];
    bool ok = io_ok(io, res);
    if (!ok) {
        int err = res < 0 ? -res : EIO;
        if (io->policy == CTL_MUST) {
            r->first_err = err;
            log_msg(log, LOG_LEVEL_DEBUG, "%s %s failed: %s", log_io_op_name(io->req.op),
                    io->req.path ? io->req.path : "", strerror(err));
            prog_reset(log);
            r->done(log, log_status_from_errno(err));
            return;
        }
        if (io->policy == CTL_TOLERATE)
            log_msg(log, LOG_LEVEL_WARN, "%s %s failed: %s (going on)", log_io_op_name(io->req.op),
                    io->req.path ? io->req.path : "", strerror(err));
    } else {
        if (io->result_fd != NULL)
            *io->result_fd = res;
        if (io->after != NULL)
            io->after(log, io, res);
    }
    r->pc++;
    ctl_step(log);
}

static void on_ctl_complete(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)flags;
    struct partition_log *log = rl_container_of(c, struct partition_log, ctl.c);
    log_op_done(log);
    ctl_io_result(log, res);
}

static void ctl_step(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    if (r->pc >= r->nprog) {
        prog_reset(log);
        r->done(log, LOG_OK);
        return;
    }
    struct ctl_io *io = &r->prog[r->pc];
    if (io->fdp != NULL)
        io->req.fd = *io->fdp;
    if (io->req.fd < 0 && io->req.fd != AT_FDCWD) {
        /* An fd that an earlier best-effort step did not produce. */
        ctl_io_result(log, -EBADF);
        return;
    }
    int rc = log_submit(log, &io->req, &r->c, 0);
    if (rc != 0)
        ctl_io_result(log, rc);
}

static void ctl_finish(struct partition_log *log, int status)
{
    struct log_ctl_run *r = &log->ctl;
    free(r->ckpt_buf);
    r->ckpt_buf = NULL;
    struct log_ctl *user = r->user;
    uint8_t kind = r->kind;
    r->user = NULL;
    r->seg = NULL;
    r->resume = NULL;
    log->ctl_active = false;
    if (kind != LOG_OP_CLOSE && kind != LOG_OP_DELETE)
        log_mark_ready(log);
    if (user != NULL) {
        user->offset = log->next_offset;
        /* Last: after close or delete, the callback may free the log. */
        user->on_complete(user, status);
    }
}

/* ------------------------------------------------------ transient files */

/*
 * Between control operations a partition keeps one file open: its active
 * segment's .log, which appends and reads use (and each closed segment its
 * three). The directory, the checkpoint file and the active segment's
 * index files are used by control operations only, so each operation that
 * needs them opens them first and closes them when it ends. Why: with all
 * five open, 10,000 partitions needed 50,000 fds, and this machine's limit
 * is 20,000 (hard): a 10,000-partition create failed with EMFILE at about
 * 4,000. A checkpoint (once a second for a writing partition) pays four
 * openat and four close for it.
 */
static bool ctl_needs_files(const struct partition_log *log, uint8_t kind)
{
    if (log->dir_sync_needed)
        return true; /* whatever runs fsyncs the directory on the way */
    return kind != LOG_OP_FLUSH && kind != LOG_CTL_INTERVAL_FLUSH && kind != LOG_CTL_REPAIR &&
           kind != LOG_OP_OVERWRITE;
}

static void plan_open(struct partition_log *log, int *fdp, int dirfd, const char *path, int flags,
                      uint8_t policy)
{
    if (*fdp >= 0)
        return;
    struct ctl_io *io =
        prog_add(log,
                 (struct log_io_req){
                     .op = LOG_IO_OPENAT, .fd = dirfd, .path = path, .flags = flags, .mode = 0644},
                 policy);
    if (dirfd != AT_FDCWD)
        io->fdp = &log->dir_fd;
    io->result_fd = fdp;
}

static void plan_open_files(struct partition_log *log, uint8_t policy)
{
    struct log_segment *act = log_active(log);
    plan_open(log, &log->dir_fd, AT_FDCWD, log->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
              policy);
    plan_open(log, &log->ckpt_fd, -1, "checkpoint", O_RDWR | O_CREAT | O_CLOEXEC, policy);
    /* A new partition's index files are created here, by its first checkpoint. */
    plan_open(log, &act->idx.fd, -1, act->idx.name, O_RDWR | O_CREAT | O_CLOEXEC, policy);
    plan_open(log, &act->tidx.fd, -1, act->tidx.name, O_RDWR | O_CREAT | O_CLOEXEC, policy);
}

static void plan_close(struct partition_log *log, int *fd)
{
    if (*fd < 0)
        return;
    prog_add(log, (struct log_io_req){.op = LOG_IO_CLOSE, .fd = *fd}, CTL_QUIET);
    *fd = -1;
}

/*
 * Closes the transient files: the directory, the checkpoint, and every
 * index file (the active segment's, a segment just closed by a roll, one a
 * truncation opened). fds are -1 from now on; the closes go through the ring.
 */
static void plan_close_files(struct partition_log *log)
{
    plan_close(log, &log->ckpt_fd);
    plan_close(log, &log->dir_fd);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        plan_close(log, &log->segs[i]->idx.fd);
        plan_close(log, &log->segs[i]->tidx.fd);
    }
}

static void files_closed(struct partition_log *log, int status)
{
    (void)status;
    ctl_finish(log, log->ctl.end_status);
}

/* The operation is over: its transient files are closed first, then the caller hears. */
static void ctl_end(struct partition_log *log, int status)
{
    struct log_ctl_run *r = &log->ctl;
    assert(log->ctl_active);
    prog_reset(log);
    plan_close_files(log);
    if (r->nprog == 0) {
        ctl_finish(log, status);
        return;
    }
    r->end_status = status;
    prog_run(log, files_closed);
}

/* Reads, or closes of retired segments, finished: a waiting step may go on. */
void ctl_reads_drained(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    if (r->resume != NULL && log->reads_inflight == 0 && log->retiring == 0) {
        void (*resume)(struct partition_log *) = r->resume;
        r->resume = NULL;
        resume(log);
    }
}

static void wait_drained(struct partition_log *log, void (*resume)(struct partition_log *))
{
    log->ctl.resume = resume;
    ctl_reads_drained(log);
}

/* --------------------------------------------------------- index files */

static void after_index_write(struct partition_log *log, struct ctl_io *io, int32_t res)
{
    (void)log;
    (void)res;
    struct seg_index *ix = io->arg;
    ix->file_count = (uint32_t)((io->req.off + io->req.len) / ix->entry_size);
    ix->dirty = true;
}

static void after_index_sync(struct partition_log *log, struct ctl_io *io, int32_t res)
{
    (void)log;
    (void)res;
    ((struct seg_index *)io->arg)->dirty = false;
}

/*
 * Brings the active segment's index files up to date: writes the entries the
 * file lacks (after a failed write, or ones never written), optionally cuts
 * the file to exactly its entries (a closing segment), and fdatasyncs it.
 */
static void plan_index_files(struct partition_log *log, struct log_segment *seg, bool exact)
{
    struct seg_index *both[2] = {&seg->idx, &seg->tidx};
    for (int i = 0; i < 2; i++) {
        struct seg_index *ix = both[i];
        if (ix->fd < 0 || ix->mem == NULL)
            continue;
        /* Nothing written since the last fdatasync: nothing to sync (an idle partition's
         * checkpoint and close cost one fdatasync, not three). */
        if (ix->file_count >= ix->count && !exact && !ix->dirty)
            continue;
        if (ix->file_count < ix->count) {
            struct ctl_io *io = prog_add(
                log,
                (struct log_io_req){.op = LOG_IO_WRITE,
                                    .fd = ix->fd,
                                    .buf = ix->mem + (size_t)ix->file_count * ix->entry_size,
                                    .len = (uint64_t)(ix->count - ix->file_count) * ix->entry_size,
                                    .off = (uint64_t)ix->file_count * ix->entry_size},
                CTL_MUST);
            io->after = after_index_write;
            io->arg = ix;
        }
        if (exact)
            prog_add(log,
                     (struct log_io_req){.op = LOG_IO_FTRUNCATE,
                                         .fd = ix->fd,
                                         .len = (uint64_t)ix->count * ix->entry_size},
                     CTL_MUST);
        struct ctl_io *io =
            prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = ix->fd}, CTL_MUST);
        io->after = after_index_sync;
        io->arg = ix;
    }
}

/* ------------------------------------------------------------ checkpoint */

bool log_checkpoint_due(struct partition_log *log)
{
    if (log->state != LOG_STATE_OPEN)
        return false;
    /* The record on disk says "clean, ends here": not while appends land. */
    if (log->ckpt.clean && log->queue_head != NULL && log->queue_head->kind == LOG_OP_APPEND)
        return true;
    struct log_segment *act = log_active(log);
    if (log->durable_offset < act->base_offset)
        return false;
    bool hw_new = log->high_watermark != log->ckpt.high_watermark;
    if (log->ckpt.segment_base == act->base_offset && log->ckpt.position == log->durable_pos &&
        !hw_new)
        return false; /* nothing new is durable, and the high watermark is the one written */
    uint64_t since =
        log->ckpt_attempt_base == act->base_offset
            ? log->durable_pos - (log->durable_pos < log->ckpt_attempt_pos ? log->durable_pos
                                                                           : log->ckpt_attempt_pos)
            : log->durable_pos + 1;
    if (since >= log->cfg.checkpoint_bytes)
        return true;
    return log_now(log) - log->last_ckpt_ms >= log->cfg.checkpoint_interval_ms;
}

/*
 * The record's epoch table is the runs below its offset (everything past it
 * is rebuilt by recovery's scan), the newest LOG_MAX_EPOCH_RUNS of them.
 * The buffer lives until the operation ends (ctl_finish); without one the
 * write step fails the checkpoint like a failed write would.
 */
static void plan_checkpoint_record(struct partition_log *log, struct log_checkpoint *ck)
{
    uint32_t n = log->nepochs;
    while (n > 0 && log->epochs[n - 1].start >= ck->offset)
        n--;
    uint32_t first = n > LOG_MAX_EPOCH_RUNS ? n - LOG_MAX_EPOCH_RUNS : 0;
    ck->epoch_count = n - first;
    ck->start_epoch = log->start_epoch;
    uint32_t c = log->nconfigs;
    while (c > 0 && log->configs[c - 1].offset >= ck->offset)
        c--;
    ck->config_count = c;
    ck->epochs_known = true;
    if (log->ctl.ckpt_buf == NULL)
        log->ctl.ckpt_buf = malloc(LOG_CHECKPOINT_SLOT);
    size_t len = 0;
    if (log->ctl.ckpt_buf != NULL)
        len = log_checkpoint_encode(ck, log->epochs + first, log->configs, log->ctl.ckpt_buf);
    prog_add(log,
             (struct log_io_req){.op = LOG_IO_WRITE,
                                 .fd = log->ctl.ckpt_buf != NULL ? log->ckpt_fd : -1,
                                 .buf = log->ctl.ckpt_buf,
                                 .len = len,
                                 .off = log_checkpoint_slot(ck->seq)},
             CTL_MUST);
}

static void after_dir_sync(struct partition_log *log, struct ctl_io *io, int32_t res)
{
    (void)io;
    (void)res;
    log->dir_sync_needed = false;
}

/*
 * Plans a checkpoint of the durable point (or of the log end, for a clean
 * close): the active segment's index files first, then the record in the
 * slot that the previous record is not in, then its fdatasync.
 */
static void plan_checkpoint(struct partition_log *log, bool clean)
{
    struct log_segment *act = log_active(log);
    struct log_checkpoint *ck = &log->ctl.ckpt;
    assert(log->durable_offset >= act->base_offset);
    if (log->dir_sync_needed) {
        struct ctl_io *io =
            prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
        io->after = after_dir_sync;
    }
    plan_index_files(log, act, false);
    ck->seq = log->ckpt.seq + 1;
    ck->clean = clean ? 1 : 0;
    ck->segment_base = act->base_offset;
    ck->position = log->durable_pos;
    ck->offset = log->durable_offset;
    ck->index_entries = segment_index_entries_below(act, log->durable_pos);
    ck->time_entries = segment_time_entries_below(act, log->durable_offset);
    ck->max_timestamp = act->max_timestamp;
    ck->max_ts_offset = act->max_ts_offset;
    ck->start_offset = log->start_offset;
    ck->records_start = log->records_start;
    ck->high_watermark = log->high_watermark;
    plan_checkpoint_record(log, ck);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = log->ckpt_fd}, CTL_MUST);
    log->last_ckpt_ms = log_now(log);
    log->ckpt_attempt_base = act->base_offset;
    log->ckpt_attempt_pos = log->durable_pos;
}

static void checkpoint_written(struct partition_log *log, int status)
{
    if (status == LOG_OK)
        log->ckpt = log->ctl.ckpt;
    else
        log_msg(log, LOG_LEVEL_WARN, "recovery checkpoint not written: %s (retried later)",
                strerror(log->ctl.first_err));
}

static void checkpoint_done(struct partition_log *log, int status)
{
    checkpoint_written(log, status);
    /* Still marked clean on disk: the appends waiting for it cannot be written. */
    if (log->ckpt.clean)
        log_fail_queue(log, status != LOG_OK ? status : LOG_ERR_STORAGE);
    ctl_end(log, LOG_OK);
}

/* -------------------------------------------------------------- dir sync */

static void dir_synced(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        /* The new segment's name may not survive a crash: nothing is written into it. */
        log_note_failure(log, "fsync of the new partition's directory", log->ctl.first_err);
        log_fail_queue(log, status);
    }
    ctl_end(log, status);
}

/*
 * A new partition's segment file was created without an fsync of its
 * directory (creating 10,000 idle partitions paid one each); its first
 * append waits for it instead, so no acknowledged batch sits in a file
 * whose name a crash could lose.
 */
static void start_dir_sync(struct partition_log *log)
{
    struct ctl_io *io =
        prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
    io->after = after_dir_sync;
    prog_run(log, dir_synced);
}

/* ----------------------------------------------------------------- flush */

static void flush_done(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        log_note_failure(log, "fdatasync", log->ctl.first_err);
        log_durable_fail(log, status);
        ctl_end(log, status);
        return;
    }
    log->last_flush_ms = log_now(log);
    log_durable_advance(log, log->ctl.target_offset, log->ctl.target_pos);
    ctl_end(log, LOG_OK);
}

static void start_flush(struct partition_log *log)
{
    struct log_segment *act = log_active(log);
    log->ctl.target_offset = log->next_offset;
    log->ctl.target_pos = act->size;
    if (log->dir_sync_needed) { /* everything durable: the new segment's name too */
        struct ctl_io *io =
            prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
        io->after = after_dir_sync;
    } else if (log->durable_offset == log->next_offset) {
        log->last_flush_ms = log_now(log);
        ctl_end(log, LOG_OK);
        return;
    }
    if (log->durable_offset < log->next_offset) {
        prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = act->fd}, CTL_MUST);
        struct log_write_counters *c = &log->engine->writes;
        atomic_fetch_add_explicit(&c->fdatasyncs, 1, memory_order_relaxed);
        uint64_t size = (uint64_t)act->size;
        atomic_fetch_add_explicit(&c->synced_bytes,
                                  size > log->durable_pos ? size - log->durable_pos : size,
                                  memory_order_relaxed);
    }
    prog_run(log, flush_done);
}

/* ------------------------------------------------------------------ roll */

/* A reservation of a control program succeeded: the file is reserved up to its end. */
static void after_fallocate(struct partition_log *log, struct ctl_io *io, int32_t res)
{
    (void)log;
    (void)res;
    struct log_segment *seg = io->arg;
    assert(io->req.op == LOG_IO_FALLOCATE);
    if (io->req.off + io->req.len > seg->prealloc_end)
        seg->prealloc_end = io->req.off + io->req.len;
}

static int segs_push(struct partition_log *log, struct log_segment *seg)
{
    if (log->nsegs == log->segs_cap) {
        uint32_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
        struct log_segment **segs = realloc(log->segs, cap * sizeof(*segs));
        if (segs == NULL)
            return -ENOMEM;
        log->segs = segs;
        log->segs_cap = cap;
    }
    log->segs[log->nsegs++] = seg;
    return 0;
}

static void roll_checkpointed(struct partition_log *log, int status)
{
    checkpoint_written(log, status);
    ctl_end(log, LOG_OK);
}

static void roll_done(struct partition_log *log, int status)
{
    struct log_segment *old = log_active(log);
    struct log_segment *seg = log->ctl.seg;
    if (status == LOG_OK && segs_push(log, seg) != 0)
        status = LOG_ERR_NOMEM;
    if (status != LOG_OK) {
        if (seg->fd >= 0 || seg->idx.fd >= 0 || seg->tidx.fd >= 0)
            segment_retire(seg); /* closes what was opened, then frees */
        else
            segment_free(seg);
        log_note_failure(log, "segment roll", log->ctl.first_err ? log->ctl.first_err : ENOMEM);
        /* An age roll retries in a second, not at every turn. */
        old->created_ms = log_now(log) - log->cfg.segment_ms + 1000;
        log_fail_queue(log, status);
        ctl_end(log, status);
        return;
    }
    /* The old segment is closed: its indexes are read through maps from now on. */
    old->end_offset = log->next_offset;
    prealloc_cut(old, old->size);
    free(old->idx.mem);
    free(old->tidx.mem);
    old->idx.mem = old->tidx.mem = NULL;
    old->idx.count = old->tidx.count = old->idx.cap = old->tidx.cap = 0;
    seg->created_ms = log_now(log);
    log->durable_pos = 0;
    log_durable_advance(log, log->next_offset, 0);
    log_msg(log, LOG_LEVEL_DEBUG, "rolled to segment %s", seg->name);
    prog_reset(log);
    plan_checkpoint(log, false);
    prog_run(log, roll_checkpointed);
}

/*
 * Closes the active segment for writing and starts the next one: the old
 * file is cut to its logical end (dropping the preallocated tail) and made
 * durable with its index files, then the new files are created,
 * preallocated, and the directory fsynced before any batch lands in them.
 */
static void start_roll(struct partition_log *log)
{
    struct log_segment *old = log_active(log);
    struct log_segment *seg = segment_new(log, log->next_offset);
    if (seg == NULL) {
        log_fail_queue(log, LOG_ERR_NOMEM);
        ctl_end(log, LOG_ERR_NOMEM);
        return;
    }
    log->ctl.seg = seg;
    log->ctl.first_err = 0;
    /* The closed segment's last time entry carries its max timestamp. */
    if (old->max_timestamp > old->last_time_entry_ts &&
        segment_index_reserve(&old->tidx, old->tidx.count + 1) == 0) {
        uint8_t t[LOG_TIME_ENTRY];
        idx_put_u64(t, (uint64_t)old->max_timestamp);
        idx_put_u32(t + 8, (uint32_t)(old->max_ts_offset - old->base_offset));
        segment_index_append(&old->tidx, t, 1);
        old->last_time_entry_ts = old->max_timestamp;
    }
    prog_add(log, (struct log_io_req){.op = LOG_IO_FTRUNCATE, .fd = old->fd, .len = old->size},
             CTL_MUST);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = old->fd}, CTL_MUST);
    plan_index_files(log, old, true);
    int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
    struct ctl_io *io = prog_add(log,
                                 (struct log_io_req){.op = LOG_IO_OPENAT,
                                                     .fd = log->dir_fd,
                                                     .path = seg->name,
                                                     .flags = flags,
                                                     .mode = 0644},
                                 CTL_MUST);
    io->result_fd = &seg->fd;
    if (log->cfg.preallocate && !log->prealloc_off) {
        /* A roll means a writer: its new segment starts with one step reserved. */
        io = prog_add(log,
                      (struct log_io_req){.op = LOG_IO_FALLOCATE,
                                          .fd = -1,
                                          .flags = 0,
                                          .off = 0,
                                          .len = prealloc_target(log, 0)},
                      CTL_QUIET);
        io->fdp = &seg->fd;
        io->after = after_fallocate;
        io->arg = seg;
    }
    io = prog_add(log,
                  (struct log_io_req){.op = LOG_IO_OPENAT,
                                      .fd = log->dir_fd,
                                      .path = seg->idx.name,
                                      .flags = flags,
                                      .mode = 0644},
                  CTL_MUST);
    io->result_fd = &seg->idx.fd;
    io = prog_add(log,
                  (struct log_io_req){.op = LOG_IO_OPENAT,
                                      .fd = log->dir_fd,
                                      .path = seg->tidx.name,
                                      .flags = flags,
                                      .mode = 0644},
                  CTL_MUST);
    io->result_fd = &seg->tidx.fd;
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
    prog_run(log, roll_done);
}

/* ---------------------------------------------------------------- repair */

static void repair_done(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        log_note_failure(log, "repair of a failed write", log->ctl.first_err);
        log_fail_queue(log, status);
        ctl_end(log, status);
        return;
    }
    log->repair_needed = false;
    ctl_end(log, LOG_OK);
}

/*
 * A failed write may have left bytes past the log end (whole batches even,
 * from a short writev). Cut them off durably before writing there again, so
 * that recovery can never bring back a batch whose append failed.
 */
static void start_repair(struct partition_log *log)
{
    struct log_segment *act = log_active(log);
    assert(log->repair_from == act->size);
    log->ctl.first_err = 0;
    prog_add(log, (struct log_io_req){.op = LOG_IO_FTRUNCATE, .fd = act->fd, .len = act->size},
             CTL_MUST);
    prealloc_cut(act, act->size);
    uint64_t to = prealloc_target(log, act->size);
    if (log->cfg.preallocate && !log->prealloc_off && to > act->size) {
        struct ctl_io *io = prog_add(
            log,
            (struct log_io_req){
                .op = LOG_IO_FALLOCATE, .fd = act->fd, .off = act->size, .len = to - act->size},
            CTL_QUIET);
        io->after = after_fallocate;
        io->arg = act;
    }
    prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = act->fd}, CTL_MUST);
    prog_run(log, repair_done);
}

/* ------------------------------------------------------------- retention */

static void retention_next(struct partition_log *log);

static void retention_unlinked(struct partition_log *log, int status)
{
    (void)status; /* unlink failures were logged; the segment is out of the log anyway */
    segment_retire(log->ctl.seg);
    log->ctl.seg = NULL;
    retention_next(log);
}

static void plan_unlink_segment(struct partition_log *log, struct log_segment *seg)
{
    const char *names[3] = {seg->name, seg->idx.name, seg->tidx.name};
    for (int i = 0; i < 3; i++)
        prog_add(log,
                 (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = names[i]},
                 i == 0 ? CTL_TOLERATE : CTL_QUIET);
}

static void remove_first_segment(struct partition_log *log)
{
    struct log_segment *seg = log->segs[0];
    memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
    log->nsegs--;
    log->total_bytes -= seg->size;
    log->start_offset = log->segs[0]->base_offset;
    if (log->records_start < log->start_offset)
        log->records_start = log->start_offset;
    log->ctl.seg = seg;
}

bool log_below_records_start(const struct partition_log *log, uint32_t seg_index)
{
    assert(seg_index < log->nsegs);
    return seg_index + 1 < log->nsegs && log->segs[seg_index]->end_offset <= log->records_start;
}

/*
 * May segment 0 go? Only when every offset in it is durable and, for a
 * replicated partition, committed: deleting past the high watermark could
 * delete what a new leader truncates away, and past the durable point what
 * a crash would bring back as a hole.
 */
static bool retention_allowed(const struct partition_log *log, const struct log_segment *seg)
{
    int64_t limit = log->durable_offset;
    if (log->high_watermark >= 0 && log->high_watermark < limit)
        limit = log->high_watermark;
    return seg->end_offset <= limit;
}

static void retention_checkpointed(struct partition_log *log, int status)
{
    checkpoint_written(log, status);
    if (log->cfg.on_log_start_advance != NULL)
        log->cfg.on_log_start_advance(log, log->start_offset, log->cfg.ctx);
    ctl_end(log, LOG_OK);
}

/*
 * Segments are gone: the directory is fsynced (so they stay gone) and a
 * checkpoint names the new start (recovery deletes any segment below it
 * that a crash brought back), and only then is the new start reported.
 */
static void retention_synced(struct partition_log *log, int status)
{
    (void)status; /* a failed fsync is a warning; recovery deletes what is below the start */
    prog_reset(log);
    if (log->durable_offset < log_active(log)->base_offset) {
        retention_checkpointed(log, LOG_OK); /* the next checkpoint names the start */
        return;
    }
    plan_checkpoint(log, false);
    prog_run(log, retention_checkpointed);
}

/*
 * Deletes the oldest closed segment while the log breaks retention by size
 * (what remains without it is still at least retention_bytes) or by age (its
 * newest batch is older than retention_ms), and while retention_allowed.
 * Never the active segment. The log start moves first, so readers get
 * OFFSET_OUT_OF_RANGE at once.
 */
static void retention_next(struct partition_log *log)
{
    int64_t now = log_now(log);
    log->last_retention_ms = now;
    if (log->nsegs > 1 && retention_allowed(log, log->segs[0])) {
        struct log_segment *seg = log->segs[0];
        const char *why = NULL;
        bool by_policy = (log->cfg.cleanup_policy & LOG_CLEANUP_DELETE) != 0;
        if (log_below_records_start(log, 0))
            why = "deleted records";
        else if (by_policy && log->cfg.retention_bytes >= 0 &&
                 log->total_bytes - seg->size >= (uint64_t)log->cfg.retention_bytes)
            why = "size";
        else if (by_policy && log->cfg.retention_ms >= 0 && seg->max_timestamp != INT64_MIN &&
                 seg->max_timestamp < now - log->cfg.retention_ms)
            why = "age";
        if (why != NULL) {
            log_msg(log, LOG_LEVEL_INFO, "retention (%s): deleting segment %s (%" PRIu64 " bytes)",
                    why, seg->name, seg->size);
            remove_first_segment(log);
            epochs_advance_start(log, log->start_offset);
            bad_advance_start(log, log->start_offset);
            log->ctl.status = 1; /* something was deleted */
            plan_unlink_segment(log, seg);
            prog_run(log, retention_unlinked);
            return;
        }
    }
    if (log->ctl.status != 1) {
        ctl_end(log, LOG_OK);
        return;
    }
    log->ctl.status = LOG_OK;
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_TOLERATE);
    prog_run(log, retention_synced);
}

/* -------------------------------------------------------------- truncate */

static void truncate_checkpointed(struct partition_log *log, int status)
{
    checkpoint_written(log, status);
    ctl_end(log, log->ctl.status);
}

static void truncate_synced(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        /* The bytes may still be there: cut them before the next write. */
        log_note_failure(log, "truncate", log->ctl.first_err);
        log->repair_needed = true;
        log->repair_from = log_active(log)->size;
        log->repair_to = log->ctl.target_pos;
        log->ctl.status = status;
        ctl_end(log, status);
        return;
    }
    log->ctl.status = LOG_OK;
    prog_reset(log);
    plan_checkpoint(log, false);
    prog_run(log, truncate_checkpointed);
}

/* Makes a closed segment the active one again: its index entries copied from the maps into
 * memory, where the active segment keeps them. */
static int reactivate(struct log_segment *seg)
{
    segment_map_indexes(seg);
    struct seg_index *both[2] = {&seg->idx, &seg->tidx};
    uint8_t *mem[2];
    for (int i = 0; i < 2; i++) {
        uint32_t n = both[i]->map != NULL ? both[i]->count : 0;
        mem[i] = malloc(((size_t)n + 64) * both[i]->entry_size);
        if (mem[i] == NULL) {
            if (i == 1)
                free(mem[0]);
            return -ENOMEM;
        }
        if (n > 0)
            memcpy(mem[i], both[i]->map, (size_t)n * both[i]->entry_size);
    }
    for (int i = 0; i < 2; i++) {
        struct seg_index *ix = both[i];
        uint32_t n = ix->map != NULL ? ix->count : 0;
        if (ix->map != NULL)
            munmap((void *)ix->map, ix->map_len);
        ix->map = NULL;
        ix->map_len = 0;
        ix->mem = mem[i];
        ix->count = ix->file_count = n;
        ix->cap = n + 64;
    }
    return 0;
}

static void truncate_cut_files(struct partition_log *log);

static void truncate_unlinked(struct partition_log *log, int status)
{
    (void)status; /* logged; recovery drops a segment that does not follow on */
    segment_retire(log->ctl.seg);
    log->ctl.seg = NULL;
    truncate_cut_files(log);
}

/*
 * The files follow memory: later segments are unlinked newest first, then
 * the segment holding the new end is cut and made durable, and the
 * directory fsynced, so a crash in between leaves a log that recovery
 * accepts (at worst the old suffix, never a gap).
 */
static void truncate_cut_files(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    prog_reset(log);
    if (r->doomed != NULL) {
        struct log_segment *seg = r->doomed;
        r->doomed = seg->next_doomed;
        r->seg = seg;
        plan_unlink_segment(log, seg);
        prog_run(log, truncate_unlinked);
        return;
    }
    struct log_segment *seg = log_active(log);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FTRUNCATE, .fd = seg->fd, .len = seg->size},
             CTL_MUST);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = seg->fd}, CTL_MUST);
    /* A closed segment made active again has no index fds open: they are opened here. */
    plan_open(log, &seg->idx.fd, -1, seg->idx.name, O_RDWR | O_CREAT | O_CLOEXEC, CTL_TOLERATE);
    plan_open(log, &seg->tidx.fd, -1, seg->tidx.name, O_RDWR | O_CREAT | O_CLOEXEC, CTL_TOLERATE);
    struct ctl_io *io =
        prog_add(log,
                 (struct log_io_req){.op = LOG_IO_FTRUNCATE,
                                     .len = (uint64_t)seg->idx.count * LOG_INDEX_ENTRY},
                 CTL_TOLERATE);
    io->fdp = &seg->idx.fd;
    io = prog_add(log,
                  (struct log_io_req){.op = LOG_IO_FTRUNCATE,
                                      .len = (uint64_t)seg->tidx.count * LOG_TIME_ENTRY},
                  CTL_TOLERATE);
    io->fdp = &seg->tidx.fd;
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_TOLERATE);
    prog_run(log, truncate_synced);
}

/*
 * The target position is known. Memory changes first, so readers never see
 * the dropped suffix again: segments after the target's leave the log, the
 * target's segment becomes the active one, cut to `pos`. Then the files.
 */
static void truncate_apply(struct partition_log *log, int k, uint64_t pos, int64_t new_end)
{
    struct log_segment *seg = log->segs[k];
    if (seg->idx.mem == NULL && reactivate(seg) != 0) {
        ctl_end(log, LOG_ERR_NOMEM);
        return;
    }
    struct log_segment **tail = &log->ctl.doomed;
    *tail = NULL;
    while ((int)log->nsegs - 1 > k) {
        struct log_segment *last = log->segs[--log->nsegs];
        log->total_bytes -= last->size;
        last->next_doomed = NULL;
        *tail = last;
        tail = &last->next_doomed;
    }
    uint64_t old_size = seg->size;
    uint32_t kept = segment_index_entries_below(seg, pos);
    uint32_t kept_t = segment_time_entries_below(seg, new_end);
    seg->idx.count = kept;
    if (seg->idx.file_count > kept)
        seg->idx.file_count = kept;
    seg->tidx.count = kept_t;
    if (seg->tidx.file_count > kept_t)
        seg->tidx.file_count = kept_t;
    seg->last_index_pos = kept > 0 ? idx_get_u32(segment_index_entry(&seg->idx, kept - 1) + 4) : 0;
    seg->last_time_entry_ts =
        kept_t > 0 ? (int64_t)idx_get_u64(segment_index_entry(&seg->tidx, kept_t - 1)) : INT64_MIN;
    if (new_end == seg->base_offset) {
        seg->max_timestamp = INT64_MIN;
        seg->max_ts_offset = seg->base_offset;
    } else if (seg->max_ts_offset >= new_end) {
        /* Keeping the old maximum is an upper bound: safe for lookups and retention. */
        seg->max_ts_offset = seg->base_offset;
    }
    log->total_bytes -= old_size - pos;
    seg->size = pos;
    prealloc_cut(seg, pos); /* the file is cut to pos below */
    seg->end_offset = new_end;
    log->next_offset = log->stored_offset = new_end;
    epochs_truncate(log, new_end);
    bad_truncate(log, new_end);
    configs_truncate(log, new_end);
    if (log->durable_offset > new_end || log->durable_pos > pos ||
        log->durable_offset < seg->base_offset) {
        log->durable_offset = new_end;
        log->durable_pos = pos;
    }
    /* Appends written past new_end and still waiting for a flush are gone. */
    struct log_append **pp = &log->durable_head;
    log->durable_tail = NULL;
    while (*pp != NULL) {
        struct log_append *a = *pp;
        if (a->last_offset >= new_end) {
            *pp = a->next_durable;
            a->on_durable(a, LOG_ERR_STORAGE);
        } else {
            log->durable_tail = a;
            pp = &a->next_durable;
        }
    }
    log->repair_needed = false;
    log->ctl.target_pos = old_size;
    log_msg(log, LOG_LEVEL_INFO, "truncating to offset %" PRId64, new_end);
    truncate_cut_files(log);
}

static void truncate_scan(struct partition_log *log);

/*
 * One chunk of the header walk that finds the batch holding the target:
 * batches are skipped by their length until one ends past the target.
 */
static void after_truncate_read(struct partition_log *log, struct ctl_io *io, int32_t res)
{
    (void)io;
    struct log_ctl_run *r = &log->ctl;
    uint32_t have = (uint32_t)res;
    uint32_t p = 0;
    int64_t target = r->target_offset;
    while (have - p >= RL_BATCH_HEADER_BYTES) {
        struct rl_batch_header h;
        rl_batch_header_read(log->scratch + p, have - p, &h);
        size_t total = rl_batch_total_bytes(&h);
        if (h.magic != RL_BATCH_MAGIC || total < RL_BATCH_HEADER_BYTES || h.last_offset_delta < 0) {
            r->scan_len = 0; /* corrupt: give up */
            r->status = LOG_ERR_STORAGE;
            return;
        }
        if (rl_batch_last_offset(&h) >= target) {
            r->target_pos = r->scan_pos + p;
            r->target_offset = h.base_offset; /* rounded down to the batch */
            r->scan_len = UINT32_MAX;         /* found */
            return;
        }
        p += (uint32_t)total;
        if (p > have)
            break;
    }
    r->scan_pos += p;
    r->scan_len = 1; /* go on */
}

static void truncate_scanned(struct partition_log *log, int status)
{
    struct log_ctl_run *r = &log->ctl;
    int k = log_find_segment(log, r->user->offset);
    if (status != LOG_OK || r->status != LOG_OK) {
        ctl_end(log, status != LOG_OK ? status : r->status);
        return;
    }
    if (r->scan_len == UINT32_MAX) {
        truncate_apply(log, k, r->target_pos, r->target_offset);
        return;
    }
    if (r->scan_len == 0 || r->scan_pos >= log->segs[k]->size) {
        log_msg(log, LOG_LEVEL_ERROR, "truncate: cannot find offset %" PRId64 " in %s",
                r->user->offset, log->segs[k]->name);
        ctl_end(log, LOG_ERR_STORAGE);
        return;
    }
    truncate_scan(log);
}

static void truncate_scan(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    struct log_segment *seg = log->segs[log_find_segment(log, r->user->offset)];
    uint64_t left = seg->size - r->scan_pos;
    uint32_t len = left < log->scratch_cap ? (uint32_t)left : log->scratch_cap;
    r->scan_len = 0;
    prog_reset(log);
    struct ctl_io *io = prog_add(
        log,
        (struct log_io_req){
            .op = LOG_IO_READ, .fd = seg->fd, .buf = log->scratch, .len = len, .off = r->scan_pos},
        CTL_MUST);
    io->after = after_truncate_read;
    prog_run(log, truncate_scanned);
}

static void start_truncate(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    int64_t x = r->user->offset;
    r->status = LOG_OK;
    if (log->scratch == NULL) { /* only truncation needs it: allocated on first use */
        log->scratch = malloc(LOG_SCRATCH_BYTES);
        if (log->scratch == NULL) {
            ctl_end(log, LOG_ERR_NOMEM);
            return;
        }
        log->scratch_cap = LOG_SCRATCH_BYTES;
    }
    if (x < log->start_offset || x > log->next_offset) {
        ctl_end(log, LOG_ERR_OUT_OF_RANGE);
        return;
    }
    if (x == log->next_offset) {
        ctl_end(log, LOG_OK);
        return;
    }
    int k = log_find_segment(log, x);
    assert(k >= 0);
    struct log_segment *seg = log->segs[k];
    if (x == seg->base_offset) {
        truncate_apply(log, k, 0, x);
        return;
    }
    int64_t off;
    uint64_t pos;
    segment_lookup_offset(seg, x, &off, &pos);
    r->target_offset = x;
    r->scan_pos = pos;
    truncate_scan(log);
}

/* ------------------------------------------------------------------ reset */

static void reset_done(struct partition_log *log, int status)
{
    if (status != LOG_OK) /* the files are what recovery would make of them: it finishes */
        log_note_failure(log, "creating the segment of a reset log", log->ctl.first_err);
    ctl_end(log, status);
}

static void reset_unlink_next(struct partition_log *log);

static void reset_unlinked(struct partition_log *log, int status)
{
    (void)status; /* recovery deletes any segment below the start the checkpoint names */
    segment_retire(log->ctl.seg);
    log->ctl.seg = NULL;
    reset_unlink_next(log);
}

/* The old segments go newest first, then the new one is created and the directory synced. */
static void reset_unlink_next(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    prog_reset(log);
    if (r->doomed != NULL) {
        r->seg = r->doomed;
        r->doomed = r->seg->next_doomed;
        plan_unlink_segment(log, r->seg);
        prog_run(log, reset_unlinked);
        return;
    }
    struct log_segment *seg = log_active(log);
    int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
    const char *names[3] = {seg->name, seg->idx.name, seg->tidx.name};
    int *fds[3] = {&seg->fd, &seg->idx.fd, &seg->tidx.fd};
    for (int i = 0; i < 3; i++) {
        struct ctl_io *io = prog_add(log,
                                     (struct log_io_req){.op = LOG_IO_OPENAT,
                                                         .fd = log->dir_fd,
                                                         .path = names[i],
                                                         .flags = flags,
                                                         .mode = 0644},
                                     CTL_MUST);
        io->result_fd = fds[i];
    }
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
    prog_run(log, reset_done);
}

/*
 * The checkpoint naming the new start is durable: from here a crash
 * recovers the new, empty log. Memory follows at once (readers get
 * OFFSET_OUT_OF_RANGE below the new start), then the files.
 */
static void reset_committed(struct partition_log *log, int status)
{
    struct log_ctl_run *r = &log->ctl;
    struct log_segment *seg = r->seg;
    r->seg = NULL;
    if (status != LOG_OK) {
        segment_free(seg); /* nothing changed: the old log stays */
        ctl_end(log, status);
        return;
    }
    log->ckpt = r->ckpt;
    log_durable_fail(log, LOG_ERR_STORAGE); /* written, never durable: gone */
    struct log_segment **tail = &r->doomed;
    *tail = NULL;
    while (log->nsegs > 0) {
        struct log_segment *old = log->segs[--log->nsegs];
        old->next_doomed = NULL;
        *tail = old;
        tail = &old->next_doomed;
    }
    log->segs[log->nsegs++] = seg;
    seg->created_ms = log_now(log);
    log->start_offset = log->next_offset = log->durable_offset = r->target_offset;
    log->records_start = r->target_offset;
    log->stored_offset = r->target_offset;
    log->durable_pos = 0;
    log->total_bytes = 0;
    log->repair_needed = false;
    epochs_reset(log, log->reset_epoch);
    bad_truncate(log, INT64_MIN);
    log->nconfigs = 0;
    if (log->reset_has_config)
        log->configs[log->nconfigs++] = log->reset_config;
    if (log->high_watermark >= 0 && log->high_watermark < r->target_offset)
        log->high_watermark = r->target_offset;
    log_msg(log, LOG_LEVEL_INFO, "log reset: it starts at offset %" PRId64, r->target_offset);
    reset_unlink_next(log);
}

/*
 * A follower behind the leader's log start drops its whole log and starts
 * empty at the leader's start. Crash safety comes from the order: first a
 * checkpoint that says "the log starts at X, in segment X, position 0" is
 * made durable; recovery deletes every segment below a checkpoint's start
 * and creates segment X when it is missing, so a crash before it leaves the
 * old log, and any crash after it the new one.
 */
static void start_reset(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    int64_t x = r->user->offset;
    if (x < log->next_offset) {
        ctl_end(log, LOG_ERR_OUT_OF_RANGE);
        return;
    }
    r->seg = segment_new(log, x); /* before anything is durable: memory can follow */
    if (r->seg == NULL) {
        ctl_end(log, LOG_ERR_NOMEM);
        return;
    }
    r->target_offset = x;
    log->reset_epoch = r->user->epoch;
    struct log_checkpoint *ck = &r->ckpt;
    memset(ck, 0, sizeof(*ck));
    ck->seq = log->ckpt.seq + 1;
    ck->segment_base = ck->offset = ck->start_offset = ck->max_ts_offset = x;
    ck->records_start = x;
    ck->max_timestamp = INT64_MIN;
    ck->high_watermark = log->high_watermark < 0   ? -1
                         : log->high_watermark < x ? x
                                                   : log->high_watermark;
    int32_t keep_epoch = log->start_epoch;
    uint32_t keep_n = log->nepochs;
    log->start_epoch = r->user->epoch;
    log->nepochs = 0; /* the record's table: none, start epoch as asked */
    /* Its configs: the one in effect at the new start, if not the bootstrap. */
    struct log_config keep_configs[LOG_MAX_CONFIGS];
    uint32_t keep_nc = log->nconfigs;
    memcpy(keep_configs, log->configs, sizeof(keep_configs));
    log->reset_has_config = r->user->config != NULL && r->user->config->len > 0;
    log->nconfigs = 0;
    if (log->reset_has_config) {
        assert(r->user->config->offset < x && r->user->config->len <= LOG_CONFIG_VALUE_MAX);
        log->reset_config = *r->user->config;
        log->configs[log->nconfigs++] = log->reset_config;
    }
    plan_checkpoint_record(log, ck);
    log->start_epoch = keep_epoch;
    log->nepochs = keep_n;
    memcpy(log->configs, keep_configs, sizeof(keep_configs));
    log->nconfigs = keep_nc;
    prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = log->ckpt_fd}, CTL_MUST);
    prog_run(log, reset_committed);
}

/* -------------------------------------------------------- advance start */

static void advance_checkpointed(struct partition_log *log, int status)
{
    checkpoint_written(log, status);
    if (status == LOG_OK)
        log->last_retention_ms = 0; /* segments wholly below it go at the next tick */
    ctl_end(log, status);
}

/*
 * Everything below the new start is durable (the flush, if one was
 * needed, is back): the start moves in memory (readers get
 * OFFSET_OUT_OF_RANGE below it at once) and a checkpoint naming it is
 * made durable before the caller hears, so it survives a crash.
 */
static void advance_flushed(struct partition_log *log, int status)
{
    struct log_ctl_run *r = &log->ctl;
    if (status != LOG_OK) {
        log_note_failure(log, "fdatasync", r->first_err);
        log_durable_fail(log, status);
        ctl_end(log, status);
        return;
    }
    if (log->durable_offset < r->target_pos_offset)
        log_durable_advance(log, r->target_pos_offset, r->target_pos);
    assert(r->target_offset <= log->durable_offset);
    log->records_start = r->target_offset;
    prog_reset(log);
    plan_checkpoint(log, false);
    prog_run(log, advance_checkpointed);
}

/*
 * DeleteRecords (partition_log_advance_start): the records start moves
 * forward to ctl->offset, at most the log end. Moving back is a no-op.
 * Whether the offset is committed is the caller's to know: the engine's
 * own high watermark is min(commit, durable) as last checkpointed and may
 * lag the commit a caller saw, and a refusal here would have no event to
 * be retried at once the replica is idle.
 */
static void start_advance(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    int64_t x = r->user->offset;
    if (x > log->next_offset) {
        ctl_end(log, LOG_ERR_OUT_OF_RANGE);
        return;
    }
    if (x <= log->records_start) {
        ctl_end(log, LOG_OK);
        return;
    }
    r->target_offset = x;
    r->target_pos_offset = log->next_offset;
    r->target_pos = log_active(log)->size;
    if (log->durable_offset < x)
        prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = log_active(log)->fd},
                 CTL_MUST);
    prog_run(log, advance_flushed);
}

/* ------------------------------------------------------------------ close */

static void close_finish(struct partition_log *log)
{
    log->state = LOG_STATE_CLOSED;
    ctl_end(log, log->ctl.status);
}

static void close_files_done(struct partition_log *log, int status)
{
    (void)status;
    log->dir_fd = log->ckpt_fd = -1;
    wait_drained(log, close_finish);
}

/* Every segment retired (fds closed asynchronously), then the log's own fds. */
static void close_all_files(struct partition_log *log)
{
    for (uint32_t i = 0; i < log->nsegs; i++)
        segment_retire(log->segs[i]);
    log->nsegs = 0;
    prog_reset(log);
    if (log->ckpt_fd >= 0)
        prog_add(log, (struct log_io_req){.op = LOG_IO_CLOSE, .fd = log->ckpt_fd}, CTL_QUIET);
    if (log->dir_fd >= 0)
        prog_add(log, (struct log_io_req){.op = LOG_IO_CLOSE, .fd = log->dir_fd}, CTL_QUIET);
    prog_run(log, close_files_done);
}

static void close_checkpointed(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        log_msg(log, LOG_LEVEL_WARN, "clean-shutdown checkpoint failed: %s; the next open recovers",
                strerror(log->ctl.first_err));
        log->ctl.status = status;
    } else {
        log->ckpt = log->ctl.ckpt;
    }
    wait_drained(log, close_all_files);
}

static void close_synced(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        log_note_failure(log, "fdatasync at close", log->ctl.first_err);
        log_durable_fail(log, status);
        log->ctl.status = status;
        wait_drained(log, close_all_files);
        return;
    }
    struct log_segment *act = log_active(log);
    log_durable_advance(log, log->next_offset, act->size);
    const struct log_checkpoint *ck = &log->ckpt;
    if (ck->clean && ck->segment_base == act->base_offset && ck->position == act->size &&
        ck->offset == log->next_offset && ck->start_offset == log->start_offset &&
        ck->records_start == log->records_start && ck->high_watermark == log->high_watermark &&
        !log->dir_sync_needed) {
        /* Opened clean and never changed: the clean record on disk says it all. */
        wait_drained(log, close_all_files);
        return;
    }
    prog_reset(log);
    plan_checkpoint(log, true);
    prog_run(log, close_checkpointed);
}

/*
 * Clean shutdown: data and index files durable, a checkpoint saying the log
 * ends exactly here and is clean (the next open skips recovery), files
 * closed once the reads in flight are back.
 */
static void start_close(struct partition_log *log)
{
    struct log_segment *act = log_active(log);
    log->ctl.status = LOG_OK;
    log_fail_queue(log, LOG_ERR_CLOSED);
    if (log->repair_needed) {
        /* A failed write's leftovers: cut them so that the clean end is exact. */
        prog_add(log, (struct log_io_req){.op = LOG_IO_FTRUNCATE, .fd = act->fd, .len = act->size},
                 CTL_MUST);
    }
    if (log->repair_needed || log->durable_offset < log->next_offset)
        prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = act->fd}, CTL_MUST);
    prog_run(log, close_synced);
}

/* ----------------------------------------------------------------- delete */

static void delete_next(struct partition_log *log);

static void delete_finish(struct partition_log *log)
{
    log->state = LOG_STATE_CLOSED;
    log_msg(log, LOG_LEVEL_INFO, "partition deleted");
    ctl_end(log, LOG_OK);
}

static void delete_dir_done(struct partition_log *log, int status)
{
    (void)status;
    wait_drained(log, delete_finish);
}

static void delete_files_closed(struct partition_log *log, int status)
{
    (void)status;
    log->dir_fd = log->ckpt_fd = -1;
    prog_reset(log);
    prog_add(
        log,
        (struct log_io_req){
            .op = LOG_IO_UNLINKAT, .fd = AT_FDCWD, .path = log->dir_path, .flags = AT_REMOVEDIR},
        CTL_TOLERATE);
    /* The topic's directory goes with its last partition (ENOTEMPTY otherwise). */
    prog_add(
        log,
        (struct log_io_req){
            .op = LOG_IO_UNLINKAT, .fd = AT_FDCWD, .path = log->topic_dir, .flags = AT_REMOVEDIR},
        CTL_QUIET);
    prog_run(log, delete_dir_done);
}

static void delete_segment_unlinked(struct partition_log *log, int status)
{
    (void)status;
    segment_retire(log->ctl.seg);
    log->ctl.seg = NULL;
    delete_next(log);
}

static void delete_next(struct partition_log *log)
{
    prog_reset(log);
    if (log->nsegs > 0) {
        struct log_segment *seg = log->segs[--log->nsegs];
        log->ctl.seg = seg;
        plan_unlink_segment(log, seg);
        prog_run(log, delete_segment_unlinked);
        return;
    }
    prog_add(log,
             (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = "checkpoint"},
             CTL_QUIET);
    prog_add(log, (struct log_io_req){.op = LOG_IO_CLOSE, .fd = log->ckpt_fd}, CTL_QUIET);
    prog_add(log, (struct log_io_req){.op = LOG_IO_CLOSE, .fd = log->dir_fd}, CTL_QUIET);
    prog_run(log, delete_files_closed);
}

static void start_delete(struct partition_log *log)
{
    log_fail_queue(log, LOG_ERR_CLOSED);
    log_durable_fail(log, LOG_ERR_CLOSED);
    log->total_bytes = 0;
    wait_drained(log, delete_next);
}

/* ------------------------------------------------------------ compaction */

static void after_compact_rename(struct partition_log *log, struct ctl_io *io, int32_t res)
{
    (void)io;
    (void)res;
    compact_swap_renamed(log);
}

static void compact_swapped(struct partition_log *log, int status)
{
    compact_swap_end(log, status);
    ctl_end(log, LOG_OK);
}

/*
 * Swaps a compacted segment in (compact.c wrote its temp files and made
 * them durable). The order makes every crash point leave a segment whose
 * index matches it or is missing (recovery rebuilds a missing one), never
 * an old index with the new data or the reverse: the old index files go
 * first (durably), then the new .log replaces the old (durably), then the
 * new index files take their names.
 */
static void start_compact_swap(struct partition_log *log)
{
    struct compact_swap_names n;
    if (!compact_swap_begin(log, &n)) {
        compact_swapped(log, LOG_ERR_BUSY);
        return;
    }
    for (int i = 1; i < 3; i++)
        prog_add(log,
                 (struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = log->dir_fd, .path = n.dst[i]},
                 CTL_QUIET);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
    struct ctl_io *io = prog_add(
        log,
        (struct log_io_req){
            .op = LOG_IO_RENAMEAT, .fd = log->dir_fd, .path = n.tmp[0], .buf = (void *)n.dst[0]},
        CTL_MUST);
    io->after = after_compact_rename;
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_MUST);
    for (int i = 1; i < 3; i++)
        prog_add(log,
                 (struct log_io_req){.op = LOG_IO_RENAMEAT,
                                     .fd = log->dir_fd,
                                     .path = n.tmp[i],
                                     .buf = (void *)n.dst[i]},
                 CTL_TOLERATE);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FSYNC, .fd = log->dir_fd}, CTL_TOLERATE);
    prog_run(log, compact_swapped);
}

/* ------------------------------------------------------------- overwrite */

static void overwrite_done(struct partition_log *log, int status)
{
    const struct log_ctl *c = log->ctl.user;
    assert(c != NULL);
    log->overwrites++;
    if (status == LOG_OK) {
        struct rl_batch_header h;
        rl_batch_header_read(c->data, c->len, &h);
        configs_note_batch(log, c->data, &h); /* a config batch recovery could not read */
        bad_forget(log, c->offset);
        atomic_fetch_add_explicit(&log->engine->bad.repaired, 1, memory_order_relaxed);
        log_msg(log, LOG_LEVEL_WARN, "bad batch at offset %" PRId64 " overwritten with a good copy",
                c->offset);
    }
    ctl_end(log, status);
}

/*
 * A good copy over a known-bad batch, in place: the same bytes a replica
 * holds, at the same position, then an fdatasync. It runs alone, so no
 * truncation can move the batch under the write; one that ran before it
 * may have removed it (then nothing is written).
 */
static void start_overwrite(struct partition_log *log)
{
    const struct log_ctl *c = log->ctl.user;
    assert(c != NULL && c->data != NULL);
    const struct log_bad_batch *b = bad_find(log, c->offset);
    int k = b != NULL ? log_find_segment(log, b->base_offset) : -1;
    if (b == NULL || k < 0 || log->segs[k]->base_offset != b->seg_base || b->len != c->len ||
        b->pos + b->len > log->segs[k]->size) {
        ctl_end(log, LOG_ERR_OUT_OF_RANGE);
        return;
    }
    struct log_segment *seg = log->segs[k];
    log->overwrites++; /* reads in flight now verify what they return */
    prog_add(log,
             (struct log_io_req){.op = LOG_IO_WRITE,
                                 .fd = seg->fd,
                                 .buf = (void *)c->data,
                                 .len = c->len,
                                 .off = b->pos},
             CTL_MUST);
    prog_add(log, (struct log_io_req){.op = LOG_IO_FDATASYNC, .fd = seg->fd}, CTL_MUST);
    prog_run(log, overwrite_done);
}

/* ------------------------------------------------------------------ start */

static void ctl_dispatch(struct partition_log *log)
{
    switch (log->ctl.kind) {
    case LOG_OP_FLUSH:
    case LOG_CTL_INTERVAL_FLUSH:
        start_flush(log);
        break;
    case LOG_CTL_CHECKPOINT:
        plan_checkpoint(log, false);
        prog_run(log, checkpoint_done);
        break;
    case LOG_CTL_ROLL:
        start_roll(log);
        break;
    case LOG_CTL_REPAIR:
        start_repair(log);
        break;
    case LOG_CTL_DIR_SYNC:
        start_dir_sync(log);
        break;
    case LOG_OP_RETENTION:
        retention_next(log);
        break;
    case LOG_CTL_COMPACT_SWAP:
        start_compact_swap(log);
        break;
    case LOG_OP_TRUNCATE:
        start_truncate(log);
        break;
    case LOG_OP_RESET:
        start_reset(log);
        break;
    case LOG_OP_ADVANCE_START:
        start_advance(log);
        break;
    case LOG_OP_CLOSE:
        start_close(log);
        break;
    case LOG_OP_DELETE:
        start_delete(log);
        break;
    case LOG_OP_OVERWRITE:
        start_overwrite(log);
        break;
    default:
        assert(!"unknown control operation");
        ctl_end(log, LOG_ERR_INVALID);
    }
}

/*
 * The operation's files could not be opened (no fds left, say): it fails
 * as if its first step had, and what waits on it is not retried at once.
 */
static void ctl_open_failed(struct partition_log *log)
{
    struct log_ctl_run *r = &log->ctl;
    int err = r->first_err ? r->first_err : EIO;
    int64_t now = log_now(log);
    log_msg(log, LOG_LEVEL_WARN, "opening the partition's files failed: %s", strerror(err));
    if (r->kind == LOG_CTL_CHECKPOINT) {
        log->last_ckpt_ms = now;
        log->ckpt_attempt_base = log_active(log)->base_offset;
        log->ckpt_attempt_pos = log->durable_pos;
    } else if (r->kind == LOG_OP_RETENTION) {
        log->last_retention_ms = now;
    } else if (r->kind == LOG_CTL_COMPACT_SWAP) {
        compact_swap_end(log, log_status_from_errno(err)); /* the pass stops */
    } else if (r->kind == LOG_CTL_ROLL) {
        log_note_failure(log, "segment roll", err);
        log_active(log)->created_ms = now - log->cfg.segment_ms + 1000;
        log_fail_queue(log, log_status_from_errno(err));
    }
    ctl_end(log, log_status_from_errno(err));
}

static void files_opened(struct partition_log *log, int status)
{
    if (status != LOG_OK) {
        ctl_open_failed(log);
        return;
    }
    ctl_dispatch(log);
}

void ctl_start(struct partition_log *log, uint8_t kind, struct log_ctl *user)
{
    struct log_ctl_run *r = &log->ctl;
    assert(!log->ctl_active && log->groups_inflight == 0 && !log->prealloc_busy);
    /* These change or end the log under a compaction pass: it stops. */
    if (kind == LOG_OP_TRUNCATE || kind == LOG_OP_RESET || kind == LOG_OP_CLOSE ||
        kind == LOG_OP_DELETE)
        compact_abort(log);
    log->ctl_active = true;
    r->c.on_complete = on_ctl_complete;
    r->kind = kind;
    r->user = user;
    r->status = LOG_OK;
    r->first_err = 0;
    r->seg = NULL;
    r->resume = NULL;
    prog_reset(log);
    if (ctl_needs_files(log, kind)) {
        /* Close and delete go on without them: they end the partition either way. */
        bool ending = kind == LOG_OP_CLOSE || kind == LOG_OP_DELETE;
        plan_open_files(log, ending ? CTL_QUIET : CTL_MUST);
        if (r->nprog > 0) {
            prog_run(log, files_opened);
            return;
        }
    }
    ctl_dispatch(log);
}
