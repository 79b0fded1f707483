#include "frame_iov.h"

#include <stdlib.h>
#include <string.h>

#include "frame.h"

struct iov_sink {
    ProtobufCBuffer base;
    struct rl_frame_iov *f;
    size_t min_ref;
    int failed;
};

static int add_piece(struct rl_frame_iov *f, const uint8_t *ref, size_t off, size_t len)
{
    /* Consecutive scratch appends grow the last piece. */
    if (!ref && f->piece_count > 0) {
        struct rl_frame_piece *last = &f->pieces[f->piece_count - 1];
        if (!last->ref && last->off + last->len == off) {
            last->len += len;
            return 0;
        }
    }
    if (f->piece_count == f->piece_cap) {
        size_t cap = f->piece_cap ? f->piece_cap * 2 : 8;
        struct rl_frame_piece *grown = realloc(f->pieces, cap * sizeof(*grown));
        if (!grown)
            return -1;
        f->pieces = grown;
        f->piece_cap = cap;
    }
    f->pieces[f->piece_count++] = (struct rl_frame_piece){.ref = ref, .off = off, .len = len};
    return 0;
}

static int copy_in(struct rl_frame_iov *f, const uint8_t *data, size_t len)
{
    if (f->scratch_cap - f->scratch_len < len) {
        size_t cap = f->scratch_cap * 2 + len;
        uint8_t *grown = realloc(f->scratch, cap);
        if (!grown)
            return -1;
        f->scratch = grown;
        f->scratch_cap = cap;
    }
    size_t off = f->scratch_len;
    memcpy(f->scratch + off, data, len);
    f->scratch_len += len;
    return add_piece(f, NULL, off, len);
}

static void sink_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    struct iov_sink *s = (struct iov_sink *)buffer;
    if (s->failed || len == 0)
        return;
    int rc = len >= s->min_ref ? add_piece(s->f, data, 0, len) : copy_in(s->f, data, len);
    if (rc != 0)
        s->failed = 1;
}

int rl_frame_pack_iov(struct rl_frame_iov *f, const ProtobufCMessage *msg, size_t min_ref)
{
    memset(f, 0, sizeof(*f));
    size_t body = protobuf_c_message_get_packed_size(msg);
    f->scratch_cap = 256;
    f->scratch = malloc(f->scratch_cap);
    if (!f->scratch)
        return -1;
    uint8_t header[RL_FRAME_HEADER_BYTES];
    rl_frame_write_header(header, (uint32_t)body);
    struct iov_sink sink = {.base = {.append = sink_append}, .f = f, .min_ref = min_ref};
    sink_append(&sink.base, sizeof(header), header);
    protobuf_c_message_pack_to_buffer(msg, &sink.base);
    if (!sink.failed) {
        f->iov = malloc(f->piece_count * sizeof(*f->iov));
        sink.failed = f->iov == NULL;
    }
    if (sink.failed) {
        rl_frame_iov_free(f);
        return -1;
    }
    for (size_t i = 0; i < f->piece_count; i++) {
        const struct rl_frame_piece *p = &f->pieces[i];
        f->iov[i].iov_base = (void *)(p->ref ? p->ref : f->scratch + p->off);
        f->iov[i].iov_len = p->len;
        f->total += p->len;
    }
    f->iov_count = (int)f->piece_count;
    return 0;
}

void rl_frame_iov_free(struct rl_frame_iov *f)
{
    free(f->scratch);
    free(f->pieces);
    free(f->iov);
    memset(f, 0, sizeof(*f));
}
