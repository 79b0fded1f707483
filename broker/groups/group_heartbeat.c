/*
 * The heartbeat, the target assignment and each member's reconciliation
 * (group.h explains the epochs).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"

/* ------------------------------------------------ subscriptions resolved */

struct resolve {
    struct group_member *m;
    char **v;
    size_t n, cap;
    bool failed;
};

static void resolve_add(struct resolve *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i], name) == 0)
            return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL) {
            r->failed = true;
            return;
        }
        r->v = v;
        r->cap = cap;
    }
    if ((r->v[r->n] = strdup(name)) == NULL)
        r->failed = true;
    else
        r->n++;
}

static void resolve_match(void *arg, const char *name, uint32_t partitions)
{
    struct resolve *r = arg;
    if (partitions > 0 && regexec(&r->m->re, name, 0, NULL, 0) == 0)
        resolve_add(r, name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The member's subscription as topics that exist now; true when it changed. */
static bool resolve_member(struct group_member *m, const struct group_topics *t)
{
    struct resolve r = {.m = m};
    for (size_t i = 0; i < m->ntopics; i++)
        if (t->partitions(t->ctx, m->topics[i]) > 0)
            resolve_add(&r, m->topics[i]);
    if (m->pattern)
        t->each(t->ctx, resolve_match, &r);
    if (r.failed) { /* keep the old resolution */
        for (size_t i = 0; i < r.n; i++)
            free(r.v[i]);
        free(r.v);
        return false;
    }
    if (r.n > 1)
        qsort(r.v, r.n, sizeof(*r.v), cmp_str);
    bool same = r.n == m->nresolved;
    for (size_t i = 0; same && i < r.n; i++)
        same = strcmp(r.v[i], m->resolved[i]) == 0;
    for (size_t i = 0; i < m->nresolved; i++)
        free(m->resolved[i]);
    free(m->resolved);
    m->resolved = r.v;
    m->nresolved = r.n;
    return !same;
}

/* FNV-1a over every member's resolved topics and their partition counts. */
static uint64_t topics_hash(const struct group *g, const struct group_topics *t)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct group_member *m = g->members[i];
        for (size_t k = 0; k < m->nresolved; k++) {
            for (const char *c = m->resolved[k]; *c; c++)
                h = (h ^ (uint8_t)*c) * 1099511628211ull;
            h = (h ^ t->partitions(t->ctx, m->resolved[k])) * 1099511628211ull;
        }
    }
    return h;
}

/* ------------------------------------------------------ target assignment */

/* The union of the members' resolved topics, sorted, with partition counts. */
static struct assign_topic *union_topics(const struct group *g, const struct group_topics *t,
                                         size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < g->nmembers; i++)
        total += g->members[i]->nresolved;
    struct assign_topic *v = malloc((total ? total : 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < g->nmembers; i++)
        for (size_t j = 0; j < g->members[i]->nresolved; j++) {
            const char *name = g->members[i]->resolved[j];
            bool seen = false;
            for (size_t q = 0; q < k && !seen; q++)
                seen = strcmp(v[q].name, name) == 0;
            if (!seen)
                v[k++] =
                    (struct assign_topic){.name = name, .partitions = t->partitions(t->ctx, name)};
        }
    for (size_t a = 1; a < k; a++) /* insertion sort by name */
        for (size_t b = a; b > 0 && strcmp(v[b - 1].name, v[b].name) > 0; b--) {
            struct assign_topic tmp = v[b];
            v[b] = v[b - 1];
            v[b - 1] = tmp;
        }
    *n = k;
    return v;
}

/* Recomputes the target of every member at the group epoch; -1 out of memory. */
static int compute_target(struct group *g, const struct group_topics *t)
{
    for (size_t i = 0; i < g->nmembers; i++)
        resolve_member(g->members[i], t);
    size_t nt = 0;
    struct assign_topic *topics = union_topics(g, t, &nt);
    struct assign_member *am = calloc(g->nmembers ? g->nmembers : 1, sizeof(*am));
    struct tp_set *out = calloc(g->nmembers ? g->nmembers : 1, sizeof(*out));
    int rc = -1;
    if (topics && am && out) {
        for (size_t i = 0; i < g->nmembers; i++) {
            struct group_member *m = g->members[i];
            am[i] = (struct assign_member){.id = m->id,
                                           .topics = m->resolved,
                                           .ntopics = m->nresolved,
                                           .previous = &m->target,
                                           .target = &out[i]};
        }
        rc = assign_run(g->assignor, am, g->nmembers, topics, nt);
    }
    for (size_t i = 0; rc == 0 && i < g->nmembers; i++) {
        struct group_member *m = g->members[i];
        if (!tp_set_equal(&m->target, &out[i]))
            m->dirty = true;
        struct tp_set tmp = m->target;
        m->target = out[i];
        out[i] = tmp;
    }
    for (size_t i = 0; out && i < g->nmembers; i++)
        tp_set_free(&out[i]);
    free(out);
    free(am);
    free(topics);
    assert(rc != 0 || g->nmembers == 0 || out != NULL);
    if (rc == 0) {
        g->assignment_epoch = g->epoch;
        g->topics_hash = topics_hash(g, t);
        g->rebalances++;
        g->meta_dirty = true;
    }
    return rc;
}

/* ----------------------------------------------------------- reconcile */

/* Whether a member other than m owns or is revoking the partition. */
static bool owned_elsewhere(const struct group *g, const struct group_member *m, const struct tp *p)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct group_member *o = g->members[i];
        if (o != m && (tp_set_contains(&o->assigned, p->topic, p->partition) ||
                       tp_set_contains(&o->revoking, p->topic, p->partition)))
            return true;
    }
    return false;
}

/*
 * Moves m toward its target: first what it must give up leaves its
 * assignment (into revoking, until it reports them released), then it
 * takes the epoch and every target partition nobody else holds.
 */
static int reconcile(struct group *g, struct group_member *m, int64_t now_ms)
{
    if (m->revoking.n > 0)
        return 0;
    for (size_t i = 0; i < m->assigned.n;) {
        struct tp *p = &m->assigned.v[i];
        if (tp_set_contains(&m->target, p->topic, p->partition)) {
            i++;
            continue;
        }
        if (tp_set_add(&m->revoking, p->topic, p->partition) != 0)
            return -1;
        tp_set_remove(&m->assigned, p->topic, p->partition);
        m->dirty = true;
    }
    if (m->revoking.n > 0) {
        m->revoke_deadline_ms = now_ms + m->rebalance_timeout_ms;
        return 0;
    }
    for (size_t i = 0; i < m->target.n; i++) {
        struct tp *p = &m->target.v[i];
        if (tp_set_contains(&m->assigned, p->topic, p->partition) || owned_elsewhere(g, m, p))
            continue;
        if (tp_set_add(&m->assigned, p->topic, p->partition) != 0)
            return -1;
        m->dirty = true;
    }
    if (m->epoch != g->assignment_epoch) {
        m->prev_epoch = m->epoch;
        m->epoch = g->assignment_epoch;
        m->dirty = true;
    }
    assert(m->revoking.n == 0 && m->assigned.n <= m->target.n);
    assert(m->epoch == g->assignment_epoch);
    return 0;
}

/* Partitions the member no longer reports owning are released. */
static void release_revoked(struct group_member *m, const struct tp_set *owned)
{
    for (size_t i = 0; owned && i < m->revoking.n;) {
        struct tp *p = &m->revoking.v[i];
        if (tp_set_contains(owned, p->topic, p->partition)) {
            i++;
            continue;
        }
        tp_set_remove(&m->revoking, p->topic, p->partition);
        m->dirty = true;
    }
}

/* ------------------------------------------------------------ heartbeat */

static bool has_name(char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

static bool same_subscription(const struct group_member *m, const struct group_heartbeat *hb)
{
    const char *pattern = hb->pattern && hb->pattern[0] ? hb->pattern : NULL;
    if ((pattern == NULL) != (m->pattern == NULL) || (pattern && strcmp(pattern, m->pattern)))
        return false;
    for (size_t i = 0; i < hb->ntopics; i++)
        if (!has_name(m->topics, m->ntopics, hb->topics[i]))
            return false;
    for (size_t i = 0; i < m->ntopics; i++)
        if (!has_name(hb->topics, hb->ntopics, m->topics[i]))
            return false;
    return true;
}

static struct group_member *find_instance(const struct group *g, const char *instance_id)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (g->members[i]->instance_id && strcmp(g->members[i]->instance_id, instance_id) == 0)
            return g->members[i];
    return NULL;
}

static int set_str(char **dst, const char *src)
{
    char *copy = src && src[0] ? strdup(src) : NULL;
    if (src && src[0] && copy == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

/*
 * A static member back under a new member id takes over its predecessor's
 * epoch and partitions: no rebalance (the predecessor is fenced: its id is
 * gone).
 */
static enum group_error take_over(struct group *g, struct group_member *old, struct group_member *m)
{
    m->epoch = old->epoch;
    m->prev_epoch = old->prev_epoch;
    if (tp_set_copy(&m->assigned, &old->assigned) || tp_set_copy(&m->revoking, &old->revoking) ||
        tp_set_copy(&m->target, &old->target) ||
        group_member_subscribe(m, old->topics, old->ntopics, old->pattern) != GROUP_OK)
        return GROUP_NO_MEMORY;
    m->revoke_deadline_ms = old->revoke_deadline_ms;
    char **resolved = m->resolved; /* the same subscription resolves the same */
    size_t nresolved = m->nresolved;
    m->resolved = old->resolved;
    m->nresolved = old->nresolved;
    old->resolved = resolved;
    old->nresolved = nresolved;
    group_member_remove(g, old, false);
    return GROUP_OK;
}

/* A member joining (epoch 0): new, a static member back, or a known id starting over. */
static enum group_error join(struct group *g, struct group_heartbeat *hb, struct group_member **out)
{
    struct group_member *m;
    if (hb->member_id && hb->member_id[0]) {
        if ((m = group_member_find(g, hb->member_id)) == NULL)
            return GROUP_UNKNOWN_MEMBER;
        tp_set_clear(&m->assigned); /* it dropped everything to join again */
        tp_set_clear(&m->revoking);
        m->epoch = 0;
        m->dirty = true;
        *out = m;
        return GROUP_OK;
    }
    assert(hb->new_member_id && hb->new_member_id[0]);
    struct group_member *old =
        hb->instance_id && hb->instance_id[0] ? find_instance(g, hb->instance_id) : NULL;
    if (old == NULL && g->nmembers >= GROUP_MAX_MEMBERS) {
        hb->message = "the group has its maximum number of members";
        return GROUP_FULL;
    }
    if ((m = group_member_add(g, hb->new_member_id)) == NULL)
        return GROUP_NO_MEMORY;
    m->dirty = true;
    *out = m;
    if (set_str(&m->instance_id, hb->instance_id) != 0)
        return GROUP_NO_MEMORY;
    if (old != NULL)
        return take_over(g, old, m);
    g->epoch++;
    g->meta_dirty = true;
    return GROUP_OK;
}

/* A member at a known epoch: current, or the one before with nothing it may not own. */
static enum group_error check_member(struct group *g, struct group_heartbeat *hb,
                                     struct group_member **out)
{
    struct group_member *m = group_member_find(g, hb->member_id ? hb->member_id : "");
    if (m == NULL)
        return GROUP_UNKNOWN_MEMBER;
    bool ok = hb->member_epoch == m->epoch;
    if (!ok && hb->member_epoch == m->prev_epoch && hb->owned) {
        ok = true;
        for (size_t i = 0; ok && i < hb->owned->n; i++)
            ok = tp_set_contains(&m->assigned, hb->owned->v[i].topic, hb->owned->v[i].partition) ||
                 tp_set_contains(&m->revoking, hb->owned->v[i].topic, hb->owned->v[i].partition);
    }
    if (!ok) {
        hb->message = "the member epoch is not the member's current epoch: join again";
        return GROUP_FENCED_EPOCH;
    }
    *out = m;
    return GROUP_OK;
}

static uint32_t clamp_u32(uint32_t v, uint32_t dflt, uint32_t lo, uint32_t hi)
{
    if (v == 0)
        return dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

/* Session, subscription and topic changes of a heartbeat; may move the group epoch. */
static enum group_error refresh(struct group *g, struct group_member *m,
                                const struct group_heartbeat *hb, const struct group_topics *t)
{
    m->session_timeout_ms = clamp_u32(hb->session_timeout_ms, GROUP_SESSION_DEFAULT_MS,
                                      GROUP_SESSION_MIN_MS, GROUP_SESSION_MAX_MS);
    m->rebalance_timeout_ms =
        clamp_u32(hb->rebalance_timeout_ms, GROUP_REBALANCE_DEFAULT_MS, 1000, 3600000);
    m->session_deadline_ms = hb->now_ms + m->session_timeout_ms;
    if (set_str(&m->client_id, hb->client_id) != 0)
        return GROUP_NO_MEMORY;
    bool changed = false;
    if (!same_subscription(m, hb)) {
        enum group_error e = group_member_subscribe(m, hb->topics, hb->ntopics, hb->pattern);
        if (e != GROUP_OK)
            return e;
        changed = true;
    }
    changed |= resolve_member(m, t);
    if (changed || topics_hash(g, t) != g->topics_hash) {
        g->epoch++;
        g->meta_dirty = true;
    }
    return GROUP_OK;
}

/* Leave (-1: for good, the group rebalances) or a static member's pause (-2: it keeps its place).
 */
static enum group_error leave(struct group *g, struct group_heartbeat *hb)
{
    struct group_member *m = group_member_find(g, hb->member_id ? hb->member_id : "");
    if (m == NULL)
        return GROUP_OK;
    if (hb->member_epoch == -2 && m->instance_id) {
        m->session_deadline_ms = hb->now_ms + m->session_timeout_ms;
        m->revoke_deadline_ms = 0;
        tp_set_clear(&m->revoking);
        return GROUP_OK;
    }
    group_member_remove(g, m, true);
    return GROUP_OK;
}

/* A join that failed leaves no member behind (nor a tombstone for it). */
static void undo_join(struct group *g, struct group_member *m, int32_t epoch_before)
{
    size_t removed = g->nremoved;
    group_member_remove(g, m, false);
    if (g->nremoved > removed) {
        free(g->removed[--g->nremoved]);
        g->removed[g->nremoved] = NULL;
    }
    g->epoch = epoch_before;
}

enum group_error group_heartbeat(struct group *g, struct group_heartbeat *hb,
                                 const struct group_topics *t)
{
    hb->member = NULL;
    hb->message = NULL;
    if (hb->member_epoch < -2) {
        hb->message = "member_epoch below -2";
        return GROUP_BAD_REQUEST;
    }
    if (hb->member_epoch < 0)
        return leave(g, hb);
    enum assignor a;
    if (assignor_parse(hb->assignor, &a) != 0) {
        hb->message = "unknown assignor (uniform, range)";
        return GROUP_BAD_REQUEST;
    }
    if (hb->ntopics > GROUP_MAX_TOPICS) {
        hb->message = "too many subscribed topics";
        return GROUP_BAD_REQUEST;
    }
    struct group_member *m = NULL;
    int32_t epoch_before = g->epoch;
    enum group_error e = hb->member_epoch == 0 ? join(g, hb, &m) : check_member(g, hb, &m);
    if (e == GROUP_OK && g->nmembers == 1 && a != g->assignor) {
        g->assignor = a; /* the group's first member chooses */
        g->meta_dirty = true;
    }
    if (e == GROUP_OK)
        e = refresh(g, m, hb, t);
    if (e == GROUP_OK && g->epoch > g->assignment_epoch && compute_target(g, t) != 0)
        e = GROUP_NO_MEMORY;
    if (e == GROUP_OK) {
        release_revoked(m, hb->owned);
        if (reconcile(g, m, hb->now_ms) != 0)
            e = GROUP_NO_MEMORY;
    }
    assert(e != GROUP_OK || (m != NULL && m->epoch <= g->assignment_epoch));
    if (e == GROUP_OK)
        hb->member = m;
    else if (m != NULL && hb->member_epoch == 0 && !(hb->member_id && hb->member_id[0]))
        undo_join(g, m, epoch_before);
    return e;
}

void group_expire(struct group *g, int64_t now_ms, const struct group_topics *t)
{
    for (size_t i = 0; i < g->nmembers;) {
        struct group_member *m = g->members[i];
        bool late = now_ms >= m->session_deadline_ms ||
                    (m->revoking.n > 0 && now_ms >= m->revoke_deadline_ms);
        if (late)
            group_member_remove(g, m, true);
        else
            i++;
    }
    for (size_t i = 0; i < g->nmembers; i++)
        assert(now_ms < g->members[i]->session_deadline_ms);
    if (g->nmembers > 0 && g->epoch > g->assignment_epoch)
        compute_target(g, t);
    assert(g->assignment_epoch <= g->epoch);
}

void group_settle_loaded(struct group *g, const struct group_topics *t)
{
    for (size_t i = 0; i < g->nmembers; i++)
        resolve_member(g->members[i], t);
    g->topics_hash = topics_hash(g, t);
}
