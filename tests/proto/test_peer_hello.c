/*
 * The inter-broker handshake's checks (proto/peer_hello.h): a matching
 * pair links up, and each mismatch is refused with its own code and a
 * reason naming both sides, by the reached broker or by the dialer.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "peer_hello.h"

static const struct peer_identity node1 = {"c0ffee", 1, 0x1111, "0.1.0"};
static const struct peer_identity node2 = {"c0ffee", 2, 0x2222, "0.1.0"};
static char reason[256];

/* What node `from` sends to `to_node`, answered by `at`; the code. */
static int link(const struct peer_identity *from, const struct peer_identity *at, int32_t to_node,
                Ringlog__PeerHelloResponse *answer)
{
    Ringlog__PeerHello hello;
    peer_hello_fill(&hello, from, to_node);
    reason[0] = 0;
    return peer_hello_accept(&hello, at, answer, reason, sizeof(reason));
}

Test(peer_hello, a_matching_pair_links_up_on_both_sides)
{
    Ringlog__PeerHelloResponse answer;
    cr_assert_eq(link(&node1, &node2, 2, &answer), RINGLOG__ERROR_CODE__NONE, "%s", reason);
    cr_assert(answer.node_id == 2 && answer.incarnation == 0x2222 && answer.version == 1);
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_PEER_HELLO;
    resp.peer_hello = &answer;
    uint32_t version = 0;
    cr_assert_eq(peer_hello_check_answer(&resp, &node1, 2, &version, reason, sizeof(reason)),
                 RINGLOG__ERROR_CODE__NONE, "%s", reason);
    cr_assert_eq(version, 1u);
    /* The dialer reached node 2 where it expected node 3. */
    cr_assert_eq(peer_hello_check_answer(&resp, &node1, 3, &version, reason, sizeof(reason)),
                 RINGLOG__ERROR_CODE__NODE_ID_MISMATCH);
    cr_assert(strstr(reason, "dialed node 3, reached node 2"), "%s", reason);
}

Test(peer_hello, a_wrong_cluster_id_is_refused_with_both_ids)
{
    struct peer_identity other = node1;
    other.cluster_id = "beef";
    Ringlog__PeerHelloResponse answer;
    cr_assert_eq(link(&other, &node2, 2, &answer), RINGLOG__ERROR_CODE__CLUSTER_ID_MISMATCH);
    cr_assert(strstr(reason, "c0ffee") && strstr(reason, "beef"), "%s", reason);
    /* A broker that has not learned its cluster (new or wiped disk) joins. */
    other.cluster_id = "";
    cr_assert_eq(link(&other, &node2, 2, &answer), RINGLOG__ERROR_CODE__NONE, "%s", reason);
    cr_assert_str_eq(answer.cluster_id, "c0ffee");
}

Test(peer_hello, the_wrong_node_or_a_shared_node_id_is_refused)
{
    Ringlog__PeerHelloResponse answer;
    cr_assert_eq(link(&node1, &node2, 3, &answer), RINGLOG__ERROR_CODE__NODE_ID_MISMATCH);
    cr_assert(strstr(reason, "this is node 2"), "%s", reason);
    struct peer_identity twin = node2;
    twin.incarnation = 0x3333;
    cr_assert_eq(link(&twin, &node2, 2, &answer), RINGLOG__ERROR_CODE__NODE_ID_MISMATCH);
    cr_assert(strstr(reason, "share a node id"), "%s", reason);
}

Test(peer_hello, versions_without_overlap_and_a_missing_incarnation_are_refused)
{
    Ringlog__PeerHello hello;
    Ringlog__PeerHelloResponse answer;
    peer_hello_fill(&hello, &node1, 2);
    hello.min_version = PEER_VERSION_MAX + 1;
    hello.max_version = PEER_VERSION_MAX + 3;
    cr_assert_eq(peer_hello_accept(&hello, &node2, &answer, reason, sizeof(reason)),
                 RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION);
    cr_assert(strstr(reason, "versions 2..4"), "%s", reason);
    peer_hello_fill(&hello, &node1, 2);
    hello.incarnation = 0;
    cr_assert_eq(peer_hello_accept(&hello, &node2, &answer, reason, sizeof(reason)),
                 RINGLOG__ERROR_CODE__INVALID_REQUEST);
}

Test(peer_hello, the_dialer_reports_a_refusal_with_its_reason)
{
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.error = RINGLOG__ERROR_CODE__CLUSTER_ID_MISMATCH;
    resp.error_message = "wrong cluster id: this broker is in cluster a, the peer in cluster b";
    uint32_t version;
    cr_assert_eq(peer_hello_check_answer(&resp, &node1, 2, &version, reason, sizeof(reason)),
                 RINGLOG__ERROR_CODE__CLUSTER_ID_MISMATCH);
    cr_assert(strstr(reason, "node 2 refused the link: wrong cluster id"), "%s", reason);
    resp.error = RINGLOG__ERROR_CODE__NONE;
    cr_assert_eq(peer_hello_check_answer(&resp, &node1, 2, &version, reason, sizeof(reason)),
                 RINGLOG__ERROR_CODE__INVALID_REQUEST, "no peer_hello body");
}

/* Request bytes: the envelope's fields as given (key bytes then value bytes). */
static bool in(const char *bytes, size_t len)
{
    return peer_hello_in_frame((const uint8_t *)bytes, len);
}

Test(peer_hello, a_first_frame_is_a_hello_when_its_last_body_is_one)
{
    /* correlation_id 1, then peer_hello {} (field 100: key a2 06). */
    cr_assert(in("\x08\x01\xa2\x06\x00", 5));
    /* A handshake (field 10, key 52) alone, or after the hello: protobuf keeps the last body. */
    cr_assert_not(in("\x08\x01\x52\x00", 4));
    cr_assert_not(in("\xa2\x06\x00\x52\x00", 5));
    cr_assert(in("\x52\x00\xa2\x06\x00", 5));
    /* Fields of every wire type are stepped over: fixed64, fixed32, a client_id. */
    cr_assert(in("\x09"
                 "12345678"
                 "\x0d"
                 "1234"
                 "\x1a\x02id"
                 "\xa2\x06\x00",
                 21));
    /* A 5-byte key whose number protobuf-c cuts to 32 bits is an unknown field. */
    cr_assert(in("\xf9\xfd\xe5\xf6\x63"
                 "\x00\x00\x00\x00\x00\x00\x00\x00"
                 "\xa2\x06\x00",
                 16));
    /* Bytes that end inside a field, or a group, are not a hello. */
    cr_assert_not(in("\xa2\x06\x05\x00", 4));
    cr_assert_not(in("\x0b\xa2\x06\x00", 4));
    cr_assert_not(in("", 0));
}
