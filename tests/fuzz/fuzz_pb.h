/*
 * What the two differential targets (fuzz_produce.c, fuzz_fetch.c) share:
 * their arena, the "points into the input" check, and the test for a
 * canonical message, one that protobuf-c would write byte for byte.
 */
#ifndef RINGLOG_TESTS_FUZZ_PB_H
#define RINGLOG_TESTS_FUZZ_PB_H

#include <protobuf-c/protobuf-c.h>
#include <string.h>

#include "arena.h"
#include "fuzz_check.h"

/* The broker's request arena limit (broker/request.c); NOMEM below
 * FUZZ_ARENA_LIMIT / 64 input bytes would be a finding. */
enum { FUZZ_ARENA_CHUNK = 2048, FUZZ_ARENA_LIMIT = 64 << 20 };

/* One arena for the process, reset by the caller after each input. */
static inline struct rl_arena *fuzz_arena(void)
{
    static struct rl_arena arena;
    static int ready;
    if (!ready) {
        rl_arena_init(&arena, FUZZ_ARENA_CHUNK, FUZZ_ARENA_LIMIT);
        ready = 1;
    }
    return &arena;
}

/* Whether [p, p + n) lies inside [data, data + size). */
static inline int fuzz_inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    return n == 0 || (p >= data && n <= size && (size_t)(p - data) <= size - n);
}

/* Whether msg and every message below it have no unknown fields. */
static inline int fuzz_no_unknown_fields(const ProtobufCMessage *msg)
{
    if (msg->n_unknown_fields)
        return 0;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *at = (const char *)msg + f->offset;
        size_t n = 1;
        const ProtobufCMessage *const *items = (const ProtobufCMessage *const *)at;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)msg + f->quantifier_offset);
            items = *(const ProtobufCMessage *const *const *)at;
        }
        for (size_t k = 0; k < n; k++)
            if (items[k] && !fuzz_no_unknown_fields(items[k]))
                return 0;
    }
    return 1;
}

/*
 * Whether data is msg as protobuf-c writes it: packing msg gives the same
 * bytes, and there is no unknown field (protobuf-c keeps those and writes
 * them back, but no parse of ours takes them).
 */
static inline int fuzz_canonical(const ProtobufCMessage *msg, const uint8_t *data, size_t size)
{
    if (!fuzz_no_unknown_fields(msg) || protobuf_c_message_get_packed_size(msg) != size)
        return 0;
    uint8_t *again = malloc(size ? size : 1);
    FUZZ_CHECK(again != NULL);
    int same = protobuf_c_message_pack(msg, again) == size && memcmp(again, data, size) == 0;
    free(again);
    return same;
}

#endif
