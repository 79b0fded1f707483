/* Simulated log and disk: vectors of entries with a prefix hash chain. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void *sim_grow(void *p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return p;
    uint32_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    p = realloc(p, c * size);
    if (p == NULL)
        abort();
    *cap = c;
    return p;
}

void sim_log_free(struct sim_log *log)
{
    free(log->e);
    free(log->runs);
    memset(log, 0, sizeof(*log));
}

void sim_log_copy(struct sim_log *dst, const struct sim_log *src)
{
    dst->head = src->head;
    dst->e = sim_grow(dst->e, &dst->cap, src->n, sizeof(*dst->e));
    if (src->n)
        memcpy(dst->e, src->e, src->n * sizeof(*dst->e));
    dst->n = src->n;
    dst->runs = sim_grow(dst->runs, &dst->capruns, src->nruns, sizeof(*dst->runs));
    if (src->nruns)
        memcpy(dst->runs, src->runs, src->nruns * sizeof(*dst->runs));
    dst->nruns = src->nruns;
}

int64_t sim_log_end(const struct sim_log *log)
{
    return log->n ? log->e[log->n - 1].base + log->e[log->n - 1].count : log->head.start;
}

int64_t sim_log_find(const struct sim_log *log, int64_t offset)
{
    if (log->n == 0 || offset < log->e[0].base || offset >= sim_log_end(log))
        return -1;
    uint32_t lo = 0, hi = log->n;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->e[mid].base <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int64_t sim_log_find_base(const struct sim_log *log, int64_t offset)
{
    int64_t i = sim_log_find(log, offset);
    return i >= 0 && log->e[i].base == offset ? i : -1;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

void sim_log_push(struct sim_log *log, const struct sim_entry *entry)
{
    log->e = sim_grow(log->e, &log->cap, log->n + 1, sizeof(*log->e));
    struct sim_entry *e = &log->e[log->n];
    *e = *entry;
    uint64_t h = log->n ? log->e[log->n - 1].chain : log->head.start ? log->head.chain : 0x1234;
    h = mix(h, (uint64_t)e->base);
    h = mix(h, (uint64_t)e->count);
    h = mix(h, (uint64_t)e->epoch);
    h = mix(h, e->id);
    h = mix(h, (uint64_t)e->kind);
    e->chain = h;
    log->n++;
    if (log->nruns == 0 || log->runs[log->nruns - 1].epoch != e->epoch) {
        log->runs = sim_grow(log->runs, &log->capruns, log->nruns + 1, sizeof(*log->runs));
        log->runs[log->nruns].epoch = e->epoch;
        log->runs[log->nruns].start = e->base;
        log->nruns++;
    }
}

void sim_log_truncate(struct sim_log *log, int64_t offset)
{
    while (log->n > 0 && log->e[log->n - 1].base >= offset)
        log->n--;
    while (log->nruns > 0 && log->runs[log->nruns - 1].start >= offset)
        log->nruns--;
}

uint64_t sim_log_chain_at(const struct sim_log *log, int64_t offset)
{
    if (log->head.start > 0 && offset == log->head.start - 1)
        return log->head.chain;
    int64_t i = sim_log_find(log, offset);
    return i < 0 ? 0 : log->e[i].chain;
}

static void rebuild_runs(struct sim_log *log)
{
    log->nruns = 0;
    for (uint32_t i = 0; i < log->n; i++) {
        if (log->nruns == 0 || log->runs[log->nruns - 1].epoch != log->e[i].epoch) {
            log->runs = sim_grow(log->runs, &log->capruns, log->nruns + 1, sizeof(*log->runs));
            log->runs[log->nruns].epoch = log->e[i].epoch;
            log->runs[log->nruns].start = log->e[i].base;
            log->nruns++;
        }
    }
}

void sim_log_trim_front(struct sim_log *log, int64_t start)
{
    if (start <= log->head.start)
        return;
    uint32_t k = 0;
    while (k < log->n && log->e[k].base < start) {
        if (log->e[k].kind == SIM_CONFIG) {
            log->head.has_config = true;
            log->head.config.offset = log->e[k].base;
            log->head.config.membership = log->e[k].membership;
        }
        k++;
    }
    if (k == 0)
        abort(); /* start must be above the first batch: the caller checks */
    log->head.start = start;
    log->head.epoch = log->e[k - 1].epoch;
    log->head.chain = log->e[k - 1].chain;
    memmove(log->e, log->e + k, (log->n - k) * sizeof(*log->e));
    log->n -= k;
    rebuild_runs(log);
}

void sim_log_reset(struct sim_log *log, const struct sim_log_start *head)
{
    log->head = *head;
    log->n = 0;
    log->nruns = 0;
}

int64_t sim_log_common_prefix(const struct sim_log *a, const struct sim_log *b)
{
    if (a->head.start != b->head.start || a->head.chain != b->head.chain)
        return -1; /* different starts: nothing in common the caller can use */
    /* equal chains at index i <=> equal prefixes through i: monotone */
    uint32_t lo = 0, hi = a->n < b->n ? a->n : b->n; /* answer: count of equal entries */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (a->e[mid - 1].chain == b->e[mid - 1].chain)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo == 0 ? a->head.start : a->e[lo - 1].base + a->e[lo - 1].count;
}

int32_t sim_log_epoch_at(const struct sim_log *log, int64_t offset)
{
    if (log->head.start > 0 && offset == log->head.start - 1)
        return log->head.epoch;
    int64_t i = sim_log_find(log, offset);
    return i < 0 ? 0 : log->e[i].epoch;
}

void sim_disk_free(struct sim_disk *d)
{
    sim_log_free(&d->durable);
    sim_log_free(&d->current);
    free(d->pending);
    memset(d, 0, sizeof(*d));
}

static void push_op(struct sim_disk *d, const struct sim_op *op)
{
    d->pending = sim_grow(d->pending, &d->cappending, d->npending + 1, sizeof(*d->pending));
    d->pending[d->npending++] = *op;
}

void sim_disk_append(struct sim_disk *d, const struct sim_entry *entry)
{
    sim_log_push(&d->current, entry);
    struct sim_op op = {.type = SIM_OP_APPEND, .entry = *entry};
    push_op(d, &op);
}

void sim_disk_truncate(struct sim_disk *d, int64_t offset)
{
    sim_log_truncate(&d->current, offset);
    struct sim_op op = {.type = SIM_OP_TRUNCATE, .offset = offset};
    push_op(d, &op);
}

void sim_disk_reset(struct sim_disk *d, const struct sim_log_start *head)
{
    sim_log_reset(&d->current, head);
    struct sim_op op = {.type = SIM_OP_RESET, .head = *head};
    push_op(d, &op);
}

void sim_disk_trim_front(struct sim_disk *d, int64_t start)
{
    sim_log_trim_front(&d->durable, start);
    sim_log_trim_front(&d->current, start);
}

void sim_log_apply(struct sim_log *log, const struct sim_op *op)
{
    if (op->type == SIM_OP_APPEND)
        sim_log_push(log, &op->entry);
    else if (op->type == SIM_OP_TRUNCATE)
        sim_log_truncate(log, op->offset);
    else
        sim_log_reset(log, &op->head);
}

void sim_disk_sync_done(struct sim_disk *d, uint32_t count)
{
    if (count > d->npending)
        count = d->npending;
    for (uint32_t i = 0; i < count; i++)
        sim_log_apply(&d->durable, &d->pending[i]);
    memmove(d->pending, d->pending + count, (d->npending - count) * sizeof(*d->pending));
    d->npending -= count;
}

int64_t sim_disk_durable_prefix(const struct sim_disk *d)
{
    /* A reset not yet synced: nothing of the new log is durable. */
    int64_t p = sim_log_common_prefix(&d->durable, &d->current);
    return p < 0 ? d->current.head.start : p;
}

void sim_disk_crash(struct sim_disk *d, uint32_t survive, bool tear)
{
    if (survive > d->npending)
        survive = d->npending;
    for (uint32_t i = 0; i < survive; i++)
        sim_log_apply(&d->durable, &d->pending[i]);
    if (tear && survive < d->npending && d->pending[survive].type == SIM_OP_APPEND) {
        /* Half a batch reached the disk; recovery finds a checksum
         * mismatch and cuts the log there. */
        struct sim_entry torn = d->pending[survive].entry;
        torn.kind = SIM_TORN;
        sim_log_push(&d->durable, &torn);
    }
    /* recovery */
    for (uint32_t i = 0; i < d->durable.n; i++) {
        if (d->durable.e[i].kind == SIM_TORN) {
            sim_log_truncate(&d->durable, d->durable.e[i].base);
            break;
        }
    }
    d->npending = 0;
    d->sync_covers = 0;
    sim_log_copy(&d->current, &d->durable);
}
