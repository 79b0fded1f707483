/* One replica of one partition read from offset 0 to its high watermark. */
#ifndef RINGLOG_TESTS_CHAOS_CHECK_READ_H
#define RINGLOG_TESTS_CHAOS_CHECK_READ_H

#include <stddef.h>
#include <stdint.h>

#include "chaos.h"

#define REPLICA_CONTROL 0             /* ids[] of an offset taken by a control batch */
#define REPLICA_UNPARSABLE UINT64_MAX /* a record that is not the workload's */

struct replica {
    uint8_t *bytes; /* every batch below hw, as fetched */
    size_t len, cap;
    int64_t hw;
    uint64_t *ids;  /* ids[offset] for offset < hw: wl_pack of the record, or the above */
    int32_t *epoch; /* leader epoch of each offset's batch (for reports) */
    int64_t *ts;    /* each offset's record timestamp, ms since the epoch (for reports) */
};

/*
 * "offset O (epoch E, produced at T s)" followed by what it holds, for
 * failure reports; T is seconds since the run started.
 */
void replica_describe(const struct replica *r, int64_t offset, char *out, size_t len);

/* Every offset holding id, as "offsets A, B" or "nowhere". */
void replica_find(const struct replica *r, uint64_t id, char *out, size_t len);

/*
 * Fetches partition p from node n until its high watermark, checking that
 * batches tile the offsets from 0 without gaps; 0, or -1 (reported).
 */
int replica_read(const struct chaos_node *n, int partition, struct replica *r);
void replica_free(struct replica *r);

#endif
