/*
 * The real replication core's traffic through the wire. Three brokers,
 * each hosting a replica of three groups, elect leaders, replicate
 * proposals, transfer a leadership and exchange coalesced heartbeats,
 * with every message encoded by replica_wire, decoded, compared field for
 * field with what the core emitted, and only then delivered. So the wire
 * carries everything the core puts in a message (a field the codec left
 * out would show here as a difference, or as a cluster that stalls).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "replica_wire.h"
#include "status.h"

enum { NODES = 3, GROUPS = 3, QUEUE = 4096, FRAME = 1 << 14, MSGS = 64 };

struct node {
    struct replica_group rg[GROUPS];
    struct rg_epoch_run epochs[GROUPS][64];
};

struct frame {
    int to;
    size_t len;
    uint8_t bytes[FRAME];
};

static struct node nodes[NODES];
static struct frame queue[QUEUE];
static size_t q_head, q_tail;
static struct rl_arena arena;
static uint32_t kinds_seen[RW_BODY_HEARTBEAT_REPLIES + 1];
static uint8_t records[FRAME];

/* Heartbeats of one tick, by (sender, addressee), coalesced before sending. */
static struct rw_group hb_groups[NODES][NODES][GROUPS];
static struct rg_heartbeat hbs[NODES][NODES][GROUPS];
static uint32_t hb_count[NODES][NODES];

static struct rw_group group_of(int g)
{
    return (struct rw_group){.topic_id = 700 + (uint64_t)g, .partition = (uint32_t)g};
}

static int group_index(const struct rw_group *g)
{
    int i = (int)(g->topic_id - 700);
    cr_assert(i >= 0 && i < GROUPS && g->partition == (uint32_t)i, "unknown group");
    return i;
}

static struct frame *enqueue(int to)
{
    cr_assert(q_tail - q_head < QUEUE, "queue full");
    struct frame *f = &queue[q_tail++ % QUEUE];
    f->to = to;
    return f;
}

/* Encodes msg, checks the decoding is the same message, queues the bytes. */
static void send_message(int g, const struct rg_message *msg)
{
    struct rw_group group = group_of(g);
    size_t rlen = msg->type == RG_MSG_APPEND && msg->end > msg->prev_end
                      ? (size_t)(msg->end - msg->prev_end) * 7
                      : 0;
    cr_assert(rlen < FRAME / 2);
    struct frame *f = enqueue(msg->to);
    f->len = replica_wire_encode_message(f->bytes, FRAME, &group, msg, records, rlen);
    cr_assert(f->len > 0, "the codec refuses a message of the core: %s",
              rg_message_type_str(msg->type));
    struct rw_decoded d;
    cr_assert_eq(replica_wire_decode(f->bytes, f->len, &arena, &d), RL_OK);
    struct rg_message expect = *msg;
    expect.payload = NULL; /* the caller's handle, never on the wire */
    cr_assert(memcmp(&d.msg, &expect, sizeof(expect)) == 0, "%s changed on the wire",
              rg_message_type_str(msg->type));
    cr_assert_eq(d.records_len, rlen);
    kinds_seen[d.body]++;
    rl_arena_reset(&arena);
}

/* Carries out one output of node n's group g: the log as the core planned
 * it written and durable at once (truncations need nothing here), APPEND reads complete at once,
 * messages and heartbeats sent. */
static void process(int n, int g, struct rg_output *out)
{
    struct replica_group *rg = &nodes[n].rg[g];
    struct rg_output next;
    struct rg_message msgs[MSGS];
    struct rg_log_op ops[8];
    int64_t end = replica_group_log_end(rg);
    if (end > replica_group_durable_end(rg)) { /* ops or a proposal wrote to the log */
        rg_output_init(&next, msgs, MSGS, ops, 8);
        int rc = replica_group_appended(rg, end, replica_group_epoch_at(rg, end - 1), &next);
        cr_assert(rc == RG_OK || rc == RG_ERR_STALE);
        cr_assert_eq(replica_group_durable(rg, end, &next), RG_OK);
        process(n, g, &next);
    }
    for (uint32_t i = 0; i < out->message_count; i++) {
        struct rg_message *m = &out->messages[i];
        if (m->type == RG_MSG_APPEND) {
            rg_output_init(&next, msgs, MSGS, ops, 8);
            if (replica_group_append_read(rg, m, m->end, &next) != RG_OK)
                continue;
            process(n, g, &next);
        }
        send_message(g, m);
    }
    for (uint32_t i = 0; i < out->heartbeat_count; i++) {
        const struct rg_heartbeat *hb = &out->heartbeats[i];
        uint32_t k = hb_count[hb->from][hb->to]++;
        cr_assert(k < GROUPS);
        hb_groups[hb->from][hb->to][k] = group_of(g);
        hbs[hb->from][hb->to][k] = *hb;
    }
}

/* Sends the tick's heartbeats: one message per broker pair. */
static void flush_heartbeats(void)
{
    for (int a = 0; a < NODES; a++)
        for (int b = 0; b < NODES; b++) {
            uint32_t n = hb_count[a][b];
            if (n == 0)
                continue;
            struct frame *f = enqueue(b);
            f->len = replica_wire_encode_heartbeats(f->bytes, FRAME, hb_groups[a][b], hbs[a][b], n);
            cr_assert(f->len > 0);
            hb_count[a][b] = 0;
        }
}

/* Heartbeat entries to their groups; the replies back as one message. */
static void deliver_heartbeats(int n, const struct rw_decoded *d)
{
    struct rw_group groups[GROUPS];
    struct rg_heartbeat_reply replies[GROUPS];
    uint32_t count = 0;
    for (uint32_t i = 0; i < d->count; i++) {
        int g = group_index(&d->groups[i]);
        struct rg_message msgs[MSGS];
        struct rg_log_op ops[8];
        struct rg_output out;
        rg_output_init(&out, msgs, MSGS, ops, 8);
        struct rg_heartbeat_reply r;
        cr_assert_eq(replica_group_step_heartbeat(&nodes[n].rg[g], &d->heartbeats[i], &r, &out),
                     RG_OK);
        process(n, g, &out);
        if (r.to != RG_NO_NODE) {
            groups[count] = d->groups[i];
            replies[count++] = r;
        }
    }
    if (count == 0)
        return;
    struct frame *f = enqueue(replies[0].to);
    f->len = replica_wire_encode_heartbeat_replies(f->bytes, FRAME, groups, replies, count);
    cr_assert(f->len > 0);
}

static void deliver(const struct frame *f)
{
    struct rw_decoded d;
    cr_assert_eq(replica_wire_decode(f->bytes, f->len, &arena, &d), RL_OK);
    kinds_seen[d.body]++;
    struct rg_message msgs[MSGS];
    struct rg_log_op ops[8];
    struct rg_output out;
    if (d.kind == RW_KIND_HEARTBEATS) {
        deliver_heartbeats(f->to, &d);
    } else if (d.kind == RW_KIND_HEARTBEAT_REPLIES) {
        for (uint32_t i = 0; i < d.count; i++) {
            int g = group_index(&d.groups[i]);
            rg_output_init(&out, msgs, MSGS, ops, 8);
            replica_group_step_heartbeat_reply(&nodes[f->to].rg[g], &d.replies[i], &out);
            process(f->to, g, &out);
        }
    } else {
        int g = group_index(&d.group);
        cr_assert_eq(d.msg.to, f->to);
        rg_output_init(&out, msgs, MSGS, ops, 8);
        replica_group_step(&nodes[f->to].rg[g], &d.msg, &out);
        process(f->to, g, &out);
    }
    rl_arena_reset(&arena);
}

static void init_nodes(void)
{
    for (int n = 0; n < NODES; n++)
        for (int g = 0; g < GROUPS; g++) {
            struct replica_group_config cfg = {.self = n,
                                               .election_ticks = 10,
                                               .heartbeat_ticks = 3,
                                               .max_inflight = 4,
                                               .seed = 15u * 100u + (uint64_t)(n * GROUPS + g),
                                               .incarnation = 0xabc000u + (uint64_t)n,
                                               .pre_vote = true,
                                               .check_quorum = true};
            cfg.bootstrap.voter_count = NODES;
            for (int v = 0; v < NODES; v++)
                cfg.bootstrap.voters[v] = v;
            struct replica_group_restore r = {.hard_state = {.voted_for = RG_NO_NODE},
                                              .new_group = true};
            cr_assert_eq(replica_group_init(&nodes[n].rg[g], &cfg, &r, nodes[n].epochs[g], 64),
                         RG_OK);
        }
}

/* One tick everywhere, a proposal on each leader, then deliver all. */
static void step_world(int t)
{
    struct rg_message msgs[MSGS];
    struct rg_log_op ops[8];
    struct rg_heartbeat hb[RG_MAX_NODES];
    struct rg_output out;
    for (int n = 0; n < NODES; n++)
        for (int g = 0; g < GROUPS; g++) {
            struct replica_group *rg = &nodes[n].rg[g];
            rg_output_init(&out, msgs, MSGS, ops, 8);
            rg_output_set_heartbeats(&out, hb, RG_MAX_NODES);
            cr_assert_eq(replica_group_tick(rg, &out), RG_OK);
            int64_t base;
            int32_t epoch;
            if (t % 2 == 0 && replica_group_role(rg) == RG_ROLE_LEADER)
                replica_group_propose(rg, 1 + t % 5, &base, &epoch, &out);
            process(n, g, &out);
        }
    flush_heartbeats();
    for (int guard = 0; q_head != q_tail; guard++) {
        cr_assert(guard < 100000, "message storm");
        deliver(&queue[q_head++ % QUEUE]);
    }
}

static int leader_of(int g)
{
    for (int n = 0; n < NODES; n++)
        if (replica_group_role(&nodes[n].rg[g]) == RG_ROLE_LEADER)
            return n;
    return -1;
}

Test(replica_wire_core, the_cores_traffic_survives_the_wire_exactly)
{
    rl_arena_init(&arena, 4096, 1 << 20);
    memset(records, 0x5a, sizeof(records));
    init_nodes();
    for (int t = 0; t < 200; t++)
        step_world(t);
    int g0 = leader_of(0);
    cr_assert(g0 >= 0, "group 0 elected a leader over the wire");
    struct rg_message msgs[MSGS];
    struct rg_log_op ops[8];
    struct rg_output out;
    rg_output_init(&out, msgs, MSGS, ops, 8);
    cr_assert_eq(replica_group_transfer_leadership(&nodes[g0].rg[0], (g0 + 1) % NODES, &out),
                 RG_OK);
    process(g0, 0, &out);
    for (int t = 200; t < 400; t++)
        step_world(t);
    cr_assert_eq(leader_of(0), (g0 + 1) % NODES, "leadership moved over the wire");
    for (int g = 0; g < GROUPS; g++) {
        int l = leader_of(g);
        cr_assert(l >= 0);
        int64_t commit = replica_group_commit(&nodes[l].rg[g]);
        cr_assert(commit > 100, "group %d committed %lld", g, (long long)commit);
        for (int n = 0; n < NODES; n++)
            cr_assert(replica_group_commit(&nodes[n].rg[g]) >= commit - 20, "followers follow");
    }
    static const uint32_t expected[] = {RG_MSG_PRE_VOTE,
                                        RG_MSG_PRE_VOTE_RESPONSE,
                                        RG_MSG_VOTE,
                                        RG_MSG_VOTE_RESPONSE,
                                        RG_MSG_APPEND,
                                        RG_MSG_APPEND_RESPONSE,
                                        RG_MSG_TIMEOUT_NOW,
                                        RW_BODY_HEARTBEATS,
                                        RW_BODY_HEARTBEAT_REPLIES};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        cr_assert(kinds_seen[expected[i]] > 0, "no message of body %u went over the wire",
                  expected[i]);
    rl_arena_destroy(&arena);
}
