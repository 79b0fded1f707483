/*
 * The epoch table: for each leader epoch that has entries in the log, the
 * offset of its first entry (Kafka's leader-epoch checkpoint). Epochs only
 * grow along the log, so the table is sorted on both columns and the epoch
 * of any offset is a binary search away. It is all the core knows of the
 * log's contents, and all log matching needs: two logs that have the same
 * epoch at an offset hold the same entries up to it.
 *
 * The log starts at `start` (retention deletes old segments; a follower
 * too far behind restarts at its leader's log start). The first run is
 * clamped to start, and the table remembers start_epoch, the epoch of the
 * deleted entry at start - 1: an APPEND from the log start still needs it
 * as its prev_epoch, and a log with no entries left still has a last epoch
 * to compare in votes.
 */
#include "rg_internal.h"

void rg_epoch_table_init(struct rg_epoch_table *t, struct rg_epoch_run *storage, uint32_t capacity,
                         rg_assert_handler handler, void *ctx)
{
    t->assert_handler = handler;
    t->assert_ctx = ctx;
    t->runs = storage;
    t->count = 0;
    t->capacity = capacity;
    t->start = 0;
    t->start_epoch = 0;
}

uint32_t rg_epoch_table_run_index(const struct rg_epoch_table *t, int64_t offset)
{
    RG_ASSERT_T(t, t->count > 0 && offset >= t->runs[0].start);
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

/* The caller bounds offset by log_end; here only the lower edge matters.
 * Below start - 1 the epoch is unknown (0): callers never ask there. */
int32_t rg_epoch_table_epoch_at(const struct rg_epoch_table *t, int64_t offset)
{
    if (offset == t->start - 1)
        return t->start_epoch;
    if (offset < 0 || t->count == 0 || offset < t->runs[0].start)
        return 0;
    return t->runs[rg_epoch_table_run_index(t, offset)].epoch;
}

int32_t rg_epoch_table_last_epoch(const struct rg_epoch_table *t)
{
    return t->count == 0 ? t->start_epoch : t->runs[t->count - 1].epoch;
}

int rg_epoch_table_append(struct rg_epoch_table *t, int32_t epoch, int64_t start)
{
    RG_ASSERT_T(t, epoch > 0 && start >= t->start && epoch >= t->start_epoch);
    if (t->count > 0) {
        const struct rg_epoch_run *last = &t->runs[t->count - 1];
        RG_ASSERT_T(t, epoch >= last->epoch);
        if (epoch == last->epoch)
            return RG_OK;
        RG_ASSERT_T(t, start > last->start);
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
    RG_ASSERT_T(t, end >= t->start);
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
    if (above == 0 && t->start > 0 && t->start_epoch <= epoch) {
        /* The deleted entries before start end with start_epoch. */
        *found_epoch = t->start_epoch;
        return t->start;
    }
    if (above == 0) {
        *found_epoch = 0;
        return t->count == 0 ? log_end : t->runs[0].start;
    }
    *found_epoch = t->runs[above - 1].epoch;
    return above == t->count ? log_end : t->runs[above].start;
}

void rg_epoch_table_trim_front(struct rg_epoch_table *t, int64_t start, int64_t log_end)
{
    RG_ASSERT_T(t, start >= t->start && start <= log_end);
    if (start == t->start)
        return;
    t->start_epoch = rg_epoch_table_epoch_at(t, start - 1);
    RG_ASSERT_T(t, t->start_epoch > 0);
    /* Runs that end at or before start go; the one covering start is
     * clamped to it (none is left when the whole log is gone). */
    uint32_t drop = 0;
    while (drop < t->count &&
           (drop + 1 < t->count ? t->runs[drop + 1].start <= start : log_end <= start))
        drop++;
    for (uint32_t i = drop; i < t->count; i++)
        t->runs[i - drop] = t->runs[i];
    t->count -= drop;
    if (t->count > 0 && t->runs[0].start < start)
        t->runs[0].start = start;
    t->start = start;
}

void rg_epoch_table_reset(struct rg_epoch_table *t, int64_t start, int32_t start_epoch)
{
    RG_ASSERT_T(t, start >= 0 && start_epoch >= 0 && (start == 0) == (start_epoch == 0));
    t->count = 0;
    t->start = start;
    t->start_epoch = start_epoch;
}
