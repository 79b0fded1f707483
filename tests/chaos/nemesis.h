/*
 * The seeded nemesis: episodes of one fault (sometimes two at once) held
 * for a drawn time and then healed, until the deadline. Every choice comes
 * from the run's PRNG, in order, so a seed names the same schedule of
 * faults (what a fault hits may still depend on timing: "the leader of
 * partition 2" is resolved when the fault starts).
 */
#ifndef RINGLOG_TESTS_CHAOS_NEMESIS_H
#define RINGLOG_TESTS_CHAOS_NEMESIS_H

#include "chaos.h"
#include "test_rng.h"

/* Runs episodes until until_ms; returns the number of faults injected. Main thread only. */
unsigned nemesis_run(struct chaos_cluster *c, struct test_rng *rng, int64_t until_ms);

/* Heals every link, resumes paused brokers and restarts stopped ones. */
void nemesis_heal_all(struct chaos_cluster *c);

#endif
