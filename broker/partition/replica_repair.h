/*
 * Repair of known-bad batches from the other replicas (docs/REPLICATION.md
 * "Repair"). A batch that fails its checksum on this broker's disk (found
 * by recovery, by the leader's verifying APPEND reads, or by the scrub here)
 * is asked for from a replica that holds it (ReplicaRepairRequest), checked
 * and written over the bad copy in place (partition_log_overwrite). The
 * scrub reads every replicated log once after it attaches (and every
 * REPAIR_SCRUB_INTERVAL_MS after), at most one bounded read per shard per
 * tick, so a flip before the recovery point is found too.
 *
 * Called by the replication driver only: its tick, a detached replica's
 * end, and peer messages whose body is a repair request or response.
 */
#ifndef RINGLOG_BROKER_REPLICA_REPAIR_H
#define RINGLOG_BROKER_REPLICA_REPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica_wire.h"

struct replica;
struct replica_driver;
struct shard;

/* A full scrub pass of a replicated log starts this long after the last one ended. */
#define REPAIR_SCRUB_INTERVAL_MS (3600 * 1000)
/* One scrub read per shard per tick, at most this many bytes (20 MiB/s at 50 ms ticks). */
#define REPAIR_SCRUB_READ_BYTES (1u << 20)

/* Every driver tick: scrub reads, repair requests and their retries. */
void replica_repair_tick(struct replica_driver *d);
/* A replica's repair state goes with it (once no repair I/O holds it). */
void replica_repair_free(struct replica *r);

/* Whether a PeerMessage body is a repair request or response; its group when it is. */
bool replica_repair_peek(const uint8_t *body, size_t len, struct rw_group *group);
/* A repair request or response for a group this shard owns, from node `from`. Frees body. */
void replica_repair_deliver(struct shard *s, int32_t from, uint8_t *body, size_t len);

#endif
