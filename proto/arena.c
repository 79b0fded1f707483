#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

struct rl_arena_chunk {
    struct rl_arena_chunk *prev;
    size_t size; /* usable bytes in data */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

static void *arena_pb_alloc(void *ctx, size_t size)
{
    return rl_arena_alloc(ctx, size);
}

static void arena_pb_free(void *ctx, void *ptr)
{
    /* Freed all at once by rl_arena_reset. */
    (void)ctx;
    (void)ptr;
}

void rl_arena_init(struct rl_arena *a, size_t chunk_bytes, size_t limit)
{
    a->head = NULL;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : 64 * 1024;
    a->limit = limit ? limit : SIZE_MAX;
    a->reserved = 0;
    a->allocator.alloc = arena_pb_alloc;
    a->allocator.free = arena_pb_free;
    a->allocator.allocator_data = a;
}

static struct rl_arena_chunk *arena_grow(struct rl_arena *a, size_t size)
{
    size_t usable = size > a->chunk_bytes ? size : a->chunk_bytes;
    if (usable > a->limit - a->reserved || a->reserved > a->limit)
        return NULL;
    struct rl_arena_chunk *c = malloc(sizeof(*c) + usable);
    if (!c)
        return NULL;
    c->prev = a->head;
    c->size = usable;
    c->used = 0;
    a->head = c;
    a->reserved += usable;
    return c;
}

void *rl_arena_alloc(struct rl_arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    struct rl_arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        c = arena_grow(a, size);
        if (!c)
            return NULL;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void rl_arena_reset(struct rl_arena *a)
{
    while (a->head && a->head->prev) {
        struct rl_arena_chunk *prev = a->head->prev;
        a->reserved -= a->head->size;
        free(a->head);
        a->head = prev;
    }
    if (a->head)
        a->head->used = 0;
}

void rl_arena_destroy(struct rl_arena *a)
{
    rl_arena_reset(a);
    free(a->head);
    a->head = NULL;
    a->reserved = 0;
}
