/*
 * A topic's config as Kafka's names and text values (DescribeConfigs,
 * AlterConfigs): retention.ms, retention.bytes, segment.bytes, segment.ms,
 * cleanup.policy, delete.retention.ms, min.cleanable.dirty.ratio,
 * min.compaction.lag.ms. Names may also be spelled with '_' for '.'
 * (the wire TopicConfig's field names).
 */
#ifndef RINGLOG_BROKER_TOPIC_CONFIG_TEXT_H
#define RINGLOG_BROKER_TOPIC_CONFIG_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "topics.h"

#define TOPIC_CONFIG_KEYS 8
#define TOPIC_CONFIG_VALUE_MAX 32

struct broker_config;

/* What a topic created without any config gets from this broker. */
void topic_config_defaults(const struct broker_config *bc, struct topic_config *out);

/*
 * Sets `name` to the text `value`, checked as CreateTopics checks it (and
 * as the storage engine will). 0, or -1 with *why (static text) for an
 * unknown name or a bad value; cfg is unchanged then.
 */
int topic_config_set(struct topic_config *cfg, const char *name, const char *value,
                     const char **why);

/* Deletes `name`: back to its value in `defaults`. 0, or -1 with *why for an unknown name. */
int topic_config_reset(struct topic_config *cfg, const char *name,
                       const struct topic_config *defaults, const char **why);

struct topic_config_entry {
    const char *name; /* Kafka's */
    char value[TOPIC_CONFIG_VALUE_MAX];
    bool is_default; /* the value in effect is the default's */
};

/* Every config in effect, in a fixed order; returns TOPIC_CONFIG_KEYS. */
size_t topic_config_describe(const struct topic_config *cfg, const struct topic_config *defaults,
                             struct topic_config_entry out[TOPIC_CONFIG_KEYS]);

#endif
