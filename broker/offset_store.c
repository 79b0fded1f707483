#include "offset_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct legacy_group *find_group(struct offset_store *gs, const char *name, int create)
{
    for (struct legacy_group *g = gs->groups; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return g;
    if (!create)
        return NULL;
    struct legacy_group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->name = strdup(name);
    if (!g->name) {
        free(g);
        return NULL;
    }
    g->next = gs->groups;
    gs->groups = g;
    return g;
}

static struct legacy_offset *find_offset(struct legacy_group *g, const char *topic,
                                         uint32_t partition)
{
    for (size_t i = 0; i < g->count; i++)
        if (g->offsets[i].partition == partition && strcmp(g->offsets[i].topic, topic) == 0)
            return &g->offsets[i];
    return NULL;
}

static int set_offset(struct legacy_group *g, const char *topic, uint32_t partition, int64_t offset,
                      const char *metadata)
{
    struct legacy_offset *o = find_offset(g, topic, partition);
    if (!o) {
        if (g->count == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 16;
            struct legacy_offset *grown = realloc(g->offsets, cap * sizeof(*grown));
            if (!grown)
                return -1;
            g->offsets = grown;
            g->cap = cap;
        }
        o = &g->offsets[g->count];
        o->topic = strdup(topic);
        o->metadata = NULL;
        if (!o->topic)
            return -1;
        o->partition = partition;
        g->count++;
    }
    char *md = strdup(metadata ? metadata : "");
    if (!md)
        return -1;
    free(o->metadata);
    o->metadata = md;
    o->offset = offset;
    return 0;
}

static void load_group_file(struct offset_store *gs, const char *file)
{
    size_t len = strlen(file);
    const char *suffix = ".offsets";
    if (len <= strlen(suffix) || strcmp(file + len - strlen(suffix), suffix) != 0)
        return;
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(len - strlen(suffix)), file);
    struct legacy_group *g = find_group(gs, name, 1);
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", gs->dir, file);
    FILE *f = fopen(path, "r");
    if (!g || !f) {
        if (f)
            fclose(f);
        return;
    }
    char topic[256], hex[8192];
    unsigned partition;
    long long offset;
    while (fscanf(f, "%255s %u %lld %8191s .", topic, &partition, &offset, hex) == 4) {
        char md[4097];
        size_t n = 0;
        for (size_t i = 0; hex[i] && hex[i + 1] && n < sizeof(md) - 1; i += 2) {
            unsigned v;
            if (sscanf(hex + i, "%2x", &v) != 1)
                break;
            md[n++] = (char)v;
        }
        md[n] = '\0';
        if (strcmp(hex, ".") == 0)
            md[0] = '\0';
        set_offset(g, topic, partition, offset, md);
    }
    fclose(f);
}

int offset_store_open(struct offset_store *gs, const char *data_dir, char *err, size_t err_len)
{
    memset(gs, 0, sizeof(*gs));
    pthread_mutex_init(&gs->lock, NULL);
    snprintf(gs->dir, sizeof(gs->dir), "%s/groups", data_dir);
    if (mkdir(gs->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create %s: %s", gs->dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(gs->dir);
    if (!d) {
        snprintf(err, err_len, "cannot read %s: %s", gs->dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        load_group_file(gs, e->d_name);
    closedir(d);
    return 0;
}

void offset_store_close(struct offset_store *gs)
{
    struct legacy_group *g = gs->groups;
    while (g) {
        struct legacy_group *next = g->next;
        for (size_t i = 0; i < g->count; i++) {
            free(g->offsets[i].topic);
            free(g->offsets[i].metadata);
        }
        free(g->offsets);
        free(g->name);
        free(g);
        g = next;
    }
    gs->groups = NULL;
    pthread_mutex_destroy(&gs->lock);
}

void offset_store_each_group(struct offset_store *gs,
                             void (*fn)(void *ctx, const struct legacy_group *g), void *ctx)
{
    pthread_mutex_lock(&gs->lock);
    for (struct legacy_group *g = gs->groups; g; g = g->next)
        if (!g->migrated)
            fn(ctx, g);
    pthread_mutex_unlock(&gs->lock);
}

int offset_store_retire(struct offset_store *gs, const char *group)
{
    char from[4400], to[4420];
    snprintf(from, sizeof(from), "%s/%s.offsets", gs->dir, group);
    snprintf(to, sizeof(to), "%s/%s.offsets.migrated", gs->dir, group);
    pthread_mutex_lock(&gs->lock);
    struct legacy_group *g = find_group(gs, group, 0);
    if (g)
        g->migrated = 1;
    pthread_mutex_unlock(&gs->lock);
    return rename(from, to) == 0 ? 0 : -errno;
}
