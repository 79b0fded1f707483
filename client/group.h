/*
 * A subscribed consumer's membership in its group (KIP-848 style): the I/O
 * thread finds the coordinator and heartbeats (member id, epoch, the
 * partitions owned, the subscription), and keeps the coordinator's answer
 * as the target; the application thread, in poll, reconciles: partitions
 * leaving are passed to the rebalance callback, committed and unassigned,
 * partitions arriving are assigned at their committed offsets, and the
 * next heartbeat, sent at once, tells the coordinator what is owned now.
 */
#ifndef RINGLOG_CLIENT_GROUP_H
#define RINGLOG_CLIENT_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ringlog_consumer;
struct rl_broker;
struct rl_group;

/* Application thread, lock not held: starts (or changes) the subscription. */
int group_subscribe(struct ringlog_consumer *c, const char *const *topics, size_t n,
                    const char *pattern);
/* Application thread, lock not held: gives every partition up and leaves; waits up to timeout. */
int group_leave(struct ringlog_consumer *c, int timeout_ms);
/* Application thread, lock not held: applies a pending change of assignment. */
void group_reconcile(struct ringlog_consumer *c);

/* Lock held: */
/* I/O thread: the coordinator and the heartbeat; returns when to run again (-1: no need). */
int64_t group_tick(struct ringlog_consumer *c, int64_t now);
/* A change poll must apply. */
bool group_pending(const struct ringlog_consumer *c);
/* For commits: the member id ("" outside a group) and epoch; the coordinator (NULL unknown). */
const char *group_member(const struct ringlog_consumer *c, int32_t *epoch);
struct rl_broker *group_coordinator(struct ringlog_consumer *c);
/* A commit or committed-offset call met NOT_COORDINATOR or a lost connection: the coordinator
 * moved (a failover), find it again (I/O thread, lock held). */
void group_coordinator_lost(struct ringlog_consumer *c);
void group_free(struct rl_group *g);

#endif
