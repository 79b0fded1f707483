/*
 * Decoder of PeerMessages (replica_wire.h): straight from the frame into
 * the core's structs, with APPEND records left in place and a coalesced
 * heartbeat's arrays from the caller's arena (counted first, so exactly
 * sized). Unknown fields are skipped as protobuf requires; a known field
 * of the wrong wire type, an overlong key or length, or a value outside
 * its C type is refused (protobuf-c refuses the first two as well; the
 * last would be silently truncated by it and is refused here).
 */
#include <assert.h>
#include <string.h>

#include "pb_reader.h"
#include "replica_wire_internal.h"
#include "status.h"

/* One field of any wire type protobuf3 uses (groups are refused). */
struct field {
    uint32_t number, wire;
    uint64_t v; /* VARINT, I64, I32 */
    const uint8_t *data;
    size_t len; /* LEN */
};

/* pb_next, plus the fixed-width wire types it leaves out (our incarnations
 * are fixed64; an unknown fixed32 field must be skipped). */
static int next_field(struct pb_reader *r, struct field *f)
{
    const uint8_t *start = r->pos;
    uint64_t key;
    if (r->pos == r->end)
        return 0;
    if (pb_get_short_varint(&r->pos, r->end, &key) != 0 || key >> 32 != 0 || key >> 3 == 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    if (f->wire == RW_WIRE_I64 || f->wire == RW_WIRE_I32) {
        size_t n = f->wire == RW_WIRE_I64 ? 8 : 4;
        if ((size_t)(r->end - r->pos) < n)
            return -1;
        f->v = 0;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)r->pos[i] << (8 * i);
        r->pos += n;
        return 1;
    }
    r->pos = start;
    struct pb_field pf;
    int rc = pb_next(r, &pf);
    if (rc == 1) {
        f->v = pf.varint;
        f->data = pf.data;
        f->len = pf.len;
    }
    return rc;
}

/* int32 fields travel as sign-extended 64-bit varints. */
static bool as_i32(uint64_t v, int32_t *out)
{
    int64_t s = (int64_t)v;
    if (s < INT32_MIN || s > INT32_MAX)
        return false;
    *out = (int32_t)s;
    return true;
}

static bool as_u32(uint64_t v, uint32_t *out)
{
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Stores a scalar into rg_message; false on a wrong wire type or range. */
static bool get_scalar(const struct rw_field *d, const struct field *f, struct rg_message *m)
{
    char *base = (char *)m + d->offset;
    bool want_fixed = d->type == RW_FIXED64;
    if (f->wire != (want_fixed ? (uint32_t)RW_WIRE_I64 : (uint32_t)RW_WIRE_VARINT))
        return false;
    int32_t i32;
    int64_t i64 = (int64_t)f->v;
    bool b = f->v != 0;
    switch (d->type) {
    case RW_I32:
        if (!as_i32(f->v, &i32))
            return false;
        memcpy(base, &i32, sizeof(i32));
        return true;
    case RW_I64:
        memcpy(base, &i64, sizeof(i64));
        return true;
    case RW_FIXED64:
        memcpy(base, &f->v, sizeof(f->v));
        return true;
    case RW_BOOL:
        memcpy(base, &b, sizeof(b));
        return true;
    default:
        return false;
    }
}

static const struct rw_field *field_of(uint32_t number)
{
    for (size_t i = 0; i < rw_field_count; i++)
        if (rw_fields[i].number == number)
            return &rw_fields[i];
    return NULL;
}

static bool decode_run(const struct field *f, struct rg_epoch_run *run)
{
    struct pb_reader r = {f->data, f->data + f->len};
    struct field g;
    int rc;
    memset(run, 0, sizeof(*run));
    while ((rc = next_field(&r, &g)) == 1) {
        if (g.number == 1 && (g.wire != RW_WIRE_VARINT || !as_i32(g.v, &run->epoch)))
            return false;
        if (g.number == 2) {
            if (g.wire != RW_WIRE_VARINT)
                return false;
            run->start = (int64_t)g.v;
        }
    }
    return rc == 0;
}

/* Repeated int32, packed or not (a parser must take both). */
static bool append_ids(const struct field *f, int32_t *ids, uint32_t *count)
{
    if (f->wire == RW_WIRE_VARINT) {
        if (*count == RG_MAX_NODES || !as_i32(f->v, &ids[*count]))
            return false;
        (*count)++;
        return true;
    }
    if (f->wire != RW_WIRE_LEN)
        return false;
    const uint8_t *p = f->data, *end = f->data + f->len;
    while (p < end) {
        uint64_t v;
        if (rl_varint_get(&p, end, &v) != 0 || *count == RG_MAX_NODES || !as_i32(v, &ids[*count]))
            return false;
        (*count)++;
    }
    return true;
}

static bool decode_config(const struct field *f, struct rg_config_entry *c)
{
    struct pb_reader r = {f->data, f->data + f->len};
    struct field g;
    int rc;
    memset(c, 0, sizeof(*c));
    while ((rc = next_field(&r, &g)) == 1) {
        struct rg_membership *m = &c->membership;
        if (g.number == 1) {
            if (g.wire != RW_WIRE_VARINT)
                return false;
            c->offset = (int64_t)g.v;
        } else if (g.number == 2 && !append_ids(&g, m->voters, &m->voter_count)) {
            return false;
        } else if (g.number == 3 && !append_ids(&g, m->learners, &m->learner_count)) {
            return false;
        }
    }
    return rc == 0;
}

/* The special fields of a single message: runs, config, records. */
static bool decode_special(const struct field *f, struct rw_decoded *out)
{
    struct rg_message *m = &out->msg;
    if (f->wire != RW_WIRE_LEN)
        return false;
    switch (f->number) {
    case RW_F_RUNS:
        if (m->run_count == RG_MAX_RUNS_PER_APPEND)
            return false;
        return decode_run(f, &m->runs[m->run_count++]);
    case RW_F_CONFIG: /* a sub-message given twice merges; one is all we send */
        m->config_count = 1;
        return decode_config(f, &m->configs[0]);
    default: /* records: the last occurrence wins, as for any bytes field */
        out->records = f->len ? f->data : NULL;
        out->records_len = f->len;
        return true;
    }
}

static int decode_single(const struct field *body, struct rw_decoded *out)
{
    struct rg_message *m = &out->msg;
    m->type = (enum rg_message_type)body->number;
    struct pb_reader r = {body->data, body->data + body->len};
    struct field f;
    int rc;
    while ((rc = next_field(&r, &f)) == 1) {
        bool ok = true;
        if (f.number == RW_F_TOPIC_ID) {
            ok = f.wire == RW_WIRE_VARINT;
            out->group.topic_id = f.v;
        } else if (f.number == RW_F_PARTITION) {
            ok = f.wire == RW_WIRE_VARINT && as_u32(f.v, &out->group.partition);
        } else if (rw_type_has(m->type, f.number)) {
            ok = decode_special(&f, out);
        } else {
            const struct rw_field *d = field_of(f.number);
            if (d != NULL && (d->types & rw_bit(m->type)))
                ok = get_scalar(d, &f, m);
        }
        if (!ok)
            return RL_ERR_UNDECODABLE;
    }
    if (rc != 0 || !rw_message_valid(m, out->records_len))
        return RL_ERR_UNDECODABLE;
    return RL_OK;
}

/* ------------------------------------------------ coalesced heartbeats */

/* What a coalesced message's entries share. */
struct batch_head {
    int32_t from, to;
    uint64_t incarnation, to_incarnation;
    uint32_t entries;
};

static bool batch_head_field(const struct field *f, struct batch_head *h)
{
    switch (f->number) {
    case 1:
        return f->wire == RW_WIRE_VARINT && as_i32(f->v, &h->from);
    case 2:
        return f->wire == RW_WIRE_VARINT && as_i32(f->v, &h->to);
    case 3:
        h->incarnation = f->v;
        return f->wire == RW_WIRE_I64;
    case 4:
        h->to_incarnation = f->v;
        return f->wire == RW_WIRE_I64;
    case 5:
        h->entries++;
        return f->wire == RW_WIRE_LEN;
    default:
        return true;
    }
}

/* The fields of one entry, by their number in ReplicaHeartbeatEntry or
 * ReplicaHeartbeatReply (1-based; 1 and 2 are the group). */
struct entry_fields {
    struct rw_group group;
    uint64_t v[11];
    bool seen[11];
};

static bool decode_entry(const struct field *e, uint32_t fixed_number, uint32_t last,
                         struct entry_fields *ef)
{
    memset(ef, 0, sizeof(*ef));
    struct pb_reader r = {e->data, e->data + e->len};
    struct field f;
    int rc;
    while ((rc = next_field(&r, &f)) == 1) {
        if (f.number > last)
            continue; /* unknown: skipped */
        uint32_t want = f.number == fixed_number ? RW_WIRE_I64 : RW_WIRE_VARINT;
        if (f.wire != want || (f.number == 2 && !as_u32(f.v, &ef->group.partition)))
            return false;
        ef->v[f.number] = f.v;
        ef->seen[f.number] = true;
    }
    ef->group.topic_id = ef->v[1];
    return rc == 0;
}

/* The entry's addressee incarnation: its own, none, or the message's. */
static bool entry_to_incarnation(const struct entry_fields *ef, uint32_t number, uint64_t shared,
                                 uint64_t *out)
{
    bool none = ef->v[number + 1] != 0;
    if (none && ef->v[number] != 0)
        return false;
    *out = none ? 0 : ef->v[number] != 0 ? ef->v[number] : shared;
    return true;
}

static bool fill_heartbeat(const struct entry_fields *ef, const struct batch_head *h,
                           struct rg_heartbeat *hb)
{
    memset(hb, 0, sizeof(*hb));
    hb->from = h->from;
    hb->to = h->to;
    hb->incarnation = h->incarnation;
    hb->term = (int64_t)ef->v[3];
    hb->commit = (int64_t)ef->v[4];
    return entry_to_incarnation(ef, 5, h->to_incarnation, &hb->to_incarnation) &&
           rw_heartbeat_valid(hb);
}

static bool fill_reply(const struct entry_fields *ef, const struct batch_head *h,
                       struct rg_heartbeat_reply *rp)
{
    memset(rp, 0, sizeof(*rp)); /* padding too: a decoded entry compares equal */
    rp->from = h->from;
    rp->to = h->to;
    rp->incarnation = h->incarnation;
    rp->term = (int64_t)ef->v[3];
    rp->success = ef->v[4] != 0;
    rp->match = (int64_t)ef->v[5];
    rp->durable = (int64_t)ef->v[6];
    rp->hint_offset = (int64_t)ef->v[8];
    return as_i32(ef->v[7], &rp->hint_epoch) &&
           entry_to_incarnation(ef, 9, h->to_incarnation, &rp->to_incarnation) &&
           rw_heartbeat_reply_valid(rp);
}

/* Two passes: the shared fields and the entry count, then the entries
 * into arrays of exactly that size. */
static int decode_batch(const struct field *body, struct rl_arena *arena, struct rw_decoded *out)
{
    bool replies = body->number == RW_BODY_HEARTBEAT_REPLIES;
    struct batch_head h = {0};
    struct pb_reader r = {body->data, body->data + body->len};
    struct field f;
    int rc;
    while ((rc = next_field(&r, &f)) == 1)
        if (!batch_head_field(&f, &h))
            return RL_ERR_UNDECODABLE;
    if (rc != 0 || h.entries == 0)
        return RL_ERR_UNDECODABLE;
    out->kind = replies ? RW_KIND_HEARTBEAT_REPLIES : RW_KIND_HEARTBEATS;
    out->groups = rl_arena_alloc(arena, h.entries * sizeof(*out->groups));
    if (replies)
        out->replies = rl_arena_alloc(arena, h.entries * sizeof(*out->replies));
    else
        out->heartbeats = rl_arena_alloc(arena, h.entries * sizeof(*out->heartbeats));
    if (out->groups == NULL || (out->replies == NULL && out->heartbeats == NULL))
        return RL_ERR_NOMEM;
    r = (struct pb_reader){body->data, body->data + body->len};
    while (next_field(&r, &f) == 1) {
        if (f.number != 5)
            continue;
        struct entry_fields ef;
        uint32_t i = out->count++;
        assert(i < h.entries);
        if (!decode_entry(&f, replies ? 9 : 5, replies ? 10 : 6, &ef))
            return RL_ERR_UNDECODABLE;
        out->groups[i] = ef.group;
        bool ok = replies ? fill_reply(&ef, &h, &out->replies[i])
                          : fill_heartbeat(&ef, &h, &out->heartbeats[i]);
        if (!ok)
            return RL_ERR_UNDECODABLE;
    }
    assert(out->count == h.entries);
    return RL_OK;
}

int replica_wire_decode(const uint8_t *buf, size_t len, struct rl_arena *arena,
                        struct rw_decoded *out)
{
    assert(out != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof(*out));
    struct pb_reader r = {buf, buf + len};
    struct field f, body = {0};
    int rc;
    while ((rc = next_field(&r, &f)) == 1) {
        if (body.number != 0 || f.wire != RW_WIRE_LEN)
            return RL_ERR_UNDECODABLE; /* exactly one body, and bodies are messages */
        body = f;
    }
    if (rc != 0 || body.number == 0)
        return RL_ERR_UNDECODABLE;
    out->body = body.number;
    if (rw_type_known(body.number)) {
        out->kind = RW_KIND_MESSAGE;
        return decode_single(&body, out);
    }
    if (body.number == RW_BODY_HEARTBEATS || body.number == RW_BODY_HEARTBEAT_REPLIES)
        return decode_batch(&body, arena, out);
    out->kind = RW_KIND_UNKNOWN;
    return RL_OK;
}

int replica_wire_decode_membership(const uint8_t *buf, size_t len, struct rg_membership *m)
{
    assert(m != NULL && (buf != NULL || len == 0));
    struct field f = {.wire = RW_WIRE_LEN, .data = buf, .len = len};
    struct rg_message probe = {.type = RG_MSG_INSTALL_START, .from = 0, .to = 1, .prev_end = 1};
    probe.config_count = 1;
    if (!decode_config(&f, &probe.configs[0]) || probe.configs[0].offset != 0 ||
        !rw_message_valid(&probe, 0))
        return RL_ERR_UNDECODABLE;
    *m = probe.configs[0].membership;
    return RL_OK;
}
