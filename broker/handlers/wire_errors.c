#include "wire_errors.h"

#include "log/log_status.h"
#include "ringlog.pb-c.h"

int wire_error_from_log_status(int status)
{
    switch (status) {
    case LOG_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case LOG_ERR_STORAGE:
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
