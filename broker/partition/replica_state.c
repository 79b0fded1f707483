/*
 * The per-shard hard-state journal (replica_state.h). Records are 64 bytes,
 * little-endian, each with an xxh64 of the rest, so a torn tail is told
 * from a record. Hard state changes only at elections (term, vote) and
 * while a wiped replica recovers, so the journal grows by a few records per
 * election per group (64 bytes each: 10,000 groups through 100 elections
 * each is 64 MB; rewriting it short is not done yet).
 */
#include "replica_state.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "endian_le.h"

#define RECORD_BYTES 64u
#define RECORD_MAGIC 0x53484c52u /* "RLHS" */

static void encode(uint8_t *b, const struct replica_state_entry *e)
{
    memset(b, 0, RECORD_BYTES);
    rl_put_le32(b + 0, RECORD_MAGIC);
    rl_put_le64(b + 4, e->topic_id);
    rl_put_le32(b + 12, e->partition);
    rl_put_le64(b + 16, e->seq);
    rl_put_le64(b + 24, (uint64_t)e->hs.term);
    rl_put_le32(b + 32, (uint32_t)e->hs.voted_for);
    b[36] = e->hs.recovering ? 1 : 0;
    rl_put_le64(b + 40, (uint64_t)e->hs.vote_floor);
    rl_put_le64(b + 56, XXH64(b, 56, 0));
}

static bool decode(const uint8_t *b, struct replica_state_entry *e)
{
    if (rl_le32(b) != RECORD_MAGIC || rl_le64(b + 56) != XXH64(b, 56, 0))
        return false;
    e->topic_id = rl_le64(b + 4);
    e->partition = rl_le32(b + 12);
    e->seq = rl_le64(b + 16);
    e->hs.term = (int64_t)rl_le64(b + 24);
    e->hs.voted_for = (int32_t)rl_le32(b + 32);
    e->hs.recovering = b[36] != 0;
    e->hs.vote_floor = (int64_t)rl_le64(b + 40);
    return e->hs.term >= 0 && e->hs.vote_floor >= 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct replica_state_entry *x = a, *y = b;
    if (x->topic_id != y->topic_id)
        return x->topic_id < y->topic_id ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends every valid record of one journal file to the table's entries. */
static int load_file(struct replica_state_table *t, const char *path, uint32_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t b[RECORD_BYTES];
    while (fread(b, 1, RECORD_BYTES, f) == RECORD_BYTES) {
        struct replica_state_entry e;
        if (!decode(b, &e))
            break; /* a torn tail: nothing after it was ever synced */
        if (t->count == *cap) {
            uint32_t ncap = *cap ? *cap * 2 : 256;
            void *n = realloc(t->entries, ncap * sizeof(*t->entries));
            if (!n) {
                fclose(f);
                return -ENOMEM;
            }
            t->entries = n;
            *cap = ncap;
        }
        t->entries[t->count++] = e;
    }
    fclose(f);
    return 0;
}

/* Keeps the newest record of each group (entries sorted, oldest first per group). */
static void keep_newest(struct replica_state_table *t)
{
    uint64_t max_seq = 0;
    uint32_t w = 0;
    for (uint32_t i = 0; i < t->count; i++) {
        const struct replica_state_entry *e = &t->entries[i];
        if (e->seq > max_seq)
            max_seq = e->seq;
        bool last =
            i + 1 == t->count || e[1].topic_id != e->topic_id || e[1].partition != e->partition;
        if (last)
            t->entries[w++] = *e;
    }
    assert(w <= t->count);
    t->count = w;
    atomic_store(&t->next_seq, max_seq + 1);
}

int replica_state_load(struct replica_state_table *t, const char *data_dir, char *err,
                       size_t err_len)
{
    memset(t, 0, sizeof(*t));
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/meta", data_dir);
    DIR *d = opendir(dir);
    if (!d) {
        atomic_store(&t->next_seq, 1);
        return 0;
    }
    uint32_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "replica-state.", 14) != 0 || strchr(de->d_name, '~'))
            continue;
        char path[4500];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        rc = load_file(t, path, &cap);
        if (rc != 0)
            snprintf(err, err_len, "reading %s: %s", path, strerror(-rc));
    }
    closedir(d);
    if (rc != 0) {
        replica_state_table_free(t);
        return -1;
    }
    if (t->count)
        qsort(t->entries, t->count, sizeof(*t->entries), cmp_entry);
    keep_newest(t);
    return 0;
}

void replica_state_table_free(struct replica_state_table *t)
{
    free(t->entries);
    t->entries = NULL;
    t->count = 0;
}

bool replica_state_lookup(const struct replica_state_table *t, uint64_t topic_id,
                          uint32_t partition, struct rg_hard_state *out)
{
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct replica_state_entry *e = &t->entries[mid];
        if (e->topic_id < topic_id || (e->topic_id == topic_id && e->partition < partition))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->count || t->entries[lo].topic_id != topic_id ||
        t->entries[lo].partition != partition)
        return false;
    *out = t->entries[lo].hs;
    return true;
}

int replica_state_open(struct replica_state_journal *j, const char *data_dir, int shard)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/meta/replica-state.%d", data_dir, shard);
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0)
        return -errno;
    off_t end = lseek(j->fd, 0, SEEK_END);
    if (end < 0) {
        int e = -errno;
        close(j->fd);
        j->fd = -1;
        return e;
    }
    /* A torn tail is cut back to whole records so the next write is found. */
    j->size = (uint64_t)end - (uint64_t)end % RECORD_BYTES;
    j->unsynced = 0;
    return 0;
}

void replica_state_close(struct replica_state_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

int replica_state_write(struct replica_state_journal *j, const struct replica_state_entry *e)
{
    assert(j->fd >= 0);
    assert(e->hs.term >= 0);
    uint8_t b[RECORD_BYTES];
    encode(b, e);
    ssize_t n = pwrite(j->fd, b, RECORD_BYTES, (off_t)j->size);
    if (n != (ssize_t)RECORD_BYTES)
        return n < 0 ? -errno : -EIO;
    j->size += RECORD_BYTES;
    j->unsynced++;
    return 0;
}

int replica_state_sync(struct replica_state_journal *j)
{
    assert(j->fd >= 0);
    if (j->unsynced == 0)
        return 0;
    if (fdatasync(j->fd) != 0)
        return -errno;
    j->unsynced = 0;
    return 0;
}
