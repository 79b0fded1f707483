/*
 * A tiny in-memory cluster for the unit tests: nodes run the core, a FIFO
 * of messages stands for the network (with a partition matrix), each log is
 * an array of batches, and durability is reported on demand or at once.
 */
#ifndef RINGLOG_TESTS_REPLICATION_HARNESS_H
#define RINGLOG_TESTS_REPLICATION_HARNESS_H

#include "replica_group.h"

#define H_NODES 5
#define H_LOG 512
#define H_QUEUE 4096

struct h_batch {
    int64_t base;
    int32_t count;
    int32_t epoch;
    bool config;
    struct rg_membership membership;
};

/* Where a log starts (retention, or a reset): the log-start checkpoint. */
struct h_start {
    int64_t start;
    int32_t epoch; /* of the deleted entry start - 1 */
    bool has_config;
    struct rg_config_entry config; /* newest config batch below start */
};

struct h_node {
    struct replica_group rg;
    struct rg_epoch_run epochs[64];
    struct h_start head;
    struct h_batch log[H_LOG];
    uint32_t nlog;
    struct rg_hard_state hard;
    bool auto_durable;    /* report durability right after each write */
    uint64_t incarnation; /* its disk's */
    bool wiped;           /* its disk was wiped once: it must recover */
};

struct h_cluster {
    int n;
    int members; /* bootstrap voters 0..members-1 */
    struct h_node nodes[H_NODES];
    struct rg_message queue[H_QUEUE];
    uint32_t qhead, qlen;
    bool blocked[H_NODES][H_NODES];
    struct replica_group_faults faults;
    struct rg_message out_msgs[RG_MAX_NODES * 3 * 4];
    struct rg_log_op out_ops[8];
    struct rg_output out;
    uint32_t sent_appends; /* counters for tests */
    uint32_t rejections;
};

/* n nodes, the first `members` of them bootstrap voters; all new, auto-durable. */
void h_init(struct h_cluster *c, int n, int members);
/* Restart node i from a given log (batches with epochs) and hard state. */
void h_restart(struct h_cluster *c, int i);
void h_tick(struct h_cluster *c, int i);
void h_tick_all(struct h_cluster *c, int ticks);
/* Delivers queued messages until the queue is empty (or max steps). */
void h_deliver_all(struct h_cluster *c);
void h_isolate(struct h_cluster *c, int i, bool on);
void h_durable(struct h_cluster *c, int i);
int h_propose(struct h_cluster *c, int i, int32_t count);
int h_leader(struct h_cluster *c);
/* Ticks node i until it leads (pre-vote + vote), delivering everything. */
int h_elect(struct h_cluster *c, int i);
int64_t h_log_end(const struct h_node *n);
/* Retention on node i: deletes its batches below start, tells the core. */
int h_trim(struct h_cluster *c, int i, int64_t start);
void h_process(struct h_cluster *c, int i);
/* A message of `type` from -> to in `term`, every other field zero. */
struct rg_message h_msg(enum rg_message_type type, int from, int to, int64_t term);
/* The first message of `type` in out, or NULL. */
const struct rg_message *h_find(const struct rg_output *out, enum rg_message_type type);
/* Node i's disk is wiped (new incarnation `incarnation`); it restarts empty. */
void h_wipe(struct h_cluster *c, int i, uint64_t incarnation);
struct rg_output *h_out(struct h_cluster *c);

#endif
