/*
 * Fuzzes the batch validator and the record and header iterators. Inputs
 * are a run of batches; the fuzzer's mutations of the checksum field are
 * undone one time in two so the deeper checks get exercised too.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fuzz_check.h"

static void walk_records(struct rl_record_iter *it)
{
    struct rl_record r;
    while (rl_record_iter_next(it, &r) == RL_OK) {
        struct rl_header_iter hit;
        struct rl_header h;
        rl_header_iter_init(&hit, &r);
        while (rl_header_iter_next(&hit, &h) == RL_OK)
            ;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    /* Reseal the first batch's checksum when the input asks for it (odd length). */
    if ((size & 1) && size >= RL_BATCH_HEADER_BYTES) {
        struct rl_batch_header h;
        rl_batch_header_read(copy, size, &h);
        size_t total = rl_batch_total_bytes(&h);
        if (total >= RL_BATCH_HEADER_BYTES && total <= size) {
            uint64_t c = rl_batch_compute_checksum(copy, total);
            for (int i = 0; i < 8; i++)
                copy[RL_BATCH_OFF_CHECKSUM + i] = (uint8_t)(c >> (8 * i));
        }
    }
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, copy, size, 1 << 20);
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        struct rl_record_iter rit;
        if (rl_record_iter_init(&rit, batch, &h) == RL_OK) {
            walk_records(&rit);
            continue;
        }
        uint8_t *plain;
        size_t plain_len;
        if (rl_batch_decompress_records(batch, &h, &plain, &plain_len) == RL_OK) {
            rl_record_iter_init_raw(&rit, plain, plain_len, &h);
            walk_records(&rit);
            free(plain);
        }
    }
    free(copy);
    return 0;
}
