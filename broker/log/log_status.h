/*
 * Status codes of the storage engine. The broker's handlers map them to the
 * wire's ErrorCode (broker/handlers/wire_errors.c); storage knows no wire.
 */
#ifndef RINGLOG_BROKER_LOG_STATUS_H
#define RINGLOG_BROKER_LOG_STATUS_H

typedef enum log_status {
    LOG_OK = 0,
    LOG_ERR_STORAGE = -1,         /* the disk failed (ENOSPC, EIO, short write): nothing appended */
    LOG_ERR_OUT_OF_RANGE = -2,    /* offset below the log start or above the log end */
    LOG_ERR_INVALID = -3,         /* an argument makes no sense */
    LOG_ERR_OFFSET_MISMATCH = -4, /* exact-offset append not at the log end */
    LOG_ERR_CORRUPT_BATCH = -5,   /* a batch given to append does not validate */
    LOG_ERR_TOO_LARGE = -6,       /* an append larger than max_append_bytes */
    LOG_ERR_CLOSED = -7,          /* the partition is closing, closed or deleted */
    LOG_ERR_BUFFER_TOO_SMALL = -8, /* read: the first batch does not fit; see needed_bytes */
    LOG_ERR_NOMEM = -9,
    LOG_ERR_BUSY = -10,      /* the ring's submission queue is full: retry next turn */
    LOG_ERR_NO_SPACE = -11,  /* the disk is full (ENOSPC, EDQUOT, or a short write): nothing
                                appended; reads go on, and writes succeed again once space is
                                freed */
    LOG_ERR_REPAIRING = -12, /* read: the batch failed its checksum on this disk and waits for a
                                good copy from a replica (retriable) */
} log_status;

const char *log_status_str(int status);

/* LOG_ERR_NO_SPACE for ENOSPC and EDQUOT (either sign), LOG_ERR_STORAGE for any other errno. */
int log_status_from_errno(int err);

#endif
