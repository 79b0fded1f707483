/*
 * One batch through compaction (compact_batch.h).
 */
#include "compact_batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "endian_le.h"

static int grow(uint8_t **buf, size_t *cap, size_t want)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < want)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (p == NULL)
        return RL_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

struct kept {
    int32_t count, total;
    int64_t last_delta;
    size_t bytes; /* after the header space in s->rec */
};

/* Copies the wanted records of a records region into s->rec after RL_BATCH_HEADER_BYTES. */
static int select_records(const uint8_t *records, size_t len, const struct rl_batch_header *h,
                          compact_keep_fn keep, void *ctx, struct compact_scratch *s,
                          struct kept *k)
{
    memset(k, 0, sizeof(*k));
    int rc = grow(&s->rec, &s->rec_cap, RL_BATCH_HEADER_BYTES + len);
    if (rc != 0)
        return rc;
    struct rl_record_iter it;
    rl_record_iter_init_raw(&it, records, len, h);
    for (;;) {
        const uint8_t *from = it.pos;
        struct rl_record r;
        rc = rl_record_iter_next(&it, &r);
        if (rc == RL_END)
            break;
        if (rc != RL_OK)
            return rc;
        k->total++;
        if (!keep(ctx, &r, h->base_offset + r.offset_delta))
            continue;
        size_t n = (size_t)(it.pos - from);
        memcpy(s->rec + RL_BATCH_HEADER_BYTES + k->bytes, from, n);
        k->bytes += n;
        k->count++;
        k->last_delta = r.offset_delta;
    }
    assert(k->bytes <= len);
    return k->total == h->record_count ? 0 : RL_ERR_CORRUPT;
}

/* The header fields the builder does not know, then the checksum again. */
static void patch_header(uint8_t *b, size_t total, const struct rl_batch_header *h,
                         int64_t last_delta)
{
    rl_put_le64(b + RL_BATCH_OFF_BASE_OFFSET, (uint64_t)h->base_offset);
    rl_put_le32(b + RL_BATCH_OFF_LEADER_EPOCH, (uint32_t)h->leader_epoch);
    rl_put_le16(b + RL_BATCH_OFF_ATTRIBUTES, h->attributes);
    rl_put_le32(b + RL_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)last_delta);
    rl_put_le64(b + RL_BATCH_OFF_CHECKSUM, rl_batch_compute_checksum(b, total));
}

/* Builds the batch of the selected records (compressed like the original). */
static int rebuild(const struct rl_batch_header *h, const struct kept *k, struct compact_scratch *s,
                   const uint8_t **out, size_t *out_len)
{
    struct rl_batch_builder b = {
        .buf = s->rec,
        .cap = s->rec_cap,
        .len = RL_BATCH_HEADER_BYTES + k->bytes,
        .count = k->count,
        .first_timestamp = h->first_timestamp,
        .max_timestamp = h->max_timestamp,
        .producer = {.producer_id = h->producer_id,
                     .producer_epoch = h->producer_epoch,
                     .base_sequence = h->base_sequence},
    };
    rl_codec codec = rl_batch_codec(h);
    uint8_t *dst = s->rec;
    size_t total;
    if (codec == RL_CODEC_NONE) {
        total = rl_batch_builder_finish(&b);
    } else {
        size_t bound = rl_batch_compress_bound(&b, codec);
        if (grow(&s->out, &s->out_cap, bound) != 0)
            return RL_ERR_NOMEM;
        int st = RL_OK;
        total = rl_batch_builder_finish_compressed(&b, codec, s->out, s->out_cap, &st);
        if (total == 0)
            return st != RL_OK ? st : RL_ERR_CODEC;
        dst = s->out;
    }
    assert(total >= RL_BATCH_HEADER_BYTES);
    patch_header(dst, total, h, k->last_delta);
    *out = dst;
    *out_len = total;
    return COMPACT_BATCH_REBUILT;
}

int compact_batch_filter(const uint8_t *batch, const struct rl_batch_header *h,
                         compact_keep_fn keep, void *ctx, struct compact_scratch *s,
                         const uint8_t **out, size_t *out_len)
{
    assert(h->record_count >= 1);
    *out = batch;
    *out_len = rl_batch_total_bytes(h);
    if (rl_batch_is_control(h))
        return COMPACT_BATCH_WHOLE;
    uint8_t *plain = NULL;
    const uint8_t *records = batch + RL_BATCH_HEADER_BYTES;
    size_t len = rl_batch_total_bytes(h) - RL_BATCH_HEADER_BYTES;
    if (rl_batch_codec(h) != RL_CODEC_NONE) {
        int rc = rl_batch_decompress_records(batch, h, &plain, &len);
        if (rc != RL_OK)
            return rc;
        records = plain;
    }
    struct kept k;
    int rc = select_records(records, len, h, keep, ctx, s, &k);
    if (rc == 0) {
        if (k.count == k.total)
            rc = COMPACT_BATCH_WHOLE;
        else if (k.count == 0)
            rc = COMPACT_BATCH_DROPPED;
        else
            rc = rebuild(h, &k, s, out, out_len);
    }
    free(plain);
    return rc;
}

void compact_scratch_free(struct compact_scratch *s)
{
    free(s->rec);
    free(s->out);
    memset(s, 0, sizeof(*s));
}
