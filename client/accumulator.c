#include "accumulator.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "endian_le.h"

struct rl_pbatch *rl_pbatch_new(size_t cap, int64_t now_ms)
{
    struct rl_pbatch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->buf = malloc(cap);
    if (!b->buf || rl_batch_builder_init(&b->builder, b->buf, cap, NULL) != RL_OK) {
        free(b->buf);
        free(b);
        return NULL;
    }
    b->cap = cap;
    b->created_ms = now_ms;
    b->base_seq = -1;
    b->pid = -1;
    b->epoch = -1;
    b->base_offset = -1;
    return b;
}

void rl_pbatch_reuse(struct rl_pbatch *b, int64_t now_ms)
{
    free(b->zbuf);
    ringlog_delivered *msgs = b->msgs;
    int32_t msgs_cap = b->msgs_cap;
    uint8_t *buf = b->buf;
    size_t cap = b->cap;
    *b = (struct rl_pbatch){.buf = buf,
                            .cap = cap,
                            .msgs = msgs,
                            .msgs_cap = msgs_cap,
                            .created_ms = now_ms,
                            .base_seq = -1,
                            .pid = -1,
                            .epoch = -1,
                            .base_offset = -1};
    int st = rl_batch_builder_init(&b->builder, b->buf, b->cap, NULL);
    assert(st == RL_OK); /* it held records before */
    (void)st;
}

void rl_pbatch_free(struct rl_pbatch *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b->zbuf);
    free(b->msgs);
    free(b);
}

size_t rl_pbatch_bytes_for(const struct rl_record_in *r)
{
    return RL_BATCH_HEADER_BYTES + rl_record_encoded_size(r, r->timestamp, 0);
}

int rl_pbatch_add(struct rl_pbatch *b, const struct rl_record_in *r, void *opaque)
{
    return rl_pbatch_add_sized(b, r, rl_record_payload_size(r), opaque);
}

int rl_pbatch_grow_msgs(struct rl_pbatch *b)
{
    int32_t cap = b->msgs_cap ? b->msgs_cap * 2 : 64;
    ringlog_delivered *m = realloc(b->msgs, (size_t)cap * sizeof(*m));
    if (!m)
        return RL_ERR_NOMEM;
    b->msgs = m;
    b->msgs_cap = cap;
    return RL_OK;
}

int rl_pbatch_finish(struct rl_pbatch *b, int codec, int64_t pid, int16_t epoch, int32_t seq)
{
    b->builder.producer.producer_id = pid;
    b->builder.producer.producer_epoch = epoch;
    b->builder.producer.base_sequence = seq;
    b->pid = pid;
    b->epoch = epoch;
    b->base_seq = seq;
    b->finished = true;
    if (codec != RL_CODEC_NONE) {
        size_t bound = rl_batch_compress_bound(&b->builder, (rl_codec)codec);
        b->zbuf = malloc(bound);
        if (!b->zbuf)
            return RL_ERR_NOMEM;
        int st = RL_OK;
        size_t n =
            rl_batch_builder_finish_compressed(&b->builder, (rl_codec)codec, b->zbuf, bound, &st);
        if (n == 0) {
            free(b->zbuf);
            b->zbuf = NULL;
            return st;
        }
        if (n < b->builder.len) {
            b->wire = b->zbuf;
            b->wire_len = n;
            return RL_OK;
        }
        /* Incompressible: send it plain. */
        free(b->zbuf);
        b->zbuf = NULL;
    }
    b->wire_len = rl_batch_builder_finish(&b->builder);
    b->wire = b->buf;
    return b->wire_len ? RL_OK : RL_ERR_INVALID;
}

void rl_pbatch_restamp(struct rl_pbatch *b, int64_t pid, int16_t epoch, int32_t seq)
{
    b->pid = pid;
    b->epoch = epoch;
    b->base_seq = seq;
    rl_put_le64(b->wire + RL_BATCH_OFF_PRODUCER_ID, (uint64_t)pid);
    rl_put_le16(b->wire + RL_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)epoch);
    rl_put_le32(b->wire + RL_BATCH_OFF_BASE_SEQUENCE, (uint32_t)seq);
    rl_put_le64(b->wire + RL_BATCH_OFF_CHECKSUM, rl_batch_compute_checksum(b->wire, b->wire_len));
}
