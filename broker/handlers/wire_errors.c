#include "wire_errors.h"

#include "auth/security.h"
#include "errors.h"
#include "log/log_status.h"
#include "topics.h"
#include "ringlog.pb-c.h"

int wire_error_from_log_status(int status)
{
    switch (status) {
    case LOG_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case LOG_ERR_STORAGE:
    case LOG_ERR_NO_SPACE:
    case LOG_ERR_REPAIRING:
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

int wire_error_from_partition(const struct partition_result *res)
{
    switch (res->error) {
    case PARTITION_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case PARTITION_DUPLICATE_IN_FLIGHT:
        return RINGLOG__ERROR_CODE__DUPLICATE_SEQUENCE;
    case PARTITION_OUT_OF_ORDER:
    case PARTITION_MIXED_RETRY:
        return RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE;
    case PARTITION_BAD_EPOCH:
        return RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH;
    case PARTITION_UNKNOWN_PRODUCER:
        return RINGLOG__ERROR_CODE__UNKNOWN_PRODUCER_ID;
    case PARTITION_BAD_BATCH:
        return rl_error_from_batch_status(res->detail);
    case PARTITION_NO_BATCH:
    case PARTITION_BAD_TIMESTAMP:
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    case PARTITION_OFFSET_OUT_OF_RANGE:
        return RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE;
    case PARTITION_STORAGE:
        return wire_error_from_log_status(res->detail);
    case PARTITION_NOT_LEADER:
        return RINGLOG__ERROR_CODE__NOT_LEADER;
    case PARTITION_NOT_ENOUGH_REPLICAS:
        return RINGLOG__ERROR_CODE__NOT_ENOUGH_REPLICAS;
    }
    return RINGLOG__ERROR_CODE__UNKNOWN;
}

char *wire_error_message(int error, const char *op_message)
{
    if (error == RINGLOG__ERROR_CODE__NONE)
        return "";
    return (char *)(op_message ? op_message : rl_error_message(error));
}

int wire_error_partition_known(const struct topic_info *ti, uint32_t partition)
{
    if (!ti)
        return RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
    return partition < ti->partitions ? RINGLOG__ERROR_CODE__NONE
                                      : RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
}

int wire_error_from_security(int status)
{
    switch (status) {
    case SEC_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case SEC_UNKNOWN_USER:
        return RINGLOG__ERROR_CODE__UNKNOWN_USER;
    case SEC_NOT_FOUND:
    case SEC_INVALID:
    case SEC_LIMIT:
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    case SEC_STORAGE:
        return RINGLOG__ERROR_CODE__STORAGE_ERROR;
    default:
        return RINGLOG__ERROR_CODE__UNKNOWN;
    }
}
