/*
 * Encoder of PeerMessages (replica_wire.h). Every message is written
 * twice over the same code: once counting (to learn the nested lengths
 * protobuf puts in front of a sub-message), once writing.
 */
#include <assert.h>
#include <string.h>

#include "replica_wire_internal.h"
#include "varint.h"

/* A writer; p NULL counts only. Overflow is sticky. */
struct wout {
    uint8_t *p;
    size_t len, cap;
    bool overflow;
};

static void put_bytes(struct wout *o, const void *src, size_t n)
{
    if (o->p != NULL) {
        if (n > o->cap - o->len) {
            o->overflow = true;
            return;
        }
        if (n)
            memcpy(o->p + o->len, src, n);
    }
    o->len += n;
}

static void put_varint(struct wout *o, uint64_t v)
{
    uint8_t tmp[RL_VARINT_MAX_BYTES];
    put_bytes(o, tmp, rl_varint_put(tmp, v));
}

static void put_key(struct wout *o, uint32_t number, uint32_t wire)
{
    put_varint(o, (uint64_t)number << 3 | wire);
}

/* A varint field, left out when zero (proto3). Negative int32 and int64
 * values go as their 64-bit two's complement, as protobuf does. */
static void put_varint_field(struct wout *o, uint32_t number, uint64_t v)
{
    if (v == 0)
        return;
    put_key(o, number, RW_WIRE_VARINT);
    put_varint(o, v);
}

static void put_fixed64_field(struct wout *o, uint32_t number, uint64_t v)
{
    if (v == 0)
        return;
    put_key(o, number, RW_WIRE_I64);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put_bytes(o, b, 8);
}

static void put_bool_field(struct wout *o, uint32_t number, bool v)
{
    put_varint_field(o, number, v ? 1 : 0);
}

/* The key and length of a sub-message whose body `body` writes. */
typedef void (*body_fn)(struct wout *o, const void *arg);
static void put_sub(struct wout *o, uint32_t number, body_fn body, const void *arg)
{
    struct wout count = {0};
    body(&count, arg);
    put_key(o, number, RW_WIRE_LEN);
    put_varint(o, count.len);
    size_t before = o->len;
    body(o, arg);
    assert(o->overflow || o->len - before == count.len);
    (void)before;
}

static void put_scalar(struct wout *o, const struct rw_field *f, const struct rg_message *m)
{
    const char *base = (const char *)m + f->offset;
    int32_t i32;
    int64_t i64;
    uint64_t u64;
    bool b;
    switch (f->type) {
    case RW_I32:
        memcpy(&i32, base, sizeof(i32));
        put_varint_field(o, f->number, (uint64_t)(int64_t)i32);
        break;
    case RW_I64:
        memcpy(&i64, base, sizeof(i64));
        put_varint_field(o, f->number, (uint64_t)i64);
        break;
    case RW_FIXED64:
        memcpy(&u64, base, sizeof(u64));
        put_fixed64_field(o, f->number, u64);
        break;
    case RW_BOOL:
        memcpy(&b, base, sizeof(b));
        put_bool_field(o, f->number, b);
        break;
    default:
        assert(!"rg_message has no field of this type");
    }
}

static void run_body(struct wout *o, const void *arg)
{
    const struct rg_epoch_run *r = arg;
    put_varint_field(o, 1, (uint64_t)(int64_t)r->epoch);
    put_varint_field(o, 2, (uint64_t)r->start);
}

/* Packed repeated int32 (proto3's default for repeated scalars). */
static void put_packed(struct wout *o, uint32_t number, const int32_t *v, uint32_t n)
{
    if (n == 0)
        return;
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        len += rl_varint_size((uint64_t)(int64_t)v[i]);
    put_key(o, number, RW_WIRE_LEN);
    put_varint(o, len);
    for (uint32_t i = 0; i < n; i++)
        put_varint(o, (uint64_t)(int64_t)v[i]);
}

static void config_body(struct wout *o, const void *arg)
{
    const struct rg_config_entry *c = arg;
    put_varint_field(o, 1, (uint64_t)c->offset);
    put_packed(o, 2, c->membership.voters, c->membership.voter_count);
    put_packed(o, 3, c->membership.learners, c->membership.learner_count);
}

struct single {
    const struct rw_group *group;
    const struct rg_message *msg;
    size_t records_len; /* the records field's length; its bytes are not written here */
};

/* A single message's fields up to and including the records field's key
 * and length: the head of an APPEND, all of any other message. */
static void single_head(struct wout *o, const void *arg)
{
    const struct single *s = arg;
    const struct rg_message *m = s->msg;
    put_varint_field(o, RW_F_TOPIC_ID, s->group->topic_id);
    put_varint_field(o, RW_F_PARTITION, s->group->partition);
    uint32_t bit = rw_bit(m->type);
    size_t i = 0;
    for (; i < rw_field_count && rw_fields[i].number < RW_F_RUNS; i++)
        if (rw_fields[i].types & bit)
            put_scalar(o, &rw_fields[i], m);
    if (rw_type_has(m->type, RW_F_RUNS))
        for (uint32_t r = 0; r < m->run_count; r++)
            put_sub(o, RW_F_RUNS, run_body, &m->runs[r]);
    if (rw_type_has(m->type, RW_F_CONFIG))
        put_sub(o, RW_F_CONFIG, config_body, &m->configs[0]);
    for (; i < rw_field_count; i++)
        if (rw_fields[i].types & bit)
            put_scalar(o, &rw_fields[i], m);
    if (s->records_len > 0) {
        put_key(o, RW_F_RECORDS, RW_WIRE_LEN);
        put_varint(o, s->records_len);
    }
}

/* The PeerMessage key and length of a body of body_len bytes. */
static void put_envelope(struct wout *o, uint32_t body, size_t body_len)
{
    put_key(o, body, RW_WIRE_LEN);
    put_varint(o, body_len);
}

size_t replica_wire_encode_append_head(uint8_t *out, size_t cap, const struct rw_group *group,
                                       const struct rg_message *msg, size_t records_len)
{
    assert(group != NULL && msg != NULL);
    if (!rw_message_valid(msg, records_len))
        return 0;
    struct single s = {group, msg, records_len};
    struct wout count = {0};
    single_head(&count, &s);
    struct wout o = {out, 0, cap, false};
    put_envelope(&o, (uint32_t)msg->type, count.len + records_len);
    single_head(&o, &s);
    assert(o.len <= RW_MAX_HEAD_BYTES);
    return o.overflow ? 0 : o.len;
}

size_t replica_wire_encode_message(uint8_t *out, size_t cap, const struct rw_group *group,
                                   const struct rg_message *msg, const uint8_t *records,
                                   size_t records_len)
{
    assert(records != NULL || records_len == 0);
    size_t head = replica_wire_encode_append_head(out, cap, group, msg, records_len);
    if (head == 0)
        return 0;
    if (out == NULL) /* counting: the head was counted into a zero-capacity writer */
        return head + records_len;
    if (records_len > cap - head)
        return 0;
    if (records_len)
        memcpy(out + head, records, records_len);
    return head + records_len;
}

/* ------------------------------------------------ coalesced heartbeats */

/* What the entries of one coalesced message share, written once. */
struct batch_head {
    int32_t from, to;
    uint64_t incarnation, to_incarnation;
};

/* An entry's addressee incarnation against the message's: left out when
 * equal, to_incarnation_none when the group heard none, else its own. */
static void put_entry_to_incarnation(struct wout *o, uint32_t number, uint64_t mine,
                                     uint64_t shared)
{
    if (mine == shared)
        return;
    if (mine == 0)
        put_bool_field(o, number + 1, true);
    else
        put_fixed64_field(o, number, mine);
}

struct hb_entry {
    const struct rw_group *group;
    const struct rg_heartbeat *hb;
    uint64_t shared_to_incarnation;
};

static void hb_entry_body(struct wout *o, const void *arg)
{
    const struct hb_entry *e = arg;
    put_varint_field(o, 1, e->group->topic_id);
    put_varint_field(o, 2, e->group->partition);
    put_varint_field(o, 3, (uint64_t)e->hb->term);
    put_varint_field(o, 4, (uint64_t)e->hb->commit);
    put_entry_to_incarnation(o, 5, e->hb->to_incarnation, e->shared_to_incarnation);
}

struct reply_entry {
    const struct rw_group *group;
    const struct rg_heartbeat_reply *r;
    uint64_t shared_to_incarnation;
};

static void reply_entry_body(struct wout *o, const void *arg)
{
    const struct reply_entry *e = arg;
    put_varint_field(o, 1, e->group->topic_id);
    put_varint_field(o, 2, e->group->partition);
    put_varint_field(o, 3, (uint64_t)e->r->term);
    put_bool_field(o, 4, e->r->success);
    put_varint_field(o, 5, (uint64_t)e->r->match);
    put_varint_field(o, 6, (uint64_t)e->r->durable);
    put_varint_field(o, 7, (uint64_t)(int64_t)e->r->hint_epoch);
    put_varint_field(o, 8, (uint64_t)e->r->hint_offset);
    put_entry_to_incarnation(o, 9, e->r->to_incarnation, e->shared_to_incarnation);
}

struct batch {
    struct batch_head head;
    const struct rw_group *groups;
    const struct rg_heartbeat *hbs; /* or */
    const struct rg_heartbeat_reply *replies;
    uint32_t n;
};

static void batch_body(struct wout *o, const void *arg)
{
    const struct batch *b = arg;
    put_varint_field(o, 1, (uint64_t)(int64_t)b->head.from);
    put_varint_field(o, 2, (uint64_t)(int64_t)b->head.to);
    put_fixed64_field(o, 3, b->head.incarnation);
    put_fixed64_field(o, 4, b->head.to_incarnation);
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->hbs != NULL) {
            struct hb_entry e = {&b->groups[i], &b->hbs[i], b->head.to_incarnation};
            put_sub(o, 5, hb_entry_body, &e);
        } else {
            struct reply_entry e = {&b->groups[i], &b->replies[i], b->head.to_incarnation};
            put_sub(o, 5, reply_entry_body, &e);
        }
    }
}

static size_t encode_batch(uint8_t *out, size_t cap, uint32_t body, const struct batch *b)
{
    struct wout o = {out, 0, cap, false};
    put_sub(&o, body, batch_body, b);
    return o.overflow ? 0 : o.len;
}

size_t replica_wire_encode_heartbeats(uint8_t *out, size_t cap, const struct rw_group *groups,
                                      const struct rg_heartbeat *hbs, uint32_t n)
{
    assert(groups != NULL && hbs != NULL);
    if (n == 0)
        return 0;
    struct batch b = {
        {hbs[0].from, hbs[0].to, hbs[0].incarnation, hbs[0].to_incarnation}, groups, hbs, NULL, n};
    for (uint32_t i = 0; i < n; i++)
        if (!rw_heartbeat_valid(&hbs[i]) || hbs[i].from != b.head.from || hbs[i].to != b.head.to ||
            hbs[i].incarnation != b.head.incarnation)
            return 0;
    return encode_batch(out, cap, RW_BODY_HEARTBEATS, &b);
}

size_t replica_wire_encode_heartbeat_replies(uint8_t *out, size_t cap,
                                             const struct rw_group *groups,
                                             const struct rg_heartbeat_reply *replies, uint32_t n)
{
    assert(groups != NULL && replies != NULL);
    if (n == 0)
        return 0;
    const struct rg_heartbeat_reply *r0 = &replies[0];
    struct batch b = {
        {r0->from, r0->to, r0->incarnation, r0->to_incarnation}, groups, NULL, replies, n};
    for (uint32_t i = 0; i < n; i++)
        if (!rw_heartbeat_reply_valid(&replies[i]) || replies[i].from != b.head.from ||
            replies[i].to != b.head.to || replies[i].incarnation != b.head.incarnation)
            return 0;
    return encode_batch(out, cap, RW_BODY_HEARTBEAT_REPLIES, &b);
}

size_t replica_wire_encode_membership(uint8_t *out, size_t cap, const struct rg_membership *m)
{
    assert(m != NULL);
    struct rg_config_entry c = {.offset = 0, .membership = *m};
    struct rg_message probe = {.type = RG_MSG_INSTALL_START, .from = 0, .to = 1, .prev_end = 1};
    probe.config_count = 1;
    probe.configs[0] = c;
    if (!rw_message_valid(&probe, 0)) /* the membership rules, as for INSTALL_START */
        return 0;
    struct wout o = {out, 0, cap, false};
    config_body(&o, &c);
    return o.overflow ? 0 : o.len;
}
