/* A subscribed consumer's group membership (group.h). */
#include "group.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer_internal.h"

struct rl_group {
    char **topics;
    size_t ntopics;
    char *pattern;
    char member_id[128];
    int32_t epoch;
    int32_t coord_node;   /* -1: unknown, ask FindCoordinator */
    char coord_host[256]; /* ... and its address, as FindCoordinator gave it */
    int coord_port;
    bool finding, inflight;
    int64_t next_beat;
    uint32_t interval_ms;
    ringlog_topic_partition *target; /* the coordinator's last answer (topics owned here) */
    size_t ntarget;
    bool pending; /* target differs from the assignment: poll applies it */
    bool lost;    /* ... and it is a loss (fenced): nothing is committed */
    bool leaving, left;
    bool leave_sent; /* the heartbeat in flight is the leave (epoch -1 / -2) */
    bool holding;    /* revoked partitions are being committed: no heartbeat reports them */
    int64_t unreachable_since; /* the coordinator's link is down since (0: it is up) */
};

/* A coordinator unreachable this long is looked for again (it died: its partition of __groups
 * has a new leader within a failover, about a second). */
#define COORDINATOR_UNREACHABLE_MS 500

static void free_tps(ringlog_topic_partition *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)v[i].topic);
    free(v);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void group_free(struct rl_group *g)
{
    if (!g)
        return;
    free_names(g->topics, g->ntopics);
    free(g->pattern);
    free_tps(g->target, g->ntarget);
    free(g);
}

const char *group_member(const struct ringlog_consumer *c, int32_t *epoch)
{
    *epoch = c->group ? c->group->epoch : 0;
    return c->group ? c->group->member_id : "";
}

struct rl_broker *group_coordinator(struct ringlog_consumer *c)
{
    struct rl_group *g = c->group;
    if (!g || g->coord_node < 0)
        return NULL;
    /* Only there: on a cluster another broker would answer NOT_COORDINATOR. */
    return rl_cluster_group_link(c->cl, g->coord_node, g->coord_host, g->coord_port);
}

void group_coordinator_lost(struct ringlog_consumer *c)
{
    struct rl_group *g = c->group;
    if (!g || g->coord_node < 0)
        return;
    rl_cluster_log(c->cl, RINGLOG_LOG_DEBUG, "group %s: coordinator %d unreachable or moved",
                   c->conf->group, g->coord_node);
    g->coord_node = -1; /* the next group tick asks FindCoordinator again */
    g->unreachable_since = 0;
    if (!g->inflight)
        g->next_beat = 0;
    rl_cluster_wakeup_locked(c->cl);
}

bool group_pending(const struct ringlog_consumer *c)
{
    return c->group && c->group->pending;
}

/* Whether the target is exactly the assignment. */
static bool target_is_owned(const struct ringlog_consumer *c, const struct rl_group *g)
{
    if (g->ntarget != c->nparts)
        return false;
    for (size_t i = 0; i < g->ntarget; i++)
        if (!consumer_find_part((struct ringlog_consumer *)c, g->target[i].topic,
                                g->target[i].partition))
            return false;
    return true;
}

/* ------------------------------------------------------- coordinator */

static void on_find(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    struct ringlog_consumer *c = ctx;
    struct rl_group *g = c->group;
    if (!g)
        return;
    g->finding = false;
    int code = resp ? (int)resp->error : err;
    if (!code && resp->body_case != RINGLOG__RESPONSE__BODY_FIND_COORDINATOR)
        code = RINGLOG_ERR_PROTOCOL;
    if (!code)
        code = resp->find_coordinator->error;
    if (code) {
        rl_cluster_log(cl, RINGLOG_LOG_DEBUG, "group %s: no coordinator yet: %s", c->conf->group,
                       ringlog_err_name(code));
        g->next_beat = rl_now_ms() + c->conf->retry_backoff_ms;
        return;
    }
    if (!resp->find_coordinator->host[0] || resp->find_coordinator->port == 0) {
        g->next_beat = rl_now_ms() + c->conf->retry_backoff_ms;
        return; /* no address: ask again */
    }
    g->coord_node = resp->find_coordinator->node_id;
    snprintf(g->coord_host, sizeof(g->coord_host), "%s", resp->find_coordinator->host);
    g->coord_port = (int)resp->find_coordinator->port;
    rl_cluster_log(cl, RINGLOG_LOG_DEBUG, "group %s: coordinator is broker %d", c->conf->group,
                   g->coord_node);
    g->next_beat = 0;
    rl_cluster_wakeup_locked(cl);
}

static void find_coordinator(struct ringlog_consumer *c, struct rl_group *g)
{
    struct rl_broker *b = rl_cluster_any_broker(c->cl);
    if (!b || !rl_broker_ready(c->cl, b))
        return;
    Ringlog__FindCoordinatorRequest f = RINGLOG__FIND_COORDINATOR_REQUEST__INIT;
    f.group = c->conf->group;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_FIND_COORDINATOR;
    req.find_coordinator = &f;
    if (rl_broker_send(c->cl, b, &req, true, 0, on_find, c) == RINGLOG_OK)
        g->finding = true;
}

/* ---------------------------------------------------------- heartbeat */

/* The assignment as the heartbeat's owned list (one entry per partition: the broker merges). */
struct owned_wire {
    Ringlog__GroupTopicPartitions *v;
    Ringlog__GroupTopicPartitions **ptrs;
    uint32_t *parts;
};

static int owned_build(const struct ringlog_consumer *c, struct owned_wire *w)
{
    size_t n = c->nparts;
    w->v = calloc(n + 1, sizeof(*w->v));
    w->ptrs = calloc(n + 1, sizeof(*w->ptrs));
    w->parts = calloc(n + 1, sizeof(*w->parts));
    if (!w->v || !w->ptrs || !w->parts)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ringlog__group_topic_partitions__init(&w->v[i]);
        w->v[i].topic = c->parts[i]->topic;
        w->parts[i] = (uint32_t)c->parts[i]->partition;
        w->v[i].partitions = &w->parts[i];
        w->v[i].n_partitions = 1;
        w->ptrs[i] = &w->v[i];
    }
    return 0;
}

static void owned_free(struct owned_wire *w)
{
    free(w->v);
    free(w->ptrs);
    free(w->parts);
}

/* Takes the coordinator's assignment as the target; marks it pending when it differs. */
static void take_assignment(struct ringlog_consumer *c, struct rl_group *g,
                            const Ringlog__ConsumerGroupHeartbeatResponse *hb)
{
    size_t n = 0;
    for (size_t t = 0; t < hb->n_assignment; t++)
        n += hb->assignment[t]->n_partitions;
    ringlog_topic_partition *v = calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t t = 0; v && t < hb->n_assignment; t++)
        for (size_t p = 0; p < hb->assignment[t]->n_partitions; p++) {
            v[k].topic = strdup(hb->assignment[t]->topic);
            v[k].partition = (int32_t)hb->assignment[t]->partitions[p];
            v[k].offset = RINGLOG_OFFSET_STORED;
            if (!v[k++].topic) {
                free_tps(v, k);
                v = NULL;
            }
        }
    if (!v)
        return; /* out of memory: the next heartbeat brings it again */
    free_tps(g->target, g->ntarget);
    g->target = v;
    g->ntarget = n;
    if (!target_is_owned(c, g)) {
        g->pending = true;
        rl_cluster_wakeup_locked(c->cl);
        pthread_cond_broadcast(&c->ready_cond);
    }
}

/* The member is out (left, timed out, fenced): everything it owned is lost; it joins again. */
static void lose_membership(struct ringlog_consumer *c, struct rl_group *g, int code)
{
    rl_cluster_log(c->cl, RINGLOG_LOG_WARNING, "group %s: member %s is out (%s): joining again",
                   c->conf->group, g->member_id, ringlog_err_name(code));
    g->member_id[0] = '\0';
    g->epoch = 0;
    free_tps(g->target, g->ntarget);
    g->target = NULL;
    g->ntarget = 0;
    g->pending = g->lost = c->nparts > 0;
    pthread_cond_broadcast(&c->ready_cond);
}

static void on_heartbeat(struct rl_cluster *cl, void *ctx, Ringlog__Response *resp, int err)
{
    struct ringlog_consumer *c = ctx;
    struct rl_group *g = c->group;
    if (!g)
        return;
    g->inflight = false;
    int code = resp ? (int)resp->error : err;
    if (!code && resp->body_case != RINGLOG__RESPONSE__BODY_GROUP_HEARTBEAT)
        code = RINGLOG_ERR_PROTOCOL;
    const Ringlog__ConsumerGroupHeartbeatResponse *hb = code ? NULL : resp->group_heartbeat;
    if (hb)
        code = hb->error;
    int64_t now = rl_now_ms();
    rl_cluster_log(cl, RINGLOG_LOG_DEBUG, "group %s: heartbeat answered: %s, epoch %d, %zu topics",
                   c->conf->group, ringlog_err_name(code), hb ? hb->member_epoch : 0,
                   hb ? hb->n_assignment : 0);
    if (g->leaving && g->leave_sent) {
        g->left = true;
        pthread_cond_broadcast(&c->job_cond);
        return;
    }
    if (g->leaving) { /* an earlier heartbeat's answer: the leave goes out now */
        g->next_beat = 0;
        rl_cluster_wakeup_locked(cl);
        return;
    }
    if (!code) {
        snprintf(g->member_id, sizeof(g->member_id), "%s", hb->member_id);
        g->epoch = hb->member_epoch;
        g->interval_ms = hb->heartbeat_interval_ms ? hb->heartbeat_interval_ms : 1000;
        g->next_beat = now + g->interval_ms;
        take_assignment(c, g, hb);
        return;
    }
    g->next_beat = now + c->conf->retry_backoff_ms;
    if (code == RINGLOG_ERR_UNKNOWN_MEMBER_ID || code == RINGLOG_ERR_FENCED_MEMBER_EPOCH) {
        lose_membership(c, g, code);
    } else if (code == RINGLOG_ERR_NOT_COORDINATOR || code < 0) {
        g->coord_node = -1; /* ask again where the group lives */
    } else if (code != RINGLOG_ERR_COORDINATOR_LOAD_IN_PROGRESS &&
               !ringlog_error_is_retriable(code)) {
        rl_cluster_post_error(cl, code, "group %s: heartbeat refused: %s", c->conf->group,
                              hb && hb->error_message[0] ? hb->error_message
                                                         : ringlog_err_str(code));
        g->next_beat = now + 1000;
    }
}

static void send_heartbeat(struct ringlog_consumer *c, struct rl_group *g, struct rl_broker *b)
{
    struct owned_wire w = {0};
    if (owned_build(c, &w) != 0) {
        owned_free(&w);
        return;
    }
    Ringlog__ConsumerGroupHeartbeatRequest hb = RINGLOG__CONSUMER_GROUP_HEARTBEAT_REQUEST__INIT;
    hb.group = c->conf->group;
    hb.member_id = g->member_id;
    hb.member_epoch = g->leaving ? (c->conf->group_instance_id ? -2 : -1) : g->epoch;
    hb.instance_id = c->conf->group_instance_id ? c->conf->group_instance_id : "";
    hb.subscribed_topics = g->topics;
    hb.n_subscribed_topics = g->ntopics;
    hb.subscribed_pattern = g->pattern ? g->pattern : "";
    hb.owned = w.ptrs;
    hb.n_owned = c->nparts;
    hb.rebalance_timeout_ms = (uint32_t)c->conf->rebalance_timeout_ms;
    hb.session_timeout_ms = (uint32_t)c->conf->session_timeout_ms;
    hb.assignor = c->conf->group_assignor ? c->conf->group_assignor : "";
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_GROUP_HEARTBEAT;
    req.group_heartbeat = &hb;
    if (rl_broker_send(c->cl, b, &req, true, 0, on_heartbeat, c) == RINGLOG_OK) {
        g->inflight = true;
        g->leave_sent = g->leaving;
    }
    rl_cluster_log(c->cl, RINGLOG_LOG_DEBUG,
                   "group %s: heartbeat (member %s, epoch %d, %zu owned)%s", c->conf->group,
                   g->member_id, hb.member_epoch, c->nparts, g->inflight ? "" : ": not sent");
    owned_free(&w);
}

int64_t group_tick(struct ringlog_consumer *c, int64_t now)
{
    struct rl_group *g = c->group;
    assert(rl_cluster_on_io_thread(c->cl));
    if (!g || g->left || g->inflight || g->finding || g->holding)
        return -1; /* an answer, or the end of the hold (revoke wakes us), comes first */
    if (g->leaving && !g->member_id[0]) {
        g->left = true; /* never joined: nothing to leave */
        pthread_cond_broadcast(&c->job_cond);
        return -1;
    }
    if (now < g->next_beat)
        return g->next_beat;
    /* While the application has a change to apply, the heartbeat waits for it (poll), unless
     * the session would run out: owned partitions must be reported once released. */
    if (g->pending && !g->leaving && now < g->next_beat + g->interval_ms)
        return g->next_beat + g->interval_ms;
    if (g->coord_node < 0) {
        find_coordinator(c, g);
        return now + 50;
    }
    struct rl_broker *b = group_coordinator(c);
    if (!b || !rl_broker_ready(c->cl, b)) {
        if (g->unreachable_since == 0)
            g->unreachable_since = now;
        else if (now - g->unreachable_since >= COORDINATOR_UNREACHABLE_MS)
            group_coordinator_lost(c); /* FindCoordinator again, at any broker */
        return now + 50;
    }
    g->unreachable_since = 0;
    send_heartbeat(c, g, b);
    return g->inflight ? -1 : now + 50;
}

/* -------------------------------------------------- application thread */

static int copy_names(const char *const *src, size_t n, char ***out)
{
    *out = n ? calloc(n, sizeof(**out)) : NULL;
    if (n && !*out)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!src[i] || !src[i][0] || !((*out)[i] = strdup(src[i]))) {
            free_names(*out, n);
            *out = NULL;
            return -1;
        }
    return 0;
}

int group_subscribe(struct ringlog_consumer *c, const char *const *topics, size_t n,
                    const char *pattern)
{
    rl_cluster_lock(c->cl);
    bool assigned = !c->group && c->nparts > 0;
    rl_cluster_unlock(c->cl);
    if (assigned)
        return RINGLOG_ERR_STATE; /* partitions assigned by hand: unassign first */
    char **names;
    char *pat = pattern ? strdup(pattern) : NULL;
    if (copy_names(topics, n, &names) != 0 || (pattern && !pat)) {
        free(pat);
        return RINGLOG_ERR_INVALID_ARG;
    }
    rl_cluster_lock(c->cl);
    struct rl_group *g = c->group;
    if (!g && !(g = calloc(1, sizeof(*g)))) {
        rl_cluster_unlock(c->cl);
        free_names(names, n);
        free(pat);
        return RINGLOG_ERR_NOMEM;
    }
    if (!c->group) {
        g->coord_node = -1;
        c->group = g;
    }
    free_names(g->topics, g->ntopics);
    free(g->pattern);
    g->topics = names;
    g->ntopics = n;
    g->pattern = pat;
    g->next_beat = 0; /* the new subscription goes out now */
    for (size_t i = 0; i < n; i++)
        rl_cluster_want_topic(c->cl, names[i]);
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}

/* The partitions of `from` that are not in `in` (copies; NULL with *n 0 for none). */
static ringlog_topic_partition *minus(const ringlog_topic_partition *from, size_t nfrom,
                                      bool (*in)(void *ctx, const ringlog_topic_partition *tp),
                                      void *ctx, size_t *n)
{
    ringlog_topic_partition *v = calloc(nfrom + 1, sizeof(*v));
    *n = 0;
    for (size_t i = 0; v && i < nfrom; i++) {
        if (in(ctx, &from[i]))
            continue;
        v[*n] = from[i];
        if (!(v[*n].topic = strdup(from[i].topic))) {
            free_tps(v, *n);
            *n = 0;
            return NULL;
        }
        (*n)++;
    }
    return v;
}

static bool in_target(void *ctx, const ringlog_topic_partition *tp)
{
    const struct rl_group *g = ctx;
    for (size_t i = 0; i < g->ntarget; i++)
        if (g->target[i].partition == tp->partition && !strcmp(g->target[i].topic, tp->topic))
            return true;
    return false;
}

static bool in_assignment(void *ctx, const ringlog_topic_partition *tp)
{
    return consumer_find_part(ctx, tp->topic, tp->partition) != NULL;
}

/* The assignment with positions: what a revoke commits. Lock held. */
static ringlog_topic_partition *assignment(struct ringlog_consumer *c, size_t *n)
{
    ringlog_topic_partition *v = calloc(c->nparts + 1, sizeof(*v));
    *n = 0;
    for (size_t i = 0; v && i < c->nparts; i++) {
        v[*n] = (ringlog_topic_partition){.topic = strdup(c->parts[i]->topic),
                                          .partition = c->parts[i]->partition,
                                          .offset = atomic_load(&c->parts[i]->position)};
        if (!v[*n].topic) {
            free_tps(v, *n);
            *n = 0;
            return NULL;
        }
        (*n)++;
    }
    return v;
}

/* Gives up `revoked`: the callback, the commit of processed positions, the unassign. */
static void revoke(struct ringlog_consumer *c, ringlog_topic_partition *revoked, size_t n,
                   bool lost)
{
    if (n == 0)
        return;
    if (c->rebalance_cb)
        c->rebalance_cb(c, lost ? RINGLOG_REBALANCE_LOST : RINGLOG_REBALANCE_REVOKED, revoked, n,
                        c->rebalance_opaque);
    ringlog_topic_partition *commits = calloc(n, sizeof(*commits)); /* topics borrowed */
    size_t k = 0;
    rl_cluster_lock(c->cl);
    for (size_t i = 0; commits && !lost && c->conf->enable_auto_commit && i < n; i++) {
        struct cpart *p = consumer_find_part(c, revoked[i].topic, revoked[i].partition);
        int64_t pos = p ? atomic_load(&p->position) : -1;
        if (pos >= 0 && pos != p->committed)
            commits[k++] = (ringlog_topic_partition){
                .topic = revoked[i].topic, .partition = revoked[i].partition, .offset = pos};
    }
    /* Fetching stops first (the commit's answer then waits behind no new fetch), but the
     * coordinator hears of the release only once the commit is in: no heartbeat meanwhile. */
    if (c->group)
        c->group->holding = true;
    rl_cluster_unlock(c->cl);
    ringlog_consumer_incremental_unassign(c, revoked, n);
    int rc = k ? ringlog_consumer_commit_offsets(c, commits, k, (int)c->conf->request_timeout_ms)
               : RINGLOG_OK;
    if (rc != RINGLOG_OK)
        rl_cluster_log(c->cl, RINGLOG_LOG_WARNING, "group %s: commit before revoking failed: %s",
                       c->conf->group, ringlog_err_name(rc));
    free(commits);
    rl_cluster_lock(c->cl);
    if (c->group)
        c->group->holding = false;
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
}

void group_reconcile(struct ringlog_consumer *c)
{
    assert(!rl_cluster_on_io_thread(c->cl)); /* the application's thread: callbacks, commits */
    rl_cluster_lock(c->cl);
    struct rl_group *g = c->group;
    if (!g || !g->pending) {
        rl_cluster_unlock(c->cl);
        return;
    }
    size_t nowned, nrevoked = 0, nadded = 0;
    ringlog_topic_partition *owned = assignment(c, &nowned);
    ringlog_topic_partition *revoked = owned ? minus(owned, nowned, in_target, g, &nrevoked) : NULL;
    ringlog_topic_partition *added = minus(g->target, g->ntarget, in_assignment, c, &nadded);
    bool lost = g->lost;
    g->pending = g->lost = false;
    rl_cluster_unlock(c->cl);
    revoke(c, revoked, nrevoked, lost);
    if (nadded && ringlog_consumer_incremental_assign(c, added, nadded) == RINGLOG_OK &&
        c->rebalance_cb)
        c->rebalance_cb(c, RINGLOG_REBALANCE_ASSIGNED, added, nadded, c->rebalance_opaque);
    free_tps(owned, nowned);
    free_tps(revoked, nrevoked);
    free_tps(added, nadded);
    rl_cluster_lock(c->cl);
    if (c->group)
        c->group->next_beat = 0; /* tell the coordinator at once */
    rl_cluster_wakeup(c->cl);
    rl_cluster_unlock(c->cl);
}

int group_leave(struct ringlog_consumer *c, int timeout_ms)
{
    assert(!rl_cluster_on_io_thread(c->cl));
    rl_cluster_lock(c->cl);
    struct rl_group *g = c->group;
    size_t n = 0;
    ringlog_topic_partition *owned = g ? assignment(c, &n) : NULL;
    rl_cluster_unlock(c->cl);
    if (!g)
        return RINGLOG_OK;
    revoke(c, owned, n, false);
    free_tps(owned, n);
    int64_t deadline = rl_now_ms() + timeout_ms;
    rl_cluster_lock(c->cl);
    g->leaving = true;
    g->next_beat = 0;
    rl_cluster_wakeup(c->cl);
    while (!g->left && rl_now_ms() < deadline) {
        struct timespec ts = {.tv_sec = deadline / 1000,
                              .tv_nsec = (long)(deadline % 1000) * 1000000};
        pthread_cond_timedwait(&c->job_cond, rl_cluster_mutex(c->cl), &ts);
    }
    int rc = g->left ? RINGLOG_OK : RINGLOG_ERR_TIMED_OUT;
    c->group = NULL;
    group_free(g);
    rl_cluster_unlock(c->cl);
    return rc;
}

/* ---------------------------------------------------------- public API */

int ringlog_consumer_subscribe(ringlog_consumer *c, const char *const *topics, size_t n)
{
    if (!c || !topics || n == 0)
        return RINGLOG_ERR_INVALID_ARG;
    if (!c->conf->group || c->closed)
        return RINGLOG_ERR_STATE;
    return group_subscribe(c, topics, n, NULL);
}

int ringlog_consumer_subscribe_pattern(ringlog_consumer *c, const char *pattern)
{
    if (!c || !pattern || !pattern[0])
        return RINGLOG_ERR_INVALID_ARG;
    if (!c->conf->group || c->closed)
        return RINGLOG_ERR_STATE;
    return group_subscribe(c, NULL, 0, pattern);
}

int ringlog_consumer_unsubscribe(ringlog_consumer *c)
{
    if (!c)
        return RINGLOG_ERR_INVALID_ARG;
    return group_leave(c, (int)c->conf->request_timeout_ms);
}

int ringlog_consumer_set_rebalance_cb(ringlog_consumer *c, ringlog_rebalance_cb cb, void *opaque)
{
    if (!c)
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    c->rebalance_cb = cb;
    c->rebalance_opaque = opaque;
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}

int ringlog_consumer_member_id(ringlog_consumer *c, char *buf, size_t len, int32_t *epoch)
{
    if (!c || !buf || len == 0)
        return RINGLOG_ERR_INVALID_ARG;
    rl_cluster_lock(c->cl);
    int32_t e;
    snprintf(buf, len, "%s", group_member(c, &e));
    if (epoch)
        *epoch = e;
    rl_cluster_unlock(c->cl);
    return RINGLOG_OK;
}
