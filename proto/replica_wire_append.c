/*
 * An APPEND's records against its message (replica_wire.h): the follower
 * writes what the core accepts straight into its log, so the bytes must be
 * exactly the batches the message describes, and the membership-config
 * batches among them are what the core learns configs from.
 */
#include <assert.h>

#include "batch.h"
#include "replica_wire_internal.h"
#include "status.h"

/* Epoch the message's runs give offset (0 before its first run). */
static int32_t run_epoch_at(const struct rg_message *m, int64_t offset)
{
    int32_t epoch = 0;
    for (uint32_t i = 0; i < m->run_count && m->runs[i].start <= offset; i++)
        epoch = m->runs[i].epoch;
    return epoch;
}

/* The first record of a control batch, and its control type; false when it has none. */
static bool control_record(const uint8_t *batch, const struct rl_batch_header *h,
                           struct rl_record *r, uint16_t *type)
{
    struct rl_record_iter it;
    if (rl_record_iter_init(&it, batch, h) != RL_OK || rl_record_iter_next(&it, r) != RL_OK ||
        r->key_len != 2)
        return false;
    *type = (uint16_t)(r->key[0] | r->key[1] << 8);
    return true;
}

bool replica_wire_is_config_batch(const uint8_t *batch, const struct rl_batch_header *h)
{
    struct rl_record r;
    uint16_t type;
    return rl_batch_is_control(h) && control_record(batch, h, &r, &type) &&
           type == RL_CONTROL_CONFIG;
}

/* A configuration control batch's membership, into the message's configs;
 * epoch markers and data batches pass. */
static int note_config(struct rg_message *m, const uint8_t *batch, const struct rl_batch_header *h)
{
    if (!rl_batch_is_control(h))
        return RL_OK;
    struct rl_record r;
    uint16_t type;
    if (!control_record(batch, h, &r, &type))
        return RL_ERR_CORRUPT;
    if (type != RL_CONTROL_CONFIG)
        return RL_OK;
    if (m->config_count == RG_MAX_CONFIGS_PER_APPEND || h->last_offset_delta != 0 ||
        r.value_len < 0)
        return RL_ERR_CORRUPT;
    struct rg_config_entry *c = &m->configs[m->config_count];
    if (replica_wire_decode_membership(r.value, (size_t)r.value_len, &c->membership) != RL_OK)
        return RL_ERR_CORRUPT;
    c->offset = h->base_offset;
    m->config_count++;
    return RL_OK;
}

int replica_wire_check_append(struct rg_message *m, const uint8_t *records, size_t len,
                              size_t max_batch_bytes)
{
    assert(m != NULL && m->type == RG_MSG_APPEND);
    assert(records != NULL || len == 0);
    m->config_count = 0;
    struct rl_batch_iter it;
    rl_batch_iter_init(&it, records, len, max_batch_bytes);
    it.allow_control = true;
    int64_t next = m->prev_end;
    const uint8_t *batch;
    struct rl_batch_header h;
    int rc;
    while ((rc = rl_batch_iter_next(&it, &batch, &h)) == RL_OK) {
        int64_t last = rl_batch_last_offset(&h);
        if (h.base_offset < next || last >= m->end || h.leader_epoch < 1 ||
            h.leader_epoch != run_epoch_at(m, h.base_offset) ||
            run_epoch_at(m, last) != h.leader_epoch)
            return RL_ERR_CORRUPT;
        if ((rc = note_config(m, batch, &h)) != RL_OK)
            return rc;
        next = last + 1;
    }
    if (rc != RL_END)
        return rc;
    return next == m->end ? RL_OK : RL_ERR_CORRUPT;
}

size_t replica_wire_build_config_batch(uint8_t *out, size_t cap, const struct rg_membership *m,
                                       int64_t timestamp)
{
    uint8_t value[RW_MAX_HEAD_BYTES];
    size_t vlen = replica_wire_encode_membership(value, sizeof(value), m);
    if (vlen == 0)
        return 0;
    uint8_t key[2] = {(uint8_t)RL_CONTROL_CONFIG, (uint8_t)(RL_CONTROL_CONFIG >> 8)};
    struct rl_batch_producer none = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    struct rl_batch_builder b;
    struct rl_record_in r = {.key = key,
                             .key_len = sizeof(key),
                             .value = value,
                             .value_len = vlen,
                             .timestamp = timestamp};
    if (rl_batch_builder_init(&b, out, cap, &none) != RL_OK ||
        rl_batch_builder_add(&b, &r) != RL_OK)
        return 0;
    size_t n = rl_batch_builder_finish(&b);
    rl_batch_make_control(out, n);
    assert(n > 0);
    return n;
}
