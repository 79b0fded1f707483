/*
 * A bump allocator for protobuf-c. protobuf-c allocates once per decoded
 * message, field array and bytes/string field; a connection decodes many
 * requests a second, so it gets one arena, reset after each request: the
 * allocations become pointer bumps and freeing becomes one reset.
 *
 * The arena keeps its first chunk across resets. It refuses to grow past
 * `limit` bytes, which bounds what one request can make the broker allocate.
 */
#ifndef RINGLOG_PROTO_ARENA_H
#define RINGLOG_PROTO_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct rl_arena_chunk;

struct rl_arena {
    struct rl_arena_chunk *head; /* newest chunk; the oldest is kept on reset */
    size_t chunk_bytes;
    size_t limit;
    size_t reserved; /* bytes of all chunks */
    ProtobufCAllocator allocator;
};

void rl_arena_init(struct rl_arena *a, size_t chunk_bytes, size_t limit);

/* NULL when the limit would be passed or malloc fails. Aligned to max_align_t. */
void *rl_arena_alloc(struct rl_arena *a, size_t size);

/* Frees everything allocated since init, keeping the first chunk. */
void rl_arena_reset(struct rl_arena *a);

void rl_arena_destroy(struct rl_arena *a);

static inline ProtobufCAllocator *rl_arena_allocator(struct rl_arena *a)
{
    return &a->allocator;
}

#endif
