/*
 * ringlog partition reassign and ringlog broker decommission: the moves go
 * to the controller, then (unless --no-wait) the command watches each
 * partition's leader until the group's replicas are the new ones and all
 * in sync, printing what it waits for.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"

#define WAIT_STEP_MS 200

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1,2,4" into ids (at most cap); the count, or 0 when it is not such a list. */
static size_t parse_ids(const char *text, int32_t *ids, size_t cap)
{
    size_t n = 0;
    const char *p = text;
    while (*p && n < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0'))
            return 0;
        ids[n++] = (int32_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    return *p == '\0' ? n : 0;
}

static bool same_set(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t k = 0; k < nb && !found; k++)
            found = a[i] == b[k];
        if (!found)
            return false;
    }
    return true;
}

/* 1: partition p of topic is done (its leader's replicas are `want`, all in sync), 0: not yet,
 * -1 after a message. want NULL: done when `gone` is in none of its replicas. */
static int partition_done(ringlog_admin *adm, const char *topic, int32_t p, const int32_t *want,
                          size_t n, int32_t gone)
{
    char err[512];
    ringlog_topic_info *ti;
    int e = ringlog_admin_describe_topic(adm, topic, &ti, err, sizeof(err));
    if (e)
        return e == RINGLOG_ERR_UNKNOWN_TOPIC ? (cli_fail("%s: %s", topic, err), -1) : 0;
    int done = 1;
    for (size_t i = 0; i < ti->partition_count; i++) {
        const ringlog_partition_info *pi = &ti->partitions[i];
        if (p >= 0 && pi->partition != p)
            continue;
        bool in_sync = pi->leader >= 0 && pi->isr_count == pi->replica_count;
        bool there = want ? same_set(pi->replicas, pi->replica_count, want, n) : true;
        for (size_t k = 0; !want && k < pi->replica_count; k++)
            there &= pi->replicas[k] != gone;
        done &= there && in_sync;
    }
    ringlog_free(ti);
    return done;
}

/* Waits for every topic's partitions (topic NULL: all topics) to be done; 0, or 1 after a message.
 */
static int wait_moved(ringlog_admin *adm, const struct cli_args *a, const char *topic, int32_t p,
                      const int32_t *want, size_t n, int32_t gone)
{
    int64_t timeout = 120000;
    if (cli_int(a, "timeout-ms", 1, INT32_MAX, &timeout) != 0)
        return CLI_EXIT_USAGE;
    int64_t deadline = now_ms() + timeout;
    for (;;) {
        char err[512], **names = NULL;
        size_t count = 1;
        int rc = 1;
        if (!topic && ringlog_admin_list_topics(adm, &names, &count, err, sizeof(err)) != 0)
            count = 0, rc = 0;
        for (size_t i = 0; i < count && rc == 1; i++)
            rc = partition_done(adm, topic ? topic : names[i], p, want, n, gone);
        ringlog_free(names);
        if (rc != 0)
            return rc < 0 ? 1 : 0;
        if (now_ms() >= deadline)
            return cli_fail("still moving after %lld ms: `ringlog topic describe` shows how far "
                            "(the move goes on in the cluster)",
                            (long long)timeout);
        sleep_ms(WAIT_STEP_MS);
    }
}

static int partition_reassign(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 2 && conf);
    const char *topic = a->operands[0];
    char *end;
    long p = strtol(a->operands[1], &end, 10);
    int32_t ids[8];
    const char *list = cli_arg(a, "replicas");
    size_t n = list ? parse_ids(list, ids, 8) : 0;
    if (*end || end == a->operands[1] || p < 0 || p > INT32_MAX)
        return cli_usage(a->cmd, "PARTITION must be a partition number, not '%s'", a->operands[1]);
    if (n == 0)
        return cli_usage(a->cmd, "--replicas takes 1 to 8 broker ids like 1,2,4");
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    int e = ringlog_admin_reassign_partition(adm, topic, (int32_t)p, ids, n, err, sizeof(err));
    int rc = e ? cli_fail("partition reassign: %s: %s", ringlog_err_name(e), err) : 0;
    if (rc == 0 && !cli_has(a, "no-wait")) {
        rc = wait_moved(adm, a, topic, (int32_t)p, ids, n, -1);
        if (rc == 0)
            printf("%s-%ld moved to %s\n", topic, p, list);
    }
    ringlog_admin_destroy(adm);
    return rc;
}

static int broker_decommission(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    char *end;
    long id = strtol(a->operands[0], &end, 10);
    if (*end || end == a->operands[0] || id < 0 || id > INT32_MAX)
        return cli_usage(a->cmd, "ID must be a broker id, not '%s'", a->operands[0]);
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    size_t moved = 0;
    int e = ringlog_admin_decommission_broker(adm, (int32_t)id, &moved, err, sizeof(err));
    int rc = e ? cli_fail("broker decommission: %s: %s", ringlog_err_name(e), err) : 0;
    if (rc == 0 && !cli_has(a, "no-wait"))
        rc = wait_moved(adm, a, NULL, -1, NULL, 0, (int32_t)id);
    if (rc == 0)
        printf("broker %ld decommissioned: %zu partitions moved%s\n", id, moved,
               cli_has(a, "no-wait") ? " (moving)" : "");
    ringlog_admin_destroy(adm);
    return rc;
}

static const struct cli_flag REASSIGN_FLAGS[] = {
    {"replicas", "ID,ID,..", "the new replicas, the preferred leader first (required)", false},
    {"no-wait", NULL, "return once the controller recorded the move", false},
    {"timeout-ms", "MS", "how long to wait for the move (120000)", false},
};
static const struct cli_flag DECOMMISSION_FLAGS[] = {
    {"no-wait", NULL, "return once the controller recorded the moves", false},
    {"timeout-ms", "MS", "how long to wait for the moves (120000)", false},
};

static const struct cli_cmd REASSIGN = {
    "partition reassign",
    "TOPIC PARTITION",
    2,
    2,
    "Moves a partition's replicas to the brokers named, online (new replicas catch up before\n"
    "old ones leave), and waits until they are the partition's in-sync replicas.",
    REASSIGN_FLAGS,
    sizeof(REASSIGN_FLAGS) / sizeof(REASSIGN_FLAGS[0]),
    "Prints TOPIC-P moved to ID,.. when done; exits 1 if the move is still running at the\n"
    "timeout (it goes on in the cluster).\n"};
static const struct cli_cmd DECOMMISSION = {
    "broker decommission",
    "ID",
    1,
    1,
    "Moves every replica off a broker to the brokers holding the fewest, online, and places\n"
    "no new replica there; waits until no partition has a replica on it.",
    DECOMMISSION_FLAGS,
    sizeof(DECOMMISSION_FLAGS) / sizeof(DECOMMISSION_FLAGS[0]),
    "Prints broker ID decommissioned: N partitions moved. The broker stays a voter of the\n"
    "cluster's metadata log until it is taken out of every broker's --peers.\n"};

const struct cli_command CLI_PARTITION_REASSIGN = {&REASSIGN, partition_reassign};
const struct cli_command CLI_BROKER_DECOMMISSION = {&DECOMMISSION, broker_decommission};
