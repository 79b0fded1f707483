/*
 * Starts a real ringlogd for integration tests: ephemeral ports on
 * 127.0.0.1, a fresh data directory, the ready line parsed from stderr,
 * stopped by PID. The broker's stderr is copied to <data_dir>.log.
 */
#ifndef RINGLOG_TESTS_BROKER_PROC_H
#define RINGLOG_TESTS_BROKER_PROC_H

#include <stdint.h>
#include <sys/types.h>

struct broker_proc {
    pid_t pid;
    uint16_t port;
    char data_dir[512];
    char log_path[600];
};

/*
 * Starts build/bin/ringlogd (found next to the test binary) with the given
 * extra arguments (NULL-terminated, may be NULL) and waits for the ready
 * line. data_dir NULL: a new temporary directory. Returns 0 or -1.
 */
int broker_start(struct broker_proc *b, const char *data_dir, const char *const *extra_args);

/* SIGTERM and wait; returns the exit status (or -1). */
int broker_stop(struct broker_proc *b);

/* SIGKILL and wait. */
void broker_kill(struct broker_proc *b);

/* rm -rf of the data directory. */
void broker_remove_data(struct broker_proc *b);

/*
 * Runs ringlogd with args (NULL-terminated) to completion, no broker kept:
 * for flags and start-up refusals. Returns the exit status (-1 when killed)
 * with stdout and stderr together in out.
 */
int broker_run_once(const char *const *args, char *out, size_t out_len);

/* Bytes in the broker's log (<data_dir>.log) now: a mark for broker_log_since. */
long broker_log_size(const struct broker_proc *b);

/* The broker's log from byte `from` on, NUL-terminated, malloc'ed (NULL on error). */
char *broker_log_since(const struct broker_proc *b, long from);

/*
 * Bytes of the closed segments of a partition directory (<data-dir>/topics/T/P): every .log
 * but the newest, the active one, whose file is preallocated. Compaction tests watch it shrink.
 */
long long broker_closed_segment_bytes(const char *partition_dir);

/* Path of a binary in the same directory as the running test. */
void test_bin_path(const char *name, char *out, size_t len);

#endif
