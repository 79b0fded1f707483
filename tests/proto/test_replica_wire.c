/*
 * The replica codec (proto/replica_wire.h): every message kind round-trips
 * between the core's structs and the wire exactly; the bytes are the ones
 * protobuf-c makes of the same PeerMessage (so another implementation of
 * ringlog.proto reads them); damaged, truncated and out-of-range inputs
 * are refused without a crash. Randomized cases print their seed
 * (RINGLOG_TEST_SEED replays one).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "batch.h"
#include "replica_wire.h"
#include "replica_wire_gen.h"
#include "ringlog.pb-c.h"
#include "status.h"
#include "test_rng.h"

enum { ROUNDS = 3000, MAX_ENTRIES = 40, BUF = 1 << 16 };

static struct rl_arena arena;
static uint8_t buf[BUF], buf2[BUF], records[4096];

static void setup(void)
{
    rl_arena_init(&arena, 4096, 1 << 20);
}
static void teardown(void)
{
    rl_arena_destroy(&arena);
}

TestSuite(replica_wire, .init = setup, .fini = teardown);

/* protobuf-c unpacks our bytes and packs them again to the same bytes:
 * same schema, same canonical form. */
static void assert_protobuf_c_agrees(const uint8_t *bytes, size_t len)
{
    Ringlog__PeerMessage *pm = ringlog__peer_message__unpack(NULL, len, bytes);
    cr_assert_not_null(pm, "protobuf-c refuses our encoding (%zu bytes)", len);
    size_t n = ringlog__peer_message__get_packed_size(pm);
    cr_assert_eq(n, len, "protobuf-c packs %zu bytes, we wrote %zu", n, len);
    ringlog__peer_message__pack(pm, buf2);
    cr_assert(memcmp(buf2, bytes, len) == 0, "protobuf-c packs other bytes");
    ringlog__peer_message__free_unpacked(pm, NULL);
}

static size_t encode_random_message(struct test_rng *rng, enum rg_message_type type,
                                    struct rw_group *g, struct rg_message *m, size_t *records_len)
{
    gen_message(rng, type, m);
    gen_group(rng, g);
    *records_len = type == RG_MSG_APPEND && m->run_count > 0 ? 1 + test_rng_below(rng, 4000) : 0;
    test_rng_fill(rng, records, *records_len);
    size_t size = replica_wire_encode_message(NULL, 0, g, m, records, *records_len);
    size_t n = replica_wire_encode_message(buf, BUF, g, m, records, *records_len);
    cr_assert(n > 0 && n == size, "type %d: encoded %zu, size said %zu", type, n, size);
    return n;
}

Test(replica_wire, every_message_kind_round_trips_exactly)
{
    struct test_rng rng;
    test_rng_seed(&rng, "every_message_kind_round_trips_exactly", 15001);
    for (int round = 0; round < ROUNDS; round++) {
        enum rg_message_type type = (enum rg_message_type)(1 + round % RG_MSG_INSTALL_START);
        struct rw_group g;
        struct rg_message m;
        size_t records_len;
        size_t n = encode_random_message(&rng, type, &g, &m, &records_len);
        struct rw_decoded d;
        int rc = replica_wire_decode(buf, n, &arena, &d);
        cr_assert_eq(rc, RL_OK, "round %d type %s: %s", round, rg_message_type_str(type),
                     rl_status_str(rc));
        cr_assert_eq(d.kind, RW_KIND_MESSAGE);
        cr_assert_eq(d.body, (uint32_t)type);
        cr_assert(d.group.topic_id == g.topic_id && d.group.partition == g.partition);
        cr_assert(memcmp(&d.msg, &m, sizeof(m)) == 0, "round %d type %s: fields differ", round,
                  rg_message_type_str(type));
        cr_assert_eq(d.records_len, records_len);
        if (records_len) {
            cr_assert(d.records > buf && d.records + records_len <= buf + n, "records in place");
            cr_assert(memcmp(d.records, records, records_len) == 0);
        }
        assert_protobuf_c_agrees(buf, n);
        rl_arena_reset(&arena);
    }
}

Test(replica_wire, append_head_then_log_bytes_is_the_whole_message)
{
    struct test_rng rng;
    test_rng_seed(&rng, "append_head_then_log_bytes_is_the_whole_message", 15002);
    for (int round = 0; round < 500; round++) {
        struct rw_group g;
        struct rg_message m;
        size_t records_len;
        size_t n = encode_random_message(&rng, RG_MSG_APPEND, &g, &m, &records_len);
        uint8_t head[RW_MAX_HEAD_BYTES];
        size_t h = replica_wire_encode_append_head(head, sizeof(head), &g, &m, records_len);
        cr_assert(h > 0 && h + records_len == n, "round %d", round);
        cr_assert(memcmp(head, buf, h) == 0 && memcmp(buf + h, records, records_len) == 0);
    }
}

static void assert_same_heartbeats(const struct rw_decoded *d, const struct rw_group *groups,
                                   const struct rg_heartbeat *hbs, uint32_t n)
{
    cr_assert_eq(d->kind, RW_KIND_HEARTBEATS);
    cr_assert_eq(d->count, n);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert(memcmp(&d->groups[i], &groups[i], sizeof(groups[i])) == 0, "group %u", i);
        cr_assert(memcmp(&d->heartbeats[i], &hbs[i], sizeof(hbs[i])) == 0, "entry %u", i);
    }
}

Test(replica_wire, coalesced_heartbeats_and_replies_round_trip)
{
    struct test_rng rng;
    test_rng_seed(&rng, "coalesced_heartbeats_and_replies_round_trip", 15003);
    static struct rw_group groups[MAX_ENTRIES];
    static struct rg_heartbeat hbs[MAX_ENTRIES];
    static struct rg_heartbeat_reply rs[MAX_ENTRIES];
    for (int round = 0; round < 1000; round++) {
        uint32_t n = 1 + (uint32_t)test_rng_below(&rng, MAX_ENTRIES);
        struct rw_decoded d;
        gen_heartbeats(&rng, groups, hbs, n);
        size_t len = replica_wire_encode_heartbeats(buf, BUF, groups, hbs, n);
        cr_assert(len > 0 && len == replica_wire_encode_heartbeats(NULL, 0, groups, hbs, n));
        cr_assert_eq(replica_wire_decode(buf, len, &arena, &d), RL_OK, "round %d", round);
        assert_same_heartbeats(&d, groups, hbs, n);
        assert_protobuf_c_agrees(buf, len);

        gen_replies(&rng, groups, rs, n);
        len = replica_wire_encode_heartbeat_replies(buf, BUF, groups, rs, n);
        cr_assert(len > 0);
        cr_assert_eq(replica_wire_decode(buf, len, &arena, &d), RL_OK, "round %d", round);
        cr_assert_eq(d.kind, RW_KIND_HEARTBEAT_REPLIES);
        cr_assert_eq(d.count, n);
        for (uint32_t i = 0; i < n; i++) {
            cr_assert(memcmp(&d.groups[i], &groups[i], sizeof(groups[i])) == 0);
            cr_assert(memcmp(&d.replies[i], &rs[i], sizeof(rs[i])) == 0, "reply %u", i);
        }
        assert_protobuf_c_agrees(buf, len);
        rl_arena_reset(&arena);
    }
}

/* Whatever decodes is valid: it re-encodes, and that decodes equal. */
static void assert_decoded_is_canonical(const struct rw_decoded *d)
{
    struct rw_decoded again;
    size_t n = 0;
    if (d->kind == RW_KIND_MESSAGE)
        n = replica_wire_encode_message(buf2, BUF, &d->group, &d->msg, d->records, d->records_len);
    else if (d->kind == RW_KIND_HEARTBEATS)
        n = replica_wire_encode_heartbeats(buf2, BUF, d->groups, d->heartbeats, d->count);
    else if (d->kind == RW_KIND_HEARTBEAT_REPLIES)
        n = replica_wire_encode_heartbeat_replies(buf2, BUF, d->groups, d->replies, d->count);
    else
        return;
    cr_assert(n > 0, "a decoded message does not re-encode");
    cr_assert_eq(replica_wire_decode(buf2, n, &arena, &again), RL_OK);
    cr_assert_eq(again.kind, d->kind);
    if (d->kind == RW_KIND_MESSAGE)
        cr_assert(memcmp(&again.msg, &d->msg, sizeof(d->msg)) == 0);
}

Test(replica_wire, truncated_and_damaged_inputs_are_refused_or_valid)
{
    struct test_rng rng;
    test_rng_seed(&rng, "truncated_and_damaged_inputs_are_refused_or_valid", 15004);
    static uint8_t orig[BUF];
    int refused = 0, taken = 0;
    for (int round = 0; round < ROUNDS; round++) {
        enum rg_message_type type = (enum rg_message_type)(1 + round % RG_MSG_INSTALL_START);
        struct rw_group g;
        struct rg_message m;
        size_t records_len;
        size_t n = encode_random_message(&rng, type, &g, &m, &records_len);
        memcpy(orig, buf, n);
        struct rw_decoded d;
        for (size_t cut = 0; cut < n; cut += 1 + cut / 8) /* every short prefix fails */
            cr_assert_neq(replica_wire_decode(orig, cut, &arena, &d), RL_OK, "cut %zu/%zu", cut, n);
        size_t dlen;
        uint8_t *bad = test_rng_damage(&rng, orig, n, &dlen);
        if (replica_wire_decode(bad, dlen, &arena, &d) == RL_OK) {
            taken++;
            assert_decoded_is_canonical(&d);
        } else {
            refused++;
        }
        free(bad);
        rl_arena_reset(&arena);
    }
    cr_log_info("damaged: %d refused, %d still valid", refused, taken);
    cr_assert(refused > ROUNDS / 4, "damage is noticed (%d refused)", refused);
}

/* Encodes m, which must be refused by the encoder; the same fields put
 * on the wire by protobuf-c must be refused by the decoder. */
static void assert_refused(const struct rg_message *m, const char *why)
{
    struct rw_group g = {7, 1};
    cr_assert_eq(replica_wire_encode_message(buf, BUF, &g, m, records, 0), 0u, "encoder: %s", why);
}

Test(replica_wire, the_encoder_refuses_what_the_decoder_would)
{
    struct test_rng rng;
    test_rng_seed(&rng, "the_encoder_refuses_what_the_decoder_would", 15005);
    struct rg_message m;
    gen_message(&rng, RG_MSG_VOTE, &m);
    m.from = -1;
    assert_refused(&m, "negative node id");
    gen_message(&rng, RG_MSG_VOTE, &m);
    m.to = m.from;
    assert_refused(&m, "a message to itself");
    gen_message(&rng, RG_MSG_HEARTBEAT, &m);
    m.term = -3;
    assert_refused(&m, "negative term");
    do
        gen_message(&rng, RG_MSG_APPEND, &m);
    while (m.run_count < 2);
    m.runs[1].epoch = m.runs[0].epoch;
    assert_refused(&m, "epochs not ascending");
    gen_message(&rng, RG_MSG_INSTALL_START, &m);
    m.configs[0].membership.voter_count = 0;
    assert_refused(&m, "no voter");
    gen_message(&rng, RG_MSG_INSTALL_START, &m);
    m.configs[0].offset = m.prev_end;
    assert_refused(&m, "config at or after the log start");
    m.type = (enum rg_message_type)42;
    assert_refused(&m, "unknown type");
}

/* A PeerMessage made by protobuf-c, decoded by us. */
static int decode_packed(const Ringlog__PeerMessage *pm, struct rw_decoded *d)
{
    size_t n = ringlog__peer_message__pack(pm, buf);
    return replica_wire_decode(buf, n, &arena, d);
}

Test(replica_wire, out_of_range_values_from_another_encoder_are_refused)
{
    Ringlog__ReplicaVote v = RINGLOG__REPLICA_VOTE__INIT;
    Ringlog__PeerMessage pm = RINGLOG__PEER_MESSAGE__INIT;
    pm.body_case = RINGLOG__PEER_MESSAGE__BODY_VOTE;
    pm.vote = &v;
    v.from_node = 1;
    v.to_node = 2;
    v.term = 5;
    struct rw_decoded d;
    cr_assert_eq(decode_packed(&pm, &d), RL_OK);
    cr_assert(d.msg.type == RG_MSG_VOTE && d.msg.from == 1 && d.msg.to == 2 && d.msg.term == 5);
    v.to_node = -4;
    cr_assert_eq(decode_packed(&pm, &d), RL_ERR_UNDECODABLE, "negative node id");
    v.to_node = 2;
    v.log_end = -1;
    cr_assert_eq(decode_packed(&pm, &d), RL_ERR_UNDECODABLE, "negative log end");

    Ringlog__ReplicaInstallStart is = RINGLOG__REPLICA_INSTALL_START__INIT;
    Ringlog__ReplicaConfig cfg = RINGLOG__REPLICA_CONFIG__INIT;
    int32_t voters[RG_MAX_NODES + 1] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    pm.body_case = RINGLOG__PEER_MESSAGE__BODY_INSTALL_START;
    pm.install_start = &is;
    is.from_node = 1;
    is.to_node = 2;
    is.prev_end = 10;
    is.prev_epoch = 2;
    is.config = &cfg;
    cfg.offset = -1;
    cfg.voters = voters;
    cfg.n_voters = 3;
    cr_assert_eq(decode_packed(&pm, &d), RL_OK);
    cr_assert(d.msg.config_count == 1 && d.msg.configs[0].membership.voter_count == 3);
    cr_assert_eq(d.msg.configs[0].offset, -1);
    cfg.n_voters = RG_MAX_NODES + 1;
    cr_assert_eq(decode_packed(&pm, &d), RL_ERR_UNDECODABLE, "more voters than a group has");
    voters[1] = 1;
    cfg.n_voters = 3;
    cr_assert_eq(decode_packed(&pm, &d), RL_ERR_UNDECODABLE, "a voter twice");
    is.config = NULL;
    cr_assert_eq(decode_packed(&pm, &d), RL_ERR_UNDECODABLE, "INSTALL_START without config");
}

Test(replica_wire, bodies_it_does_not_know_are_skipped_and_envelopes_checked)
{
    struct rw_decoded d;
    /* body 99 (a newer peer's), holding one varint field: skipped */
    const uint8_t unknown[] = {0x9a, 0x06, 0x02, 0x08, 0x01};
    cr_assert_eq(replica_wire_decode(unknown, sizeof(unknown), &arena, &d), RL_OK);
    cr_assert(d.kind == RW_KIND_UNKNOWN && d.body == 99);
    /* a timeout_now (9) with an unknown fixed32 field 40 and fixed64 41: skipped */
    const uint8_t extra[] = {0x4a, 0x14, 0x18, 0x01, 0x20, 0x02, 0xc5, 0x02, 1, 2, 3,
                             4,    0xc9, 0x02, 1,    2,    3,    4,    5,    6, 7, 8};
    cr_assert_eq(replica_wire_decode(extra, sizeof(extra), &arena, &d), RL_OK);
    cr_assert(d.msg.type == RG_MSG_TIMEOUT_NOW && d.msg.from == 1 && d.msg.to == 2);
    /* two bodies, an empty frame, a body that is not a message */
    const uint8_t two[] = {0x4a, 0x04, 0x18, 0x01, 0x20, 0x02, 0x4a, 0x00};
    cr_assert_eq(replica_wire_decode(two, sizeof(two), &arena, &d), RL_ERR_UNDECODABLE);
    cr_assert_eq(replica_wire_decode(two, 0, &arena, &d), RL_ERR_UNDECODABLE);
    const uint8_t varint_body[] = {0x48, 0x01};
    cr_assert_eq(replica_wire_decode(varint_body, 2, &arena, &d), RL_ERR_UNDECODABLE);
    /* a partition above 2^32 - 1 (field 2 of a timeout_now) */
    const uint8_t big[] = {0x4a, 0x0a, 0x10, 0x80, 0x80, 0x80, 0x80, 0x10, 0x18, 0x01, 0x20, 0x02};
    cr_assert_eq(replica_wire_decode(big, sizeof(big), &arena, &d), RL_ERR_UNDECODABLE);
}

Test(replica_wire, a_full_arena_is_reported_not_crashed)
{
    struct test_rng rng;
    test_rng_seed(&rng, "a_full_arena_is_reported_not_crashed", 15006);
    static struct rw_group groups[MAX_ENTRIES];
    static struct rg_heartbeat hbs[MAX_ENTRIES];
    gen_heartbeats(&rng, groups, hbs, MAX_ENTRIES);
    size_t len = replica_wire_encode_heartbeats(buf, BUF, groups, hbs, MAX_ENTRIES);
    struct rl_arena tiny;
    rl_arena_init(&tiny, 64, 256);
    struct rw_decoded d;
    cr_assert_eq(replica_wire_decode(buf, len, &tiny, &d), RL_ERR_NOMEM);
    rl_arena_destroy(&tiny);
    cr_assert_eq(replica_wire_encode_heartbeats(buf, len - 1, groups, hbs, MAX_ENTRIES), 0u,
                 "no room: nothing claimed written");
    hbs[3].from++;
    cr_assert_eq(replica_wire_encode_heartbeats(buf, BUF, groups, hbs, MAX_ENTRIES), 0u,
                 "entries of two senders in one message");
}

/* ---------------------------------------------------------------- APPEND records */

/* A data batch of `count` records, stamped at base with epoch. */
static size_t data_batch(uint8_t *out, size_t cap, int64_t base, int32_t epoch, int count)
{
    struct rl_batch_producer none = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    struct rl_batch_builder b;
    cr_assert_eq(rl_batch_builder_init(&b, out, cap, &none), RL_OK);
    for (int i = 0; i < count; i++) {
        struct rl_record_in r = {.value = "v", .value_len = 1, .timestamp = 1700000000000 + i};
        cr_assert_eq(rl_batch_builder_add(&b, &r), RL_OK);
    }
    size_t n = rl_batch_builder_finish(&b);
    rl_batch_stamp(out, base, epoch);
    return n;
}

/* [10, 18): 4 records of epoch 2, a config batch starting epoch 3 at 14,
 * then 3 records of epoch 3. */
static size_t append_fixture(struct rg_message *m, struct rg_membership *cfg)
{
    memset(m, 0, sizeof(*m));
    m->type = RG_MSG_APPEND;
    m->from = 1;
    m->to = 2;
    m->term = 3;
    m->prev_end = 10;
    m->prev_epoch = 2;
    m->end = 18;
    m->run_count = 2;
    m->runs[0] = (struct rg_epoch_run){.epoch = 2, .start = 8};
    m->runs[1] = (struct rg_epoch_run){.epoch = 3, .start = 14};
    memset(cfg, 0, sizeof(*cfg));
    cfg->voter_count = 3;
    cfg->learner_count = 1;
    cfg->voters[0] = 1, cfg->voters[1] = 2, cfg->voters[2] = 3, cfg->learners[0] = 4;
    size_t n = data_batch(records, sizeof(records), 10, 2, 4);
    size_t c =
        replica_wire_build_config_batch(records + n, sizeof(records) - n, cfg, 1700000000000);
    cr_assert(c > 0);
    rl_batch_stamp(records + n, 14, 3);
    n += c;
    return n + data_batch(records + n, sizeof(records) - n, 15, 3, 3);
}

Test(replica_wire, append_records_must_be_the_batches_the_message_names)
{
    struct rg_message m;
    struct rg_membership cfg;
    size_t n = append_fixture(&m, &cfg);
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_OK);
    cr_assert_eq(m.config_count, 1u);
    cr_assert_eq(m.configs[0].offset, 14);
    cr_assert(memcmp(&m.configs[0].membership, &cfg, sizeof(cfg)) == 0, "config from the batch");

    /* the whole message, records and all, through the wire and checked again */
    struct rw_group g = {9, 0};
    m.config_count = 0; /* configs never travel: the receiver reads them */
    size_t len = replica_wire_encode_message(buf, BUF, &g, &m, records, n);
    struct rw_decoded d;
    cr_assert_eq(replica_wire_decode(buf, len, &arena, &d), RL_OK);
    cr_assert_eq(replica_wire_check_append(&d.msg, d.records, d.records_len, 1 << 20), RL_OK);
    cr_assert_eq(d.msg.config_count, 1u);

    m.end = 19;
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_ERR_CORRUPT, "short");
    m.end = 18;
    m.prev_end = 9; /* offset 9 compacted away on the leader: a gap before the first batch */
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_OK, "gap");
    m.prev_end = 11;
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_ERR_CORRUPT,
                 "a batch before prev_end");
    m.prev_end = 10;
    m.runs[1].start = 12; /* epoch 3 would start inside the first batch */
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_ERR_CORRUPT, "run split");
    m.runs[1].start = 14;
    rl_batch_stamp(records, 10, 3);
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_ERR_CORRUPT, "epoch");
    rl_batch_stamp(records, 10, 2);
    records[n - 3] ^= 0x40;
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_ERR_CHECKSUM);
    records[n - 3] ^= 0x40;
    cr_assert_eq(replica_wire_check_append(&m, records, n - 1, 1 << 20), RL_ERR_TRUNCATED);
    cr_assert_eq(replica_wire_check_append(&m, records, n, 1 << 20), RL_OK, "restored");
}

Test(replica_wire, config_values_round_trip_and_bad_ones_are_refused)
{
    struct test_rng rng;
    test_rng_seed(&rng, "config_values_round_trip_and_bad_ones_are_refused", 15007);
    for (int i = 0; i < 500; i++) {
        struct rg_membership m, back;
        memset(&m, 0, sizeof(m));
        gen_membership(&rng, &m);
        size_t n = replica_wire_encode_membership(buf, BUF, &m);
        cr_assert(n > 0);
        memset(&back, 0, sizeof(back));
        cr_assert_eq(replica_wire_decode_membership(buf, n, &back), RL_OK);
        cr_assert(memcmp(&m, &back, sizeof(m)) == 0, "round %d", i);
    }
    struct rg_membership none = {0};
    cr_assert_eq(replica_wire_encode_membership(buf, BUF, &none), 0u, "no voter");
    const uint8_t dup[] = {0x12, 0x02, 0x01, 0x01}; /* voters 1, 1 */
    struct rg_membership out;
    cr_assert_eq(replica_wire_decode_membership(dup, sizeof(dup), &out), RL_ERR_UNDECODABLE);
}
