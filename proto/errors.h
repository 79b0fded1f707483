/*
 * Names and default human messages of the wire's ErrorCode, and the mapping
 * from proto/ status codes to wire error codes.
 */
#ifndef RINGLOG_PROTO_ERRORS_H
#define RINGLOG_PROTO_ERRORS_H

/* "UNKNOWN_TOPIC"; "UNRECOGNIZED" for a code this build does not know. */
const char *rl_error_name(int error_code);

/* A default one-line explanation of the code, for error_message fields. */
const char *rl_error_message(int error_code);

/* Whether a client may retry the same request after this error. */
int rl_error_is_retriable(int error_code);

/* Wire ErrorCode for a batch validation status (RL_ERR_CHECKSUM -> CORRUPT_BATCH). */
int rl_error_from_batch_status(int status);

#endif
