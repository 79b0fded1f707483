/*
 * The three broker processes of a chaos run: fixed ports (a restarted
 * broker comes back where its peers' proxies expect it), data directories
 * under one base directory, each broker's --peers naming the proxy
 * listeners for the other two.
 */
#ifndef RINGLOG_TESTS_CHAOS_NODES_H
#define RINGLOG_TESTS_CHAOS_NODES_H

#include "chaos.h"

/* Picks ports and directories, starts the proxy and the three brokers. 0 or -1. */
int nodes_start(struct chaos_cluster *c, const struct chaos_opts *o);

/* (Re)starts node i (index) with its data directory; 0 or -1 (a failure is reported). */
int node_start(struct chaos_cluster *c, int i);

/* SIGKILL, SIGTERM (waits for the exit, which must be 0), SIGSTOP, SIGCONT. */
void node_kill(struct chaos_cluster *c, int i);
void node_term(struct chaos_cluster *c, int i);
void node_pause(struct chaos_cluster *c, int i);
void node_resume(struct chaos_cluster *c, int i);

/* Reports nodes that exited without being told to (a crash); true if any did. */
bool nodes_check_alive(struct chaos_cluster *c);

/* Stops every broker (SIGTERM, exit status checked), the proxy; removes data unless keep. */
void nodes_stop(struct chaos_cluster *c, bool keep);

#endif
