/*
 * A shard's thread, from start to stop: the one place that composes every
 * tier of the broker. It sets up the loop, opens the partitions the shard
 * owns, arms the listeners, registers the hooks through which the loop
 * tier reaches the tiers above (the storage engine before each wait; ticks;
 * fetch wakes; the drained test), and on shutdown drains connections and
 * closes partitions cleanly.
 */
#ifndef RINGLOG_BROKER_SHARD_MAIN_H
#define RINGLOG_BROKER_SHARD_MAIN_H

#include <stddef.h>

struct shard;
struct server;

/* Prepares shard `id` of srv (no thread, no ring yet). Returns 0 or -1 with err. */
int shard_init(struct shard *s, struct server *srv, int id, char *err, size_t err_len);

/* Starts the shard's thread. Returns 0 or an errno. */
int shard_start(struct shard *s);

/*
 * Runs a shard on the calling thread instead of its own (the whole-request
 * fuzz target): sets up the loop and the storage engine and opens the
 * partitions it owns, without listeners; the caller then turns the loop
 * (loop_start, loop_turn) and feeds it connections (conn_open).
 * shard_detach closes the partitions cleanly. 0, or -1 (logged).
 */
int shard_attach(struct shard *s);
void shard_detach(struct shard *s);

/* Frees what shard_init and the thread left (after the thread has been joined). */
void shard_destroy(struct shard *s);

#endif
