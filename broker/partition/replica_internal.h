/*
 * What replica_driver.c, replica_log.c and replica_net.c share: the state
 * of one replica and of a shard's driver. Not for other tiers.
 */
#ifndef RINGLOG_BROKER_REPLICA_INTERNAL_H
#define RINGLOG_BROKER_REPLICA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "replica.h"
#include "replica_group.h"
#include "replica_state.h"
#include "replica_wire.h"

struct peer_out;

#define REPLICA_ISR_TICKS 12 /* 600 ms: a voter not heard from this long is out of sync */
/* The log end is sampled every this many ticks into a ring of REPLICA_ISR_TICKS: a voter
 * heard from lately is in sync while its durable match reaches the end of 3 s ago. With the
 * 600 ms of the heard test, a follower whose fdatasyncs took longer than that on a busy
 * disk fell out, and acks=all writes were refused NOT_ENOUGH_REPLICAS with two of three
 * replicas up (test_cluster under a loaded make test); Kafka allows 30 s. */
#define REPLICA_ISR_SAMPLE_TICKS 5
#define REPLICA_PREFERRED_TICKS 40 /* 2 s in sync before leadership goes back to it */

struct replica {
    struct replica *hash_next; /* driver's table by (topic_id, partition) */
    struct replica *next;      /* driver's list */
    struct replica_driver *drv;
    struct replica_host host; /* what it works on (its partition's), until detached */
    const struct replica_events *ev;
    struct rw_group group;
    struct replica_group rg;
    struct rg_epoch_run *epochs; /* the core's epoch-table storage */
    uint32_t epoch_cap;
    /* hard state to write this turn */
    bool hs_dirty;
    struct rg_hard_state hs;
    /* the durable clamp: truncations and resets issued and not completed */
    uint32_t trunc_pending;
    int64_t trunc_floor;
    uint32_t reset_pending;
    uint64_t write_gen;          /* bumped by a failed write: older completions are dropped */
    uint32_t io_pending;         /* storage operations holding this struct */
    bool fenced;                 /* a storage failure the core cannot take: stopped until restart */
    bool dead;                   /* detached: freed once io_pending is 0 */
    int64_t commit;              /* published */
    int64_t leaderless_since_ns; /* when this replica last lost its leader; 0: has one */
    /* In-sync replicas, Kafka's way: a voter is in sync when it was heard
     * from within REPLICA_ISR_TICKS and its durable match reaches the log end
     * the leader had REPLICA_ISR_TICKS ago (caught up, give or take the
     * lag window), so a follower keeping up under load does not flap out. */
    int64_t end_ring[REPLICA_ISR_TICKS];
    uint32_t end_pos;
    uint32_t end_ticks; /* ticks since the last sample */
    int64_t attached_ms;
    int32_t heard_node[RG_MAX_NODES]; /* who heard_ms[i] is for (-1: nobody yet) */
    int64_t heard_ms[RG_MAX_NODES];
    uint32_t preferred_ticks; /* ticks the preferred leader has been in sync, not leading */
    /* replica_member.c: removal notices sent and received */
    int64_t removed_at;            /* a member's committed config without this replica (-2: none) */
    int32_t notice_node;           /* the last node told it was removed */
    int64_t notice_sent_ms;        /* and when */
    struct replica_repair *repair; /* replica_repair.c: scrub and repair state, or NULL */
    struct replica_tail *tail;     /* replica_log.c: a leader's newest batches, or NULL */
};

/* Notes that `node` just spoke for r's group (a message or a heartbeat reply). */
void replica_heard(struct replica *r, int32_t node);

/* replica_member.c: a leader's step towards its assignment, each tick. */
void replica_member_tick(struct replica *r);
/* The preferred leader: the assignment's first replica, else the creation's. */
int32_t replica_preferred_leader(const struct replica *r);
/* `node` spoke to r's group: if outside its committed membership, it is told so. */
void replica_member_heard_outsider(struct replica *r, int32_t node);
/* A PeerMessage body that is a ReplicaRemoved notice; its receipt (owned body). */
bool replica_notice_is(const uint8_t *body, size_t len);
void replica_notice_receive(struct shard *s, int32_t from, uint8_t *body, size_t len);

/* Heartbeat entries (or replies) gathered for one peer this turn. */
struct hb_batch {
    uint32_t count, cap;
    struct rw_group *groups;
    struct rg_heartbeat *hbs;
    struct rg_heartbeat_reply *replies;
};

struct outq {
    struct outq *next;
    int32_t node;
    struct peer_out *m;
};

#define REPLICA_HASH_BUCKETS 1024
#define REPLICA_MAX_PEERS 64 /* node ids 0..63 */
#define REPLICA_OUT_MESSAGES (RG_MAX_NODES * 3 + 1)

#define REPLICA_OUT_DEPTH 4

struct replica_outbuf {
    struct rg_output out;
    struct rg_message msgs[REPLICA_OUT_MESSAGES];
    struct rg_log_op ops[RG_MAX_OPS_PER_EVENT * 4];
    struct rg_heartbeat hbs[RG_MAX_NODES * 2];
};

struct replica_driver {
    struct shard *shard;
    struct replica *table[REPLICA_HASH_BUCKETS];
    struct replica *list;
    uint32_t count;
    struct rg_clock clock;
    bool clock_started;
    struct replica_state_journal journal;
    bool hs_dirty; /* some replica's hard state waits for the journal */
    /* one event's output; carrying one out may cause nested events (a write
     * failing at once, an empty APPEND), hence a small stack of them */
    struct replica_outbuf outs[REPLICA_OUT_DEPTH];
    uint32_t depth;
    /* what leaves at the end of the turn */
    struct outq *out_head, *out_tail;
    struct hb_batch hb_out[REPLICA_MAX_PEERS];
    struct hb_batch reply_out[REPLICA_MAX_PEERS];
    /* Per node, the newest link (net/peer.h peer_link_number) a message came
     * by: a message of an older link, still travelling between shards, is
     * dropped once a newer one's arrived (incarnations are random ids and
     * cannot be ordered). */
    uint64_t peer_link[REPLICA_MAX_PEERS];
    struct rl_arena arena; /* decoding heartbeats */
    /* replica_repair.c: scrub reads (at most one) and reads answering peers, in flight */
    uint32_t repair_scrubs, repair_serving;
    int64_t tail_budget; /* chunk bytes the replicas' tails may still take (replica_tail.h) */
    struct tail_send *tail_sends, *tail_sends_last; /* APPENDs to send from tails this turn */
};

/* An APPEND waiting to be sent from its replica's tail (replica_tail_sends). */
struct tail_send {
    struct tail_send *next;
    struct replica *r;
    struct rg_message msg;
};

struct replica *replica_find(struct replica_driver *d, uint64_t topic_id, uint32_t partition);

/*
 * replica_driver.c: an event's output. replica_out takes an empty one;
 * replica_finish carries it out in the core's order when the event
 * returned RG_OK (anything else changed nothing) and gives it back.
 */
struct rg_output *replica_out(struct replica_driver *d);
void replica_finish(struct replica *r, struct rg_output *out, int rc);
void replica_release(struct replica *r); /* io_pending-- and free when dead */

/* replica_log.c */
void replica_checkpoint_commit(struct replica *r);
void replica_log_op(struct replica *r, const struct rg_log_op *op);
void replica_read_append(struct replica *r, const struct rg_message *msg);
/* The in-memory tail: dropped with leadership, a truncation or a reset; freed when idle. */
void replica_tail_drop(struct replica *r);
void replica_tail_tick(struct replica *r, int64_t now_ms);
void replica_tail_sends(struct replica_driver *d);

/* replica_net.c */
void replica_send_message(struct replica *r, const struct rg_message *msg, uint8_t *records_buf,
                          const uint8_t *records, size_t records_len);
/* An APPEND whose records are a slice of the tail (the message takes the slice's reference). */
void replica_send_slice(struct replica *r, const struct rg_message *msg, const uint8_t *records,
                        size_t records_len, void *chunk);
void replica_queue_heartbeat(struct replica *r, const struct rg_heartbeat *hb);
void replica_net_flush(struct replica_driver *d);
void replica_net_destroy(struct replica_driver *d);

/* A received body shared by the log ops that write parts of it. */
struct rx_body {
    uint32_t refs;
    uint8_t *body;    /* the whole PeerMessage, owned */
    uint8_t *records; /* an APPEND's batches inside body */
    size_t records_len;
};
void rx_body_put(struct rx_body *b);

#endif
