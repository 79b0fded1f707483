/*
 * Producer ids for InitProducerId: handed out from a block reserved on disk
 * (<data-dir>/meta/producer_ids) ahead of use, so an id is never issued twice
 * across restarts.
 */
#ifndef RINGLOG_BROKER_PRODUCER_IDS_H
#define RINGLOG_BROKER_PRODUCER_IDS_H

#include <stdint.h>

struct server;

/* Reserves the next block on disk. Returns 0, or -1 with errno set. */
int producer_ids_reserve(struct server *srv);

/* The next id; -1 when the id space could not be reserved. Any thread. */
int64_t producer_ids_next(struct server *srv);

#endif
