/* ringlog topic create | list | describe | delete. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "format.h"

static const struct cli_flag CREATE_FLAGS[] = {
    {"partitions", "N", "number of partitions (the broker's --default-partitions)", false},
    {"replication-factor", "R", "replicas per partition (the broker's default)", false},
    {"retention-ms", "MS", "delete closed segments older than this; -1: never", false},
    {"retention-bytes", "B", "delete the oldest closed segments past this size; -1: never", false},
    {"segment-bytes", "B", "roll to a new segment file at this size", false},
    {"cleanup-policy", "POLICY",
     "delete (retention), compact (keep the newest record of every key) or compact,delete", false},
    {"delete-retention-ms", "MS", "compaction keeps a tombstone this long (broker: 24 h)", false},
};

static int topic_create(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    int64_t parts = 0, rf = 0;
    ringlog_topic_config cfg = {0};
    ringlog_topic_cleanup cleanup = {0};
    int rc;
    if ((rc = cli_int(a, "partitions", 1, 100000, &parts)) ||
        (rc = cli_int(a, "replication-factor", 1, 100, &rf)) ||
        (rc = cli_int(a, "retention-ms", -1, INT64_MAX, &cfg.retention_ms)) ||
        (rc = cli_int(a, "retention-bytes", -1, INT64_MAX, &cfg.retention_bytes)) ||
        (rc = cli_int(a, "segment-bytes", 1, INT64_MAX, &cfg.segment_bytes)) ||
        (rc = cli_int(a, "delete-retention-ms", 1, INT64_MAX, &cleanup.delete_retention_ms)))
        return rc;
    const char *policy = cli_arg(a, "cleanup-policy");
    if (policy && strcmp(policy, "delete") != 0 && strcmp(policy, "compact") != 0 &&
        strcmp(policy, "compact,delete") != 0 && strcmp(policy, "delete,compact") != 0)
        return cli_usage(a->cmd, "--cleanup-policy: delete, compact or compact,delete, not \"%s\"",
                         policy);
    cleanup.policy = policy;
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    int e = ringlog_admin_create_topic_cleanup(adm, name, (int32_t)parts, (int32_t)rf, &cfg,
                                               &cleanup, err, sizeof(err));
    ringlog_admin_destroy(adm);
    return e ? cli_fail("topic create %s: %s: %s", name, ringlog_err_name(e), err) : 0;
}

static int topic_delete(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    int e = ringlog_admin_delete_topic(adm, name, err, sizeof(err));
    ringlog_admin_destroy(adm);
    return e ? cli_fail("topic delete %s: %s: %s", name, ringlog_err_name(e), err) : 0;
}

static int topic_list(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 0 && conf);
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512], **names;
    size_t n;
    int e = ringlog_admin_list_topics(adm, &names, &n, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("topic list: %s: %s", ringlog_err_name(e), err);
    if (cli_has(a, "json")) {
        cli_format_names_json(stdout, names, n);
    } else {
        for (size_t i = 0; i < n; i++)
            puts(names[i]);
    }
    ringlog_free(names);
    return 0;
}

static int topic_describe(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    ringlog_topic_info *ti;
    int e = ringlog_admin_describe_topic(adm, name, &ti, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("topic describe %s: %s: %s", name, ringlog_err_name(e), err);
    assert(ti->partition_count == 0 || ti->partitions);
    if (cli_has(a, "json")) {
        cli_format_topic_json(stdout, ti);
    } else {
        for (size_t i = 0; i < ti->partition_count; i++) {
            cli_format_partition(stdout, &ti->partitions[i]);
            fputc('\n', stdout);
        }
    }
    ringlog_free(ti);
    return 0;
}

static const struct cli_flag JSON_FLAG[] = {{"json", NULL, "print JSON instead of text", false}};

#define NFLAGS(f) (sizeof(f) / sizeof((f)[0]))

static const struct cli_cmd CREATE = {
    "topic create",
    "NAME",
    1,
    1,
    "Creates a topic (silent on success).",
    CREATE_FLAGS,
    NFLAGS(CREATE_FLAGS),
    "Zero or unset values take the broker's defaults. On a cluster the replicas are placed\n"
    "across the brokers (at most one per broker) by the controller.\n"};
static const struct cli_cmd LIST = {
    "topic list", "", 0,   0, "Prints every topic name, one a line, sorted (--json: one array).",
    JSON_FLAG,    1,  NULL};
static const struct cli_cmd DESCRIBE = {
    "topic describe",
    "NAME",
    1,
    1,
    "Prints a line per partition: partition=P leader=ID replicas=ID,.. isr=ID,.. start=OFFSET\n"
    "end=OFFSET hw=OFFSET (--json: one object with the topic's config and partitions).",
    JSON_FLAG,
    1,
    NULL};
static const struct cli_cmd DELETE = {
    "topic delete", "NAME", 1,   1, "Deletes a topic and its data (silent on success).",
    NULL,           0,      NULL};

const struct cli_command CLI_TOPIC_CREATE = {&CREATE, topic_create};
const struct cli_command CLI_TOPIC_LIST = {&LIST, topic_list};
const struct cli_command CLI_TOPIC_DESCRIBE = {&DESCRIBE, topic_describe};
const struct cli_command CLI_TOPIC_DELETE = {&DELETE, topic_delete};
