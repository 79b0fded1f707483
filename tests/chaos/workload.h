/*
 * The chaos workload: idempotent producers with acks=all writing
 * "c<producer>.<partition>.<sequence>|..." to explicit partitions in turn,
 * each remembering the offset every record was acknowledged at; consumers
 * reading every partition from the start throughout, remembering what
 * they saw at each offset (and failing a check at once when an offset
 * they saw before comes back with another value).
 */
#ifndef RINGLOG_TESTS_CHAOS_WORKLOAD_H
#define RINGLOG_TESTS_CHAOS_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "chaos.h"

#define WL_MAX_PRODUCERS 8
#define WL_MAX_PARTITIONS 16

/* What a record's offset slot holds in a producer's history. */
#define WL_PENDING (-1) /* produced, no answer yet */
#define WL_FAILED (-2)  /* reported as not delivered (it may still be in the log) */
#define WL_UNSENT (-3)  /* ringlog_produce refused it: it never left */

/* One producer's records to one partition, indexed by sequence. */
struct wl_series {
    int64_t *offset;
    int32_t *answered_ms; /* when the outcome came, ms since the run started (for reports) */
    uint32_t count, cap;
};

struct workload;

/* A record's identity as the checker sees it: producer, partition, sequence. */
struct wl_id {
    uint32_t producer, partition, seq;
};

/* Parses a value written by the workload; false when it is not one. */
bool wl_parse(const void *value, size_t len, struct wl_id *id);

struct workload *workload_start(struct chaos_cluster *c, const struct chaos_opts *o);

/* Stops producing (flushing for up to flush_ms) and consuming. */
void workload_stop(struct workload *w, int flush_ms);

/* After stop: one producer's series for a partition (NULL when out of range). */
const struct wl_series *wl_series(const struct workload *w, uint32_t producer, uint32_t partition);
uint32_t wl_producers(const struct workload *w);

/* After stop: the id consumers saw at offset of partition (0: none seen), packed by wl_pack. */
uint64_t wl_seen(const struct workload *w, uint32_t partition, int64_t offset);
int64_t wl_seen_count(const struct workload *w, uint32_t partition);
uint64_t wl_pack(struct wl_id id);

/* Records acknowledged, and delivery errors, so far. */
uint64_t wl_acked(const struct workload *w);
uint64_t wl_errors(const struct workload *w);

void workload_free(struct workload *w);

#endif
