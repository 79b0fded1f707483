/*
 * The coordinator's admin calls (coordinator.h): describe a group (members,
 * assignments, committed offsets, log ends and lag), delete an empty
 * group, list the groups of this shard.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator_internal.h"
#include "errors.h"
#include "group_wire.h"
#include "server.h"
#include "shard.h"

/* ------------------------------------------------------------ describe */

static void member_free(Ringlog__GroupMemberDescription *d)
{
    tp_wire_free(d->assignment, d->n_assignment);
    tp_wire_free(d->target, d->n_target);
}

static int describe_member(const struct group_member *m, Ringlog__GroupMemberDescription *d)
{
    ringlog__group_member_description__init(d);
    d->member_id = m->id;
    d->instance_id = m->instance_id ? m->instance_id : "";
    d->client_id = m->client_id ? m->client_id : "";
    d->member_epoch = m->epoch;
    d->subscribed_topics = m->topics;
    d->n_subscribed_topics = m->ntopics;
    d->subscribed_pattern = m->pattern ? m->pattern : "";
    if (tp_set_to_wire(&m->assigned, &d->assignment, &d->n_assignment) != 0 ||
        tp_set_to_wire(&m->target, &d->target, &d->n_target) != 0)
        return -1;
    return 0;
}

/* The member owning (or revoking) a partition, "" if none. */
static const char *owner_of(const struct group *g, const char *topic, uint32_t partition)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (tp_set_contains(&g->members[i]->assigned, topic, partition) ||
            tp_set_contains(&g->members[i]->revoking, topic, partition))
            return g->members[i]->id;
    return "";
}

/* Every committed or owned partition, sorted: the rows of a description. */
static int described_partitions(const struct group *g, struct tp_set *out)
{
    for (size_t i = 0; i < g->noffsets; i++)
        if (tp_set_add(out, g->offsets[i].topic, g->offsets[i].partition) != 0)
            return -1;
    for (size_t i = 0; i < g->nmembers; i++)
        for (size_t k = 0; k < g->members[i]->assigned.n; k++)
            if (tp_set_add(out, g->members[i]->assigned.v[k].topic,
                           g->members[i]->assigned.v[k].partition) != 0)
                return -1;
    return 0;
}

/* The offsets rows; the log end is the partition's high watermark as its owner published it. */
static int describe_offsets(const struct group *g, const struct topic_table *table,
                            Ringlog__DescribedGroup *d, Ringlog__GroupPartitionOffset *rows,
                            const struct tp_set *parts)
{
    for (size_t i = 0; i < parts->n; i++) {
        const struct tp *p = &parts->v[i];
        Ringlog__GroupPartitionOffset *r = &rows[i];
        ringlog__group_partition_offset__init(r);
        r->topic = p->topic;
        r->partition = p->partition;
        const struct group_offset *o = group_offset_get(g, p->topic, p->partition);
        r->committed_offset = o ? o->offset : -1;
        const struct topic_info *ti = topic_table_find(table, p->topic);
        r->log_end_offset = ti && p->partition < ti->partitions
                                ? atomic_load(&ti->stats[p->partition].high_watermark)
                                : -1;
        r->lag = r->committed_offset >= 0 && r->log_end_offset >= 0
                     ? r->log_end_offset - r->committed_offset
                     : -1;
        if (r->lag < 0 && r->log_end_offset >= 0 && r->committed_offset >= 0)
            r->lag = 0;
        if (r->lag > 0)
            d->total_lag += r->lag;
        r->member_id = (char *)owner_of(g, p->topic, p->partition);
        d->offsets[i] = r;
    }
    d->n_offsets = parts->n;
    return 0;
}

struct describe_space {
    Ringlog__GroupMemberDescription *members;
    Ringlog__GroupMemberDescription **member_ptrs;
    Ringlog__GroupPartitionOffset *rows;
    struct tp_set parts;
    size_t nmembers;
};

static void describe_space_free(struct describe_space *s, Ringlog__DescribedGroup *d)
{
    for (size_t i = 0; i < s->nmembers; i++)
        member_free(&s->members[i]);
    free(s->members);
    free(s->member_ptrs);
    free(s->rows);
    free(d->offsets);
    tp_set_free(&s->parts);
}

/* Fills d from g; -1 when out of memory. */
static int describe_fill(const struct group *g, Ringlog__DescribedGroup *d,
                         struct describe_space *s, const struct topic_table *table)
{
    d->state = (char *)group_state(g);
    d->group_epoch = g->epoch;
    d->assignment_epoch = g->assignment_epoch;
    d->assignor = (char *)assignor_name(g->assignor);
    s->members = calloc(g->nmembers + 1, sizeof(*s->members));
    s->member_ptrs = calloc(g->nmembers + 1, sizeof(*s->member_ptrs));
    if (!s->members || !s->member_ptrs || described_partitions(g, &s->parts) != 0)
        return -1;
    for (; s->nmembers < g->nmembers; s->nmembers++) {
        s->member_ptrs[s->nmembers] = &s->members[s->nmembers];
        if (describe_member(g->members[s->nmembers], &s->members[s->nmembers]) != 0) {
            s->nmembers++;
            return -1;
        }
    }
    d->members = s->member_ptrs;
    d->n_members = g->nmembers;
    s->rows = calloc(s->parts.n + 1, sizeof(*s->rows));
    d->offsets = calloc(s->parts.n + 1, sizeof(*d->offsets));
    if (!s->rows || !d->offsets)
        return -1;
    return describe_offsets(g, table, d, s->rows, &s->parts);
}

void coord_serve_describe(struct coord_part *cp, struct coord_call *c)
{
    assert(c->group != NULL);
    const struct group *g = group_table_find(&cp->groups, c->group);
    Ringlog__DescribedGroup d = RINGLOG__DESCRIBED_GROUP__INIT;
    Ringlog__DescribedGroup *dp = &d;
    d.group = (char *)c->group;
    struct describe_space s = {0};
    int rc = 0;
    if (g == NULL) {
        d.error = RINGLOG__ERROR_CODE__UNKNOWN_GROUP;
        d.error_message = (char *)rl_error_message(d.error);
        d.state = "dead";
    } else {
        rc = describe_fill(g, &d, &s, topic_registry_snapshot(&c->shard->srv->topics));
    }
    Ringlog__DescribeGroupsResponse body = RINGLOG__DESCRIBE_GROUPS_RESPONSE__INIT;
    body.n_groups = 1;
    body.groups = &dp;
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_DESCRIBE_GROUPS;
    resp.describe_groups = &body;
    if (rc == 0)
        coord_answer(c, &resp);
    else
        coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
    describe_space_free(&s, &d);
}

/* -------------------------------------------------------------- delete */

struct delete_ctx {
    struct coord_call *c;
    struct coord_part *cp;
};

static void delete_answer(struct coord_call *c, int error, const char *message)
{
    Ringlog__TopicResult r = RINGLOG__TOPIC_RESULT__INIT;
    Ringlog__TopicResult *rp = &r;
    r.name = (char *)c->group;
    r.error = error;
    r.error_message = (char *)(message ? message : error ? rl_error_message(error) : "");
    Ringlog__DeleteGroupsResponse body = RINGLOG__DELETE_GROUPS_RESPONSE__INIT;
    body.n_groups = 1;
    body.groups = &rp;
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_DELETE_GROUPS;
    resp.delete_groups = &body;
    coord_answer(c, &resp);
}

static void delete_written(void *ctx, bool ok)
{
    struct delete_ctx *dc = ctx;
    struct group *g = group_table_find(&dc->cp->groups, dc->c->group);
    if (ok && g != NULL && g->nmembers == 0)
        group_table_remove(&dc->cp->groups, g);
    int error = ok                          ? RINGLOG__ERROR_CODE__NONE
                : !coord_part_leads(dc->cp) ? RINGLOG__ERROR_CODE__NOT_COORDINATOR
                                            : RINGLOG__ERROR_CODE__STORAGE_ERROR;
    delete_answer(dc->c, error, NULL);
    free(dc);
}

void coord_serve_delete(struct coord_part *cp, struct coord_call *c)
{
    assert(c->group != NULL);
    struct group *g = group_table_find(&cp->groups, c->group);
    if (g == NULL || g->nmembers > 0) {
        delete_answer(c,
                      g ? RINGLOG__ERROR_CODE__GROUP_NOT_EMPTY : RINGLOG__ERROR_CODE__UNKNOWN_GROUP,
                      g ? "the group has active members: stop them first" : NULL);
        return;
    }
    struct group_recs recs = {0};
    struct delete_ctx *dc = malloc(sizeof(*dc));
    if (dc == NULL || group_records_tombstones(g, &recs) != 0) {
        free(dc);
        group_recs_free(&recs);
        delete_answer(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    *dc = (struct delete_ctx){.c = c, .cp = cp};
    coord_write(cp, &recs, delete_written, dc);
}

/* ---------------------------------------------------------------- list */

uint8_t *coordinator_list(struct shard *s, size_t *len)
{
    struct coordinator *co = s->groups;
    size_t n = 0;
    for (uint32_t i = 0; co && i < GROUPS_PARTITIONS; i++)
        n += co->parts[i].groups.n;
    Ringlog__ListedGroup *rows = calloc(n + 1, sizeof(*rows));
    Ringlog__ListedGroup **ptrs = calloc(n + 1, sizeof(*ptrs));
    uint8_t *out = NULL;
    if (rows && ptrs) {
        size_t k = 0;
        for (uint32_t i = 0; co && i < GROUPS_PARTITIONS; i++)
            for (size_t j = 0; j < co->parts[i].groups.n; j++, k++) {
                const struct group *g = co->parts[i].groups.v[j];
                ringlog__listed_group__init(&rows[k]);
                rows[k].group = g->name;
                rows[k].state = (char *)group_state(g);
                rows[k].members = (uint32_t)g->nmembers;
                ptrs[k] = &rows[k];
            }
        Ringlog__ListGroupsResponse body = RINGLOG__LIST_GROUPS_RESPONSE__INIT;
        body.n_groups = n;
        body.groups = ptrs;
        *len = ringlog__list_groups_response__get_packed_size(&body);
        if ((out = malloc(*len ? *len : 1)) != NULL)
            ringlog__list_groups_response__pack(&body, out);
    }
    free(rows);
    free(ptrs);
    return out;
}
