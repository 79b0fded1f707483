/*
 * The recovery checkpoint record (log_internal.h). The file holds two
 * slots, LOG_CHECKPOINT_SLOT bytes apart, written alternately: a torn write
 * can only hurt the slot being written, and the other one still holds the
 * previous record. Each record carries its own XXH64.
 *
 * Version 2 adds what replication restores from (issue 15): the log start
 * (a reset or retention that crashed half-way is finished by recovery),
 * the high watermark, and the leader-epoch table (epoch -> first offset)
 * of the log below the checkpoint's offset. Version 1 records (80 bytes,
 * slots 512 bytes apart) are still read: log start 0, no high watermark,
 * no epochs known.
 *
 * Version 3 adds, after the epoch runs, the configuration batches below the
 * offset (configs.c): per entry its offset, value length and value. Version
 * 2 records are read with none (their logs predate membership changes).
 *
 * Version 4 adds the records start (DeleteRecords: clients read from there,
 * at or past the log start) at byte 96, the runs and configs following at
 * 104; older records are read with it at the log start.
 */
#include <string.h>
#include <xxhash.h>

#include "log_internal.h"

#define CKPT_MAGIC 0x4b434c52u /* "RLCK" */
#define CKPT_VERSION 4u
#define CKPT_V1_BYTES 80
#define CKPT_V1_SLOT 512
#define CKPT_V3_HEAD 96 /* versions 2 and 3 */
#define CKPT_HEAD 104
#define CKPT_RUN 12
#define CKPT_CONFIG_HEAD 10 /* offset, length */

_Static_assert(CKPT_HEAD + LOG_MAX_EPOCH_RUNS * CKPT_RUN +
                       LOG_MAX_CONFIGS * (CKPT_CONFIG_HEAD + LOG_CONFIG_VALUE_MAX) + 8 <=
                   LOG_CHECKPOINT_SLOT,
               "a checkpoint record fits its slot");

/* The config entries after the runs; returns the new length. */
static size_t encode_configs(const struct log_checkpoint *ck, const struct log_config *configs,
                             uint8_t *out, size_t len)
{
    assert(ck->config_count <= LOG_MAX_CONFIGS);
    assert(ck->config_count == 0 || configs != NULL);
    for (uint32_t i = 0; i < ck->config_count; i++) {
        const struct log_config *c = &configs[i];
        assert(c->len <= LOG_CONFIG_VALUE_MAX);
        idx_put_u64(out + len, (uint64_t)c->offset);
        out[len + 8] = (uint8_t)c->len;
        out[len + 9] = (uint8_t)(c->len >> 8);
        memcpy(out + len + CKPT_CONFIG_HEAD, c->value, c->len);
        len += CKPT_CONFIG_HEAD + c->len;
    }
    return len;
}

/* The config entries of a version 3 body from `at`; returns the body's end, or 0. */
static size_t decode_configs(const uint8_t *in, size_t len, size_t at, uint32_t n,
                             struct log_config *configs)
{
    if (n > LOG_MAX_CONFIGS)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (at + CKPT_CONFIG_HEAD > len)
            return 0;
        struct log_config *c = &configs[i];
        c->offset = (int64_t)idx_get_u64(in + at);
        c->len = (uint16_t)(in[at + 8] | in[at + 9] << 8);
        if (c->len > LOG_CONFIG_VALUE_MAX || at + CKPT_CONFIG_HEAD + c->len > len ||
            (i > 0 && c->offset <= configs[i - 1].offset))
            return 0;
        memcpy(c->value, in + at + CKPT_CONFIG_HEAD, c->len);
        at += CKPT_CONFIG_HEAD + c->len;
    }
    return at;
}

size_t log_checkpoint_encode(const struct log_checkpoint *ck, const struct log_epoch_run *runs,
                             const struct log_config *configs, uint8_t out[LOG_CHECKPOINT_SLOT])
{
    assert(ck->epoch_count <= LOG_MAX_EPOCH_RUNS);
    size_t len = CKPT_HEAD + (size_t)ck->epoch_count * CKPT_RUN;
    memset(out, 0, CKPT_HEAD);
    idx_put_u32(out + 0, CKPT_MAGIC);
    idx_put_u32(out + 4, CKPT_VERSION);
    idx_put_u64(out + 8, ck->seq);
    idx_put_u32(out + 16, ck->clean);
    idx_put_u32(out + 20, ck->epoch_count);
    idx_put_u64(out + 24, (uint64_t)ck->segment_base);
    idx_put_u64(out + 32, ck->position);
    idx_put_u64(out + 40, (uint64_t)ck->offset);
    idx_put_u32(out + 48, ck->index_entries);
    idx_put_u32(out + 52, ck->time_entries);
    idx_put_u64(out + 56, (uint64_t)ck->max_timestamp);
    idx_put_u64(out + 64, (uint64_t)ck->max_ts_offset);
    idx_put_u64(out + 72, (uint64_t)ck->start_offset);
    idx_put_u64(out + 80, (uint64_t)ck->high_watermark);
    idx_put_u32(out + 88, (uint32_t)ck->start_epoch);
    idx_put_u32(out + 92, ck->config_count);
    idx_put_u64(out + 96, (uint64_t)ck->records_start);
    for (uint32_t i = 0; i < ck->epoch_count; i++) {
        uint8_t *e = out + CKPT_HEAD + (size_t)i * CKPT_RUN;
        idx_put_u32(e, (uint32_t)runs[i].epoch);
        idx_put_u64(e + 4, (uint64_t)runs[i].start);
    }
    len = encode_configs(ck, configs, out, len);
    idx_put_u64(out + len, XXH64(out, len, 0));
    return len + 8;
}

/* The fields both versions keep at the same places (bytes 8 to 72). */
static void decode_common(const uint8_t *in, struct log_checkpoint *ck)
{
    ck->seq = idx_get_u64(in + 8);
    ck->clean = idx_get_u32(in + 16);
    ck->segment_base = (int64_t)idx_get_u64(in + 24);
    ck->position = idx_get_u64(in + 32);
    ck->offset = (int64_t)idx_get_u64(in + 40);
    ck->index_entries = idx_get_u32(in + 48);
    ck->time_entries = idx_get_u32(in + 52);
    ck->max_timestamp = (int64_t)idx_get_u64(in + 56);
    ck->max_ts_offset = (int64_t)idx_get_u64(in + 64);
}

static int decode_v1(const uint8_t *in, struct log_checkpoint *ck)
{
    if (idx_get_u64(in + 72) != XXH64(in, 72, 0))
        return -1;
    memset(ck, 0, sizeof(*ck));
    decode_common(in, ck);
    ck->high_watermark = -1;
    ck->epochs_known = false;
    return 0;
}

int log_checkpoint_decode(const uint8_t *in, size_t len, struct log_checkpoint *ck,
                          struct log_epoch_run *runs, struct log_config *configs)
{
    if (len < CKPT_V1_BYTES || idx_get_u32(in) != CKPT_MAGIC)
        return -1;
    uint32_t version = idx_get_u32(in + 4);
    if (version == 1)
        return decode_v1(in, ck) == 0 && ck->segment_base >= 0 && ck->offset >= ck->segment_base
                   ? 0
                   : -1;
    size_t head = version < 4 ? CKPT_V3_HEAD : CKPT_HEAD;
    if (version < 2 || version > CKPT_VERSION || len < head + 8)
        return -1;
    uint32_t n = idx_get_u32(in + 20);
    uint32_t nconf = version == 2 ? 0 : idx_get_u32(in + 92);
    size_t body = head + (size_t)n * CKPT_RUN;
    if (n > LOG_MAX_EPOCH_RUNS || body > len)
        return -1;
    body = decode_configs(in, len, body, nconf, configs);
    if (body == 0 || body + 8 > len || idx_get_u64(in + body) != XXH64(in, body, 0))
        return -1;
    decode_common(in, ck);
    ck->epoch_count = n;
    ck->config_count = nconf;
    ck->start_offset = (int64_t)idx_get_u64(in + 72);
    ck->high_watermark = (int64_t)idx_get_u64(in + 80);
    ck->start_epoch = (int32_t)idx_get_u32(in + 88);
    ck->records_start = version < 4 ? ck->start_offset : (int64_t)idx_get_u64(in + 96);
    ck->epochs_known = true;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = in + head + (size_t)i * CKPT_RUN;
        runs[i].epoch = (int32_t)idx_get_u32(e);
        runs[i].start = (int64_t)idx_get_u64(e + 4);
    }
    if (ck->segment_base < 0 || ck->offset < ck->segment_base || ck->start_offset < 0 ||
        ck->start_offset > ck->offset || ck->records_start < ck->start_offset)
        return -1;
    return 0;
}

/* Where the slot of a record with this sequence number starts. */
uint64_t log_checkpoint_slot(uint64_t seq)
{
    return (seq % 2) * LOG_CHECKPOINT_SLOT;
}

/* Version 1 slots were 512 bytes apart: the second one is read there too. */
uint64_t log_checkpoint_v1_slot(int slot)
{
    return (uint64_t)slot * CKPT_V1_SLOT;
}
