/*
 * What an operator meets first: the config file's syntax (comments,
 * quotes, errors with line numbers), ringlogd's answers to bad flags and
 * --version, a start that fails on a busy port leaving nothing on disk, the
 * ready line naming the metrics address, GET /health, and the metrics port
 * refusing a non-HTTP client at once.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_proc.h"
#include "config.h"
#include "wire.h"

TestSuite(ops, .timeout = 60);

/* Writes text to a new temporary file; its path goes to path (>= 32 bytes). */
static void write_temp(char *path, const char *text)
{
    strcpy(path, "/tmp/ringlogd-ops-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* broker_config_parse on "--config FILE" where FILE holds text. */
static int parse_file(const char *text, struct broker_config *cfg, char *err, size_t err_len)
{
    char path[64];
    write_temp(path, text);
    char *argv[] = {"ringlogd", "--config", path, NULL};
    err[0] = '\0';
    int rc = broker_config_parse(cfg, 3, argv, err, err_len);
    unlink(path);
    return rc;
}

Test(ops, config_file_comments_spaces_and_quotes)
{
    struct broker_config cfg;
    char err[512];
    const char *text = "# a whole-line comment\n"
                       "   data-dir   =   /x/data  # where the logs live\n"
                       "node-id = 7\t# the seventh\n"
                       "\n"
                       "   # indented comment\n"
                       "log-level=warn#no space before this '#', so it is part of the value\n";
    cr_assert_eq(parse_file(text, &cfg, err, sizeof(err)), -1, "log-level is not valid");
    cr_assert(strstr(err, ":6: invalid value for --log-level"), "%s", err);

    text = "data-dir = /x/data  # where the logs live\nnode-id = 7\t# the seventh\n";
    cr_assert_eq(parse_file(text, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.data_dir, "/x/data");
    cr_assert_eq(cfg.node_id, 7);

    text = "data-dir = \"/d with space/#1\"   # quoted: '#' and spaces kept\n"
           "metrics = off\n";
    cr_assert_eq(parse_file(text, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.data_dir, "/d with space/#1");
    cr_assert(!cfg.metrics_enabled);

    text = "data-dir = /data#2\n";
    cr_assert_eq(parse_file(text, &cfg, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.data_dir, "/data#2", "a '#' inside a word is not a comment");
}

Test(ops, config_file_errors_name_the_line)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"shards = 1\nthis line is wrong\n", ":2: expected 'key = value'"},
        {"\n\n = 3\n", ":3: expected 'key = value': the key is missing"},
        {"node-id =   # nothing\n", ":1: expected 'key = value': the value is missing"},
        {"# ok\nno such key = 1\n", ":2: expected 'key = value': a key is"},
        {"bogus = 1\n", ":1: unknown key 'bogus'"},
        {"shards = 1\ndata-dir = \"/x\n", ":2: unterminated quote"},
        {"config = /etc/other\n", ":1: 'config' cannot be nested"},
        {"shards = 1  # fine\nshards = many\n", ":2: invalid value for --shards: 'many'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct broker_config cfg;
        char err[512];
        cr_assert_eq(parse_file(cases[i].text, &cfg, err, sizeof(err)), -1, "case %zu", i);
        cr_assert(strstr(err, cases[i].want), "case %zu: want \"%s\", got \"%s\"", i, cases[i].want,
                  err);
    }
}

Test(ops, unknown_flags_and_version)
{
    char out[4096];
    const char *bare[] = {"--bogus", NULL};
    cr_assert_eq(broker_run_once(bare, out, sizeof(out)), 2);
    cr_assert(strstr(out, "unknown option '--bogus'"), "got: %s", out);
    cr_assert_null(strstr(out, "needs a value"), "got: %s", out);
    const char *with_value[] = {"--shards", "1", "--bogus=3", NULL};
    cr_assert_eq(broker_run_once(with_value, out, sizeof(out)), 2);
    cr_assert(strstr(out, "unknown option '--bogus'"), "got: %s", out);
    const char *missing[] = {"--shards", NULL};
    cr_assert_eq(broker_run_once(missing, out, sizeof(out)), 2);
    cr_assert(strstr(out, "--shards needs a value"), "got: %s", out);
    const char *version[] = {"--version", NULL};
    cr_assert_eq(broker_run_once(version, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "ringlogd 0.1.0\n");
}

/* A listening socket on 127.0.0.1 (some free port); returns the fd, its port in *port. */
static int hold_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

Test(ops, busy_port_leaves_no_data_dir)
{
    uint16_t busy;
    int held = hold_port(&busy);
    char parent[] = "/tmp/ringlogd-ops-dir-XXXXXX";
    cr_assert_not_null(mkdtemp(parent));
    char dir[64], addr[32], out[4096];
    snprintf(dir, sizeof(dir), "%s/data", parent);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", busy);
    const char *listen_busy[] = {"--data-dir", dir, "--listen", addr, "--metrics", "off", NULL};
    cr_assert_eq(broker_run_once(listen_busy, out, sizeof(out)), 1);
    cr_assert(strstr(out, "cannot listen on"), "got: %s", out);
    struct stat st;
    cr_assert_neq(stat(dir, &st), 0, "%s was created by a start that failed", dir);
    const char *metrics_busy[] = {"--data-dir", dir,  "--listen", "127.0.0.1:0",
                                  "--metrics",  addr, NULL};
    cr_assert_eq(broker_run_once(metrics_busy, out, sizeof(out)), 1);
    cr_assert(strstr(out, "cannot listen on"), "got: %s", out);
    cr_assert_neq(stat(dir, &st), 0, "%s was created by a start that failed", dir);
    close(held);
    cr_assert_eq(rmdir(parent), 0);
}

/* The metrics port from the ready line in the broker's log; 0 when absent. */
static uint16_t ready_line_metrics_port(const struct broker_proc *b)
{
    FILE *f = fopen(b->log_path, "r");
    cr_assert_not_null(f);
    char line[1024];
    uint16_t port = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *m =
            strstr(line, "ringlogd ready ") ? strstr(line, " metrics=127.0.0.1:") : NULL;
        if (m)
            port = (uint16_t)atoi(m + strlen(" metrics=127.0.0.1:"));
    }
    fclose(f);
    return port;
}

Test(ops, ready_line_health_and_non_http_client)
{
    const char *args[] = {"--metrics", "127.0.0.1:0", NULL};
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, args), 0);
    uint16_t mport = ready_line_metrics_port(&b);
    cr_assert_neq(mport, 0, "the ready line names the metrics address (see %s)", b.log_path);
    cr_assert_neq(mport, b.port);

    static char out[1 << 16];
    cr_assert_eq(wire_http_get(mport, "/health", out, sizeof(out)), 0);
    cr_assert(strstr(out, "HTTP/1.0 200 OK"), "got: %s", out);
    cr_assert(strstr(out, "\r\n\r\nready\n"), "got: %s", out);
    cr_assert_eq(wire_http_get(mport, "/healthz", out, sizeof(out)), 0);
    cr_assert(strstr(out, "404"), "got: %s", out);

    /* A ringlog client's first bytes (a frame length) are answered at once, not waited on. */
    int fd = wire_connect(mport);
    const unsigned char frame_start[] = {0, 0, 0, 12, 8, 1};
    cr_assert_eq(write(fd, frame_start, sizeof(frame_start)), (ssize_t)sizeof(frame_start));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 10000), 1, "no answer to a non-HTTP request");
    ssize_t n = read(fd, out, sizeof(out) - 1);
    cr_assert_gt(n, 0);
    out[n] = '\0';
    cr_assert(strncmp(out, "HTTP/1.0 400 Bad Request", 24) == 0, "got: %s", out);
    close(fd);

    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
}

/* The --tls-* flags: paths kept, policies parsed, and only sensible combinations accepted. */
Test(ops, tls_flags_go_together)
{
    struct broker_config cfg;
    char err[512];
    char *ok[] = {"ringlogd", "--tls-cert",        "/c.pem", "--tls-key=/k.pem", "--tls-ca",
                  "/ca.pem",  "--tls-client-auth", "require"};
    cr_assert_eq(broker_config_parse(&cfg, 8, ok, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cfg.tls_cert, "/c.pem");
    cr_assert_str_eq(cfg.tls_key, "/k.pem");
    cr_assert_str_eq(cfg.tls_ca, "/ca.pem");
    cr_assert_eq(cfg.tls_client_auth, TLS_CLIENT_AUTH_REQUIRE);
    char *plain[] = {"ringlogd"};
    cr_assert_eq(broker_config_parse(&cfg, 1, plain, err, sizeof(err)), 0);
    cr_assert_eq(cfg.tls_cert[0], '\0', "plaintext by default");
    static const struct {
        char *args[6];
        int argc;
        const char *says;
    } bad[] = {
        {{"ringlogd", "--tls-cert", "/c.pem"}, 3, "--tls-cert and --tls-key go together"},
        {{"ringlogd", "--tls-key", "/k.pem"}, 3, "--tls-cert and --tls-key go together"},
        {{"ringlogd", "--tls-ca", "/ca.pem"}, 3, "need --tls-cert and --tls-key"},
        {{"ringlogd", "--tls-cert", "/c", "--tls-key", "/k", "--tls-client-auth"},
         6,
         "needs a value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(broker_config_parse(&cfg, bad[i].argc, (char **)bad[i].args, err, sizeof(err)),
                     -1, "case %zu", i);
        cr_assert(strstr(err, bad[i].says), "case %zu: %s", i, err);
    }
    char *cluster[] = {"ringlogd",  "--tls-cert", "/c",
                       "--tls-key", "/k",         "--node-id",
                       "2",         "--peers",    "1@127.0.0.1:7171,2@127.0.0.1:7181"};
    cr_assert_eq(broker_config_parse(&cfg, 9, cluster, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--peers naming other brokers needs --tls-ca"), "%s", err);
    char *cluster_ca[] = {"ringlogd",
                          "--tls-cert",
                          "/c",
                          "--tls-key",
                          "/k",
                          "--tls-ca",
                          "/ca",
                          "--node-id",
                          "2",
                          "--peers",
                          "1@127.0.0.1:7171,2@127.0.0.1:7181"};
    cr_assert_eq(broker_config_parse(&cfg, 11, cluster_ca, err, sizeof(err)), 0, "%s", err);
    char *big_id[] = {"ringlogd", "--node-id", "64", "--peers", "1@h:1,64@h:2"};
    cr_assert_eq(broker_config_parse(&cfg, 5, big_id, err, sizeof(err)), -1);
    cr_assert(strstr(err, "node id 64 is too large: a cluster's ids are 0 to 63"), "%s", err);
    char *alone[] = {"ringlogd", "--tls-cert", "/c", "--tls-key", "/k", "--peers", "1@h:1"};
    cr_assert_eq(broker_config_parse(&cfg, 7, alone, err, sizeof(err)), 0, "%s", err);
    char *no_ca[] = {"ringlogd", "--tls-cert",        "/c",     "--tls-key",
                     "/k",       "--tls-client-auth", "request"};
    cr_assert_eq(broker_config_parse(&cfg, 7, no_ca, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--tls-client-auth request needs --tls-ca"), "%s", err);
    char *bad_auth[] = {"ringlogd", "--tls-cert",        "/c",   "--tls-key",
                        "/k",       "--tls-client-auth", "maybe"};
    cr_assert_eq(broker_config_parse(&cfg, 7, bad_auth, err, sizeof(err)), -1);
    cr_assert(strstr(err, "invalid value for --tls-client-auth: 'maybe'"), "%s", err);
    /* The same settings from a config file; an unknown tls- key is named. */
    cr_assert_eq(parse_file("tls-cert = /c.pem\ntls-key = /k.pem\n", &cfg, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_str_eq(cfg.tls_key, "/k.pem");
    cr_assert_eq(parse_file("tls-certificate = /c.pem\n", &cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "unknown key 'tls-certificate'"), "%s", err);
}
