/* topic_config_text.h */
#include "topic_config_text.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The engine's own defaults for the fields that keep 0 for "default" (partition_log.h). */
#define DEFAULT_DELETE_RETENTION_MS (24LL * 3600 * 1000)
#define DEFAULT_DIRTY_RATIO 0.5

enum key {
    K_RETENTION_MS,
    K_RETENTION_BYTES,
    K_SEGMENT_BYTES,
    K_SEGMENT_MS,
    K_CLEANUP_POLICY,
    K_DELETE_RETENTION_MS,
    K_DIRTY_RATIO,
    K_COMPACTION_LAG_MS,
};

static const char *const NAMES[TOPIC_CONFIG_KEYS] = {"retention.ms",
                                                     "retention.bytes",
                                                     "segment.bytes",
                                                     "segment.ms",
                                                     "cleanup.policy",
                                                     "delete.retention.ms",
                                                     "min.cleanable.dirty.ratio",
                                                     "min.compaction.lag.ms"};

void topic_config_defaults(const struct broker_config *bc, struct topic_config *out)
{
    memset(out, 0, sizeof(*out));
    out->retention_ms = bc->default_retention_ms;
    out->retention_bytes = bc->default_retention_bytes;
    out->segment_bytes = bc->default_segment_bytes;
    out->segment_ms = bc->default_segment_ms;
    out->cleanup_policy = TOPIC_CLEANUP_DELETE;
}

/* The key of a name, '_' read as '.'; -1 when unknown. */
static int key_of(const char *name)
{
    char norm[64];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(norm))
        return -1;
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '_' ? '.' : name[i];
    for (int k = 0; k < TOPIC_CONFIG_KEYS; k++)
        if (strcmp(norm, NAMES[k]) == 0)
            return k;
    return -1;
}

static bool parse_i64(const char *text, long long min, long long max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The range of each integer key and why a value outside it is refused. */
static const struct {
    long long min, max;
    const char *why;
} RANGES[TOPIC_CONFIG_KEYS] = {
    [K_RETENTION_MS] = {-1, INT64_MAX, "retention.ms must be -1 (unlimited) or positive"},
    [K_RETENTION_BYTES] = {-1, INT64_MAX, "retention.bytes must be -1 (unlimited) or positive"},
    [K_SEGMENT_BYTES] = {4096, 2LL << 30, "segment.bytes must be between 4096 and 2147483648"},
    [K_SEGMENT_MS] = {1, INT64_MAX, "segment.ms must be positive"},
    [K_DELETE_RETENTION_MS] = {0, INT64_MAX, "delete.retention.ms must be 0 or positive"},
    [K_COMPACTION_LAG_MS] = {0, INT64_MAX, "min.compaction.lag.ms must be 0 or positive"},
};

static int64_t *int_field(struct topic_config *cfg, int k)
{
    switch (k) {
    case K_RETENTION_MS:
        return &cfg->retention_ms;
    case K_RETENTION_BYTES:
        return &cfg->retention_bytes;
    case K_SEGMENT_BYTES:
        return &cfg->segment_bytes;
    case K_SEGMENT_MS:
        return &cfg->segment_ms;
    case K_DELETE_RETENTION_MS:
        return &cfg->delete_retention_ms;
    case K_COMPACTION_LAG_MS:
        return &cfg->min_compaction_lag_ms;
    default:
        return NULL;
    }
}

int topic_config_set(struct topic_config *cfg, const char *name, const char *value,
                     const char **why)
{
    int k = key_of(name ? name : "");
    if (k < 0) {
        *why = "unknown config name (known: retention.ms, retention.bytes, segment.bytes, "
               "segment.ms, cleanup.policy, delete.retention.ms, min.cleanable.dirty.ratio, "
               "min.compaction.lag.ms)";
        return -1;
    }
    value = value ? value : "";
    if (k == K_CLEANUP_POLICY) {
        uint32_t policy;
        if (value[0] == '\0' || topic_cleanup_policy_parse(value, &policy) != 0) {
            *why = "cleanup.policy must be delete, compact or compact,delete";
            return -1;
        }
        cfg->cleanup_policy = policy;
        return 0;
    }
    if (k == K_DIRTY_RATIO) {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
            *why = "min.cleanable.dirty.ratio must be a number in [0, 1]";
            return -1;
        }
        cfg->min_cleanable_dirty_ratio = v;
        return 0;
    }
    int64_t v;
    bool zero_means_default = k == K_RETENTION_MS || k == K_RETENTION_BYTES;
    if (!parse_i64(value, RANGES[k].min, RANGES[k].max, &v) || (zero_means_default && v == 0)) {
        *why = RANGES[k].why;
        return -1;
    }
    *int_field(cfg, k) = v;
    return 0;
}

int topic_config_reset(struct topic_config *cfg, const char *name,
                       const struct topic_config *defaults, const char **why)
{
    int k = key_of(name ? name : "");
    if (k < 0) {
        *why = "unknown config name";
        return -1;
    }
    if (k == K_CLEANUP_POLICY)
        cfg->cleanup_policy = defaults->cleanup_policy;
    else if (k == K_DIRTY_RATIO)
        cfg->min_cleanable_dirty_ratio = defaults->min_cleanable_dirty_ratio;
    else
        *int_field(cfg, k) = *int_field((struct topic_config *)defaults, k);
    return 0;
}

/* The value of key k in effect (0 stands for the engine's default in two fields). */
static void effective(const struct topic_config *cfg, int k, char out[TOPIC_CONFIG_VALUE_MAX])
{
    struct topic_config c = *cfg;
    if (k == K_CLEANUP_POLICY) {
        snprintf(out, TOPIC_CONFIG_VALUE_MAX, "%s", topic_cleanup_policy_name(c.cleanup_policy));
    } else if (k == K_DIRTY_RATIO) {
        double v =
            c.min_cleanable_dirty_ratio > 0 ? c.min_cleanable_dirty_ratio : DEFAULT_DIRTY_RATIO;
        snprintf(out, TOPIC_CONFIG_VALUE_MAX, "%g", v);
    } else {
        int64_t v = *int_field(&c, k);
        if (k == K_DELETE_RETENTION_MS && v == 0)
            v = DEFAULT_DELETE_RETENTION_MS;
        snprintf(out, TOPIC_CONFIG_VALUE_MAX, "%lld", (long long)v);
    }
}

size_t topic_config_describe(const struct topic_config *cfg, const struct topic_config *defaults,
                             struct topic_config_entry out[TOPIC_CONFIG_KEYS])
{
    for (int k = 0; k < TOPIC_CONFIG_KEYS; k++) {
        char dflt[TOPIC_CONFIG_VALUE_MAX];
        out[k].name = NAMES[k];
        effective(cfg, k, out[k].value);
        effective(defaults, k, dflt);
        out[k].is_default = strcmp(out[k].value, dflt) == 0;
    }
    assert(strcmp(out[K_CLEANUP_POLICY].name, "cleanup.policy") == 0);
    return TOPIC_CONFIG_KEYS;
}
