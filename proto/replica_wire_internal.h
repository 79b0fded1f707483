/*
 * What the replica encoder and decoder share: the field numbers of the
 * single replica messages (one numbering for every kind, ringlog.proto
 * "between brokers"), which kinds carry which field, and the validity
 * rules both sides apply.
 */
#ifndef RINGLOG_PROTO_REPLICA_WIRE_INTERNAL_H
#define RINGLOG_PROTO_REPLICA_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica_wire.h"

enum rw_field_type { RW_U64, RW_U32, RW_I32, RW_I64, RW_BOOL, RW_FIXED64 };

enum {
    RW_WIRE_VARINT = 0,
    RW_WIRE_I64 = 1,
    RW_WIRE_LEN = 2,
    RW_WIRE_I32 = 5,
};

/* Field numbers that are not plain rg_message scalars. */
enum {
    RW_F_TOPIC_ID = 1,
    RW_F_PARTITION = 2,
    RW_F_RUNS = 18,
    RW_F_CONFIG = 19,
    RW_F_RECORDS = 30,
};

/* A scalar field of rg_message: its number, type, place, and the message
 * types (bit 1 << type) whose wire message has it. */
struct rw_field {
    uint32_t number;
    enum rw_field_type type;
    size_t offset;
    uint32_t types;
};

/* In field-number order. */
extern const struct rw_field rw_fields[];
extern const size_t rw_field_count;

static inline uint32_t rw_bit(enum rg_message_type t)
{
    return 1u << (unsigned)t;
}

/* Whether the wire message of `type` has the special field `number`. */
bool rw_type_has(enum rg_message_type type, uint32_t number);

/* Whether t is a single-message body (rg_message_type). */
bool rw_type_known(uint32_t t);

/* The rules of a message the core may be given (both directions). */
bool rw_message_valid(const struct rg_message *m, size_t records_len);
bool rw_heartbeat_valid(const struct rg_heartbeat *hb);
bool rw_heartbeat_reply_valid(const struct rg_heartbeat_reply *r);

#endif
