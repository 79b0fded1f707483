/*
 * Record-batch format, version 1 (docs/FORMAT.md byte by byte).
 *
 * A batch is what a producer builds, what the broker appends to its log and
 * what a consumer receives: the same bytes end to end. A fixed little-endian
 * header is followed by the records (possibly compressed as one block).
 *
 *   off  size  field
 *     0     8  base_offset        broker-owned, not covered by the checksum
 *     8     4  batch_length       bytes after this field (total = 12 + batch_length)
 *    12     4  leader_epoch       broker-owned, not covered by the checksum
 *    16     1  magic              format version, 1
 *    17     8  checksum           XXH3-64 of bytes [25, end of batch)
 *    25     2  attributes         bits 0-2 codec, bit 3 timestamp type
 *    27     4  last_offset_delta
 *    31     8  first_timestamp    ms since the epoch
 *    39     8  max_timestamp
 *    47     8  producer_id        -1 when not idempotent
 *    55     2  producer_epoch
 *    57     4  base_sequence      -1 when not idempotent
 *    61     4  record_count
 *    65        records
 *
 * The checksum deliberately leaves out the two fields the broker stamps, so
 * assigning offsets never re-hashes the batch.
 */
#ifndef RINGLOG_PROTO_BATCH_H
#define RINGLOG_PROTO_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "varint.h"

enum {
    RL_BATCH_MAGIC = 1,
    RL_BATCH_OFF_BASE_OFFSET = 0,
    RL_BATCH_OFF_LENGTH = 8,
    RL_BATCH_OFF_LEADER_EPOCH = 12,
    RL_BATCH_OFF_MAGIC = 16,
    RL_BATCH_OFF_CHECKSUM = 17,
    RL_BATCH_OFF_ATTRIBUTES = 25,
    RL_BATCH_OFF_LAST_OFFSET_DELTA = 27,
    RL_BATCH_OFF_FIRST_TIMESTAMP = 31,
    RL_BATCH_OFF_MAX_TIMESTAMP = 39,
    RL_BATCH_OFF_PRODUCER_ID = 47,
    RL_BATCH_OFF_PRODUCER_EPOCH = 55,
    RL_BATCH_OFF_BASE_SEQUENCE = 57,
    RL_BATCH_OFF_RECORD_COUNT = 61,
    RL_BATCH_HEADER_BYTES = 65,
    /* Bytes before and including batch_length, not counted by it. */
    RL_BATCH_LENGTH_PREFIX = 12,
    /* First byte covered by the checksum. */
    RL_BATCH_CHECKSUM_FROM = RL_BATCH_OFF_ATTRIBUTES,
};

/* A batch larger than this is never valid, whatever the configuration. */
#define RL_BATCH_ABSOLUTE_MAX_BYTES (256u << 20)
/* Limit on the decompressed size of a compressed batch's records. */
#define RL_BATCH_MAX_DECOMPRESSED (256u << 20)

typedef enum rl_codec {
    RL_CODEC_NONE = 0,
    RL_CODEC_LZ4 = 1,
    RL_CODEC_ZSTD = 2,
} rl_codec;

#define RL_BATCH_ATTR_CODEC_MASK 0x7u
#define RL_BATCH_ATTR_LOG_APPEND_TIME 0x8u
#define RL_BATCH_ATTR_KNOWN_BITS 0xfu
/*
 * Bit 5: a control batch (docs/FORMAT.md): a leader-epoch marker or a
 * configuration entry that the broker appends itself. rl_batch_validate
 * refuses it (a producer may not send one); rl_batch_validate_control and
 * an iterator with allow_control accept it, uncompressed and without a
 * producer id. Its first record's key is the control type (u16, LE).
 */
#define RL_BATCH_ATTR_CONTROL 0x20u

enum rl_control_type {
    RL_CONTROL_EPOCH_MARKER = 0, /* a new leader epoch starts here */
    RL_CONTROL_CONFIG = 1,       /* a replica-set configuration entry (value: its encoding) */
};

struct rl_batch_header {
    int64_t base_offset;
    uint32_t batch_length;
    int32_t leader_epoch;
    uint8_t magic;
    uint64_t checksum;
    uint16_t attributes;
    int32_t last_offset_delta;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

static inline rl_codec rl_batch_codec(const struct rl_batch_header *h)
{
    return (rl_codec)(h->attributes & RL_BATCH_ATTR_CODEC_MASK);
}

static inline bool rl_batch_is_control(const struct rl_batch_header *h)
{
    return (h->attributes & RL_BATCH_ATTR_CONTROL) != 0;
}

static inline size_t rl_batch_total_bytes(const struct rl_batch_header *h)
{
    return RL_BATCH_LENGTH_PREFIX + (size_t)h->batch_length;
}

/* Offset of the last record in the batch. */
static inline int64_t rl_batch_last_offset(const struct rl_batch_header *h)
{
    return h->base_offset + h->last_offset_delta;
}

/*
 * Decodes the fixed header without checking anything but its length.
 * Returns RL_OK or RL_ERR_TRUNCATED when len < RL_BATCH_HEADER_BYTES.
 */
int rl_batch_header_read(const uint8_t *buf, size_t len, struct rl_batch_header *h);

/*
 * Fully validates the batch at the start of [buf, buf + len): the header
 * fields are possible, the batch fits in len and in max_bytes, the checksum
 * matches and, for an uncompressed batch, every record is well formed and
 * the count and offset deltas agree with the header. Never reads outside
 * [buf, buf + len) and trusts no length field.
 *
 * Returns RL_OK and fills *h on success; RL_ERR_TRUNCATED when len ends
 * inside the batch; RL_ERR_OVERSIZED when the batch is larger than
 * max_bytes; RL_ERR_BAD_MAGIC, RL_ERR_CHECKSUM or RL_ERR_CORRUPT otherwise.
 */
int rl_batch_validate(const uint8_t *buf, size_t len, size_t max_bytes, struct rl_batch_header *h);

/* Like rl_batch_validate, and a control batch (RL_BATCH_ATTR_CONTROL) is valid too. */
int rl_batch_validate_control(const uint8_t *buf, size_t len, size_t max_bytes,
                              struct rl_batch_header *h);

/*
 * Turns a finished, uncompressed batch without a producer id into a control
 * batch: sets RL_BATCH_ATTR_CONTROL and recomputes the checksum (the
 * attributes are hashed). The broker's own use only.
 */
void rl_batch_make_control(uint8_t *batch, size_t total);

/* Computes the checksum a batch of total size `total` should carry. */
uint64_t rl_batch_compute_checksum(const uint8_t *batch, size_t total);

/* Writes the broker-owned fields; the checksum stays valid. */
void rl_batch_stamp(uint8_t *batch, int64_t base_offset, int32_t leader_epoch);

/*
 * Walks batches laid back to back in a buffer (a produce request's records,
 * a fetched log range, a segment). Each step validates one batch.
 */
struct rl_batch_iter {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    size_t max_batch_bytes;
    bool allow_control; /* false after init: control batches are RL_ERR_CORRUPT */
};

void rl_batch_iter_init(struct rl_batch_iter *it, const uint8_t *buf, size_t len,
                        size_t max_batch_bytes);

/*
 * Returns RL_OK with *batch pointing at the next batch (of h->batch_length +
 * 12 bytes), RL_END at the end of the buffer, or an error from
 * rl_batch_validate (the iterator then stays on the bad batch). A fetch
 * response may end in a partial batch: that is RL_ERR_TRUNCATED, and
 * rl_batch_iter_pos() tells how many whole bytes came before it.
 */
int rl_batch_iter_next(struct rl_batch_iter *it, const uint8_t **batch, struct rl_batch_header *h);

/*
 * Like rl_batch_iter_next for bytes that were validated before (by this
 * process, e.g. before they were appended): reads each header and checks
 * only that the batch lies inside the buffer, without re-hashing or
 * re-walking the records. Returns RL_OK, RL_END or RL_ERR_TRUNCATED.
 */
int rl_batch_iter_next_validated(struct rl_batch_iter *it, const uint8_t **batch,
                                 struct rl_batch_header *h);

static inline size_t rl_batch_iter_pos(const struct rl_batch_iter *it)
{
    return it->pos;
}

/* ---------------------------------------------------------------- records */

struct rl_header_in {
    const void *key;
    size_t key_len;
    const void *value; /* NULL: a null value */
    size_t value_len;
};

/* A record as the producer hands it to the builder. */
struct rl_record_in {
    const void *key; /* NULL: a null key */
    size_t key_len;
    const void *value; /* NULL: a null value */
    size_t value_len;
    int64_t timestamp;
    const struct rl_header_in *headers;
    size_t header_count;
};

/* A record as the iterator returns it: pointers into the batch. */
struct rl_record {
    int64_t offset_delta;
    int64_t timestamp; /* absolute, ms */
    const uint8_t *key;
    int64_t key_len; /* -1: null key */
    const uint8_t *value;
    int64_t value_len; /* -1: null value */
    uint32_t header_count;
    const uint8_t *headers; /* header_count headers, see rl_header_iter */
    size_t headers_len;
};

struct rl_header {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    int64_t value_len; /* -1: null */
};

/*
 * Iterates the records of one batch. For a compressed batch, decompress
 * first (rl_batch_decompress_records) and init with rl_record_iter_init_raw.
 */
struct rl_record_iter {
    const uint8_t *pos;
    const uint8_t *end;
    int32_t remaining;
    int32_t last_offset_delta;
    int64_t next_min_offset_delta;
    int64_t first_timestamp;
};

/* Returns RL_ERR_CODEC for a compressed batch; the header must be validated. */
int rl_record_iter_init(struct rl_record_iter *it, const uint8_t *batch,
                        const struct rl_batch_header *h);

void rl_record_iter_init_raw(struct rl_record_iter *it, const uint8_t *records, size_t len,
                             const struct rl_batch_header *h);

/*
 * Returns RL_OK with *r filled, RL_END after the last record (when the
 * records region is exactly used up), or RL_ERR_CORRUPT.
 */
int rl_record_iter_next(struct rl_record_iter *it, struct rl_record *r);

struct rl_header_iter {
    const uint8_t *pos;
    const uint8_t *end;
    uint32_t remaining;
};

void rl_header_iter_init(struct rl_header_iter *it, const struct rl_record *r);

/* RL_OK, RL_END or RL_ERR_CORRUPT. */
int rl_header_iter_next(struct rl_header_iter *it, struct rl_header *h);

/* ---------------------------------------------------------------- builder */

struct rl_batch_producer {
    int64_t producer_id; /* -1: not idempotent */
    int16_t producer_epoch;
    int32_t base_sequence; /* -1: not idempotent */
};

/*
 * Appends records into a caller-provided buffer, no allocation. The header
 * is written by rl_batch_builder_finish.
 */
struct rl_batch_builder {
    uint8_t *buf;
    size_t cap;
    size_t len; /* header plus records so far */
    int32_t count;
    int64_t first_timestamp;
    int64_t max_timestamp;
    struct rl_batch_producer producer;
};

/* Bytes a record takes in a batch (exact). */
size_t rl_record_encoded_size(const struct rl_record_in *r, int64_t first_timestamp,
                              int32_t offset_delta);

/* Returns RL_ERR_FULL when cap cannot hold even the header. */
int rl_batch_builder_init(struct rl_batch_builder *b, uint8_t *buf, size_t cap,
                          const struct rl_batch_producer *producer);

/* Returns RL_OK, or RL_ERR_FULL (nothing written) when the record does not
 * fit, or when its timestamp minus the batch's first overflows int64_t: put
 * it in a new batch, where it is first. */
int rl_batch_builder_add(struct rl_batch_builder *b, const struct rl_record_in *r);

/*
 * Bytes of a record's body that do not depend on its place in a batch: key,
 * value and headers with their lengths. The rest is the length prefix, the
 * attributes byte and the timestamp and offset deltas (at most
 * RL_RECORD_MAX_OVERHEAD bytes together).
 */
static inline size_t rl_nullable_size(const void *data, size_t len)
{
    if (data == NULL)
        return rl_varint_size(rl_zigzag_encode(-1));
    return rl_varint_size(rl_zigzag_encode((int64_t)len)) + len;
}

/* Inline: a producer computes it for every record. */
static inline size_t rl_record_payload_size(const struct rl_record_in *r)
{
    size_t n = rl_nullable_size(r->key, r->key_len);
    n += rl_nullable_size(r->value, r->value_len);
    n += rl_varint_size(r->header_count);
    for (size_t i = 0; i < r->header_count; i++) {
        const struct rl_header_in *hd = &r->headers[i];
        n += rl_varint_size(hd->key_len) + hd->key_len;
        n += rl_nullable_size(hd->value, hd->value_len);
    }
    return n;
}

#define RL_RECORD_MAX_OVERHEAD (1 + 3 * RL_VARINT_MAX_BYTES)

/*
 * rl_batch_builder_add with payload = rl_record_payload_size(r) known: a
 * producer computes it once per record for its own size checks.
 */
int rl_batch_builder_add_sized(struct rl_batch_builder *b, const struct rl_record_in *r,
                               size_t payload);

static inline int32_t rl_batch_builder_count(const struct rl_batch_builder *b)
{
    return b->count;
}

/*
 * Writes the header and checksum of an uncompressed batch in place and
 * returns its total size, or 0 when no record was added.
 */
size_t rl_batch_builder_finish(struct rl_batch_builder *b);

/*
 * Writes a compressed batch of the builder's records into out: same header,
 * the records region compressed as one block (docs/FORMAT.md). Returns the
 * total size, or 0 with *status set (RL_ERR_FULL when out is too small,
 * RL_ERR_CODEC on a codec failure). The builder's own buffer is left as it
 * was, so the caller may fall back to rl_batch_builder_finish.
 */
size_t rl_batch_builder_finish_compressed(struct rl_batch_builder *b, rl_codec codec, uint8_t *out,
                                          size_t out_cap, int *status);

/* Upper bound of out_cap needed by rl_batch_builder_finish_compressed. */
size_t rl_batch_compress_bound(const struct rl_batch_builder *b, rl_codec codec);

/*
 * Decompresses the records of a validated compressed batch into a buffer
 * the function allocates with malloc (*out, *out_len; free() it). The size
 * is bounded by RL_BATCH_MAX_DECOMPRESSED. Returns RL_OK, RL_ERR_CODEC,
 * RL_ERR_CORRUPT or RL_ERR_NOMEM.
 */
int rl_batch_decompress_records(const uint8_t *batch, const struct rl_batch_header *h,
                                uint8_t **out, size_t *out_len);

#endif
