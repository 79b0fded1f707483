/*
 * What every `ringlog` subcommand shares: exit codes, one-line errors and
 * usage errors, integer flags, the client configuration (with the
 * library's connection warnings shown on stderr), and Ctrl-C / SIGTERM.
 *
 * Exit status: 0 success, 1 an error, 2 a usage error, 128+signal when
 * interrupted (130 for SIGINT, 143 for SIGTERM).
 */
#ifndef RINGLOG_CLI_CLI_H
#define RINGLOG_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "args.h"
#include "ringlog.h"

#define CLI_EXIT_USAGE 2

/* Prints "ringlog: ..." on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "ringlog: warning: ..." on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error of cmd (NULL: of ringlog itself): one line and a pointer to --help; returns 2. */
int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads integer flag `name` into *out when given (else leaves it). 0, or 2 after a message. */
int cli_int(const struct cli_args *a, const char *name, int64_t min, int64_t max, int64_t *out);

/*
 * Turns a delimiter as typed ("\n", "\0", "\t", "\r", "\\", or literal
 * bytes) into bytes. Returns the length (>= 1), or 0 when it is empty or
 * has a bad escape.
 */
size_t cli_unescape(const char *text, char *out, size_t cap);

/*
 * A configuration for a's --bootstrap (none: $RINGLOG_BOOTSTRAP, else
 * 127.0.0.1:7171) and security options (each defaulting to its
 * $RINGLOG_<NAME>). The library's warnings and errors (a broker that cannot
 * be reached, a peer that does not speak the protocol) are printed on
 * stderr, each distinct one at most every 10 s. NULL after a message.
 */
ringlog_conf *cli_conf(const struct cli_args *a);

/*
 * Applies the -X KEY=VALUE pairs of a, in order, to conf (before the
 * command sets its own options, which therefore win). 0, or 2 after a
 * usage error naming the pair and the library's reason.
 */
int cli_conf_apply(ringlog_conf *conf, const struct cli_args *a);

/* ---- signals ---- */

/* SIGINT or SIGTERM once received (0 before). Set by the handler only. */
extern volatile sig_atomic_t cli_signal;

/*
 * Installs the SIGINT/SIGTERM handler (no SA_RESTART: blocking reads return
 * EINTR). In "die" mode, the default, a signal ends the process at once
 * with 128+signal; a subcommand with work to wind down (report what was
 * not delivered, commit offsets) turns it off and watches cli_signal.
 */
void cli_signals_install(void);
void cli_signals_die_at_once(bool on);

/* Blocks (or unblocks) SIGINT and SIGTERM in this thread: threads created meanwhile keep them
 * blocked, so only the main thread is interrupted. */
void cli_signals_block(bool on);

/* 128 + the signal received. */
int cli_interrupted_status(void);

/* Sleeps ms unless a signal arrives first. */
void cli_sleep_ms(int ms);

#endif
