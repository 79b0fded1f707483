/* ringlog group list | describe | delete | reset-offsets (docs/CONSUMER_GROUPS.md). */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"

/* A new admin client, or NULL after printing why. */
static ringlog_admin *group_admin(ringlog_conf *conf)
{
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        cli_fail("%s", err);
    return adm;
}

static int group_list(const struct cli_args *a, ringlog_conf *conf)
{
    (void)a;
    assert(a->noperands == 0);
    ringlog_admin *adm = group_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    ringlog_group_listing *groups;
    size_t n;
    int e = ringlog_admin_list_groups(adm, &groups, &n, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("group list: %s: %s", ringlog_err_name(e), err);
    for (size_t i = 0; i < n; i++)
        printf("%s state=%s members=%d\n", groups[i].group, groups[i].state, groups[i].members);
    ringlog_free(groups);
    return 0;
}

static void print_member(const ringlog_group_member_info *m)
{
    printf("member=%s instance=%s client=%s epoch=%d partitions=", m->member_id,
           m->instance_id[0] ? m->instance_id : "-", m->client_id[0] ? m->client_id : "-",
           m->epoch);
    for (size_t k = 0; k < m->assignment_count; k++)
        printf("%s%s-%d", k ? "," : "", m->assignment[k].topic, m->assignment[k].partition);
    puts(m->assignment_count ? "" : "-");
}

static void print_number(const char *key, int64_t v)
{
    if (v < 0)
        printf(" %s=-", key);
    else
        printf(" %s=%lld", key, (long long)v);
}

static int group_describe(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1);
    const char *name = a->operands[0];
    ringlog_admin *adm = group_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    ringlog_group_info *g;
    int e = ringlog_admin_describe_group(adm, name, &g, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("group describe %s: %s: %s", name, ringlog_err_name(e), err);
    printf("group=%s state=%s assignor=%s epoch=%d members=%zu\n", g->group, g->state, g->assignor,
           g->epoch, g->member_count);
    for (size_t i = 0; i < g->member_count; i++)
        print_member(&g->members[i]);
    for (size_t i = 0; i < g->offset_count; i++) {
        const ringlog_group_offset_info *o = &g->offsets[i];
        printf("topic=%s partition=%d", o->topic, o->partition);
        print_number("committed", o->committed);
        print_number("end", o->log_end);
        print_number("lag", o->lag);
        printf(" member=%s\n", o->member_id[0] ? o->member_id : "-");
    }
    printf("total-lag=%lld\n", (long long)g->total_lag);
    ringlog_free(g);
    return 0;
}

static int group_delete(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1);
    const char *name = a->operands[0];
    ringlog_admin *adm = group_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    int e = ringlog_admin_delete_group(adm, name, err, sizeof(err));
    ringlog_admin_destroy(adm);
    return e ? cli_fail("group delete %s: %s: %s", name, ringlog_err_name(e), err) : 0;
}

/* ISO 8601 (YYYY-MM-DDTHH:MM:SS[.mmm][Z], UTC) to ms since the epoch; -1 when malformed. */
static int64_t parse_datetime(const char *text)
{
    struct tm tm = {0};
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    int64_t ms = 0;
    if (*rest == '.') {
        char *end;
        long frac = strtol(rest + 1, &end, 10);
        if (end - rest - 1 != 3 || frac < 0)
            return -1;
        ms = frac;
        rest = end;
    }
    if (*rest == 'Z')
        rest++;
    if (*rest)
        return -1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The reset target from the --to-* flags: 0 with *to (and *ts), or an exit status. */
static int reset_target(const struct cli_args *a, int64_t *to, int64_t *ts)
{
    int picked = cli_has(a, "to-earliest") + cli_has(a, "to-latest") + cli_has(a, "to-datetime") +
                 cli_has(a, "to-offset");
    if (picked != 1)
        return cli_usage(
            a->cmd, "give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset");
    *ts = -1;
    if (cli_has(a, "to-earliest"))
        *to = RINGLOG_OFFSET_BEGINNING;
    else if (cli_has(a, "to-latest"))
        *to = RINGLOG_OFFSET_END;
    else if (cli_has(a, "to-offset"))
        return cli_int(a, "to-offset", 0, INT64_MAX, to);
    else if ((*ts = parse_datetime(cli_arg(a, "to-datetime"))) < 0)
        return cli_usage(a->cmd, "--to-datetime: expected YYYY-MM-DDTHH:MM:SS[.mmm] (UTC), not %s",
                         cli_arg(a, "to-datetime"));
    else
        *to = RINGLOG_OFFSET_TIMESTAMP;
    return 0;
}

static int group_reset(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1);
    const char *name = a->operands[0], *topic = cli_arg(a, "topic");
    if (!topic)
        return cli_usage(a->cmd, "--topic is required");
    int64_t to = 0, ts = -1;
    int rc = reset_target(a, &to, &ts);
    if (rc)
        return rc;
    ringlog_admin *adm = group_admin(conf);
    if (!adm)
        return EXIT_FAILURE;
    char err[512];
    int e = ringlog_admin_reset_group_offsets(adm, name, topic, to, ts, err, sizeof(err));
    ringlog_group_info *g = NULL;
    if (!e)
        e = ringlog_admin_describe_group(adm, name, &g, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("group reset-offsets %s: %s: %s", name, ringlog_err_name(e), err);
    for (size_t i = 0; i < g->offset_count; i++)
        if (!strcmp(g->offsets[i].topic, topic))
            printf("topic=%s partition=%d committed=%lld\n", topic, g->offsets[i].partition,
                   (long long)g->offsets[i].committed);
    ringlog_free(g);
    return 0;
}

static const struct cli_cmd LIST = {
    "group list", "", 0,   0, "Prints every consumer group: NAME state=STATE members=N.",
    NULL,         0,  NULL};

static const struct cli_cmd DESCRIBE = {
    "group describe",
    "GROUP",
    1,
    1,
    "Prints a group, its members and their partitions, then per partition the committed\n"
    "offset, the log end (high watermark) and the lag, and the total lag.",
    NULL,
    0,
    "Lines: group=G state=S assignor=A epoch=E members=N; member=ID instance=I client=C\n"
    "epoch=E partitions=T-P,..; topic=T partition=P committed=O end=O lag=N member=ID;\n"
    "total-lag=N. A '-' stands for none / unknown.\n"};

static const struct cli_cmd DELETE = {
    "group delete", "GROUP", 1,   1, "Deletes a group with no members and its committed offsets.",
    NULL,           0,       NULL};

static const struct cli_flag RESET_FLAGS[] = {
    {"topic", "T", "the topic whose partitions are reset (all of them)", false},
    {"to-earliest", NULL, "each partition's first offset", false},
    {"to-latest", NULL, "each partition's end: only new messages", false},
    {"to-datetime", "ISO", "the first offset at or after YYYY-MM-DDTHH:MM:SS[.mmm] UTC", false},
    {"to-offset", "N", "offset N (clamped into each partition's range)", false},
};

static const struct cli_cmd RESET = {
    "group reset-offsets",
    "GROUP",
    1,
    1,
    "Sets the group's committed offsets of a topic; only while the group has no members.",
    RESET_FLAGS,
    sizeof(RESET_FLAGS) / sizeof(RESET_FLAGS[0]),
    "Prints topic=T partition=P committed=O for each partition afterwards.\n"};

const struct cli_command CLI_GROUP_LIST = {&LIST, group_list};
const struct cli_command CLI_GROUP_DESCRIBE = {&DESCRIBE, group_describe};
const struct cli_command CLI_GROUP_DELETE = {&DELETE, group_delete};
const struct cli_command CLI_GROUP_RESET = {&RESET, group_reset};
