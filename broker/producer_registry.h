/*
 * The producer ids this broker issued and the current epoch of each, for
 * fencing as Kafka does: InitProducerId bumps only an id it issued, and
 * only from its current epoch; a partition refuses batches of an id it
 * never issued (UNKNOWN_PRODUCER_ID) or with an epoch other than the
 * current one of a producer it has not yet seen at that epoch
 * (INVALID_PRODUCER_EPOCH: older is a fenced zombie, newer was never
 * issued).
 *
 * Kept durable the way producer ids are: every issue and bump is appended
 * to <data-dir>/meta/producer_epochs and fdatasync'ed before it is
 * answered, and the journal is rewritten compactly when it grows to
 * twice what it describes. Not derived from the partitions' producer
 * state: that is per partition, bounded to the tail of each log, and
 * knows nothing of a producer that has not written yet, while a bump must
 * be judged before the producer writes anywhere.
 *
 * Bounded: at most PRODUCER_REGISTRY_MAX ids; issuing one more forgets the
 * one least recently issued, bumped or checked (its producer then gets
 * UNKNOWN_PRODUCER_ID and starts again with a new id, as after Kafka's
 * producer-id expiry).
 *
 * Shared by every shard under one mutex: it is consulted only by
 * InitProducerId and when a partition meets a producer (id, epoch) it has
 * not validated since the last bump anywhere (`generation`), not per batch.
 */
#ifndef RINGLOG_BROKER_PRODUCER_REGISTRY_H
#define RINGLOG_BROKER_PRODUCER_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PRODUCER_REGISTRY_MAX 65536
#define PRODUCER_REGISTRY_BUCKETS 4096

struct producer_entry {
    struct producer_entry *next;
    int64_t id;
    int16_t epoch;
    uint64_t touched; /* registry clock at the last issue, bump or check */
};

struct producer_registry {
    pthread_mutex_t lock;
    char path[4200];
    int journal_fd;
    size_t journal_lines;
    size_t count;
    int64_t max_id; /* the largest id the journal ever named */
    uint64_t clock;
    /* Moves whenever an epoch changes or an id is forgotten: partitions
     * re-validate the producers they know once it has moved. Starts at 1. */
    _Atomic uint64_t generation;
    struct producer_entry *buckets[PRODUCER_REGISTRY_BUCKETS];
};

enum producer_verdict {
    PRODUCER_ID_OK,
    PRODUCER_ID_UNKNOWN,     /* never issued here, or forgotten */
    PRODUCER_ID_STALE_EPOCH, /* older than the current epoch: fenced */
    PRODUCER_ID_EPOCH_AHEAD, /* newer than any epoch issued */
    PRODUCER_ID_STORAGE,     /* the journal could not be written; nothing changed */
};

/* Loads <data_dir>/meta/producer_epochs (creating it). 0, or -1 with err set. The
 * id allocator must then start above reg->max_id, whatever its own file says. */
int producer_registry_open(struct producer_registry *reg, const char *data_dir, char *err,
                           size_t err_len);
void producer_registry_close(struct producer_registry *reg);

/* Records a newly issued id at epoch 0, durably. OK or STORAGE. */
enum producer_verdict producer_registry_issue(struct producer_registry *reg, int64_t id);

/*
 * InitProducerId for an existing id: from its current epoch only, to
 * epoch + 1 (*epoch_out), durably. An id whose epoch cannot grow further
 * is answered with PRODUCER_ID_OK and *epoch_out = -1: the caller issues a
 * new id (as Kafka does).
 */
enum producer_verdict producer_registry_bump(struct producer_registry *reg, int64_t id,
                                             int16_t epoch, int16_t *epoch_out);

/* Whether a batch of (id, epoch) may be written: OK, UNKNOWN, STALE_EPOCH or EPOCH_AHEAD. */
enum producer_verdict producer_registry_check(struct producer_registry *reg, int64_t id,
                                              int16_t epoch);

static inline uint64_t producer_registry_generation(struct producer_registry *reg)
{
    return atomic_load_explicit(&reg->generation, memory_order_acquire);
}

#endif
