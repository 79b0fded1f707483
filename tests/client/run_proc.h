/* Runs a program without a shell: feeds stdin, collects stdout and stderr, returns its exit status.
 */
#ifndef RINGLOG_TESTS_RUN_PROC_H
#define RINGLOG_TESTS_RUN_PROC_H

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

#endif
