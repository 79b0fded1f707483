/*
 * The protocol edge: status codes of the tiers below (storage, partition)
 * become the wire's ErrorCode (proto/ringlog.proto) here and nowhere else.
 */
#ifndef RINGLOG_BROKER_WIRE_ERRORS_H
#define RINGLOG_BROKER_WIRE_ERRORS_H

#include <stdint.h>

#include "partition/partition.h"

/*
 * A storage status (log/log_status.h): STORAGE_ERROR for disk failures,
 * OFFSET_OUT_OF_RANGE, CORRUPT_BATCH, BATCH_TOO_LARGE, INVALID_REQUEST,
 * SHUTTING_DOWN for a closed partition, UNKNOWN otherwise, NONE for LOG_OK.
 */
int wire_error_from_log_status(int status);

/* A partition call's result (partition/partition.h). */
int wire_error_from_partition(const struct partition_result *res);

struct topic_info;

/* A partition a request names: UNKNOWN_TOPIC (ti NULL), UNKNOWN_PARTITION or NONE. */
int wire_error_partition_known(const struct topic_info *ti, uint32_t partition);

/* A user or ACL store status (auth/security.h): UNKNOWN_USER, INVALID_REQUEST (no such
 * ACL, invalid, too many), STORAGE_ERROR, UNKNOWN. */
int wire_error_from_security(int status);

/* The error_message of a per-partition result: "" for NONE, else the
 * owner's message or the code's default one. */
char *wire_error_message(int error, const char *op_message);

#endif
