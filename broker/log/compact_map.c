/*
 * The compaction key map (compact_map.h): open addressing with linear
 * probing over digests that are already uniformly distributed.
 */
#include "compact_map.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Slots for n keys at a load of at most 3/4. */
static uint32_t slots_for(uint32_t n)
{
    uint64_t want = (uint64_t)n * 4 / 3 + 1;
    uint32_t slots = 16;
    while (slots < want)
        slots *= 2;
    return slots;
}

static int alloc_slots(struct compact_map *m, uint32_t slots)
{
    m->keys = malloc((size_t)slots * sizeof(*m->keys));
    m->offsets = malloc((size_t)slots * sizeof(*m->offsets));
    if (m->keys == NULL || m->offsets == NULL) {
        free(m->keys);
        free(m->offsets);
        m->keys = NULL;
        m->offsets = NULL;
        return -ENOMEM;
    }
    m->slots = slots;
    compact_map_clear(m);
    return 0;
}

int compact_map_init(struct compact_map *m, uint32_t initial, uint32_t max_entries)
{
    memset(m, 0, sizeof(*m));
    assert(max_entries > 0 && max_entries <= (1u << 30));
    if (initial > max_entries)
        initial = max_entries;
    m->max_entries = max_entries;
    return alloc_slots(m, slots_for(initial));
}

void compact_map_free(struct compact_map *m)
{
    free(m->keys);
    free(m->offsets);
    memset(m, 0, sizeof(*m));
}

void compact_map_clear(struct compact_map *m)
{
    for (uint32_t i = 0; i < m->slots; i++)
        m->offsets[i] = -1;
    m->count = 0;
}

size_t compact_map_memory_bytes(const struct compact_map *m)
{
    return (size_t)m->slots * (sizeof(*m->keys) + sizeof(*m->offsets));
}

struct compact_digest compact_digest_of(const void *key, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(key, len);
    return (struct compact_digest){.lo = h.low64, .hi = h.high64};
}

/* The slot holding d, or the empty slot where it would go. */
static uint32_t probe(const struct compact_map *m, struct compact_digest d)
{
    assert(m->slots > 0 && (m->slots & (m->slots - 1)) == 0);
    uint32_t mask = m->slots - 1;
    uint32_t i = (uint32_t)d.lo & mask;
    /* Terminates: the load stays at most 3/4, so an empty slot exists. */
    while (m->offsets[i] >= 0 && (m->keys[i].lo != d.lo || m->keys[i].hi != d.hi))
        i = (i + 1) & mask;
    return i;
}

/* Doubles the slots (up to what max_entries needs), moving every key. */
static int grow(struct compact_map *m)
{
    struct compact_map old = *m;
    if (alloc_slots(m, old.slots * 2) != 0) {
        *m = old;
        return -1;
    }
    for (uint32_t i = 0; i < old.slots; i++) {
        if (old.offsets[i] < 0)
            continue;
        uint32_t j = probe(m, old.keys[i]);
        m->keys[j] = old.keys[i];
        m->offsets[j] = old.offsets[i];
    }
    m->count = old.count;
    free(old.keys);
    free(old.offsets);
    return 0;
}

int compact_map_put(struct compact_map *m, struct compact_digest d, int64_t offset)
{
    assert(offset >= 0);
    uint32_t i = probe(m, d);
    if (m->offsets[i] < 0) {
        if (m->count >= m->max_entries)
            return -1;
        if ((uint64_t)(m->count + 1) * 4 > (uint64_t)m->slots * 3) {
            if (grow(m) != 0)
                return -1;
            i = probe(m, d);
        }
        m->keys[i] = d;
        m->count++;
    }
    if (offset > m->offsets[i])
        m->offsets[i] = offset;
    assert(m->count <= m->max_entries);
    return 0;
}

int64_t compact_map_get(const struct compact_map *m, struct compact_digest d)
{
    if (m->slots == 0)
        return -1;
    return m->offsets[probe(m, d)];
}
