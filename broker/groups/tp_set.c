#include "tp_set.h"

#include "sorted.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int tp_compare(const char *ta, uint32_t pa, const char *tb, uint32_t pb)
{
    int c = strcmp(ta, tb);
    if (c != 0)
        return c;
    return pa < pb ? -1 : pa > pb;
}

struct tp_key {
    const char *topic;
    uint32_t partition;
};

static int tp_cmp_at(const void *array, size_t i, const void *key)
{
    const struct tp *v = array;
    const struct tp_key *k = key;
    return tp_compare(v[i].topic, v[i].partition, k->topic, k->partition);
}

/* The index of (topic, partition), or where it would go; *found says which. */
static size_t tp_find(const struct tp_set *s, const char *topic, uint32_t partition, bool *found)
{
    struct tp_key k = {topic, partition};
    return sorted_find(s->n, tp_cmp_at, s->v, &k, found);
}

bool tp_set_contains(const struct tp_set *s, const char *topic, uint32_t partition)
{
    bool found;
    tp_find(s, topic, partition, &found);
    return found;
}

int tp_set_add(struct tp_set *s, const char *topic, uint32_t partition)
{
    bool found;
    size_t i = tp_find(s, topic, partition, &found);
    if (found)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct tp *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(topic);
    if (copy == NULL)
        return -1;
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
    s->v[i] = (struct tp){.topic = copy, .partition = partition};
    s->n++;
    assert(s->n <= s->cap);
    return 0;
}

void tp_set_remove(struct tp_set *s, const char *topic, uint32_t partition)
{
    bool found;
    size_t i = tp_find(s, topic, partition, &found);
    if (!found)
        return;
    free(s->v[i].topic);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
    s->n--;
}

void tp_set_clear(struct tp_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].topic);
    s->n = 0;
}

int tp_set_copy(struct tp_set *dst, const struct tp_set *src)
{
    assert(dst != src);
    tp_set_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (tp_set_add(dst, src->v[i].topic, src->v[i].partition) != 0) {
            tp_set_clear(dst);
            return -1;
        }
    return 0;
}

bool tp_set_equal(const struct tp_set *a, const struct tp_set *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (tp_compare(a->v[i].topic, a->v[i].partition, b->v[i].topic, b->v[i].partition) != 0)
            return false;
    return true;
}

bool tp_set_intersects(const struct tp_set *a, const struct tp_set *b)
{
    for (size_t i = 0; i < a->n; i++)
        if (tp_set_contains(b, a->v[i].topic, a->v[i].partition))
            return true;
    return false;
}

void tp_set_free(struct tp_set *s)
{
    tp_set_clear(s);
    free(s->v);
    *s = (struct tp_set){0};
}
