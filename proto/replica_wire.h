/*
 * The replica codec: the replication core's messages (replication/
 * replica_group.h) to and from a PeerMessage, the frame body of an
 * established inter-broker link (proto/ringlog.proto "between brokers",
 * docs/PROTOCOL.md "Between brokers").
 *
 * Hand-written on both sides, for two reasons: the decoder leaves an
 * APPEND's record bytes where they lie in the received frame (protobuf-c's
 * unpack would copy them) and allocates nothing but the entry arrays of a
 * coalesced heartbeat, from the caller's arena; and the encoder can write
 * an APPEND's head alone, so the batches go to the socket from the log as
 * they are. The output is plain protobuf that protobuf-c reads the same
 * (tests/proto/test_replica_wire.c checks both directions).
 *
 * Encodings are canonical (fields in number order, zero values left out),
 * and the decoder refuses what the core must never be fed: negative node
 * ids or terms, epoch runs out of order, memberships out of bounds, values
 * out of range of their C type. A body this build does not know decodes
 * as RW_KIND_UNKNOWN (a newer peer): skip it.
 */
#ifndef RINGLOG_PROTO_REPLICA_WIRE_H
#define RINGLOG_PROTO_REPLICA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "replica_group.h"

/* A replica group on the wire: the cluster-wide topic id (a deleted and
 * re-created topic has a new one; 0 is the cluster metadata group) and the
 * partition. */
struct rw_group {
    uint64_t topic_id;
    uint32_t partition;
};

/* PeerMessage body numbers beyond the core's rg_message_type values. */
enum {
    RW_BODY_HEARTBEATS = 16,
    RW_BODY_HEARTBEAT_REPLIES = 17,
};

/* Upper bound of the bytes of any single message but an APPEND's records. */
#define RW_MAX_HEAD_BYTES 512u

enum rw_kind {
    RW_KIND_MESSAGE = 1,       /* group, msg (and records for an APPEND) */
    RW_KIND_HEARTBEATS,        /* count entries: groups[i], heartbeats[i] */
    RW_KIND_HEARTBEAT_REPLIES, /* count entries: groups[i], replies[i] */
    RW_KIND_UNKNOWN,           /* a body this build does not know: skip */
};

struct rw_decoded {
    enum rw_kind kind;
    uint32_t body; /* the PeerMessage body's field number */
    /* RW_KIND_MESSAGE. msg.payload is NULL and msg.configs is empty for an
     * APPEND (the receiver finds config batches in the records). */
    struct rw_group group;
    struct rg_message msg;
    const uint8_t *records; /* APPEND: inside the decoded buffer, NULL when none */
    size_t records_len;
    /* RW_KIND_HEARTBEATS / _REPLIES: arrays from the caller's arena. */
    uint32_t count;
    struct rw_group *groups;
    struct rg_heartbeat *heartbeats;
    struct rg_heartbeat_reply *replies;
};

/*
 * Decodes a PeerMessage (a frame body, no header). Returns RL_OK;
 * RL_ERR_UNDECODABLE when the bytes are not one well-formed PeerMessage
 * with a body, or a value is out of range; RL_ERR_NOMEM when the arena
 * refuses the heartbeat arrays. records point into buf: keep it alive.
 */
int replica_wire_decode(const uint8_t *buf, size_t len, struct rl_arena *arena,
                        struct rw_decoded *out);

/*
 * A single message. Returns the bytes written at out (at most cap), or 0
 * when they do not fit or the message is not one the decoder would take.
 * With out NULL, returns the size alone. records: an APPEND's batches.
 */
size_t replica_wire_encode_message(uint8_t *out, size_t cap, const struct rw_group *group,
                                   const struct rg_message *msg, const uint8_t *records,
                                   size_t records_len);

/*
 * An APPEND without its records' bytes: the returned head, followed by
 * the records_len bytes of whole batches as they lie in the log, is the
 * PeerMessage (so the caller sends head and log bytes as two iovecs).
 * At most RW_MAX_HEAD_BYTES; 0 as above.
 */
size_t replica_wire_encode_append_head(uint8_t *out, size_t cap, const struct rw_group *group,
                                       const struct rg_message *msg, size_t records_len);

/*
 * One coalesced heartbeat message (n >= 1 entries, all of one sender,
 * addressee and sender incarnation), or its replies. 0 when they do not fit
 * or the entries disagree; out NULL: the size alone.
 */
size_t replica_wire_encode_heartbeats(uint8_t *out, size_t cap, const struct rw_group *groups,
                                      const struct rg_heartbeat *hbs, uint32_t n);
size_t replica_wire_encode_heartbeat_replies(uint8_t *out, size_t cap,
                                             const struct rw_group *groups,
                                             const struct rg_heartbeat_reply *replies, uint32_t n);

/*
 * The value of a configuration control batch (RL_CONTROL_CONFIG,
 * docs/FORMAT.md): a ReplicaConfig message with voters and learners (its
 * offset left out: the batch's own offset is the config's). 0 / an error
 * for a membership the core would refuse.
 */
size_t replica_wire_encode_membership(uint8_t *out, size_t cap, const struct rg_membership *m);
int replica_wire_decode_membership(const uint8_t *buf, size_t len, struct rg_membership *m);

/*
 * A configuration control batch of one record (key: the control type,
 * value: the membership), not yet stamped (base offset and leader epoch
 * are the appender's). Returns its bytes, 0 when it does not fit.
 */
size_t replica_wire_build_config_batch(uint8_t *out, size_t cap, const struct rg_membership *m,
                                       int64_t timestamp);

/*
 * A configuration control batch (RL_CONTROL_CONFIG). An APPEND carries at
 * most RG_MAX_CONFIGS_PER_APPEND of them (the receiver refuses more), so
 * the sender cuts its reads after that many.
 */
struct rl_batch_header;
bool replica_wire_is_config_batch(const uint8_t *batch, const struct rl_batch_header *h);

/*
 * The receiving side of an APPEND, before replica_group_step: the records
 * are whole, valid batches (checksums; control batches allowed) in growing
 * offset order inside [prev_end, end), the last ending at end (offset gaps
 * between them are a compacted range: docs/STORAGE.md), each stamped with
 * the epoch its run
 * gives and inside one run; fills msg->configs from the configuration
 * control batches (at most RG_MAX_CONFIGS_PER_APPEND). Returns RL_OK, the
 * batch validator's error for a damaged batch, or RL_ERR_CORRUPT for
 * batches that do not match the message: drop the message either way.
 */
int replica_wire_check_append(struct rg_message *msg, const uint8_t *records, size_t len,
                              size_t max_batch_bytes);

#endif
