/*
 * The leader-epoch table of a partition's log: runs of (epoch, first
 * offset), like Kafka's leader-epoch checkpoint, which the replication core
 * restores from (replica_group_restore.epochs). Every append notes the
 * epochs of its batches when its group retires; truncation, retention and
 * reset cut the table with the log; the checkpoint keeps it (checkpoint.c)
 * and recovery extends it with the batches it scans after the checkpoint.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "log_internal.h"

/* Batches from `offset` on carry `epoch`: a new run unless the last one has it. */
void epochs_note(struct partition_log *log, int32_t epoch, int64_t offset)
{
    if (log->nepochs > 0 && log->epochs[log->nepochs - 1].epoch == epoch)
        return;
    assert(log->nepochs == 0 || log->epochs[log->nepochs - 1].start < offset);
    if (log->nepochs == log->epochs_cap) {
        uint32_t cap = log->epochs_cap ? log->epochs_cap * 2 : 4;
        struct log_epoch_run *runs = realloc(log->epochs, cap * sizeof(*runs));
        if (runs == NULL) {
            /* Only the checkpoint's copy suffers (recovery rebuilds past it); say so. */
            log_msg(log, LOG_LEVEL_WARN, "epoch %d at offset %lld not recorded: out of memory",
                    (int)epoch, (long long)offset);
            return;
        }
        log->epochs = runs;
        log->epochs_cap = cap;
    }
    log->epochs[log->nepochs++] = (struct log_epoch_run){.epoch = epoch, .start = offset};
}

/*
 * Notes `epoch` for a batch at `base` that follows a log ending at `end`.
 * A batch past the end follows a compacted gap (docs/STORAGE.md,
 * "Compaction"). Every leader epoch starts with its marker, a control batch
 * compaction keeps, so a data batch of a new epoch after a gap only comes
 * after a reset inside that epoch's run: the run covers the gap, as on the
 * leader, and starts at `end`.
 */
void epochs_note_batch(struct partition_log *log, const struct rl_batch_header *h, int64_t end)
{
    assert(h->base_offset >= end);
    bool same = log->nepochs > 0 ? log->epochs[log->nepochs - 1].epoch == h->leader_epoch
                                 : log->start_epoch == h->leader_epoch;
    bool gap = h->base_offset > end && !rl_batch_is_control(h) && !same;
    epochs_note(log, h->leader_epoch, gap ? end : h->base_offset);
}

/*
 * The epochs of a retired append's batches (stamped, or carried by
 * exact-offset ones, which may follow gaps: `end` is where the log ended
 * before a), and its configuration batches (configs.c; only a control
 * append may hold those, append.c checks).
 */
void epochs_note_append(struct partition_log *log, const struct log_append *a, int64_t end)
{
    bool exact = (a->flags & LOG_APPEND_EXACT_OFFSETS) != 0;
    assert(a->base_offset >= end);
    if (!exact)
        epochs_note(log, a->leader_epoch, a->base_offset);
    if (!exact && (a->flags & LOG_APPEND_CONTROL) == 0)
        return;
    int64_t next = a->base_offset; /* where a stamped batch starts */
    size_t p = 0;
    while (p < a->len) {
        struct rl_batch_header h;
        int rc = rl_batch_header_read(a->data + p, a->len - p, &h);
        assert(rc == RL_OK);
        (void)rc;
        if (!exact)
            h.base_offset = next;
        else
            epochs_note_batch(log, &h, end);
        if (a->flags & LOG_APPEND_CONTROL)
            configs_note_batch(log, a->data + p, &h);
        next = end = rl_batch_last_offset(&h) + 1;
        p += rl_batch_total_bytes(&h);
    }
    assert(p == a->len);
}

/* The log now ends at `end`: runs starting there or later go. */
void epochs_truncate(struct partition_log *log, int64_t end)
{
    while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start >= end)
        log->nepochs--;
}

/* The log now starts at `start` (retention): runs wholly below it go. */
void epochs_advance_start(struct partition_log *log, int64_t start)
{
    uint32_t drop = 0;
    while (drop < log->nepochs && log->epochs[drop].start < start) {
        log->start_epoch = log->epochs[drop].epoch; /* covers start - 1, so far */
        if (drop + 1 < log->nepochs && log->epochs[drop + 1].start <= start) {
            drop++;
            continue;
        }
        break;
    }
    if (drop > 0) {
        memmove(log->epochs, log->epochs + drop, (log->nepochs - drop) * sizeof(*log->epochs));
        log->nepochs -= drop;
    }
    if (log->nepochs > 0 && log->epochs[0].start < start)
        log->epochs[0].start = start;
}

/* The log restarts empty at an offset whose previous entry had start_epoch. */
void epochs_reset(struct partition_log *log, int32_t start_epoch)
{
    log->nepochs = 0;
    log->start_epoch = start_epoch;
}

uint32_t partition_log_epochs(const struct partition_log *log, const struct log_epoch_run **runs,
                              int32_t *start_epoch)
{
    *runs = log->epochs;
    *start_epoch = log->start_epoch;
    return log->nepochs;
}
