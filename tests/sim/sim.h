/*
 * Deterministic simulation of replica groups (tests/sim).
 *
 * Three or five replicas (plus one spare for membership changes) run the
 * real replication core in one process over a simulated network and
 * simulated disks, driven by one seed: every choice comes from one PRNG,
 * so a seed replays exactly. An invariant checker runs after every step.
 */
#ifndef RINGLOG_TESTS_SIM_H
#define RINGLOG_TESTS_SIM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "replica_group.h"

#define SIM_MAX_NODES 6
#define SIM_MAX_GROUPS 4
#define SIM_EPOCH_CAPACITY 4096

/* ---------------------------------------------------------------- log (sim_log.c) */

enum sim_entry_kind { SIM_DATA = 1, SIM_MARKER, SIM_CONFIG, SIM_TORN };

/* One record batch: [base, base + count) of one epoch. `chain` hashes the
 * whole log prefix through this entry, so equal chains = equal prefixes. */
struct sim_entry {
    int64_t base;
    int32_t count;
    int32_t epoch;
    uint64_t id;
    enum sim_entry_kind kind;
    struct rg_membership membership;
    uint64_t chain;
};

/* Where a log starts: retention deleted [0, start), or the log was reset
 * to start there. What a broker keeps in its log-start checkpoint. */
struct sim_log_start {
    int64_t start;
    int32_t epoch;  /* of the deleted entry start - 1 */
    uint64_t chain; /* of the deleted entry start - 1 (the sim's prefix hash) */
    bool has_config;
    struct rg_config_entry config; /* newest config batch below start */
};

struct sim_log {
    struct sim_log_start head;
    struct sim_entry *e;
    uint32_t n, cap;
    struct rg_epoch_run *runs; /* derived, for the checker; runs[0] clamped to start */
    uint32_t nruns, capruns;
};

/* Grows an array of *cap elements of size to hold need (aborts on OOM). */
void *sim_grow(void *p, uint32_t *cap, uint32_t need, size_t size);
void sim_log_free(struct sim_log *log);
void sim_log_copy(struct sim_log *dst, const struct sim_log *src);
int64_t sim_log_end(const struct sim_log *log);
/* Index of the entry containing offset, or -1. */
int64_t sim_log_find(const struct sim_log *log, int64_t offset);
/* Index of the entry starting at offset, or -1. */
int64_t sim_log_find_base(const struct sim_log *log, int64_t offset);
void sim_log_push(struct sim_log *log, const struct sim_entry *entry);
void sim_log_truncate(struct sim_log *log, int64_t offset);
/* Chain of the entry containing offset (start - 1 included), 0 if unknown. */
uint64_t sim_log_chain_at(const struct sim_log *log, int64_t offset);
/* Retention: drops the entries below start (a batch boundary <= end). */
void sim_log_trim_front(struct sim_log *log, int64_t start);
/* The log becomes empty, starting at head->start. */
void sim_log_reset(struct sim_log *log, const struct sim_log_start *head);
/* End offset of the longest common prefix of two logs. */
int64_t sim_log_common_prefix(const struct sim_log *a, const struct sim_log *b);
int32_t sim_log_epoch_at(const struct sim_log *log, int64_t offset);

/* ---------------------------------------------------------------- disk (sim_log.c) */

enum sim_op_type { SIM_OP_APPEND = 1, SIM_OP_TRUNCATE, SIM_OP_RESET };
struct sim_op {
    enum sim_op_type type;
    int64_t offset;
    struct sim_entry entry;
    struct sim_log_start head; /* RESET */
};

/* What a crash keeps: the durable log and the hard state (written with
 * fsync before any message leaves). Pending ops reach the durable log only
 * through a sync; a crash applies a random prefix of them, tearing the
 * next write, and recovery drops the torn tail. */
struct sim_disk {
    struct sim_log durable;
    struct sim_log current;
    struct sim_op *pending;
    uint32_t npending, cappending;
    uint32_t sync_covers; /* ops covered by the sync in flight, 0 = none */
    struct rg_hard_state hard;
};

void sim_disk_free(struct sim_disk *d);
void sim_disk_append(struct sim_disk *d, const struct sim_entry *entry);
void sim_disk_truncate(struct sim_disk *d, int64_t offset);
/* A follower's log restarts at head->start (durable once synced). */
void sim_disk_reset(struct sim_disk *d, const struct sim_log_start *head);
/* Retention: deletes [.., start) of both logs at once (durable data only). */
void sim_disk_trim_front(struct sim_disk *d, int64_t start);
/* Applies the first `count` pending ops to the durable log. */
void sim_disk_sync_done(struct sim_disk *d, uint32_t count);
/* [start, x) of the current log is durable. */
int64_t sim_disk_durable_prefix(const struct sim_disk *d);
/* Applies one op to a log (append, truncate, reset). */
void sim_log_apply(struct sim_log *log, const struct sim_op *op);
/* Crash: `survive` pending ops reach the disk, the next one torn. */
void sim_disk_crash(struct sim_disk *d, uint32_t survive, bool tear);

/* ---------------------------------------------------------------- world (sim_world.c) */

struct sim_options {
    uint64_t seed;
    int replicas;         /* 3 or 5; 0: chosen by the seed */
    bool short_schedule;  /* make test: shorter chaos */
    bool trace;           /* print every step */
    const char *fault;    /* name of a test-only fault knob, or NULL */
    bool scenario_checks; /* force the pre-vote / check-quorum scenarios */
    bool nasty;           /* harsher fault profile (small appends, lossy, leader crashes) */
    bool figure8;         /* directed adversary steering toward Raft's figure 8 */
    int groups;           /* replica groups sharing the hosts; 0: chosen by the seed */
    bool end_to_end;      /* check only end-to-end invariants (no durable-claim checks) */
};

struct sim_result {
    bool failed;
    char reason[512];
    uint64_t steps;
    uint64_t commits; /* acknowledged (committed) client batches */
    uint64_t proposals;
    int64_t virtual_ms;
};

void sim_run(const struct sim_options *opt, struct sim_result *res);
bool sim_fault_known(const char *name);
const char *sim_fault_names(void);

#endif
