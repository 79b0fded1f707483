/*
 * The broker's log: one line per event on stderr, with a UTC timestamp, a
 * level and the shard that wrote it. Each line goes out in one write(2), so
 * lines of different threads never interleave.
 */
#ifndef RINGLOG_BROKER_LOGGING_H
#define RINGLOG_BROKER_LOGGING_H

#include "log/partition_log.h" /* enum log_level */

void logging_set_level(enum log_level min_level);
int logging_parse_level(const char *text, enum log_level *out);

/* The calling thread's tag in log lines ("main", "shard-0", ...). */
void logging_set_thread_name(const char *name);

void blog(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adapter for the storage engine's log callback. */
void logging_engine_sink(void *ctx, enum log_level level, const char *message);

#define LOG_DEBUG(...) blog(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) blog(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) blog(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) blog(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
