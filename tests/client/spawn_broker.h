/*
 * Starting and stopping any broker binary from a test (the fake broker
 * process, or ringlogd from an arbitrary path), without a shell:
 * posix_spawn the binary with `--listen 127.0.0.1:0 --metrics off
 * --data-dir DIR` (plus extra arguments), read its stderr until the line
 * "ringlogd ready node=<id> listen=<host:port>", and keep the address.
 * Stopping sends SIGTERM, waits, then SIGKILL. The rest of the broker's
 * stderr is copied to the test's stderr by a thread, so logs stay visible.
 */
#ifndef RINGLOG_TESTS_SPAWN_BROKER_H
#define RINGLOG_TESTS_SPAWN_BROKER_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

struct spawned_broker {
    pid_t pid;
    char listen[64]; /* "127.0.0.1:PORT" from the ready line */
    int port;
    char data_dir[256];
    int stderr_fd;
    pthread_t drain;
    bool drain_started;
};

/*
 * Starts `binary` with data in `data_dir` (created if missing; NULL: a new
 * mkdtemp directory). extra_args is NULL-terminated or NULL. Waits up to
 * timeout_ms for the ready line. Returns 0, or -1 with a reason on stderr.
 */
int spawn_broker_start(struct spawned_broker *b, const char *binary, const char *data_dir,
                       const char *const *extra_args, int timeout_ms);

/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit status (or -1). */
int spawn_broker_stop(struct spawned_broker *b, int timeout_ms);

/* Removes the data directory recursively (after stop). */
void spawn_broker_remove_data(struct spawned_broker *b);

#endif
