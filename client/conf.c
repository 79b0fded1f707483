#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch.h"

enum conf_type { T_INT, T_BOOL, T_STR, T_ACKS, T_CODEC, T_RESET };

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
    {"enable-auto-commit", T_BOOL, F(enable_auto_commit), 0, 0},
    {"auto-commit-interval-ms", T_INT, F(auto_commit_interval_ms), 1, INT32_MAX},
    {"auto-offset-reset", T_RESET, F(auto_offset_reset), 0, 0},
    {"fetch-max-wait-ms", T_INT, F(fetch_max_wait_ms), 0, 60000},
    {"fetch-min-bytes", T_INT, F(fetch_min_bytes), 0, INT32_MAX},
    {"fetch-max-bytes", T_INT, F(fetch_max_bytes), 1024, INT32_MAX},
    {"partition-fetch-bytes", T_INT, F(partition_fetch_bytes), 1024, INT32_MAX},
    {"queued-max-bytes", T_INT, F(queued_max_bytes), 1024, INT64_MAX / 2},
};

static const char *const CODECS[] = {"none", "lz4", "zstd"};
static const char *const RESETS[] = {"earliest", "latest", "error"};

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
    conf->log_cb(level, line, conf->log_opaque);
}

ringlog_conf *ringlog_conf_new(void)
{
    ringlog_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->bootstrap = strdup("127.0.0.1:7171");
    c->client_id = strdup("libringlog");
    if (!c->bootstrap || !c->client_id) {
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
    c->block_on_buffer_full = true;
    c->max_block_ms = 60000;
    c->compression = RL_CODEC_NONE;
    c->enable_idempotence = true;
    c->max_in_flight = 5;
    c->retry_backoff_ms = 100;
    c->retry_backoff_max_ms = 1000;
    c->delivery_timeout_ms = 120000;
    c->max_request_bytes = 4 << 20;
    c->enable_auto_commit = true;
    c->auto_commit_interval_ms = 5000;
    c->auto_offset_reset = RL_RESET_LATEST;
    c->fetch_max_wait_ms = 500;
    c->fetch_min_bytes = 1;
    c->fetch_max_bytes = 50 << 20;
    c->partition_fetch_bytes = 1 << 20;
    c->queued_max_bytes = 4 << 20;
    return c;
}

void ringlog_conf_destroy(ringlog_conf *conf)
{
    if (!conf)
        return;
    free(conf->bootstrap);
    free(conf->client_id);
    free(conf->group);
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

int ringlog_conf_set(ringlog_conf *conf, const char *key, const char *value, char *errbuf,
                     size_t errlen)
{
    if (!conf || !key || !value) {
        rl_errbuf(errbuf, errlen, "conf, key and value must not be NULL");
        return RINGLOG_ERR_INVALID_ARG;
    }
    const struct conf_key *k = find_key(key);
    if (!k) {
        rl_errbuf(errbuf, errlen, "unknown configuration key \"%s\"", key);
        return RINGLOG_ERR_INVALID_ARG;
    }
    void *field = (char *)conf + k->offset;
    int64_t x = 0;
    switch (k->type) {
    case T_STR: {
        if (!strcmp(key, "bootstrap")) {
            struct rl_hostport *hp;
            size_t n;
            int err = rl_parse_bootstrap(value, &hp, &n, errbuf, errlen);
            if (err)
                return err;
            free(hp);
        }
        char *s = strdup(value);
        if (!s)
            return RINGLOG_ERR_NOMEM;
        free(*(char **)field);
        *(char **)field = s;
        return RINGLOG_OK;
    }
    case T_BOOL:
        if (parse_bool(value, (bool *)field) == 0)
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen, "%s: expected true or false, got \"%s\"", key, value);
        return RINGLOG_ERR_INVALID_ARG;
    case T_ACKS:
        if (!strcasecmp(value, "all") || !strcmp(value, "-1")) {
            *(int64_t *)field = -1;
            return RINGLOG_OK;
        }
        if (!strcmp(value, "0") || !strcmp(value, "1")) {
            *(int64_t *)field = value[0] - '0';
            return RINGLOG_OK;
        }
        rl_errbuf(errbuf, errlen, "acks: expected 0, 1 or all, got \"%s\"", value);
        return RINGLOG_ERR_INVALID_ARG;
    case T_CODEC:
        if (parse_choice(value, CODECS, 3, (int64_t *)field) == 0)
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen, "compression: expected none, lz4 or zstd, got \"%s\"", value);
        return RINGLOG_ERR_INVALID_ARG;
    case T_RESET:
        if (parse_choice(value, RESETS, 3, (int64_t *)field) == 0)
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen,
                  "auto-offset-reset: expected earliest, latest or error, got \"%s\"", value);
        return RINGLOG_ERR_INVALID_ARG;
    case T_INT:
        if (parse_int(value, &x) != 0 || x < k->min || x > k->max) {
            rl_errbuf(errbuf, errlen, "%s: expected an integer in [%lld, %lld], got \"%s\"", key,
                      (long long)k->min, (long long)k->max, value);
            return RINGLOG_ERR_INVALID_ARG;
        }
        *(int64_t *)field = x;
        return RINGLOG_OK;
    }
    return RINGLOG_ERR_INVALID_ARG;
}

int ringlog_conf_get(const ringlog_conf *conf, const char *key, char *buf, size_t buflen)
{
    const struct conf_key *k = key ? find_key(key) : NULL;
    if (!conf || !k || !buf || buflen == 0)
        return RINGLOG_ERR_INVALID_ARG;
    const void *field = (const char *)conf + k->offset;
    int64_t x = k->type == T_STR || k->type == T_BOOL ? 0 : *(const int64_t *)field;
    switch (k->type) {
    case T_STR:
        snprintf(buf, buflen, "%s", *(char *const *)field ? *(char *const *)field : "");
        break;
    case T_BOOL:
        snprintf(buf, buflen, "%s", *(const bool *)field ? "true" : "false");
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
    case T_INT:
        snprintf(buf, buflen, "%lld", (long long)x);
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

void ringlog_conf_set_delivery_batch_cb(ringlog_conf *conf, ringlog_delivery_batch_cb cb,
                                        void *opaque)
{
    conf->delivery_batch_cb = cb;
    conf->delivery_batch_opaque = opaque;
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
