/*
 * The few protobuf wire-format reading steps the copy-free parsers
 * (produce_parse.c, fetch_parse.c) share: fields of varint and
 * length-delimited type, strings copied into an arena as protobuf-c makes
 * them, and growing pointer arrays for repeated fields.
 */
#ifndef RINGLOG_PROTO_PB_READER_H
#define RINGLOG_PROTO_PB_READER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "varint.h"

enum wire_type { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* A cursor over one message's bytes. */
struct pb_reader {
    const uint8_t *pos, *end;
};

/* One field: its number and wire type, and its value (varint or span). */
struct pb_field {
    uint32_t number;
    uint32_t wire;
    uint64_t varint;
    const uint8_t *data;
    size_t len;
};

/* Reads the next field; returns 1 for a field, 0 at the end, -1 when the
 * bytes are not a field of a wire type this parser takes. */
static inline int pb_next(struct pb_reader *r, struct pb_field *f)
{
    if (r->pos == r->end)
        return 0;
    uint64_t key;
    if (rl_varint_get(&r->pos, r->end, &key) != 0 || key >> 32 != 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (f->wire == WIRE_VARINT)
        return rl_varint_get(&r->pos, r->end, &f->varint) == 0 ? 1 : -1;
    if (f->wire != WIRE_LEN)
        return -1;
    uint64_t len;
    if (rl_varint_get(&r->pos, r->end, &len) != 0 || len > (uint64_t)(r->end - r->pos))
        return -1;
    f->data = r->pos;
    f->len = (size_t)len;
    r->pos += len;
    return 1;
}

/* The arena's copy of a string field, NUL-terminated as protobuf-c makes it. */
static inline char *arena_string(struct rl_arena *a, const struct pb_field *f)
{
    char *s = rl_arena_alloc(a, f->len + 1);
    if (s) {
        memcpy(s, f->data, f->len);
        s[f->len] = 0;
    }
    return s;
}

/*
 * A growing array of pointers in the arena. Repeated fields arrive one at a
 * time and their count is unknown up front; doubling keeps it linear.
 */
struct ptr_list {
    void **items;
    size_t n, cap;
};

static inline int ptr_list_push(struct rl_arena *a, struct ptr_list *l, void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        void **items = rl_arena_alloc(a, cap * sizeof(*items));
        if (!items)
            return -1;
        if (l->n)
            memcpy(items, l->items, l->n * sizeof(*items));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return 0;
}

/* What the parsers return; produce_parse.h and fetch_parse.h use the same values. */
enum { PB_PARSE_OK = 0, PB_PARSE_FALLBACK = 1, PB_PARSE_NOMEM = -1 };

/*
 * A message of the shape {string name = 1; repeated Child children = 2;}
 * (a topic and its partitions, in both produce requests and fetch
 * responses): the name into *name, each child parsed by `child` and pushed
 * onto `children`. Any other field falls back.
 */
static inline int pb_parse_named_list(const struct pb_field *outer, struct rl_arena *a, char **name,
                                      struct ptr_list *children,
                                      int (*child)(const struct pb_field *, struct rl_arena *,
                                                   void **))
{
    struct pb_reader r = {outer->data, outer->data + outer->len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_LEN) {
            if (!(*name = arena_string(a, &f)))
                return PB_PARSE_NOMEM;
        } else if (f.number == 2 && f.wire == WIRE_LEN) {
            void *item;
            int crc = child(&f, a, &item);
            if (crc != PB_PARSE_OK)
                return crc;
            if (ptr_list_push(a, children, item) != 0)
                return PB_PARSE_NOMEM;
        } else {
            return PB_PARSE_FALLBACK;
        }
    }
    return rc < 0 ? PB_PARSE_FALLBACK : PB_PARSE_OK;
}

#endif
