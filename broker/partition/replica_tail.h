/*
 * A leader's newest written batches, kept in memory so its APPENDs to
 * followers are sent from there instead of read back from the log.
 *
 * Why: reading each APPEND back (an io_uring read, a fresh 1 MiB buffer,
 * a checksum pass, then a copy into the socket) cost a leader ~15 % of its
 * CPU under 3-broker acks=all load (perf, bench/cluster.sh), once per
 * follower; and under flush=always a batch is readable only once its
 * fdatasync is back, so followers got it one fsync late. The tail is
 * filled when the log has the bytes in the file (on_stored), copied once,
 * and an APPEND borrows a slice of it: the message holds a reference to
 * the chunk and the socket reads it in place.
 *
 * Bounded: at most REPLICA_TAIL_SLOTS entries and REPLICA_TAIL_MAX_BYTES per
 * replica, and a shard-wide budget the caller passes in. Whatever is not
 * here (evicted, a leader newly elected, a follower far behind) is read
 * from the log as before. Shard thread only, except tail_chunk_release,
 * which any thread may call (the peer link frees messages on its shard).
 */
#ifndef RINGLOG_BROKER_REPLICA_TAIL_H
#define RINGLOG_BROKER_REPLICA_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLICA_TAIL_SLOTS 128
/* Chunks start small (a partition written now and then holds little) and double, as long as
 * each fills up, to the largest. */
#define REPLICA_TAIL_FIRST_CHUNK_BYTES (16u << 10)
#define REPLICA_TAIL_CHUNK_BYTES (256u << 10)
#define REPLICA_TAIL_MAX_BYTES (8u << 20)
/* The chunk bytes all tails of one shard may hold, by default (--replica-tail-bytes). */
#define REPLICA_TAIL_SHARD_BYTES ((int64_t)64 << 20)

struct tail_chunk;

struct tail_entry {
    int64_t base, end; /* the offsets of the entry's batches: [base, end) */
    struct tail_chunk *chunk;
    uint32_t pos, len; /* its bytes in chunk */
};

struct replica_tail {
    struct tail_entry e[REPLICA_TAIL_SLOTS];
    uint32_t head, count;
    uint64_t bytes;          /* chunk bytes this tail holds (for the shard's budget) */
    struct tail_chunk *fill; /* the chunk new entries go to, or NULL */
    int64_t last_used_ms;
};

/* A slice of the tail that an APPEND may carry: one chunk's bytes, whole entries. */
struct tail_slice {
    const uint8_t *data;
    size_t len;
    int64_t end;              /* the offset after its last entry */
    struct tail_chunk *chunk; /* a reference the caller owns: tail_chunk_release(chunk) */
};

/*
 * Copies the batches [base, end) (len bytes) after the tail's last entry.
 * A gap (base is not the last entry's end) empties the tail first. Evicts
 * the oldest entries to stay within the per-replica bounds and *budget (the
 * shard's chunk bytes left, updated). False when it was not kept.
 */
bool replica_tail_add(struct replica_tail *t, int64_t base, int64_t end, const uint8_t *data,
                      size_t len, int64_t *budget);

/* The first entry's base offset; INT64_MAX when empty. */
int64_t replica_tail_start(const struct replica_tail *t);
/* The last entry's end; -1 when empty. */
int64_t replica_tail_end(const struct replica_tail *t);

/* Drops the entries that end at or below `below` (every follower has them). */
void replica_tail_trim(struct replica_tail *t, int64_t below, int64_t *budget);

/* Drops everything (truncation, reset, leadership lost, idle). */
void replica_tail_clear(struct replica_tail *t, int64_t *budget);

/*
 * The longest run of whole entries from `from` that ends at or below `to`,
 * lies in one chunk and is at most max_bytes (at least one entry, however
 * large). False when no entry starts at `from`.
 */
bool replica_tail_find(struct replica_tail *t, int64_t from, int64_t to, size_t max_bytes,
                       struct tail_slice *out);

/* Gives back a slice's reference; any thread. void * for peer_out's release. */
void tail_chunk_release(void *chunk);

#endif
