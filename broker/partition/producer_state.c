#include "producer_state.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "producer_registry.h"
#include "server.h"
#include "shard.h"

static struct producer_state **bucket(struct partition *p, int64_t producer_id)
{
    return &p->producers[(uint64_t)producer_id % PRODUCER_BUCKETS];
}

static struct producer_state *find(struct partition *p, int64_t producer_id)
{
    for (struct producer_state *s = *bucket(p, producer_id); s; s = s->next)
        if (s->producer_id == producer_id)
            return s;
    return NULL;
}

static int32_t batch_last_seq(const struct rl_batch_header *h)
{
    /* Sequences wrap at INT32_MAX like Kafka's. */
    int64_t last = (int64_t)h->base_sequence + h->record_count - 1;
    return (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

static int32_t next_seq(int32_t seq)
{
    return seq == INT32_MAX ? 0 : seq + 1;
}

/*
 * Whether the registry says (id, epoch) is current. Asked only when this
 * partition has not validated that pair since the registry last changed,
 * so the registry's lock stays off the path of a producer's steady batches.
 */
static enum producer_check registry_check(struct partition *p, struct producer_state *s,
                                          const struct rl_batch_header *h)
{
    /* A replicated partition takes ids issued by any broker of the cluster:
     * this broker's registry knows only its own (fencing across brokers
     * needs the controller's producer-id records; issue 15 note). */
    if (p->replica)
        return PRODUCER_ACCEPT;
    struct producer_registry *reg = &p->shard->srv->producers;
    uint64_t gen = producer_registry_generation(reg);
    assert(gen > 0);
    if (s && s->checked_gen == gen && s->epoch == h->producer_epoch)
        return PRODUCER_ACCEPT;
    switch (producer_registry_check(reg, h->producer_id, h->producer_epoch)) {
    case PRODUCER_ID_OK:
        if (s && s->epoch == h->producer_epoch)
            s->checked_gen = gen;
        return PRODUCER_ACCEPT;
    case PRODUCER_ID_STALE_EPOCH:
        return PRODUCER_BAD_EPOCH;
    case PRODUCER_ID_EPOCH_AHEAD:
        return PRODUCER_EPOCH_AHEAD;
    default:
        return PRODUCER_UNKNOWN_ID;
    }
}

enum producer_check producer_state_check(struct partition *p, const struct rl_batch_header *h,
                                         int64_t *dup_offset)
{
    assert(h->producer_id >= 0);
    struct producer_state *s = find(p, h->producer_id);
    enum producer_check verdict = registry_check(p, s, h);
    if (verdict != PRODUCER_ACCEPT)
        return verdict;
    if (!s || s->count == 0) {
        /* First batch we know of. A replicated partition takes only a
         * producer's first batch (sequence 0): a later one could be the
         * survivor of a pipeline whose head was refused (NOT_ENOUGH_REPLICAS)
         * or lost with a leader, and taking it would break the producer's
         * order (the chaos suite's 'order' finding). Refused, the client
         * bumps its epoch and resends in order. A single broker keeps the
         * lenient rule: its state outlives no leader change. */
        if (p->replica && h->base_sequence != 0)
            return PRODUCER_OUT_OF_ORDER;
        return PRODUCER_ACCEPT;
    }
    if (h->producer_epoch < s->epoch)
        return PRODUCER_BAD_EPOCH;
    if (h->producer_epoch > s->epoch)
        return h->base_sequence == 0 ? PRODUCER_ACCEPT : PRODUCER_OUT_OF_ORDER;
    int32_t last = batch_last_seq(h);
    for (uint32_t i = 0; i < s->count; i++) {
        const struct producer_batch *b = &s->recent[i];
        if (b->first_seq == h->base_sequence && b->last_seq == last) {
            *dup_offset = b->base_offset;
            return PRODUCER_DUPLICATE;
        }
    }
    const struct producer_batch *newest = &s->recent[s->newest];
    return h->base_sequence == next_seq(newest->last_seq) ? PRODUCER_ACCEPT : PRODUCER_OUT_OF_ORDER;
}

int producer_state_record(struct partition *p, const struct rl_batch_header *h)
{
    struct producer_state *s = find(p, h->producer_id);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->producer_id = h->producer_id;
        s->next = *bucket(p, h->producer_id);
        *bucket(p, h->producer_id) = s;
    }
    if (h->producer_epoch != s->epoch) {
        s->epoch = h->producer_epoch;
        s->count = 0;
    }
    uint32_t slot = s->count == 0 ? 0 : (s->newest + 1) % PRODUCER_RECENT_BATCHES;
    s->recent[slot].first_seq = h->base_sequence;
    s->recent[slot].last_seq = batch_last_seq(h);
    s->recent[slot].base_offset = -1;
    s->newest = slot;
    if (s->count < PRODUCER_RECENT_BATCHES)
        s->count++;
    return 0;
}

void producer_state_set_offset(struct partition *p, int64_t producer_id, int32_t first_seq,
                               int64_t base_offset)
{
    struct producer_state *s = find(p, producer_id);
    if (!s)
        return;
    for (uint32_t i = 0; i < s->count; i++)
        if (s->recent[i].first_seq == first_seq)
            s->recent[i].base_offset = base_offset;
}

void producer_state_note_written(struct partition *p, const uint8_t *data, size_t len)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    it.allow_control = true;
    while (rl_batch_iter_next_validated(&it, &batch, &h) == RL_OK) {
        if (h.producer_id < 0 || rl_batch_is_control(&h))
            continue;
        if (producer_state_record(p, &h) == 0)
            producer_state_set_offset(p, h.producer_id, h.base_sequence, h.base_offset);
    }
}

void producer_state_truncate(struct partition *p, int64_t offset)
{
    for (int i = 0; i < PRODUCER_BUCKETS; i++) {
        for (struct producer_state *s = p->producers[i]; s; s = s->next) {
            struct producer_batch kept[PRODUCER_RECENT_BATCHES];
            uint32_t n = 0;
            /* Oldest first: the slot after the newest is the oldest once the ring is full. */
            for (uint32_t k = 0; k < s->count; k++) {
                uint32_t slot = s->count < PRODUCER_RECENT_BATCHES
                                    ? k
                                    : (s->newest + 1 + k) % PRODUCER_RECENT_BATCHES;
                const struct producer_batch *b = &s->recent[slot];
                if (b->base_offset >= 0 && b->base_offset < offset)
                    kept[n++] = *b;
            }
            assert(n <= s->count);
            for (uint32_t k = 0; k < n; k++)
                s->recent[k] = kept[k];
            s->count = n;
            s->newest = n ? n - 1 : 0;
        }
    }
}

void partition_forget_producers(struct partition *p)
{
    for (int i = 0; i < PRODUCER_BUCKETS; i++) {
        struct producer_state *s = p->producers[i];
        while (s) {
            struct producer_state *next = s->next;
            free(s);
            s = next;
        }
        p->producers[i] = NULL;
    }
}

/* How far back start-up looks for producer state: bounded, so start-up
 * time does not grow with the log. A producer silent for longer than this
 * window starts afresh (its next batch is accepted whatever its sequence). */
enum { REBUILD_MAX_RECORDS = 100000, REBUILD_MAX_BYTES = 16 << 20, REBUILD_BUF = 1 << 20 };

struct rebuild_read {
    struct log_read read;
    bool done;
    int status;
};

static void rebuild_read_done(struct log_read *r, int status)
{
    struct rebuild_read *rr = r->user;
    rr->status = status;
    rr->done = true;
}

void producer_state_rebuild(struct partition *p)
{
    int64_t end = partition_log_end_offset(p->log);
    int64_t offset = partition_log_start_offset(p->log);
    if (end - offset > REBUILD_MAX_RECORDS)
        offset = end - REBUILD_MAX_RECORDS;
    uint8_t *buf = malloc(REBUILD_BUF);
    if (!buf)
        return;
    size_t scanned = 0;
    while (offset < end && scanned < REBUILD_MAX_BYTES) {
        struct rebuild_read rr = {0};
        rr.read.offset = offset;
        rr.read.max_offset = INT64_MAX;
        rr.read.buf = buf;
        rr.read.cap = REBUILD_BUF;
        rr.read.on_complete = rebuild_read_done;
        rr.read.user = &rr;
        if (partition_log_read(p->log, &rr.read) != LOG_OK)
            break;
        log_engine_drive(&p->shard->engine, &p->shard->loop.ring, &rr.done);
        if (rr.status == LOG_ERR_REPAIRING && rr.read.next_offset > offset) {
            offset = rr.read.next_offset; /* a known-bad batch (a flipped bit): step over it */
            continue;
        }
        if (rr.status != LOG_OK || rr.read.next_offset <= offset)
            break;
        struct rl_batch_iter it;
        const uint8_t *batch;
        struct rl_batch_header h;
        rl_batch_iter_init(&it, rr.read.data, rr.read.len, RL_BATCH_ABSOLUTE_MAX_BYTES);
        it.allow_control = true; /* a replicated log's epoch markers: stepped over */
        while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
            if (h.producer_id < 0 || rl_batch_is_control(&h) || rl_batch_last_offset(&h) < offset)
                continue;
            if (producer_state_record(p, &h) == 0)
                producer_state_set_offset(p, h.producer_id, h.base_sequence, h.base_offset);
        }
        scanned += rr.read.len;
        offset = rr.read.next_offset;
    }
    free(buf);
}

static void snapshot_path(const struct partition *p, const char *data_dir, char *out, size_t len)
{
    snprintf(out, len, "%s/topics/%s/%u/producers", data_dir, p->topic, p->index);
}

static bool has_producers(const struct partition *p)
{
    for (int b = 0; b < PRODUCER_BUCKETS; b++)
        if (p->producers[b] != NULL)
            return true;
    return false;
}

/* Writes the whole snapshot to path; no fsync (see producer_state_save). */
static int write_snapshot(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, len);
    int rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    if (rc != 0)
        unlink(path);
    return rc;
}

/*
 * At a clean shutdown. A partition without producer state writes nothing
 * (a start without a snapshot reads the log's tail, which finds the same
 * nothing), and a snapshot is written without an fsync: it ends with a
 * count of its batch lines, so one cut short by a crash is refused and the
 * log's tail read instead, the same as after a crash. 10,000 partitions
 * took 16.6 s to shut down with an atomic (fsynced) file each.
 */
int producer_state_save(struct partition *p, const char *data_dir)
{
    if (!has_producers(p))
        return 0;
    char path[4400];
    snapshot_path(p, data_dir, path, sizeof(path));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -ENOMEM;
    long lines = 0;
    fprintf(f, "end %lld\n", (long long)partition_log_end_offset(p->log));
    for (int b = 0; b < PRODUCER_BUCKETS; b++) {
        for (const struct producer_state *st = p->producers[b]; st; st = st->next) {
            /* Oldest first, so loading replays them in order. */
            for (uint32_t k = 0; k < st->count; k++) {
                uint32_t i = (st->newest + PRODUCER_RECENT_BATCHES - st->count + 1 + k) %
                             PRODUCER_RECENT_BATCHES;
                const struct producer_batch *pb = &st->recent[i];
                fprintf(f, "batch %lld %d %d %d %lld\n", (long long)st->producer_id, st->epoch,
                        pb->first_seq, pb->last_seq, (long long)pb->base_offset);
                lines++;
            }
        }
    }
    fprintf(f, "done %ld\n", lines);
    int rc = fclose(f) == 0 ? write_snapshot(path, text, len) : -ENOMEM;
    free(text);
    return rc;
}

bool producer_state_load(struct partition *p, const char *data_dir, bool clean)
{
    char path[4400];
    snapshot_path(p, data_dir, path, sizeof(path));
    if (!clean) {
        unlink(path); /* after a crash it may describe less than the log holds */
        return false;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    long long end;
    bool ok = fscanf(f, "end %lld\n", &end) == 1 && end == partition_log_end_offset(p->log);
    long long pid, offset;
    int epoch, first, last;
    long lines = 0, done = -1;
    while (ok &&
           fscanf(f, "batch %lld %d %d %d %lld\n", &pid, &epoch, &first, &last, &offset) == 5) {
        lines++;
        /* A header with the same sequence range rebuilds the entry. */
        struct rl_batch_header h = {.producer_id = pid,
                                    .producer_epoch = (int16_t)epoch,
                                    .base_sequence = first,
                                    .record_count = (int32_t)((int64_t)last - first + 1)};
        if (last < first) /* wrapped at INT32_MAX */
            h.record_count = (int32_t)((int64_t)INT32_MAX - first + 1 + last + 1);
        if (producer_state_record(p, &h) != 0) {
            ok = false;
            break;
        }
        producer_state_set_offset(p, pid, first, offset);
    }
    /* Whole only with its trailer: the file is written without an fsync. */
    ok = ok && fscanf(f, "done %ld\n", &done) == 1 && done == lines && feof(f);
    fclose(f);
    /* Used once: from now on the log moves on, and a partition directory must
     * hold only the engine's files so that deleting the partition removes it. */
    unlink(path);
    if (!ok)
        partition_forget_producers(p); /* a stale or damaged snapshot: read the log */
    return ok;
}
