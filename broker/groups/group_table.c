#include "group_table.h"

#include "sorted.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static int group_cmp_at(const void *array, size_t i, const void *key)
{
    return strcmp(((struct group *const *)array)[i]->name, key);
}

static size_t table_index(const struct group_table *t, const char *name, bool *found)
{
    return sorted_find(t->n, group_cmp_at, t->v, name, found);
}

struct group *group_table_find(const struct group_table *t, const char *name)
{
    bool found;
    size_t i = table_index(t, name, &found);
    return found ? t->v[i] : NULL;
}

struct group *group_table_get(struct group_table *t, const char *name, size_t max)
{
    bool found;
    size_t i = table_index(t, name, &found);
    if (found)
        return t->v[i];
    if (t->n >= max)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct group **v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    struct group *g = group_new(name);
    if (g == NULL)
        return NULL;
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(t->v[0]));
    t->v[i] = g;
    t->n++;
    assert(t->n <= t->cap);
    return g;
}

void group_table_remove(struct group_table *t, struct group *g)
{
    bool found;
    size_t i = table_index(t, g->name, &found);
    assert(found && t->v[i] == g);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
    t->n--;
    group_free(g);
}

void group_table_free(struct group_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        group_free(t->v[i]);
    free(t->v);
    *t = (struct group_table){0};
}
