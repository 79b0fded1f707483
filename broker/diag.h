/*
 * The broker's diagnostics: one line per event on stderr, with a UTC timestamp, a
 * level and the shard that wrote it. Each line goes out in one write(2), so
 * lines of different threads never interleave.
 */
#ifndef RINGLOG_BROKER_DIAG_H
#define RINGLOG_BROKER_DIAG_H

/* The order matters: a level prints when it is at least the minimum. */
enum diag_level { DIAG_LEVEL_DEBUG, DIAG_LEVEL_INFO, DIAG_LEVEL_WARN, DIAG_LEVEL_ERROR };

void diag_set_level(enum diag_level min_level);
int diag_parse_level(const char *text, enum diag_level *out);

/* The calling thread's tag in log lines ("main", "shard-0", ...). */
void diag_set_thread_name(const char *name);

void diag(enum diag_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdbool.h>
#include <stdint.h>

/*
 * At most per_second lines of one kind a second (per limiter, so per shard
 * when the limiter is thread-local): a flood of bad clients cannot flood
 * the log. The first call of a new second logs how many of the last were
 * held back ("N more <what> in the last second were not logged").
 */
struct diag_limit {
    int64_t second;
    uint32_t logged, suppressed;
};
bool diag_limit_pass(struct diag_limit *l, int64_t now_ms, uint32_t per_second, const char *what);

#define DIAG_DEBUG(...) diag(DIAG_LEVEL_DEBUG, __VA_ARGS__)
#define DIAG_INFO(...) diag(DIAG_LEVEL_INFO, __VA_ARGS__)
#define DIAG_WARN(...) diag(DIAG_LEVEL_WARN, __VA_ARGS__)
#define DIAG_ERROR(...) diag(DIAG_LEVEL_ERROR, __VA_ARGS__)

#endif
