/*
 * Fault episodes. Process faults: SIGKILL (restart later), SIGSTOP (SIGCONT
 * later), SIGTERM (restart later). Link faults through the proxy: isolate a
 * node, cut one direction between two nodes, cut both, delay one direction,
 * make one direction reset connections; with --flips, a bit flipped in a
 * committed batch on a killed broker's disk (flip.h) before it restarts.
 * Moves: a partition is reassigned
 * to two of the three brokers (the third's replica is removed and deleted)
 * and back to all three (a fresh replica joins and catches up), through
 * the controller, while everything else goes on. Brokers are started only from the
 * main thread: broker_start's PR_SET_PDEATHSIG ties each broker to the
 * thread that forked it.
 */
#include "nemesis.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flip.h"
#include "ringlog.h"

#include "nodes.h"
#include "proxy.h"
#include "view.h"

enum fault_kind {
    F_KILL,
    F_PAUSE,
    F_TERM,
    F_FLIP,
    F_ISOLATE,
    F_ONE_WAY,
    F_PAIR,
    F_DELAY,
    F_FLAKY,
    F_MOVE
};

static const char *const fault_names[] = {
    "kill",  "pause", "term", "kill, flip a bit and restart", "isolate", "one-way cut", "pair cut",
    "delay", "flaky", "move"};

struct fault {
    enum fault_kind kind;
    int a, b;   /* node indexes: a the target (or from), b the other end of a link */
    int arg;    /* delay ms, reset chance per mille, or the partition moved */
    bool reset; /* a cut ends with the connections reset (else they resume) */
};

static int64_t partitions_of(const struct chaos_cluster *c)
{
    return c->opts->partitions;
}

/* Node index a fault hits: drawn, or (half the time) the leader of a drawn partition. */
static int pick_node(struct chaos_cluster *c, struct test_rng *rng)
{
    int node = (int)test_rng_below(rng, CHAOS_NODES);
    bool leader = test_rng_below(rng, 2) == 0;
    int partition = (int)test_rng_below(rng, (uint64_t)partitions_of(c));
    if (!leader)
        return node;
    struct view_part parts[16];
    for (int i = 0; i < CHAOS_NODES; i++) {
        int k = (node + i) % CHAOS_NODES;
        if (view_topic(&c->nodes[k], parts, c->opts->partitions) == 0 &&
            parts[partition].leader >= 1 && parts[partition].leader <= CHAOS_NODES)
            return parts[partition].leader - 1;
    }
    return node;
}

static struct fault draw_fault(struct chaos_cluster *c, struct test_rng *rng)
{
    static const enum fault_kind table[] = {F_KILL, F_KILL,    F_KILL,    F_PAUSE,   F_PAUSE,
                                            F_TERM, F_ISOLATE, F_ISOLATE, F_ONE_WAY, F_ONE_WAY,
                                            F_PAIR, F_DELAY,   F_FLAKY,   F_MOVE,    F_MOVE};
    struct fault f = {0};
    f.kind = table[test_rng_below(rng, sizeof(table) / sizeof(table[0]))];
    f.a = pick_node(c, rng);
    f.b = (f.a + 1 + (int)test_rng_below(rng, CHAOS_NODES - 1)) % CHAOS_NODES;
    f.arg =
        f.kind == F_DELAY ? 5 + (int)test_rng_below(rng, 300) : 10 + (int)test_rng_below(rng, 100);
    if (f.kind == F_MOVE)
        f.arg = (int)test_rng_below(rng, (uint64_t)partitions_of(c));
    f.reset = test_rng_below(rng, 2) == 0;
    if (c->opts->flips && f.kind == F_KILL && test_rng_below(rng, 2) == 0) {
        f.kind = F_FLIP;
        f.arg = (int)test_rng_below(rng, 1u << 30); /* the flip's own draws */
    }
    return f;
}

static void cut(struct chaos_cluster *c, int from, int to, enum link_fault lf, int arg, bool reset)
{
    proxy_set(c->proxy, from, to, lf, arg, reset);
}

/* Reassigns partition p to nodes (indexes), the first the preferred leader; retries while the
 * controller is unreachable or moving, for up to 15 s. */
static void move_partition(struct chaos_cluster *c, int p, const int *nodes, int n)
{
    char err[256], ids[32] = "";
    int32_t reps[CHAOS_NODES];
    for (int i = 0; i < n; i++) {
        reps[i] = nodes[i] + 1;
        snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%d", i ? "," : "", reps[i]);
    }
    ringlog_conf *conf = ringlog_conf_new();
    ringlog_conf_set(conf, "bootstrap", c->bootstrap, err, sizeof(err));
    ringlog_conf_set(conf, "request.timeout.ms", "3000", err, sizeof(err));
    int e = RINGLOG_ERR_TIMED_OUT;
    int64_t deadline = chaos_now_ms() + 15000;
    while (e != RINGLOG_OK && chaos_now_ms() < deadline) {
        ringlog_admin *a = ringlog_admin_new(conf, err, sizeof(err));
        e = a ? ringlog_admin_reassign_partition(a, CHAOS_TOPIC, p, reps, (size_t)n, err,
                                                 sizeof(err))
              : RINGLOG_ERR_TRANSPORT;
        if (a)
            ringlog_admin_destroy(a);
        if (e != RINGLOG_OK)
            usleep(200 * 1000);
    }
    ringlog_conf_destroy(conf);
    if (e == RINGLOG_OK)
        c->moved[p] = n < CHAOS_NODES;
    chaos_log("nemesis: partition %d to nodes %s: %s%s%s", p, ids,
              e == RINGLOG_OK ? "recorded" : ringlog_err_name(e), e == RINGLOG_OK ? "" : ": ",
              e == RINGLOG_OK ? "" : err);
}

/* Partition p's replicas on every node but `out` (-1: all), a drawn one first. */
static void move(struct chaos_cluster *c, int p, int out, int first)
{
    int nodes[CHAOS_NODES], n = 0;
    for (int i = 0; i < CHAOS_NODES; i++) {
        int k = (first + i) % CHAOS_NODES;
        if (k != out)
            nodes[n++] = k;
    }
    move_partition(c, p, nodes, n);
}

static void apply(struct chaos_cluster *c, const struct fault *f, bool heal)
{
    enum link_fault cutf = heal ? LINK_OK : LINK_CUT;
    bool reset = heal && f->reset;
    switch (f->kind) {
    case F_KILL:
        heal ? (void)node_start(c, f->a) : node_kill(c, f->a);
        break;
    case F_PAUSE:
        heal ? node_resume(c, f->a) : node_pause(c, f->a);
        break;
    case F_TERM:
        heal ? (void)node_start(c, f->a) : node_term(c, f->a);
        break;
    case F_FLIP:
        if (heal) {
            node_start(c, f->a);
        } else {
            struct test_rng r = {.state = (uint64_t)f->arg};
            node_kill(c, f->a);
            flip_committed_batch(c, f->a, &r);
        }
        break;
    case F_ISOLATE:
        for (int j = 0; j < CHAOS_NODES; j++) {
            if (j != f->a) {
                cut(c, f->a, j, cutf, 0, reset);
                cut(c, j, f->a, cutf, 0, reset);
            }
        }
        break;
    case F_PAIR:
        cut(c, f->b, f->a, cutf, 0, reset);
        /* fall through */
    case F_ONE_WAY:
        cut(c, f->a, f->b, cutf, 0, reset);
        break;
    case F_DELAY:
        cut(c, f->a, f->b, heal ? LINK_OK : LINK_DELAY, f->arg, false);
        break;
    case F_FLAKY:
        cut(c, f->a, f->b, heal ? LINK_OK : LINK_FLAKY, f->arg, false);
        break;
    case F_MOVE:
        move(c, f->arg, heal ? -1 : f->a, f->b);
        break;
    }
}

static void say(const struct fault *f, int hold_ms)
{
    char where[48], extra[48] = "";
    if (f->kind == F_MOVE)
        snprintf(where, sizeof(where), "partition %d off node %d", f->arg, f->a + 1);
    else if (f->kind >= F_ONE_WAY)
        snprintf(where, sizeof(where), "node %d -> node %d", f->a + 1, f->b + 1);
    else
        snprintf(where, sizeof(where), "node %d", f->a + 1);
    if (f->kind == F_DELAY)
        snprintf(extra, sizeof(extra), " of %d ms", f->arg);
    else if (f->kind == F_FLAKY)
        snprintf(extra, sizeof(extra), " resetting %d per mille", f->arg);
    else if (f->kind >= F_ISOLATE && f->kind != F_MOVE)
        snprintf(extra, sizeof(extra), " (then %s)", f->reset ? "reset" : "resume");
    chaos_log("nemesis: %s %s%s for %d ms", fault_names[f->kind], where, extra, hold_ms);
}

/* Restarts brokers that died on their own (already reported) so the run goes on. */
static void revive(struct chaos_cluster *c)
{
    if (!nodes_check_alive(c))
        return;
    for (int i = 0; i < CHAOS_NODES; i++)
        if (c->nodes[i].proc.pid == 0)
            node_start(c, i);
}

unsigned nemesis_run(struct chaos_cluster *c, struct test_rng *rng, int64_t until_ms)
{
    unsigned faults = 0;
    while (chaos_now_ms() < until_ms) {
        struct fault f[2];
        int n = test_rng_below(rng, 4) == 0 ? 2 : 1;
        int hold = 300 + (int)test_rng_below(rng, 3700);
        int rest = 200 + (int)test_rng_below(rng, 1800);
        for (int k = 0; k < n; k++) {
            f[k] = draw_fault(c, rng);
            /* Two process faults on one node would undo each other. */
            if (k == 1 && f[1].kind <= F_FLIP && f[0].kind <= F_FLIP && f[1].a == f[0].a)
                f[1].kind = F_ONE_WAY;
            say(&f[k], hold);
            apply(c, &f[k], false);
            faults++;
        }
        usleep((useconds_t)hold * 1000);
        for (int k = n - 1; k >= 0; k--)
            apply(c, &f[k], true);
        revive(c);
        usleep((useconds_t)rest * 1000);
        revive(c);
    }
    return faults;
}

void nemesis_heal_all(struct chaos_cluster *c)
{
    for (int i = 0; i < CHAOS_NODES; i++)
        for (int j = 0; j < CHAOS_NODES; j++)
            if (i != j)
                proxy_set(c->proxy, i, j, LINK_OK, 0, false);
    revive(c);
    for (int i = 0; i < CHAOS_NODES; i++) {
        node_resume(c, i);
        if (c->nodes[i].proc.pid == 0)
            node_start(c, i);
    }
    for (int p = 0; p < c->opts->partitions && p < CHAOS_MAX_PARTITIONS; p++)
        if (c->moved[p])
            move(c, p, -1, 0); /* a move back that failed mid-run */
}
