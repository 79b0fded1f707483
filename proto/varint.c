#include "varint.h"

int rl_varint_get_long(const uint8_t **pos, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pos;
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t byte = *p++;
        /* The tenth byte may carry only the top bit of a 64-bit value. */
        if (shift == 63 && byte > 1)
            return -1;
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = result;
            *pos = p;
            return 0;
        }
    }
    return -1;
}
