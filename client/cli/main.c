/*
 * ringlog: the command-line client (contract: DESIGN.md Part 2, docs/CLIENT.md).
 *
 *   ringlog [--bootstrap HOST:PORT,...] topic create|list|describe|delete ...
 *   ringlog [--bootstrap ...] produce TOPIC [...]   one message per stdin record
 *   ringlog [--bootstrap ...] consume TOPIC [...]   one message per output record
 *
 * Every subcommand has its own flags and --help (commands.h). Exit status 0
 * on success, 1 on an error (one line on stderr), 2 on bad usage, 130/143
 * when interrupted by SIGINT/SIGTERM.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct cli_command *const COMMANDS[] = {
    &CLI_TOPIC_CREATE,
    &CLI_TOPIC_LIST,
    &CLI_TOPIC_DESCRIBE,
    &CLI_TOPIC_DELETE,
    &CLI_TOPIC_ADD_PARTITIONS,
    &CLI_TOPIC_DESCRIBE_CONFIG,
    &CLI_TOPIC_ALTER_CONFIG,
    &CLI_TOPIC_DELETE_RECORDS,
    &CLI_TOPIC_OFFSETS,
    &CLI_PRODUCE,
    &CLI_CONSUME,
    &CLI_CLUSTER_STATUS,
    &CLI_PARTITION_REASSIGN,
    &CLI_BROKER_DECOMMISSION,
    &CLI_USER_CREATE,
    &CLI_USER_DELETE,
    &CLI_USER_LIST,
    &CLI_ACL_ADD,
    &CLI_ACL_REMOVE,
    &CLI_ACL_LIST,
    &CLI_GROUP_LIST,
    &CLI_GROUP_DESCRIBE,
    &CLI_GROUP_DELETE,
    &CLI_GROUP_RESET,
};
#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static void usage(FILE *out)
{
    fputs("usage: ringlog [--bootstrap HOST:PORT[,HOST:PORT...]] COMMAND [ARGS] [OPTIONS]\n\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct cli_cmd *c = COMMANDS[i]->spec;
        char left[64];
        snprintf(left, sizeof(left), "%s %s", c->name, c->operands);
        fprintf(out, "  %-22s %.*s\n", left, (int)strcspn(c->summary, "\n"), c->summary);
    }
    fputs("\nglobal options:\n"
          "  --bootstrap HOST:PORT[,...]  brokers to start from ($RINGLOG_BOOTSTRAP, else "
          "127.0.0.1:7171)\n"
          "  --security-protocol P        plaintext, tls, sasl_plaintext or sasl_tls "
          "($RINGLOG_SECURITY_PROTOCOL)\n"
          "  --tls-ca FILE                CA certificates the broker's must chain to "
          "($RINGLOG_TLS_CA)\n"
          "  --tls-cert FILE, --tls-key FILE  a client certificate and its key "
          "($RINGLOG_TLS_CERT, $RINGLOG_TLS_KEY)\n"
          "  --sasl-mechanism M           scram-sha-256 or scram-sha-512 "
          "($RINGLOG_SASL_MECHANISM)\n"
          "  --sasl-username U, --sasl-password P  SASL credentials ($RINGLOG_SASL_USERNAME, "
          "$RINGLOG_SASL_PASSWORD)\n"
          "  --version                    print the version\n"
          "  --help                       this help; COMMAND --help lists a command's options\n"
          "\nExit status: 0 success, 1 error (one line on stderr), 2 usage error, 130/143 "
          "interrupted.\n",
          out);
}

/* The command named by words (one, or two for "topic X"); *nwords gets how many it used. */
static const struct cli_command *find_command(int argc, char **argv, int *nwords)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *name = COMMANDS[i]->spec->name, *sp = strchr(name, ' ');
        size_t first = sp ? (size_t)(sp - name) : strlen(name);
        if (strlen(argv[0]) != first || strncmp(argv[0], name, first) != 0)
            continue;
        if (!sp) {
            *nwords = 1;
            return COMMANDS[i];
        }
        if (argc > 1 && strcmp(argv[1], sp + 1) == 0) {
            *nwords = 2;
            return COMMANDS[i];
        }
    }
    return NULL;
}

/* "topic" alone, "topic frobnicate", "frobnicate": a usage error that says which. */
static int unknown_command(int argc, char **argv)
{
    if (strcmp(argv[0], "topic") != 0)
        return cli_usage(NULL, "unknown command \"%s\"", argv[0]);
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        return cli_usage(NULL, "topic needs a subcommand: create, list, describe or delete");
    }
    return cli_usage(NULL, "unknown topic subcommand \"%s\" (create, list, describe, delete)",
                     argv[1]);
}

int main(int argc, char **argv)
{
    cli_signals_install();
    struct cli_args globals;
    memset(&globals, 0, sizeof(globals));
    int i = 1;
    /* Global options before the command. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            printf("ringlog %s\n", ringlog_version());
            return 0;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "-X", 2) == 0)
            return cli_usage(NULL, "-X goes after the command: ringlog COMMAND ... -X KEY=VALUE");
        int g = cli_take_global(argc, argv, &i, &globals);
        if (g == 0)
            continue;
        if (g == 2)
            return CLI_EXIT_USAGE;
        return cli_usage(NULL, "unknown option \"%s\" before the command", a);
    }
    if (i == argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    int nwords = 0;
    const struct cli_command *cmd = find_command(argc - i, argv + i, &nwords);
    if (!cmd)
        return unknown_command(argc - i, argv + i);
    assert(nwords >= 1);
    struct cli_args args;
    int rc = cli_args_parse(cmd->spec, argc - i - nwords, argv + i + nwords, &globals, &args);
    if (rc)
        return rc < 0 ? 0 : rc;
    ringlog_conf *conf = cli_conf(&args);
    if (!conf)
        return CLI_EXIT_USAGE;
    rc = cli_conf_apply(conf, &args);
    if (rc == 0)
        rc = cmd->run(&args, conf);
    ringlog_conf_destroy(conf);
    return rc;
}
