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

#include "conf.h"
#include "conn.h"

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

int ringlog_admin_list_groups(ringlog_admin *a, ringlog_group_listing **groups, size_t *count,
                              char *errbuf, size_t errlen)
{
    if (!a || !groups || !count)
        return RINGLOG_ERR_INVALID_ARG;
    Ringlog__ListGroupsRequest lg = RINGLOG__LIST_GROUPS_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_GROUPS;
    req.list_groups = &lg;
    Ringlog__Response *resp = NULL;
    int err = call(a, &req, &resp, RINGLOG__RESPONSE__BODY_LIST_GROUPS, errbuf, errlen);
    if (err)
        return err;
    struct layout l = {0};
    lay_listing(&l, resp->list_groups, groups);
    l.base = malloc(l.used ? l.used : 1);
    l.used = 0;
    if (l.base)
        lay_listing(&l, resp->list_groups, groups);
    *count = resp->list_groups->n_groups;
    rl_conn_response_free(resp);
    if (!l.base)
        return RINGLOG_ERR_NOMEM;
    qsort(*groups, *count, sizeof(**groups), cmp_listing);
    return RINGLOG_OK;
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
    int err = call(a, &req, &resp, RINGLOG__RESPONSE__BODY_DESCRIBE_GROUPS, errbuf, errlen);
    if (err)
        return err;
    const Ringlog__DescribedGroup *d =
        resp->describe_groups->n_groups == 1 ? resp->describe_groups->groups[0] : NULL;
    err = d ? (int)d->error : RINGLOG_ERR_PROTOCOL;
    if (err) {
        rl_errbuf(errbuf, errlen, "%s",
                  d && d->error_message[0] ? d->error_message : ringlog_err_str(err));
        rl_conn_response_free(resp);
        return err;
    }
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
    int err = call(a, &req, &resp, RINGLOG__RESPONSE__BODY_DELETE_GROUPS, errbuf, errlen);
    if (err)
        return err;
    const Ringlog__TopicResult *r =
        resp->delete_groups->n_groups == 1 ? resp->delete_groups->groups[0] : NULL;
    err = r ? (int)r->error : RINGLOG_ERR_PROTOCOL;
    if (err)
        rl_errbuf(errbuf, errlen, "%s",
                  r && r->error_message[0] ? r->error_message : ringlog_err_str(err));
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
    int err = call(a, &req, &resp, RINGLOG__RESPONSE__BODY_OFFSET_COMMIT, errbuf, errlen);
    free(ps);
    free(pp);
    for (size_t i = 0; !err && i < resp->offset_commit->n_topics; i++)
        for (size_t k = 0; !err && k < resp->offset_commit->topics[i]->n_partitions; k++) {
            const Ringlog__OffsetCommitPartitionResult *r =
                resp->offset_commit->topics[i]->partitions[k];
            if ((err = r->error))
                rl_errbuf(errbuf, errlen, "partition %u: %s", r->partition,
                          r->error_message[0] ? r->error_message : ringlog_err_str(err));
        }
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
