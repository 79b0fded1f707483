/*
 * The inter-broker handshake (docs/PROTOCOL.md "Between brokers"): what a
 * dialing broker sends, what the broker it reached checks before it takes
 * the link, and what the dialer checks in the answer. Pure functions over
 * the protobuf-c structs: the broker's peer links do the I/O.
 */
#ifndef RINGLOG_PROTO_PEER_HELLO_H
#define RINGLOG_PROTO_PEER_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlog.pb-c.h"

/* The peer protocol versions this build speaks. */
#define PEER_VERSION_MIN 1u
#define PEER_VERSION_MAX 1u

/* Who a broker is on the wire. cluster_id "" : not learned yet (a new or
 * wiped data directory). The strings must outlive the structs filled. */
struct peer_identity {
    const char *cluster_id;
    int32_t node_id;
    uint64_t incarnation; /* disk incarnation, != 0 */
    const char *software_version;
};

/* The hello a broker sends first on a link it dialed to node to_node. */
void peer_hello_fill(Ringlog__PeerHello *hello, const struct peer_identity *self, int32_t to_node);

/*
 * The reached broker's check. Returns RINGLOG__ERROR_CODE__NONE and fills
 * *answer (the link is up), or the ErrorCode to answer with, then close,
 * and a one-line reason naming both sides' values.
 */
int peer_hello_accept(const Ringlog__PeerHello *hello, const struct peer_identity *self,
                      Ringlog__PeerHelloResponse *answer, char *reason, size_t reason_len);

/*
 * The dialer's check of the Response to its hello (to_node as dialed).
 * NONE: the link is up, *version is the link's version. Otherwise the code
 * (the peer's refusal, or the dialer's own finding) and the reason; the
 * dialer closes the link and dials again later.
 */
int peer_hello_check_answer(const Ringlog__Response *resp, const struct peer_identity *self,
                            int32_t to_node, uint32_t *version, char *reason, size_t reason_len);

/*
 * Whether a Request frame's body is a peer_hello (field 100), found by
 * walking its top-level fields without decoding them: the broker asks this
 * of every connection's first frame, which may be a large produce. Agrees
 * with rl_request_decode on every frame that decodes (the body is the last
 * member of the oneof present); false for bytes that are not fields.
 */
bool peer_hello_in_frame(const uint8_t *frame, size_t len);

#endif
