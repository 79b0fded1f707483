/*
 * Status codes of the proto/ layer: frame codec, record-batch builder and
 * validator. Negative values are errors; 0 is success; positive values are
 * non-error outcomes (more input needed, iterator exhausted).
 */
#ifndef RINGLOG_PROTO_STATUS_H
#define RINGLOG_PROTO_STATUS_H

typedef enum rl_status {
    RL_OK = 0,
    RL_NEED_MORE = 1, /* frame decoder: a frame is incomplete, feed more bytes */
    RL_END = 2,       /* iterator: no more items */

    RL_ERR_TRUNCATED = -1,   /* input ended inside a frame, batch or record */
    RL_ERR_OVERSIZED = -2,   /* a length exceeds the configured maximum */
    RL_ERR_EMPTY = -3,       /* a zero-length frame */
    RL_ERR_UNDECODABLE = -4, /* the protobuf envelope does not parse or has no body */
    RL_ERR_BAD_MAGIC = -5,   /* unknown record-batch format version */
    RL_ERR_CHECKSUM = -6,    /* record-batch checksum mismatch */
    RL_ERR_CORRUPT = -7,     /* impossible header or record layout */
    RL_ERR_FULL = -8,        /* builder: the record does not fit in the buffer */
    RL_ERR_CODEC = -9,       /* unknown compression codec, or (de)compression failed */
    RL_ERR_NOMEM = -10,      /* allocation failed */
    RL_ERR_INVALID = -11,    /* an argument is out of range */
} rl_status;

/* A short, stable, human-readable description ("checksum mismatch"). */
const char *rl_status_str(int status);

#endif
