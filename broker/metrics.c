#include "metrics.h"

/* Upper bounds (µs) of the latency buckets; the last is +Inf. */
const int64_t METRICS_BUCKET_US[METRICS_LATENCY_BUCKETS - 1] = {
    25,    50,    100,    250,    500,    1000,    2500,    5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

void metrics_observe(struct latency_hist *h, int64_t micros)
{
    int b = 0;
    while (b < METRICS_LATENCY_BUCKETS - 1 && micros > METRICS_BUCKET_US[b])
        b++;
    metrics_add(&h->buckets[b], 1);
    metrics_add(&h->count, 1);
    metrics_add(&h->sum_us, micros > 0 ? (uint64_t)micros : 0);
}
