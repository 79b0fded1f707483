/* Names of the engine's status codes and their wire ErrorCode. */
#include "log_status.h"

#include <errno.h>

#include "ringlog.pb-c.h"

const char *log_status_str(int status)
{
    switch (status) {
    case LOG_OK:
        return "ok";
    case LOG_ERR_STORAGE:
        return "storage error";
    case LOG_ERR_OUT_OF_RANGE:
        return "offset out of range";
    case LOG_ERR_INVALID:
        return "invalid argument";
    case LOG_ERR_OFFSET_MISMATCH:
        return "batch offset is not the log end";
    case LOG_ERR_CORRUPT_BATCH:
        return "corrupt batch";
    case LOG_ERR_TOO_LARGE:
        return "append too large";
    case LOG_ERR_CLOSED:
        return "partition log closed";
    case LOG_ERR_BUFFER_TOO_SMALL:
        return "read buffer smaller than the batch";
    case LOG_ERR_NOMEM:
        return "out of memory";
    case LOG_ERR_BUSY:
        return "submission queue full";
    case LOG_ERR_NO_SPACE:
        return "no space left on the broker's disk: writes fail until space is freed, reads "
               "continue";
    default:
        return "unknown status";
    }
}

int log_status_from_errno(int err)
{
    if (err < 0)
        err = -err;
    return err == ENOSPC || err == EDQUOT ? LOG_ERR_NO_SPACE : LOG_ERR_STORAGE;
}

int log_status_to_error_code(int status)
{
    switch (status) {
    case LOG_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case LOG_ERR_STORAGE:
    case LOG_ERR_NO_SPACE:
        return RINGLOG__ERROR_CODE__STORAGE_ERROR;
    case LOG_ERR_OUT_OF_RANGE:
        return RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE;
    case LOG_ERR_CORRUPT_BATCH:
        return RINGLOG__ERROR_CODE__CORRUPT_BATCH;
    case LOG_ERR_TOO_LARGE:
        return RINGLOG__ERROR_CODE__BATCH_TOO_LARGE;
    case LOG_ERR_INVALID:
    case LOG_ERR_OFFSET_MISMATCH:
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    case LOG_ERR_CLOSED:
        return RINGLOG__ERROR_CODE__SHUTTING_DOWN;
    default:
        return RINGLOG__ERROR_CODE__UNKNOWN;
    }
}
