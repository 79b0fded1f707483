#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t cli_signal;
static volatile sig_atomic_t die_at_once = 1;

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("ringlog: ", fmt, ap);
    va_end(ap);
    return EXIT_FAILURE;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("ringlog: warning: ", fmt, ap);
    va_end(ap);
}

int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ringlog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see ringlog %s%s--help)\n", cmd ? cmd->name : "", cmd ? " " : "");
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_int(const struct cli_args *a, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *v = cli_arg(a, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return cli_usage(a->cmd, "--%s: expected an integer in [%lld, %lld], got \"%s\"", name,
                         (long long)min, (long long)max, v);
    *out = x;
    return 0;
}

/* The byte an escape "\\c" stands for; -1 for an unknown one. */
static int escaped(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case '0':
        return '\0';
    case '\\':
        return '\\';
    default:
        return -1;
    }
}

size_t cli_unescape(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        int ch = (unsigned char)*p;
        if (ch == '\\' && (ch = escaped(*++p)) < 0)
            return 0; /* also a lone trailing backslash: escaped('\0') is -1 */
        if (n == cap)
            return 0;
        out[n++] = (char)ch;
    }
    return n;
}

/*
 * Warnings and errors of the library's I/O threads ("cannot connect to
 * 127.0.0.1:7171: connection refused, retrying"): the user sees at once
 * why nothing happens. The library shows each distinct message once and a
 * repeat at most every 10 s with a count (rl_log), so a retry loop, even
 * with several brokers down at once, does not flood the terminal. One
 * fputs per line: lines of different threads do not interleave.
 */
static void on_library_log(int level, const char *message, void *opaque)
{
    (void)opaque;
    assert(message);
    if (level > RINGLOG_LOG_WARNING)
        return;
    char line[768];
    snprintf(line, sizeof(line), "ringlog: %s\n", message);
    fputs(line, stderr);
}

/* The security options of a, each defaulting to its environment variable. 0 or 2. */
static int apply_security(ringlog_conf *conf, const struct cli_args *a)
{
    for (int i = 0; i < CLI_NSECURITY; i++) {
        const struct cli_security_flag *f = &CLI_SECURITY[i];
        const char *value = a->security[i] ? a->security[i] : getenv(f->env);
        char err[512];
        if (value && *value && ringlog_conf_set(conf, f->key, value, err, sizeof(err)) != 0)
            return cli_usage(NULL, "%s%s: %s", a->security[i] ? "--" : "$",
                             a->security[i] ? f->flag.name : f->env, err);
    }
    return 0;
}

ringlog_conf *cli_conf(const struct cli_args *a)
{
    ringlog_conf *conf = ringlog_conf_new();
    if (!conf) {
        cli_fail("out of memory");
        return NULL;
    }
    const char *bootstrap = a->bootstrap;
    if (!bootstrap)
        bootstrap = getenv("RINGLOG_BOOTSTRAP");
    if (!bootstrap || !*bootstrap)
        bootstrap = "127.0.0.1:7171";
    char err[256];
    if (ringlog_conf_set(conf, "bootstrap", bootstrap, err, sizeof(err)) ||
        ringlog_conf_set(conf, "client-id", "ringlog-cli", err, sizeof(err))) {
        cli_usage(NULL, "%s", err);
        ringlog_conf_destroy(conf);
        return NULL;
    }
    if (apply_security(conf, a) != 0) {
        ringlog_conf_destroy(conf);
        return NULL;
    }
    ringlog_conf_set_log_cb(conf, on_library_log, NULL);
    return conf;
}

int cli_conf_apply(ringlog_conf *conf, const struct cli_args *a)
{
    assert(conf && a && a->nconf <= CLI_MAX_CONF);
    for (int i = 0; i < a->nconf; i++) {
        const char *pair = a->conf[i], *eq = strchr(pair, '=');
        char key[128], err[512];
        assert(eq && eq > pair); /* cli_args_parse checked */
        if ((size_t)(eq - pair) >= sizeof(key))
            return cli_usage(a->cmd, "-X %.40s...: no key is that long", pair);
        memcpy(key, pair, (size_t)(eq - pair));
        key[eq - pair] = '\0';
        if (ringlog_conf_set(conf, key, eq + 1, err, sizeof(err)) != RINGLOG_OK)
            return cli_usage(a->cmd, "-X %s: %s", pair, err);
    }
    return 0;
}

/* ---- signals ---- */

static void on_signal(int sig)
{
    cli_signal = sig;
    if (die_at_once) {
        static const char msg[] = "ringlog: interrupted\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(128 + sig);
    }
}

void cli_signals_install(void)
{
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_signals_die_at_once(bool on)
{
    die_at_once = on;
    if (on && cli_signal)
        on_signal(cli_signal);
}

void cli_signals_block(bool on)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(on ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int cli_interrupted_status(void)
{
    assert(cli_signal != 0);
    return 128 + cli_signal;
}

void cli_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    if (!cli_signal)
        nanosleep(&ts, NULL); /* EINTR on a signal: return at once */
}
