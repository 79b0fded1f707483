/*
 * The end of a run: once every fault is healed, wait until the replicas
 * agree (one leader, equal high watermarks, nothing uncommitted), read
 * every partition from offset 0 on every broker, and check the logs
 * against what producers had acknowledged and consumers had seen.
 */
#ifndef RINGLOG_TESTS_CHAOS_CHECK_H
#define RINGLOG_TESTS_CHAOS_CHECK_H

#include "chaos.h"
#include "workload.h"

/* Waits for agreement, up to timeout_ms; false (reported) when it does not come. when: for the log
 * line. */
bool check_converge(const struct chaos_cluster *c, const char *when, int timeout_ms);

/*
 * Reads every replica of every partition and runs the checks; failures are
 * reported. sabotage: the first partition whose checks can be sabotaged
 * gets one planted fault per check instead (each must be reported; the
 * others are checked as usual); returns how many of the 4 were caught.
 */
int check_logs(const struct chaos_cluster *c, const struct workload *w, bool sabotage);

#endif
