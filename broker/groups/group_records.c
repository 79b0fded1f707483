#include "group_records.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group_wire.h"
#include "ringlog.pb-c.h"

/* ------------------------------------------------------------- writing */

static int recs_push(struct group_recs *r, char *key, uint8_t *value, size_t len)
{
    if (key == NULL)
        goto fail;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct group_rec *v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL)
            goto fail;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (struct group_rec){.key = key, .value = value, .value_len = len};
    return 0;
fail:
    free(key);
    free(value);
    return -1;
}

static char *key_of(const char *kind, const char *group, const char *a, const char *b)
{
    size_t len =
        strlen(kind) + strlen(group) + (a ? strlen(a) + 1 : 0) + (b ? strlen(b) + 1 : 0) + 2;
    char *k = malloc(len);
    if (k != NULL)
        snprintf(k, len, "%s/%s%s%s%s%s", kind, group, a ? "/" : "", a ? a : "", b ? "/" : "",
                 b ? b : "");
    return k;
}

/* Packs a GroupRecord; NULL when out of memory. */
static uint8_t *pack(const Ringlog__GroupRecord *rec, size_t *len)
{
    *len = ringlog__group_record__get_packed_size(rec);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf != NULL)
        ringlog__group_record__pack(rec, buf);
    return buf;
}

static int push_meta(const struct group *g, struct group_recs *out)
{
    Ringlog__GroupMetaRecord meta = RINGLOG__GROUP_META_RECORD__INIT;
    meta.group = g->name;
    meta.group_epoch = g->epoch;
    meta.assignment_epoch = g->assignment_epoch;
    meta.assignor = (char *)assignor_name(g->assignor);
    Ringlog__GroupRecord rec = RINGLOG__GROUP_RECORD__INIT;
    rec.body_case = RINGLOG__GROUP_RECORD__BODY_META;
    rec.meta = &meta;
    size_t len;
    uint8_t *value = pack(&rec, &len);
    if (value == NULL)
        return -1;
    return recs_push(out, key_of("g", g->name, NULL, NULL), value, len);
}

static int push_member(const struct group *g, const struct group_member *m, struct group_recs *out)
{
    Ringlog__GroupMemberRecord mr = RINGLOG__GROUP_MEMBER_RECORD__INIT;
    mr.group = g->name;
    mr.member_id = m->id;
    mr.instance_id = m->instance_id ? m->instance_id : "";
    mr.client_id = m->client_id ? m->client_id : "";
    mr.member_epoch = m->epoch;
    mr.subscribed_topics = m->topics;
    mr.n_subscribed_topics = m->ntopics;
    mr.subscribed_pattern = m->pattern ? m->pattern : "";
    mr.rebalance_timeout_ms = m->rebalance_timeout_ms;
    mr.session_timeout_ms = m->session_timeout_ms;
    int rc = -1;
    if (tp_set_to_wire(&m->assigned, &mr.assigned, &mr.n_assigned) == 0 &&
        tp_set_to_wire(&m->revoking, &mr.revoking, &mr.n_revoking) == 0 &&
        tp_set_to_wire(&m->target, &mr.target, &mr.n_target) == 0) {
        Ringlog__GroupRecord rec = RINGLOG__GROUP_RECORD__INIT;
        rec.body_case = RINGLOG__GROUP_RECORD__BODY_MEMBER;
        rec.member = &mr;
        size_t len;
        uint8_t *value = pack(&rec, &len);
        rc = value ? recs_push(out, key_of("m", g->name, m->id, NULL), value, len) : -1;
    }
    tp_wire_free(mr.assigned, mr.n_assigned);
    tp_wire_free(mr.revoking, mr.n_revoking);
    tp_wire_free(mr.target, mr.n_target);
    return rc;
}

static char *offset_key(const struct group *g, const struct group_offset *o)
{
    char partition[16];
    snprintf(partition, sizeof(partition), "%u", o->partition);
    return key_of("o", g->name, o->topic, partition);
}

static int push_offset(const struct group *g, const struct group_offset *o, struct group_recs *out)
{
    Ringlog__GroupOffsetRecord orec = RINGLOG__GROUP_OFFSET_RECORD__INIT;
    orec.group = g->name;
    orec.topic = o->topic;
    orec.partition = o->partition;
    orec.offset = o->offset;
    orec.metadata = o->metadata ? o->metadata : "";
    Ringlog__GroupRecord rec = RINGLOG__GROUP_RECORD__INIT;
    rec.body_case = RINGLOG__GROUP_RECORD__BODY_OFFSET;
    rec.offset = &orec;
    size_t len;
    uint8_t *value = pack(&rec, &len);
    return value ? recs_push(out, offset_key(g, o), value, len) : -1;
}

int group_records_collect(struct group *g, struct group_recs *out)
{
    int rc = 0;
    if (g->meta_dirty && (rc = push_meta(g, out)) == 0)
        g->meta_dirty = false;
    for (size_t i = 0; rc == 0 && i < g->nremoved; i++)
        rc = recs_push(out, key_of("m", g->name, g->removed[i], NULL), NULL, 0);
    if (rc == 0)
        group_clear_removed(g);
    for (size_t i = 0; rc == 0 && i < g->nmembers; i++)
        if (g->members[i]->dirty && (rc = push_member(g, g->members[i], out)) == 0)
            g->members[i]->dirty = false;
    for (size_t i = 0; rc == 0 && i < g->noffsets; i++)
        if (g->offsets[i].dirty && (rc = push_offset(g, &g->offsets[i], out)) == 0)
            g->offsets[i].dirty = false;
    return rc;
}

int group_records_tombstones(const struct group *g, struct group_recs *out)
{
    int rc = recs_push(out, key_of("g", g->name, NULL, NULL), NULL, 0);
    for (size_t i = 0; rc == 0 && i < g->nmembers; i++)
        rc = recs_push(out, key_of("m", g->name, g->members[i]->id, NULL), NULL, 0);
    for (size_t i = 0; rc == 0 && i < g->noffsets; i++)
        rc = recs_push(out, offset_key(g, &g->offsets[i]), NULL, 0);
    return rc;
}

void group_recs_free(struct group_recs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
    }
    free(r->v);
    *r = (struct group_recs){0};
}
