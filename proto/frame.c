#include "frame.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "endian_le.h"

/*
 * Reassembly buffers grow in steps of at least MIN_GROWTH. A new buffer is
 * sized for the whole frame up to EAGER_BYTES, so the common produce frame
 * (up to a few hundred KiB) is never moved by realloc while it arrives;
 * beyond that it grows as bytes arrive, so an announced length alone cannot
 * make the broker commit memory. A reader receiving straight into the
 * buffer (rl_frame_decoder_body_room) gets room for at most as many bytes
 * as have arrived, or DIRECT_STEP, so the same holds.
 */
enum { MIN_GROWTH = 64 * 1024, EAGER_BYTES = 1 << 20, DIRECT_STEP = 256 * 1024 };

void rl_frame_decoder_init(struct rl_frame_decoder *d, uint32_t max_frame_bytes)
{
    memset(d, 0, sizeof(*d));
    d->max_frame_bytes = max_frame_bytes ? max_frame_bytes : RL_FRAME_DEFAULT_MAX_BYTES;
}

void rl_frame_decoder_destroy(struct rl_frame_decoder *d)
{
    free(d->body);
    d->body = NULL;
    d->body_cap = 0;
}

/* Checks the announced length; sets the sticky error when it is not acceptable. */
static int accept_length(struct rl_frame_decoder *d, uint32_t len)
{
    if (len == 0)
        d->error = RL_ERR_EMPTY;
    else if (len > d->max_frame_bytes)
        d->error = RL_ERR_OVERSIZED;
    return d->error;
}

/* Makes room for `need` body bytes, growing geometrically but never past body_len. */
static int reserve_body(struct rl_frame_decoder *d, uint32_t need)
{
    if (need <= d->body_cap)
        return RL_OK;
    uint64_t cap = (uint64_t)d->body_cap * 2;
    if (cap < need)
        cap = need;
    if (cap < MIN_GROWTH)
        cap = MIN_GROWTH;
    if (d->body_cap == 0 && cap < EAGER_BYTES)
        cap = EAGER_BYTES;
    if (cap > d->body_len)
        cap = d->body_len;
    uint8_t *body = realloc(d->body, (size_t)cap);
    if (!body) {
        d->error = RL_ERR_NOMEM;
        return d->error;
    }
    d->body = body;
    d->body_cap = (uint32_t)cap;
    return RL_OK;
}

/* Continues a frame that began in an earlier input. */
static int continue_partial(struct rl_frame_decoder *d, const uint8_t **in, size_t *in_len,
                            const uint8_t **frame, size_t *frame_len)
{
    while (d->header_have < RL_FRAME_HEADER_BYTES) {
        if (*in_len == 0)
            return RL_NEED_MORE;
        d->header[d->header_have++] = **in;
        (*in)++;
        (*in_len)--;
        if (d->header_have == RL_FRAME_HEADER_BYTES) {
            d->body_len = rl_be32(d->header);
            if (accept_length(d, d->body_len) != RL_OK)
                return d->error;
        }
    }
    uint32_t want = d->body_len - d->body_have;
    uint32_t take = *in_len < want ? (uint32_t)*in_len : want;
    if (take > 0) {
        if (reserve_body(d, d->body_have + take) != RL_OK)
            return d->error;
        memcpy(d->body + d->body_have, *in, take);
        d->body_have += take;
        *in += take;
        *in_len -= take;
    }
    if (d->body_have < d->body_len)
        return RL_NEED_MORE;
    *frame = d->body;
    *frame_len = d->body_len;
    d->header_have = 0;
    d->body_have = 0;
    d->body_len = 0;
    return RL_OK;
}

int rl_frame_decoder_next(struct rl_frame_decoder *d, const uint8_t **in, size_t *in_len,
                          const uint8_t **frame, size_t *frame_len)
{
    if (d->error)
        return d->error;
    if (d->header_have > 0)
        return continue_partial(d, in, in_len, frame, frame_len);
    if (*in_len == 0)
        return RL_NEED_MORE;
    if (*in_len >= RL_FRAME_HEADER_BYTES) {
        uint32_t len = rl_be32(*in);
        if (accept_length(d, len) != RL_OK)
            return d->error;
        if (*in_len - RL_FRAME_HEADER_BYTES >= len) {
            /* The whole frame is here: hand it out in place. */
            *frame = *in + RL_FRAME_HEADER_BYTES;
            *frame_len = len;
            *in += RL_FRAME_HEADER_BYTES + len;
            *in_len -= RL_FRAME_HEADER_BYTES + len;
            return RL_OK;
        }
    }
    return continue_partial(d, in, in_len, frame, frame_len);
}

size_t rl_frame_decoder_body_room(struct rl_frame_decoder *d, uint8_t **dst)
{
    if (d->error || d->header_have < RL_FRAME_HEADER_BYTES || d->body_have >= d->body_len)
        return 0;
    uint32_t missing = d->body_len - d->body_have;
    uint32_t step = d->body_have > DIRECT_STEP ? d->body_have : DIRECT_STEP;
    if (reserve_body(d, d->body_have + (missing < step ? missing : step)) != RL_OK)
        return 0;
    uint32_t room = d->body_cap - d->body_have;
    *dst = d->body + d->body_have;
    return room < missing ? room : missing;
}

void rl_frame_decoder_received(struct rl_frame_decoder *d, size_t n)
{
    assert(d->header_have == RL_FRAME_HEADER_BYTES && n <= d->body_cap - d->body_have &&
           n <= d->body_len - d->body_have);
    d->body_have += (uint32_t)n;
}

bool rl_frame_decoder_give_buffer(struct rl_frame_decoder *d, uint8_t *buf, uint32_t cap)
{
    if (d->body != NULL || d->body_have > 0)
        return false;
    d->body = buf;
    d->body_cap = cap;
    return true;
}

uint8_t *rl_frame_decoder_take_frame(struct rl_frame_decoder *d, const uint8_t *frame)
{
    if (frame == NULL || frame != d->body)
        return NULL;
    uint8_t *body = d->body;
    d->body = NULL;
    d->body_cap = 0;
    return body;
}

int rl_frame_decoder_finish(const struct rl_frame_decoder *d)
{
    if (d->error)
        return d->error;
    return d->header_have > 0 ? RL_ERR_TRUNCATED : RL_OK;
}

size_t rl_frame_size(const ProtobufCMessage *msg)
{
    return RL_FRAME_HEADER_BYTES + protobuf_c_message_get_packed_size(msg);
}

void rl_frame_write_header(uint8_t *out, uint32_t body_len)
{
    rl_put_be32(out, body_len);
}

size_t rl_frame_write(const ProtobufCMessage *msg, uint8_t *out)
{
    size_t body = protobuf_c_message_pack(msg, out + RL_FRAME_HEADER_BYTES);
    rl_frame_write_header(out, (uint32_t)body);
    return RL_FRAME_HEADER_BYTES + body;
}

Ringlog__Request *rl_request_decode(const uint8_t *frame, size_t len, ProtobufCAllocator *allocator,
                                    int *status)
{
    Ringlog__Request *req = ringlog__request__unpack(allocator, len, frame);
    if (req && req->body_case == RINGLOG__REQUEST__BODY__NOT_SET) {
        ringlog__request__free_unpacked(req, allocator);
        req = NULL;
    }
    *status = req ? RL_OK : RL_ERR_UNDECODABLE;
    return req;
}

Ringlog__Response *rl_response_decode(const uint8_t *frame, size_t len,
                                      ProtobufCAllocator *allocator, int *status)
{
    Ringlog__Response *resp = ringlog__response__unpack(allocator, len, frame);
    *status = resp ? RL_OK : RL_ERR_UNDECODABLE;
    return resp;
}
