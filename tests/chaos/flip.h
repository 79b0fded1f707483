/*
 * A bit flipped on a broker's disk (docs/REPLICATION.md "Repair"): one
 * byte of a committed batch in a stopped broker's segment file, which it
 * must find (recovery or its scrub) and repair from the other replicas
 * once it runs again. The checks then find every replica byte-identical.
 */
#ifndef RINGLOG_TESTS_CHAOS_FLIP_H
#define RINGLOG_TESTS_CHAOS_FLIP_H

#include "chaos.h"
#include "test_rng.h"

/* Flips one byte of a committed data batch of a random partition on node i (not running). */
void flip_committed_batch(struct chaos_cluster *c, int i, struct test_rng *rng);

#endif
