/*
 * The recovery checkpoint record (log_internal.h). The file holds two
 * slots, 512 bytes apart, written alternately: a torn write can only hurt
 * the slot being written, and the other one still holds the previous
 * record. Each record carries its own XXH64.
 */
#include <string.h>
#include <xxhash.h>

#include "log_internal.h"

#define CKPT_MAGIC 0x4b434c52u /* "RLCK" */
#define CKPT_VERSION 1u

void log_checkpoint_encode(const struct log_checkpoint *ck, uint8_t out[LOG_CHECKPOINT_BYTES])
{
    memset(out, 0, LOG_CHECKPOINT_BYTES);
    idx_put_u32(out + 0, CKPT_MAGIC);
    idx_put_u32(out + 4, CKPT_VERSION);
    idx_put_u64(out + 8, ck->seq);
    idx_put_u32(out + 16, ck->clean);
    idx_put_u64(out + 24, (uint64_t)ck->segment_base);
    idx_put_u64(out + 32, ck->position);
    idx_put_u64(out + 40, (uint64_t)ck->offset);
    idx_put_u32(out + 48, ck->index_entries);
    idx_put_u32(out + 52, ck->time_entries);
    idx_put_u64(out + 56, (uint64_t)ck->max_timestamp);
    idx_put_u64(out + 64, (uint64_t)ck->max_ts_offset);
    idx_put_u64(out + 72, XXH64(out, 72, 0));
}

int log_checkpoint_decode(const uint8_t *in, struct log_checkpoint *ck)
{
    if (idx_get_u32(in) != CKPT_MAGIC || idx_get_u32(in + 4) != CKPT_VERSION)
        return -1;
    if (idx_get_u64(in + 72) != XXH64(in, 72, 0))
        return -1;
    ck->seq = idx_get_u64(in + 8);
    ck->clean = idx_get_u32(in + 16);
    ck->segment_base = (int64_t)idx_get_u64(in + 24);
    ck->position = idx_get_u64(in + 32);
    ck->offset = (int64_t)idx_get_u64(in + 40);
    ck->index_entries = idx_get_u32(in + 48);
    ck->time_entries = idx_get_u32(in + 52);
    ck->max_timestamp = (int64_t)idx_get_u64(in + 56);
    ck->max_ts_offset = (int64_t)idx_get_u64(in + 64);
    if (ck->segment_base < 0 || ck->offset < ck->segment_base)
        return -1;
    return 0;
}
