/*
 * The checks after a run. The log of a partition is judged on one replica
 * (the first); the others must be byte-identical to it up to the high
 * watermark, which they must share once converged.
 *   - offsets tile [0, hw) (check_read.c), control batches included;
 *   - per producer, sequences strictly increase along the log: no record
 *     twice (retried or not), none out of order;
 *   - every acknowledged record sits at the offset it was acknowledged at;
 *   - every offset a consumer saw still holds what it saw.
 */
#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_read.h"
#include "view.h"

/* True when every node answers, all name the same leader, and hw = end everywhere, equal. */
static bool agreed(const struct chaos_cluster *c, int parts, char *why, size_t len)
{
    struct view_part v[CHAOS_NODES][WL_MAX_PARTITIONS];
    for (int i = 0; i < CHAOS_NODES; i++) {
        if (view_topic(&c->nodes[i], v[i], parts) != 0) {
            snprintf(why, len, "node %d does not answer Metadata", i + 1);
            return false;
        }
    }
    for (int p = 0; p < parts; p++) {
        for (int i = 0; i < CHAOS_NODES; i++) {
            const struct view_part *a = &v[0][p], *b = &v[i][p];
            if (b->leader < 1 || b->leader != a->leader || b->hw != a->hw || b->end != b->hw) {
                snprintf(why, len,
                         "partition %d: node 1 says leader %d hw %" PRId64 " end %" PRId64
                         "; node %d says leader %d hw %" PRId64 " end %" PRId64,
                         p, a->leader, a->hw, a->end, i + 1, b->leader, b->hw, b->end);
                return false;
            }
        }
    }
    return true;
}

bool check_converge(const struct chaos_cluster *c, const char *when, int timeout_ms)
{
    int64_t start = chaos_now_ms();
    char why[256] = "";
    while (chaos_now_ms() - start < timeout_ms) {
        if (agreed(c, c->opts->partitions, why, sizeof(why))) {
            chaos_log("replicas agree %" PRId64 " ms %s", chaos_now_ms() - start, when);
            return true;
        }
        usleep(100 * 1000);
    }
    chaos_fail("replicas did not agree within %d ms %s: %s", timeout_ms, when, why);
    return false;
}

/* Replicas equal to the first up to the high watermark. */
static void check_identical(const struct replica r[CHAOS_NODES], int p)
{
    for (int i = 1; i < CHAOS_NODES; i++) {
        if (r[i].hw != r[0].hw)
            chaos_check_failed("identical",
                               "partition %d: node %d has hw %" PRId64 ", node 1 %" PRId64, p,
                               i + 1, r[i].hw, r[0].hw);
        size_t n = r[i].len < r[0].len ? r[i].len : r[0].len;
        size_t at = 0;
        while (at < n && r[i].bytes[at] == r[0].bytes[at])
            at++;
        if (at < n || r[i].len != r[0].len)
            chaos_check_failed(
                "identical",
                "partition %d: node %d's log differs from node 1's at byte %zu (%zu and "
                "%zu bytes below the hw)",
                p, i + 1, at, r[i].len, r[0].len);
    }
}

/* Sequences per producer strictly increase along the log. */
static void check_order(const struct replica *r, int p)
{
    int64_t last[WL_MAX_PRODUCERS];
    int64_t last_at[WL_MAX_PRODUCERS];
    for (int i = 0; i < WL_MAX_PRODUCERS; i++)
        last[i] = last_at[i] = -1;
    for (int64_t o = 0; o < r->hw; o++) {
        uint64_t id = r->ids[o];
        if (id == REPLICA_CONTROL)
            continue;
        uint32_t producer = (uint32_t)((id - 1) >> 48), part = (uint32_t)((id - 1) >> 32) & 0xffff;
        int64_t seq = (uint32_t)(id - 1);
        if (id == REPLICA_UNPARSABLE || producer >= WL_MAX_PRODUCERS || part != (uint32_t)p) {
            chaos_check_failed(
                "order", "partition %d offset %" PRId64 ": a record the workload did not write", p,
                o);
            continue;
        }
        if (seq <= last[producer]) {
            char at[160], prev[160], all[160];
            replica_describe(r, o, at, sizeof(at));
            replica_describe(r, last_at[producer], prev, sizeof(prev));
            replica_find(r, id, all, sizeof(all));
            chaos_check_failed(
                "order",
                "partition %d: producer %u out of order: %s, after %s; c%u.%d.%" PRId64 " is at %s",
                p, producer, at, prev, producer, p, seq, all);
        }
        last[producer] = seq;
        last_at[producer] = o;
    }
}

/* Every acknowledged record at its acknowledged offset; returns how many were checked. */
static uint64_t check_acked(const struct replica *r, const struct workload *w, int p)
{
    uint64_t acked = 0;
    for (uint32_t k = 0; k < wl_producers(w); k++) {
        const struct wl_series *s = wl_series(w, k, (uint32_t)p);
        for (uint32_t seq = 0; s && seq < s->count; seq++) {
            int64_t o = s->offset[seq];
            if (o < 0)
                continue;
            acked++;
            uint64_t want = wl_pack((struct wl_id){k, (uint32_t)p, seq});
            if (o >= r->hw || r->ids[o] != want) {
                char at[160], all[160];
                replica_describe(r, o, at, sizeof(at));
                replica_find(r, want, all, sizeof(all));
                chaos_check_failed("acked",
                                   "partition %d: c%u.%d.%u acknowledged at offset %" PRId64
                                   " at %.3f s, but %s; c%u.%d.%u is at %s",
                                   p, k, p, seq, o, s->answered_ms[seq] / 1000.0, at, k, p, seq,
                                   all);
            }
        }
    }
    return acked;
}

/* What consumers saw is still there. */
static void check_seen(const struct replica *r, const struct workload *w, int p)
{
    for (int64_t o = 0; o < wl_seen_count(w, (uint32_t)p); o++) {
        uint64_t seen = wl_seen(w, (uint32_t)p, o);
        if (seen != 0 && (o >= r->hw || r->ids[o] != seen)) {
            char at[160], was[48];
            replica_describe(r, o, at, sizeof(at));
            snprintf(was, sizeof(was), "c%u.%u.%u", (unsigned)((seen - 1) >> 48),
                     (unsigned)((seen - 1) >> 32) & 0xffff, (unsigned)(seen - 1));
            chaos_check_failed("seen",
                               "partition %d: a consumer saw %s at offset %" PRId64 ", now %s", p,
                               was, o, at);
        }
    }
}

/* One planted fault: true when the check reported at least one failure for it. */
static bool caught(int before, const char *what)
{
    bool yes = chaos_reports() > before;
    chaos_log("sabotage: %s %s", what, yes ? "caught" : "NOT CAUGHT");
    return yes;
}

/* The first data offset at or after `from` (hw when none). */
static int64_t data_at(const struct replica *r, int64_t from)
{
    while (from < r->hw && (r->ids[from] == REPLICA_CONTROL || r->ids[from] == REPLICA_UNPARSABLE))
        from++;
    return from;
}

/*
 * Runs each check on a partition's replicas with one fault planted just
 * for it (a flipped byte in the third replica, a record repeated, an
 * acknowledged record's offset emptied, an offset a consumer saw
 * replaced); returns how many were caught, of 4.
 */
static int sabotaged(struct replica r[CHAOS_NODES], const struct workload *w, int p)
{
    int n = 0, before;
    int64_t a = data_at(&r[0], 0), b = data_at(&r[0], a + 1);
    if (r[2].len == 0 || b >= r[0].hw || wl_seen(w, (uint32_t)p, a) == 0)
        return 0;
    r[2].bytes[r[2].len / 2] ^= 0x40;
    before = chaos_reports();
    check_identical(r, p);
    n += caught(before, "a flipped byte in node 3's replica");
    uint64_t keep = r[0].ids[b];
    r[0].ids[b] = r[0].ids[a];
    before = chaos_reports();
    check_order(&r[0], p);
    n += caught(before, "a record written twice");
    r[0].ids[b] = keep;
    keep = r[0].ids[a];
    r[0].ids[a] = REPLICA_CONTROL;
    before = chaos_reports();
    check_acked(&r[0], w, p);
    n += caught(before, "an acknowledged record missing");
    r[0].ids[a] = keep ^ 1;
    before = chaos_reports();
    check_seen(&r[0], w, p);
    n += caught(before, "a record a consumer saw replaced");
    r[0].ids[a] = keep;
    return n;
}

int check_logs(const struct chaos_cluster *c, const struct workload *w, bool sabotage)
{
    uint64_t acked = 0;
    int64_t total = 0;
    int planted = 0;
    for (int p = 0; p < c->opts->partitions; p++) {
        struct replica r[CHAOS_NODES];
        bool all = true;
        for (int i = 0; i < CHAOS_NODES; i++)
            all = replica_read(&c->nodes[i], p, &r[i]) == 0 && all;
        if (all && sabotage && planted == 0) {
            planted = sabotaged(r, w, p);
        } else if (all) {
            check_identical(r, p);
            check_order(&r[0], p);
            acked += check_acked(&r[0], w, p);
            check_seen(&r[0], w, p);
            total += r[0].hw;
        }
        for (int i = 0; i < CHAOS_NODES; i++)
            replica_free(&r[i]);
    }
    chaos_log("checked %" PRIu64 " acknowledged records in %" PRId64 " offsets", acked, total);
    return planted;
}
