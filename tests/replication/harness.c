#include "harness.h"

#include <criterion/criterion.h>
#include <string.h>

int64_t h_log_end(const struct h_node *n)
{
    return n->nlog ? n->log[n->nlog - 1].base + n->log[n->nlog - 1].count : n->head.start;
}

int h_trim(struct h_cluster *c, int i, int64_t start)
{
    struct h_node *n = &c->nodes[i];
    uint32_t k = 0;
    struct h_start head = n->head;
    while (k < n->nlog && n->log[k].base < start) {
        if (n->log[k].config) {
            head.has_config = true;
            head.config = (struct rg_config_entry){.offset = n->log[k].base,
                                                   .membership = n->log[k].membership};
        }
        head.epoch = n->log[k].epoch;
        k++;
    }
    cr_assert(k == n->nlog || n->log[k].base == start, "trim inside a batch");
    int rc = replica_group_log_start_advanced(&n->rg, start, head.has_config ? &head.config : NULL);
    if (rc != RG_OK)
        return rc;
    head.start = start;
    n->head = head;
    memmove(n->log, n->log + k, (n->nlog - k) * sizeof(n->log[0]));
    n->nlog -= k;
    return RG_OK;
}

struct rg_output *h_out(struct h_cluster *c)
{
    rg_output_init(&c->out, c->out_msgs, sizeof(c->out_msgs) / sizeof(c->out_msgs[0]), c->out_ops,
                   8);
    return &c->out;
}

static struct replica_group_config config(struct h_cluster *c, int i)
{
    struct replica_group_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.self = i;
    cfg.bootstrap.voter_count = (uint32_t)c->members;
    for (int k = 0; k < c->members; k++)
        cfg.bootstrap.voters[k] = k;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.max_inflight = 4;
    cfg.seed = 42;
    cfg.pre_vote = true;
    cfg.check_quorum = true;
    cfg.faults = &c->faults;
    cfg.incarnation = c->nodes[i].incarnation;
    return cfg;
}

void h_restart(struct h_cluster *c, int i)
{
    struct h_node *n = &c->nodes[i];
    struct rg_epoch_run runs[64];
    struct rg_config_entry configs[9];
    uint32_t nruns = 0, nconfigs = 0;
    if (n->head.has_config)
        configs[nconfigs++] = n->head.config;
    for (uint32_t k = 0; k < n->nlog; k++) {
        if (nruns == 0 || runs[nruns - 1].epoch != n->log[k].epoch)
            runs[nruns++] =
                (struct rg_epoch_run){.epoch = n->log[k].epoch, .start = n->log[k].base};
        if (n->log[k].config && nconfigs < 9)
            configs[nconfigs++] = (struct rg_config_entry){.offset = n->log[k].base,
                                                           .membership = n->log[k].membership};
    }
    struct replica_group_restore r = {.hard_state = n->hard,
                                      .log_start = n->head.start,
                                      .start_epoch = n->head.epoch,
                                      .log_end = h_log_end(n),
                                      .epochs = runs,
                                      .epoch_count = nruns,
                                      .configs = configs,
                                      .config_count = nconfigs,
                                      .new_group = n->hard.term == 0 && !n->wiped};
    struct replica_group_config cfg = config(c, i);
    cr_assert_eq(replica_group_init(&n->rg, &cfg, &r, n->epochs, 64), RG_OK);
}

void h_init(struct h_cluster *c, int n, int members)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    c->members = members;
    for (int i = 0; i < n; i++) {
        c->nodes[i].auto_durable = true;
        c->nodes[i].incarnation = 1000u + (uint64_t)i;
        c->nodes[i].hard.voted_for = RG_NO_NODE;
        h_restart(c, i);
    }
}

static void push_batch(struct h_node *n, int64_t base, int32_t count, int32_t epoch, bool config,
                       const struct rg_membership *m)
{
    cr_assert_eq(base, h_log_end(n));
    cr_assert(n->nlog < H_LOG);
    struct h_batch *b = &n->log[n->nlog++];
    memset(b, 0, sizeof(*b));
    b->base = base;
    b->count = count;
    b->epoch = epoch;
    b->config = config;
    if (m)
        b->membership = *m;
}

void h_durable(struct h_cluster *c, int i)
{
    struct h_node *n = &c->nodes[i];
    cr_assert_eq(replica_group_durable(&n->rg, h_log_end(n), h_out(c)), RG_OK);
    h_process(c, i);
}

/* Carries out c->out for node i in the order the API prescribes. */
void h_process(struct h_cluster *c, int i)
{
    struct h_node *n = &c->nodes[i];
    struct rg_output out = c->out; /* copy: h_durable below reuses c->out */
    struct rg_message msgs[RG_MAX_NODES * 3 * 4];
    memcpy(msgs, out.messages, out.message_count * sizeof(msgs[0]));
    struct rg_log_op ops[8];
    memcpy(ops, out.ops, out.op_count * sizeof(ops[0]));
    if (out.hard_state_changed)
        n->hard = out.hard_state;
    bool wrote = false;
    for (uint32_t k = 0; k < out.op_count; k++) {
        struct rg_log_op *op = &ops[k];
        if (op->type == RG_LOG_TRUNCATE) {
            while (n->nlog > 0 && n->log[n->nlog - 1].base >= op->offset)
                n->nlog--;
            cr_assert_eq(h_log_end(n), op->offset, "truncate inside a batch");
        } else if (op->type == RG_LOG_RESET) {
            n->nlog = 0;
            n->head = (struct h_start){
                .start = op->offset,
                .epoch = op->epoch,
                .has_config = op->config_offset >= 0,
                .config = {.offset = op->config_offset, .membership = op->membership}};
        } else if (op->type == RG_LOG_APPEND_RECEIVED) {
            const struct h_node *src = op->payload;
            for (uint32_t b = 0; b < src->nlog; b++)
                if (src->log[b].base >= op->offset && src->log[b].base < op->to)
                    push_batch(n, src->log[b].base, src->log[b].count, src->log[b].epoch,
                               src->log[b].config, &src->log[b].membership);
            cr_assert_eq(h_log_end(n), op->to);
        } else {
            push_batch(n, op->offset, 1, op->epoch, op->type == RG_LOG_APPEND_CONFIG,
                       &op->membership);
        }
        wrote = true;
    }
    for (uint32_t k = 0; k < out.message_count; k++) {
        struct rg_message *m = &msgs[k];
        if (m->type == RG_MSG_APPEND) {
            /* The payload is the sender's log (the harness reads it at
             * delivery time; fine while tests do not race truncations). */
            m->payload = n;
            c->sent_appends++;
        }
        if (m->type == RG_MSG_APPEND_RESPONSE && !m->success)
            c->rejections++;
        cr_assert(c->qlen < H_QUEUE);
        c->queue[(c->qhead + c->qlen++) % H_QUEUE] = *m;
    }
    if (wrote) { /* every completed write is reported, in any role */
        int64_t end = h_log_end(n);
        int32_t epoch = n->nlog ? n->log[n->nlog - 1].epoch : n->head.epoch;
        int rc = replica_group_appended(&n->rg, end, epoch, h_out(c));
        cr_assert(rc == RG_OK || rc == RG_ERR_STALE);
        h_process(c, i);
    }
    if (wrote && n->auto_durable)
        h_durable(c, i);
}

void h_tick(struct h_cluster *c, int i)
{
    cr_assert_eq(replica_group_tick(&c->nodes[i].rg, h_out(c)), RG_OK);
    h_process(c, i);
}

void h_deliver_all(struct h_cluster *c)
{
    for (int steps = 0; c->qlen > 0 && steps < 100000; steps++) {
        struct rg_message m = c->queue[c->qhead];
        c->qhead = (c->qhead + 1) % H_QUEUE;
        c->qlen--;
        if (c->blocked[m.from][m.to])
            continue;
        struct h_node *to = &c->nodes[m.to];
        if (m.type == RG_MSG_APPEND) {
            const struct h_node *src = m.payload;
            m.config_count = 0;
            for (uint32_t b = 0; b < src->nlog; b++)
                if (src->log[b].config && src->log[b].base >= m.prev_end &&
                    src->log[b].base < m.end && m.config_count < RG_MAX_CONFIGS_PER_APPEND)
                    m.configs[m.config_count++] = (struct rg_config_entry){
                        .offset = src->log[b].base, .membership = src->log[b].membership};
        }
        cr_assert_eq(replica_group_step(&to->rg, &m, h_out(c)), RG_OK);
        h_process(c, m.to);
    }
}

void h_tick_all(struct h_cluster *c, int ticks)
{
    for (int t = 0; t < ticks; t++) {
        for (int i = 0; i < c->n; i++)
            h_tick(c, i);
        h_deliver_all(c);
    }
}

void h_isolate(struct h_cluster *c, int i, bool on)
{
    for (int j = 0; j < H_NODES; j++) {
        c->blocked[i][j] = on;
        c->blocked[j][i] = on;
    }
}

int h_propose(struct h_cluster *c, int i, int32_t count)
{
    struct h_node *n = &c->nodes[i];
    int64_t base;
    int32_t epoch;
    int rc = replica_group_propose(&n->rg, count, &base, &epoch, h_out(c));
    if (rc != RG_OK)
        return rc;
    h_process(c, i);
    push_batch(n, base, count, epoch, false, NULL);
    cr_assert_eq(replica_group_appended(&n->rg, base + count, epoch, h_out(c)), RG_OK);
    h_process(c, i);
    if (n->auto_durable)
        h_durable(c, i);
    return RG_OK;
}

int h_leader(struct h_cluster *c)
{
    int leader = -1;
    for (int i = 0; i < c->n; i++) {
        if (replica_group_role(&c->nodes[i].rg) == RG_ROLE_LEADER) {
            cr_assert(leader == -1 || replica_group_term(&c->nodes[i].rg) !=
                                          replica_group_term(&c->nodes[leader].rg));
            if (leader == -1 ||
                replica_group_term(&c->nodes[i].rg) > replica_group_term(&c->nodes[leader].rg))
                leader = i;
        }
    }
    return leader;
}

int h_elect(struct h_cluster *c, int i)
{
    for (int t = 0; t < 100 && replica_group_role(&c->nodes[i].rg) != RG_ROLE_LEADER; t++) {
        h_tick(c, i);
        h_deliver_all(c);
    }
    cr_assert_eq(replica_group_role(&c->nodes[i].rg), RG_ROLE_LEADER);
    h_deliver_all(c);
    return i;
}

struct rg_message h_msg(enum rg_message_type type, int from, int to, int64_t term)
{
    struct rg_message m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

const struct rg_message *h_find(const struct rg_output *out, enum rg_message_type type)
{
    for (uint32_t k = 0; k < out->message_count; k++)
        if (out->messages[k].type == type)
            return &out->messages[k];
    return NULL;
}

void h_wipe(struct h_cluster *c, int i, uint64_t incarnation)
{
    struct h_node *n = &c->nodes[i];
    n->nlog = 0;
    memset(&n->head, 0, sizeof(n->head));
    memset(&n->hard, 0, sizeof(n->hard));
    n->hard.voted_for = RG_NO_NODE;
    n->incarnation = incarnation;
    n->wiped = true;
    h_restart(c, i);
}
