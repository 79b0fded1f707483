/*
 * Topic configs as text (broker/topic_config_text.h), as DescribeConfigs and
 * AlterConfigs use them: Kafka's names (and the wire's '_' spelling), every
 * value checked as CreateTopics and the storage engine check it, deletes
 * back to the broker's defaults, and what describe calls a default.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "topic_config_text.h"

static struct broker_config bc;
static struct topic_config defaults;

static void setup(void)
{
    memset(&bc, 0, sizeof(bc));
    bc.default_retention_ms = 7LL * 24 * 3600 * 1000;
    bc.default_retention_bytes = -1;
    bc.default_segment_bytes = 1LL << 30;
    bc.default_segment_ms = 7LL * 24 * 3600 * 1000;
    topic_config_defaults(&bc, &defaults);
}

TestSuite(topic_config, .init = setup);

static void refused(const char *name, const char *value, const char *why_has)
{
    struct topic_config c = defaults;
    const char *why = NULL;
    cr_assert_eq(topic_config_set(&c, name, value, &why), -1, "%s=%s accepted", name, value);
    cr_assert(why && strstr(why, why_has), "%s=%s: %s", name, value, why ? why : "(none)");
    cr_assert_eq(memcmp(&c, &defaults, sizeof(c)), 0, "a refused value changed the config");
}

Test(topic_config, bad_values_are_refused_with_the_reason)
{
    refused("retention.ms", "-2", "retention.ms");
    refused("retention.ms", "0", "retention.ms");
    refused("retention.ms", "12abc", "retention.ms");
    refused("retention.ms", "", "retention.ms");
    refused("retention.bytes", "99999999999999999999", "retention.bytes");
    refused("segment.bytes", "4095", "4096");
    refused("segment.bytes", "2147483649", "2147483648");
    refused("segment.ms", "0", "segment.ms");
    refused("cleanup.policy", "shred", "cleanup.policy");
    refused("cleanup.policy", "", "cleanup.policy");
    refused("delete.retention.ms", "-1", "delete.retention.ms");
    refused("min.cleanable.dirty.ratio", "1.5", "[0, 1]");
    refused("min.cleanable.dirty.ratio", "nan", "[0, 1]");
    refused("min.compaction.lag.ms", "-3", "min.compaction.lag.ms");
    refused("max.message.bytes", "1", "unknown config");
    refused("", "1", "unknown config");
}

Test(topic_config, set_delete_and_describe)
{
    struct topic_config c = defaults;
    const char *why = NULL;
    cr_assert_eq(topic_config_set(&c, "retention.ms", "-1", &why), 0);
    cr_assert_eq(topic_config_set(&c, "segment_bytes", "4096", &why), 0, "'_' spelling");
    cr_assert_eq(topic_config_set(&c, "cleanup.policy", "delete,compact", &why), 0);
    cr_assert_eq(topic_config_set(&c, "min.cleanable.dirty.ratio", "0.25", &why), 0);
    struct topic_config_entry e[TOPIC_CONFIG_KEYS];
    cr_assert_eq(topic_config_describe(&c, &defaults, e), TOPIC_CONFIG_KEYS);
    cr_assert_str_eq(e[0].name, "retention.ms");
    cr_assert_str_eq(e[0].value, "-1");
    cr_assert(!e[0].is_default);
    cr_assert_str_eq(e[2].value, "4096");
    cr_assert_str_eq(e[4].value, "compact,delete");
    cr_assert_str_eq(e[5].value, "86400000", "delete.retention.ms 0 is the engine's 24 h");
    cr_assert(e[5].is_default);
    cr_assert_str_eq(e[6].value, "0.25");
    cr_assert_eq(topic_config_reset(&c, "retention.ms", &defaults, &why), 0);
    cr_assert_eq(topic_config_reset(&c, "cleanup_policy", &defaults, &why), 0);
    cr_assert_eq(topic_config_reset(&c, "nope", &defaults, &why), -1);
    topic_config_describe(&c, &defaults, e);
    cr_assert_str_eq(e[0].value, "604800000");
    cr_assert(e[0].is_default);
    cr_assert_str_eq(e[4].value, "delete");
    cr_assert(e[4].is_default);
    cr_assert(!e[2].is_default, "segment.bytes keeps its value");
}
