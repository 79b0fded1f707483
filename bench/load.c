#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_sleep_until_ns(uint64_t t, const volatile sig_atomic_t *stop)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
                          .tv_nsec = (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
           !(stop && *stop)) {
    }
}

uint64_t bench_intended_ns(const struct bench_schedule *s, uint64_t seq)
{
    if (s->rate <= 0)
        return s->start_ns;
    int n = s->producers > 0 ? s->producers : 1;
    /* In long double: seq * n can be large and 1e9 / rate fractional. */
    long double slot = (long double)seq * n + s->producer;
    return s->start_ns + (uint64_t)(slot * 1e9L / (long double)s->rate);
}

uint64_t bench_latency_ns(uint64_t intended_ns, uint64_t done_ns)
{
    return done_ns > intended_ns ? done_ns - intended_ns : 0;
}

uint64_t bench_start_ns(uint64_t intended_ns, uint64_t now_ns)
{
    return now_ns < intended_ns ? now_ns : intended_ns;
}

void bench_stamp_write(void *value, uint64_t intended_ns, uint64_t seq)
{
    memcpy(value, &intended_ns, 8);
    memcpy((char *)value + 8, &seq, 8);
}

bool bench_stamp_read(const void *value, size_t len, uint64_t *intended_ns, uint64_t *seq)
{
    if (!value || len < BENCH_STAMP_BYTES)
        return false;
    memcpy(intended_ns, value, 8);
    memcpy(seq, (const char *)value + 8, 8);
    return true;
}

int bench_format_json(char *buf, size_t len, const struct bench_result *r)
{
    double secs = r->seconds > 0 ? r->seconds : 0;
    double mps = secs > 0 ? (double)r->messages / secs : 0;
    double mbps = secs > 0 ? (double)r->bytes / 1e6 / secs : 0;
    size_t off = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(buf + (off < len ? off : len), off < len ? len - off : 0, __VA_ARGS__);  \
        if (n_ > 0)                                                                                \
            off += (size_t)n_;                                                                     \
    } while (0)
    PUT("{\"mode\":\"%s\",\"messages\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
        "\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.2f,\"errors\":%llu",
        r->mode, (unsigned long long)r->messages, (unsigned long long)r->bytes, secs, mps, mbps,
        (unsigned long long)r->errors);
    if (r->latency) {
        const struct hist *h = r->latency;
        PUT(",\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,"
            "\"p9999\":%.1f,\"mean\":%.1f}",
            hist_quantile(h, 0.5) / 1e3, hist_quantile(h, 0.9) / 1e3, hist_quantile(h, 0.99) / 1e3,
            hist_quantile(h, 0.999) / 1e3, hist_quantile(h, 1) / 1e3,
            hist_quantile(h, 0.9999) / 1e3, hist_mean(h) / 1e3);
    }
    PUT(",\"msg_size\":%lld,\"producers\":%d,\"consumers\":%d,\"partitions\":%d,\"acks\":\"%s\","
        "\"rate\":%.0f,\"warmup\":%.1f",
        (long long)r->msg_size, r->producers, r->consumers, r->partitions,
        r->acks ? r->acks : "all", r->rate, r->warmup);
    if (strcmp(r->mode, "e2e") == 0)
        PUT(",\"produced\":%llu", (unsigned long long)r->produced);
    double per_m = r->messages ? 1e6 / (double)r->messages : 0;
    PUT(",\"client_cpu_s\":%.3f,\"client_cpu_s_per_mmsg\":%.3f", r->client_cpu_s,
        r->client_cpu_s * per_m);
    if (r->broker_cpu_s >= 0)
        PUT(",\"broker_cpu_s\":%.3f,\"broker_cpu_s_per_mmsg\":%.3f", r->broker_cpu_s,
            r->broker_cpu_s * per_m);
    PUT("}");
#undef PUT
    return (int)off;
}
