/*
 * Idempotent producers (Kafka's rules): per (producer id, partition) the
 * broker remembers the sequence ranges of the last 5 batches. A batch that
 * repeats one of them is a retry and is answered with the original offset,
 * not appended again; a batch whose first sequence is not the last one + 1
 * is a gap and is refused with OUT_OF_ORDER_SEQUENCE; an older epoch is
 * refused with INVALID_PRODUCER_EPOCH. Before any of that, the (id, epoch)
 * must be the current one in the broker's producer registry
 * (producer_registry.h), checked again only after the registry changed.
 */
#ifndef RINGLOG_BROKER_PRODUCER_STATE_H
#define RINGLOG_BROKER_PRODUCER_STATE_H

#include <stdint.h>

#include "batch.h"
#include "partition.h"

enum producer_check {
    PRODUCER_ACCEPT,       /* append it */
    PRODUCER_DUPLICATE,    /* a retry: answer with *dup_offset (-1: original still in flight) */
    PRODUCER_OUT_OF_ORDER, /* sequence gap */
    PRODUCER_BAD_EPOCH,    /* fenced by a newer epoch */
    PRODUCER_EPOCH_AHEAD,  /* an epoch newer than the registry issued */
    PRODUCER_UNKNOWN_ID,   /* an id the registry does not know */
};

/* Checks a batch against the producer's state without changing it. */
enum producer_check producer_state_check(struct partition *p, const struct rl_batch_header *h,
                                         int64_t *dup_offset);

/*
 * Records an accepted batch, its offset unknown (-1) until
 * producer_state_set_offset. Returns 0, or -1 without memory (the
 * producer's state is then dropped, so the next batch starts it afresh).
 */
int producer_state_record(struct partition *p, const struct rl_batch_header *h);

/* Records every producer batch of data (whole batches, offsets set, control
 * batches stepped over): a replica's writes, which a later leader must know. */
void producer_state_note_written(struct partition *p, const uint8_t *data, size_t len);

/* Fills in the offset of a recorded batch once it is written. */
void producer_state_set_offset(struct partition *p, int64_t producer_id, int32_t first_seq,
                               int64_t base_offset);

/*
 * The log was truncated at offset (a replica's divergent tail): forgets the
 * batches recorded at or after it, in memory, so a retry of one of them is
 * appended again rather than answered with an offset that now holds
 * something else.
 */
void producer_state_truncate(struct partition *p, int64_t offset);

/* Rebuilds the state from the tail of the log (start-up after a crash). */
void producer_state_rebuild(struct partition *p);

/*
 * A clean shutdown saves the state in <partition dir>/producers, stamped
 * with the log end it describes; a clean start loads it instead of reading
 * the log's tail, so start-up does not read 16 MiB per partition. The
 * snapshot is removed once loaded.
 * save returns 0 or -errno; load returns true when the snapshot was used.
 */
int producer_state_save(struct partition *p, const char *data_dir);
/* clean: the log was closed cleanly; otherwise the snapshot is only removed. */
bool producer_state_load(struct partition *p, const char *data_dir, bool clean);

#endif
