/*
 * The known-bad batches of a partition: batches whose header is sane but
 * whose checksum fails on this disk (a flipped bit), found by recovery of a
 * replicated log (keep_corrupt) or by a verifying read. Readers never get
 * their bytes; a repair overwrites them in place with a replica's copy
 * (partition_log_overwrite). In memory only: after a restart, recovery or
 * the replication driver's scrub finds them again.
 */
#include <stdlib.h>
#include <string.h>

#include "log_internal.h"

bool bad_note(struct partition_log *log, const struct log_bad_batch *b)
{
    assert(b->last_offset >= b->base_offset && b->len > 0);
    if (bad_find(log, b->base_offset) != NULL)
        return true;
    if (log->nbad >= LOG_MAX_BAD_BATCHES)
        return false;
    if (log->nbad == log->bad_cap) {
        uint32_t cap = log->bad_cap ? log->bad_cap * 2 : 4;
        struct log_bad_batch *v = realloc(log->bad, cap * sizeof(*v));
        if (v == NULL)
            return false;
        log->bad = v;
        log->bad_cap = cap;
    }
    uint32_t i = log->nbad;
    while (i > 0 && log->bad[i - 1].base_offset > b->base_offset) {
        log->bad[i] = log->bad[i - 1];
        i--;
    }
    log->bad[i] = *b;
    log->nbad++;
    atomic_fetch_add_explicit(&log->engine->bad.found, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&log->engine->bad.outstanding, 1, memory_order_relaxed);
    assert(log->nbad <= log->bad_cap);
    return true;
}

const struct log_bad_batch *bad_at(const struct partition_log *log, int64_t seg_base, uint64_t pos)
{
    for (uint32_t i = 0; i < log->nbad; i++)
        if (log->bad[i].seg_base == seg_base && log->bad[i].pos == pos)
            return &log->bad[i];
    return NULL;
}

const struct log_bad_batch *bad_find(const struct partition_log *log, int64_t base_offset)
{
    for (uint32_t i = 0; i < log->nbad; i++)
        if (log->bad[i].base_offset == base_offset)
            return &log->bad[i];
    return NULL;
}

/* Keeps the entries whose base offset is in [lo, hi), in order. */
static void bad_filter(struct partition_log *log, int64_t lo, int64_t hi)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < log->nbad; i++)
        if (log->bad[i].base_offset >= lo && log->bad[i].base_offset < hi)
            log->bad[n++] = log->bad[i];
    assert(n <= log->nbad);
    atomic_fetch_sub_explicit(&log->engine->bad.outstanding, log->nbad - n, memory_order_relaxed);
    log->nbad = n;
}

void bad_forget(struct partition_log *log, int64_t base_offset)
{
    const struct log_bad_batch *b = bad_find(log, base_offset);
    if (b == NULL)
        return;
    uint32_t i = (uint32_t)(b - log->bad);
    assert(i < log->nbad);
    memmove(&log->bad[i], &log->bad[i + 1], (log->nbad - i - 1) * sizeof(log->bad[0]));
    log->nbad--;
    atomic_fetch_sub_explicit(&log->engine->bad.outstanding, 1, memory_order_relaxed);
}

void bad_truncate(struct partition_log *log, int64_t end)
{
    bad_filter(log, INT64_MIN, end);
}

void bad_advance_start(struct partition_log *log, int64_t start)
{
    bad_filter(log, start, INT64_MAX);
}

void bad_free(struct partition_log *log)
{
    atomic_fetch_sub_explicit(&log->engine->bad.outstanding, log->nbad, memory_order_relaxed);
    free(log->bad);
    log->bad = NULL;
    log->nbad = log->bad_cap = 0;
}

uint32_t partition_log_bad_batches(const struct partition_log *log,
                                   const struct log_bad_batch **out)
{
    assert(out != NULL);
    *out = log->bad;
    return log->nbad;
}
