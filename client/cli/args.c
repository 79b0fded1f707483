#include "args.h"

#include <assert.h>
#include <string.h>

#include "cli.h"

static const struct cli_flag BOOTSTRAP_FLAG = {
    "bootstrap", "HOST:PORT[,...]",
    "brokers to start from ($RINGLOG_BOOTSTRAP, else 127.0.0.1:7171)", false};

const struct cli_security_flag CLI_SECURITY[CLI_NSECURITY] = {
    {{"security-protocol", "P",
      "plaintext, tls, sasl_plaintext or sasl_tls ($RINGLOG_SECURITY_PROTOCOL)", false},
     "security.protocol",
     "RINGLOG_SECURITY_PROTOCOL"},
    {{"tls-ca", "FILE", "CA certificates the broker's must chain to ($RINGLOG_TLS_CA)", false},
     "tls.ca",
     "RINGLOG_TLS_CA"},
    {{"tls-cert", "FILE", "client certificate, PEM ($RINGLOG_TLS_CERT)", false},
     "tls.cert",
     "RINGLOG_TLS_CERT"},
    {{"tls-key", "FILE", "its private key, PEM ($RINGLOG_TLS_KEY)", false},
     "tls.key",
     "RINGLOG_TLS_KEY"},
    {{"sasl-mechanism", "M",
      "scram-sha-256 (the default) or scram-sha-512 ($RINGLOG_SASL_MECHANISM)", false},
     "sasl.mechanism",
     "RINGLOG_SASL_MECHANISM"},
    {{"sasl-username", "U", "SASL user name ($RINGLOG_SASL_USERNAME)", false},
     "sasl.username",
     "RINGLOG_SASL_USERNAME"},
    {{"sasl-password", "P",
      "SASL password ($RINGLOG_SASL_PASSWORD; the environment keeps it out of ps)", false},
     "sasl.password",
     "RINGLOG_SASL_PASSWORD"},
};

/* Index in CLI_SECURITY of the flag called name[0..len), -1 when it is none. */
static int find_security(const char *name, size_t len)
{
    for (int i = 0; i < CLI_NSECURITY; i++)
        if (strlen(CLI_SECURITY[i].flag.name) == len &&
            strncmp(CLI_SECURITY[i].flag.name, name, len) == 0)
            return i;
    return -1;
}

/* A global option's value at argv[*i] ("--name=value" or "--name value"); 0 or 2. */
static int global_value(const struct cli_cmd *cmd, const struct cli_flag *f, const char *eq,
                        int argc, char **argv, int *i, const char **value)
{
    *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!*value)
        return cli_usage(cmd, "option \"--%s\" needs a value (%s)", f->name, f->metavar);
    if (!**value)
        return cli_usage(cmd, "--%s must not be empty", f->name);
    return 0;
}

/* --bootstrap or a security option at argv[*i]: 0 taken, 1 none of them, 2 usage error. */
static int take_global(const struct cli_cmd *cmd, int argc, char **argv, int *i,
                       struct cli_args *out)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (len == 9 && strncmp(name, "bootstrap", 9) == 0)
        return global_value(cmd, &BOOTSTRAP_FLAG, eq, argc, argv, i, &out->bootstrap);
    int k = find_security(name, len);
    if (k < 0)
        return 1;
    return global_value(cmd, &CLI_SECURITY[k].flag, eq, argc, argv, i, &out->security[k]);
}

int cli_take_global(int argc, char **argv, int *i, struct cli_args *out)
{
    assert(*i < argc && out);
    if (strncmp(argv[*i], "--", 2) != 0)
        return 1;
    return take_global(NULL, argc, argv, i, out);
}

/* Index of the flag called name[0..len) in cmd, -1 when it has none. */
static int find_flag(const struct cli_cmd *cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < cmd->nflags; i++)
        if (strlen(cmd->flags[i].name) == len && strncmp(cmd->flags[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* One "--name[=value]" at argv[*i]; advances *i past a separate value. Returns 0 or 2. */
static int take_flag(const struct cli_cmd *cmd, int argc, char **argv, int *i, struct cli_args *out)
{
    int g = take_global(cmd, argc, argv, i, out);
    if (g != 1)
        return g;
    const char *a = argv[*i], *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int k = find_flag(cmd, name, len);
    if (k < 0)
        return cli_usage(cmd, "unknown option \"--%.*s\"", (int)len, name);
    const struct cli_flag *f = &cmd->flags[k];
    if (!f->metavar) {
        if (eq)
            return cli_usage(cmd, "option \"--%s\" takes no value", f->name);
        out->values[k] = "";
        return 0;
    }
    const char *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!value)
        return cli_usage(cmd, "option \"--%s\" needs a value (%s)", f->name, f->metavar);
    if (f->repeat) {
        if (out->nrepeated == CLI_MAX_REPEAT)
            return cli_usage(cmd, "at most %d --%s options", CLI_MAX_REPEAT, f->name);
        out->repeated[out->nrepeated++] = value;
        out->values[k] = value;
    } else {
        out->values[k] = value;
    }
    return 0;
}

/* One "-X KEY=VALUE" or "-XKEY=VALUE" at argv[*i]; advances *i past a separate value. 0 or 2. */
static int take_conf(const struct cli_cmd *cmd, int argc, char **argv, int *i, struct cli_args *out)
{
    const char *pair = argv[*i][2] ? argv[*i] + 2 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!pair)
        return cli_usage(cmd, "option \"-X\" needs a value (KEY=VALUE)");
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair)
        return cli_usage(cmd, "-X %s: expected KEY=VALUE", pair);
    if (out->nconf == CLI_MAX_CONF)
        return cli_usage(cmd, "at most %d -X options", CLI_MAX_CONF);
    assert(out->nconf < CLI_MAX_CONF);
    out->conf[out->nconf++] = pair;
    return 0;
}

int cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv, const struct cli_args *globals,
                   struct cli_args *out)
{
    assert(cmd && cmd->nflags <= CLI_MAX_FLAGS && cmd->max_operands <= CLI_MAX_POSITIONAL);
    memset(out, 0, sizeof(*out));
    out->cmd = cmd;
    if (globals) {
        out->bootstrap = globals->bootstrap;
        memcpy(out->security, globals->security, sizeof(out->security));
    }
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            cli_args_help(cmd, stdout);
            return -1;
        }
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1] == '-') {
            int rc = take_flag(cmd, argc, argv, &i, out);
            if (rc)
                return rc;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1] == 'X') {
            int rc = take_conf(cmd, argc, argv, &i, out);
            if (rc)
                return rc;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1] != '\0')
            return cli_usage(cmd, "unknown option \"%s\" (options are spelled --name)", a);
        if (out->noperands == cmd->max_operands)
            return cli_usage(cmd, "unexpected argument \"%s\"", a);
        out->operands[out->noperands++] = a;
    }
    if (out->noperands < cmd->min_operands)
        return cli_usage(cmd, "%s needs %s", cmd->name, cmd->operands);
    return 0;
}

const char *cli_arg(const struct cli_args *a, const char *name)
{
    int k = find_flag(a->cmd, name, strlen(name));
    assert(k >= 0); /* a subcommand only asks for flags it declares */
    return a->values[k];
}

bool cli_has(const struct cli_args *a, const char *name)
{
    return cli_arg(a, name) != NULL;
}

static void print_flag(FILE *out, const struct cli_flag *f)
{
    char left[64];
    snprintf(left, sizeof(left), "--%s%s%s", f->name, f->metavar ? " " : "",
             f->metavar ? f->metavar : "");
    fprintf(out, "  %-28s %s%s\n", left, f->help, f->repeat ? " (repeatable)" : "");
}

void cli_args_help(const struct cli_cmd *cmd, FILE *out)
{
    assert(cmd && out);
    fprintf(out, "usage: ringlog %s%s%s [options]\n%s\n", cmd->name, *cmd->operands ? " " : "",
            cmd->operands, cmd->summary);
    if (cmd->nflags)
        fputs("\noptions:\n", out);
    for (size_t i = 0; i < cmd->nflags; i++)
        print_flag(out, &cmd->flags[i]);
    fputs("\nglobal options:\n", out);
    print_flag(out, &BOOTSTRAP_FLAG);
    for (int i = 0; i < 4; i++) /* the SASL ones only say "not yet" */
        print_flag(out, &CLI_SECURITY[i].flag);
    fprintf(out, "  %-28s %s\n", "-X KEY=VALUE",
            "a library configuration key, libringlog's or Kafka's (bootstrap.servers, "
            "linger.ms, ...; see docs/CLIENT.md); repeatable; the command's own options win");
    fprintf(out, "  %-28s %s\n", "--help", "this help");
    fputs("  --  ends the options: later arguments are operands even if they start with --\n", out);
    if (cmd->notes)
        fprintf(out, "\n%s", cmd->notes);
}
