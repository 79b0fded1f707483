/*
 * Partition log life cycle: configuration, open (directories, then
 * recovery.c), the getters, and freeing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "log_internal.h"
#include "names.h"

void partition_log_config_default(struct partition_log_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->segment_bytes = 1ull << 30;
    cfg->segment_ms = 7ll * 24 * 3600 * 1000;
    cfg->retention_bytes = -1;
    cfg->retention_ms = 7ll * 24 * 3600 * 1000;
    cfg->flush = LOG_FLUSH_ALWAYS;
    cfg->flush_interval_ms = 1000;
    cfg->index_interval_bytes = 4096;
    cfg->max_append_bytes = 8u << 20;
    cfg->max_group_bytes = 32u << 20;
    cfg->max_batch_bytes = 0; /* = max_append_bytes */
    cfg->max_inflight_groups = LOG_DEFAULT_INFLIGHT_GROUPS;
    cfg->preallocate = true;
    cfg->prealloc_bytes = LOG_DEFAULT_PREALLOC_BYTES;
    cfg->cache_keep_bytes = LOG_DEFAULT_CACHE_KEEP_BYTES;
    cfg->checkpoint_interval_ms = 1000;
    cfg->checkpoint_bytes = 64ull << 20;
    cfg->retention_check_ms = 1000;
    cfg->cleanup_policy = LOG_CLEANUP_DELETE;
    cfg->delete_retention_ms = 24ll * 3600 * 1000;
    cfg->min_cleanable_dirty_ratio = 0.5;
}

int partition_log_parse_flush(const char *text, struct partition_log_config *cfg)
{
    if (strcmp(text, "always") == 0) {
        cfg->flush = LOG_FLUSH_ALWAYS;
        return LOG_OK;
    }
    if (strcmp(text, "none") == 0) {
        cfg->flush = LOG_FLUSH_NONE;
        return LOG_OK;
    }
    if (strncmp(text, "interval:", 9) == 0) {
        char *end;
        long long ms = strtoll(text + 9, &end, 10);
        if (*end != 0 || end == text + 9 || ms <= 0)
            return LOG_ERR_INVALID;
        cfg->flush = LOG_FLUSH_INTERVAL;
        cfg->flush_interval_ms = ms;
        return LOG_OK;
    }
    return LOG_ERR_INVALID;
}

static bool name_ok(const char *s)
{
    return rl_topic_name_valid(s);
}

/* Returns 0 when the directory exists now; *created says whether this call made it. */
static int mkdir_one(struct partition_log *log, const char *path, bool *created)
{
    struct log_io_req req = {.op = LOG_IO_MKDIRAT, .fd = AT_FDCWD, .path = path, .mode = 0755};
    int64_t rc = log_io_run(log->engine->cfg.io, &req);
    if (rc == 0)
        *created = true;
    return rc == 0 || rc == -EEXIST ? 0 : (int)rc;
}

/*
 * data_dir/topics/<topic>/<partition>, each created when absent;
 * created[0] and [1] say whether the topic's and the partition's
 * directories are new. A topic directory removed between two steps (its
 * last other partition deleted meanwhile) is made again, once.
 */
static int make_dirs(struct partition_log *log, const char *data_dir, bool created[2])
{
    size_t len = strlen(data_dir) + 16;
    char *topics = malloc(len);
    if (topics == NULL)
        return -ENOMEM;
    snprintf(topics, len, "%s/topics", data_dir);
    bool unused = false;
    int err = mkdir_one(log, data_dir, &unused);
    if (err == 0)
        err = mkdir_one(log, topics, &unused);
    free(topics);
    for (int attempt = 0; attempt < 2 && err == 0; attempt++) {
        err = mkdir_one(log, log->topic_dir, &created[0]);
        if (err == 0)
            err = mkdir_one(log, log->dir_path, &created[1]);
        if (err != -ENOENT)
            break;
    }
    return err;
}

/*
 * A failed open leaves nothing it created behind: a brand-new partition's
 * files and directory, and its topic's directory when this open made it
 * (and no other partition is in it). A partition that existed keeps
 * everything, for the operator to look at.
 */
static void open_failed(struct partition_log *log, const bool created[2])
{
    struct log_engine *e = log->engine;
    char *dir = log->dir_path, *tdir = log->topic_dir;
    log->dir_path = log->topic_dir = NULL;
    partition_log_free(log); /* closes the files first */
    if (created[1]) {
        char seg[3][LOG_NAME_MAX];
        segment_names(0, seg[0], seg[1], seg[2]);
        const char *names[4] = {"checkpoint", seg[0], seg[1], seg[2]};
        size_t len = strlen(dir) + LOG_NAME_MAX + 2;
        char *path = malloc(len);
        for (int i = 0; i < 4 && path != NULL; i++) {
            snprintf(path, len, "%s/%s", dir, names[i]);
            log_io_run(e->cfg.io,
                       &(struct log_io_req){.op = LOG_IO_UNLINKAT, .fd = AT_FDCWD, .path = path});
        }
        free(path);
        log_io_run(e->cfg.io,
                   &(struct log_io_req){
                       .op = LOG_IO_UNLINKAT, .fd = AT_FDCWD, .path = dir, .flags = AT_REMOVEDIR});
    }
    if (created[0])
        log_io_run(e->cfg.io,
                   &(struct log_io_req){
                       .op = LOG_IO_UNLINKAT, .fd = AT_FDCWD, .path = tdir, .flags = AT_REMOVEDIR});
    free(dir);
    free(tdir);
}

static void unlink_open(struct partition_log *log)
{
    struct log_engine *e = log->engine;
    if (log->prev_open != NULL)
        log->prev_open->next_open = log->next_open;
    else if (e->partitions == log)
        e->partitions = log->next_open;
    if (log->next_open != NULL)
        log->next_open->prev_open = log->prev_open;
    log->next_open = log->prev_open = NULL;
}

void partition_log_free(struct partition_log *log)
{
    if (log == NULL)
        return;
    struct log_engine *e = log->engine;
    unlink_open(log);
    if (e->ready == log) {
        e->ready = log->next_ready;
    } else {
        for (struct partition_log *p = e->ready; p != NULL; p = p->next_ready)
            if (p->next_ready == log) {
                p->next_ready = log->next_ready;
                break;
            }
    }
    /* Only a log that never served, or whose close failed half-way, still has files open. */
    assert(log->reads_inflight == 0 && log->groups_inflight == 0 && log->retiring == 0 &&
           !log->prealloc_busy);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        struct log_segment *seg = log->segs[i];
        int fds[3] = {seg->fd, seg->idx.fd, seg->tidx.fd};
        for (int j = 0; j < 3; j++)
            if (fds[j] >= 0)
                log_io_run(e->cfg.io, &(struct log_io_req){.op = LOG_IO_CLOSE, .fd = fds[j]});
        segment_free(seg);
    }
    bad_free(log);
    int fds[2] = {log->ckpt_fd, log->dir_fd};
    for (int j = 0; j < 2; j++)
        if (fds[j] >= 0)
            log_io_run(e->cfg.io, &(struct log_io_req){.op = LOG_IO_CLOSE, .fd = fds[j]});
    free(log->segs);
    log_groups_free(log);
    free(log->scratch);
    free(log->dir_path);
    free(log->topic_dir);
    free(log->epochs);
    free(log->ctl.ckpt_buf);
    free(log);
}

/*
 * Between control operations only the segments' .log files stay open
 * (ctl.c, "transient files"): the directory, the checkpoint and the index
 * files that recovery used are closed once it is done.
 */
static void close_fd_sync(struct partition_log *log, int *fd)
{
    if (*fd >= 0)
        log_io_run(log->engine->cfg.io, &(struct log_io_req){.op = LOG_IO_CLOSE, .fd = *fd});
    *fd = -1;
}

static void close_transient_files(struct partition_log *log)
{
    close_fd_sync(log, &log->ckpt_fd);
    close_fd_sync(log, &log->dir_fd);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        close_fd_sync(log, &log->segs[i]->idx.fd);
        close_fd_sync(log, &log->segs[i]->tidx.fd);
    }
    assert(log_active(log)->fd >= 0);
}

static int check_config(struct partition_log_config *c, struct log_open_report *rep)
{
    if (c->max_batch_bytes == 0)
        c->max_batch_bytes = c->max_append_bytes;
    if (c->max_inflight_groups == 0)
        c->max_inflight_groups = LOG_DEFAULT_INFLIGHT_GROUPS;
    if (c->cache_keep_bytes == 0)
        c->cache_keep_bytes = LOG_DEFAULT_CACHE_KEEP_BYTES;
    if (c->max_group_bytes < c->max_append_bytes)
        c->max_group_bytes = c->max_append_bytes;
    if (c->prealloc_bytes == 0)
        c->prealloc_bytes = LOG_DEFAULT_PREALLOC_BYTES;
    if (c->cleanup_policy == 0)
        c->cleanup_policy = LOG_CLEANUP_DELETE;
    const char *bad = NULL;
    if (c->segment_bytes < 4096 || c->segment_bytes > LOG_MAX_SEGMENT_BYTES)
        bad = "segment_bytes must be in [4 KiB, 2 GiB]";
    else if (c->index_interval_bytes < 64)
        bad = "index_interval_bytes must be at least 64";
    else if (c->max_append_bytes < RL_BATCH_HEADER_BYTES ||
             c->max_append_bytes > RL_BATCH_ABSOLUTE_MAX_BYTES)
        bad = "max_append_bytes out of range";
    else if (c->max_batch_bytes > RL_BATCH_ABSOLUTE_MAX_BYTES)
        bad = "max_batch_bytes out of range";
    else if (c->segment_ms <= 0 || c->checkpoint_interval_ms <= 0 || c->retention_check_ms <= 0)
        bad = "segment_ms, checkpoint_interval_ms and retention_check_ms must be positive";
    else if (c->max_inflight_groups < 1 || c->max_inflight_groups > LOG_MAX_INFLIGHT_GROUPS)
        bad = "max_inflight_groups must be in [1, 16]";
    else if (c->flush == LOG_FLUSH_INTERVAL && c->flush_interval_ms <= 0)
        bad = "flush interval must be positive";
    else if (c->prealloc_bytes < 4096 || c->prealloc_bytes > LOG_PREALLOC_MAX_BYTES)
        bad = "prealloc_bytes must be in [4 KiB, 16 MiB]";
    else if ((c->cleanup_policy & ~(LOG_CLEANUP_DELETE | LOG_CLEANUP_COMPACT)) != 0)
        bad = "cleanup_policy: delete, compact or both";
    else if (c->delete_retention_ms < 0 || c->min_compaction_lag_ms < 0 ||
             !(c->min_cleanable_dirty_ratio >= 0.0 && c->min_cleanable_dirty_ratio <= 1.0))
        bad = "delete_retention_ms and min_compaction_lag_ms must be >= 0, the dirty ratio in "
              "[0, 1]";
    if (bad == NULL)
        return LOG_OK;
    snprintf(rep->message, sizeof(rep->message), "%s", bad);
    return LOG_ERR_INVALID;
}

int partition_log_open(struct log_engine *e, const char *data_dir, const char *topic,
                       int32_t partition, const struct partition_log_config *cfg,
                       struct partition_log **out, struct log_open_report *rep)
{
    struct log_open_report local;
    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    *out = NULL;
    if (data_dir == NULL || !name_ok(topic) || partition < 0) {
        snprintf(rep->message, sizeof(rep->message), "bad data directory, topic or partition");
        return LOG_ERR_INVALID;
    }
    struct partition_log *log = calloc(1, sizeof(*log));
    if (log == NULL)
        return LOG_ERR_NOMEM;
    log->engine = e;
    log->cfg = *cfg;
    log->dir_fd = log->ckpt_fd = -1;
    log->ckpt.seq = 0;
    log->ckpt.high_watermark = -1; /* as a record without one says */
    log->high_watermark = -1;
    snprintf(log->label, sizeof(log->label), "%s/%d", topic, partition);
    int status = check_config(&log->cfg, rep);
    if (status != LOG_OK) {
        free(log);
        return status;
    }
    prealloc_init(log);

    size_t plen = strlen(data_dir) + strlen(topic) + 32;
    log->dir_path = malloc(plen);
    log->topic_dir = malloc(plen);
    if (log->dir_path == NULL || log->topic_dir == NULL) {
        partition_log_free(log);
        return LOG_ERR_NOMEM;
    }
    snprintf(log->topic_dir, plen, "%s/topics/%s", data_dir, topic);
    snprintf(log->dir_path, plen, "%s/topics/%s/%d", data_dir, topic, partition);
    bool created[2] = {false, false};
    int err = make_dirs(log, data_dir, created);
    if (err != 0) {
        snprintf(rep->message, sizeof(rep->message), "creating %s: %s", log->dir_path,
                 strerror(-err));
        open_failed(log, created);
        return LOG_ERR_STORAGE;
    }
    struct log_io_req req = {.op = LOG_IO_OPENAT,
                             .fd = AT_FDCWD,
                             .path = log->dir_path,
                             .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC};
    log->dir_fd = (int)log_io_run(e->cfg.io, &req);
    if (log->dir_fd >= 0) {
        req = (struct log_io_req){.op = LOG_IO_OPENAT,
                                  .fd = log->dir_fd,
                                  .path = "checkpoint",
                                  .flags = O_RDWR | O_CLOEXEC};
        /* Absent in a new partition: created by its first checkpoint (ctl.c). */
        log->ckpt_fd = (int)log_io_run(e->cfg.io, &req);
        if (log->ckpt_fd == -ENOENT)
            log->ckpt_fd = -1;
    }
    if (log->dir_fd < 0 || log->ckpt_fd < -1) {
        int bad = log->dir_fd < 0 ? log->dir_fd : log->ckpt_fd;
        snprintf(rep->message, sizeof(rep->message), "opening %s: %s", log->dir_path,
                 strerror(-bad));
        log->dir_fd = log->dir_fd < 0 ? -1 : log->dir_fd;
        log->ckpt_fd = -1;
        open_failed(log, created);
        return LOG_ERR_STORAGE;
    }
    status = log_recover(log, rep);
    if (status != LOG_OK) {
        log_msg(log, LOG_LEVEL_ERROR, "open failed: %s", rep->message);
        open_failed(log, created);
        return status;
    }
    close_transient_files(log);
    compact_init(log);
    if (log->cfg.flush == LOG_FLUSH_INTERVAL)
        log_engine_note_interval(e, log->cfg.flush_interval_ms);
    log->last_flush_ms = log->last_retention_ms = log_now(log);
    log->state = LOG_STATE_OPEN;
    log->next_open = e->partitions;
    if (e->partitions != NULL)
        e->partitions->prev_open = log;
    e->partitions = log;
    *out = log;
    return LOG_OK;
}

int64_t partition_log_start_offset(const struct partition_log *log)
{
    return log->start_offset;
}

int64_t partition_log_records_start(const struct partition_log *log)
{
    assert(log->records_start >= log->start_offset);
    return log->records_start;
}

int partition_log_set_limits(struct partition_log *log, const struct partition_log_config *cfg)
{
    struct partition_log_config c = log->cfg;
    c.segment_bytes = cfg->segment_bytes;
    c.segment_ms = cfg->segment_ms;
    c.retention_bytes = cfg->retention_bytes;
    c.retention_ms = cfg->retention_ms;
    c.cleanup_policy = cfg->cleanup_policy;
    c.delete_retention_ms = cfg->delete_retention_ms;
    c.min_cleanable_dirty_ratio = cfg->min_cleanable_dirty_ratio;
    c.min_compaction_lag_ms = cfg->min_compaction_lag_ms;
    struct log_open_report rep;
    if (check_config(&c, &rep) != LOG_OK)
        return LOG_ERR_INVALID;
    /* Compaction turned off under a running pass: the pass stops. */
    if ((c.cleanup_policy & LOG_CLEANUP_COMPACT) == 0)
        compact_abort(log);
    log->cfg = c;
    log->last_retention_ms = 0; /* the new limits are looked at by the next tick */
    assert(log->cfg.segment_bytes == cfg->segment_bytes);
    return LOG_OK;
}

int64_t partition_log_end_offset(const struct partition_log *log)
{
    return log->next_offset;
}

int64_t partition_log_stored_offset(const struct partition_log *log)
{
    return log->stored_offset > log->next_offset ? log->stored_offset : log->next_offset;
}

int64_t partition_log_durable_offset(const struct partition_log *log)
{
    return log->durable_offset;
}

uint64_t partition_log_size_bytes(const struct partition_log *log)
{
    return log->total_bytes;
}

uint32_t partition_log_segment_count(const struct partition_log *log)
{
    return log->nsegs;
}

void partition_log_set_high_watermark(struct partition_log *log, int64_t hw)
{
    assert(hw >= -1);
    log->high_watermark = hw;
}

int64_t partition_log_high_watermark(const struct partition_log *log)
{
    return log->high_watermark;
}

size_t partition_log_memory_bytes(const struct partition_log *log)
{
    size_t n = sizeof(*log) + (size_t)log->segs_cap * sizeof(*log->segs) + log->scratch_cap;
    n += log->dir_path != NULL ? strlen(log->dir_path) + 1 : 0;
    n += log->topic_dir != NULL ? strlen(log->topic_dir) + 1 : 0;
    n += (size_t)log->epochs_cap * sizeof(*log->epochs);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        const struct log_segment *seg = log->segs[i];
        n += sizeof(*seg) + (size_t)seg->idx.cap * seg->idx.entry_size +
             (size_t)seg->tidx.cap * seg->tidx.entry_size;
    }
    if (log->groups != NULL) {
        const struct log_group *g = &log->groups[0];
        n += log->cfg.max_inflight_groups *
             (sizeof(*g) + (size_t)g->stage_cap * (LOG_INDEX_ENTRY + LOG_TIME_ENTRY));
    }
    return n;
}

bool partition_log_failed(const struct partition_log *log)
{
    return log->failed;
}

const char *partition_log_failure(const struct partition_log *log)
{
    return log->failed ? log->last_error : "";
}
