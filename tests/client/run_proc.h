/* Runs a program without a shell: feeds stdin, collects stdout and stderr, returns its exit status.
 */
#ifndef RINGLOG_TESTS_RUN_PROC_H
#define RINGLOG_TESTS_RUN_PROC_H

#include <stdbool.h>
#include <stddef.h>

struct proc_output {
    char *out; /* NUL-terminated (may also contain NULs: see out_len) */
    size_t out_len;
    char *err;
    size_t err_len;
};

/*
 * argv[0] is the path. env_extra (NULL-terminated "K=V" list, may be NULL)
 * is added to the environment. Kills the program after timeout_ms.
 * Returns the exit status, 128+signal when killed, -1 if it did not run.
 */
int run_proc(const char *const *argv, const char *const *env_extra, const void *stdin_data,
             size_t stdin_len, int timeout_ms, struct proc_output *out);

void proc_output_free(struct proc_output *out);

/*
 * A program left running, for tests that watch it while it works: its
 * stdin, stdout and stderr are pipes the test holds.
 */
struct live_proc {
    int pid;
    int in, out, err; /* our ends; in is -1 once closed */
    char outbuf[65536], errbuf[65536];
    size_t out_len, err_len;
};

/* Starts argv (argv[0] is the path) with env_extra added. 0 or -1. */
int live_start(struct live_proc *p, const char *const *argv, const char *const *env_extra);

/*
 * Reads the program's stdout (fd_is_err false) or stderr until `needle`
 * appears in all that was read so far, or timeout_ms passes. Returns true
 * when it appeared. The text read stays in outbuf / errbuf.
 */
bool live_wait_for(struct live_proc *p, bool fd_is_err, const char *needle, int timeout_ms);

/* Sends sig (0: none), waits up to timeout_ms (then SIGKILL), reads what is left; returns the
 * exit status, 128+signal when killed by one. */
int live_stop(struct live_proc *p, int sig, int timeout_ms);

#endif
