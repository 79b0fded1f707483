/*
 * Replicas this broker deleted because a move took them away and their
 * group let them go (controller_internal.h, "removed replicas"). Every
 * start replays the metadata log from its beginning, and the topic's
 * creation (or an earlier move) names this broker again before the move
 * that took the replica away is replayed: without this list the replica
 * was opened again, its directory recreated, until the move's record and a
 * member's removal notice deleted it a second time. Each entry says:
 * records before `moved_at` that would open (topic id, partition) here are
 * superseded. A later move that brings the replica back is after it, so
 * it opens as usual. Kept in <data-dir>/meta/removed_replicas, one
 * "TOPIC_ID PARTITION MOVED_AT" line each, replaced whole (atomic_file).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "controller_internal.h"
#include "diag.h"

static void path_of(const char *data_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/meta/removed_replicas", data_dir);
}

static struct removed_replica *find(struct controller_moves *mv, uint64_t topic_id, uint32_t p)
{
    for (uint32_t i = 0; i < mv->removed_count; i++)
        if (mv->removed[i].topic_id == topic_id && mv->removed[i].partition == p)
            return &mv->removed[i];
    return NULL;
}

/* Room for one more entry; false when out of memory. */
static bool grow(struct controller_moves *mv)
{
    if (mv->removed_count < mv->removed_cap)
        return true;
    uint32_t cap = mv->removed_cap ? mv->removed_cap * 2 : 16;
    struct removed_replica *r = realloc(mv->removed, cap * sizeof(*r));
    if (!r)
        return false;
    mv->removed = r;
    mv->removed_cap = cap;
    return true;
}

/* The list as it is now, to its file. A failed write keeps the old file: logged. */
static void save(const struct controller_moves *mv, const char *data_dir)
{
    size_t cap = (size_t)mv->removed_count * 64 + 1, len = 0;
    char *text = malloc(cap);
    char path[4200];
    path_of(data_dir, path, sizeof(path));
    if (!text) {
        DIAG_WARN("out of memory writing %s", path);
        return;
    }
    text[0] = '\0';
    for (uint32_t i = 0; i < mv->removed_count; i++) {
        const struct removed_replica *r = &mv->removed[i];
        len += (size_t)snprintf(text + len, cap - len, "%" PRIu64 " %u %" PRId64 "\n", r->topic_id,
                                r->partition, r->moved_at);
        assert(len < cap);
    }
    int rc = atomic_file_write(path, text, len);
    if (rc != 0)
        DIAG_WARN("writing %s: %s (a restart may open a removed replica for a moment)", path,
                  strerror(-rc));
    free(text);
}

int controller_removed_load(struct controller_moves *mv, const char *data_dir)
{
    assert(mv->removed_count == 0);
    char path[4200];
    path_of(data_dir, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    uint64_t id;
    uint32_t p;
    int64_t at;
    while (fscanf(f, "%" SCNu64 " %u %" SCNd64, &id, &p, &at) == 3) {
        if (!grow(mv)) {
            fclose(f);
            return -ENOMEM;
        }
        mv->removed[mv->removed_count++] =
            (struct removed_replica){.topic_id = id, .partition = p, .moved_at = at};
    }
    fclose(f);
    return 0;
}

void controller_removed_add(struct controller_moves *mv, const char *data_dir, uint64_t topic_id,
                            uint32_t p, int64_t moved_at)
{
    assert(moved_at >= 0);
    struct removed_replica *r = find(mv, topic_id, p);
    if (!r && grow(mv))
        r = &mv->removed[mv->removed_count++];
    if (!r) {
        DIAG_WARN("out of memory: a restart may open the removed replica of topic id %" PRIu64
                  " partition %u for a moment",
                  topic_id, p);
        return;
    }
    *r = (struct removed_replica){.topic_id = topic_id, .partition = p, .moved_at = moved_at};
    save(mv, data_dir);
}

void controller_removed_forget_topic(struct controller_moves *mv, const char *data_dir,
                                     uint64_t topic_id)
{
    uint32_t kept = 0, before = mv->removed_count;
    for (uint32_t i = 0; i < mv->removed_count; i++)
        if (mv->removed[i].topic_id != topic_id)
            mv->removed[kept++] = mv->removed[i];
    mv->removed_count = kept;
    if (kept != before)
        save(mv, data_dir);
}

bool controller_removed_supersedes(struct controller_moves *mv, uint64_t topic_id, uint32_t p,
                                   int64_t record_offset)
{
    const struct removed_replica *r = find(mv, topic_id, p);
    return r != NULL && record_offset < r->moved_at;
}

void controller_removed_free(struct controller_moves *mv)
{
    free(mv->removed);
    mv->removed = NULL;
    mv->removed_count = mv->removed_cap = 0;
}
