/*
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING): the kernel picks a
 * free buffer for each multishot recv completion, so an idle connection
 * holds no receive memory. The ring is sized once, at shard start.
 */
#ifndef RINGLOG_BROKER_BUFRING_H
#define RINGLOG_BROKER_BUFRING_H

#include <liburing.h>
#include <stdint.h>

struct bufring {
    struct io_uring_buf_ring *ring;
    uint8_t *memory;
    uint32_t count;
    uint32_t size;
    uint16_t group_id;
    size_t ring_bytes;
};

/* count must be a power of two. Returns 0 or -errno. */
int bufring_init(struct bufring *b, struct io_uring *ring, uint16_t group_id, uint32_t count,
                 uint32_t size);
void bufring_destroy(struct bufring *b, struct io_uring *ring);

static inline uint8_t *bufring_buffer(struct bufring *b, uint16_t id)
{
    return b->memory + (size_t)id * b->size;
}

/* Hands buffer `id` back to the kernel. */
void bufring_recycle(struct bufring *b, uint16_t id);

#endif
