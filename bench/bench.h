/* The modes of ringlog-bench and the helpers they share. */
#ifndef RINGLOG_BENCH_BENCH_H
#define RINGLOG_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

int bench_log(int argc, char **argv);
int bench_log_recover(int argc, char **argv);
int bench_log_compact(int argc, char **argv);
int bench_disk(int argc, char **argv);
int bench_net(int argc, char **argv);
/* produce | consume | e2e: argv[0] is the mode. */
int bench_broker(int argc, char **argv);
/* utime + stime of a process (all threads) in seconds, from /proc; < 0 when unreadable. */
double bench_proc_cpu_s(int pid);

/* "123", "64K", "1M", "2G" (powers of two). Returns -1 when malformed. */
int64_t bench_parse_size(const char *s);
double bench_now(void);

#endif
