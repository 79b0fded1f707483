#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"

#define RINGLOG_VERSION "0.1.0"

void broker_config_default(struct broker_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 7171;
    cfg->metrics_enabled = true;
    snprintf(cfg->metrics_host, sizeof(cfg->metrics_host), "127.0.0.1");
    cfg->metrics_port = 7172;
    cfg->node_id = 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->shards = cpus < 1 ? 1 : (cpus > BROKER_MAX_SHARDS ? BROKER_MAX_SHARDS : (int)cpus);
    cfg->flush = LOG_FLUSH_ALWAYS;
    cfg->flush_interval_ms = 0;
    cfg->cache_keep_bytes = LOG_DEFAULT_CACHE_KEEP_BYTES;
    cfg->replica_tail_bytes = (int64_t)64 << 20; /* replica_tail.h */
    cfg->max_frame_bytes = 16u << 20;
    cfg->max_connections = 10000;
    cfg->max_conn_buffered_bytes = 64u << 20;
    cfg->max_inflight_requests = 1024;
    cfg->default_partitions = 1;
    cfg->default_retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->default_retention_bytes = -1;
    cfg->default_segment_bytes = 1LL << 30;
    cfg->default_segment_ms = 7LL * 24 * 3600 * 1000;
    cfg->log_level = DIAG_LEVEL_INFO;
    cfg->auth_timeout_ms = 10000;
    cfg->auth_failure_delay_ms = 1000;
}

void broker_config_usage(void)
{
    fprintf(
        stdout,
        "usage: ringlogd [options]\n"
        "  --data-dir DIR            where logs and metadata live (./data)\n"
        "  --listen HOST:PORT        client and inter-broker protocol (127.0.0.1:7171)\n"
        "  --metrics HOST:PORT|off   Prometheus text at GET /metrics (127.0.0.1:7172)\n"
        "  --node-id N               this broker's id (1)\n"
        "  --peers ID@HOST:PORT,...  the cluster's brokers, this one included (none)\n"
        "  --shards N                shard threads (online CPUs)\n"
        "  --flush always|interval:MS|none   when data is fdatasync'ed (always)\n"
        "  --cache-keep-bytes B|all  page cache a fast writer keeps behind its log end,\n"
        "                            per partition (67108864)\n"
        "  --replica-tail-bytes B    memory per shard for the newest batches its leaders\n"
        "                            send followers from (67108864; 0: read them back)\n"
        "  --config FILE             key = value lines; flags win\n"
        "  --max-frame-bytes B       largest request frame (16777216)\n"
        "  --max-connections N       connections accepted at once (10000)\n"
        "  --default-partitions N    partitions of a topic created without a count (1)\n"
        "  --log-level debug|info|warn|error (info)\n"
        "  --tls-cert FILE, --tls-key FILE  serve TLS only on --listen, and use it between\n"
        "                            brokers (PEM; SIGHUP reloads)\n"
        "  --tls-ca FILE             CA certificates that client and broker certificates chain to\n"
        "  --tls-client-auth none|request|require  ask clients for a certificate (none)\n"
        "  --sasl-bootstrap-user NAME:PASSWORD  create this SCRAM user (a super user) when\n"
        "                            there is none; with users, clients must authenticate\n"
        "  --super-users U,U,...     principals (NAME or User:NAME) no ACL restricts\n"
        "  --auth-timeout-ms MS      close connections not authenticated by then (10000)\n"
        "  --auth-failure-delay-ms MS  answer a failed authentication this late (1000)\n"
        "  --help, --version\n");
}

static int parse_i64(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int parse_host_port(const char *text, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= host_len)
        return -1;
    int64_t p;
    if (parse_i64(colon + 1, 0, 65535, &p) != 0)
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int parse_peers(struct broker_config *cfg, const char *text, char *err, size_t err_len)
{
    char copy[4096];
    /* A longer list was cut short here, and its last peer's port with it. */
    if (strlen(text) >= sizeof(copy)) {
        snprintf(err, err_len, "--peers: longer than %zu bytes", sizeof(copy) - 1);
        return -1;
    }
    snprintf(copy, sizeof(copy), "%s", text);
    cfg->peer_count = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (cfg->peer_count == BROKER_MAX_PEERS) {
            snprintf(err, err_len, "--peers: at most %d brokers in a cluster", BROKER_MAX_PEERS);
            return -1;
        }
        struct peer *p = &cfg->peers[cfg->peer_count];
        char *at = strchr(item, '@');
        int64_t id;
        if (!at) {
            snprintf(err, err_len, "--peers: '%s' is not ID@HOST:PORT", item);
            return -1;
        }
        *at = '\0';
        if (parse_i64(item, 0, INT32_MAX, &id) != 0 ||
            parse_host_port(at + 1, p->host, sizeof(p->host), &p->port) != 0) {
            snprintf(err, err_len, "--peers: '%s@%s' is not ID@HOST:PORT", item, at + 1);
            return -1;
        }
        if (id >= BROKER_MAX_NODE_ID) {
            /* Replica traffic and in-sync sets index brokers by id (a bit or a slot each):
             * an id past them would be dropped without a word. */
            snprintf(err, err_len,
                     "--peers: node id %lld is too large: a cluster's ids are 0 to %d",
                     (long long)id, BROKER_MAX_NODE_ID - 1);
            return -1;
        }
        p->node_id = (int32_t)id;
        cfg->peer_count++;
    }
    return 0;
}

static int parse_flush(struct broker_config *cfg, const char *value)
{
    struct partition_log_config pl;
    partition_log_config_default(&pl);
    if (partition_log_parse_flush(value, &pl) != LOG_OK)
        return -1;
    cfg->flush = pl.flush;
    cfg->flush_interval_ms = pl.flush_interval_ms;
    return 0;
}

/*
 * The --tls-* settings: a path (kept as given) or the client-certificate
 * policy. 0, -1 for a bad value, -2 for a key that is none of them.
 */
static int apply_tls_setting(struct broker_config *cfg, const char *key, const char *value)
{
    static const char *const AUTH[] = {"none", "request", "require"};
    char *path = strcmp(key, "tls-cert") == 0  ? cfg->tls_cert
                 : strcmp(key, "tls-key") == 0 ? cfg->tls_key
                 : strcmp(key, "tls-ca") == 0  ? cfg->tls_ca
                                               : NULL;
    if (path) {
        if (!*value || strlen(value) >= PATH_MAX)
            return -1;
        snprintf(path, PATH_MAX, "%s", value);
        return 0;
    }
    if (strcmp(key, "tls-client-auth") != 0)
        return -2; /* not a TLS setting */
    for (int i = 0; i < 3; i++) {
        if (strcmp(value, AUTH[i]) == 0) {
            cfg->tls_client_auth = (enum tls_client_auth)i;
            return 0;
        }
    }
    return -1;
}

bool config_has_other_brokers(const struct broker_config *cfg)
{
    assert(cfg->peer_count >= 0);
    for (int i = 0; i < cfg->peer_count; i++)
        if (cfg->peers[i].node_id != cfg->node_id)
            return true;
    return false;
}

/* The TLS flags must make sense together: a certificate needs its key, a client policy a CA. */
static int check_tls(const struct broker_config *cfg, char *err, size_t err_len)
{
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        snprintf(err, err_len, "--tls-cert and --tls-key go together: give both or neither");
        return -1;
    }
    if (!cfg->tls_cert[0] && (cfg->tls_ca[0] || cfg->tls_client_auth != TLS_CLIENT_AUTH_NONE)) {
        snprintf(err, err_len, "--tls-ca and --tls-client-auth need --tls-cert and --tls-key");
        return -1;
    }
    if (cfg->tls_cert[0] && !cfg->tls_ca[0] && config_has_other_brokers(cfg)) {
        snprintf(err, err_len,
                 "--tls-cert with --peers naming other brokers needs --tls-ca: links between "
                 "brokers are mutually authenticated against it");
        return -1;
    }
    if (cfg->tls_client_auth != TLS_CLIENT_AUTH_NONE && !cfg->tls_ca[0]) {
        snprintf(err, err_len, "--tls-client-auth %s needs --tls-ca (the CA of the clients)",
                 cfg->tls_client_auth == TLS_CLIENT_AUTH_REQUIRE ? "require" : "request");
        return -1;
    }
    return 0;
}

/* Applies one setting, from a flag or a config-file line. */
static int apply_setting(struct broker_config *cfg, const char *key, const char *value, char *err,
                         size_t err_len)
{
    int64_t n;
    if (strcmp(key, "data-dir") == 0) {
        if (!*value || strlen(value) >= sizeof(cfg->data_dir))
            goto bad;
        snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", value);
    } else if (strcmp(key, "listen") == 0) {
        if (parse_host_port(value, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port) !=
            0)
            goto bad;
    } else if (strcmp(key, "metrics") == 0) {
        cfg->metrics_enabled = strcmp(value, "off") != 0;
        if (cfg->metrics_enabled &&
            parse_host_port(value, cfg->metrics_host, sizeof(cfg->metrics_host),
                            &cfg->metrics_port) != 0)
            goto bad;
    } else if (strcmp(key, "node-id") == 0) {
        if (parse_i64(value, 0, INT32_MAX, &n) != 0)
            goto bad;
        cfg->node_id = (int32_t)n;
    } else if (strcmp(key, "peers") == 0) {
        return parse_peers(cfg, value, err, err_len);
    } else if (strcmp(key, "shards") == 0) {
        if (parse_i64(value, 1, BROKER_MAX_SHARDS, &n) != 0)
            goto bad;
        cfg->shards = (int)n;
    } else if (strcmp(key, "flush") == 0) {
        if (parse_flush(cfg, value) != 0)
            goto bad;
    } else if (strcmp(key, "cache-keep-bytes") == 0) {
        if (strcmp(value, "all") == 0)
            cfg->cache_keep_bytes = -1;
        else if (parse_i64(value, 4096, INT64_MAX / 2, &n) == 0)
            cfg->cache_keep_bytes = n;
        else
            goto bad;
    } else if (strcmp(key, "replica-tail-bytes") == 0) {
        if (parse_i64(value, 0, 16LL << 30, &n) != 0)
            goto bad;
        cfg->replica_tail_bytes = n;
    } else if (strcmp(key, "max-frame-bytes") == 0) {
        if (parse_i64(value, 1024, 256LL << 20, &n) != 0)
            goto bad;
        cfg->max_frame_bytes = (uint32_t)n;
    } else if (strcmp(key, "max-connections") == 0) {
        if (parse_i64(value, 1, 1000000, &n) != 0)
            goto bad;
        cfg->max_connections = (uint32_t)n;
    } else if (strcmp(key, "default-partitions") == 0) {
        if (parse_i64(value, 1, 10000, &n) != 0)
            goto bad;
        cfg->default_partitions = (uint32_t)n;
    } else if (strcmp(key, "log-level") == 0) {
        if (diag_parse_level(value, &cfg->log_level) != 0)
            goto bad;
    } else if (strcmp(key, "auth-timeout-ms") == 0 || strcmp(key, "auth-failure-delay-ms") == 0) {
        if (parse_i64(value, key[5] == 't' ? 100 : 0, 600000, &n) != 0)
            goto bad;
        *(key[5] == 't' ? &cfg->auth_timeout_ms : &cfg->auth_failure_delay_ms) = (uint32_t)n;
    } else if (strcmp(key, "sasl-bootstrap-user") == 0 || strcmp(key, "super-users") == 0) {
        bool boot = key[0] == 's' && key[1] == 'a';
        char *dst = boot ? cfg->sasl_bootstrap_user : cfg->super_users;
        size_t cap = boot ? sizeof(cfg->sasl_bootstrap_user) : sizeof(cfg->super_users);
        if (!*value || strlen(value) >= cap || (boot && !strchr(value, ':')))
            goto bad;
        snprintf(dst, cap, "%s", value);
    } else if (strncmp(key, "tls-", 4) == 0) {
        int rc = apply_tls_setting(cfg, key, value);
        if (rc == -2) {
            snprintf(err, err_len, "unknown key '%s'", key);
            return -1;
        }
        if (rc != 0)
            goto bad;
    } else {
        snprintf(err, err_len, "unknown key '%s'", key);
        return -1;
    }
    return 0;
bad:
    snprintf(err, err_len, "invalid value for --%s: '%s'", key, value);
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/*
 * Reads one line of at most BROKER_CONFIG_MAX_LINE bytes (its newline
 * dropped) into line[BROKER_CONFIG_MAX_LINE + 1]. Returns 1, 0 at the end
 * of the file, -1 for a longer line or -2 for one holding a NUL byte. The
 * string functions stop at a NUL, so what followed it went unseen; with
 * fgets, a NUL in a long line also hid its length, and the line's rest was
 * read as a setting of its own.
 */
static int read_config_line(FILE *f, char *line)
{
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == 0)
            return -2;
        if (n == BROKER_CONFIG_MAX_LINE)
            return -1;
        line[n++] = (char)c;
    }
    line[n] = '\0';
    return c == EOF && n == 0 ? 0 : 1;
}

/*
 * Cuts a trailing comment: a '#' at the start of the line or after a space
 * or tab, outside double quotes ("data-dir = /x  # where" is "/x"; a '#'
 * inside a word, as in "/data#2", is kept).
 */
static void cut_comment(char *s)
{
    bool quoted = false;
    for (char *p = s; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '#' && !quoted && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
    }
}

/*
 * Splits one config line into key and value (both trimmed, a value in
 * double quotes unquoted). Returns NULL, or why the line is malformed.
 */
static const char *split_line(char *s, char **key, char **value)
{
    char *eq = strchr(s, '=');
    if (!eq)
        return "expected 'key = value'";
    *eq = '\0';
    *key = trim(s);
    *value = trim(eq + 1);
    if (**key == '\0')
        return "expected 'key = value': the key is missing";
    for (const char *k = *key; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '-')
            return "expected 'key = value': a key is letters, digits and '-'";
    size_t len = strlen(*value);
    if (len > 0 && **value == '"') {
        if (len < 2 || (*value)[len - 1] != '"')
            return "unterminated quote";
        (*value)[len - 1] = '\0';
        (*value)++;
    }
    if (**value == '\0')
        return "expected 'key = value': the value is missing";
    return NULL;
}

/* Reads `key = value` lines; '#' starts a comment. Errors name the file and line. */
static int load_config_file(struct broker_config *cfg, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "--config %s: %s", path, strerror(errno));
        return -1;
    }
    char line[BROKER_CONFIG_MAX_LINE + 1];
    int lineno = 0, rc = 0, got;
    while (rc == 0 && (got = read_config_line(f, line)) != 0) {
        lineno++;
        if (got < 0) {
            if (got == -2)
                snprintf(err, err_len, "%s:%d: a NUL byte", path, lineno);
            else
                snprintf(err, err_len, "%s:%d: line longer than %d bytes", path, lineno,
                         BROKER_CONFIG_MAX_LINE);
            rc = -1;
            break;
        }
        cut_comment(line);
        char *s = trim(line), *key, *value;
        if (*s == '\0')
            continue;
        const char *why = split_line(s, &key, &value);
        char inner[512];
        if (!why && strcmp(key, "config") == 0)
            why = "'config' cannot be nested";
        else if (!why && apply_setting(cfg, key, value, inner, sizeof(inner)) != 0)
            why = inner;
        if (why) {
            snprintf(err, err_len, "%s:%d: %s", path, lineno, why);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* Splits "--key=value" or "--key value"; returns the index of the next argument. */
static int flag_at(int argc, char **argv, int i, char *key, size_t key_len, const char **value)
{
    const char *arg = argv[i] + 2;
    const char *eq = strchr(arg, '=');
    if (eq) {
        snprintf(key, key_len, "%.*s", (int)(eq - arg), arg);
        *value = eq + 1;
        return i + 1;
    }
    snprintf(key, key_len, "%s", arg);
    *value = i + 1 < argc ? argv[i + 1] : NULL;
    return i + 2;
}

/* Every setting apply_setting knows, plus "config": the flags ringlogd accepts. */
static bool known_flag(const char *key)
{
    static const char *const KEYS[] = {"data-dir",
                                       "listen",
                                       "metrics",
                                       "node-id",
                                       "peers",
                                       "shards",
                                       "flush",
                                       "cache-keep-bytes",
                                       "replica-tail-bytes",
                                       "max-frame-bytes",
                                       "max-connections",
                                       "default-partitions",
                                       "log-level",
                                       "tls-cert",
                                       "tls-key",
                                       "tls-ca",
                                       "tls-client-auth",
                                       "sasl-bootstrap-user",
                                       "super-users",
                                       "auth-timeout-ms",
                                       "auth-failure-delay-ms",
                                       "config"};
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++)
        if (strcmp(KEYS[i], key) == 0)
            return true;
    return false;
}

/*
 * Checks the shape of argv (every argument a known --flag with its value)
 * and loads the --config file, so the file's settings come before the flags
 * that override them. Returns 0, 1 after --help/--version, or -1.
 */
static int first_pass(struct broker_config *cfg, int argc, char **argv, char *err, size_t err_len)
{
    char key[64];
    const char *value;
    for (int i = 1; i < argc;) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            broker_config_usage();
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("ringlogd %s\n", RINGLOG_VERSION);
            return 1;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            snprintf(err, err_len, "unexpected argument '%s' (see --help)", argv[i]);
            return -1;
        }
        int next = flag_at(argc, argv, i, key, sizeof(key), &value);
        if (!known_flag(key)) {
            snprintf(err, err_len, "unknown option '--%s' (see --help)", key);
            return -1;
        }
        if (!value) {
            snprintf(err, err_len, "--%s needs a value", key);
            return -1;
        }
        if (strcmp(key, "config") == 0 && load_config_file(cfg, value, err, err_len) != 0)
            return -1;
        i = next;
    }
    return 0;
}

int broker_config_parse(struct broker_config *cfg, int argc, char **argv, char *err, size_t err_len)
{
    assert(cfg && argv && err);
    broker_config_default(cfg);
    int rc = first_pass(cfg, argc, argv, err, err_len);
    if (rc != 0)
        return rc;
    char key[64];
    const char *value;
    for (int i = 1; i < argc;) {
        int next = flag_at(argc, argv, i, key, sizeof(key), &value);
        assert(value && known_flag(key)); /* first_pass checked every flag */
        if (strcmp(key, "config") != 0 && apply_setting(cfg, key, value, err, err_len) != 0)
            return -1;
        i = next;
    }
    return check_tls(cfg, err, err_len);
}
