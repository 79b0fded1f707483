/*
 * Packs a message as a frame into an iovec list without copying its large
 * `bytes` fields: protobuf-c hands every bytes field to the output buffer as
 * (pointer, length) of the caller's own memory, so record batches of a fetch
 * response are referenced where they lie and go to the socket by
 * sendmsg/writev, while the small protobuf head around them is packed into
 * a scratch buffer. The referenced memory must outlive the send.
 */
#ifndef RINGLOG_PROTO_FRAME_IOV_H
#define RINGLOG_PROTO_FRAME_IOV_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Bytes fields at least this long are referenced, not copied. */
#define RL_FRAME_IOV_DEFAULT_MIN_REF 4096u

struct rl_frame_piece {
    const uint8_t *ref; /* NULL: bytes [off, off + len) of scratch */
    size_t off;
    size_t len;
};

struct rl_frame_iov {
    uint8_t *scratch;
    size_t scratch_len, scratch_cap;
    struct rl_frame_piece *pieces;
    size_t piece_count, piece_cap;
    struct iovec *iov; /* valid after a successful pack */
    int iov_count;
    size_t total; /* frame bytes, header included */
};

/* Returns 0, or -1 when out of memory (f is then empty). */
int rl_frame_pack_iov(struct rl_frame_iov *f, const ProtobufCMessage *msg, size_t min_ref);

void rl_frame_iov_free(struct rl_frame_iov *f);

#endif
