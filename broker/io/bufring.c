#include "bufring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int bufring_init(struct bufring *b, struct io_uring *ring, uint16_t group_id, uint32_t count,
                 uint32_t size)
{
    memset(b, 0, sizeof(*b));
    b->ring_bytes = count * sizeof(struct io_uring_buf);
    void *mem =
        mmap(NULL, b->ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    b->ring = mem;
    b->memory = malloc((size_t)count * size);
    if (!b->memory) {
        munmap(mem, b->ring_bytes);
        return -ENOMEM;
    }
    b->count = count;
    b->size = size;
    b->group_id = group_id;
    io_uring_buf_ring_init(b->ring);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)b->ring, .ring_entries = count, .bgid = group_id};
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc < 0) {
        free(b->memory);
        munmap(mem, b->ring_bytes);
        b->memory = NULL;
        return rc;
    }
    int mask = io_uring_buf_ring_mask(count);
    for (uint32_t i = 0; i < count; i++)
        io_uring_buf_ring_add(b->ring, bufring_buffer(b, (uint16_t)i), size, (unsigned short)i,
                              mask, (int)i);
    io_uring_buf_ring_advance(b->ring, (int)count);
    return 0;
}

void bufring_recycle(struct bufring *b, uint16_t id)
{
    io_uring_buf_ring_add(b->ring, bufring_buffer(b, id), b->size, id,
                          io_uring_buf_ring_mask(b->count), 0);
    io_uring_buf_ring_advance(b->ring, 1);
}

void bufring_destroy(struct bufring *b, struct io_uring *ring)
{
    if (!b->memory)
        return;
    io_uring_unregister_buf_ring(ring, b->group_id);
    munmap(b->ring, b->ring_bytes);
    free(b->memory);
    b->memory = NULL;
}
