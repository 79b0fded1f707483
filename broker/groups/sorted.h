/*
 * Binary search over the sorted arrays of this folder (members by id,
 * offsets and partitions by (topic, partition), groups by name): the
 * comparison of element i with the key sought is the caller's.
 */
#ifndef RINGLOG_BROKER_GROUPS_SORTED_H
#define RINGLOG_BROKER_GROUPS_SORTED_H

#include <stdbool.h>
#include <stddef.h>

/* The index of the element comparing equal (*found), or where the key would go. */
static inline size_t sorted_find(size_t n, int (*cmp)(const void *array, size_t i, const void *key),
                                 const void *array, const void *key, bool *found)
{
    size_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(array, mid, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
