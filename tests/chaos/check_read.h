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
    uint64_t *ids; /* ids[offset] for offset < hw: wl_pack of the record, or the above */
};

/*
 * Fetches partition p from node n until its high watermark, checking that
 * batches tile the offsets from 0 without gaps; 0, or -1 (reported).
 */
int replica_read(const struct chaos_node *n, int partition, struct replica *r);
void replica_free(struct replica *r);

#endif
