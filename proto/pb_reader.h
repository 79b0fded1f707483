/*
 * The few protobuf wire-format reading steps the copy-free parsers
 * (produce_parse.c, fetch_parse.c) share: fields of varint and
 * length-delimited type, strings copied into an arena as protobuf-c makes
 * them, and growing pointer arrays for repeated fields.
 */
#ifndef RINGLOG_PROTO_PB_READER_H
#define RINGLOG_PROTO_PB_READER_H

#include <stdbool.h>
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

/*
 * protobuf-c reads a field key or a length prefix from at most 5 bytes and
 * refuses a longer (overlong, zero-padded) encoding that rl_varint_get
 * would take; reading one the same way keeps the in-place parsers from
 * accepting a frame protobuf-c refuses.
 */
enum { PB_MAX_KEY_OR_LENGTH_BYTES = 5 };

static inline int pb_get_short_varint(const uint8_t **pos, const uint8_t *end, uint64_t *v)
{
    const uint8_t *start = *pos;
    return rl_varint_get(pos, end, v) == 0 && *pos - start <= PB_MAX_KEY_OR_LENGTH_BYTES ? 0 : -1;
}

/* Reads the next field; returns 1 for a field, 0 at the end, -1 when the
 * bytes are not a field of a wire type this parser takes. */
static inline int pb_next(struct pb_reader *r, struct pb_field *f)
{
    if (r->pos == r->end)
        return 0;
    uint64_t key;
    if (pb_get_short_varint(&r->pos, r->end, &key) != 0 || key >> 32 != 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (f->wire == WIRE_VARINT)
        return rl_varint_get(&r->pos, r->end, &f->varint) == 0 ? 1 : -1;
    if (f->wire != WIRE_LEN)
        return -1;
    uint64_t len;
    if (pb_get_short_varint(&r->pos, r->end, &len) != 0 || len > (uint64_t)(r->end - r->pos))
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

/* Parses one child message with `child` and pushes it onto `children`. */
static inline int pb_parse_child(const struct pb_field *f, struct rl_arena *a,
                                 struct ptr_list *children,
                                 int (*child)(const struct pb_field *, struct rl_arena *, void **))
{
    void *item;
    int rc = child(f, a, &item);
    if (rc != PB_PARSE_OK)
        return rc;
    return ptr_list_push(a, children, item) == 0 ? PB_PARSE_OK : PB_PARSE_NOMEM;
}

/*
 * The envelope both Request and Response share: {uint64 correlation_id = 1;
 * a varint = 2 (api_version, or error); string = 3 (client_id, or
 * error_message); oneof body}. Read without allocating, so a frame whose
 * body is not `body_number` falls back at no cost; the body must come once.
 */
struct pb_envelope {
    uint64_t correlation_id;
    uint64_t field2;
    struct pb_field text; /* field 3, when have_text */
    struct pb_field body;
    bool have_text;
};

static inline int pb_read_envelope(const uint8_t *frame, size_t len, uint32_t body_number,
                                   struct pb_envelope *e)
{
    memset(e, 0, sizeof(*e));
    bool have_body = false;
    struct pb_reader r = {frame, frame + len};
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == WIRE_VARINT) {
            e->correlation_id = f.varint;
        } else if (f.number == 2 && f.wire == WIRE_VARINT) {
            e->field2 = f.varint;
        } else if (f.number == 3 && f.wire == WIRE_LEN) {
            e->text = f;
            e->have_text = true;
        } else if (f.number == body_number && f.wire == WIRE_LEN && !have_body) {
            e->body = f;
            have_body = true;
        } else {
            return PB_PARSE_FALLBACK;
        }
    }
    return rc < 0 || !have_body ? PB_PARSE_FALLBACK : PB_PARSE_OK;
}

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
            int crc = pb_parse_child(&f, a, children, child);
            if (crc != PB_PARSE_OK)
                return crc;
        } else {
            return PB_PARSE_FALLBACK;
        }
    }
    return rc < 0 ? PB_PARSE_FALLBACK : PB_PARSE_OK;
}

#endif
