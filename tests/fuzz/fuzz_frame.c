/*
 * Fuzzes the frame decoder and envelope decoding. The first input byte
 * picks the read size so frames are split at arbitrary points; the rest is
 * the stream.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "frame.h"
#include "fuzz_check.h"
#include "peer_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = 1 + data[0];
    data++;
    size--;
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 1 << 16);
    struct rl_arena arena;
    rl_arena_init(&arena, 4096, 1 << 20);
    int status = RL_NEED_MORE;
    for (size_t pos = 0; pos < size && status >= 0; pos += piece) {
        const uint8_t *in = data + pos, *frame;
        size_t in_len = size - pos < piece ? size - pos : piece, frame_len;
        while ((status = rl_frame_decoder_next(&d, &in, &in_len, &frame, &frame_len)) == RL_OK) {
            int decode_status;
            Ringlog__Request *req =
                rl_request_decode(frame, frame_len, rl_arena_allocator(&arena), &decode_status);
            /* The broker's look at a first frame agrees with the decoder. */
            bool hello = peer_hello_in_frame(frame, frame_len);
            if (req)
                FUZZ_CHECK(hello == (req->body_case == RINGLOG__REQUEST__BODY_PEER_HELLO));
            Ringlog__Response *resp = rl_response_decode(frame, frame_len, NULL, &decode_status);
            if (resp)
                ringlog__response__free_unpacked(resp, NULL);
            rl_arena_reset(&arena);
        }
    }
    rl_frame_decoder_finish(&d);
    rl_arena_destroy(&arena);
    rl_frame_decoder_destroy(&d);
    return 0;
}
