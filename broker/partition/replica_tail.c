/* A leader's newest written batches in memory (replica_tail.h). */
#include "replica_tail.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fault_alloc.h"

struct tail_chunk {
    atomic_uint refs; /* one per tail entry, one for a tail filling it, one per slice out */
    uint32_t held;    /* the tail's own of those (shard thread only): its bytes count till 0 */
    uint32_t cap, used;
    uint8_t data[];
};

static void chunk_get(struct tail_chunk *c)
{
    unsigned before = atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    assert(before > 0);
    (void)before;
}

void tail_chunk_release(void *chunk)
{
    struct tail_chunk *c = chunk;
    unsigned before = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
    assert(before > 0);
    if (before == 1)
        free(c);
}

static struct tail_entry *slot(struct replica_tail *t, uint32_t i)
{
    assert(i < REPLICA_TAIL_SLOTS);
    return &t->e[(t->head + i) % REPLICA_TAIL_SLOTS];
}

/* The tail lets go of one of its holds on c: at the last, c's bytes leave its count. */
static void unhold(struct replica_tail *t, struct tail_chunk *c, int64_t *budget)
{
    assert(c->held > 0);
    if (--c->held == 0) {
        assert(t->bytes >= c->cap);
        t->bytes -= c->cap;
        *budget += c->cap;
    }
    tail_chunk_release(c);
}

static void drop_fill(struct replica_tail *t, int64_t *budget)
{
    if (t->fill == NULL)
        return;
    unhold(t, t->fill, budget);
    t->fill = NULL;
}

static void drop_oldest(struct replica_tail *t, int64_t *budget)
{
    assert(t->count > 0);
    struct tail_entry *e = slot(t, 0);
    unhold(t, e->chunk, budget);
    *e = (struct tail_entry){0};
    t->head = (t->head + 1) % REPLICA_TAIL_SLOTS;
    t->count--;
}

void replica_tail_clear(struct replica_tail *t, int64_t *budget)
{
    while (t->count > 0)
        drop_oldest(t, budget);
    drop_fill(t, budget);
    assert(t->bytes == 0);
}

int64_t replica_tail_start(const struct replica_tail *t)
{
    assert(t->count <= REPLICA_TAIL_SLOTS);
    return t->count > 0 ? t->e[t->head].base : INT64_MAX;
}

int64_t replica_tail_end(const struct replica_tail *t)
{
    assert(t->count <= REPLICA_TAIL_SLOTS);
    return t->count > 0 ? t->e[(t->head + t->count - 1) % REPLICA_TAIL_SLOTS].end : -1;
}

void replica_tail_trim(struct replica_tail *t, int64_t below, int64_t *budget)
{
    while (t->count > 0 && slot(t, 0)->end <= below)
        drop_oldest(t, budget); /* the fill chunk stays: the next entries go there */
}

/* A chunk with room for len more bytes, within the budget; NULL when none may be had. */
static struct tail_chunk *room_for(struct replica_tail *t, size_t len, int64_t *budget)
{
    if (t->fill != NULL && t->fill->cap - t->fill->used >= len)
        return t->fill;
    /* A chunk filled up: the next is twice as large. The first after an empty tail is small. */
    uint32_t step = t->fill != NULL ? 2 * t->fill->cap : REPLICA_TAIL_FIRST_CHUNK_BYTES;
    step = step < REPLICA_TAIL_CHUNK_BYTES ? step : REPLICA_TAIL_CHUNK_BYTES;
    drop_fill(t, budget);
    uint32_t cap = len > step ? (uint32_t)len : step;
    if ((int64_t)cap > *budget)
        return NULL;
    struct tail_chunk *c = FAULT_ALLOC(malloc(sizeof(*c) + cap));
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1);
    c->held = 1;
    c->cap = cap;
    c->used = 0;
    t->fill = c;
    t->bytes += cap;
    *budget -= cap;
    return c;
}

bool replica_tail_add(struct replica_tail *t, int64_t base, int64_t end, const uint8_t *data,
                      size_t len, int64_t *budget)
{
    assert(base < end && len > 0);
    if (t->count > 0 && slot(t, t->count - 1)->end != base)
        replica_tail_clear(t, budget); /* a gap: what is here no longer leads up to base */
    if (len > REPLICA_TAIL_MAX_BYTES) {
        replica_tail_clear(t, budget);
        return false;
    }
    /* Old entries go first, then whole chunks, until a new one fits. */
    while (t->count > 0 &&
           (t->count == REPLICA_TAIL_SLOTS || t->bytes + len > REPLICA_TAIL_MAX_BYTES))
        drop_oldest(t, budget);
    struct tail_chunk *c = room_for(t, len, budget);
    if (c == NULL) {
        replica_tail_clear(t, budget);
        return false;
    }
    assert(c->cap - c->used >= len && t->count < REPLICA_TAIL_SLOTS);
    memcpy(c->data + c->used, data, len);
    chunk_get(c);
    c->held++;
    *slot(t, t->count++) = (struct tail_entry){
        .base = base, .end = end, .chunk = c, .pos = c->used, .len = (uint32_t)len};
    c->used += (uint32_t)len;
    return true;
}

bool replica_tail_find(struct replica_tail *t, int64_t from, int64_t to, size_t max_bytes,
                       struct tail_slice *out)
{
    uint32_t i = 0;
    while (i < t->count && slot(t, i)->base < from)
        i++;
    if (i == t->count || slot(t, i)->base != from || slot(t, i)->end > to)
        return false;
    struct tail_entry *first = slot(t, i);
    size_t len = first->len;
    int64_t end = first->end;
    for (uint32_t j = i + 1; j < t->count; j++) {
        struct tail_entry *e = slot(t, j);
        /* Contiguous in the same chunk: entries are copied in order. */
        if (e->chunk != first->chunk || e->end > to || len + e->len > max_bytes)
            break;
        assert(e->base == end && e->pos == first->pos + len);
        len += e->len;
        end = e->end;
    }
    chunk_get(first->chunk);
    *out = (struct tail_slice){
        .data = first->chunk->data + first->pos, .len = len, .end = end, .chunk = first->chunk};
    return true;
}
