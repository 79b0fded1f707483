/*
 * The admin client's consumer-group calls: list, describe, delete and
 * reset offsets (ringlog.h). Results are one allocation each, laid out in
 * two passes (sizes, then copies), freed with ringlog_free.
 */
#include "group_admin.h"

#include <assert.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_internal.h"
#include "conf.h"
#include "conn.h"

/* ListGroups is asked of at most this many brokers (a cluster's --peers are fewer). */
#define RL_ADMIN_MAX_BROKERS 64

/* A bump layout: with base NULL it only counts (the first pass). */
struct layout {
    char *base;
    size_t used;
};

static void *lay(struct layout *l, size_t size)
{
    size_t align = alignof(max_align_t);
    l->used = (l->used + align - 1) / align * align;
    void *p = l->base ? l->base + l->used : NULL;
    l->used += size;
    return p;
}

static const char *lay_str(struct layout *l, const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *p = lay(l, n);
    if (p)
        memcpy(p, s ? s : "", n);
    return p;
}

static int call(ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resp, int body,
                char *errbuf, size_t errlen)
{
    int err = rl_admin_call(a, req, resp, true, errbuf, errlen);
    if (err == RINGLOG_OK && (int)(*resp)->body_case != body) {
        rl_conn_response_free(*resp);
        *resp = NULL;
        rl_errbuf(errbuf, errlen, "the broker answered with another message");
        return RINGLOG_ERR_PROTOCOL;
    }
    return err;
}

/* ------------------------------------------------------- the coordinator */

/* The coordinator of `group` as the admin's broker names it: host and port into out. */
static int find_coordinator(ringlog_admin *a, const char *group, char *host, size_t hostlen,
                            int *port, char *errbuf, size_t errlen)
{
    Ringlog__FindCoordinatorRequest f = RINGLOG__FIND_COORDINATOR_REQUEST__INIT;
    f.group = (char *)group;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_FIND_COORDINATOR;
    req.find_coordinator = &f;
    Ringlog__Response *resp = NULL;
    rl_admin_lock(a);
    int err = rl_admin_call_locked(a, &req, &resp, true, errbuf, errlen);
    rl_admin_unlock(a);
    if (err)
        return err;
    const Ringlog__FindCoordinatorResponse *fc =
        resp->body_case == RINGLOG__RESPONSE__BODY_FIND_COORDINATOR ? resp->find_coordinator : NULL;
    err = fc ? (int)fc->error : RINGLOG_ERR_PROTOCOL;
    if (err)
        rl_errbuf(errbuf, errlen, "%s",
                  fc && fc->error_message[0] ? fc->error_message : ringlog_err_str(err));
    else
        snprintf(host, hostlen, "%s", fc->host), *port = (int)fc->port;
    rl_conn_response_free(resp);
    return err;
}

/* One try of req at the group's coordinator: its answer (body checked), or an error. */
static int coordinator_try(ringlog_admin *a, const char *group, Ringlog__Request *req,
                           Ringlog__Response **resp, int body, char *errbuf, size_t errlen)
{
    char host[256];
    int port = 0;
    int err = find_coordinator(a, group, host, sizeof(host), &port, errbuf, errlen);
    if (err)
        return err;
    struct rl_conn *c = NULL;
    rl_admin_lock(a);
    err = rl_admin_open(a, host, port, &c, errbuf, errlen);
    rl_admin_unlock(a);
    if (err)
        return err;
    req->correlation_id = 0;
    err = rl_conn_call(c, req, resp, (int)a->conf->request_timeout_ms);
    rl_conn_close(c);
    if (err)
        return err;
    if ((*resp)->error || (int)(*resp)->body_case != body) {
        err = (*resp)->error ? (int)(*resp)->error : RINGLOG_ERR_PROTOCOL;
        rl_errbuf(errbuf, errlen, "%s",
                  (*resp)->error && (*resp)->error_message[0] ? (*resp)->error_message
                                                              : ringlog_err_str(err));
        rl_conn_response_free(*resp);
        *resp = NULL;
    }
    return err;
}

/*
 * A call about one group at its coordinator (on a cluster, the leader of
 * the group's partition of __groups, which any broker names): the answer
 * with code_of's code. A coordinator moving (a failover: NOT_COORDINATOR,
 * a lost connection) or loading its groups is asked again, until the
 * request timeout.
 */
static int group_call(ringlog_admin *a, const char *group, Ringlog__Request *req,
                      Ringlog__Response **resp, int body, rl_result_code_fn code_of, char *errbuf,
                      size_t errlen)
{
    int64_t deadline = rl_now_ms() + a->conf->request_timeout_ms;
    for (;;) {
        *resp = NULL;
        int err = coordinator_try(a, group, req, resp, body, errbuf, errlen);
        if (!err)
            err = code_of(*resp, errbuf, errlen);
        bool again = err == RINGLOG_ERR_NOT_COORDINATOR ||
                     err == RINGLOG_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                     err == RINGLOG_ERR_TRANSPORT;
        if (!again || rl_now_ms() + 100 >= deadline)
            return err;
        if (*resp)
            rl_conn_response_free(*resp);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------ list */

static int cmp_listing(const void *x, const void *y)
{
    return strcmp(((const ringlog_group_listing *)x)->group,
                  ((const ringlog_group_listing *)y)->group);
}

static void lay_listing(struct layout *l, const Ringlog__ListGroupsResponse *r,
                        ringlog_group_listing **out)
{
    ringlog_group_listing *v = lay(l, (r->n_groups + 1) * sizeof(*v));
    for (size_t i = 0; i < r->n_groups; i++) {
        const char *g = lay_str(l, r->groups[i]->group), *s = lay_str(l, r->groups[i]->state);
        if (v)
            v[i] = (ringlog_group_listing){g, s, (int32_t)r->groups[i]->members};
    }
    *out = v;
}

/*
 * Every broker's ListGroups (each lists the groups it coordinates; on a
 * cluster, those of the __groups partitions it leads), as one answer in
 * *all (pointers into resps[], which the caller frees); a group listed
 * twice (its coordinator moving meanwhile) once. A broker that cannot be
 * asked is left out: its groups move to another within a failover.
 */
static int list_everywhere(ringlog_admin *a, Ringlog__Request *req, Ringlog__Response **resps,
                           size_t *nresps, Ringlog__ListGroupsResponse *all, char *errbuf,
                           size_t errlen)
{
    Ringlog__Response *md = NULL;
    rl_admin_lock(a);
    int err = rl_admin_metadata(a, NULL, &md, errbuf, errlen);
    const Ringlog__MetadataResponse *m = !err && md ? md->metadata : NULL;
    size_t n = 0, rows = 0;
    for (size_t i = 0; m && i < m->n_brokers && n < RL_ADMIN_MAX_BROKERS; i++) {
        resps[n] = rl_admin_call_node(a, m, m->brokers[i]->node_id, req,
                                      RINGLOG__RESPONSE__BODY_LIST_GROUPS);
        if (resps[n])
            rows += resps[n++]->list_groups->n_groups;
    }
    rl_admin_unlock(a);
    if (md)
        rl_conn_response_free(md);
    *nresps = n;
    if (err)
        return err;
    ringlog__list_groups_response__init(all);
    all->groups = calloc(rows + 1, sizeof(*all->groups));
    if (!all->groups)
        return RINGLOG_ERR_NOMEM;
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < resps[r]->list_groups->n_groups; k++) {
            Ringlog__ListedGroup *g = resps[r]->list_groups->groups[k];
            size_t j = 0;
            while (j < all->n_groups && strcmp(all->groups[j]->group, g->group) != 0)
                j++;
            if (j == all->n_groups)
                all->groups[all->n_groups++] = g;
        }
    assert(all->n_groups <= rows);
    return RINGLOG_OK;
}

int ringlog_admin_list_groups(ringlog_admin *a, ringlog_group_listing **groups, size_t *count,
                              char *errbuf, size_t errlen)
{
    if (!a || !groups || !count)
        return RINGLOG_ERR_INVALID_ARG;
    Ringlog__ListGroupsRequest lg = RINGLOG__LIST_GROUPS_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_GROUPS;
    req.list_groups = &lg;
    Ringlog__Response *resps[RL_ADMIN_MAX_BROKERS];
    size_t nresps = 0;
    Ringlog__ListGroupsResponse all = RINGLOG__LIST_GROUPS_RESPONSE__INIT;
    int err = list_everywhere(a, &req, resps, &nresps, &all, errbuf, errlen);
    struct layout l = {0};
    if (!err) {
        lay_listing(&l, &all, groups);
        l.base = malloc(l.used ? l.used : 1);
        l.used = 0;
        if (l.base)
            lay_listing(&l, &all, groups);
        *count = all.n_groups;
        err = l.base ? RINGLOG_OK : RINGLOG_ERR_NOMEM;
    }
    free(all.groups);
    for (size_t i = 0; i < nresps; i++)
        rl_conn_response_free(resps[i]);
    if (!err)
        qsort(*groups, *count, sizeof(**groups), cmp_listing);
    return err;
}

/* -------------------------------------------------------------- describe */

static void lay_member(struct layout *l, const Ringlog__GroupMemberDescription *d,
                       ringlog_group_member_info *m)
{
    size_t n = 0;
    for (size_t t = 0; t < d->n_assignment; t++)
        n += d->assignment[t]->n_partitions;
    ringlog_topic_partition *tps = lay(l, (n + 1) * sizeof(*tps));
    size_t k = 0;
    for (size_t t = 0; t < d->n_assignment; t++) {
        const char *topic = lay_str(l, d->assignment[t]->topic);
        for (size_t p = 0; p < d->assignment[t]->n_partitions; p++, k++)
            if (tps)
                tps[k] =
                    (ringlog_topic_partition){topic, (int32_t)d->assignment[t]->partitions[p], -1};
    }
    const char *id = lay_str(l, d->member_id), *inst = lay_str(l, d->instance_id),
               *client = lay_str(l, d->client_id);
    if (m)
        *m = (ringlog_group_member_info){id, inst, client, d->member_epoch, tps, n};
}

static void lay_group(struct layout *l, const Ringlog__DescribedGroup *d, ringlog_group_info **out)
{
    ringlog_group_info *info = lay(l, sizeof(*info));
    ringlog_group_member_info *members = lay(l, (d->n_members + 1) * sizeof(*members));
    ringlog_group_offset_info *offsets = lay(l, (d->n_offsets + 1) * sizeof(*offsets));
    for (size_t i = 0; i < d->n_members; i++)
        lay_member(l, d->members[i], members ? &members[i] : NULL);
    for (size_t i = 0; i < d->n_offsets; i++) {
        const Ringlog__GroupPartitionOffset *o = d->offsets[i];
        const char *topic = lay_str(l, o->topic), *owner = lay_str(l, o->member_id);
        if (offsets)
            offsets[i] = (ringlog_group_offset_info){
                topic, (int32_t)o->partition, o->committed_offset, o->log_end_offset, o->lag,
                owner};
    }
    const char *group = lay_str(l, d->group), *state = lay_str(l, d->state),
               *assignor = lay_str(l, d->assignor);
    if (info)
        *info = (ringlog_group_info){group,        state,   assignor,     d->group_epoch, members,
                                     d->n_members, offsets, d->n_offsets, d->total_lag};
    *out = info;
}

static int described_code(const Ringlog__Response *resp, char *errbuf, size_t errlen)
{
    const Ringlog__DescribedGroup *d =
        resp->describe_groups->n_groups == 1 ? resp->describe_groups->groups[0] : NULL;
    int err = d ? (int)d->error : RINGLOG_ERR_PROTOCOL;
    if (err)
        rl_errbuf(errbuf, errlen, "%s",
                  d && d->error_message[0] ? d->error_message : ringlog_err_str(err));
    return err;
}

int ringlog_admin_describe_group(ringlog_admin *a, const char *group, ringlog_group_info **info,
                                 char *errbuf, size_t errlen)
{
    if (!a || !group || !info)
        return RINGLOG_ERR_INVALID_ARG;
    char *groups[] = {(char *)group};
    Ringlog__DescribeGroupsRequest dg = RINGLOG__DESCRIBE_GROUPS_REQUEST__INIT;
    dg.groups = groups;
    dg.n_groups = 1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DESCRIBE_GROUPS;
    req.describe_groups = &dg;
    Ringlog__Response *resp = NULL;
    int err = group_call(a, group, &req, &resp, RINGLOG__RESPONSE__BODY_DESCRIBE_GROUPS,
                         described_code, errbuf, errlen);
    if (err) {
        if (resp)
            rl_conn_response_free(resp);
        return err;
    }
    const Ringlog__DescribedGroup *d = resp->describe_groups->groups[0];
    struct layout l = {0};
    lay_group(&l, d, info);
    l.base = malloc(l.used);
    l.used = 0;
    if (l.base)
        lay_group(&l, d, info);
    rl_conn_response_free(resp);
    return l.base ? RINGLOG_OK : RINGLOG_ERR_NOMEM;
}

/* ---------------------------------------------------------------- delete */

static int deleted_code(const Ringlog__Response *resp, char *errbuf, size_t errlen)
{
    const Ringlog__TopicResult *r =
        resp->delete_groups->n_groups == 1 ? resp->delete_groups->groups[0] : NULL;
    int err = r ? (int)r->error : RINGLOG_ERR_PROTOCOL;
    if (err)
        rl_errbuf(errbuf, errlen, "%s",
                  r && r->error_message[0] ? r->error_message : ringlog_err_str(err));
    return err;
}

int ringlog_admin_delete_group(ringlog_admin *a, const char *group, char *errbuf, size_t errlen)
{
    if (!a || !group)
        return RINGLOG_ERR_INVALID_ARG;
    char *groups[] = {(char *)group};
    Ringlog__DeleteGroupsRequest dg = RINGLOG__DELETE_GROUPS_REQUEST__INIT;
    dg.groups = groups;
    dg.n_groups = 1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_GROUPS;
    req.delete_groups = &dg;
    Ringlog__Response *resp = NULL;
    int err = group_call(a, group, &req, &resp, RINGLOG__RESPONSE__BODY_DELETE_GROUPS, deleted_code,
                         errbuf, errlen);
    if (resp)
        rl_conn_response_free(resp);
    return err;
}

/* ---------------------------------------------------------- reset offsets */

/* The first offsets at or after ts of every partition (-1: none) into out. */
static int offsets_for_time(ringlog_admin *a, const ringlog_topic_info *ti, int64_t ts,
                            int64_t *out, char *errbuf, size_t errlen)
{
    size_t n = ti->partition_count;
    Ringlog__ListOffsetsPartition *lps = calloc(n + 1, sizeof(*lps));
    Ringlog__ListOffsetsPartition **lpp = calloc(n + 1, sizeof(*lpp));
    if (!lps || !lpp) {
        free(lps);
        free(lpp);
        return RINGLOG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ringlog__list_offsets_partition__init(&lps[i]);
        lps[i].partition = (uint32_t)ti->partitions[i].partition;
        lps[i].timestamp = ts;
        lpp[i] = &lps[i];
    }
    Ringlog__ListOffsetsTopic lt = RINGLOG__LIST_OFFSETS_TOPIC__INIT;
    Ringlog__ListOffsetsTopic *ltp = &lt;
    lt.topic = (char *)ti->name;
    lt.partitions = lpp;
    lt.n_partitions = n;
    Ringlog__ListOffsetsRequest lo = RINGLOG__LIST_OFFSETS_REQUEST__INIT;
    lo.topics = &ltp;
    lo.n_topics = 1;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_OFFSETS;
    req.list_offsets = &lo;
    Ringlog__Response *resp = NULL;
    int err = call(a, &req, &resp, RINGLOG__RESPONSE__BODY_LIST_OFFSETS, errbuf, errlen);
    free(lps);
    free(lpp);
    if (err)
        return err;
    const Ringlog__ListOffsetsTopicResult *tr =
        resp->list_offsets->n_topics == 1 ? resp->list_offsets->topics[0] : NULL;
    for (size_t i = 0; i < n && !err; i++) {
        if (!tr || tr->n_partitions != n)
            err = RINGLOG_ERR_PROTOCOL;
        else if ((err = tr->partitions[i]->error))
            rl_errbuf(errbuf, errlen, "partition %u: %s", tr->partitions[i]->partition,
                      ringlog_err_str(err));
        else
            out[i] = tr->partitions[i]->offset;
    }
    rl_conn_response_free(resp);
    return err;
}

/* Where each partition goes: `to` resolved against its range (or the times found). */
static int64_t target_offset(const ringlog_partition_info *p, int64_t to, int64_t by_time)
{
    if (to == RINGLOG_OFFSET_BEGINNING)
        return p->start_offset;
    if (to == RINGLOG_OFFSET_END || (to == RINGLOG_OFFSET_TIMESTAMP && by_time < 0))
        return p->high_watermark;
    int64_t o = to == RINGLOG_OFFSET_TIMESTAMP ? by_time : to;
    return o < p->start_offset ? p->start_offset : o > p->high_watermark ? p->high_watermark : o;
}

static int committed_code(const Ringlog__Response *resp, char *errbuf, size_t errlen)
{
    int err = RINGLOG_OK;
    for (size_t i = 0; !err && i < resp->offset_commit->n_topics; i++)
        for (size_t k = 0; !err && k < resp->offset_commit->topics[i]->n_partitions; k++) {
            const Ringlog__OffsetCommitPartitionResult *r =
                resp->offset_commit->topics[i]->partitions[k];
            if ((err = r->error))
                rl_errbuf(errbuf, errlen, "partition %u: %s", r->partition,
                          r->error_message[0] ? r->error_message : ringlog_err_str(err));
        }
    return err;
}

static int commit_outside(ringlog_admin *a, const char *group, const ringlog_topic_info *ti,
                          const int64_t *offsets, char *errbuf, size_t errlen)
{
    size_t n = ti->partition_count;
    Ringlog__OffsetCommitPartition *ps = calloc(n + 1, sizeof(*ps));
    Ringlog__OffsetCommitPartition **pp = calloc(n + 1, sizeof(*pp));
    if (!ps || !pp) {
        free(ps);
        free(pp);
        return RINGLOG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ringlog__offset_commit_partition__init(&ps[i]);
        ps[i].partition = (uint32_t)ti->partitions[i].partition;
        ps[i].offset = offsets[i];
        ps[i].metadata = "";
        pp[i] = &ps[i];
    }
    Ringlog__OffsetCommitTopic t = RINGLOG__OFFSET_COMMIT_TOPIC__INIT;
    Ringlog__OffsetCommitTopic *tp = &t;
    t.topic = (char *)ti->name;
    t.partitions = pp;
    t.n_partitions = n;
    Ringlog__OffsetCommitRequest oc = RINGLOG__OFFSET_COMMIT_REQUEST__INIT;
    oc.group = (char *)group;
    oc.topics = &tp;
    oc.n_topics = 1;
    oc.member_id = ""; /* from outside the group: refused while it has members */
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_OFFSET_COMMIT;
    req.offset_commit = &oc;
    Ringlog__Response *resp = NULL;
    int err = group_call(a, group, &req, &resp, RINGLOG__RESPONSE__BODY_OFFSET_COMMIT,
                         committed_code, errbuf, errlen);
    free(ps);
    free(pp);
    if (resp)
        rl_conn_response_free(resp);
    return err;
}

int ringlog_admin_reset_group_offsets(ringlog_admin *a, const char *group, const char *topic,
                                      int64_t to, int64_t timestamp_ms, char *errbuf, size_t errlen)
{
    if (!a || !group || !topic ||
        (to < 0 && to != RINGLOG_OFFSET_BEGINNING && to != RINGLOG_OFFSET_END &&
         to != RINGLOG_OFFSET_TIMESTAMP))
        return RINGLOG_ERR_INVALID_ARG;
    ringlog_group_info *gi = NULL;
    int err = ringlog_admin_describe_group(a, group, &gi, errbuf, errlen);
    if (err == RINGLOG_OK && gi->member_count > 0) {
        rl_errbuf(errbuf, errlen, "group %s has %zu active members: stop them first", group,
                  gi->member_count);
        err = RINGLOG_ERR_GROUP_NOT_EMPTY;
    } else if (err == RINGLOG_ERR_UNKNOWN_GROUP) {
        err = RINGLOG_OK; /* a new group: it starts with these offsets */
    }
    ringlog_free(gi);
    ringlog_topic_info *ti = NULL;
    if (err || (err = ringlog_admin_describe_topic(a, topic, &ti, errbuf, errlen)))
        return err;
    int64_t *by_time = calloc(ti->partition_count + 1, sizeof(*by_time));
    int64_t *offsets = calloc(ti->partition_count + 1, sizeof(*offsets));
    err = by_time && offsets ? RINGLOG_OK : RINGLOG_ERR_NOMEM;
    if (!err && to == RINGLOG_OFFSET_TIMESTAMP)
        err = offsets_for_time(a, ti, timestamp_ms, by_time, errbuf, errlen);
    for (size_t i = 0; !err && i < ti->partition_count; i++)
        offsets[i] = target_offset(&ti->partitions[i], to, by_time[i]);
    if (!err)
        err = commit_outside(a, group, ti, offsets, errbuf, errlen);
    free(by_time);
    free(offsets);
    ringlog_free(ti);
    return err;
}
