/*
 * A group's members and committed offsets (group.h); the heartbeat and
 * the assignment live in group_heartbeat.c.
 */
#include "group.h"

#include "sorted.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct group *group_new(const char *name)
{
    struct group *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->name = strdup(name)) == NULL) {
        free(g);
        return NULL;
    }
    g->assignor = ASSIGNOR_UNIFORM;
    return g;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void member_free(struct group_member *m)
{
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free_names(m->topics, m->ntopics);
    free_names(m->resolved, m->nresolved);
    if (m->pattern)
        regfree(&m->re);
    free(m->pattern);
    tp_set_free(&m->assigned);
    tp_set_free(&m->revoking);
    tp_set_free(&m->target);
    free(m);
}

void group_clear_removed(struct group *g)
{
    free_names(g->removed, g->nremoved);
    g->removed = NULL;
    g->nremoved = 0;
}

void group_free(struct group *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->nmembers; i++)
        member_free(g->members[i]);
    free(g->members);
    for (size_t i = 0; i < g->noffsets; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].metadata);
    }
    free(g->offsets);
    group_clear_removed(g);
    free(g->name);
    free(g);
}

static int member_cmp_at(const void *array, size_t i, const void *key)
{
    return strcmp(((struct group_member *const *)array)[i]->id, key);
}

/* Index of the member with id, or where it would go. */
static size_t member_index(const struct group *g, const char *id, bool *found)
{
    return sorted_find(g->nmembers, member_cmp_at, g->members, id, found);
}

struct group_member *group_member_find(const struct group *g, const char *id)
{
    bool found;
    size_t i = member_index(g, id, &found);
    return found ? g->members[i] : NULL;
}

struct group_member *group_member_add(struct group *g, const char *id)
{
    bool found;
    size_t i = member_index(g, id, &found);
    if (found)
        return g->members[i];
    if (g->nmembers >= GROUP_MAX_MEMBERS)
        return NULL;
    if (g->nmembers == g->members_cap) {
        size_t cap = g->members_cap ? g->members_cap * 2 : 4;
        struct group_member **v = realloc(g->members, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        g->members = v;
        g->members_cap = cap;
    }
    struct group_member *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->id = strdup(id)) == NULL) {
        free(m);
        return NULL;
    }
    m->rebalance_timeout_ms = GROUP_REBALANCE_DEFAULT_MS;
    m->session_timeout_ms = GROUP_SESSION_DEFAULT_MS;
    memmove(&g->members[i + 1], &g->members[i], (g->nmembers - i) * sizeof(g->members[0]));
    g->members[i] = m;
    g->nmembers++;
    assert(g->nmembers <= g->members_cap);
    return m;
}

void group_member_remove(struct group *g, struct group_member *m, bool bump_epoch)
{
    bool found;
    size_t i = member_index(g, m->id, &found);
    assert(found && g->members[i] == m);
    char **removed = realloc(g->removed, (g->nremoved + 1) * sizeof(*removed));
    if (removed != NULL) {
        g->removed = removed;
        g->removed[g->nremoved] = m->id; /* the tombstone's key; taken from m */
        g->nremoved++;
        m->id = NULL;
    }
    member_free(m);
    memmove(&g->members[i], &g->members[i + 1], (g->nmembers - i - 1) * sizeof(g->members[0]));
    g->nmembers--;
    if (bump_epoch) {
        g->epoch++;
        g->meta_dirty = true;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of names without duplicates; NULL with *n 0 for none. -1 out of memory. */
static int copy_names(char *const *src, size_t n, char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    char **v = calloc(n, sizeof(*v));
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((v[i] = strdup(src[i])) == NULL) {
            free_names(v, n);
            return -1;
        }
    qsort(v, n, sizeof(*v), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1], v[i]) == 0)
            free(v[i]);
        else
            v[k++] = v[i];
    }
    *out = v;
    *nout = k;
    return 0;
}

enum group_error group_member_subscribe(struct group_member *m, char *const *topics, size_t ntopics,
                                        const char *pattern)
{
    regex_t re;
    bool has_re = pattern != NULL && pattern[0] != '\0';
    if (has_re && regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return GROUP_BAD_PATTERN;
    char **names;
    size_t n;
    char *pat = has_re ? strdup(pattern) : NULL;
    if ((has_re && pat == NULL) || copy_names(topics, ntopics, &names, &n) != 0) {
        if (has_re)
            regfree(&re);
        free(pat);
        return GROUP_NO_MEMORY;
    }
    free_names(m->topics, m->ntopics);
    if (m->pattern)
        regfree(&m->re);
    free(m->pattern);
    m->topics = names;
    m->ntopics = n;
    m->pattern = pat;
    if (has_re)
        m->re = re;
    m->dirty = true;
    return GROUP_OK;
}

/* ------------------------------------------------------------ offsets */

struct offset_key {
    const char *topic;
    uint32_t partition;
};

static int offset_cmp_at(const void *array, size_t i, const void *key)
{
    const struct group_offset *o = &((const struct group_offset *)array)[i];
    const struct offset_key *k = key;
    return tp_compare(o->topic, o->partition, k->topic, k->partition);
}

static size_t offset_index(const struct group *g, const char *topic, uint32_t partition,
                           bool *found)
{
    struct offset_key k = {topic, partition};
    return sorted_find(g->noffsets, offset_cmp_at, g->offsets, &k, found);
}

const struct group_offset *group_offset_get(const struct group *g, const char *topic,
                                            uint32_t partition)
{
    bool found;
    size_t i = offset_index(g, topic, partition, &found);
    return found ? &g->offsets[i] : NULL;
}

void group_offset_remove(struct group *g, const char *topic, uint32_t partition)
{
    bool found;
    size_t i = offset_index(g, topic, partition, &found);
    if (!found)
        return;
    free(g->offsets[i].topic);
    free(g->offsets[i].metadata);
    memmove(&g->offsets[i], &g->offsets[i + 1], (g->noffsets - i - 1) * sizeof(g->offsets[0]));
    g->noffsets--;
}

int group_offset_set(struct group *g, const char *topic, uint32_t partition, int64_t offset,
                     const char *metadata)
{
    bool found;
    size_t i = offset_index(g, topic, partition, &found);
    char *meta = strdup(metadata ? metadata : "");
    if (meta == NULL)
        return -1;
    if (!found) {
        if (g->noffsets >= GROUP_MAX_OFFSETS) {
            free(meta);
            return -2;
        }
        if (g->noffsets == g->offsets_cap) {
            size_t cap = g->offsets_cap ? g->offsets_cap * 2 : 8;
            struct group_offset *v = realloc(g->offsets, cap * sizeof(*v));
            if (v == NULL) {
                free(meta);
                return -1;
            }
            g->offsets = v;
            g->offsets_cap = cap;
        }
        char *t = strdup(topic);
        if (t == NULL) {
            free(meta);
            return -1;
        }
        memmove(&g->offsets[i + 1], &g->offsets[i], (g->noffsets - i) * sizeof(g->offsets[0]));
        g->offsets[i] = (struct group_offset){.topic = t, .partition = partition};
        g->noffsets++;
    }
    free(g->offsets[i].metadata);
    g->offsets[i].metadata = meta;
    g->offsets[i].offset = offset;
    g->offsets[i].dirty = true;
    assert(g->noffsets <= g->offsets_cap);
    return 0;
}

enum group_error group_commit_check(const struct group *g, const char *member_id, int32_t epoch)
{
    if (member_id == NULL || member_id[0] == '\0')
        return g->nmembers > 0 ? GROUP_NOT_EMPTY : GROUP_OK;
    const struct group_member *m = group_member_find(g, member_id);
    if (m == NULL)
        return GROUP_UNKNOWN_MEMBER;
    if (epoch == m->epoch || (epoch == m->prev_epoch && epoch > 0))
        return GROUP_OK;
    return epoch < m->epoch ? GROUP_STALE_EPOCH : GROUP_FENCED_EPOCH;
}

const char *group_state(const struct group *g)
{
    if (g->nmembers == 0)
        return "empty";
    if (g->epoch > g->assignment_epoch)
        return "assigning";
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct group_member *m = g->members[i];
        if (m->epoch != g->assignment_epoch || m->revoking.n > 0 ||
            !tp_set_equal(&m->assigned, &m->target))
            return "reconciling";
    }
    return "stable";
}
