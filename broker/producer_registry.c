#include "producer_registry.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

static struct producer_entry **slot_of(struct producer_registry *reg, int64_t id)
{
    return &reg->buckets[(uint64_t)id % PRODUCER_REGISTRY_BUCKETS];
}

static struct producer_entry *find(struct producer_registry *reg, int64_t id)
{
    for (struct producer_entry *e = *slot_of(reg, id); e; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

static void forget(struct producer_registry *reg, int64_t id)
{
    for (struct producer_entry **link = slot_of(reg, id); *link; link = &(*link)->next) {
        if ((*link)->id == id) {
            struct producer_entry *e = *link;
            *link = e->next;
            free(e);
            assert(reg->count > 0);
            reg->count--;
            return;
        }
    }
}

/* Sets an id's epoch in memory (creating its entry); -1 without memory. */
static int remember(struct producer_registry *reg, int64_t id, int16_t epoch)
{
    struct producer_entry *e = find(reg, id);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            return -1;
        e->id = id;
        e->next = *slot_of(reg, id);
        *slot_of(reg, id) = e;
        reg->count++;
    }
    e->epoch = epoch;
    e->touched = ++reg->clock;
    return 0;
}

/* Appends "<id> <epoch>" (epoch -1: forgotten) and syncs it; on failure the journal is cut back. */
static int journal_append(struct producer_registry *reg, int64_t id, int epoch)
{
    char line[48];
    int n = snprintf(line, sizeof(line), "%lld %d\n", (long long)id, epoch);
    off_t before = lseek(reg->journal_fd, 0, SEEK_END);
    if (before < 0)
        return -1;
    if (write(reg->journal_fd, line, (size_t)n) != n || fdatasync(reg->journal_fd) != 0) {
        if (ftruncate(reg->journal_fd, before) != 0)
            return -1; /* the torn line is ignored by the next load */
        return -1;
    }
    reg->journal_lines++;
    return 0;
}

/* Rewrites the journal as one line per id once it is twice as long as that. */
static void journal_compact(struct producer_registry *reg)
{
    if (reg->journal_lines <= 2 * reg->count + 1024)
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    for (size_t b = 0; b < PRODUCER_REGISTRY_BUCKETS; b++)
        for (const struct producer_entry *e = reg->buckets[b]; e; e = e->next)
            fprintf(f, "%lld %d\n", (long long)e->id, e->epoch);
    int fd = -1;
    if (fclose(f) == 0 && atomic_file_write(reg->path, text, len) == 0)
        fd = open(reg->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    free(text);
    if (fd >= 0) {
        close(reg->journal_fd);
        reg->journal_fd = fd;
        reg->journal_lines = reg->count;
    }
}

/* Replays the journal: the last line of an id wins; a torn last line is ignored. */
static int journal_load(struct producer_registry *reg)
{
    FILE *f = fopen(reg->path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char line[64];
    while (fgets(line, sizeof(line), f)) {
        long long id;
        int epoch;
        if (strchr(line, '\n') == NULL || sscanf(line, "%lld %d", &id, &epoch) != 2 || id < 0 ||
            epoch < -1 || epoch > INT16_MAX)
            continue;
        reg->journal_lines++;
        if (id > reg->max_id)
            reg->max_id = id;
        if (epoch < 0)
            forget(reg, id);
        else if (remember(reg, id, (int16_t)epoch) != 0)
            break;
    }
    fclose(f);
    return 0;
}

int producer_registry_open(struct producer_registry *reg, const char *data_dir, char *err,
                           size_t err_len)
{
    memset(reg, 0, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    atomic_init(&reg->generation, 1);
    reg->journal_fd = -1;
    snprintf(reg->path, sizeof(reg->path), "%s/meta/producer_epochs", data_dir);
    if (journal_load(reg) == 0)
        reg->journal_fd = open(reg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (reg->journal_fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", reg->path, strerror(errno));
        return -1;
    }
    journal_compact(reg);
    return 0;
}

void producer_registry_close(struct producer_registry *reg)
{
    if (reg->path[0] == '\0')
        return; /* never opened (start-up failed before it) */
    for (size_t b = 0; b < PRODUCER_REGISTRY_BUCKETS; b++) {
        while (reg->buckets[b]) {
            struct producer_entry *e = reg->buckets[b];
            reg->buckets[b] = e->next;
            free(e);
        }
    }
    if (reg->journal_fd >= 0)
        close(reg->journal_fd);
    reg->journal_fd = -1;
    reg->count = 0;
    pthread_mutex_destroy(&reg->lock);
}

/* Makes room for one more id: forgets the least recently used one. Lock held. */
static int make_room(struct producer_registry *reg)
{
    if (reg->count < PRODUCER_REGISTRY_MAX)
        return 0;
    const struct producer_entry *oldest = NULL;
    for (size_t b = 0; b < PRODUCER_REGISTRY_BUCKETS; b++)
        for (const struct producer_entry *e = reg->buckets[b]; e; e = e->next)
            if (!oldest || e->touched < oldest->touched)
                oldest = e;
    assert(oldest != NULL);
    int64_t id = oldest->id;
    if (journal_append(reg, id, -1) != 0)
        return -1;
    forget(reg, id);
    atomic_fetch_add_explicit(&reg->generation, 1, memory_order_release);
    return 0;
}

enum producer_verdict producer_registry_issue(struct producer_registry *reg, int64_t id)
{
    assert(id > 0);
    enum producer_verdict v = PRODUCER_ID_STORAGE;
    pthread_mutex_lock(&reg->lock);
    assert(find(reg, id) == NULL); /* ids are never issued twice */
    if (id > reg->max_id)
        reg->max_id = id;
    if (make_room(reg) == 0 && journal_append(reg, id, 0) == 0) {
        v = remember(reg, id, 0) == 0 ? PRODUCER_ID_OK : PRODUCER_ID_STORAGE;
        journal_compact(reg);
    }
    pthread_mutex_unlock(&reg->lock);
    return v;
}

/* Whether (id, epoch) is current; *entry is the id's entry (NULL: unknown). Lock held. */
static enum producer_verdict judge(struct producer_registry *reg, int64_t id, int16_t epoch,
                                   struct producer_entry **entry)
{
    struct producer_entry *e = *entry = find(reg, id);
    if (!e)
        return PRODUCER_ID_UNKNOWN;
    if (epoch != e->epoch)
        return epoch < e->epoch ? PRODUCER_ID_STALE_EPOCH : PRODUCER_ID_EPOCH_AHEAD;
    e->touched = ++reg->clock;
    return PRODUCER_ID_OK;
}

enum producer_verdict producer_registry_bump(struct producer_registry *reg, int64_t id,
                                             int16_t epoch, int16_t *epoch_out)
{
    assert(epoch_out != NULL);
    *epoch_out = -1;
    pthread_mutex_lock(&reg->lock);
    struct producer_entry *e;
    enum producer_verdict v = judge(reg, id, epoch, &e);
    /* An exhausted epoch leaves *epoch_out at -1: the caller issues a new id. */
    if (v == PRODUCER_ID_OK && e->epoch < INT16_MAX) {
        if (journal_append(reg, id, e->epoch + 1) != 0) {
            v = PRODUCER_ID_STORAGE;
        } else {
            *epoch_out = ++e->epoch;
            atomic_fetch_add_explicit(&reg->generation, 1, memory_order_release);
            journal_compact(reg);
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return v;
}

enum producer_verdict producer_registry_check(struct producer_registry *reg, int64_t id,
                                              int16_t epoch)
{
    assert(id >= 0);
    pthread_mutex_lock(&reg->lock);
    struct producer_entry *e;
    enum producer_verdict v = judge(reg, id, epoch, &e);
    pthread_mutex_unlock(&reg->lock);
    return v;
}
