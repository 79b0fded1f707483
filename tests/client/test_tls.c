/*
 * TLS end to end (issue 17 item 1): a real ringlogd with --tls-cert and
 * --tls-key, `openssl s_client`, the ringlog CLI and libringlog's
 * connection. Certificates come from scripts/make-dev-certs.sh and
 * tests/client/make_test_certs.sh (another CA, expired ones, one for the
 * wrong host), made afresh for every test.
 *
 * Every refusal is checked on both sides: the client's one-line error and
 * the broker's log line. A TLS connection opened before each test (`keep`)
 * must still answer after it: one bad peer never costs the others.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "broker_proc.h"
#include "conf.h"
#include "conn.h"
#include "frame.h"
#include "run_proc.h"
#include "test_rng.h"
#include "tls.h"
#include "wire.h"

static struct broker_proc broker;
static char certs[256];         /* the test's certificate directory */
static ringlog_conf *keep_conf; /* TLS to the broker, good CA */
static struct rl_conn *keep;    /* opened before the test, must answer after it */
static char port_text[16];

/* A path under certs: "good/ca.crt" -> "<certs>/good/ca.crt" (a few at a time). */
static const char *cert(const char *rel)
{
    static char bufs[8][400];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", certs, rel);
    return b;
}

static void make_certs(void)
{
    snprintf(certs, sizeof(certs), "/tmp/ringlog-tls-test-%d", (int)getpid());
    const char *argv[] = {"/bin/bash", RL_SOURCE_DIR "/tests/client/make_test_certs.sh",
                          RL_SOURCE_DIR, certs, NULL};
    struct proc_output out;
    int rc = run_proc(argv, NULL, NULL, 0, 30000, &out);
    cr_assert_eq(rc, 0, "make_test_certs.sh: %s", out.err);
    proc_output_free(&out);
}

/* Starts the broker with --tls-cert/--tls-key from dir (and extra args). */
static void start_tls_broker(const char *dir, const char *const *extra)
{
    char c[400], k[400];
    snprintf(c, sizeof(c), "%s/%s/broker.crt", certs, dir);
    snprintf(k, sizeof(k), "%s/%s/broker.key", certs, dir);
    const char *args[16] = {"--tls-cert", c, "--tls-key", k, "--log-level", "info"};
    int n = 6;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cr_assert_eq(broker_start(&broker, NULL, args), 0, "ringlogd with TLS starts");
    snprintf(port_text, sizeof(port_text), "%u", broker.port);
}

/* An rl_conn to the broker over TLS with conf's settings; NULL on failure (errbuf says why). */
static struct rl_conn *tls_conn(ringlog_conf *conf, const char *host, char *errbuf, size_t len)
{
    struct rl_conn *c;
    if (rl_conn_open(host, broker.port, 5000, &c, errbuf, len) != RINGLOG_OK)
        return NULL;
    cr_assert_eq(rl_conn_use_tls(c, conf->tls, host), RINGLOG_OK);
    return c;
}

static ringlog_conf *tls_conf(const char *ca, const char *cert_file, const char *key_file)
{
    ringlog_conf *conf = ringlog_conf_new();
    char err[256];
    cr_assert_eq(ringlog_conf_set(conf, "security.protocol", "tls", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_set(conf, "tls.ca", ca, err, sizeof(err)), 0);
    if (cert_file) {
        cr_assert_eq(ringlog_conf_set(conf, "tls.cert", cert_file, err, sizeof(err)), 0);
        cr_assert_eq(ringlog_conf_set(conf, "tls.key", key_file, err, sizeof(err)), 0);
    }
    cr_assert_eq(rl_tls_attach(conf, err, sizeof(err)), RINGLOG_OK, "%s", err);
    return conf;
}

/* A Metadata call on c: RINGLOG_OK when answered. */
static int metadata(struct rl_conn *c)
{
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    Ringlog__Response *resp = NULL;
    int err = rl_conn_call(c, &req, &resp, 5000);
    rl_conn_response_free(resp);
    return err;
}

static void open_keep(const char *ca, const char *cert_file, const char *key_file)
{
    keep_conf = tls_conf(ca, cert_file, key_file);
    char err[256];
    keep = tls_conn(keep_conf, "127.0.0.1", err, sizeof(err));
    cr_assert_not_null(keep, "%s", err);
    cr_assert_eq(metadata(keep), RINGLOG_OK, "%s", rl_conn_errstr(keep));
}

/* The connection opened before the test still answers. */
static void expect_keep_served(void)
{
    cr_assert_eq(metadata(keep), RINGLOG_OK, "the TLS connection opened before still answers: %s",
                 rl_conn_errstr(keep));
}

static void setup(void)
{
    make_certs();
    memset(&broker, 0, sizeof(broker));
}

static void teardown(void)
{
    rl_conn_close(keep);
    keep = NULL;
    ringlog_conf_destroy(keep_conf);
    keep_conf = NULL;
    if (broker.pid > 0) {
        cr_expect_eq(broker_stop(&broker), 0, "clean exit (log: %s)", broker.log_path);
        broker_remove_data(&broker);
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 120);

/* Runs the CLI with args against port; env_extra may be NULL. */
static int cli(const char *const *args, const char *const *env, const char *in, uint16_t port,
               struct proc_output *out)
{
    char bootstrap[64];
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%u", port);
    const char *argv[32] = {RL_CLI_BIN, "--bootstrap", bootstrap};
    int n = 3;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return run_proc(argv, env, in, in ? strlen(in) : 0, 60000, out);
}

/* Waits until the broker's log since `from` holds needle (it is written a moment after). */
static bool log_has(long from, const char *needle)
{
    for (int i = 0; i < 100; i++) {
        char *log = broker_log_since(&broker, from);
        bool found = log && strstr(log, needle);
        free(log);
        if (found)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

Test(tls, openssl_s_client_completes_a_handshake)
{
    start_tls_broker("good", NULL);
    char connect[64];
    snprintf(connect, sizeof(connect), "127.0.0.1:%u", broker.port);
    const char *v13[] = {"/usr/bin/openssl",
                         "s_client",
                         "-connect",
                         connect,
                         "-CAfile",
                         cert("good/ca.crt"),
                         "-verify_return_error",
                         "-brief",
                         "-verify_ip",
                         "127.0.0.1",
                         NULL};
    struct proc_output out;
    int rc = run_proc(v13, NULL, "", 0, 20000, &out);
    cr_assert_eq(rc, 0, "s_client: %s %s", out.out, out.err);
    cr_assert(strstr(out.err, "Verification: OK") && strstr(out.err, "TLSv1.3"), "%s", out.err);
    proc_output_free(&out);
    /* TLS 1.2 is served; 1.1 is not. */
    const char *v12[] = {
        "/usr/bin/openssl",     "s_client", "-connect", connect, "-CAfile", cert("good/ca.crt"),
        "-verify_return_error", "-brief",   "-tls1_2",  NULL};
    rc = run_proc(v12, NULL, "", 0, 20000, &out);
    cr_assert_eq(rc, 0, "s_client -tls1_2: %s", out.err);
    cr_assert(strstr(out.err, "TLSv1.2"), "%s", out.err);
    proc_output_free(&out);
    const char *v11[] = {"/usr/bin/openssl", "s_client", "-connect", connect, "-tls1_1", NULL};
    rc = run_proc(v11, NULL, "", 0, 20000, &out);
    cr_assert_neq(rc, 0, "TLS 1.1 is refused: %s", out.out);
    proc_output_free(&out);
}

Test(tls, produce_and_consume_over_tls_with_the_cli)
{
    start_tls_broker("good", NULL);
    char ca_env[450];
    snprintf(ca_env, sizeof(ca_env), "RINGLOG_TLS_CA=%s", cert("good/ca.crt"));
    const char *env[] = {"RINGLOG_SECURITY_PROTOCOL=tls", ca_env, NULL};
    struct proc_output out;
    const char *create[] = {"topic", "create", "secure", "--partitions", "2", NULL};
    cr_assert_eq(cli(create, env, NULL, broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
    const char *produce[] = {"produce", "secure", "--partition", "1", NULL};
    cr_assert_eq(cli(produce, env, "one\ntwo\nthree\n", broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
    /* The flags instead of the environment, the same thing. */
    const char *consume[] = {
        "--security-protocol", "tls", "--tls-ca",         cert("good/ca.crt"), "consume", "secure",
        "--partition",         "1",   "--from-beginning", "--count",           "3",       NULL};
    cr_assert_eq(cli(consume, NULL, NULL, broker.port, &out), 0, "%s", out.err);
    cr_assert_str_eq(out.out, "one\ntwo\nthree\n");
    proc_output_free(&out);
    /* The admin's own connections to each broker (cluster status, describe) are TLS too. */
    const char *status[] = {"cluster", "status", NULL};
    cr_assert_eq(cli(status, env, NULL, broker.port, &out), 0, "%s", out.err);
    cr_assert(strstr(out.out, " up controller"), "the broker answers over TLS: %s", out.out);
    proc_output_free(&out);
    const char *describe[] = {"topic", "describe", "secure", NULL};
    cr_assert_eq(cli(describe, env, NULL, broker.port, &out), 0, "%s", out.err);
    cr_assert(strstr(out.out, "partition=1 leader=1 replicas=1 isr=1 start=0 end=3 hw=3"), "%s",
              out.out);
    proc_output_free(&out);
}

Test(tls, a_plaintext_client_on_a_tls_listener_fails_cleanly)
{
    start_tls_broker("good", NULL);
    open_keep(cert("good/ca.crt"), NULL, NULL);
    long mark = broker_log_size(&broker);
    struct proc_output out;
    const char *list[] = {"topic", "list", NULL};
    cr_assert_eq(cli(list, NULL, NULL, broker.port, &out), 1);
    cr_assert(strstr(out.err, "--security-protocol tls"), "the client says what to do: %s",
              out.err);
    proc_output_free(&out);
    cr_assert(log_has(mark, "TLS handshake failed: wrong version number: not a TLS client"),
              "the broker says why");
    expect_keep_served();
}

Test(tls, a_tls_client_on_a_plaintext_listener_fails_cleanly)
{
    cr_assert_eq(broker_start(&broker, NULL, NULL), 0);
    long mark = broker_log_size(&broker);
    struct proc_output out;
    const char *list[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    cr_assert_eq(cli(list, NULL, NULL, broker.port, &out), 1);
    cr_assert(strstr(out.err, "TLS handshake with") && strstr(out.err, "is the broker serving TLS"),
              "%s", out.err);
    proc_output_free(&out);
    cr_assert(log_has(mark, "refused a TLS ClientHello: this listener is plaintext"));
    int fd = wire_connect(broker.port); /* plaintext clients go on as before */
    Ringlog__Response *r = wire_create_topic(fd, "plain", 1);
    cr_assert_not_null(r);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
}

/* A CLI call that must fail with `client_says` while the broker logs `broker_says`. */
static void expect_refused(const char *const *args, const char *client_says,
                           const char *broker_says)
{
    long mark = broker_log_size(&broker);
    struct proc_output out;
    cr_assert_eq(cli(args, NULL, NULL, broker.port, &out), 1, "%s", out.err);
    cr_assert(strstr(out.err, client_says), "client: want \"%s\" in: %s", client_says, out.err);
    proc_output_free(&out);
    cr_assert(log_has(mark, broker_says), "broker log wants \"%s\" (%s)", broker_says,
              broker.log_path);
    expect_keep_served();
}

Test(tls, a_broker_certificate_of_another_ca_is_refused)
{
    start_tls_broker("good", NULL);
    open_keep(cert("good/ca.crt"), NULL, NULL);
    const char *args[] = {
        "--security-protocol", "tls", "--tls-ca", cert("other/ca.crt"), "topic", "list", NULL};
    expect_refused(args, "certificate verify failed: unable to get local issuer certificate",
                   "the peer refused the handshake (tlsv1 alert unknown ca)");
}

Test(tls, an_expired_broker_certificate_is_refused)
{
    start_tls_broker("expired", NULL);
    cr_assert(log_has(0, "expired on"), "the broker warns at start-up");
    const char *args[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    long mark = broker_log_size(&broker);
    struct proc_output out;
    cr_assert_eq(cli(args, NULL, NULL, broker.port, &out), 1);
    cr_assert(strstr(out.err, "certificate verify failed: certificate has expired"), "%s", out.err);
    proc_output_free(&out);
    cr_assert(log_has(mark, "the peer refused the handshake (sslv3 alert certificate expired)"));
}

/* --tls-client-auth require: no certificate, an expired one, one of another CA; a good one works.
 */
Test(tls, client_certificates_under_require)
{
    const char *extra[] = {"--tls-client-auth", "require", "--tls-ca", cert("good/ca.crt"), NULL};
    start_tls_broker("good", extra);
    open_keep(cert("good/ca.crt"), cert("good/client.crt"), cert("good/client.key"));
    const char *none[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    expect_refused(none, "certificate required", "peer did not return a certificate");
    const char *expired[] = {"--security-protocol",
                             "tls",
                             "--tls-ca",
                             cert("good/ca.crt"),
                             "--tls-cert",
                             cert("expired/client.crt"),
                             "--tls-key",
                             cert("expired/client.key"),
                             "topic",
                             "list",
                             NULL};
    expect_refused(expired, "certificate expired",
                   "TLS handshake failed: certificate verify failed: certificate has expired");
    const char *stranger[] = {"--security-protocol",
                              "tls",
                              "--tls-ca",
                              cert("good/ca.crt"),
                              "--tls-cert",
                              cert("other/client.crt"),
                              "--tls-key",
                              cert("other/client.key"),
                              "topic",
                              "list",
                              NULL};
    expect_refused(stranger, "unknown ca",
                   "certificate verify failed: unable to get local issuer certificate");
    const char *good[] = {"--security-protocol",
                          "tls",
                          "--tls-ca",
                          cert("good/ca.crt"),
                          "--tls-cert",
                          cert("good/client.crt"),
                          "--tls-key",
                          cert("good/client.key"),
                          "topic",
                          "list",
                          NULL};
    struct proc_output out;
    cr_assert_eq(cli(good, NULL, NULL, broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
}

/* --tls-client-auth request: a client without a certificate is served. */
Test(tls, client_certificates_under_request_are_optional)
{
    const char *extra[] = {"--tls-client-auth", "request", "--tls-ca", cert("good/ca.crt"), NULL};
    start_tls_broker("good", extra);
    const char *none[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    struct proc_output out;
    cr_assert_eq(cli(none, NULL, NULL, broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
}

Test(tls, a_certificate_for_another_host_is_refused)
{
    start_tls_broker("wronghost", NULL);
    const char *by_ip[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    long mark = broker_log_size(&broker);
    struct proc_output out;
    cr_assert_eq(cli(by_ip, NULL, NULL, broker.port, &out), 1);
    cr_assert(strstr(out.err, "certificate verify failed: IP address mismatch"), "%s", out.err);
    proc_output_free(&out);
    cr_assert(log_has(mark, "TLS handshake failed: the peer refused the handshake"));
    /* By name, the same: the certificate is for other.example, not localhost. */
    ringlog_conf *conf = tls_conf(cert("good/ca.crt"), NULL, NULL);
    char err[256];
    struct rl_conn *c = tls_conn(conf, "localhost", err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(metadata(c), RINGLOG_ERR_PROTOCOL);
    cr_assert(strstr(rl_conn_errstr(c), "certificate verify failed: hostname mismatch"), "%s",
              rl_conn_errstr(c));
    rl_conn_close(c);
    ringlog_conf_destroy(conf);
}

/* A TLS session of the test's own on a blocking socket (no verification): for bytes no client
 * sends. NULL when the handshake fails. */
static SSL *raw_tls(SSL_CTX *ctx, int *fd)
{
    *fd = wire_connect(broker.port);
    cr_assert_geq(*fd, 0);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, *fd);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/*
 * Garbage at every layer, seeded: random bytes instead of a ClientHello,
 * a record header of TLS with random contents, random bytes instead of
 * records after a real handshake, and random frames inside real records.
 * The broker closes each (where it can tell), logs it, and serves on.
 */
Test(tls, garbage_at_every_layer_leaves_the_broker_serving)
{
    struct test_rng rng;
    test_rng_seed(&rng, "tls garbage", 17);
    start_tls_broker("good", NULL);
    open_keep(cert("good/ca.crt"), NULL, NULL);
    uint8_t junk[4096];
    for (int i = 0; i < 40; i++) {
        int fd = wire_connect(broker.port);
        cr_assert_geq(fd, 0, "connection %d accepted", i);
        size_t len = 1 + test_rng_below(&rng, sizeof(junk));
        test_rng_fill(&rng, junk, len);
        if (i % 2 == 0 && len > 5) { /* a handshake record header, random inside */
            junk[0] = 0x16;
            junk[1] = 0x03;
            junk[2] = (uint8_t)test_rng_below(&rng, 5);
        }
        wire_send_raw(fd, junk, len);
        wire_peer_closed(fd, i < 4 ? 2000 : 20); /* a partial record waits for more: move on */
        close(fd);
    }
    expect_keep_served();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    for (int i = 0; i < 10; i++) {
        int fd;
        SSL *ssl = raw_tls(ctx, &fd);
        cr_assert_not_null(ssl, "handshake %d", i);
        size_t len = 64 + test_rng_below(&rng, 2048);
        test_rng_fill(&rng, junk, len);
        if (i % 2 == 0)
            wire_send_raw(fd, junk, len); /* not records at all: bad MAC or bad version */
        else
            SSL_write(ssl, junk, (int)len); /* records of garbage frames */
        cr_assert(wire_peer_closed(fd, 5000), "garbage %d closes the connection", i);
        SSL_free(ssl);
        close(fd);
    }
    SSL_CTX_free(ctx);
    expect_keep_served();
    struct proc_output out;
    const char *list[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    cr_assert_eq(cli(list, NULL, NULL, broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
}

/* Copies src over dst through a temporary file and a rename (what a certificate tool does). */
static void replace_file(const char *src, const char *dst)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s.new' && mv '%s.new' '%s'", src, dst, dst, dst);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/*
 * SIGHUP loads the certificate and key again: new connections get the new
 * ones, a connection made before keeps going, and files that do not load
 * leave the last good pair in service.
 */
Test(tls, sighup_reloads_the_certificate_for_new_connections)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/live'", certs);
    cr_assert_eq(system(cmd), 0);
    replace_file(cert("good/broker.crt"), cert("live/broker.crt"));
    replace_file(cert("good/broker.key"), cert("live/broker.key"));
    start_tls_broker("live", NULL);
    open_keep(cert("good/ca.crt"), NULL, NULL);
    replace_file(cert("other/broker.crt"), cert("live/broker.crt"));
    replace_file(cert("other/broker.key"), cert("live/broker.key"));
    long mark = broker_log_size(&broker);
    cr_assert_eq(kill(broker.pid, SIGHUP), 0);
    cr_assert(log_has(mark, "SIGHUP: TLS certificate and key reloaded"));
    const char *old_ca[] = {
        "--security-protocol", "tls", "--tls-ca", cert("good/ca.crt"), "topic", "list", NULL};
    const char *new_ca[] = {
        "--security-protocol", "tls", "--tls-ca", cert("other/ca.crt"), "topic", "list", NULL};
    struct proc_output out;
    cr_assert_eq(cli(old_ca, NULL, NULL, broker.port, &out), 1, "the old CA no longer fits");
    proc_output_free(&out);
    cr_assert_eq(cli(new_ca, NULL, NULL, broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
    expect_keep_served();
    /* A broken file: refused, logged, and the pair loaded last stays. */
    FILE *f = fopen(cert("live/broker.crt"), "w");
    cr_assert_not_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    mark = broker_log_size(&broker);
    cr_assert_eq(kill(broker.pid, SIGHUP), 0);
    cr_assert(log_has(mark, "SIGHUP: TLS reload failed, still serving the previous certificate"));
    cr_assert_eq(cli(new_ca, NULL, NULL, broker.port, &out), 0, "%s", out.err);
    proc_output_free(&out);
    expect_keep_served();
}

/* Whether buf[0, len) is whole TLS records and nothing else (no plaintext frame in between). */
static bool only_tls_records(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off + 5 <= len) {
        if (buf[off] < 0x14 || buf[off] > 0x17 || buf[off + 1] != 0x03)
            return false;
        off += 5 + ((size_t)buf[off + 3] << 8 | buf[off + 4]);
    }
    return off == len;
}

/*
 * A PeerHello over TLS: links between brokers do not speak TLS yet, so the
 * connection must not be handed to one (which would answer in plaintext
 * on a TLS connection): it closes, with nothing but TLS records sent.
 */
Test(tls, a_peer_hello_over_tls_closes_the_connection)
{
    start_tls_broker("good", NULL);
    open_keep(cert("good/ca.crt"), NULL, NULL);
    Ringlog__PeerHello h = RINGLOG__PEER_HELLO__INIT;
    h.min_version = h.max_version = 1;
    h.cluster_id = "";
    h.node_id = 2;
    h.to_node_id = 1;
    h.incarnation = 7;
    h.software_version = "test";
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_PEER_HELLO;
    req.peer_hello = &h;
    uint8_t frame[512];
    size_t n = rl_frame_size(&req.base);
    cr_assert_leq(n, sizeof(frame));
    rl_frame_write(&req.base, frame);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int fd;
    SSL *ssl = raw_tls(ctx, &fd);
    cr_assert_not_null(ssl);
    cr_assert_eq(SSL_write(ssl, frame, (int)n), (int)n);
    uint8_t got[16384];
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (len < sizeof(got) && poll(&pfd, 1, 5000) == 1) {
        ssize_t r = recv(fd, got + len, sizeof(got) - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    cr_assert(only_tls_records(got, len), "only TLS records came back (%zu bytes)", len);
    cr_assert(wire_peer_closed(fd, 5000), "the connection is closed");
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    expect_keep_served();
}

/* A counter of the broker's /metrics (its port in metrics_port). */
static unsigned long long metric(uint16_t metrics_port, const char *name)
{
    static char page[1 << 16];
    cr_assert_eq(wire_http_get(metrics_port, "/metrics", page, sizeof(page)), 0);
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *at = strstr(page, key);
    cr_assert_not_null(at, "%s in /metrics", name);
    return strtoull(at + strlen(key), NULL, 10);
}

/* n produce requests of 3 records to partition p on c, each answered at the next offset. */
static int64_t produce_on(struct rl_conn *c, uint32_t p, int n, int64_t next)
{
    uint8_t batch[4096];
    size_t len = wire_build_batch(batch, sizeof(batch), "tls", 3, -1, -1, -1);
    for (int i = 0; i < n; i++) {
        Ringlog__PartitionProduceData pd = RINGLOG__PARTITION_PRODUCE_DATA__INIT;
        Ringlog__PartitionProduceData *pds[1] = {&pd};
        Ringlog__TopicProduceData td = RINGLOG__TOPIC_PRODUCE_DATA__INIT;
        Ringlog__TopicProduceData *tds[1] = {&td};
        Ringlog__ProduceRequest pr = RINGLOG__PRODUCE_REQUEST__INIT;
        Ringlog__Request req = RINGLOG__REQUEST__INIT;
        pd.partition = p;
        pd.records = (ProtobufCBinaryData){.data = batch, .len = len};
        td.topic = "mv";
        td.n_partitions = 1;
        td.partitions = pds;
        pr.acks = 1;
        pr.timeout_ms = 10000;
        pr.n_topics = 1;
        pr.topics = tds;
        req.body_case = RINGLOG__REQUEST__BODY_PRODUCE;
        req.produce = &pr;
        Ringlog__Response *r = NULL;
        cr_assert_eq(rl_conn_call(c, &req, &r, 10000), RINGLOG_OK, "%s", rl_conn_errstr(c));
        Ringlog__PartitionProduceResult *res = r->produce->topics[0]->partitions[0];
        cr_assert_eq(res->error, 0);
        cr_assert_eq(res->base_offset, next, "request %d to partition %u", i, p);
        next += 3;
        rl_conn_response_free(r);
    }
    return next;
}

/*
 * A TLS connection moves to the shard owning its partition like a
 * plaintext one (conn_move.c): its session goes with it, and every answer
 * before and after the moves comes in order.
 */
Test(tls, a_tls_connection_follows_its_partition_between_shards)
{
    uint16_t metrics_port = wire_free_port();
    char metrics[32];
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", metrics_port);
    const char *extra[] = {"--metrics", metrics, "--shards", "2", NULL};
    start_tls_broker("good", extra);
    open_keep(cert("good/ca.crt"), NULL, NULL);
    Ringlog__CreatableTopic t = RINGLOG__CREATABLE_TOPIC__INIT;
    Ringlog__CreatableTopic *ts[1] = {&t};
    Ringlog__CreateTopicsRequest ct = RINGLOG__CREATE_TOPICS_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    t.name = "mv";
    t.partitions = 2;
    ct.n_topics = 1;
    ct.topics = ts;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_TOPICS;
    req.create_topics = &ct;
    Ringlog__Response *r = NULL;
    cr_assert_eq(rl_conn_call(keep, &req, &r, 10000), RINGLOG_OK, "%s", rl_conn_errstr(keep));
    cr_assert_eq(wire_first_error(r), 0);
    rl_conn_response_free(r);
    unsigned long long before = metric(metrics_port, "ringlog_connections_moved_total");
    int64_t next0 = produce_on(keep, 0, 40, 0);
    int64_t next1 = produce_on(keep, 1, 40, 0);
    produce_on(keep, 0, 40, next0);
    produce_on(keep, 1, 40, next1);
    unsigned long long moved = metric(metrics_port, "ringlog_connections_moved_total") - before;
    cr_assert_geq(moved, 3, "the connection went back and forth (%llu moves)", moved);
    expect_keep_served();
}
