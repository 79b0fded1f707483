/*
 * A producer batch: the records of one partition accumulated in a
 * record-batch builder (one copy of each key, value and header), then
 * finished once into wire bytes (compressed or not) and sent, retried and
 * re-stamped as is. Owned by the producer; no locking inside.
 */
#ifndef RINGLOG_CLIENT_ACCUMULATOR_H
#define RINGLOG_CLIENT_ACCUMULATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "ringlog.h"

struct rl_pbatch {
    struct rl_pbatch *next; /* partition queue, or the list of finished batches */
    void *owner;            /* the producer's partition */

    uint8_t *buf; /* the builder's buffer (header + uncompressed records) */
    size_t cap;
    struct rl_batch_builder builder;

    uint8_t *wire; /* what is sent: buf or zbuf */
    size_t wire_len;
    uint8_t *zbuf; /* compressed copy, when compression paid */

    ringlog_delivered *msgs; /* per record: what its delivery report hands back */
    int32_t nmsgs, msgs_cap;
    size_t reserved; /* bytes charged against buffer-bytes */
    int64_t created_ms;

    int32_t base_seq; /* -1: not sequenced yet */
    int64_t pid;
    int16_t epoch;
    bool finished; /* wire is built: no more records */
    bool inflight;
    int attempts;

    int err; /* outcome, for the delivery reports */
    int64_t base_offset;
    char errstr[160];
};

/* A batch whose builder can hold `cap` bytes (header included). NULL on ENOMEM. */
struct rl_pbatch *rl_pbatch_new(size_t cap, int64_t now_ms);

/*
 * Empties a batch that was reported, for new records, keeping its buffers
 * (the builder's and the per-record array): at full speed a producer goes
 * through thousands of batches a second, and a fresh buffer costs malloc,
 * page faults and cache misses under its first records.
 */
void rl_pbatch_reuse(struct rl_pbatch *b, int64_t now_ms);

void rl_pbatch_free(struct rl_pbatch *b);

/* Bytes a batch needs to hold just this record (header included). */
size_t rl_pbatch_bytes_for(const struct rl_record_in *r);

/*
 * At least rl_pbatch_bytes_for, from the record's payload size
 * (rl_record_payload_size) with every other varint at its widest: cheap
 * enough for every record, so the exact size need only be computed when
 * this bound comes near a limit.
 */
static inline size_t rl_pbatch_bytes_bound(size_t payload)
{
    return RL_BATCH_HEADER_BYTES + RL_RECORD_MAX_OVERHEAD + payload;
}

/* Approximate memory a queued record takes, for buffer-bytes accounting. */
static inline size_t rl_record_footprint(size_t payload)
{
    return payload + 32 + sizeof(ringlog_delivered);
}

/* Appends a record. RL_OK, RL_ERR_FULL (nothing added) or RL_ERR_NOMEM. */
int rl_pbatch_add(struct rl_pbatch *b, const struct rl_record_in *r, void *opaque);

/* Doubles the per-record array. RL_OK or RL_ERR_NOMEM. */
int rl_pbatch_grow_msgs(struct rl_pbatch *b);

/* rl_pbatch_add with payload = rl_record_payload_size(r) known (inline: once per record). */
static inline int rl_pbatch_add_sized(struct rl_pbatch *b, const struct rl_record_in *r,
                                      size_t payload, void *opaque)
{
    if (b->finished)
        return RL_ERR_FULL;
    if (b->nmsgs == b->msgs_cap && rl_pbatch_grow_msgs(b) != RL_OK)
        return RL_ERR_NOMEM;
    int st = rl_batch_builder_add_sized(&b->builder, r, payload);
    if (st != RL_OK)
        return st;
    b->msgs[b->nmsgs++] = (ringlog_delivered){.opaque = opaque, .timestamp = r->timestamp};
    return RL_OK;
}

static inline int32_t rl_pbatch_count(const struct rl_pbatch *b)
{
    return b->builder.count;
}

/* Bytes of header and records so far (uncompressed). */
static inline size_t rl_pbatch_size(const struct rl_pbatch *b)
{
    return b->builder.len;
}

/*
 * Builds the wire bytes once, with the producer fields (pid -1 when not
 * idempotent). With a codec the records are compressed, unless that does
 * not make the batch smaller. RL_OK or RL_ERR_NOMEM / RL_ERR_CODEC.
 */
int rl_pbatch_finish(struct rl_pbatch *b, int codec, int64_t pid, int16_t epoch, int32_t seq);

/*
 * Changes the producer fields of a finished batch (new epoch or
 * sequence after a producer reset) and recomputes its checksum.
 */
void rl_pbatch_restamp(struct rl_pbatch *b, int64_t pid, int16_t epoch, int32_t seq);

#endif
