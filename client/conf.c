#include "conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "batch.h"
#include "conf_kafka.h"
#include "conn.h"
#include "log_throttle.h"
#include "partitioner.h"
#include "scram.h"
#include "tls.h"

enum conf_type { T_INT, T_BOOL, T_STR, T_ACKS, T_CODEC, T_RESET, T_PARTITIONER, T_SECURITY };

struct conf_key {
    const char *name;
    enum conf_type type;
    size_t offset;
    int64_t min, max;
};

#define F(field) offsetof(struct ringlog_conf, field)

/* Every key ringlog_conf_set knows; documented in ringlog.h. */
static const struct conf_key KEYS[] = {
    {"bootstrap", T_STR, F(bootstrap), 0, 0},
    {"client-id", T_STR, F(client_id), 0, 0},
    {"connect-timeout-ms", T_INT, F(connect_timeout_ms), 1, INT32_MAX},
    {"request-timeout-ms", T_INT, F(request_timeout_ms), 1, INT32_MAX},
    {"reconnect-backoff-ms", T_INT, F(reconnect_backoff_ms), 0, INT32_MAX},
    {"reconnect-backoff-max-ms", T_INT, F(reconnect_backoff_max_ms), 0, INT32_MAX},
    {"metadata-max-age-ms", T_INT, F(metadata_max_age_ms), 1, INT32_MAX},
    {"security.protocol", T_SECURITY, F(security_tls), 0, 0},
    {"sasl.mechanism", T_STR, F(sasl_mechanism), 0, 0},
    {"sasl.username", T_STR, F(sasl_username), 0, 0},
    {"sasl.password", T_STR, F(sasl_password), 0, 0},
    {"tls.ca", T_STR, F(tls_ca), 0, 0},
    {"tls.cert", T_STR, F(tls_cert), 0, 0},
    {"tls.key", T_STR, F(tls_key), 0, 0},
    {"acks", T_ACKS, F(acks), 0, 0},
    {"linger-ms", T_INT, F(linger_ms), 0, INT32_MAX},
    {"batch-bytes", T_INT, F(batch_bytes), 128, 16 << 20},
    {"buffer-bytes", T_INT, F(buffer_bytes), 1024, INT64_MAX / 2},
    {"block-on-buffer-full", T_BOOL, F(block_on_buffer_full), 0, 0},
    {"max-block-ms", T_INT, F(max_block_ms), 0, INT32_MAX},
    {"compression", T_CODEC, F(compression), 0, 0},
    {"enable-idempotence", T_BOOL, F(enable_idempotence), 0, 0},
    {"max-in-flight", T_INT, F(max_in_flight), 1, 100},
    {"retry-backoff-ms", T_INT, F(retry_backoff_ms), 0, INT32_MAX},
    {"retry-backoff-max-ms", T_INT, F(retry_backoff_max_ms), 0, INT32_MAX},
    {"delivery-timeout-ms", T_INT, F(delivery_timeout_ms), 1, INT32_MAX},
    {"max-request-bytes", T_INT, F(max_request_bytes), 1024, 15 << 20},
    {"group", T_STR, F(group), 0, 0},
    {"group-instance-id", T_STR, F(group_instance_id), 0, 0},
    {"group-assignor", T_STR, F(group_assignor), 0, 0},
    {"session-timeout-ms", T_INT, F(session_timeout_ms), 1000, 300000},
    {"rebalance-timeout-ms", T_INT, F(rebalance_timeout_ms), 1000, 3600000},
    {"enable-auto-commit", T_BOOL, F(enable_auto_commit), 0, 0},
    {"auto-commit-interval-ms", T_INT, F(auto_commit_interval_ms), 1, INT32_MAX},
    {"auto-offset-reset", T_RESET, F(auto_offset_reset), 0, 0},
    {"fetch-max-wait-ms", T_INT, F(fetch_max_wait_ms), 0, 60000},
    {"fetch-min-bytes", T_INT, F(fetch_min_bytes), 0, INT32_MAX},
    {"fetch-max-bytes", T_INT, F(fetch_max_bytes), 1024, INT32_MAX},
    {"partition-fetch-bytes", T_INT, F(partition_fetch_bytes), 1024, INT32_MAX},
    {"queued-max-bytes", T_INT, F(queued_max_bytes), 1024, INT64_MAX / 2},
    {"partitioner", T_PARTITIONER, F(partitioner), 0, 0},
    /* callbacks and events */
    {"callbacks-on-io-thread", T_BOOL, F(callbacks_on_io_thread), 0, 0},
    {"statistics-interval-ms", T_INT, F(statistics_interval_ms), 0, 86400000},
    {"enable-partition-eof", T_BOOL, F(enable_partition_eof), 0, 0},
};

static const char *const CODECS[] = {"none", "lz4", "zstd"};
static const char *const RESETS[] = {"earliest", "latest", "error"};
static const char *const PARTITIONERS[] = {"xxh64", "murmur2"}; /* enum rl_partitioner */

void rl_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

void rl_log(const struct ringlog_conf *conf, int level, const char *fmt, ...)
{
    if (!conf->log_cb)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    uint32_t held = 0;
    if (level <= RINGLOG_LOG_INFO && conf->log_throttle &&
        !rl_log_throttle_pass(conf->log_throttle, line, rl_now_ms(), &held))
        return;
    if (held > 0) {
        char more[640];
        snprintf(more, sizeof(more), "%s (and %u times more since it was last logged)", line, held);
        conf->log_cb(level, more, conf->log_opaque);
        return;
    }
    conf->log_cb(level, line, conf->log_opaque);
}

ringlog_conf *ringlog_conf_new(void)
{
    ringlog_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->bootstrap = strdup("127.0.0.1:7171");
    c->client_id = strdup("libringlog");
    c->sasl_mechanism = strdup("SCRAM-SHA-256");
    if (!c->bootstrap || !c->client_id || !c->sasl_mechanism) {
        ringlog_conf_destroy(c);
        return NULL;
    }
    c->connect_timeout_ms = 5000;
    c->request_timeout_ms = 30000;
    c->reconnect_backoff_ms = 50;
    c->reconnect_backoff_max_ms = 2000;
    c->metadata_max_age_ms = 300000;
    c->acks = -1;
    c->linger_ms = 5;
    c->batch_bytes = 64 * 1024;
    c->buffer_bytes = 32 << 20;
    c->block_on_buffer_full = false;
    c->max_block_ms = 60000;
    c->compression = RL_CODEC_NONE;
    c->enable_idempotence = true;
    c->max_in_flight = 5;
    c->retry_backoff_ms = 100;
    c->retry_backoff_max_ms = 1000;
    c->delivery_timeout_ms = 120000;
    c->max_request_bytes = 4 << 20;
    c->enable_auto_commit = true;
    c->session_timeout_ms = 10000;
    c->rebalance_timeout_ms = 60000;
    c->auto_commit_interval_ms = 5000;
    c->auto_offset_reset = RL_RESET_LATEST;
    c->fetch_max_wait_ms = 500;
    c->fetch_min_bytes = 1;
    c->fetch_max_bytes = 50 << 20;
    c->partition_fetch_bytes = 1 << 20;
    c->queued_max_bytes = 4 << 20;
    c->partitioner = RL_PARTITIONER_XXH64;
    return c;
}

void ringlog_conf_destroy(ringlog_conf *conf)
{
    if (!conf)
        return;
    free(conf->bootstrap);
    free(conf->client_id);
    free(conf->group);
    free(conf->group_instance_id);
    free(conf->group_assignor);
    free(conf->tls_ca);
    free(conf->sasl_mechanism);
    free(conf->sasl_username);
    if (conf->sasl_password)
        OPENSSL_cleanse(conf->sasl_password, strlen(conf->sasl_password));
    free(conf->sasl_password);
    free(conf->tls_cert);
    free(conf->tls_key);
    rl_tls_free(conf->tls);
    rl_log_throttle_free(conf->log_throttle);
    free(conf);
}

static int dup_str(char **dst, const char *src)
{
    if (!src) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

ringlog_conf *ringlog_conf_dup(const ringlog_conf *conf)
{
    ringlog_conf *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *conf;
    int bad = dup_str(&c->bootstrap, conf->bootstrap);
    bad |= dup_str(&c->client_id, conf->client_id);
    bad |= dup_str(&c->group, conf->group);
    bad |= dup_str(&c->group_instance_id, conf->group_instance_id);
    bad |= dup_str(&c->group_assignor, conf->group_assignor);
    c->tls_ca = c->tls_cert = c->tls_key = NULL;
    c->sasl_mechanism = c->sasl_username = c->sasl_password = NULL;
    bad |= dup_str(&c->sasl_mechanism, conf->sasl_mechanism);
    bad |= dup_str(&c->sasl_username, conf->sasl_username);
    bad |= dup_str(&c->sasl_password, conf->sasl_password);
    c->tls = NULL; /* each client builds its own (rl_tls_attach) */
    c->log_throttle = rl_log_throttle_new();
    bad |= c->log_throttle == NULL;
    bad |= dup_str(&c->tls_ca, conf->tls_ca);
    bad |= dup_str(&c->tls_cert, conf->tls_cert);
    bad |= dup_str(&c->tls_key, conf->tls_key);
    if (bad) {
        ringlog_conf_destroy(c);
        return NULL;
    }
    return c;
}

static const struct conf_key *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return &KEYS[i];
    return NULL;
}

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0')
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") ||
        !strcasecmp(v, "off")) {
        *out = false;
        return 0;
    }
    return -1;
}

static int parse_choice(const char *v, const char *const *names, int n, int64_t *out)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(v, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

/*
 * Our key for `name`: ours, or a Kafka alias (with its unit scale). NULL
 * when there is none, with the reason in errbuf; *noop set instead when it
 * is a Kafka key whose one accepted value asks for what we do anyway.
 */
static const struct conf_key *resolve_key(const char *name, int64_t *scale,
                                          const struct rl_kafka_key **noop, char *errbuf,
                                          size_t errlen)
{
    *scale = 1;
    *noop = NULL;
    const struct conf_key *k = find_key(name);
    if (k)
        return k;
    const struct rl_kafka_key *a = rl_kafka_key(name);
    if (!a) {
        rl_errbuf(errbuf, errlen,
                  "\"%s\" is neither a libringlog configuration key nor a Kafka key libringlog "
                  "knows (the keys are listed in ringlog.h and docs/CLIENT.md)",
                  name);
        return NULL;
    }
    if (!a->ours) {
        if (a->noop)
            *noop = a;
        else
            rl_errbuf(errbuf, errlen, "%s is not supported: %s", name, a->why);
        return NULL;
    }
    k = find_key(a->ours);
    assert(k && a->scale >= 1);
    *scale = a->scale;
    return k;
}

/* Sets a numeric key; `scale` converts a Kafka unit (kbytes) into ours. */
static int set_int(const struct conf_key *k, void *field, const char *name, const char *value,
                   int64_t scale, char *errbuf, size_t errlen)
{
    int64_t x = 0;
    assert(scale >= 1);
    if (parse_int(value, &x) != 0 || x < k->min / scale || x > k->max / scale ||
        x * scale < k->min) {
        rl_errbuf(errbuf, errlen, "%s: expected an integer in [%lld, %lld], got \"%s\"", name,
                  (long long)((k->min + scale - 1) / scale), (long long)(k->max / scale), value);
        return RINGLOG_ERR_INVALID_ARG;
    }
    *(int64_t *)field = x * scale;
    return RINGLOG_OK;
}

static int choice_error(const struct conf_key *k, const char *name, const char *value, char *errbuf,
                        size_t errlen)
{
    rl_errbuf(errbuf, errlen, "%s: expected %s, got \"%s\"", name,
              k->type == T_ACKS    ? "0, 1, all or -1"
              : k->type == T_CODEC ? "none, lz4 or zstd"
              : k->type == T_RESET ? "earliest (smallest), latest (largest) or error"
                                   : "xxh64 or murmur2 (murmur2_random)",
              value);
    return RINGLOG_ERR_INVALID_ARG;
}

/* Sets one of the keys whose value is a name from a list (Kafka's names translated first). */
static int set_choice(const struct conf_key *k, void *field, const char *name, const char *value,
                      char *errbuf, size_t errlen)
{
    const char *v, *why;
    if (rl_kafka_value(k->name, value, &v, &why) != 0) {
        rl_errbuf(errbuf, errlen, "%s=%s is not supported: %s", name, value, why);
        return RINGLOG_ERR_INVALID_ARG;
    }
    if (k->type == T_ACKS) {
        bool all = !strcasecmp(v, "all") || !strcmp(v, "-1");
        bool ok = all || !strcmp(v, "0") || !strcmp(v, "1");
        if (ok) {
            *(int64_t *)field = all ? -1 : v[0] - '0';
            return RINGLOG_OK;
        }
        return choice_error(k, name, value, errbuf, errlen);
    }
    const char *const *names = k->type == T_CODEC   ? CODECS
                               : k->type == T_RESET ? RESETS
                                                    : PARTITIONERS;
    int n = k->type == T_PARTITIONER ? 2 : 3;
    assert(k->type == T_CODEC || k->type == T_RESET || k->type == T_PARTITIONER);
    if (parse_choice(v, names, n, (int64_t *)field) == 0)
        return RINGLOG_OK;
    return choice_error(k, name, value, errbuf, errlen);
}

static int set_str(ringlog_conf *conf, const struct conf_key *k, const char *value, char *errbuf,
                   size_t errlen)
{
    char **field = (char **)((char *)conf + k->offset);
    if (!strcmp(k->name, "bootstrap")) {
        struct rl_hostport *hp;
        size_t n;
        int err = rl_parse_bootstrap(value, &hp, &n, errbuf, errlen);
        if (err)
            return err;
        free(hp);
    }
    enum rl_scram_hash h;
    if (!strcmp(k->name, "sasl.mechanism") && rl_scram_mechanism_parse(value, &h) != 0) {
        rl_errbuf(errbuf, errlen, "%s: expected SCRAM-SHA-256 or SCRAM-SHA-512, got \"%s\"",
                  k->name, value);
        return RINGLOG_ERR_INVALID_ARG;
    }
    char *s = strdup(value);
    if (!s)
        return RINGLOG_ERR_NOMEM;
    free(*field);
    *field = s;
    return RINGLOG_OK;
}

/* security.protocol: plaintext, tls (Kafka's "ssl"), sasl_plaintext, sasl_tls ("sasl_ssl"). */
static int set_security(struct ringlog_conf *conf, const char *name, const char *value,
                        char *errbuf, size_t errlen)
{
    static const struct {
        const char *name;
        bool tls, sasl;
    } PROTOCOLS[] = {{"plaintext", false, false}, {"tls", true, false},
                     {"ssl", true, false},        {"sasl_plaintext", false, true},
                     {"sasl_tls", true, true},    {"sasl_ssl", true, true}};
    for (size_t i = 0; i < sizeof(PROTOCOLS) / sizeof(PROTOCOLS[0]); i++) {
        if (strcasecmp(value, PROTOCOLS[i].name) == 0) {
            conf->security_tls = PROTOCOLS[i].tls;
            conf->security_sasl = PROTOCOLS[i].sasl;
            return RINGLOG_OK;
        }
    }
    rl_errbuf(errbuf, errlen, "%s: expected plaintext, tls, sasl_plaintext or sasl_tls, got \"%s\"",
              name, value);
    return RINGLOG_ERR_INVALID_ARG;
}

int ringlog_conf_set(ringlog_conf *conf, const char *key, const char *value, char *errbuf,
                     size_t errlen)
{
    if (!conf || !key || !value) {
        rl_errbuf(errbuf, errlen, "conf, key and value must not be NULL");
        return RINGLOG_ERR_INVALID_ARG;
    }
    int64_t scale;
    const struct rl_kafka_key *noop;
    const struct conf_key *k = resolve_key(key, &scale, &noop, errbuf, errlen);
    if (!k) {
        if (!noop)
            return RINGLOG_ERR_INVALID_ARG;
        if (!strcasecmp(value, noop->noop))
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen, "%s=%s is not supported: %s", key, value, noop->why);
        return RINGLOG_ERR_INVALID_ARG;
    }
    void *field = (char *)conf + k->offset;
    switch (k->type) {
    case T_STR:
        return set_str(conf, k, value, errbuf, errlen);
    case T_BOOL:
        if (parse_bool(value, (bool *)field) == 0)
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen, "%s: expected true or false, got \"%s\"", key, value);
        return RINGLOG_ERR_INVALID_ARG;
    case T_INT:
        return set_int(k, field, key, value, scale, errbuf, errlen);
    case T_SECURITY:
        return set_security(conf, key, value, errbuf, errlen);
    default:
        return set_choice(k, field, key, value, errbuf, errlen);
    }
}

int ringlog_conf_get(const ringlog_conf *conf, const char *key, char *buf, size_t buflen)
{
    int64_t scale = 1;
    const struct rl_kafka_key *noop = NULL;
    const struct conf_key *k = key ? resolve_key(key, &scale, &noop, NULL, 0) : NULL;
    if (!conf || !buf || buflen == 0 || (!k && !noop))
        return RINGLOG_ERR_INVALID_ARG;
    if (noop) {
        snprintf(buf, buflen, "%s", noop->noop);
        return RINGLOG_OK;
    }
    const void *field = (const char *)conf + k->offset;
    int64_t x = k->type == T_STR || k->type == T_BOOL || k->type == T_SECURITY
                    ? 0
                    : *(const int64_t *)field;
    switch (k->type) {
    case T_STR:
        snprintf(buf, buflen, "%s", *(char *const *)field ? *(char *const *)field : "");
        break;
    case T_BOOL:
        snprintf(buf, buflen, "%s", *(const bool *)field ? "true" : "false");
        break;
    case T_SECURITY:
        snprintf(buf, buflen, "%s%s", conf->security_sasl ? "sasl_" : "",
                 conf->security_tls ? "tls" : "plaintext");
        break;
    case T_ACKS:
        snprintf(buf, buflen, "%s", x < 0 ? "all" : x == 0 ? "0" : "1");
        break;
    case T_CODEC:
        snprintf(buf, buflen, "%s", CODECS[x]);
        break;
    case T_RESET:
        snprintf(buf, buflen, "%s", RESETS[x]);
        break;
    case T_PARTITIONER:
        snprintf(buf, buflen, "%s", PARTITIONERS[x]);
        break;
    case T_INT:
        snprintf(buf, buflen, "%lld", (long long)(x / scale));
        break;
    }
    return RINGLOG_OK;
}

void ringlog_conf_set_log_cb(ringlog_conf *conf, ringlog_log_cb cb, void *opaque)
{
    conf->log_cb = cb;
    conf->log_opaque = opaque;
}

void ringlog_conf_set_delivery_cb(ringlog_conf *conf, ringlog_delivery_cb cb, void *opaque)
{
    conf->delivery_cb = cb;
    conf->delivery_opaque = opaque;
}

void ringlog_conf_set_partitioner_cb(ringlog_conf *conf, ringlog_partitioner_cb cb, void *opaque)
{
    conf->partitioner_cb = cb;
    conf->partitioner_opaque = opaque;
}

void ringlog_conf_set_delivery_batch_cb(ringlog_conf *conf, ringlog_delivery_batch_cb cb,
                                        void *opaque)
{
    conf->delivery_batch_cb = cb;
    conf->delivery_batch_opaque = opaque;
}

void ringlog_conf_set_error_cb(ringlog_conf *conf, ringlog_error_cb cb, void *opaque)
{
    conf->error_cb = cb;
    conf->error_opaque = opaque;
}

void ringlog_conf_set_stats_cb(ringlog_conf *conf, ringlog_stats_cb cb, void *opaque)
{
    conf->stats_cb = cb;
    conf->stats_opaque = opaque;
}

int rl_parse_hostport(const char *s, size_t len, struct rl_hostport *out)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    const char *host = s, *colon;
    size_t host_len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close + 1 >= s + len || close[1] != ':')
            return RINGLOG_ERR_INVALID_ARG;
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            return RINGLOG_ERR_INVALID_ARG;
        host_len = (size_t)(colon - s);
    }
    if (host_len == 0 || host_len >= sizeof(out->host))
        return RINGLOG_ERR_INVALID_ARG;
    const char *p = colon + 1, *end = s + len;
    if (p >= end)
        return RINGLOG_ERR_INVALID_ARG;
    long port = 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p))
            return RINGLOG_ERR_INVALID_ARG;
        port = port * 10 + (*p - '0');
        if (port > 65535)
            return RINGLOG_ERR_INVALID_ARG;
    }
    if (port == 0)
        return RINGLOG_ERR_INVALID_ARG;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    out->port = (int)port;
    return RINGLOG_OK;
}

int rl_parse_bootstrap(const char *list, struct rl_hostport **out, size_t *count, char *errbuf,
                       size_t errlen)
{
    *out = NULL;
    *count = 0;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    struct rl_hostport *hp = calloc(cap, sizeof(*hp));
    if (!hp)
        return RINGLOG_ERR_NOMEM;
    size_t n = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (rl_parse_hostport(p, len, &hp[n]) != RINGLOG_OK) {
            rl_errbuf(errbuf, errlen, "bad broker address \"%.*s\" (expected HOST:PORT)", (int)len,
                      p);
            free(hp);
            return RINGLOG_ERR_INVALID_ARG;
        }
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = hp;
    *count = n;
    return RINGLOG_OK;
}
