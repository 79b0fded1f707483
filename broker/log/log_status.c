/* Names of the engine's status codes. */
#include "log_status.h"

#include <errno.h>

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
    case LOG_ERR_REPAIRING:
        return "a batch here failed its checksum on this broker's disk and is being repaired "
               "from a replica: retry";
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
