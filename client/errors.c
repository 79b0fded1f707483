/* Names and texts of the public error codes: the broker's codes come from proto/errors.c. */
#include <assert.h>

#include "errors.h"
#include "ringlog.h"

struct client_error {
    int code;
    const char *name;
    const char *text;
};

static const struct client_error CLIENT_ERRORS[] = {
    {RINGLOG_OK, "OK", "success"},
    {RINGLOG_ERR_INVALID_ARG, "INVALID_ARG", "invalid argument or configuration value"},
    {RINGLOG_ERR_NOMEM, "NOMEM", "out of memory"},
    {RINGLOG_ERR_TIMED_OUT, "TIMED_OUT", "the operation timed out"},
    {RINGLOG_ERR_TRANSPORT, "TRANSPORT", "connection to the broker failed or was lost"},
    {RINGLOG_ERR_RESOLVE, "RESOLVE", "the broker's host name did not resolve"},
    {RINGLOG_ERR_PROTOCOL, "PROTOCOL", "the broker sent something outside the protocol"},
    {RINGLOG_ERR_QUEUE_FULL, "QUEUE_FULL", "the producer buffer is full"},
    {RINGLOG_ERR_MSG_TOO_LARGE, "MSG_TOO_LARGE", "the message is larger than the limit"},
    {RINGLOG_ERR_CORRUPT, "CORRUPT", "a fetched batch failed verification"},
    {RINGLOG_ERR_CLOSED, "CLOSED", "the handle was closed"},
    {RINGLOG_ERR_STATE, "STATE", "the call is not valid in the current state"},
    {RINGLOG_ERR_FATAL, "FATAL", "the producer hit a fatal error and cannot continue"},
    {RINGLOG_ERR_NO_OFFSET, "NO_OFFSET", "no offset to start from"},
    {RINGLOG_ERR_PARTITION_EOF, "PARTITION_EOF", "reached the end of the partition"},
    {RINGLOG_ERR_IN_CALLBACK, "IN_CALLBACK",
     "not allowed from the handle's own callback (it would deadlock)"},
};

static const struct client_error *client_error(int err)
{
    for (size_t i = 0; i < sizeof(CLIENT_ERRORS) / sizeof(CLIENT_ERRORS[0]); i++)
        if (CLIENT_ERRORS[i].code == err)
            return &CLIENT_ERRORS[i];
    return NULL;
}

const char *ringlog_err_name(int err)
{
    if (err > 0)
        return rl_error_name(err);
    const struct client_error *e = client_error(err);
    return e ? e->name : "UNRECOGNIZED";
}

const char *ringlog_err_str(int err)
{
    if (err > 0)
        return rl_error_message(err);
    const struct client_error *e = client_error(err);
    return e ? e->text : "unrecognized error code";
}

bool ringlog_error_is_retriable(int err)
{
    switch (err) {
    case RINGLOG_ERR_TIMED_OUT:
    case RINGLOG_ERR_TRANSPORT:
    case RINGLOG_ERR_RESOLVE:
    case RINGLOG_ERR_QUEUE_FULL:
        return true;
    default:
        return err > 0 && rl_error_is_retriable(err) != 0;
    }
}

bool ringlog_error_is_fatal(int err)
{
    bool fatal = err == RINGLOG_ERR_FATAL || err == RINGLOG_ERR_UNSUPPORTED_VERSION;
    assert(!fatal || !ringlog_error_is_retriable(err));
    return fatal;
}

const char *ringlog_version(void)
{
    return RINGLOG_VERSION_STRING;
}

int ringlog_version_num(void)
{
    return RINGLOG_VERSION_NUM;
}
