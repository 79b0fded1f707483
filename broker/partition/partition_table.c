#include "partition_table.h"

#include <assert.h>
#include <string.h>

#include "partition.h"

/* FNV-1a of topic and partition. */
static uint64_t bucket_of(const char *topic, uint32_t index)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = topic; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    h = (h ^ index) * 1099511628211ull;
    return h % PARTITION_TABLE_BUCKETS;
}

struct partition *partition_table_find(const struct partition_table *t, const char *topic,
                                       uint32_t index)
{
    for (struct partition *p = t->buckets[bucket_of(topic, index)]; p; p = p->hash_next)
        if (p->index == index && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

void partition_table_add(struct partition_table *t, struct partition *p)
{
    assert(partition_table_find(t, p->topic, p->index) == NULL);
    uint64_t b = bucket_of(p->topic, p->index);
    p->hash_next = t->buckets[b];
    t->buckets[b] = p;
    t->count++;
}

void partition_table_remove(struct partition_table *t, struct partition *p)
{
    uint64_t b = bucket_of(p->topic, p->index);
    for (struct partition **link = &t->buckets[b]; *link; link = &(*link)->hash_next) {
        if (*link == p) {
            *link = p->hash_next;
            assert(t->count > 0);
            t->count--;
            return;
        }
    }
    assert(!"removing a partition that is not in the table");
}

struct partition *partition_table_pop(struct partition_table *t)
{
    for (int b = 0; b < PARTITION_TABLE_BUCKETS && t->count > 0; b++) {
        struct partition *p = t->buckets[b];
        if (p) {
            t->buckets[b] = p->hash_next;
            t->count--;
            return p;
        }
    }
    assert(t->count == 0);
    return NULL;
}
