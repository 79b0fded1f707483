/*
 * The `ringlog` subcommands: each one's flags and help (struct cli_cmd) and
 * its body, run with the parsed arguments and a configuration (cli_conf).
 * A body returns the process exit status.
 */
#ifndef RINGLOG_CLI_COMMANDS_H
#define RINGLOG_CLI_COMMANDS_H

#include "args.h"
#include "ringlog.h"

typedef int (*cli_run_fn)(const struct cli_args *a, ringlog_conf *conf);

struct cli_command {
    const struct cli_cmd *spec;
    cli_run_fn run;
};

extern const struct cli_command CLI_TOPIC_CREATE, CLI_TOPIC_LIST, CLI_TOPIC_DESCRIBE,
    CLI_TOPIC_DELETE, CLI_PRODUCE, CLI_CONSUME, CLI_CLUSTER_STATUS, CLI_PARTITION_REASSIGN,
    CLI_BROKER_DECOMMISSION, CLI_USER_CREATE, CLI_USER_DELETE, CLI_USER_LIST, CLI_ACL_ADD,
    CLI_ACL_REMOVE, CLI_ACL_LIST, CLI_TOPIC_ADD_PARTITIONS, CLI_TOPIC_DESCRIBE_CONFIG,
    CLI_TOPIC_ALTER_CONFIG, CLI_TOPIC_DELETE_RECORDS, CLI_TOPIC_OFFSETS;
extern const struct cli_command CLI_GROUP_LIST, CLI_GROUP_DESCRIBE, CLI_GROUP_DELETE,
    CLI_GROUP_RESET;

/* A new admin client, or NULL after printing why (cmd_topic_admin.c). */
ringlog_admin *cli_admin(ringlog_conf *conf);

#endif
