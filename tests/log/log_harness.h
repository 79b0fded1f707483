/*
 * Test harness for the storage engine: a ring, the io_uring log_io wrapped
 * in the fault injector, an engine with a fake clock and a captured log, a
 * temporary data directory, batch builders, and synchronous wrappers that
 * run the ring until an operation's callback has fired.
 */
#ifndef RINGLOG_TESTS_LOG_HARNESS_H
#define RINGLOG_TESTS_LOG_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include "log_io_fault.h"
#include "log_io_uring.h"
#include "partition_log.h"

struct harness {
    struct io_uring ring;
    struct log_io_uring uio;
    struct log_io_fault fault;
    struct log_engine engine;
    int64_t now_ms;
    char dir[256];
    unsigned errors, warnings;
    char last_error[512];
    char last_warning[512];
    bool quiet;
    bool allow_gaps; /* h_read_all: offsets may skip ahead between batches (compaction) */
};

void h_init(struct harness *h);
/* Same, on an existing directory (not removed by h_fini_keep). */
void h_init_dir(struct harness *h, const char *dir);
void h_fini_keep(struct harness *h);
void h_fini(struct harness *h); /* removes the directory */
void h_cfg(struct partition_log_config *cfg);

struct partition_log *h_open(struct harness *h, const struct partition_log_config *cfg,
                             struct log_open_report *rep);
int h_open_status(struct harness *h, const struct partition_log_config *cfg,
                  struct partition_log **out, struct log_open_report *rep);
int h_close(struct harness *h, struct partition_log *log); /* close + free */
int h_delete(struct harness *h, struct partition_log *log);
int h_flush(struct harness *h, struct partition_log *log);
int h_truncate(struct harness *h, struct partition_log *log, int64_t offset, int64_t *new_end);
int h_retention(struct harness *h, struct partition_log *log);
int h_reset(struct harness *h, struct partition_log *log, int64_t offset, int32_t start_epoch);
int h_advance_start(struct harness *h, struct partition_log *log, int64_t offset);
/* A reset with the config of `in` (its other fields unused). */
int h_reset_with(struct harness *h, struct partition_log *log, const struct log_ctl *in,
                 int64_t offset, int32_t start_epoch);
void h_drive(struct harness *h); /* until idle */
/* Runs the ring for about `ms` milliseconds: submits, dispatches what completes, never blocks. */
void h_spin(struct harness *h, int ms);
/* Runs the ring until n completions held by the fault injector have arrived (false: 5 s passed). */
bool h_wait_held(struct harness *h, uint32_t n);

/*
 * Builds one batch of `records` records whose values encode (tag, i) and
 * the given timestamps; returns its size. Checksummed, base offset 0.
 */
size_t h_batch(uint8_t *buf, size_t cap, uint64_t tag, int records, size_t value_len,
               int64_t timestamp);
/* A one-record control batch (RL_CONTROL_*) as the broker builds one. */
size_t h_control_batch(uint8_t *buf, size_t cap, uint16_t type, int64_t timestamp);
/* Checks a batch built by h_batch: valid, and its values encode `tag`. */
bool h_batch_check(const uint8_t *batch, size_t len, uint64_t *tag);

struct h_append {
    struct log_append a;
    bool written, durable;
    int written_status, durable_status;
    unsigned written_seq, durable_seq; /* order of the callbacks across appends, from 1 */
};

/* Queues an append (no driving). Returns the immediate status. */
int h_append_async(struct harness *h, struct partition_log *log, struct h_append *ha, uint8_t *data,
                   size_t len, uint32_t flags, int32_t epoch);
/* Appends and drives until written (and durable under flush=always). */
int h_append(struct harness *h, struct partition_log *log, uint8_t *data, size_t len,
             int64_t *base_offset);

struct h_read_result {
    int status;
    uint8_t *data; /* malloc'ed copy */
    size_t len;
    int64_t next_offset;
    size_t needed;
};

int h_read(struct harness *h, struct partition_log *log, int64_t offset, size_t cap,
           struct h_read_result *out);
/* h_read with r->verify: checksums checked, a failing batch recorded as bad. */
int h_read_verify(struct harness *h, struct partition_log *log, int64_t offset, size_t cap,
                  struct h_read_result *out);
/* partition_log_overwrite, driven to its end. */
int h_overwrite(struct harness *h, struct partition_log *log, const uint8_t *data, size_t len);
int h_read_by_time(struct harness *h, struct partition_log *log, int64_t ts, size_t cap,
                   struct h_read_result *out);

/*
 * Reads the whole log from its start and checks every batch: valid checksum,
 * consecutive offsets (growing ones with allow_gaps). Fills tags[] (when not NULL, up to max) with
 * each batch's tag and base offsets; returns the number of batches or -1.
 */
long h_read_all(struct harness *h, struct partition_log *log, uint64_t *tags, int64_t *bases,
                long max);

void h_rm_rf(const char *path);

#endif
