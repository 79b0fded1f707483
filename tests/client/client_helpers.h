/*
 * Small helpers shared by the client tests that talk to a broker process:
 * a configuration for an address (short fetch long-polls, so tests do not
 * wait) and topic creation through the admin API.
 */
#ifndef RINGLOG_TESTS_CLIENT_HELPERS_H
#define RINGLOG_TESTS_CLIENT_HELPERS_H

#include <criterion/criterion.h>

#include "ringlog.h"

static inline ringlog_conf *conf_at(const char *address)
{
    ringlog_conf *c = ringlog_conf_new();
    char err[256];
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", address, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "fetch-max-wait-ms", "100", NULL, 0), 0);
    return c;
}

static inline void create_topic_at(const char *address, const char *name, int partitions)
{
    ringlog_conf *c = conf_at(address);
    char err[256];
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    int rc = ringlog_admin_create_topic(a, name, partitions, 1, NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "create %s: %s %s", name, ringlog_err_name(rc), err);
    ringlog_admin_destroy(a);
    ringlog_conf_destroy(c);
}

#endif
