/*
 * ringlog consume TOPIC: prints messages as they arrive, one per output
 * record, flushed one by one (a pipe sees each at once, as with kcat).
 * Stops after --count messages; with --exit-at-end once every assigned
 * partition has reached the end it had when consume started; with
 * --timeout-ms once it has reached that end and nothing new came for that
 * long; else on Ctrl-C / SIGTERM (exit 130 / 143).
 *
 * With --group (and no --partition) it subscribes: a member of the group,
 * reading the partitions the coordinator gives it, committing what it
 * printed whenever one is revoked and on exit (docs/CONSUMER_GROUPS.md).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "format.h"

#define SLICE_MS 100

struct part {
    int32_t id;
    int64_t start, end; /* log start and high watermark when consume began */
    bool at_end;
    bool assigned; /* ours now (a group member's partitions come and go) */
};

/* The partitions planned, for the rebalance callback of a group member. */
struct plan {
    struct part *parts;
    size_t n;
};

struct consume_opts {
    const char *topic, *group, *format;
    bool json, exit_at_end;
    int64_t partition, offset, count, timeout_ms;
    char delim[64];
    size_t dlen;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Flags into co and conf. Returns 0 or 2. */
static int consume_options(const struct cli_args *a, ringlog_conf *conf, struct consume_opts *co)
{
    memset(co, 0, sizeof(*co));
    co->topic = a->operands[0];
    co->partition = -1;
    co->offset = RINGLOG_OFFSET_END;
    co->count = co->timeout_ms = -1;
    int starts = cli_has(a, "from-beginning") + cli_has(a, "from-latest") + cli_has(a, "offset");
    if (starts > 1)
        return cli_usage(a->cmd, "use only one of --from-beginning, --offset and --from-latest");
    int rc;
    if ((rc = cli_int(a, "partition", 0, INT32_MAX, &co->partition)) ||
        (rc = cli_int(a, "offset", 0, INT64_MAX, &co->offset)) ||
        (rc = cli_int(a, "count", 0, INT64_MAX, &co->count)) ||
        (rc = cli_int(a, "timeout-ms", 0, INT32_MAX, &co->timeout_ms)))
        return rc;
    co->group = cli_arg(a, "group");
    bool member = co->group && co->partition < 0; /* subscribes (else assign, offsets only) */
    if (member && cli_has(a, "offset"))
        return cli_usage(a->cmd, "a group member starts at the group's offsets: --offset needs "
                                 "--partition");
    if (cli_has(a, "from-beginning"))
        co->offset = RINGLOG_OFFSET_BEGINNING;
    else if (starts == 0 && co->group)
        co->offset = RINGLOG_OFFSET_STORED; /* the group's position, else the end */
    co->json = cli_has(a, "json");
    co->exit_at_end = cli_has(a, "exit-at-end");
    co->format = cli_arg(a, "format") ? cli_arg(a, "format") : "%v";
    if (co->json && cli_has(a, "format"))
        return cli_usage(a->cmd, "use only one of --json and --format");
    const char *delim = cli_arg(a, "delimiter");
    co->dlen = cli_unescape(delim ? delim : "\\n", co->delim, sizeof(co->delim));
    if (!co->dlen)
        return cli_usage(a->cmd, "--delimiter: expected bytes or \\n \\t \\r \\0 \\\\");
    char err[512];
    if (cli_format_check(co->format, err, sizeof(err)))
        return cli_usage(a->cmd, "%s", err);
    /* A member commits what it printed on every revoke (and on exit); with --partition the
     * offsets are committed once, on exit. */
    if (co->group &&
        (ringlog_conf_set(conf, "group", co->group, err, sizeof(err)) ||
         ringlog_conf_set(conf, "enable-auto-commit", member ? "true" : "false", err,
                          sizeof(err)) ||
         (member && ringlog_conf_set(conf, "auto-offset-reset",
                                     cli_has(a, "from-beginning") ? "earliest" : "latest", err,
                                     sizeof(err)))))
        return cli_usage(a->cmd, "%s", err);
    return 0;
}

/*
 * The partitions to read, with the offsets they have now; an --offset
 * outside a partition's range is refused rather than silently moved.
 * Returns 0 with *parts (free it) and *n, or an exit status.
 */
static int plan_partitions(ringlog_conf *conf, const struct consume_opts *co, struct part **parts,
                           size_t *n)
{
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    ringlog_topic_info *ti;
    int e = ringlog_admin_describe_topic(adm, co->topic, &ti, err, sizeof(err));
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("consume %s: %s: %s", co->topic, ringlog_err_name(e), err);
    int rc = 0;
    if (co->partition >= (int64_t)ti->partition_count)
        rc = cli_fail("consume %s: UNKNOWN_PARTITION: partition %lld; the topic has %zu", co->topic,
                      (long long)co->partition, ti->partition_count);
    *n = co->partition >= 0 ? 1 : ti->partition_count;
    *parts = rc ? NULL : calloc(*n ? *n : 1, sizeof(**parts));
    for (size_t i = 0; *parts && i < *n; i++) {
        const ringlog_partition_info *pi =
            &ti->partitions[co->partition >= 0 ? (size_t)co->partition : i];
        (*parts)[i] = (struct part){pi->partition, pi->start_offset, pi->high_watermark, false,
                                    !co->group || co->partition >= 0};
        if (co->offset >= 0 && co->offset > pi->high_watermark)
            rc = cli_fail("consume %s: --offset %lld is past the end of partition %d (its next "
                          "offset is %lld)",
                          co->topic, (long long)co->offset, pi->partition,
                          (long long)pi->high_watermark);
        else if (co->offset >= 0 && co->offset < pi->start_offset)
            rc = cli_fail("consume %s: --offset %lld is before the start of partition %d (its "
                          "first offset is %lld)",
                          co->topic, (long long)co->offset, pi->partition,
                          (long long)pi->start_offset);
        if (rc)
            break;
    }
    ringlog_free(ti);
    if (rc == 0 && !*parts)
        rc = cli_fail("out of memory");
    if (rc) {
        free(*parts);
        *parts = NULL;
    }
    return rc;
}

/* A group member's partitions as the coordinator moves them. */
static void on_rebalance(ringlog_consumer *c, ringlog_rebalance_event ev,
                         const ringlog_topic_partition *tps, size_t n, void *opaque)
{
    (void)c;
    struct plan *plan = opaque;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < plan->n; k++)
            if (plan->parts[k].id == tps[i].partition)
                plan->parts[k].assigned = ev == RINGLOG_REBALANCE_ASSIGNED;
}

/* A consumer in group co->group, subscribed to the topic; NULL after a message. */
static ringlog_consumer *start_member(ringlog_conf *conf, const struct consume_opts *co,
                                      struct plan *plan)
{
    char err[512];
    cli_signals_block(true); /* the I/O thread never takes our signals */
    ringlog_consumer *c = ringlog_consumer_new(conf, err, sizeof(err));
    cli_signals_block(false);
    if (!c) {
        cli_fail("%s", err);
        return NULL;
    }
    const char *topics[] = {co->topic};
    int e = ringlog_consumer_set_rebalance_cb(c, on_rebalance, plan);
    if (!e)
        e = ringlog_consumer_subscribe(c, topics, 1);
    if (e) {
        cli_fail("consume %s: subscribe: %s", co->topic, ringlog_err_name(e));
        ringlog_consumer_destroy(c);
        return NULL;
    }
    return c;
}

/* A consumer assigned to every planned partition at co->offset, or NULL after a message. */
static ringlog_consumer *start_consumer(ringlog_conf *conf, const struct consume_opts *co,
                                        const struct part *parts, size_t n)
{
    ringlog_topic_partition *tps = calloc(n ? n : 1, sizeof(*tps));
    if (!tps) {
        cli_fail("out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        tps[i] = (ringlog_topic_partition){co->topic, parts[i].id, co->offset};
    char err[512];
    cli_signals_block(true); /* the I/O thread never takes our signals */
    ringlog_consumer *c = ringlog_consumer_new(conf, err, sizeof(err));
    cli_signals_block(false);
    int e = c ? ringlog_consumer_assign(c, tps, n) : 0;
    free(tps);
    if (!c)
        cli_fail("%s", err);
    if (e) {
        cli_fail("consume %s: assign: %s", co->topic, ringlog_err_name(e));
        ringlog_consumer_destroy(c);
        c = NULL;
    }
    return c;
}

/* Whether every partition has reached the end it had at start (asking the consumer's positions). */
static bool all_at_end(ringlog_consumer *c, const char *topic, struct part *parts, size_t n)
{
    bool all = true, any = false;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i].assigned)
            continue; /* a group member's: another member reads it */
        any = true;
        int64_t pos = -1;
        if (!parts[i].at_end && ringlog_consumer_position(c, topic, parts[i].id, &pos) == 0 &&
            pos >= parts[i].end)
            parts[i].at_end = true;
        all = all && parts[i].at_end;
    }
    return all && any;
}

/* One message and the delimiter, flushed. 0, or 1 after a message. */
static int print_message(const struct consume_opts *co, const ringlog_message *m)
{
    assert(m && co->dlen > 0);
    if (co->json)
        cli_format_message_json(stdout, m);
    else if (cli_format_message(stdout, co->format, m))
        return cli_fail("writing output: %s", strerror(errno));
    if (fwrite(co->delim, 1, co->dlen, stdout) != co->dlen || fflush(stdout) != 0)
        return cli_fail("writing output: %s", strerror(errno));
    return 0;
}

/* Polls and prints until a stop condition (see the top of the file). *got counts messages. */
static int consume_loop(ringlog_consumer *c, const struct consume_opts *co, struct part *parts,
                        size_t n, int64_t *got)
{
    assert(c && parts && *got == 0);
    int64_t idle_since = now_ms();
    bool caught_up = all_at_end(c, co->topic, parts, n);
    while (!cli_signal && (co->count < 0 || *got < co->count)) {
        if (caught_up && co->exit_at_end)
            return 0;
        if (caught_up && co->timeout_ms >= 0 && now_ms() - idle_since >= co->timeout_ms)
            return 0;
        const ringlog_message *m;
        int e = ringlog_consumer_poll(c, SLICE_MS, &m);
        if (e == RINGLOG_ERR_TIMED_OUT) {
            if (!caught_up && (caught_up = all_at_end(c, co->topic, parts, n)))
                idle_since = now_ms(); /* idle time counts from the end on */
            continue;
        }
        if (e == RINGLOG_ERR_PARTITION_EOF)
            continue; /* -X enable.partition.eof=true: the end is not a failure */
        if (e)
            return cli_fail("consume %s: %s: %s", co->topic, ringlog_err_name(e),
                            ringlog_consumer_errstr(c));
        idle_since = now_ms();
        for (size_t i = 0; i < n; i++)
            if (parts[i].id == m->partition && m->offset + 1 >= parts[i].end)
                parts[i].at_end = true;
        caught_up = all_at_end(c, co->topic, parts, n);
        int rc = print_message(co, m);
        if (rc)
            return rc;
        ++*got;
    }
    return 0;
}

static int consume(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    struct consume_opts co;
    int rc = consume_options(a, conf, &co);
    if (rc)
        return rc;
    struct part *parts = NULL;
    size_t n = 0;
    if (co.count == 0 || (rc = plan_partitions(conf, &co, &parts, &n)))
        return rc;
    struct plan plan = {parts, n};
    bool member = co.group && co.partition < 0;
    ringlog_consumer *c =
        member ? start_member(conf, &co, &plan) : start_consumer(conf, &co, parts, n);
    if (!c) {
        free(parts);
        return EXIT_FAILURE;
    }
    cli_signals_die_at_once(false); /* commit what was printed before leaving */
    int64_t got = 0;
    rc = consume_loop(c, &co, parts, n, &got);
    int e;
    if (co.group && !member && got > 0 && (e = ringlog_consumer_commit(c, 10000)) && rc == 0)
        rc = cli_fail("commit for group %s: %s: %s", co.group, ringlog_err_name(e),
                      ringlog_consumer_errstr(c));
    ringlog_consumer_destroy(c);
    free(parts);
    return cli_signal ? cli_interrupted_status() : rc;
}

static const struct cli_flag FLAGS[] = {
    {"partition", "P", "read only partition P (default: every partition)", false},
    {"from-beginning", NULL, "start at each partition's first offset", false},
    {"offset", "N", "start at offset N (an error if N is outside the partition)", false},
    {"from-latest", NULL, "start at the end: only new messages (the default)", false},
    {"count", "N", "stop after N messages", false},
    {"exit-at-end", NULL, "stop once every partition reached the end it had at start", false},
    {"timeout-ms", "MS", "stop once at that end and nothing new came for MS", false},
    {"group", "G", "be a member of consumer group G (see below)", false},
    {"format", "FMT", "how to print a message (default %v; codes below)", false},
    {"json", NULL, "print each message as a JSON object instead", false},
    {"delimiter", "D", "print D after each message (default \\n; \\0 for binary)", false},
};

static const struct cli_cmd SPEC = {
    "consume",
    "TOPIC",
    1,
    1,
    "Prints messages, one per line (each flushed at once), until a stop condition or Ctrl-C.",
    FLAGS,
    sizeof(FLAGS) / sizeof(FLAGS[0]),
    "FMT codes: %t topic, %p partition, %o offset, %k key, %v value, %h headers (k=v,k=v),\n"
    "  %T timestamp (ms), %% a percent sign; escapes \\n \\t \\\\ \\0.\n"
    "--json prints "
    "{\"topic\",\"partition\",\"offset\",\"timestamp\",\"key\",\"value\",\"headers\"};\n"
    "  keys and values that are not UTF-8 come as \"key_base64\" / \"value_base64\".\n"
    "--group G: a member of consumer group G; the members share the topic's partitions\n"
    "  (each message goes to one of them), start at the group's committed offsets (else the\n"
    "  end, or the beginning with --from-beginning) and commit what they printed whenever a\n"
    "  partition moves away and on exit. With --partition P the group's offsets are used\n"
    "  and committed on exit, outside its membership (refused while it has members).\n"
    "Exit status: 0 at a stop condition, 1 on an error, 130/143 on SIGINT/SIGTERM.\n"};

const struct cli_command CLI_CONSUME = {&SPEC, consume};
