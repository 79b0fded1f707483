/*
 * The epoch table: for each leader epoch that has entries in the log, the
 * offset of its first entry (Kafka's leader-epoch checkpoint). Epochs only
 * grow along the log, so the table is sorted on both columns and the epoch
 * of any offset is a binary search away. It is all the core knows of the
 * log's contents, and all log matching needs: two logs that have the same
 * epoch at an offset hold the same entries up to it.
 */
#include "rg_internal.h"

void rg_epoch_table_init(struct rg_epoch_table *t, struct rg_epoch_run *storage, uint32_t capacity)
{
    t->runs = storage;
    t->count = 0;
    t->capacity = capacity;
}

uint32_t rg_epoch_table_run_index(const struct rg_epoch_table *t, int64_t offset)
{
    RG_ASSERT(t->count > 0 && offset >= t->runs[0].start);
    /* Last run with start <= offset. */
    uint32_t lo = 0, hi = t->count;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->runs[mid].start <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The caller bounds offset by log_end; here only the lower edge matters. */
int32_t rg_epoch_table_epoch_at(const struct rg_epoch_table *t, int64_t offset)
{
    if (offset < 0 || t->count == 0 || offset < t->runs[0].start)
        return 0;
    return t->runs[rg_epoch_table_run_index(t, offset)].epoch;
}

int32_t rg_epoch_table_last_epoch(const struct rg_epoch_table *t)
{
    return t->count == 0 ? 0 : t->runs[t->count - 1].epoch;
}

int rg_epoch_table_append(struct rg_epoch_table *t, int32_t epoch, int64_t start)
{
    RG_ASSERT(epoch > 0 && start >= 0);
    if (t->count > 0) {
        const struct rg_epoch_run *last = &t->runs[t->count - 1];
        RG_ASSERT(epoch >= last->epoch);
        if (epoch == last->epoch)
            return RG_OK;
        RG_ASSERT(start > last->start);
    }
    if (t->count == t->capacity)
        return RG_ERR_EPOCH_TABLE_FULL;
    t->runs[t->count].epoch = epoch;
    t->runs[t->count].start = start;
    t->count++;
    return RG_OK;
}

void rg_epoch_table_truncate(struct rg_epoch_table *t, int64_t end)
{
    while (t->count > 0 && t->runs[t->count - 1].start >= end)
        t->count--;
}

uint32_t rg_epoch_table_first_above(const struct rg_epoch_table *t, int32_t epoch)
{
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->runs[mid].epoch <= epoch)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int64_t rg_epoch_table_end_of(const struct rg_epoch_table *t, int32_t epoch, int64_t log_end,
                              int32_t *found_epoch)
{
    uint32_t above = rg_epoch_table_first_above(t, epoch);
    if (above == 0) {
        *found_epoch = 0;
        return t->count == 0 ? log_end : t->runs[0].start;
    }
    *found_epoch = t->runs[above - 1].epoch;
    return above == t->count ? log_end : t->runs[above].start;
}
