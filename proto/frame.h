/*
 * Framing: every message on a connection is a 4-byte big-endian length N
 * followed by N bytes of protobuf (a Request or a Response envelope).
 *
 * The decoder is incremental: feed it bytes as they arrive, in any split.
 * A frame that arrives whole inside one input is returned in place (no
 * copy); only a frame split across inputs is reassembled in the decoder's
 * own buffer, which grows with the bytes actually received (never to the
 * announced length up front) and never past max_frame_bytes.
 */
#ifndef RINGLOG_PROTO_FRAME_H
#define RINGLOG_PROTO_FRAME_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlog.pb-c.h"
#include "status.h"

#define RL_FRAME_HEADER_BYTES 4u
#define RL_FRAME_DEFAULT_MAX_BYTES (16u << 20)

struct rl_frame_decoder {
    uint32_t max_frame_bytes;
    uint8_t header[RL_FRAME_HEADER_BYTES];
    uint32_t header_have;
    uint32_t body_len;  /* announced length of the frame being reassembled */
    uint32_t body_have; /* bytes of it received so far */
    uint8_t *body;
    uint32_t body_cap;
    int error; /* sticky: once a stream is bad it stays bad */
};

void rl_frame_decoder_init(struct rl_frame_decoder *d, uint32_t max_frame_bytes);
void rl_frame_decoder_destroy(struct rl_frame_decoder *d);

/*
 * Takes bytes from (*in, *in_len), advancing both, until one frame is whole.
 * Returns:
 *   RL_OK            frame and frame_len hold the frame's body (valid until the
 *                    next call or until the input buffer is reused)
 *   RL_NEED_MORE     the input is used up; a partial frame is kept
 *   RL_ERR_EMPTY     a zero-length frame
 *   RL_ERR_OVERSIZED the announced length is over max_frame_bytes
 *   RL_ERR_NOMEM     reassembly buffer could not grow
 * Errors are sticky: the stream cannot be resynchronised, close it.
 */
int rl_frame_decoder_next(struct rl_frame_decoder *d, const uint8_t **in, size_t *in_len,
                          const uint8_t **frame, size_t *frame_len);

/*
 * When `frame` (just returned by rl_frame_decoder_next) was reassembled in
 * the decoder's own buffer, hands that buffer over: the caller owns and
 * frees it, and the decoder starts a new one for the next frame. Returns
 * NULL when the frame lies in the caller's input instead.
 */
uint8_t *rl_frame_decoder_take_frame(struct rl_frame_decoder *d, const uint8_t *frame);

/*
 * Gives a decoder without a buffer (just after take_frame) a used one of
 * `cap` bytes to reassemble into, so a reader that takes many large frames
 * does not fault in fresh pages for each. False (the caller keeps buf) when
 * the decoder has a buffer already.
 */
bool rl_frame_decoder_give_buffer(struct rl_frame_decoder *d, uint8_t *buf, uint32_t cap);

/*
 * For a reader that can receive straight into the frame being reassembled
 * (saving the copy out of its own read buffer): when a frame's header is
 * in and its body incomplete, sets *dst to where the next body bytes go and
 * returns how many fit there (at most the bytes still missing; the buffer
 * grows with what has arrived, as for rl_frame_decoder_next, so an
 * announced length alone allocates little). Returns 0 otherwise. After
 * receiving n (<= that) bytes at *dst, call rl_frame_decoder_received; the
 * next rl_frame_decoder_next (even with no input) returns the frame once
 * it is whole.
 */
size_t rl_frame_decoder_body_room(struct rl_frame_decoder *d, uint8_t **dst);
void rl_frame_decoder_received(struct rl_frame_decoder *d, size_t n);

/* At end of stream: RL_OK when no partial frame is pending, else RL_ERR_TRUNCATED. */
int rl_frame_decoder_finish(const struct rl_frame_decoder *d);

/* Bytes of frame size a message will take (header plus protobuf). */
size_t rl_frame_size(const ProtobufCMessage *msg);

/* Writes header and message at out (rl_frame_size bytes); returns bytes written. */
size_t rl_frame_write(const ProtobufCMessage *msg, uint8_t *out);

/* Writes just the 4-byte header for a body of body_len bytes. */
void rl_frame_write_header(uint8_t *out, uint32_t body_len);

/*
 * Unpacks a frame body into a Request (Response). Returns NULL with *status
 * RL_ERR_UNDECODABLE when the bytes are not a valid envelope or carry no
 * body. allocator may be NULL (malloc); free with the matching
 * ringlog__request__free_unpacked(req, allocator).
 */
Ringlog__Request *rl_request_decode(const uint8_t *frame, size_t len, ProtobufCAllocator *allocator,
                                    int *status);
Ringlog__Response *rl_response_decode(const uint8_t *frame, size_t len,
                                      ProtobufCAllocator *allocator, int *status);

#endif
