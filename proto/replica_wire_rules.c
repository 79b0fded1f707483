/*
 * The field table of the single replica messages and the validity rules
 * the encoder and the decoder both apply, so a message either side takes
 * is one the replication core can be handed without tripping an
 * assertion on malformed input.
 */
#include <assert.h>
#include <stddef.h>

#include "replica_wire_internal.h"

#define BIT(t) (1u << (unsigned)(t))
#define VOTES (BIT(RG_MSG_PRE_VOTE) | BIT(RG_MSG_VOTE))
#define VOTE_RESPONSES (BIT(RG_MSG_PRE_VOTE_RESPONSE) | BIT(RG_MSG_VOTE_RESPONSE))
#define ACKS (BIT(RG_MSG_APPEND_RESPONSE) | BIT(RG_MSG_HEARTBEAT_RESPONSE))
#define APPEND BIT(RG_MSG_APPEND)
#define INSTALL BIT(RG_MSG_INSTALL_START)
#define ALL 0x7feu

#define F(num, ty, member, mask)                                                                   \
    {                                                                                              \
        num, ty, offsetof(struct rg_message, member), mask                                         \
    }

const struct rw_field rw_fields[] = {
    F(3, RW_I32, from, ALL),
    F(4, RW_I32, to, ALL),
    F(5, RW_I64, term, ALL),
    F(6, RW_FIXED64, incarnation, ALL),
    F(7, RW_FIXED64, to_incarnation, ALL),
    F(8, RW_I64, log_end, VOTES),
    F(9, RW_I32, last_epoch, VOTES),
    F(10, RW_BOOL, transfer, VOTES),
    F(11, RW_I64, known_term, VOTE_RESPONSES),
    F(12, RW_BOOL, granted, VOTE_RESPONSES),
    F(13, RW_BOOL, success, ACKS),
    F(14, RW_I64, prev_end, APPEND | INSTALL | ACKS),
    F(15, RW_I32, prev_epoch, APPEND | INSTALL),
    F(16, RW_I64, end, APPEND),
    F(17, RW_I64, commit, APPEND | INSTALL | BIT(RG_MSG_HEARTBEAT)),
    F(20, RW_I64, match, ACKS),
    F(21, RW_I64, durable, ACKS),
    F(22, RW_I32, hint_epoch, ACKS),
    F(23, RW_I64, hint_offset, ACKS),
};
const size_t rw_field_count = sizeof(rw_fields) / sizeof(rw_fields[0]);

bool rw_type_known(uint32_t t)
{
    return t >= RG_MSG_PRE_VOTE && t <= RG_MSG_INSTALL_START;
}

bool rw_type_has(enum rg_message_type type, uint32_t number)
{
    switch (number) {
    case RW_F_RUNS:
    case RW_F_RECORDS:
        return type == RG_MSG_APPEND;
    case RW_F_CONFIG:
        return type == RG_MSG_INSTALL_START;
    default:
        return false;
    }
}

/* Ids >= 0, distinct, within bounds, at least one voter. */
static bool membership_valid(const struct rg_membership *m)
{
    if (m->voter_count < 1 || m->voter_count > RG_MAX_NODES || m->learner_count > RG_MAX_NODES ||
        m->voter_count + m->learner_count > RG_MAX_NODES)
        return false;
    int32_t ids[2 * RG_MAX_NODES];
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->voter_count; i++)
        ids[n++] = m->voters[i];
    for (uint32_t i = 0; i < m->learner_count; i++)
        ids[n++] = m->learners[i];
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] < 0)
            return false;
        for (uint32_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return false;
    }
    return true;
}

/* An APPEND's range and runs as the leader builds them: runs strictly
 * ascending in start and epoch, the first covering prev_end, the last
 * starting before end; a probe (end == prev_end) has none. */
static bool append_valid(const struct rg_message *m, size_t records_len)
{
    if (m->prev_end < 0 || m->end < m->prev_end || m->prev_epoch < 0 || m->commit < 0 ||
        m->run_count > RG_MAX_RUNS_PER_APPEND || m->config_count != 0)
        return false;
    if ((m->run_count == 0) != (m->end == m->prev_end))
        return false;
    if (m->run_count == 0)
        return records_len == 0;
    if (m->runs[0].start > m->prev_end || m->runs[0].start < 0 ||
        m->runs[m->run_count - 1].start >= m->end || m->runs[0].epoch < 1 ||
        m->runs[m->run_count - 1].epoch > m->term)
        return false;
    for (uint32_t i = 1; i < m->run_count; i++)
        if (m->runs[i].start <= m->runs[i - 1].start || m->runs[i].epoch <= m->runs[i - 1].epoch)
            return false;
    return records_len > 0; /* a range of whole batches has bytes */
}

static bool install_valid(const struct rg_message *m)
{
    return m->prev_end >= 0 && m->prev_epoch >= 0 && m->commit >= 0 && m->config_count == 1 &&
           m->configs[0].offset >= -1 && m->configs[0].offset < m->prev_end &&
           membership_valid(&m->configs[0].membership);
}

static bool fields_valid(const struct rg_message *m)
{
    switch (m->type) {
    case RG_MSG_PRE_VOTE:
    case RG_MSG_VOTE:
        return m->log_end >= 0 && m->last_epoch >= 0;
    case RG_MSG_PRE_VOTE_RESPONSE:
    case RG_MSG_VOTE_RESPONSE:
        return m->known_term >= -1;
    case RG_MSG_APPEND_RESPONSE:
    case RG_MSG_HEARTBEAT_RESPONSE:
        return m->prev_end >= 0 && m->match >= 0 && m->durable >= 0 && m->hint_epoch >= 0 &&
               m->hint_offset >= 0;
    case RG_MSG_HEARTBEAT:
        return m->commit >= 0;
    case RG_MSG_TIMEOUT_NOW:
        return true;
    default:
        return false;
    }
}

bool rw_message_valid(const struct rg_message *m, size_t records_len)
{
    assert(m != NULL);
    if (!rw_type_known((uint32_t)m->type) || m->from < 0 || m->to < 0 || m->from == m->to ||
        m->term < 0)
        return false;
    if (m->type == RG_MSG_APPEND)
        return append_valid(m, records_len);
    if (records_len != 0 || m->run_count != 0)
        return false;
    if (m->type == RG_MSG_INSTALL_START)
        return install_valid(m);
    return m->config_count == 0 && fields_valid(m);
}

bool rw_heartbeat_valid(const struct rg_heartbeat *hb)
{
    assert(hb != NULL);
    return hb->from >= 0 && hb->to >= 0 && hb->from != hb->to && hb->term >= 0 && hb->commit >= 0;
}

bool rw_heartbeat_reply_valid(const struct rg_heartbeat_reply *r)
{
    assert(r != NULL);
    return r->from >= 0 && r->to >= 0 && r->from != r->to && r->term >= 0 && r->match >= 0 &&
           r->durable >= 0 && r->hint_epoch >= 0 && r->hint_offset >= 0;
}
