/*
 * Compressed batches. The records region of a compressed batch is
 *   4 bytes LE: size of the uncompressed records
 *   the records, compressed as one block (LZ4 frame or zstd frame)
 * The header is the same as for an uncompressed batch; the checksum covers
 * the compressed bytes, so the broker validates without decompressing.
 */
#include <lz4.h>
#include <lz4frame.h>
#include <stdlib.h>
#include <zstd.h>

#include "batch_internal.h"
#include "endian_le.h"

enum { SIZE_PREFIX = 4, ZSTD_LEVEL = 3 };

size_t rl_batch_compress_bound(const struct rl_batch_builder *b, rl_codec codec)
{
    size_t records = b->len - RL_BATCH_HEADER_BYTES;
    size_t bound = records;
    if (codec == RL_CODEC_LZ4)
        bound = LZ4F_compressFrameBound(records, NULL);
    else if (codec == RL_CODEC_ZSTD)
        bound = ZSTD_compressBound(records);
    return RL_BATCH_HEADER_BYTES + SIZE_PREFIX + bound;
}

static size_t compress_block(rl_codec codec, const uint8_t *src, size_t len, uint8_t *dst,
                             size_t cap, int *status)
{
    if (codec == RL_CODEC_LZ4) {
        LZ4F_preferences_t prefs = {0};
        prefs.frameInfo.contentSize = len;
        if (cap < LZ4F_compressFrameBound(len, &prefs)) {
            *status = RL_ERR_FULL;
            return 0;
        }
        size_t n = LZ4F_compressFrame(dst, cap, src, len, &prefs);
        if (LZ4F_isError(n)) {
            *status = RL_ERR_CODEC;
            return 0;
        }
        return n;
    }
    if (codec == RL_CODEC_ZSTD) {
        if (cap < ZSTD_compressBound(len)) {
            *status = RL_ERR_FULL;
            return 0;
        }
        size_t n = ZSTD_compress(dst, cap, src, len, ZSTD_LEVEL);
        if (ZSTD_isError(n)) {
            *status = RL_ERR_CODEC;
            return 0;
        }
        return n;
    }
    *status = RL_ERR_CODEC;
    return 0;
}

size_t rl_batch_builder_finish_compressed(struct rl_batch_builder *b, rl_codec codec, uint8_t *out,
                                          size_t out_cap, int *status)
{
    *status = RL_OK;
    if (b->count == 0) {
        *status = RL_ERR_INVALID;
        return 0;
    }
    size_t records = b->len - RL_BATCH_HEADER_BYTES;
    if (out_cap < RL_BATCH_HEADER_BYTES + SIZE_PREFIX || records > UINT32_MAX) {
        *status = RL_ERR_FULL;
        return 0;
    }
    uint8_t *dst = out + RL_BATCH_HEADER_BYTES + SIZE_PREFIX;
    size_t cap = out_cap - RL_BATCH_HEADER_BYTES - SIZE_PREFIX;
    size_t n = compress_block(codec, b->buf + RL_BATCH_HEADER_BYTES, records, dst, cap, status);
    if (n == 0)
        return 0;
    size_t total = RL_BATCH_HEADER_BYTES + SIZE_PREFIX + n;
    if (total > RL_BATCH_ABSOLUTE_MAX_BYTES) {
        *status = RL_ERR_FULL;
        return 0;
    }
    rl_put_le32(out + RL_BATCH_HEADER_BYTES, (uint32_t)records);
    rl_batch_write_header(b, out, total, (uint16_t)codec);
    return total;
}

static int decompress_block(rl_codec codec, const uint8_t *src, size_t len, uint8_t *dst,
                            size_t expected)
{
    if (codec == RL_CODEC_LZ4) {
        LZ4F_dctx *dctx;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
            return RL_ERR_NOMEM;
        size_t out_len = expected, in_len = len;
        size_t r = LZ4F_decompress(dctx, dst, &out_len, src, &in_len, NULL);
        LZ4F_freeDecompressionContext(dctx);
        /* r == 0 means the frame ended exactly; everything must be used. */
        if (LZ4F_isError(r) || r != 0 || out_len != expected || in_len != len)
            return RL_ERR_CODEC;
        return RL_OK;
    }
    if (codec == RL_CODEC_ZSTD) {
        size_t r = ZSTD_decompress(dst, expected, src, len);
        if (ZSTD_isError(r) || r != expected)
            return RL_ERR_CODEC;
        return RL_OK;
    }
    return RL_ERR_CODEC;
}

int rl_batch_decompress_records(const uint8_t *batch, const struct rl_batch_header *h,
                                uint8_t **out, size_t *out_len)
{
    size_t total = rl_batch_total_bytes(h);
    if (total < RL_BATCH_HEADER_BYTES + SIZE_PREFIX)
        return RL_ERR_CORRUPT;
    uint32_t expected = rl_le32(batch + RL_BATCH_HEADER_BYTES);
    if (expected == 0 || expected > RL_BATCH_MAX_DECOMPRESSED)
        return RL_ERR_CORRUPT;
    uint8_t *dst = malloc(expected);
    if (!dst)
        return RL_ERR_NOMEM;
    const uint8_t *src = batch + RL_BATCH_HEADER_BYTES + SIZE_PREFIX;
    size_t src_len = total - RL_BATCH_HEADER_BYTES - SIZE_PREFIX;
    int status = decompress_block(rl_batch_codec(h), src, src_len, dst, expected);
    if (status != RL_OK) {
        free(dst);
        return status;
    }
    *out = dst;
    *out_len = expected;
    return RL_OK;
}
