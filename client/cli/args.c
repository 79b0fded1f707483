#include "args.h"

#include <assert.h>
#include <string.h>

#include "cli.h"

static const struct cli_flag BOOTSTRAP_FLAG = {
    "bootstrap", "HOST:PORT[,...]",
    "brokers to start from ($RINGLOG_BOOTSTRAP, else 127.0.0.1:7171)", false};

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
    const char *a = argv[*i], *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    bool is_bootstrap = len == 9 && strncmp(name, "bootstrap", 9) == 0;
    int k = is_bootstrap ? -1 : find_flag(cmd, name, len);
    if (!is_bootstrap && k < 0)
        return cli_usage(cmd, "unknown option \"--%.*s\"", (int)len, name);
    const struct cli_flag *f = is_bootstrap ? &BOOTSTRAP_FLAG : &cmd->flags[k];
    if (!f->metavar) {
        if (eq)
            return cli_usage(cmd, "option \"--%s\" takes no value", f->name);
        out->values[k] = "";
        return 0;
    }
    const char *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!value)
        return cli_usage(cmd, "option \"--%s\" needs a value (%s)", f->name, f->metavar);
    if (is_bootstrap) {
        if (!*value)
            return cli_usage(cmd, "--bootstrap must not be empty");
        out->bootstrap = value;
    } else if (f->repeat) {
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

int cli_args_parse(const struct cli_cmd *cmd, int argc, char **argv, const char *bootstrap,
                   struct cli_args *out)
{
    assert(cmd && cmd->nflags <= CLI_MAX_FLAGS && cmd->max_operands <= CLI_MAX_POSITIONAL);
    memset(out, 0, sizeof(*out));
    out->cmd = cmd;
    out->bootstrap = bootstrap;
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
    fprintf(out, "  %-28s %s\n", "-X KEY=VALUE",
            "a library configuration key, libringlog's or Kafka's (bootstrap.servers, "
            "linger.ms, ...; see docs/CLIENT.md); repeatable; the command's own options win");
    fprintf(out, "  %-28s %s\n", "--help", "this help");
    fputs("  --  ends the options: later arguments are operands even if they start with --\n", out);
    if (cmd->notes)
        fprintf(out, "\n%s", cmd->notes);
}
