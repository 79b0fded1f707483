/* The groups of one coordinator partition, by name. Pure. */
#ifndef RINGLOG_BROKER_GROUPS_GROUP_TABLE_H
#define RINGLOG_BROKER_GROUPS_GROUP_TABLE_H

#include <stddef.h>

#include "group.h"

struct group_table {
    struct group **v; /* sorted by name */
    size_t n, cap;
};

struct group *group_table_find(const struct group_table *t, const char *name);
/* Finds or creates; NULL when out of memory or (creating) when max groups are held. */
struct group *group_table_get(struct group_table *t, const char *name, size_t max);
/* Takes g out of the table and frees it. */
void group_table_remove(struct group_table *t, struct group *g);
void group_table_free(struct group_table *t);

#endif
