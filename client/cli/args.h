/*
 * Command-line parsing for one `ringlog` subcommand: each subcommand lists
 * its own flags (with the help text `--help` prints), so a flag of another
 * subcommand is refused instead of silently ignored. "--name value" and
 * "--name=value"; flags may come before, between or after the positional
 * arguments; "--" ends the flags; the global --bootstrap is accepted by
 * every subcommand, and so is -X KEY=VALUE (or -XKEY=VALUE, repeatable): a
 * library configuration key passed through, ours or Kafka's (kcat's -X).
 */
#ifndef RINGLOG_CLI_ARGS_H
#define RINGLOG_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_MAX_FLAGS 16
#define CLI_MAX_POSITIONAL 4
#define CLI_MAX_REPEAT 64
#define CLI_MAX_CONF 32

struct cli_flag {
    const char *name;    /* without the dashes */
    const char *metavar; /* NULL: a switch that takes no value */
    const char *help;
    bool repeat; /* may be given several times (every value kept) */
};

/*
 * The security options every command takes (DESIGN.md), before or after
 * the command: each sets a library key, and defaults to its environment
 * variable.
 */
struct cli_security_flag {
    struct cli_flag flag;
    const char *key; /* "tls.ca" */
    const char *env; /* "RINGLOG_TLS_CA" */
};
#define CLI_NSECURITY 7
extern const struct cli_security_flag CLI_SECURITY[CLI_NSECURITY];

struct cli_cmd {
    const char *name;     /* "topic create" */
    const char *operands; /* "NAME", "TOPIC", "" */
    int min_operands, max_operands;
    const char *summary;
    const struct cli_flag *flags; /* up to CLI_MAX_FLAGS */
    size_t nflags;
    const char *notes; /* printed after the flags by --help; may be NULL */
};

struct cli_args {
    const struct cli_cmd *cmd;
    const char *operands[CLI_MAX_POSITIONAL];
    int noperands;
    const char *values[CLI_MAX_FLAGS]; /* by flag index; "" for a switch that is set */
    const char *repeated[CLI_MAX_REPEAT];
    int nrepeated;
    const char *bootstrap;
    const char *security[CLI_NSECURITY]; /* by CLI_SECURITY index; NULL: not given */
    const char *conf[CLI_MAX_CONF];      /* -X KEY=VALUE, in order */
    int nconf;
};

/*
 * Parses argv[0..argc) (the words after the subcommand's name) for cmd,
 * starting from the global options given before the command (globals, may
 * be NULL). Returns 0; 2 after a usage error was printed on stderr; or -1
 * when --help printed the subcommand's help on stdout (exit 0).
 */
int cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv, const struct cli_args *globals,
                   struct cli_args *out);

/*
 * A global option (--bootstrap, a security option) at argv[*i], before
 * the command: 0 when taken (*i past its value), 1 when argv[*i] is none,
 * 2 after a usage error.
 */
int cli_take_global(int argc, char **argv, int *i, struct cli_args *out);

/* The value of flag `name` (which cmd must declare), "" for a set switch, or NULL. */
const char *cli_arg(const struct cli_args *a, const char *name);

/* Whether switch or flag `name` was given. */
bool cli_has(const struct cli_args *a, const char *name);

/* Prints cmd's help: usage line, summary, its flags, the global flags, notes. */
void cli_args_help(const struct cli_cmd *cmd, FILE *out);

#endif
