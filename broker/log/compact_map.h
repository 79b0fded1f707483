/*
 * The compaction key map: for each key seen, the offset of its newest
 * record. Keys are stored as 16-byte digests (XXH3-128), so the memory is
 * bounded by the number of entries, not by key sizes: 24 bytes a slot, at
 * most 3/4 of the slots used. A digest collision (two keys with the same
 * 128-bit digest) would let one key's record hide the other's; at 2^-64
 * per pair for a billion keys that is not a practical concern, and Kafka's
 * cleaner makes the same trade (MD5 digests).
 */
#ifndef RINGLOG_BROKER_LOG_COMPACT_MAP_H
#define RINGLOG_BROKER_LOG_COMPACT_MAP_H

#include <stddef.h>
#include <stdint.h>

struct compact_digest {
    uint64_t lo, hi;
};

struct compact_map {
    struct compact_digest *keys;
    int64_t *offsets; /* -1: empty slot */
    uint32_t slots;   /* a power of two */
    uint32_t count;
    uint32_t max_entries; /* count never passes it */
};

/*
 * Room for `initial` keys, growing (doubling) up to max_entries as keys
 * come. Returns 0 or -ENOMEM.
 */
int compact_map_init(struct compact_map *m, uint32_t initial, uint32_t max_entries);
void compact_map_free(struct compact_map *m);
void compact_map_clear(struct compact_map *m);
size_t compact_map_memory_bytes(const struct compact_map *m);

struct compact_digest compact_digest_of(const void *key, size_t len);

/*
 * Notes that the key's newest record known is at `offset` (offsets only
 * grow for a key). Returns 0, or -1 when the key is new and the map is
 * full: max_entries keys, or no memory to grow (nothing changed).
 */
int compact_map_put(struct compact_map *m, struct compact_digest d, int64_t offset);

/* The newest offset noted for the key, or -1. */
int64_t compact_map_get(const struct compact_map *m, struct compact_digest d);

#endif
