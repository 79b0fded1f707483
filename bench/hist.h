/*
 * A log-linear latency histogram (HDR style): values in nanoseconds, exact
 * below 128 ns, then 128 linear sub-buckets per power of two, so a bucket is
 * never wider than 1/128 of its lower bound and the reported value (the
 * bucket's midpoint, clamped to the observed min and max) is within 0.4 % of
 * any value recorded in it, from 1 ns to 2^40 ns (~18 minutes). Larger
 * values land in the top bucket; max is kept exactly.
 *
 * One writer per histogram (a thread's own); readers may take snapshots
 * concurrently (counters are relaxed atomics), merge them and subtract an
 * older snapshot to get the histogram of an interval.
 */
#ifndef RINGLOG_BENCH_HIST_H
#define RINGLOG_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS) /* 128 */
#define HIST_MAX_BITS 40               /* values up to 2^40 ns */
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t sum; /* ns, for the mean */
    uint64_t min, max;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
/* Records one value (ns). Single writer. */
void hist_record(struct hist *h, uint64_t ns);
/* Records the same value n times (a run of messages timed together). Single writer. */
void hist_record_n(struct hist *h, uint64_t ns, uint64_t n);
/* dst += src (src read with relaxed atomics: may be live). */
void hist_merge(struct hist *dst, const struct hist *src);
/* dst = a snapshot of src (a live histogram). */
void hist_snapshot(struct hist *dst, const struct hist *src);
/* dst -= older (older is an earlier snapshot of the same histogram); min/max become approximate. */
void hist_subtract(struct hist *dst, const struct hist *older);
/* The value (ns) at quantile q in [0,1]: 0 when empty; q >= 1 is the max. */
double hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

/* Bucket mapping, exposed for tests. */
size_t hist_bucket(uint64_t ns);
uint64_t hist_bucket_low(size_t idx);
uint64_t hist_bucket_high(size_t idx); /* exclusive */

#endif
