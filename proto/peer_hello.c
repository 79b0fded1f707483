#include "peer_hello.h"

#include "pb_reader.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void peer_hello_fill(Ringlog__PeerHello *hello, const struct peer_identity *self, int32_t to_node)
{
    assert(self->node_id >= 0 && self->incarnation != 0);
    ringlog__peer_hello__init(hello);
    hello->min_version = PEER_VERSION_MIN;
    hello->max_version = PEER_VERSION_MAX;
    hello->cluster_id = (char *)self->cluster_id;
    hello->node_id = self->node_id;
    hello->to_node_id = to_node;
    hello->incarnation = self->incarnation;
    hello->software_version = (char *)self->software_version;
}

/* Both known and different. An empty id is a broker that has not learned
 * its cluster yet (new or wiped disk): it may join, and learns it. */
static int cluster_check(const char *mine, const char *theirs, char *reason, size_t len)
{
    if (mine[0] == 0 || theirs[0] == 0 || strcmp(mine, theirs) == 0)
        return RINGLOG__ERROR_CODE__NONE;
    snprintf(reason, len, "wrong cluster id: this broker is in cluster %s, the peer in cluster %s",
             mine, theirs);
    return RINGLOG__ERROR_CODE__CLUSTER_ID_MISMATCH;
}

int peer_hello_accept(const Ringlog__PeerHello *hello, const struct peer_identity *self,
                      Ringlog__PeerHelloResponse *answer, char *reason, size_t reason_len)
{
    assert(hello != NULL && self->node_id >= 0 && self->incarnation != 0);
    uint32_t lo = hello->min_version > PEER_VERSION_MIN ? hello->min_version : PEER_VERSION_MIN;
    uint32_t hi = hello->max_version < PEER_VERSION_MAX ? hello->max_version : PEER_VERSION_MAX;
    if (lo > hi) {
        snprintf(reason, reason_len,
                 "peer protocol: node %d speaks versions %u..%u, this broker %u..%u",
                 hello->node_id, hello->min_version, hello->max_version, PEER_VERSION_MIN,
                 PEER_VERSION_MAX);
        return RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION;
    }
    if (hello->node_id < 0 || hello->incarnation == 0) {
        snprintf(reason, reason_len, "peer hello without a node id (%d) or disk incarnation",
                 hello->node_id);
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    }
    if (hello->to_node_id != self->node_id) {
        snprintf(reason, reason_len,
                 "wrong node: node %d dialed node %d here, but this is node %d (check --peers)",
                 hello->node_id, hello->to_node_id, self->node_id);
        return RINGLOG__ERROR_CODE__NODE_ID_MISMATCH;
    }
    if (hello->node_id == self->node_id) {
        snprintf(reason, reason_len,
                 "node id %d is this broker's own: two brokers share a node id, or --peers "
                 "names this broker under another id",
                 self->node_id);
        return RINGLOG__ERROR_CODE__NODE_ID_MISMATCH;
    }
    int rc = cluster_check(self->cluster_id, hello->cluster_id, reason, reason_len);
    if (rc != RINGLOG__ERROR_CODE__NONE)
        return rc;
    ringlog__peer_hello_response__init(answer);
    answer->version = hi;
    answer->cluster_id = (char *)self->cluster_id;
    answer->node_id = self->node_id;
    answer->incarnation = self->incarnation;
    answer->software_version = (char *)self->software_version;
    return RINGLOG__ERROR_CODE__NONE;
}

int peer_hello_check_answer(const Ringlog__Response *resp, const struct peer_identity *self,
                            int32_t to_node, uint32_t *version, char *reason, size_t reason_len)
{
    assert(resp != NULL && version != NULL);
    if (resp->error != RINGLOG__ERROR_CODE__NONE) {
        snprintf(reason, reason_len, "node %d refused the link: %s", to_node,
                 resp->error_message ? resp->error_message : "");
        return (int)resp->error;
    }
    const Ringlog__PeerHelloResponse *a = resp->peer_hello;
    if (resp->body_case != RINGLOG__RESPONSE__BODY_PEER_HELLO || a == NULL) {
        snprintf(reason, reason_len, "node %d did not answer the peer hello", to_node);
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    }
    if (a->node_id != to_node) {
        snprintf(reason, reason_len, "wrong node: dialed node %d, reached node %d (check --peers)",
                 to_node, a->node_id);
        return RINGLOG__ERROR_CODE__NODE_ID_MISMATCH;
    }
    if (a->version < PEER_VERSION_MIN || a->version > PEER_VERSION_MAX || a->incarnation == 0) {
        snprintf(reason, reason_len, "node %d chose peer protocol version %u (this broker: %u..%u)",
                 to_node, a->version, PEER_VERSION_MIN, PEER_VERSION_MAX);
        return RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION;
    }
    *version = a->version;
    return cluster_check(self->cluster_id, a->cluster_id, reason, reason_len);
}

/* Skips one field's value of wire type `wire`; false when the bytes end first. */
static bool skip_value(const uint8_t **pos, const uint8_t *end, uint32_t wire)
{
    uint64_t v;
    switch (wire) {
    case 0:
        return rl_varint_get(pos, end, &v) == 0;
    case 1:
    case 5: {
        size_t n = wire == 1 ? 8 : 4;
        if ((size_t)(end - *pos) < n)
            return false;
        *pos += n;
        return true;
    }
    case 2:
        if (pb_get_short_varint(pos, end, &v) != 0 || v > (uint64_t)(end - *pos))
            return false;
        *pos += v;
        return true;
    default:
        return false;
    }
}

bool peer_hello_in_frame(const uint8_t *frame, size_t len)
{
    assert(frame != NULL || len == 0);
    const ProtobufCMessageDescriptor *desc = &ringlog__request__descriptor;
    const uint8_t *pos = frame, *end = frame + len;
    uint32_t body = 0; /* the last member of the body oneof: protobuf keeps that one */
    while (pos < end) {
        uint64_t key;
        if (pb_get_short_varint(&pos, end, &key) != 0 ||
            !skip_value(&pos, end, (uint32_t)(key & 7)))
            return false;
        /* protobuf-c keeps the low 32 bits of a 5-byte key's field number. */
        uint32_t number = (uint32_t)(key >> 3);
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, number);
        if (f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            body = number;
    }
    assert(pos == end);
    return body == RINGLOG__REQUEST__BODY_PEER_HELLO;
}
