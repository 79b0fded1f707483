/*
 * Random, valid replica messages of every kind, as the core builds them
 * (only the fields the kind's wire message has), for the codec's tests
 * and the fuzz target's seed corpus.
 */
#ifndef RINGLOG_TESTS_REPLICA_WIRE_GEN_H
#define RINGLOG_TESTS_REPLICA_WIRE_GEN_H

#include <string.h>

#include "replica_wire.h"
#include "test_rng.h"

/* Small, large and boundary values, so every varint length shows up. */
static inline int64_t gen_i64(struct test_rng *r)
{
    switch (test_rng_below(r, 4)) {
    case 0:
        return 0;
    case 1:
        return (int64_t)test_rng_below(r, 200);
    case 2:
        return INT64_MAX - (int64_t)test_rng_below(r, 3);
    default:
        return (int64_t)(test_rng_next(r) >> (1 + test_rng_below(r, 62)));
    }
}

static inline int32_t gen_i32(struct test_rng *r)
{
    return test_rng_below(r, 4) == 0 ? INT32_MAX : (int32_t)test_rng_below(r, 1000);
}

static inline uint64_t gen_incarnation(struct test_rng *r)
{
    return test_rng_below(r, 4) == 0 ? 0 : test_rng_next(r) | 1;
}

static inline void gen_membership(struct test_rng *r, struct rg_membership *m)
{
    uint32_t total = 1 + (uint32_t)test_rng_below(r, RG_MAX_NODES);
    m->voter_count = 1 + (uint32_t)test_rng_below(r, total);
    m->learner_count = total - m->voter_count;
    int32_t id = (int32_t)test_rng_below(r, 1000);
    for (uint32_t i = 0; i < total; i++) {
        id += 1 + (int32_t)test_rng_below(r, 3); /* ascending: distinct */
        if (i < m->voter_count)
            m->voters[i] = id;
        else
            m->learners[i - m->voter_count] = id;
    }
}

/* APPEND's range and runs: ascending starts and epochs, <= term. */
static inline void gen_append(struct test_rng *r, struct rg_message *m)
{
    m->prev_end = test_rng_below(r, 2) ? (int64_t)test_rng_below(r, 100) : gen_i64(r) / 4;
    m->prev_epoch = (int32_t)test_rng_below(r, 50);
    m->commit = gen_i64(r);
    m->run_count = (uint32_t)test_rng_below(r, RG_MAX_RUNS_PER_APPEND + 1);
    int64_t start = m->prev_end - (int64_t)test_rng_below(r, 3);
    if (start < 0)
        start = 0;
    int32_t epoch = m->prev_epoch + 1;
    for (uint32_t i = 0; i < m->run_count; i++) {
        m->runs[i].start = start;
        m->runs[i].epoch = epoch;
        start = (i == 0 ? m->prev_end : start) + 1 + (int64_t)test_rng_below(r, 1000);
        epoch += 1 + (int32_t)test_rng_below(r, 3);
    }
    m->end = m->run_count == 0 ? m->prev_end : start;
    m->term = (int64_t)epoch + (int64_t)test_rng_below(r, 5);
}

/* A valid message of `type`; records_len (APPEND) is chosen by the caller. */
static inline void gen_message(struct test_rng *r, enum rg_message_type type, struct rg_message *m)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = gen_i32(r);
    m->to = m->from == 0 ? 1 : m->from - 1;
    m->term = gen_i64(r);
    m->incarnation = gen_incarnation(r);
    m->to_incarnation = gen_incarnation(r);
    switch (type) {
    case RG_MSG_PRE_VOTE:
    case RG_MSG_VOTE:
        m->log_end = gen_i64(r);
        m->last_epoch = gen_i32(r);
        m->transfer = type == RG_MSG_VOTE && test_rng_below(r, 2);
        break;
    case RG_MSG_PRE_VOTE_RESPONSE:
    case RG_MSG_VOTE_RESPONSE:
        m->known_term = test_rng_below(r, 4) == 0 ? -1 : gen_i64(r);
        m->granted = test_rng_below(r, 2);
        break;
    case RG_MSG_APPEND:
        gen_append(r, m);
        break;
    case RG_MSG_APPEND_RESPONSE:
    case RG_MSG_HEARTBEAT_RESPONSE:
        m->success = test_rng_below(r, 2);
        m->prev_end = m->success ? 0 : gen_i64(r);
        m->match = gen_i64(r);
        m->durable = gen_i64(r);
        m->hint_epoch = gen_i32(r);
        m->hint_offset = gen_i64(r);
        break;
    case RG_MSG_HEARTBEAT:
        m->commit = gen_i64(r);
        break;
    case RG_MSG_INSTALL_START:
        m->prev_end = 1 + (int64_t)test_rng_below(r, 1u << 20);
        m->prev_epoch = 1 + (int32_t)test_rng_below(r, 100);
        m->commit = gen_i64(r);
        m->config_count = 1;
        m->configs[0].offset = (int64_t)test_rng_below(r, (uint64_t)m->prev_end + 1) - 1;
        gen_membership(r, &m->configs[0].membership);
        break;
    default:
        break;
    }
}

static inline void gen_group(struct test_rng *r, struct rw_group *g)
{
    g->topic_id = test_rng_below(r, 4) == 0 ? 0 : test_rng_next(r) >> test_rng_below(r, 64);
    g->partition = test_rng_below(r, 4) == 0 ? UINT32_MAX : (uint32_t)test_rng_below(r, 64);
}

/* What the entries of a coalesced message share: a broker pair, the
 * sender's incarnation, and the addressee's as most of its groups know it. */
struct gen_pair {
    int32_t from, to;
    uint64_t incarnation, shared_to_incarnation;
};

static inline void gen_pair(struct test_rng *r, struct gen_pair *p)
{
    p->from = gen_i32(r);
    p->to = p->from >= 5 ? p->from - 1 - (int32_t)test_rng_below(r, 5) : p->from + 1;
    p->incarnation = gen_incarnation(r);
    p->shared_to_incarnation = gen_incarnation(r);
}

/* n heartbeats of one sender to one addressee, incarnations mixed. */
static inline void gen_heartbeats(struct test_rng *r, struct rw_group *groups,
                                  struct rg_heartbeat *hbs, uint32_t n)
{
    struct gen_pair pair;
    gen_pair(r, &pair);
    for (uint32_t i = 0; i < n; i++) {
        gen_group(r, &groups[i]);
        struct rg_heartbeat *hb = &hbs[i];
        memset(hb, 0, sizeof(*hb));
        hb->from = pair.from;
        hb->to = pair.to;
        hb->incarnation = pair.incarnation;
        hb->to_incarnation = test_rng_below(r, 3) ? pair.shared_to_incarnation : gen_incarnation(r);
        hb->term = gen_i64(r);
        hb->commit = gen_i64(r);
    }
}

static inline void gen_replies(struct test_rng *r, struct rw_group *groups,
                               struct rg_heartbeat_reply *rs, uint32_t n)
{
    struct gen_pair pair;
    gen_pair(r, &pair);
    for (uint32_t i = 0; i < n; i++) {
        gen_group(r, &groups[i]);
        struct rg_heartbeat_reply *p = &rs[i];
        memset(p, 0, sizeof(*p));
        p->from = pair.from;
        p->to = pair.to;
        p->incarnation = pair.incarnation;
        p->to_incarnation = test_rng_below(r, 3) ? pair.shared_to_incarnation : gen_incarnation(r);
        p->term = gen_i64(r);
        p->success = test_rng_below(r, 2);
        p->match = gen_i64(r);
        p->durable = gen_i64(r);
        p->hint_epoch = gen_i32(r);
        p->hint_offset = gen_i64(r);
    }
}

#endif
