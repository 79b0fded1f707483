/*
 * The arithmetic of ringlog-bench's broker modes, kept apart from the
 * threads and sockets so it can be unit-tested: the fixed-rate schedule
 * (each message's intended send time), the latency of a message measured
 * from that intended time, the e2e payload stamp, and the JSON line.
 */
#ifndef RINGLOG_BENCH_LOAD_H
#define RINGLOG_BENCH_LOAD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_mono_ns(void);

/* Sleeps until bench_mono_ns() reaches t, through signals unless *stop (may be NULL) is set. */
void bench_sleep_until_ns(uint64_t t, const volatile sig_atomic_t *stop);

/*
 * The fixed-rate schedule. `rate` messages per second in total are spread
 * over `producers` threads: thread `p` sends its message `seq` at
 * start + (seq * producers + p) / rate seconds, so the merged stream is
 * evenly spaced. rate <= 0 means "as fast as possible": no schedule.
 */
struct bench_schedule {
    uint64_t start_ns;
    double rate;
    int producers;
    int producer; /* this thread's index */
};

/* The intended send time (ns, monotonic) of this thread's message `seq`. */
uint64_t bench_intended_ns(const struct bench_schedule *s, uint64_t seq);

/*
 * Latency of a message that was due at `intended_ns` and completed at
 * `done_ns`: done - intended, never negative. Because the intended time
 * comes from the schedule and not from when the send actually happened, a
 * stall (broker or client) is charged to every message that should have
 * been sent during it: no coordinated omission.
 */
uint64_t bench_latency_ns(uint64_t intended_ns, uint64_t done_ns);

/*
 * When a message's latency clock starts: its intended time when it went out
 * late (a stall is charged to it), the actual send time when it went out
 * early (a paced sender may release a message slightly before its slot;
 * timing it from the slot would flatter the broker).
 */
uint64_t bench_start_ns(uint64_t intended_ns, uint64_t now_ns);

/* e2e payload: the first 16 bytes of each value carry the intended send time and a sequence. */
#define BENCH_STAMP_BYTES 16
void bench_stamp_write(void *value, uint64_t intended_ns, uint64_t seq);
/* false when the value is too short to hold a stamp. */
bool bench_stamp_read(const void *value, size_t len, uint64_t *intended_ns, uint64_t *seq);

/* What a run measured: the contract's fields plus ours. */
struct bench_result {
    const char *mode; /* "produce", "consume", "e2e" */
    uint64_t messages, bytes, errors;
    double seconds;
    const struct hist *latency; /* NULL: no latency (consume) */
    /* Extensions, after the contract's fields. */
    int64_t msg_size;
    int producers, consumers, partitions;
    const char *acks;
    double rate; /* 0: unpaced */
    double warmup;
    double client_cpu_s;
    double broker_cpu_s; /* < 0: not measured */
    uint64_t produced;   /* e2e: acknowledged by the broker */
};

/*
 * Formats the one-line JSON object of the contract:
 *   {"mode":"produce","messages":N,"bytes":N,"seconds":F,"msgs_per_sec":F,"mb_per_sec":F,
 *    "errors":N,"latency_us":{"p50":F,"p90":F,"p99":F,"p999":F,"max":F}}
 * then our additions: "p9999" and "mean" inside latency_us (after "max"),
 * and run parameters and CPU figures after it. No trailing newline.
 * Returns the length snprintf would have written.
 */
int bench_format_json(char *buf, size_t len, const struct bench_result *r);

#endif
