/*
 * Record-batch builder, validator and iterators. See batch.h for the layout
 * and docs/FORMAT.md for the rules. Nothing here trusts a length field: every
 * read is checked against the end of the buffer first.
 */
#include "batch.h"

#include <assert.h>
#include <string.h>
#include "checksum.h"

#include "batch_internal.h"
#include "endian_le.h"
#include "varint.h"

int rl_batch_header_read(const uint8_t *buf, size_t len, struct rl_batch_header *h)
{
    if (len < RL_BATCH_HEADER_BYTES)
        return RL_ERR_TRUNCATED;
    h->base_offset = (int64_t)rl_le64(buf + RL_BATCH_OFF_BASE_OFFSET);
    h->batch_length = rl_le32(buf + RL_BATCH_OFF_LENGTH);
    h->leader_epoch = (int32_t)rl_le32(buf + RL_BATCH_OFF_LEADER_EPOCH);
    h->magic = buf[RL_BATCH_OFF_MAGIC];
    h->checksum = rl_le64(buf + RL_BATCH_OFF_CHECKSUM);
    h->attributes = rl_le16(buf + RL_BATCH_OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)rl_le32(buf + RL_BATCH_OFF_LAST_OFFSET_DELTA);
    h->first_timestamp = (int64_t)rl_le64(buf + RL_BATCH_OFF_FIRST_TIMESTAMP);
    h->max_timestamp = (int64_t)rl_le64(buf + RL_BATCH_OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)rl_le64(buf + RL_BATCH_OFF_PRODUCER_ID);
    h->producer_epoch = (int16_t)rl_le16(buf + RL_BATCH_OFF_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)rl_le32(buf + RL_BATCH_OFF_BASE_SEQUENCE);
    h->record_count = (int32_t)rl_le32(buf + RL_BATCH_OFF_RECORD_COUNT);
    return RL_OK;
}

uint64_t rl_batch_compute_checksum(const uint8_t *batch, size_t total)
{
    assert(total >= RL_BATCH_HEADER_BYTES);
    return rl_checksum(batch + RL_BATCH_CHECKSUM_FROM, total - RL_BATCH_CHECKSUM_FROM);
}

void rl_batch_stamp(uint8_t *batch, int64_t base_offset, int32_t leader_epoch)
{
    rl_put_le64(batch + RL_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
    rl_put_le32(batch + RL_BATCH_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
}

/* Checks the header fields that do not depend on the records. */
static int header_is_possible(const struct rl_batch_header *h, bool allow_control)
{
    uint16_t known = RL_BATCH_ATTR_KNOWN_BITS | (allow_control ? RL_BATCH_ATTR_CONTROL : 0);
    if (h->attributes & ~known)
        return 0;
    /* A control batch is the broker's: plain records, no producer. */
    if (rl_batch_is_control(h) && (rl_batch_codec(h) != RL_CODEC_NONE || h->producer_id >= 0))
        return 0;
    if (rl_batch_codec(h) > RL_CODEC_ZSTD)
        return 0;
    if (h->record_count <= 0 || h->last_offset_delta < h->record_count - 1)
        return 0;
    if (h->base_offset < 0 || h->base_offset > INT64_MAX - h->last_offset_delta)
        return 0;
    if (h->max_timestamp < h->first_timestamp)
        return 0;
    /* Idempotence fields come as a set: all absent or all present. */
    if ((h->producer_id < 0) != (h->base_sequence < 0))
        return 0;
    return 1;
}

/* Walks the records of an uncompressed batch and checks they agree with the header. */
static int records_are_well_formed(const uint8_t *batch, const struct rl_batch_header *h)
{
    struct rl_record_iter it;
    struct rl_record r;
    int status = rl_record_iter_init(&it, batch, h);
    if (status != RL_OK)
        return status;
    while ((status = rl_record_iter_next(&it, &r)) == RL_OK) {
        if (r.timestamp > h->max_timestamp)
            return RL_ERR_CORRUPT;
    }
    return status == RL_END ? RL_OK : status;
}

static int validate(const uint8_t *buf, size_t len, size_t max_bytes, bool allow_control,
                    struct rl_batch_header *h)
{
    if (len < RL_BATCH_LENGTH_PREFIX)
        return RL_ERR_TRUNCATED;
    uint32_t batch_length = rl_le32(buf + RL_BATCH_OFF_LENGTH);
    size_t total = RL_BATCH_LENGTH_PREFIX + (size_t)batch_length;
    if (total < RL_BATCH_HEADER_BYTES)
        return RL_ERR_CORRUPT;
    if (total > max_bytes || total > RL_BATCH_ABSOLUTE_MAX_BYTES)
        return RL_ERR_OVERSIZED;
    if (len < RL_BATCH_HEADER_BYTES || len < total)
        return RL_ERR_TRUNCATED;
    rl_batch_header_read(buf, len, h);
    if (h->magic != RL_BATCH_MAGIC)
        return RL_ERR_BAD_MAGIC;
    if (rl_batch_compute_checksum(buf, total) != h->checksum)
        return RL_ERR_CHECKSUM;
    if (!header_is_possible(h, allow_control))
        return RL_ERR_CORRUPT;
    if (rl_batch_codec(h) == RL_CODEC_NONE)
        return records_are_well_formed(buf, h);
    /* Compressed records start with their 4-byte uncompressed size. */
    if (total < RL_BATCH_HEADER_BYTES + 4u)
        return RL_ERR_CORRUPT;
    return RL_OK;
}

int rl_batch_validate(const uint8_t *buf, size_t len, size_t max_bytes, struct rl_batch_header *h)
{
    return validate(buf, len, max_bytes, false, h);
}

int rl_batch_validate_control(const uint8_t *buf, size_t len, size_t max_bytes,
                              struct rl_batch_header *h)
{
    return validate(buf, len, max_bytes, true, h);
}

void rl_batch_make_control(uint8_t *batch, size_t total)
{
    struct rl_batch_header h;
    int rc = rl_batch_header_read(batch, total, &h);
    assert(rc == RL_OK && rl_batch_total_bytes(&h) == total);
    assert(rl_batch_codec(&h) == RL_CODEC_NONE && h.producer_id < 0);
    (void)rc;
    rl_put_le16(batch + RL_BATCH_OFF_ATTRIBUTES, (uint16_t)(h.attributes | RL_BATCH_ATTR_CONTROL));
    rl_put_le64(batch + RL_BATCH_OFF_CHECKSUM, rl_batch_compute_checksum(batch, total));
}

void rl_batch_iter_init(struct rl_batch_iter *it, const uint8_t *buf, size_t len,
                        size_t max_batch_bytes)
{
    it->allow_control = false;
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->max_batch_bytes = max_batch_bytes;
}

int rl_batch_iter_next(struct rl_batch_iter *it, const uint8_t **batch, struct rl_batch_header *h)
{
    if (it->pos == it->len)
        return RL_END;
    const uint8_t *start = it->buf + it->pos;
    int status = validate(start, it->len - it->pos, it->max_batch_bytes, it->allow_control, h);
    if (status != RL_OK)
        return status;
    *batch = start;
    it->pos += rl_batch_total_bytes(h);
    return RL_OK;
}

int rl_batch_iter_next_validated(struct rl_batch_iter *it, const uint8_t **batch,
                                 struct rl_batch_header *h)
{
    if (it->pos == it->len)
        return RL_END;
    const uint8_t *start = it->buf + it->pos;
    if (rl_batch_header_read(start, it->len - it->pos, h) != RL_OK ||
        rl_batch_total_bytes(h) > it->len - it->pos)
        return RL_ERR_TRUNCATED;
    *batch = start;
    it->pos += rl_batch_total_bytes(h);
    return RL_OK;
}

/* ---------------------------------------------------------------- records */

void rl_record_iter_init_raw(struct rl_record_iter *it, const uint8_t *records, size_t len,
                             const struct rl_batch_header *h)
{
    it->pos = records;
    it->end = records + len;
    it->remaining = h->record_count;
    it->last_offset_delta = h->last_offset_delta;
    it->next_min_offset_delta = 0;
    it->first_timestamp = h->first_timestamp;
}

int rl_record_iter_init(struct rl_record_iter *it, const uint8_t *batch,
                        const struct rl_batch_header *h)
{
    if (rl_batch_codec(h) != RL_CODEC_NONE)
        return RL_ERR_CODEC;
    rl_record_iter_init_raw(it, batch + RL_BATCH_HEADER_BYTES,
                            rl_batch_total_bytes(h) - RL_BATCH_HEADER_BYTES, h);
    return RL_OK;
}

/* Reads a zigzag length that is -1 (null) or a size within [*pos, end). */
static int read_nullable_bytes(const uint8_t **pos, const uint8_t *end, const uint8_t **data,
                               int64_t *len)
{
    uint64_t raw;
    if (rl_varint_get(pos, end, &raw) != 0)
        return RL_ERR_CORRUPT;
    int64_t n = rl_zigzag_decode(raw);
    if (n == -1) {
        *data = NULL;
        *len = -1;
        return RL_OK;
    }
    if (n < 0 || (uint64_t)n > (uint64_t)(end - *pos))
        return RL_ERR_CORRUPT;
    *data = *pos;
    *len = n;
    *pos += n;
    return RL_OK;
}

/* Reads an unsigned length and that many bytes within [*pos, end). */
static int read_bytes(const uint8_t **pos, const uint8_t *end, const uint8_t **data, size_t *len)
{
    uint64_t n;
    if (rl_varint_get(pos, end, &n) != 0 || n > (uint64_t)(end - *pos))
        return RL_ERR_CORRUPT;
    *data = *pos;
    *len = (size_t)n;
    *pos += n;
    return RL_OK;
}

/* Skips header_count headers inside [pos, end), which must be used up exactly. */
static int skip_headers(const uint8_t *pos, const uint8_t *end, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *data;
        size_t key_len;
        int64_t value_len;
        if (read_bytes(&pos, end, &data, &key_len) != RL_OK ||
            read_nullable_bytes(&pos, end, &data, &value_len) != RL_OK)
            return RL_ERR_CORRUPT;
    }
    return pos == end ? RL_OK : RL_ERR_CORRUPT;
}

int rl_record_iter_next(struct rl_record_iter *it, struct rl_record *r)
{
    if (it->remaining == 0)
        return it->pos == it->end ? RL_END : RL_ERR_CORRUPT;
    const uint8_t *p = it->pos;
    uint64_t record_len, ts_raw, offset_delta, header_count;
    if (rl_varint_get(&p, it->end, &record_len) != 0 || record_len > (uint64_t)(it->end - p))
        return RL_ERR_CORRUPT;
    const uint8_t *end = p + record_len;
    if (p >= end || *p++ != 0) /* attributes: none defined yet */
        return RL_ERR_CORRUPT;
    if (rl_varint_get(&p, end, &ts_raw) != 0 || rl_varint_get(&p, end, &offset_delta) != 0)
        return RL_ERR_CORRUPT;
    if (offset_delta < (uint64_t)it->next_min_offset_delta ||
        offset_delta > (uint64_t)it->last_offset_delta)
        return RL_ERR_CORRUPT;
    if (read_nullable_bytes(&p, end, &r->key, &r->key_len) != RL_OK ||
        read_nullable_bytes(&p, end, &r->value, &r->value_len) != RL_OK)
        return RL_ERR_CORRUPT;
    if (rl_varint_get(&p, end, &header_count) != 0 || header_count > (uint64_t)(end - p))
        return RL_ERR_CORRUPT;
    if (skip_headers(p, end, (uint32_t)header_count) != RL_OK)
        return RL_ERR_CORRUPT;
    int64_t ts_delta = rl_zigzag_decode(ts_raw);
    if ((ts_delta > 0 && it->first_timestamp > INT64_MAX - ts_delta) ||
        (ts_delta < 0 && it->first_timestamp < INT64_MIN - ts_delta))
        return RL_ERR_CORRUPT;
    r->offset_delta = (int64_t)offset_delta;
    r->timestamp = it->first_timestamp + ts_delta;
    r->header_count = (uint32_t)header_count;
    r->headers = p;
    r->headers_len = (size_t)(end - p);
    it->next_min_offset_delta = (int64_t)offset_delta + 1;
    it->remaining--;
    it->pos = end;
    /* The last record must carry the header's last offset delta. */
    if (it->remaining == 0 && r->offset_delta != it->last_offset_delta)
        return RL_ERR_CORRUPT;
    return RL_OK;
}

void rl_header_iter_init(struct rl_header_iter *it, const struct rl_record *r)
{
    it->pos = r->headers;
    it->end = r->headers + r->headers_len;
    it->remaining = r->header_count;
}

int rl_header_iter_next(struct rl_header_iter *it, struct rl_header *h)
{
    if (it->remaining == 0)
        return RL_END;
    if (read_bytes(&it->pos, it->end, &h->key, &h->key_len) != RL_OK ||
        read_nullable_bytes(&it->pos, it->end, &h->value, &h->value_len) != RL_OK)
        return RL_ERR_CORRUPT;
    it->remaining--;
    return RL_OK;
}

/* ---------------------------------------------------------------- builder */

/*
 * A record's timestamp minus its batch's first, wrapped to 64 bits:
 * timestamps are the application's, so the true difference of two can
 * exceed int64_t (signed overflow, undefined). Only sizes use a wrapped
 * value; the builder refuses such a record (see rl_batch_builder_add_sized).
 */
static int64_t timestamp_delta(int64_t timestamp, int64_t first_timestamp)
{
    return (int64_t)((uint64_t)timestamp - (uint64_t)first_timestamp);
}

/* Bytes of a record after its length prefix. */
static size_t record_body_size(const struct rl_record_in *r, int64_t first_timestamp,
                               int32_t offset_delta, size_t payload)
{
    return 1 /* attributes */ +
           rl_varint_size(rl_zigzag_encode(timestamp_delta(r->timestamp, first_timestamp))) +
           rl_varint_size((uint64_t)offset_delta) + payload;
}

size_t rl_record_encoded_size(const struct rl_record_in *r, int64_t first_timestamp,
                              int32_t offset_delta)
{
    size_t body = record_body_size(r, first_timestamp, offset_delta, rl_record_payload_size(r));
    return rl_varint_size(body) + body;
}

int rl_batch_builder_init(struct rl_batch_builder *b, uint8_t *buf, size_t cap,
                          const struct rl_batch_producer *producer)
{
    if (cap < RL_BATCH_HEADER_BYTES)
        return RL_ERR_FULL;
    b->buf = buf;
    b->cap = cap < RL_BATCH_ABSOLUTE_MAX_BYTES ? cap : RL_BATCH_ABSOLUTE_MAX_BYTES;
    b->len = RL_BATCH_HEADER_BYTES;
    b->count = 0;
    b->first_timestamp = 0;
    b->max_timestamp = 0;
    if (producer) {
        b->producer = *producer;
    } else {
        b->producer.producer_id = -1;
        b->producer.producer_epoch = -1;
        b->producer.base_sequence = -1;
    }
    return RL_OK;
}

static uint8_t *put_nullable(uint8_t *p, const void *data, size_t len)
{
    if (data == NULL)
        return p + rl_varint_put(p, rl_zigzag_encode(-1));
    p += rl_varint_put(p, rl_zigzag_encode((int64_t)len));
    memcpy(p, data, len);
    return p + len;
}

int rl_batch_builder_add(struct rl_batch_builder *b, const struct rl_record_in *r)
{
    return rl_batch_builder_add_sized(b, r, rl_record_payload_size(r));
}

int rl_batch_builder_add_sized(struct rl_batch_builder *b, const struct rl_record_in *r,
                               size_t payload)
{
    assert(payload == rl_record_payload_size(r));
    if (b->count == INT32_MAX)
        return RL_ERR_FULL;
    int64_t first_ts = b->count == 0 ? r->timestamp : b->first_timestamp;
    /* A timestamp too far from the first one for a delta starts a new
     * batch, where it is the first (delta 0); iterators refuse a wrapped one. */
    int64_t ts_delta;
    if (__builtin_sub_overflow(r->timestamp, first_ts, &ts_delta))
        return RL_ERR_FULL;
    size_t body = record_body_size(r, first_ts, b->count, payload);
    size_t need = rl_varint_size(body) + body;
    if (need > b->cap - b->len)
        return RL_ERR_FULL;
    uint8_t *p = b->buf + b->len;
    p += rl_varint_put(p, body);
    *p++ = 0; /* attributes */
    p += rl_varint_put(p, rl_zigzag_encode(ts_delta));
    p += rl_varint_put(p, (uint64_t)b->count);
    p = put_nullable(p, r->key, r->key_len);
    p = put_nullable(p, r->value, r->value_len);
    p += rl_varint_put(p, r->header_count);
    for (size_t i = 0; i < r->header_count; i++) {
        const struct rl_header_in *hd = &r->headers[i];
        p += rl_varint_put(p, hd->key_len);
        memcpy(p, hd->key, hd->key_len);
        p += hd->key_len;
        p = put_nullable(p, hd->value, hd->value_len);
    }
    assert((size_t)(p - (b->buf + b->len)) == need);
    b->len += need;
    if (b->count == 0) {
        b->first_timestamp = r->timestamp;
        b->max_timestamp = r->timestamp;
    } else if (r->timestamp > b->max_timestamp) {
        b->max_timestamp = r->timestamp;
    }
    b->count++;
    return RL_OK;
}

/* Writes every header field of a batch of total size `total` into out, then the checksum. */
void rl_batch_write_header(const struct rl_batch_builder *b, uint8_t *out, size_t total,
                           uint16_t attributes)
{
    rl_put_le64(out + RL_BATCH_OFF_BASE_OFFSET, 0);
    rl_put_le32(out + RL_BATCH_OFF_LENGTH, (uint32_t)(total - RL_BATCH_LENGTH_PREFIX));
    rl_put_le32(out + RL_BATCH_OFF_LEADER_EPOCH, 0);
    out[RL_BATCH_OFF_MAGIC] = RL_BATCH_MAGIC;
    rl_put_le16(out + RL_BATCH_OFF_ATTRIBUTES, attributes);
    rl_put_le32(out + RL_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
    rl_put_le64(out + RL_BATCH_OFF_FIRST_TIMESTAMP, (uint64_t)b->first_timestamp);
    rl_put_le64(out + RL_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)b->max_timestamp);
    rl_put_le64(out + RL_BATCH_OFF_PRODUCER_ID, (uint64_t)b->producer.producer_id);
    rl_put_le16(out + RL_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)b->producer.producer_epoch);
    rl_put_le32(out + RL_BATCH_OFF_BASE_SEQUENCE, (uint32_t)b->producer.base_sequence);
    rl_put_le32(out + RL_BATCH_OFF_RECORD_COUNT, (uint32_t)b->count);
    rl_put_le64(out + RL_BATCH_OFF_CHECKSUM, rl_batch_compute_checksum(out, total));
}

size_t rl_batch_builder_finish(struct rl_batch_builder *b)
{
    if (b->count == 0)
        return 0;
    rl_batch_write_header(b, b->buf, b->len, RL_CODEC_NONE);
    return b->len;
}
