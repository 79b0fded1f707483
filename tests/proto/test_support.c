/* varint, arena and error-table tests. */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "arena.h"
#include "checksum.h"
#include "errors.h"
#include "ringlog.pb-c.h"
#include "status.h"
#include "varint.h"

Test(varint, round_trip_edges)
{
    uint64_t values[] = {
        0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX, (1ull << 63) - 1, 1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t buf[RL_VARINT_MAX_BYTES];
        size_t n = rl_varint_put(buf, values[i]);
        cr_assert_eq(n, rl_varint_size(values[i]));
        const uint8_t *p = buf;
        uint64_t back;
        cr_assert_eq(rl_varint_get(&p, buf + n, &back), 0);
        cr_assert_eq(back, values[i]);
        cr_assert_eq(p, buf + n);
        /* Every shorter input is truncated and leaves the position alone. */
        for (size_t cut = 0; cut < n; cut++) {
            p = buf;
            cr_assert_eq(rl_varint_get(&p, buf + cut, &back), -1);
            cr_assert_eq(p, buf);
        }
    }
}

/* rl_varint_size counts bits: check it against rl_varint_put at every width boundary. */
Test(varint, size_matches_put_at_every_boundary)
{
    for (unsigned k = 1; k < 64; k++) {
        uint64_t edge = 1ull << k;
        uint64_t around[3] = {edge - 1, edge, edge + 1};
        for (int i = 0; i < 3; i++) {
            uint8_t buf[RL_VARINT_MAX_BYTES];
            cr_assert_eq(rl_varint_put(buf, around[i]), rl_varint_size(around[i]), "v=%llu",
                         (unsigned long long)around[i]);
        }
    }
    cr_assert_eq(rl_varint_size(0), 1);
    cr_assert_eq(rl_varint_size(UINT64_MAX), RL_VARINT_MAX_BYTES);
}

Test(varint, overlong_and_overflowing_encodings_rejected)
{
    uint8_t eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    uint8_t overflow[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t *p = eleven;
    uint64_t v;
    cr_assert_eq(rl_varint_get(&p, eleven + 11, &v), -1);
    p = overflow;
    cr_assert_eq(rl_varint_get(&p, overflow + 10, &v), -1);
}

Test(varint, zigzag)
{
    int64_t values[] = {0, -1, 1, -2, 2, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        cr_assert_eq(rl_zigzag_decode(rl_zigzag_encode(values[i])), values[i]);
    cr_assert_eq(rl_zigzag_encode(-1), 1);
    cr_assert_eq(rl_zigzag_encode(1), 2);
}

Test(arena, alignment_growth_limit_and_reset)
{
    struct rl_arena a;
    rl_arena_init(&a, 1024, 4096);
    for (int i = 1; i < 50; i++) {
        void *p = rl_arena_alloc(&a, (size_t)i);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0);
    }
    cr_assert_not_null(rl_arena_alloc(&a, 2000), "a large allocation gets its own chunk");
    cr_assert_null(rl_arena_alloc(&a, 4096), "the limit holds");
    rl_arena_reset(&a);
    cr_assert_eq(a.reserved, 1024);
    cr_assert_not_null(rl_arena_alloc(&a, 1000));
    cr_assert_eq(a.reserved, 1024, "reuses the kept chunk");
    cr_assert_null(rl_arena_alloc(&a, SIZE_MAX));
    rl_arena_destroy(&a);
    cr_assert_eq(a.reserved, 0);
}

Test(errors, every_wire_code_has_a_name_and_message)
{
    const ProtobufCEnumDescriptor *d = &ringlog__error_code__descriptor;
    for (unsigned i = 0; i < d->n_values; i++) {
        int code = d->values[i].value;
        cr_assert_str_eq(rl_error_name(code), d->values[i].name, "code %d", code);
        cr_assert_str_neq(rl_error_message(code), "unrecognized error code");
    }
    cr_assert_str_eq(rl_error_name(9999), "UNRECOGNIZED");
    cr_assert_str_eq(rl_error_name(-1), "UNRECOGNIZED");
}

Test(errors, batch_status_mapping)
{
    cr_assert_eq(rl_error_from_batch_status(RL_OK), RINGLOG__ERROR_CODE__NONE);
    cr_assert_eq(rl_error_from_batch_status(RL_ERR_CHECKSUM), RINGLOG__ERROR_CODE__CORRUPT_BATCH);
    cr_assert_eq(rl_error_from_batch_status(RL_ERR_TRUNCATED), RINGLOG__ERROR_CODE__CORRUPT_BATCH);
    cr_assert_eq(rl_error_from_batch_status(RL_ERR_OVERSIZED),
                 RINGLOG__ERROR_CODE__BATCH_TOO_LARGE);
    for (int s = RL_ERR_INVALID; s <= RL_END; s++)
        cr_assert_str_neq(rl_status_str(s), "unknown status");
}

/* Every checksum path gives XXH3-64 exactly, at every length and alignment
 * (the vector loops have stripes of 64 bytes and blocks of 1 KiB). */
Test(checksum, paths_agree_with_the_library)
{
    enum { MAX = 5000 };
    static uint8_t buf[MAX + 64];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    bool avx2 = strcmp(rl_checksum_path(), "avx2") == 0;
    for (size_t len = 0; len <= MAX; len += (len < 300 ? 1 : 97)) {
        for (size_t align = 0; align < 3; align++) {
            uint64_t want = XXH3_64bits(buf + align, len);
            cr_assert_eq(rl_checksum(buf + align, len), want, "len %zu", len);
            cr_assert_eq(rl_checksum_generic(buf + align, len), want, "len %zu", len);
            if (avx2)
                cr_assert_eq(rl_checksum_avx2(buf + align, len), want, "len %zu", len);
        }
    }
    cr_log_info("checksum path: %s", rl_checksum_path());
}
