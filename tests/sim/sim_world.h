/* The simulated world: nodes, network, event queue, checker state. */
#ifndef RINGLOG_TESTS_SIM_WORLD_H
#define RINGLOG_TESTS_SIM_WORLD_H

#include "sim.h"

enum sim_msg_kind {
    SIM_MSG_GROUP = 0,         /* m: one message of one group */
    SIM_MSG_HEARTBEATS,        /* hbs: every group's heartbeat to a host (m.from/to: hosts) */
    SIM_MSG_HEARTBEAT_REPLIES, /* hbs: the replies, one message back */
};

/* One entry of a coalesced heartbeat message, or of its reply. */
struct sim_hb_entry {
    int group;
    struct rg_heartbeat hb;
    struct rg_heartbeat_reply reply;
};

struct sim_msg {
    enum sim_msg_kind kind;
    int group;        /* SIM_MSG_GROUP: which replica group it belongs to */
    uint64_t disk_id; /* the sender's disk incarnation when it was sent */
    struct sim_hb_entry *hbs;
    uint32_t nhb;
    struct rg_message m;
    struct sim_entry *entries; /* APPEND: the batches, as read from the log */
    uint32_t n;
    struct sim_log_start head; /* INSTALL_START: the sender's log start */
};

enum sim_event_type {
    EV_TICK = 1,
    EV_DELIVER,
    EV_SYNC_DONE,
    EV_FLUSH,
    EV_CLIENT,
    EV_FAULT,
    EV_RESTART,
    EV_CRASH,
    EV_ADMIN,
    EV_PHASE,
    EV_HARD_SYNC,  /* a host's hard-state fsync (all its groups at once) completes */
    EV_WRITE_DONE, /* a replica's queued log writes complete (or one fails) */
    EV_READ_DONE,  /* the read for an APPEND completes */
};

struct sim_event {
    int64_t time;
    uint64_t seq;
    enum sim_event_type type;
    int node;     /* the host */
    int group;    /* EV_SYNC_DONE: the replica's group */
    uint64_t inc; /* host incarnation the event belongs to */
    uint32_t covers;
    struct sim_msg *msg;
};

/* A broker: its process (up, paused, restarted) and clock, shared by the
 * replicas of every group it hosts. */
struct sim_host {
    int id;
    bool up;
    int64_t paused_until;
    uint64_t inc;          /* process incarnation: events of an older one are void */
    uint32_t tick_gen;     /* ticks of an older generation are ignored */
    int flush_interval_ms; /* 0: sync after every write (flush=always) */
    /* Its monotonic clock runs at rate_pm per mille of real time (clock
     * skew); ticks come from it through rg_clock at each loop turn. */
    int rate_pm;
    uint64_t clock_offset;
    int64_t clock_base;
    struct rg_clock clock;
    uint64_t disk_id; /* the disk incarnation: new when the disk is wiped */
    bool wiped;       /* lost its disk once: its replicas must recover */
    bool rejoining;   /* wiped, some replica not yet holding what was committed then */

    /* Hard state: one fsync covers every group's changes; messages made
     * after a change wait (held, tagged with hs_wanted) until it is done. */
    uint64_t hs_wanted, hs_durable, hs_sync_covers;
    bool hs_syncing;
    struct sim_held *held;
    uint32_t nheld, capheld;
    /* Coalesced heartbeats gathered in this step, per destination host. */
    struct sim_hb_entry *hb_out[SIM_MAX_NODES];
    uint32_t nhb_out[SIM_MAX_NODES], caphb_out[SIM_MAX_NODES];
};

struct sim_held {
    struct sim_msg *sm;
    uint64_t tag;
};

struct sim_group;

/* One replica of one group on one host. */
struct sim_node {
    int id; /* = its host's id = its node id in the group */
    int group;
    struct sim_group *grp;
    struct sim_host *host;
    struct replica_group rg;
    struct rg_epoch_run epochs[SIM_EPOCH_CAPACITY];
    struct sim_disk disk;
    int64_t last_commit; /* this incarnation's, never goes back */
    int64_t checkpoint;  /* the high watermark as last checkpointed (restored at start) */
    int64_t rejoin_at;   /* wiped: the group's commit then, which it must hold again */
    struct rg_hard_state hard_pending, hard_syncing; /* not yet durable */
    /* Asynchronous writes (sim_io.c): ops the core asked for, in order,
     * not yet written; `planned` is the log as the core sees it (written
     * log + queue), disk.current the written log. */
    struct sim_op *wq;
    uint32_t nwq, capwq;
    bool write_scheduled;
    struct sim_log planned;
    bool hard_dirty, hard_in_sync;
};

/* A replica group: its replicas (one per host) and what the checker
 * remembers of it. */
struct sim_group {
    struct sim_node nodes[SIM_MAX_NODES];
    struct sim_log committed; /* the prefix any node ever reported committed */
    int32_t *leader_of_term;
    int64_t *committed_in_term; /* highest commit seen by a node in that term */
    int64_t nterms;
    int remove_next; /* a leader to remove once it handed leadership over, or -1 */
};

enum sim_phase {
    PHASE_CHAOS = 1,
    PHASE_CONVERGE,         /* healed: a leader and identical logs, in time */
    PHASE_ISOLATE_FOLLOWER, /* a follower cut off, then back: leader stays */
    PHASE_ISOLATE_LEADER,   /* the leader cut off: it steps down */
    PHASE_DONE,
};

/* The figure-8 adversary (sim_figure8.c): one attempt at a time. */
enum f8_state {
    F8_IDLE = 0,
    F8_CUT_OLD,   /* old leader (plus a minority) cut off; waiting for a new leader */
    F8_HOLD_NEW,  /* that new leader cut off at once; old side about to rejoin */
    F8_REJOIN,    /* old side back (without the new leader); waiting for a leader */
    F8_OLD_LEADS, /* a node of the old side leads; waiting for its first commit */
    F8_STRIKE,    /* it is cut off, the in-between leader rejoins */
};

struct f8_script {
    enum f8_state state;
    int64_t deadline;
    uint32_t minority; /* bitmask: the old leader and the followers cut off with it */
    int old_leader, between, old_side_leader;
    int64_t term_old, term_between, term_old_side;
    int64_t marker_at; /* first offset of the old side leader's epoch */
    int attempts, strikes;
};

struct sim_world {
    struct sim_options opt;
    struct sim_result *res;
    uint64_t rng;
    int64_t now;
    int replicas;
    int nodes_total; /* hosts */
    struct sim_host hosts[SIM_MAX_NODES];
    int ngroups;
    struct sim_group *groups;
    struct sim_node *nodes; /* groups[0].nodes: the figure-8 adversary's group */

    struct sim_event *heap;
    uint32_t nheap, capheap;
    uint64_t seq;

    bool blocked[SIM_MAX_NODES][SIM_MAX_NODES]; /* [from][to] */
    int loss_pct, dup_pct, slow_pct, delay_min, delay_max;
    int write_fail_pct; /* of append completions during chaos */

    int tick_ms;
    int min_rate_pm; /* the slowest host clock */
    uint32_t election_ticks;
    bool clients_on, faults_on;
    int client_gap_ms, fault_gap_ms;

    enum sim_phase phase;
    int64_t phase_deadline;
    int64_t stable_since;     /* converged since then, -1: not converged */
    int phase_after_converge; /* which scenario follows a convergence */
    int scenario_leader, scenario_node;
    int64_t scenario_term, scenario_time;

    uint64_t next_id;
    struct replica_group_faults faults;
    struct {
        bool early_send;        /* messages leave before the hard state is durable */
        bool unclamped_durable; /* durable reports not clamped below later truncations */
    } driver_faults;
    struct f8_script f8;

    struct rg_output outs[3];
    struct rg_message *out_msgs[3];
    struct sim_msg *in_hand; /* being delivered: freed if the seed fails */
    struct rg_log_op out_ops[3][8];
    struct rg_heartbeat out_hbs[3][RG_MAX_NODES * 4];
    int out_depth;
    jmp_buf fail_jmp;
};

uint64_t sim_rand(struct sim_world *w);
int sim_rand_range(struct sim_world *w, int lo, int hi); /* [lo, hi] */
void sim_fail(struct sim_world *w, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
void sim_trace(struct sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sim_world.c, for the adversaries */
void sim_isolate(struct sim_world *w, int node);
void sim_heal_network(struct sim_world *w);
/* A crash `delay_ms` from now (if the node is still in this incarnation). */
void sim_schedule_crash(struct sim_world *w, struct sim_node *n, int delay_ms);
struct sim_node *sim_find_leader(struct sim_world *w);
void sim_schedule_fault(struct sim_world *w, int64_t time);
bool sim_chance(struct sim_world *w, int pct);

/* sim_world.c, for sim_host.c */
void sim_send(struct sim_world *w, struct sim_msg *sm);
void sim_free_msg(struct sim_msg *sm);
struct rg_output *sim_out_begin(struct sim_world *w);
void sim_out_end(struct sim_world *w, struct rg_output *out);
void sim_process(struct sim_world *w, struct sim_node *n, struct rg_output *out);
void sim_schedule(struct sim_world *w, struct sim_event ev);

/* sim_host.c: what a broker's replication driver does across its groups */
/* A message leaves now, or once the hard state it depends on is durable. */
void sim_host_send(struct sim_world *w, struct sim_host *h, struct sim_msg *sm);
/* A group's new hard state: persisted by the host's next fsync. */
void sim_host_hard_state(struct sim_world *w, struct sim_node *n, const struct rg_hard_state *hs);
void sim_host_hard_sync_done(struct sim_world *w, struct sim_host *h);
/* Compact heartbeats of an output join the host's batches. */
void sim_host_queue_heartbeats(struct sim_world *w, struct sim_node *n,
                               const struct rg_output *out);
/* End of a step: batches go out, a hard-state fsync starts if needed. */
void sim_hosts_flush(struct sim_world *w);
void sim_host_crash(struct sim_world *w, struct sim_host *h);
void sim_host_free(struct sim_host *h);
void sim_deliver_heartbeats(struct sim_world *w, struct sim_host *h, struct sim_msg *sm);
void sim_deliver_replies(struct sim_world *w, struct sim_host *h, struct sim_msg *sm);

/* sim_world.c, for sim_io.c */
struct sim_msg *sim_fill_append(struct sim_world *w, struct sim_node *n, struct rg_message *m,
                                struct rg_output *out);

/* sim_io.c: the driver's storage path */
/* The core asked for op: the planned log takes it now, the disk later. */
void sim_io_issue(struct sim_world *w, struct sim_node *n, const struct sim_op *op);
void sim_io_write_done(struct sim_world *w, struct sim_node *n);
/* A (re)start: nothing queued, the planned log is what the disk holds. */
void sim_io_restart(struct sim_node *n);
/* An APPEND to send once its read completes. */
void sim_io_read(struct sim_world *w, struct sim_node *n, const struct rg_message *m);
void sim_io_read_done(struct sim_world *w, struct sim_node *n, struct sim_msg *sm);
void sim_io_free(struct sim_node *n);
/* [start, x) of the planned log that is synced: what may be reported. */
int64_t sim_io_durable_end(const struct sim_node *n);

/* sim_figure8.c */
void f8_step(struct sim_world *w);
void f8_on_leader(struct sim_world *w, struct sim_node *n, int64_t term);
void f8_on_commit(struct sim_world *w, struct sim_node *n, int64_t commit);
void f8_on_append_written(struct sim_world *w, struct sim_node *n, int64_t from, int64_t to);
/* Extra delay for an APPEND (the new leader's marker goes slowly). */
int f8_append_delay(struct sim_world *w, const struct rg_message *m);
/* Number of batches an APPEND from `from` may carry: cut before the
 * sender's own epoch, so old-epoch entries and the marker travel apart. */
int64_t f8_append_budget(struct sim_world *w, const struct sim_node *n, const struct rg_message *m);

/* sim_check.c */
void check_node(struct sim_world *w, struct sim_node *n);
void check_commit(struct sim_world *w, struct sim_node *n, int64_t commit);
void check_new_leader(struct sim_world *w, struct sim_node *n, int64_t term);
void check_message(struct sim_world *w, struct sim_node *n, const struct rg_message *m);
bool check_converged(struct sim_world *w, char *why, size_t why_len);

#endif
