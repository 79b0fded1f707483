/*
 * The replica codec's decoder (proto/replica_wire.c) on every input taken
 * as a PeerMessage: what a peer broker, or anything that got through its
 * handshake, sends. Differential against its own encoder and protobuf-c.
 *
 * What must hold:
 *  - no crash, no read outside the input, NOMEM only from the arena limit;
 *  - whatever decodes is a message the core may be handed: it re-encodes
 *    (the encoder applies the same rules), the re-encoding decodes to the
 *    same structs, and encoding that again gives the same bytes (a
 *    canonical form);
 *  - the canonical bytes are what protobuf-c packs for the same
 *    PeerMessage (one schema), and protobuf-c accepts every input we take;
 *  - an APPEND's records lie inside the input, and checking them against
 *    the message (replica_wire_check_append: batch validation, tiling,
 *    epochs, config batches) never crashes and yields valid configs.
 */
#include <string.h>

#include "fuzz_pb.h"
#include "replica_wire.h"
#include "ringlog.pb-c.h"
#include "status.h"

enum { OUT_BYTES = 1 << 21 };
static uint8_t out1[OUT_BYTES], out2[OUT_BYTES];

static size_t encode(const struct rw_decoded *d, uint8_t *out)
{
    switch (d->kind) {
    case RW_KIND_MESSAGE:
        return replica_wire_encode_message(out, OUT_BYTES, &d->group, &d->msg, d->records,
                                           d->records_len);
    case RW_KIND_HEARTBEATS:
        return replica_wire_encode_heartbeats(out, OUT_BYTES, d->groups, d->heartbeats, d->count);
    case RW_KIND_HEARTBEAT_REPLIES:
        return replica_wire_encode_heartbeat_replies(out, OUT_BYTES, d->groups, d->replies,
                                                     d->count);
    default:
        return 0;
    }
}

static void check_append_records(const struct rw_decoded *d)
{
    struct rg_message m = d->msg;
    if (replica_wire_check_append(&m, d->records, d->records_len, 1 << 20) != RL_OK)
        return;
    FUZZ_CHECK(m.config_count <= RG_MAX_CONFIGS_PER_APPEND);
    for (uint32_t i = 0; i < m.config_count; i++) {
        FUZZ_CHECK(m.configs[i].offset >= m.prev_end && m.configs[i].offset < m.end);
        FUZZ_CHECK(replica_wire_encode_membership(out2, OUT_BYTES, &m.configs[i].membership) > 0);
    }
}

static void check_equal(const struct rw_decoded *a, const struct rw_decoded *b)
{
    FUZZ_CHECK(a->kind == b->kind && a->body == b->body && a->count == b->count);
    if (a->kind == RW_KIND_MESSAGE) {
        FUZZ_CHECK(memcmp(&a->group, &b->group, sizeof(a->group)) == 0);
        FUZZ_CHECK(memcmp(&a->msg, &b->msg, sizeof(a->msg)) == 0);
        FUZZ_CHECK(a->records_len == b->records_len);
        FUZZ_CHECK(a->records_len == 0 || memcmp(a->records, b->records, a->records_len) == 0);
        return;
    }
    for (uint32_t i = 0; i < a->count; i++) {
        FUZZ_CHECK(memcmp(&a->groups[i], &b->groups[i], sizeof(a->groups[i])) == 0);
        if (a->kind == RW_KIND_HEARTBEATS)
            FUZZ_CHECK(memcmp(&a->heartbeats[i], &b->heartbeats[i], sizeof(a->heartbeats[i])) == 0);
        else
            FUZZ_CHECK(memcmp(&a->replies[i], &b->replies[i], sizeof(a->replies[i])) == 0);
    }
}

/* protobuf-c reads the canonical bytes and packs exactly them again. */
static void check_protobuf_c(const uint8_t *bytes, size_t len)
{
    Ringlog__PeerMessage *pm = ringlog__peer_message__unpack(NULL, len, bytes);
    FUZZ_CHECK(pm != NULL);
    FUZZ_CHECK(ringlog__peer_message__get_packed_size(pm) == len);
    ringlog__peer_message__pack(pm, out2);
    FUZZ_CHECK(memcmp(out2, bytes, len) == 0);
    ringlog__peer_message__free_unpacked(pm, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rl_arena *arena = fuzz_arena();
    struct rw_decoded d, again;
    int rc = replica_wire_decode(data, size, arena, &d);
    if (rc != RL_OK) {
        FUZZ_CHECK(rc == RL_ERR_UNDECODABLE ||
                   (rc == RL_ERR_NOMEM && size > FUZZ_ARENA_LIMIT / 64));
        rl_arena_reset(arena);
        return 0;
    }
    Ringlog__PeerMessage *pm = ringlog__peer_message__unpack(NULL, size, data);
    FUZZ_CHECK(pm != NULL); /* we take nothing protobuf-c refuses */
    ringlog__peer_message__free_unpacked(pm, NULL);
    FUZZ_CHECK(fuzz_inside(d.records, d.records_len, data, size));
    if (d.kind == RW_KIND_UNKNOWN) {
        rl_arena_reset(arena);
        return 0;
    }
    if (d.kind == RW_KIND_MESSAGE && d.msg.type == RG_MSG_APPEND)
        check_append_records(&d);
    size_t n = encode(&d, out1);
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(replica_wire_decode(out1, n, arena, &again) == RL_OK);
    check_equal(&d, &again);
    FUZZ_CHECK(encode(&again, out2) == n && memcmp(out1, out2, n) == 0);
    check_protobuf_c(out1, n);
    rl_arena_reset(arena);
    return 0;
}
