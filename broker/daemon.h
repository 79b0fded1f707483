/*
 * The ringlogd process: checks the platform, prepares the data directory,
 * binds the listeners, starts one shard thread per core (shard_main.h) and
 * waits for SIGTERM or SIGINT.
 */
#ifndef RINGLOG_BROKER_DAEMON_H
#define RINGLOG_BROKER_DAEMON_H

#include "config.h"

/* Runs the broker until a stop signal. Returns the process exit status. */
int daemon_run(const struct broker_config *cfg);

#endif
