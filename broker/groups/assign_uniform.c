/*
 * The uniform assignor (assign.h): sticky first, then the least loaded.
 * With T subscribed partitions and M members, each member's fair share is
 * floor(T/M), and T mod M of them may hold one more. Members keep their
 * previous partitions up to their share (the largest previous holders
 * first), the rest go one by one to the least loaded eligible member.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"

struct slot {
    const char *topic;
    uint32_t partition;
    int owner; /* member index, -1 none */
};

struct uniform {
    struct assign_member *m;
    size_t nm;
    struct slot *slots; /* every subscribed partition, sorted */
    size_t ns;
    size_t *load;
    size_t floor, extra; /* fair share, members that may hold floor + 1 */
};

static struct slot *slot_find(struct uniform *u, const char *topic, uint32_t partition)
{
    size_t lo = 0, hi = u->ns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tp_compare(u->slots[mid].topic, u->slots[mid].partition, topic, partition);
        if (c == 0)
            return &u->slots[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Whether member j may take one more partition within the fair shares. */
static bool under_share(const struct uniform *u, size_t j)
{
    return u->load[j] < u->floor || (u->load[j] == u->floor && u->extra > 0);
}

static void give(struct uniform *u, struct slot *s, size_t j)
{
    assert(s->owner < 0);
    if (u->load[j] == u->floor && u->extra > 0)
        u->extra--;
    s->owner = (int)j;
    u->load[j]++;
}

/* Whether member i goes before j: larger previous target first, then by index. */
static bool before(const struct uniform *u, size_t i, size_t j)
{
    size_t ni = u->m[i].previous ? u->m[i].previous->n : 0;
    size_t nj = u->m[j].previous ? u->m[j].previous->n : 0;
    return ni != nj ? ni > nj : i < j;
}

/* Step 1: members keep what they had, within their share. */
static void keep_previous(struct uniform *u, size_t *order)
{
    for (size_t k = 0; k < u->nm; k++) { /* insertion sort: groups are small */
        size_t x = k;
        while (x > 0 && before(u, k, order[x - 1])) {
            order[x] = order[x - 1];
            x--;
        }
        order[x] = k;
    }
    for (size_t k = 0; k < u->nm; k++) {
        size_t j = order[k];
        const struct tp_set *prev = u->m[j].previous;
        for (size_t i = 0; prev && i < prev->n && under_share(u, j); i++) {
            struct slot *s = slot_find(u, prev->v[i].topic, prev->v[i].partition);
            if (s && s->owner < 0 && assign_subscribed(&u->m[j], s->topic))
                give(u, s, j);
        }
    }
}

/* Step 2: every partition left to the least loaded eligible member (within shares first). */
static void give_rest(struct uniform *u)
{
    for (size_t i = 0; i < u->ns; i++) {
        struct slot *s = &u->slots[i];
        if (s->owner >= 0)
            continue;
        long best = -1;
        bool best_under = false;
        for (size_t j = 0; j < u->nm; j++) {
            if (!assign_subscribed(&u->m[j], s->topic))
                continue;
            bool under = under_share(u, j);
            if (best < 0 || (under && !best_under) ||
                (under == best_under && u->load[j] < u->load[best])) {
                best = (long)j;
                best_under = under;
            }
        }
        if (best >= 0)
            give(u, s, (size_t)best);
    }
}

/* Every partition some member subscribes to, in (topic, partition) order. */
static int collect_slots(struct uniform *u, const struct assign_topic *t, size_t nt)
{
    size_t total = 0;
    for (size_t i = 0; i < nt; i++)
        total += t[i].partitions;
    u->slots = malloc((total ? total : 1) * sizeof(*u->slots));
    if (u->slots == NULL)
        return -1;
    for (size_t i = 0; i < nt; i++) {
        bool wanted = false;
        for (size_t j = 0; j < u->nm && !wanted; j++)
            wanted = assign_subscribed(&u->m[j], t[i].name);
        for (uint32_t p = 0; wanted && p < t[i].partitions; p++)
            u->slots[u->ns++] = (struct slot){.topic = t[i].name, .partition = p, .owner = -1};
    }
    return 0;
}

int assign_uniform(struct assign_member *m, size_t nm, const struct assign_topic *t, size_t nt)
{
    struct uniform u = {.m = m, .nm = nm};
    size_t *order = malloc((nm ? nm : 1) * sizeof(*order));
    u.load = calloc(nm ? nm : 1, sizeof(*u.load));
    int rc = -1;
    if (order && u.load && collect_slots(&u, t, nt) == 0) {
        u.floor = nm ? u.ns / nm : 0;
        u.extra = nm ? u.ns % nm : 0;
        keep_previous(&u, order);
        give_rest(&u);
        rc = 0;
        for (size_t i = 0; i < u.ns && rc == 0; i++)
            if (u.slots[i].owner >= 0)
                rc = tp_set_add(m[u.slots[i].owner].target, u.slots[i].topic, u.slots[i].partition);
    }
    free(order);
    free(u.load);
    free(u.slots);
    return rc;
}
