#include "hist.h"

#include <string.h>

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

size_t hist_bucket(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (size_t)ns;
    if (ns >= (1ull << HIST_MAX_BITS))
        return HIST_BUCKETS - 1;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns); /* >= HIST_SUB_BITS */
    unsigned shift = msb - HIST_SUB_BITS;
    return (size_t)(shift + 1) * HIST_SUB + (size_t)((ns >> shift) - HIST_SUB);
}

uint64_t hist_bucket_low(size_t idx)
{
    if (idx < HIST_SUB)
        return idx;
    unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
    return (uint64_t)(HIST_SUB + idx % HIST_SUB) << shift;
}

uint64_t hist_bucket_high(size_t idx)
{
    if (idx < HIST_SUB)
        return idx + 1;
    unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
    return hist_bucket_low(idx) + (1ull << shift);
}

void hist_record(struct hist *h, uint64_t ns)
{
    hist_record_n(h, ns, 1);
}

void hist_record_n(struct hist *h, uint64_t ns, uint64_t n)
{
    if (n == 0)
        return;
    size_t i = hist_bucket(ns);
    STORE(h->b[i], LOAD(h->b[i]) + n);
    STORE(h->sum, LOAD(h->sum) + ns * n);
    if (ns < LOAD(h->min))
        STORE(h->min, ns);
    if (ns > LOAD(h->max))
        STORE(h->max, ns);
    STORE(h->count, LOAD(h->count) + n); /* last: a reader never sees more count than buckets */
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    uint64_t n = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        uint64_t v = LOAD(src->b[i]);
        dst->b[i] += v;
        n += v;
    }
    dst->count += n; /* the buckets, not src->count: consistent with what was copied */
    dst->sum += LOAD(src->sum);
    uint64_t mn = LOAD(src->min), mx = LOAD(src->max);
    if (n && mn < dst->min)
        dst->min = mn;
    if (n && mx > dst->max)
        dst->max = mx;
}

void hist_snapshot(struct hist *dst, const struct hist *src)
{
    hist_init(dst);
    hist_merge(dst, src);
}

void hist_subtract(struct hist *dst, const struct hist *older)
{
    uint64_t n = 0;
    size_t lo = HIST_BUCKETS, hi = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        dst->b[i] = dst->b[i] >= older->b[i] ? dst->b[i] - older->b[i] : 0;
        if (dst->b[i]) {
            n += dst->b[i];
            if (lo == HIST_BUCKETS)
                lo = i;
            hi = i;
        }
    }
    dst->count = n;
    dst->sum = dst->sum >= older->sum ? dst->sum - older->sum : 0;
    if (n == 0) {
        dst->min = UINT64_MAX;
        dst->max = 0;
        return;
    }
    /* Bounds of the interval's own buckets, within the overall min/max. */
    uint64_t l = hist_bucket_low(lo), h = hist_bucket_high(hi) - 1;
    if (l > dst->min)
        dst->min = l;
    if (h < dst->max)
        dst->max = h;
}

double hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1)
        return (double)h->max;
    if (q < 0)
        q = 0;
    /* The smallest value v such that at least q of the values are <= v. */
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            double lo = (double)hist_bucket_low(i), hi = (double)hist_bucket_high(i);
            double v = i < HIST_SUB ? lo : (lo + hi) / 2;
            if (v < (double)h->min)
                v = (double)h->min;
            if (v > (double)h->max)
                v = (double)h->max;
            return v;
        }
    }
    return (double)h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0;
}
