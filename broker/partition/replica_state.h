/*
 * The replicas' hard state ({term, voted_for, recovering, vote_floor} per
 * replica group, docs/REPLICATION.md "Outputs") on disk: one append-only
 * journal per shard, <data-dir>/meta/replica-state.<shard>, of fixed
 * records keyed by (topic id, partition). A shard appends the turn's
 * changes and issues ONE fdatasync before the turn's messages leave.
 *
 * At start every shard's journal is read (replica_state_load) and the
 * record with the highest sequence number wins per group, so a change of
 * --shards loses nothing. Sequence numbers come from one counter for the
 * whole broker (replica_state_next_seq), started above the highest found.
 * A torn record at a journal's end (a crash mid-write) fails its checksum
 * and is ignored: its fdatasync never returned, so no message depended on it.
 */
#ifndef RINGLOG_BROKER_REPLICA_STATE_H
#define RINGLOG_BROKER_REPLICA_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica_group.h"

struct replica_state_entry {
    uint64_t topic_id;
    uint32_t partition;
    uint64_t seq;
    struct rg_hard_state hs;
};

/* Everything found at start, sorted by (topic_id, partition). Read-only after load. */
struct replica_state_table {
    struct replica_state_entry *entries;
    uint32_t count;
    _Atomic uint64_t next_seq;
};

/* Reads every meta/replica-state.* file. Returns 0, or -1 with err. */
int replica_state_load(struct replica_state_table *t, const char *data_dir, char *err,
                       size_t err_len);
void replica_state_table_free(struct replica_state_table *t);

/* The saved hard state of a group; false when it has none (a new or wiped replica). */
bool replica_state_lookup(const struct replica_state_table *t, uint64_t topic_id,
                          uint32_t partition, struct rg_hard_state *out);

static inline uint64_t replica_state_next_seq(struct replica_state_table *t)
{
    return atomic_fetch_add_explicit(&t->next_seq, 1, memory_order_relaxed);
}

/* One shard's journal. */
struct replica_state_journal {
    int fd;
    uint64_t size;
    uint32_t unsynced; /* records written since the last sync */
};

/* Opens (creating) meta/replica-state.<shard> for appending. 0 or -errno. */
int replica_state_open(struct replica_state_journal *j, const char *data_dir, int shard);
void replica_state_close(struct replica_state_journal *j);

/* Writes one record (not yet durable). 0 or -errno. */
int replica_state_write(struct replica_state_journal *j, const struct replica_state_entry *e);

/* Makes every written record durable (one fdatasync). 0 or -errno. */
int replica_state_sync(struct replica_state_journal *j);

#endif
