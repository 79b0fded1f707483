/* ringlog-bench arithmetic: histogram accuracy and merging, the schedule, the JSON line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "load.h"

static struct hist H, H2, H3;

/* Deterministic xorshift, for spread-out values. */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

Test(hist, buckets_are_contiguous_and_narrow)
{
    for (size_t i = 0; i + 1 < HIST_BUCKETS; i++) {
        cr_assert_eq(hist_bucket_high(i), hist_bucket_low(i + 1), "gap after bucket %zu", i);
        uint64_t lo = hist_bucket_low(i), w = hist_bucket_high(i) - lo;
        if (lo >= 1000) /* from 1 us up: width <= 1/128 of the value */
            cr_assert_leq((double)w / (double)lo, 1.0 / 128 + 1e-12);
        cr_assert_eq(hist_bucket(lo), i);
        cr_assert_eq(hist_bucket(hist_bucket_high(i) - 1), i);
    }
}

/* Any single value from 1 us to 60 s reads back within 1 %. */
Test(hist, single_values_within_one_percent)
{
    for (double v = 1000; v <= 60e9; v *= 1.0137) {
        hist_init(&H);
        hist_record(&H, (uint64_t)v);
        hist_record(&H, (uint64_t)v); /* min == max would make it exact: add a neighbour */
        hist_record(&H, 1);
        hist_record(&H, 200e9);
        double got = hist_quantile(&H, 0.5);
        cr_assert_leq(fabs(got - v) / v, 0.01, "value %.0f read back as %.0f", v, got);
    }
}

/* Recording a value n times at once is the same as n single records. */
Test(hist, record_n_equals_n_records)
{
    hist_init(&H);
    hist_init(&H2);
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t v = 1000 + rnd() % 5000000, n = rnd() % 5;
        hist_record_n(&H, v, n);
        for (uint64_t k = 0; k < n; k++)
            hist_record(&H2, v);
    }
    cr_assert_eq(H.count, H2.count);
    cr_assert_eq(H.sum, H2.sum);
    cr_assert_eq(H.min, H2.min);
    cr_assert_eq(H.max, H2.max);
    cr_assert_eq(memcmp(H.b, H2.b, sizeof(H.b)), 0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentiles of a log-uniform sample over 1 us .. 60 s match the exact ones within 1 %. */
Test(hist, percentiles_match_exact_within_one_percent)
{
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof(*v));
    hist_init(&H);
    for (int i = 0; i < N; i++) {
        double u = (double)(rnd() >> 11) / 9007199254740992.0;
        v[i] = (uint64_t)(1000.0 * pow(60e9 / 1000.0, u));
        hist_record(&H, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    const double qs[] = {0.0, 0.5, 0.9, 0.99, 0.999, 0.9999};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        size_t rank = (size_t)ceil(qs[i] * N);
        double exact = (double)v[rank ? rank - 1 : 0];
        double got = hist_quantile(&H, qs[i]);
        cr_assert_leq(fabs(got - exact) / exact, 0.01, "q %.4f: exact %.0f got %.0f", qs[i], exact,
                      got);
    }
    cr_assert_eq(hist_quantile(&H, 1), (double)v[N - 1], "max is exact");
    cr_assert_eq(H.count, N);
    free(v);
}

Test(hist, merge_equals_recording_into_one)
{
    hist_init(&H);
    hist_init(&H2);
    hist_init(&H3);
    for (int i = 0; i < 100000; i++) {
        uint64_t x = 1000 + rnd() % 5000000;
        hist_record(&H3, x);
        hist_record(i % 3 ? &H : &H2, x);
    }
    struct hist *m = calloc(1, sizeof(*m));
    hist_init(m);
    hist_merge(m, &H);
    hist_merge(m, &H2);
    cr_assert_eq(m->count, H3.count);
    cr_assert_eq(m->min, H3.min);
    cr_assert_eq(m->max, H3.max);
    cr_assert_eq(m->sum, H3.sum);
    cr_assert_eq(memcmp(m->b, H3.b, sizeof(m->b)), 0);
    for (double q = 0.01; q < 1; q += 0.01)
        cr_assert_eq(hist_quantile(m, q), hist_quantile(&H3, q));
    free(m);
}

Test(hist, interval_by_subtracting_snapshots)
{
    hist_init(&H);
    for (int i = 0; i < 1000; i++)
        hist_record(&H, 10000); /* 10 us */
    struct hist *old = calloc(1, sizeof(*old)), *now = calloc(1, sizeof(*now));
    hist_snapshot(old, &H);
    for (int i = 0; i < 1000; i++)
        hist_record(&H, 5000000); /* 5 ms */
    hist_snapshot(now, &H);
    hist_subtract(now, old);
    cr_assert_eq(now->count, 1000);
    cr_assert_leq(fabs(hist_quantile(now, 0.5) - 5e6) / 5e6, 0.01);
    cr_assert_leq(fabs(hist_quantile(now, 0.0) - 5e6) / 5e6, 0.01);
    free(old);
    free(now);
}

Test(hist, empty_and_extremes)
{
    hist_init(&H);
    cr_assert_eq(hist_quantile(&H, 0.99), 0);
    hist_record(&H, 0);
    hist_record(&H, UINT64_MAX / 2); /* past the top: clamped bucket, exact max */
    cr_assert_eq(hist_quantile(&H, 0.5), 0);
    cr_assert_eq(hist_quantile(&H, 1), (double)(UINT64_MAX / 2));
}

/* --------------------------------------------------------------- schedule */

Test(schedule, evenly_spaced_across_producers)
{
    /* 4 producers at 1000 msgs/s in total: one message every ms overall. */
    uint64_t times[4000];
    size_t n = 0;
    for (int p = 0; p < 4; p++) {
        struct bench_schedule s = {
            .start_ns = 1000000000ull, .rate = 1000, .producers = 4, .producer = p};
        for (uint64_t seq = 0; seq < 1000; seq++)
            times[n++] = bench_intended_ns(&s, seq);
    }
    qsort(times, n, sizeof(times[0]), cmp_u64);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(times[i], 1000000000ull + i * 1000000ull, "slot %zu at %llu", i,
                     (unsigned long long)times[i]);
}

Test(schedule, no_drift_over_long_runs)
{
    /* 2M msgs/s for an hour: the 7.2e9th message is due exactly at 3600 s. */
    struct bench_schedule s = {.start_ns = 5, .rate = 2e6, .producers = 1, .producer = 0};
    cr_assert_eq(bench_intended_ns(&s, 7200000000ull), 5 + 3600000000000ull);
    struct bench_schedule r = {.start_ns = 0, .rate = 3, .producers = 1, .producer = 0};
    cr_assert_eq(bench_intended_ns(&r, 3), 1000000000ull);
    cr_assert_eq(bench_intended_ns(&r, 1), 333333333ull);
}

/*
 * Coordinated omission: a broker that stalls for 100 ms while the client
 * should send one message per ms. A client that measures from the actual
 * send (after the stall) sees one slow message; measured from the intended
 * time, the 100 messages due during the stall each carry their wait.
 */
Test(schedule, stall_is_charged_to_every_delayed_message)
{
    struct bench_schedule s = {.start_ns = 0, .rate = 1000, .producers = 1, .producer = 0};
    hist_init(&H);
    uint64_t clock = 0;
    for (uint64_t seq = 0; seq < 1000; seq++) {
        uint64_t intended = bench_intended_ns(&s, seq);
        if (clock < intended)
            clock = intended;                                    /* the client waits for its slot */
        uint64_t service = seq == 100 ? 100000000ull : 50000ull; /* 100 ms stall once */
        clock += service;                                        /* blocking send + ack */
        hist_record(&H, bench_latency_ns(intended, clock));
    }
    /*
     * The ~105 messages due during the stall wait 100, 99, 98 ... 0 ms: p95
     * is ~48 ms and p90 over 1 ms. Measured from the actual send they would
     * all read 50 us, and only the stalled message would show.
     */
    cr_assert_gt(hist_quantile(&H, 0.95), 40e6, "p95 %.0f", hist_quantile(&H, 0.95));
    cr_assert_gt(hist_quantile(&H, 0.9), 1e6, "p90 %.0f", hist_quantile(&H, 0.9));
    cr_assert_lt(hist_quantile(&H, 0.5), 1e6);
    cr_assert_leq(fabs(hist_quantile(&H, 1) - 100.05e6) / 100.05e6, 0.01);
    cr_assert_eq(bench_latency_ns(10, 5), 0, "never negative");
}

Test(schedule, latency_clock_starts_at_the_earlier_of_slot_and_send)
{
    cr_assert_eq(bench_start_ns(1000, 1500), 1000, "late: from the slot");
    cr_assert_eq(bench_start_ns(1000, 900), 900, "early: from the real send");
    cr_assert_eq(bench_start_ns(1000, 1000), 1000);
}

Test(schedule, unpaced_is_immediate)
{
    struct bench_schedule s = {.start_ns = 42, .rate = 0, .producers = 3, .producer = 2};
    cr_assert_eq(bench_intended_ns(&s, 12345), 42);
}

Test(stamp, round_trip)
{
    char v[32];
    uint64_t t, q;
    bench_stamp_write(v, 123456789012345ull, 77);
    cr_assert(bench_stamp_read(v, sizeof(v), &t, &q));
    cr_assert_eq(t, 123456789012345ull);
    cr_assert_eq(q, 77);
    cr_assert_not(bench_stamp_read(v, 15, &t, &q));
}

/* --------------------------------------------------------------- JSON */

Test(json, contract_line)
{
    hist_init(&H);
    for (int i = 1; i <= 100; i++)
        hist_record(&H, (uint64_t)i * 1000); /* 1..100 us */
    struct bench_result r = {.mode = "produce",
                             .messages = 1000,
                             .bytes = 100000,
                             .errors = 2,
                             .seconds = 0.5,
                             .latency = &H,
                             .msg_size = 100,
                             .producers = 1,
                             .partitions = 8,
                             .acks = "1",
                             .client_cpu_s = 0.25,
                             .broker_cpu_s = -1};
    char line[2048];
    int n = bench_format_json(line, sizeof(line), &r);
    cr_assert_eq((size_t)n, strlen(line));
    char want[512];
    snprintf(want, sizeof(want),
             "{\"mode\":\"produce\",\"messages\":1000,\"bytes\":100000,\"seconds\":0.500,"
             "\"msgs_per_sec\":2000.0,\"mb_per_sec\":0.20,\"errors\":2,\"latency_us\":{"
             "\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":100.0,",
             hist_quantile(&H, 0.5) / 1e3, hist_quantile(&H, 0.9) / 1e3,
             hist_quantile(&H, 0.99) / 1e3, hist_quantile(&H, 0.999) / 1e3);
    cr_assert_leq(fabs(hist_quantile(&H, 0.99) - 99000) / 99000, 0.01);
    cr_assert_eq(strncmp(line, want, strlen(want)), 0, "got %s", line);
    cr_assert_eq(line[n - 1], '}');
    cr_assert_null(strchr(line, '\n'));
    cr_assert_not_null(strstr(line, "\"client_cpu_s_per_mmsg\":250.000"));
    cr_assert_null(strstr(line, "broker_cpu"), "absent when not measured");
    int depth = 0;
    for (const char *p = line; *p; p++)
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
    cr_assert_eq(depth, 0);
}

Test(json, consume_has_no_latency)
{
    struct bench_result r = {
        .mode = "consume", .messages = 10, .bytes = 10, .seconds = 1, .broker_cpu_s = 1.5};
    char line[1024];
    bench_format_json(line, sizeof(line), &r);
    cr_assert_null(strstr(line, "latency_us"));
    cr_assert_not_null(strstr(line, "\"broker_cpu_s\":1.500"));
    /* Truncation is safe. */
    char tiny[16];
    int n = bench_format_json(tiny, sizeof(tiny), &r);
    cr_assert_gt(n, 16);
    cr_assert_eq(strlen(tiny), 15);
}
