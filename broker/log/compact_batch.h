/*
 * Rewriting one record batch for compaction: keep the records a predicate
 * wants, and rebuild the batch around them with its original base offset,
 * leader epoch, attributes (codec), first and max timestamps and producer
 * fields, so every kept record keeps its offset and timestamp. The records
 * themselves are copied byte for byte (their offset and timestamp deltas
 * are relative to the unchanged base); only the header's length,
 * last_offset_delta, record_count and checksum change, and a compressed
 * batch is compressed again with its codec. Pure: no I/O.
 */
#ifndef RINGLOG_BROKER_LOG_COMPACT_BATCH_H
#define RINGLOG_BROKER_LOG_COMPACT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

/* Keep the record at `offset`? */
typedef bool (*compact_keep_fn)(void *ctx, const struct rl_record *r, int64_t offset);

/* Buffers reused from batch to batch (bounded by the largest batch). */
struct compact_scratch {
    uint8_t *rec, *out;
    size_t rec_cap, out_cap;
};

enum compact_batch_result {
    COMPACT_BATCH_WHOLE = 0,   /* every record kept: copy the batch as it is */
    COMPACT_BATCH_REBUILT = 1, /* *out, *out_len: the new batch (inside the scratch) */
    COMPACT_BATCH_DROPPED = 2, /* no record kept */
};

/*
 * Filters a validated batch. Control batches are always kept whole.
 * Returns a compact_batch_result, or a negative RL_ERR_* (a corrupt or
 * undecompressable batch, no memory).
 */
int compact_batch_filter(const uint8_t *batch, const struct rl_batch_header *h,
                         compact_keep_fn keep, void *ctx, struct compact_scratch *s,
                         const uint8_t **out, size_t *out_len);

void compact_scratch_free(struct compact_scratch *s);

#endif
