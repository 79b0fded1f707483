#include "errors.h"

#include <stddef.h>

#include "ringlog.pb-c.h"
#include "status.h"

struct error_info {
    const char *name;
    const char *message;
    int retriable;
};

/* Indexed by Ringlog__ErrorCode; keep in step with proto/ringlog.proto. */
static const struct error_info ERRORS[] = {
    [RINGLOG__ERROR_CODE__NONE] = {"NONE", "no error", 0},
    [RINGLOG__ERROR_CODE__UNKNOWN] = {"UNKNOWN", "unexpected server error", 0},
    [RINGLOG__ERROR_CODE__UNKNOWN_TOPIC] = {"UNKNOWN_TOPIC", "the topic does not exist", 1},
    [RINGLOG__ERROR_CODE__UNKNOWN_PARTITION] = {"UNKNOWN_PARTITION",
                                                "the topic has no such partition", 1},
    [RINGLOG__ERROR_CODE__NOT_LEADER] = {"NOT_LEADER", "this broker does not lead the partition",
                                         1},
    /* 30..39: replication and cluster. */
    [RINGLOG__ERROR_CODE__FENCED_LEADER_EPOCH] = {"FENCED_LEADER_EPOCH",
                                                  "the leader epoch asked for is older than the "
                                                  "partition's: refresh metadata",
                                                  1},
    [RINGLOG__ERROR_CODE__UNKNOWN_LEADER_EPOCH] = {"UNKNOWN_LEADER_EPOCH",
                                                   "the leader epoch asked for is newer than this "
                                                   "broker knows: retry",
                                                   1},
    [RINGLOG__ERROR_CODE__NOT_CONTROLLER] = {"NOT_CONTROLLER",
                                             "this broker is not the controller leader", 1},
    [RINGLOG__ERROR_CODE__CLUSTER_ID_MISMATCH] = {"CLUSTER_ID_MISMATCH",
                                                  "the brokers belong to different clusters", 0},
    [RINGLOG__ERROR_CODE__NODE_ID_MISMATCH] = {"NODE_ID_MISMATCH",
                                               "the broker reached is not the node id dialed", 0},
    [RINGLOG__ERROR_CODE__INVALID_REPLICA_ASSIGNMENT] = {"INVALID_REPLICA_ASSIGNMENT",
                                                         "the replicas named are not a valid "
                                                         "assignment",
                                                         0},
    [RINGLOG__ERROR_CODE__CORRUPT_BATCH] = {"CORRUPT_BATCH",
                                            "record batch checksum or header is invalid", 0},
    [RINGLOG__ERROR_CODE__BATCH_TOO_LARGE] = {"BATCH_TOO_LARGE",
                                              "batch or request is larger than the limit", 0},
    [RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE] = {"OFFSET_OUT_OF_RANGE",
                                                  "offset is outside the log", 0},
    [RINGLOG__ERROR_CODE__TOPIC_EXISTS] = {"TOPIC_EXISTS", "a topic of that name exists", 0},
    [RINGLOG__ERROR_CODE__INVALID_REQUEST] = {"INVALID_REQUEST", "the request is invalid", 0},
    [RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION] = {"UNSUPPORTED_VERSION",
                                                  "the broker does not support this version", 0},
    [RINGLOG__ERROR_CODE__DUPLICATE_SEQUENCE] = {"DUPLICATE_SEQUENCE", "batch was already appended",
                                                 0},
    [RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE] = {"OUT_OF_ORDER_SEQUENCE",
                                                    "sequence number gap for this producer", 0},
    [RINGLOG__ERROR_CODE__NOT_ENOUGH_REPLICAS] = {"NOT_ENOUGH_REPLICAS", "too few in-sync replicas",
                                                  1},
    [RINGLOG__ERROR_CODE__TIMEOUT] = {"TIMEOUT", "the request timed out", 1},
    [RINGLOG__ERROR_CODE__STORAGE_ERROR] = {"STORAGE_ERROR",
                                            "the broker's disk failed; nothing was written", 1},
    [RINGLOG__ERROR_CODE__INVALID_TOPIC] = {"INVALID_TOPIC", "the topic name is invalid", 0},
    [RINGLOG__ERROR_CODE__INVALID_PARTITIONS] = {"INVALID_PARTITIONS",
                                                 "partition count is out of range", 0},
    [RINGLOG__ERROR_CODE__INVALID_REPLICATION_FACTOR] = {"INVALID_REPLICATION_FACTOR",
                                                         "replication factor is out of range", 0},
    [RINGLOG__ERROR_CODE__INVALID_CONFIG] = {"INVALID_CONFIG", "a config value is invalid", 0},
    [RINGLOG__ERROR_CODE__UNKNOWN_PRODUCER_ID] = {"UNKNOWN_PRODUCER_ID",
                                                  "the producer id is unknown", 0},
    [RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH] = {"INVALID_PRODUCER_EPOCH",
                                                     "a newer epoch of this producer exists", 0},
    [RINGLOG__ERROR_CODE__LEADER_NOT_AVAILABLE] = {"LEADER_NOT_AVAILABLE",
                                                   "no leader yet; election in progress", 1},
    [RINGLOG__ERROR_CODE__UNKNOWN_GROUP] = {"UNKNOWN_GROUP", "the consumer group is unknown", 0},
    [RINGLOG__ERROR_CODE__SHUTTING_DOWN] = {"SHUTTING_DOWN", "the broker is shutting down", 1},
    [RINGLOG__ERROR_CODE__TOO_MANY_CONNECTIONS] = {"TOO_MANY_CONNECTIONS",
                                                   "the broker's connection limit is reached", 1},
    [RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED] = {"AUTHENTICATION_FAILED",
                                                    "authentication failed", 0},
    [RINGLOG__ERROR_CODE__AUTHENTICATION_REQUIRED] =
        {"AUTHENTICATION_REQUIRED", "this broker requires authentication (SASL) first", 0},
    [RINGLOG__ERROR_CODE__NOT_AUTHORIZED] = {"NOT_AUTHORIZED",
                                             "not authorized: no ACL allows this operation", 0},
    [RINGLOG__ERROR_CODE__UNKNOWN_USER] = {"UNKNOWN_USER", "no such user", 0},
    [RINGLOG__ERROR_CODE__UNSUPPORTED_SASL_MECHANISM] =
        {"UNSUPPORTED_SASL_MECHANISM",
         "SASL mechanism not supported (SCRAM-SHA-256, SCRAM-SHA-512)", 0},
    [RINGLOG__ERROR_CODE__NOT_COORDINATOR] = {"NOT_COORDINATOR",
                                              "this broker does not coordinate the group", 1},
    [RINGLOG__ERROR_CODE__COORDINATOR_LOAD_IN_PROGRESS] = {"COORDINATOR_LOAD_IN_PROGRESS",
                                                           "the coordinator is loading its groups",
                                                           1},
    [RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID] = {"UNKNOWN_MEMBER_ID",
                                                "the group has no such member: join again", 0},
    [RINGLOG__ERROR_CODE__FENCED_MEMBER_EPOCH] = {"FENCED_MEMBER_EPOCH",
                                                  "the member epoch is fenced: join again", 0},
    [RINGLOG__ERROR_CODE__STALE_MEMBER_EPOCH] = {"STALE_MEMBER_EPOCH",
                                                 "the member has a newer epoch: retry with it", 1},
    [RINGLOG__ERROR_CODE__GROUP_NOT_EMPTY] = {"GROUP_NOT_EMPTY", "the group has active members", 0},
    [RINGLOG__ERROR_CODE__GROUP_MAX_SIZE_REACHED] = {"GROUP_MAX_SIZE_REACHED",
                                                     "the group or coordinator limit is reached",
                                                     0},
    [RINGLOG__ERROR_CODE__UNRELEASED_INSTANCE_ID] = {"UNRELEASED_INSTANCE_ID",
                                                     "the static instance id is in use", 0},
    [RINGLOG__ERROR_CODE__INVALID_GROUP_PATTERN] = {"INVALID_GROUP_PATTERN",
                                                    "the subscription pattern is not a regex", 0},
};

enum { ERROR_COUNT = sizeof(ERRORS) / sizeof(ERRORS[0]) };

static const struct error_info *lookup(int code)
{
    if (code < 0 || code >= ERROR_COUNT || ERRORS[code].name == NULL)
        return NULL;
    return &ERRORS[code];
}

const char *rl_error_name(int error_code)
{
    const struct error_info *e = lookup(error_code);
    return e ? e->name : "UNRECOGNIZED";
}

const char *rl_error_message(int error_code)
{
    const struct error_info *e = lookup(error_code);
    return e ? e->message : "unrecognized error code";
}

int rl_error_is_retriable(int error_code)
{
    const struct error_info *e = lookup(error_code);
    return e ? e->retriable : 0;
}

int rl_error_from_batch_status(int status)
{
    switch (status) {
    case RL_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case RL_ERR_OVERSIZED:
        return RINGLOG__ERROR_CODE__BATCH_TOO_LARGE;
    case RL_ERR_NOMEM:
        return RINGLOG__ERROR_CODE__UNKNOWN;
    default:
        return RINGLOG__ERROR_CODE__CORRUPT_BATCH;
    }
}

const char *rl_status_str(int status)
{
    switch (status) {
    case RL_OK:
        return "ok";
    case RL_NEED_MORE:
        return "need more input";
    case RL_END:
        return "end";
    case RL_ERR_TRUNCATED:
        return "truncated";
    case RL_ERR_OVERSIZED:
        return "larger than the maximum";
    case RL_ERR_EMPTY:
        return "zero-length frame";
    case RL_ERR_UNDECODABLE:
        return "undecodable message";
    case RL_ERR_BAD_MAGIC:
        return "unknown batch format version";
    case RL_ERR_CHECKSUM:
        return "checksum mismatch";
    case RL_ERR_CORRUPT:
        return "corrupt batch or record";
    case RL_ERR_FULL:
        return "buffer full";
    case RL_ERR_CODEC:
        return "compression codec error";
    case RL_ERR_NOMEM:
        return "out of memory";
    case RL_ERR_INVALID:
        return "invalid argument";
    default:
        return "unknown status";
    }
}
