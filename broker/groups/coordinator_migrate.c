/*
 * Offsets of the per-group files older brokers wrote (offset_store.h) move
 * into __groups: once a partition of __groups is loaded, every legacy
 * group it coordinates that the log does not know yet gets its offsets
 * written as records, and its file is renamed only after they are in.
 * A crash in between migrates it again at the next start (the log does
 * not know it yet, or knows the same offsets).
 */
#include <stdlib.h>
#include <string.h>

#include "coordinator_internal.h"
#include "diag.h"
#include "names.h"
#include "server.h"
#include "shard.h"

struct migrate {
    struct coord_part *cp;
    char **names;
    size_t n;
    bool failed;
};

static void migrate_group(void *ctx, const struct legacy_group *lg)
{
    struct migrate *m = ctx;
    if (m->failed || groups_partition_of(lg->name) != m->cp->index ||
        group_table_find(&m->cp->groups, lg->name) != NULL || !rl_group_name_valid(lg->name))
        return;
    struct group *g = group_table_get(&m->cp->groups, lg->name, COORD_MAX_GROUPS);
    char **names = realloc(m->names, (m->n + 1) * sizeof(*names));
    if (g == NULL || names == NULL) {
        m->failed = true;
        return;
    }
    m->names = names;
    if ((m->names[m->n] = strdup(lg->name)) == NULL) {
        m->failed = true;
        return;
    }
    m->n++;
    for (size_t i = 0; i < lg->count; i++)
        if (group_offset_set(g, lg->offsets[i].topic, lg->offsets[i].partition,
                             lg->offsets[i].offset, lg->offsets[i].metadata) != 0)
            m->failed = true;
}

static void migrated(void *ctx, bool ok)
{
    struct migrate *m = ctx;
    struct server *srv = shard_current()->srv;
    ok = ok && !m->failed;
    for (size_t i = 0; i < m->n; i++) {
        if (ok && offset_store_retire(&srv->offsets, m->names[i]) != 0)
            DIAG_WARN("group %s: offsets migrated to %s, but its old file stays", m->names[i],
                      GROUPS_TOPIC);
        free(m->names[i]);
    }
    if (m->n > 0)
        DIAG_INFO("%s/%u: %s the offsets of %zu groups from the old per-group files", GROUPS_TOPIC,
                  m->cp->index, ok ? "migrated" : "could not migrate", m->n);
    free(m->names);
    free(m);
}

void coord_migrate(struct coord_part *cp)
{
    struct server *srv = cp->co->shard->srv;
    struct migrate *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return;
    m->cp = cp;
    offset_store_each_group(&srv->offsets, migrate_group, m);
    struct group_recs recs = {0};
    for (size_t i = 0; i < m->n && !m->failed; i++) {
        struct group *g = group_table_find(&cp->groups, m->names[i]);
        if (g != NULL && group_records_collect(g, &recs) != 0)
            m->failed = true;
    }
    if (m->failed)
        DIAG_WARN("%s/%u: out of memory migrating old group offsets; retried at the next start",
                  GROUPS_TOPIC, cp->index);
    coord_write(cp, &recs, migrated, m);
}
