/* ringlog topic add-partitions | describe-config | alter-config | delete-records | offsets. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "format.h"

#define MAX_ALTERS 64

ringlog_admin *cli_admin(ringlog_conf *conf)
{
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        cli_fail("%s", err);
    return adm;
}

static int add_partitions(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    int64_t total = 0;
    int rc = cli_int(a, "partitions", 1, 10000, &total);
    if (rc)
        return rc;
    if (total == 0)
        return cli_usage(a->cmd, "--partitions N is required (the new total)");
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    int e = ringlog_admin_create_partitions(adm, name, (int32_t)total, err, sizeof(err));
    ringlog_admin_destroy(adm);
    return e ? cli_fail("topic add-partitions %s: %s: %s", name, ringlog_err_name(e), err) : 0;
}

static int describe_config(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    ringlog_config_entry *entries;
    size_t n;
    int e = ringlog_admin_describe_configs(adm, name, &entries, &n, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("topic describe-config %s: %s: %s", name, ringlog_err_name(e), err);
    if (cli_has(a, "json"))
        cli_format_configs_json(stdout, name, entries, n);
    else
        for (size_t i = 0; i < n; i++)
            printf("%s=%s%s\n", entries[i].name, entries[i].value,
                   entries[i].is_default ? " (default)" : "");
    ringlog_free(entries);
    return 0;
}

/* --set KEY=VALUE (repeated) and --delete KEY[,KEY...] into alters; their count, or -1. */
static int parse_alters(const struct cli_args *a, ringlog_config_alter *alters, char *names,
                        size_t names_cap)
{
    int n = 0;
    for (int i = 0; i < a->nrepeated && n < MAX_ALTERS; i++) {
        const char *kv = a->repeated[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            return -1;
        size_t len = (size_t)(eq - kv);
        if (len + 1 > names_cap)
            return -1;
        memcpy(names, kv, len);
        names[len] = '\0';
        alters[n++] =
            (ringlog_config_alter){.name = names, .op = RINGLOG_CONFIG_SET, .value = eq + 1};
        names += len + 1;
        names_cap -= len + 1;
    }
    const char *del = cli_arg(a, "delete");
    if (del && strlen(del) + 1 <= names_cap) {
        strcpy(names, del);
        for (char *save = NULL, *k = strtok_r(names, ",", &save); k && n < MAX_ALTERS;
             k = strtok_r(NULL, ",", &save))
            alters[n++] = (ringlog_config_alter){.name = k, .op = RINGLOG_CONFIG_DELETE};
    } else if (del) {
        return -1;
    }
    return n;
}

static int alter_config(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    ringlog_config_alter alters[MAX_ALTERS];
    char names[4096];
    int n = parse_alters(a, alters, names, sizeof(names));
    if (n <= 0)
        return cli_usage(a->cmd, n < 0 ? "--set takes KEY=VALUE"
                                       : "nothing to change: give --set "
                                         "KEY=VALUE or --delete KEY");
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    int e = ringlog_admin_alter_configs(adm, name, alters, (size_t)n, cli_has(a, "validate-only"),
                                        err, sizeof(err));
    ringlog_admin_destroy(adm);
    return e ? cli_fail("topic alter-config %s: %s: %s", name, ringlog_err_name(e), err) : 0;
}

static int delete_records(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    int64_t partition = -1, before = -2;
    int rc;
    if ((rc = cli_int(a, "partition", 0, 9999, &partition)) ||
        (rc = cli_int(a, "before", -1, INT64_MAX, &before)))
        return rc;
    if (partition < 0 || before == -2)
        return cli_usage(a->cmd, "--partition P and --before OFFSET are required");
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512] = "";
    ringlog_partition_offset po = {.partition = (int32_t)partition, .offset = before};
    int e = ringlog_admin_delete_records(adm, name, &po, 1, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (!e && po.err)
        return cli_fail("topic delete-records %s: partition %d: %s: %s", name, po.partition,
                        ringlog_err_name(po.err), ringlog_err_str(po.err));
    if (e)
        return cli_fail("topic delete-records %s: %s: %s", name, ringlog_err_name(e), err);
    printf("partition=%d start=%lld\n", po.partition, (long long)po.offset);
    return 0;
}

/* --time: earliest, latest or a timestamp in ms; -3 after a usage error. */
static int64_t offsets_spec(const struct cli_args *a)
{
    const char *t = cli_arg(a, "time");
    if (!t || strcmp(t, "latest") == 0)
        return RINGLOG_OFFSET_END;
    if (strcmp(t, "earliest") == 0)
        return RINGLOG_OFFSET_BEGINNING;
    int64_t ms = -1;
    return cli_int(a, "time", 0, INT64_MAX, &ms) ? -3 : ms;
}

static int offsets(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    const char *name = a->operands[0];
    int64_t spec = offsets_spec(a);
    if (spec == -3)
        return 2;
    ringlog_admin *adm = cli_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    ringlog_topic_info *ti = NULL;
    int e = ringlog_admin_describe_topic(adm, name, &ti, err, sizeof(err));
    ringlog_partition_offset *po = e ? NULL : calloc(ti->partition_count + 1, sizeof(*po));
    for (size_t i = 0; po && i < ti->partition_count; i++)
        po[i] =
            (ringlog_partition_offset){.partition = ti->partitions[i].partition, .offset = spec};
    if (!e)
        e = po ? ringlog_admin_list_offsets(adm, name, po, ti->partition_count, err, sizeof(err))
               : RINGLOG_ERR_NOMEM;
    ringlog_admin_destroy(adm);
    int status = 0;
    if (e)
        status = cli_fail("topic offsets %s: %s: %s", name, ringlog_err_name(e), err);
    for (size_t i = 0; !e && i < ti->partition_count; i++) {
        if (po[i].err)
            printf("partition=%d error=%s\n", po[i].partition, ringlog_err_name(po[i].err));
        else
            printf("partition=%d offset=%lld timestamp=%lld\n", po[i].partition,
                   (long long)po[i].offset, (long long)po[i].timestamp);
        status = po[i].err ? EXIT_FAILURE : status;
    }
    free(po);
    ringlog_free(ti);
    return status;
}

static const struct cli_flag ADD_FLAGS[] = {
    {"partitions", "N", "the topic's new partition count (more than it has)", false}};
static const struct cli_flag DESCRIBE_FLAGS[] = {
    {"json", NULL, "print one JSON object instead of text", false}};
static const struct cli_flag ALTER_FLAGS[] = {
    {"set", "KEY=VALUE", "set a config (Kafka's names: retention.ms, segment.bytes, ...)", true},
    {"delete", "KEY[,KEY]", "put configs back to the broker's defaults", false},
    {"validate-only", NULL, "check the change, apply nothing", false}};
static const struct cli_flag DELETE_FLAGS[] = {
    {"partition", "P", "the partition", false},
    {"before", "OFFSET", "the new log start: records below it go (-1: the high watermark)", false}};
static const struct cli_flag OFFSETS_FLAGS[] = {
    {"time", "MS|earliest|latest", "what to list (default latest: the high watermark)", false}};

#define NFLAGS(f) (sizeof(f) / sizeof((f)[0]))

static const struct cli_cmd ADD = {
    "topic add-partitions",
    "NAME",
    1,
    1,
    "Grows a topic to --partitions N (silent on success).",
    ADD_FLAGS,
    NFLAGS(ADD_FLAGS),
    "Partitions are only added. On a cluster the new replicas are placed as at create.\n"
    "Producers and consumers see them at their next metadata refresh.\n"};
static const struct cli_cmd DESCRIBE_CONFIG = {
    "topic describe-config",
    "NAME",
    1,
    1,
    "Prints KEY=VALUE per config, \" (default)\" after a broker default.",
    DESCRIBE_FLAGS,
    NFLAGS(DESCRIBE_FLAGS),
    NULL};
static const struct cli_cmd ALTER_CONFIG = {
    "topic alter-config",
    "NAME",
    1,
    1,
    "Sets or deletes topic configs, the others unchanged (silent on success).",
    ALTER_FLAGS,
    NFLAGS(ALTER_FLAGS),
    "Applied live to every partition (every broker of a cluster) and kept across restarts.\n"
    "Keys: retention.ms, retention.bytes, segment.bytes, segment.ms, cleanup.policy,\n"
    "delete.retention.ms, min.cleanable.dirty.ratio, min.compaction.lag.ms.\n"};
static const struct cli_cmd DELETE_RECORDS = {
    "topic delete-records",
    "NAME",
    1,
    1,
    "Moves a partition's log start to --before; prints partition=P start=OFFSET.",
    DELETE_FLAGS,
    NFLAGS(DELETE_FLAGS),
    "Records below the new start can no longer be read; the offset may not pass the high\n"
    "watermark.\n"};
static const struct cli_cmd OFFSETS = {
    "topic offsets",
    "NAME",
    1,
    1,
    "Prints partition=P offset=O timestamp=T per partition (earliest, latest or by time).",
    OFFSETS_FLAGS,
    NFLAGS(OFFSETS_FLAGS),
    "--time MS: the first record at or after MS (offset -1: none that recent).\n"};

const struct cli_command CLI_TOPIC_ADD_PARTITIONS = {&ADD, add_partitions};
const struct cli_command CLI_TOPIC_DESCRIBE_CONFIG = {&DESCRIBE_CONFIG, describe_config};
const struct cli_command CLI_TOPIC_ALTER_CONFIG = {&ALTER_CONFIG, alter_config};
const struct cli_command CLI_TOPIC_DELETE_RECORDS = {&DELETE_RECORDS, delete_records};
const struct cli_command CLI_TOPIC_OFFSETS = {&OFFSETS, offsets};
