/*
 * Variable-length integers of the record format: unsigned LEB128 (7 bits a
 * byte, least significant group first, at most 10 bytes) and zigzag for
 * signed values, so that small negative numbers stay short.
 */
#ifndef RINGLOG_PROTO_VARINT_H
#define RINGLOG_PROTO_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define RL_VARINT_MAX_BYTES 10

/*
 * Writes v at out (which has room for RL_VARINT_MAX_BYTES); returns bytes
 * written. Inline, like rl_varint_size: a producer encodes several varints
 * per record, and a call each was a tenth of its CPU at 100-byte records.
 */
static inline size_t rl_varint_put(uint8_t *out, uint64_t v)
{
    if (v < 0x4000) { /* lengths and deltas of small records: one or two bytes, no loop */
        if (v < 0x80) {
            out[0] = (uint8_t)v;
            return 1;
        }
        out[0] = (uint8_t)(v | 0x80);
        out[1] = (uint8_t)(v >> 7);
        return 2;
    }
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/*
 * Bytes rl_varint_put would write for v: ceil(bits / 7), at least one.
 * With l = floor(log2(v)), (9 l + 73) / 64 is that quotient without a
 * division (the same identity protobuf uses; tests check every boundary).
 */
static inline size_t rl_varint_size(uint64_t v)
{
    unsigned log2 = 63u - (unsigned)__builtin_clzll(v | 1);
    return (log2 * 9 + 73) / 64;
}

/*
 * Reads a varint from [*pos, end). On success advances *pos and returns 0.
 * Returns -1 on truncation or on an encoding longer than 10 bytes or one that
 * overflows 64 bits; *pos is then unchanged.
 */
int rl_varint_get_long(const uint8_t **pos, const uint8_t *end, uint64_t *v);

/* Inline for the one- and two-byte varints that most record fields are: a
 * consumer reads several per record, and a call each was a tenth of its CPU. */
static inline int rl_varint_get(const uint8_t **pos, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pos;
    if (end - p >= 1 && p[0] < 0x80) {
        *v = p[0];
        *pos = p + 1;
        return 0;
    }
    if (end - p >= 2 && p[1] < 0x80) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        *pos = p + 2;
        return 0;
    }
    return rl_varint_get_long(pos, end, v);
}

static inline uint64_t rl_zigzag_encode(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0 - (u >> 63));
}

static inline int64_t rl_zigzag_decode(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
