/*
 * Security as a user meets it (issue 17 items 2-4): the ringlog CLI against
 * a real ringlogd with a bootstrap user: users and ACLs made with the CLI,
 * SASL over plaintext and TLS, client-certificate principals (User:CN),
 * and the one-line errors of each refusal.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "run_proc.h"

static struct broker_proc broker;
static char bootstrap[64];
static char certs[256];

static void stop(void)
{
    broker_stop(&broker);
    broker_remove_data(&broker);
    if (certs[0]) {
        const char *argv[] = {"/bin/rm", "-rf", certs, NULL};
        struct proc_output out;
        run_proc(argv, NULL, NULL, 0, 10000, &out);
        proc_output_free(&out);
    }
}

static void start_plain(void)
{
    const char *args[] = {"--sasl-bootstrap-user", "admin:adminpw", "--auth-failure-delay-ms",
                          "200", NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%u", broker.port);
}

/*
 * Runs `ringlog --bootstrap B ARGS...` with the environment given (K=V
 * strings, NULL-ended, e.g. SASL credentials); asserts the exit status and
 * returns stdout and stderr together (static: valid until the next call).
 */
static const char *run_cli(const char *const *env, const char *stdin_data, int want, ...)
{
    static char saved[16384];
    const char *argv[32] = {RL_CLI_BIN, "--bootstrap", bootstrap};
    int n = 3;
    va_list ap;
    va_start(ap, want);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL && n < 31;)
        argv[n++] = s;
    va_end(ap);
    argv[n] = NULL;
    struct proc_output o;
    int rc = run_proc(argv, env, stdin_data, stdin_data ? strlen(stdin_data) : 0, 30000, &o);
    cr_assert_eq(rc, want, "ringlog %s %s: exit %d, want %d; stderr: %s", argv[3],
                 argv[4] ? argv[4] : "", rc, want, o.err);
    snprintf(saved, sizeof(saved), "%s%s", o.out, o.err);
    proc_output_free(&o);
    return saved;
}

/* The CLI's arguments, NULL added. */
#define run(env, in, want, ...) run_cli(env, in, want, __VA_ARGS__, (const char *)NULL)

static const char *const ADMIN[] = {"RINGLOG_SECURITY_PROTOCOL=sasl_plaintext",
                                    "RINGLOG_SASL_USERNAME=admin", "RINGLOG_SASL_PASSWORD=adminpw",
                                    NULL};
static const char *const BOB[] = {"RINGLOG_SECURITY_PROTOCOL=sasl_plaintext",
                                  "RINGLOG_SASL_MECHANISM=scram-sha-512",
                                  "RINGLOG_SASL_USERNAME=bob", "RINGLOG_SASL_PASSWORD=bobpw", NULL};

TestSuite(cli_security, .fini = stop, .timeout = 120);

Test(cli_security, users_acls_and_refusals, .init = start_plain)
{
    const char *out = run(NULL, NULL, 1, "topic", "list");
    cr_assert(strstr(out, "AUTHENTICATION_REQUIRED"), "%s", out);
    run(ADMIN, NULL, 0, "topic", "create", "orders");
    run(ADMIN, NULL, 0, "user", "create", "bob", "--password", "bobpw");
    out = run(ADMIN, NULL, 0, "user", "list");
    cr_assert_str_eq(out, "admin\nbob\n");
    /* bob may do nothing yet: the topic is not even listed. */
    cr_assert_str_eq(run(BOB, NULL, 0, "topic", "list"), "");
    out = run(BOB, "x\n", 1, "produce", "orders");
    cr_assert(strstr(out, "NOT_AUTHORIZED") &&
                  strstr(out, "User:bob may not describe topic orders"),
              "%s", out);
    run(ADMIN, NULL, 0, "acl", "add", "--principal", "User:bob", "--topic", "ord", "--prefix",
        "--operation", "write", "--allow");
    run(ADMIN, NULL, 0, "acl", "add", "--principal", "User:bob", "--topic", "orders", "--operation",
        "read", "--allow");
    out = run(ADMIN, NULL, 0, "acl", "list");
    cr_assert(strstr(out, "principal=User:bob resource=topic name=ord pattern=prefix "
                          "operation=write permission=allow\n"),
              "%s", out);
    run(BOB, "hello\nworld\n", 0, "produce", "orders");
    out = run(BOB, NULL, 0, "consume", "orders", "--from-beginning", "--count", "2", "--timeout-ms",
              "5000");
    cr_assert_str_eq(out, "hello\nworld\n");
    cr_assert_str_eq(run(BOB, NULL, 0, "topic", "list"), "orders\n");
    out = run(BOB, NULL, 1, "topic", "create", "orders2");
    cr_assert(strstr(out, "may not create topic orders2"), "%s", out);
    out = run(BOB, NULL, 1, "user", "create", "eve", "--password", "x");
    cr_assert(strstr(out, "may not alter cluster"), "%s", out);
    /* A deny wins over the prefix allow. */
    run(ADMIN, NULL, 0, "acl", "add", "--principal", "User:bob", "--topic", "orders", "--operation",
        "write", "--deny");
    cr_assert(strstr(run(BOB, "x\n", 1, "produce", "orders"), "NOT_AUTHORIZED"));
    run(ADMIN, NULL, 0, "acl", "remove", "--principal", "User:bob", "--topic", "orders",
        "--operation", "write", "--deny");
    run(BOB, "again\n", 0, "produce", "orders");
    /* Wrong password, unknown mechanism, usage errors. */
    const char *wrong[] = {"RINGLOG_SECURITY_PROTOCOL=sasl_plaintext", "RINGLOG_SASL_USERNAME=bob",
                           "RINGLOG_SASL_PASSWORD=nope", NULL};
    out = run(wrong, NULL, 1, "topic", "list");
    cr_assert(strstr(out, "AUTHENTICATION_FAILED") && strstr(out, "as bob"), "%s", out);
    out = run(ADMIN, NULL, 2, "--sasl-mechanism", "plain", "topic", "list");
    cr_assert(strstr(out, "SCRAM-SHA-256 or SCRAM-SHA-512"), "%s", out);
    out = run(ADMIN, NULL, 2, "acl", "add", "--principal", "User:bob", "--topic", "t",
              "--operation", "read");
    cr_assert(strstr(out, "--allow, --deny"), "%s", out);
    out = run(ADMIN, NULL, 2, "acl", "add", "--principal", "User:bob", "--topic", "t", "--cluster",
              "--operation", "read", "--allow");
    cr_assert(strstr(out, "exactly one of --topic"), "%s", out);
    /* Deleting bob: his credentials stop working. */
    run(ADMIN, NULL, 0, "user", "delete", "bob");
    cr_assert_str_eq(run(ADMIN, NULL, 0, "user", "list"), "admin\n");
    cr_assert(strstr(run(BOB, NULL, 1, "topic", "list"), "AUTHENTICATION_FAILED"));
    out = run(ADMIN, NULL, 1, "user", "delete", "bob");
    cr_assert(strstr(out, "UNKNOWN_USER"), "%s", out);
}

static const char *cert(const char *rel)
{
    static char bufs[4][400];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", certs, rel);
    return b;
}

/* TLS with client certificates required, and a bootstrap user. */
static void start_mtls(void)
{
    snprintf(certs, sizeof(certs), "/tmp/ringlog-sec-test-%d", (int)getpid());
    const char *mk[] = {"/bin/bash", RL_SOURCE_DIR "/scripts/make-dev-certs.sh", certs, NULL};
    struct proc_output o;
    cr_assert_eq(run_proc(mk, NULL, NULL, 0, 30000, &o), 0, "%s", o.err);
    proc_output_free(&o);
    const char *args[] = {"--tls-cert",
                          cert("broker.crt"),
                          "--tls-key",
                          cert("broker.key"),
                          "--tls-ca",
                          cert("ca.crt"),
                          "--tls-client-auth",
                          "require",
                          "--sasl-bootstrap-user",
                          "admin:adminpw",
                          NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%u", broker.port);
}

/* The certificate's CN is the principal: User:ringlog-client, under the same ACLs. */
Test(cli_security, sasl_over_tls_and_certificate_principal, .init = start_mtls)
{
    char ca[420], crt[420], key[420];
    snprintf(ca, sizeof(ca), "RINGLOG_TLS_CA=%s", cert("ca.crt"));
    snprintf(crt, sizeof(crt), "RINGLOG_TLS_CERT=%s", cert("client.crt"));
    snprintf(key, sizeof(key), "RINGLOG_TLS_KEY=%s", cert("client.key"));
    const char *admin[] = {
        "RINGLOG_SECURITY_PROTOCOL=sasl_tls", ca,  crt, key, "RINGLOG_SASL_USERNAME=admin",
        "RINGLOG_SASL_PASSWORD=adminpw",      NULL};
    const char *client[] = {"RINGLOG_SECURITY_PROTOCOL=tls", ca, crt, key, NULL};
    run(admin, NULL, 0, "topic", "create", "certs");
    /* Authenticated by its certificate (no SASL), but no ACL allows it anything yet. */
    cr_assert_str_eq(run(client, NULL, 0, "topic", "list"), "");
    const char *out = run(client, "x\n", 1, "produce", "certs");
    cr_assert(strstr(out, "User:ringlog-client may not describe topic certs"), "%s", out);
    run(admin, NULL, 0, "acl", "add", "--principal", "User:ringlog-client", "--topic", "certs",
        "--operation", "write", "--allow");
    run(client, "signed\n", 0, "produce", "certs");
    cr_assert_str_eq(run(client, NULL, 0, "topic", "list"), "certs\n");
}
