/*
 * The ringlogd process: checks the platform, prepares the data directory,
 * binds the listeners, starts one shard thread per core (shard_main.h) and
 * waits for SIGTERM or SIGINT.
 */
#ifndef RINGLOG_BROKER_DAEMON_H
#define RINGLOG_BROKER_DAEMON_H

#include "config.h"

/*
 * Everything of srv but its listeners: the data directory (made, locked),
 * cluster id, topic table, offset store, producer registry and ids, and
 * srv->nshards shards initialised (no threads). srv->cfg, nshards and
 * lock_fd = -1 set by the caller. daemon_run uses it; so does the
 * whole-request fuzz target, which runs a shard on its own thread.
 * Returns 0, or -1 with err.
 */
struct server;
int daemon_open_state(struct server *srv, char *err, size_t err_len);

/* Frees what daemon_open_state made (and the listeners), once no shard runs. */
void daemon_close_state(struct server *srv);

/* Runs the broker until a stop signal. Returns the process exit status. */
int daemon_run(const struct broker_config *cfg);

#endif
