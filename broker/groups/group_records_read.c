/* group_records_apply: rebuilding groups from the records of __groups (group_records.h). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "group_records.h"
#include "group_wire.h"
#include "ringlog.pb-c.h"

struct key_parts {
    char buf[1024];
    char *kind, *group, *a, *b;
};

/* Splits "kind/group[/a[/b]]"; -1 when it is not such a key. */
static int split_key(struct key_parts *k, const uint8_t *key, size_t len)
{
    if (key == NULL || len == 0 || len >= sizeof(k->buf))
        return -1;
    memcpy(k->buf, key, len);
    k->buf[len] = '\0';
    char *parts[4] = {0};
    char *save = NULL;
    size_t n = 0;
    for (char *p = strtok_r(k->buf, "/", &save); p && n < 4; p = strtok_r(NULL, "/", &save))
        parts[n++] = p;
    if (n < 2 || strlen(parts[0]) != 1)
        return -1;
    k->kind = parts[0];
    k->group = parts[1];
    k->a = parts[2];
    k->b = parts[3];
    return 0;
}

static int apply_member(struct group *g, const Ringlog__GroupMemberRecord *mr, int64_t now_ms)
{
    struct group_member *m = group_member_find(g, mr->member_id);
    if (m == NULL && (m = group_member_add(g, mr->member_id)) == NULL)
        return -1;
    free(m->instance_id);
    free(m->client_id);
    m->instance_id = mr->instance_id[0] ? strdup(mr->instance_id) : NULL;
    m->client_id = mr->client_id[0] ? strdup(mr->client_id) : NULL;
    m->epoch = mr->member_epoch;
    m->prev_epoch = mr->member_epoch;
    m->rebalance_timeout_ms = mr->rebalance_timeout_ms;
    m->session_timeout_ms = mr->session_timeout_ms;
    /* A restarted coordinator gives every member a whole session to come back. */
    m->session_deadline_ms = now_ms + mr->session_timeout_ms;
    m->revoke_deadline_ms = now_ms + mr->rebalance_timeout_ms;
    tp_set_clear(&m->assigned);
    tp_set_clear(&m->revoking);
    tp_set_clear(&m->target);
    if (group_member_subscribe(m, mr->subscribed_topics, mr->n_subscribed_topics,
                               mr->subscribed_pattern) != GROUP_OK ||
        tp_set_from_wire(&m->assigned, mr->assigned, mr->n_assigned) != 0 ||
        tp_set_from_wire(&m->revoking, mr->revoking, mr->n_revoking) != 0 ||
        tp_set_from_wire(&m->target, mr->target, mr->n_target) != 0)
        return -1;
    m->dirty = false;
    return 0;
}

static int apply_value(struct group *g, const Ringlog__GroupRecord *rec, int64_t now_ms)
{
    switch (rec->body_case) {
    case RINGLOG__GROUP_RECORD__BODY_META:
        g->epoch = rec->meta->group_epoch;
        g->assignment_epoch = rec->meta->assignment_epoch;
        if (assignor_parse(rec->meta->assignor, &g->assignor) != 0)
            return -1;
        g->meta_dirty = false;
        return 0;
    case RINGLOG__GROUP_RECORD__BODY_MEMBER:
        return apply_member(g, rec->member, now_ms);
    case RINGLOG__GROUP_RECORD__BODY_OFFSET: {
        const Ringlog__GroupOffsetRecord *o = rec->offset;
        if (group_offset_set(g, o->topic, o->partition, o->offset, o->metadata) != 0)
            return -1;
        struct group_offset *stored =
            (struct group_offset *)group_offset_get(g, o->topic, o->partition);
        stored->dirty = false;
        return 0;
    }
    default:
        return -1;
    }
}

static void apply_tombstone(struct group_table *t, struct group *g, const struct key_parts *k)
{
    if (k->kind[0] == 'g') {
        group_table_remove(t, g);
    } else if (k->kind[0] == 'm' && k->a) {
        struct group_member *m = group_member_find(g, k->a);
        if (m != NULL) {
            group_member_remove(g, m, false);
            group_clear_removed(g);
        }
    } else if (k->kind[0] == 'o' && k->a && k->b) {
        group_offset_remove(g, k->a, (uint32_t)strtoul(k->b, NULL, 10));
    }
}

int group_records_apply(struct group_table *t, const uint8_t *key, size_t key_len,
                        const uint8_t *value, int64_t value_len, int64_t now_ms, size_t max_groups)
{
    struct key_parts k;
    if (split_key(&k, key, key_len) != 0)
        return -1;
    if (value == NULL || value_len < 0) {
        struct group *g = group_table_find(t, k.group);
        if (g != NULL)
            apply_tombstone(t, g, &k);
        return 0;
    }
    Ringlog__GroupRecord *rec = ringlog__group_record__unpack(NULL, (size_t)value_len, value);
    if (rec == NULL)
        return -1;
    struct group *g = group_table_get(t, k.group, max_groups);
    int rc = g ? apply_value(g, rec, now_ms) : -1;
    ringlog__group_record__free_unpacked(rec, NULL);
    assert(rc == 0 || rc == -1);
    return rc;
}
