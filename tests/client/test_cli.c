/*
 * The ringlog CLI as a new user meets it (issue 14 items 4-10), as
 * processes against a real ringlogd: per-subcommand flags and --help, usage
 * errors (exit 2), --json outputs, --exit-at-end and --timeout-ms with
 * data already there, --offset past the end, delimiters and headers,
 * output flushed per message into a pipe, a broker that is not there
 * (said at once while retrying; SIGTERM stops it), Ctrl-C on a produce
 * waiting for stdin, the metrics port mistaken for the broker, and
 * --group (a group member committing on its way out).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_proc.h"
#include "run_proc.h"
#include "wire.h"

static struct broker_proc broker;
static char bootstrap_env[96], metrics_addr[64];
static struct live_proc live; /* the one CLI a test keeps running; stopped by stop() if it fails */

/* One broker for the suite's test (each Test runs in its own process), metrics on a free port. */
static void start(void)
{
    char metrics[32];
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", wire_free_port());
    const char *args[] = {"--metrics", metrics, "--shards", "1", NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    snprintf(bootstrap_env, sizeof(bootstrap_env), "RINGLOG_BOOTSTRAP=127.0.0.1:%u", broker.port);
    snprintf(metrics_addr, sizeof(metrics_addr), "%s", metrics);
}

static void stop(void)
{
    if (live.pid > 0)
        live_stop(&live, SIGKILL, 5000);
    broker_stop(&broker);
    broker_remove_data(&broker);
}

TestSuite(cli, .init = start, .fini = stop, .timeout = 90);

static int cli(const char *stdin_data, size_t stdin_len, struct proc_output *out,
               const char *const *args)
{
    const char *env[] = {bootstrap_env, NULL};
    const char *argv[32] = {RL_CLI_BIN};
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    return run_proc(argv, env, stdin_data, stdin_len, 30000, out);
}

static size_t len_of(const char *s)
{
    return s ? strlen(s) : 0;
}

#define CLI(in, out, ...) cli(in, len_of(in), out, (const char *const[]){__VA_ARGS__, NULL})

/* Runs the CLI, asserts its exit status, returns stdout (static, overwritten by the next call). */
static const char *ok_out(const char *stdin_data, const char *const *args, int want)
{
    static char saved[65536];
    struct proc_output o;
    int rc = cli(stdin_data, stdin_data ? strlen(stdin_data) : 0, &o, args);
    cr_assert_eq(rc, want, "ringlog %s %s: exit %d, want %d; stderr: %s", args[0],
                 args[1] ? args[1] : "", rc, want, o.err);
    snprintf(saved, sizeof(saved), "%s", o.out);
    proc_output_free(&o);
    return saved;
}
#define OUT(in, want, ...) ok_out(in, (const char *const[]){__VA_ARGS__, NULL}, want)

Test(cli, flags_belong_to_their_subcommand)
{
    struct proc_output o;
    cr_assert_eq(CLI(NULL, &o, "topic", "create", "typo", "--partition", "3"), 2);
    cr_assert(strstr(o.err, "unknown option \"--partition\""), "%s", o.err);
    cr_assert(strstr(o.err, "ringlog topic create --help"), "%s", o.err);
    proc_output_free(&o);
    OUT(NULL, 1, "topic", "describe", "typo"); /* nothing was created */
    cr_assert_eq(CLI(NULL, &o, "consume", "t", "--partitions", "3"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "produce", "t", "--json"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "list", "--exit-at-end"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "frobnicate"), 2);
    cr_assert(strstr(o.err, "unknown command \"frobnicate\""), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "frobnicate"), 2);
    cr_assert(strstr(o.err, "unknown topic subcommand \"frobnicate\""), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "--bootstrap", "", "topic", "list"), 2);
    cr_assert(strstr(o.err, "--bootstrap must not be empty"), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "list", "--bootstrap="), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "t", "--count", "x"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "create"), 2, "a missing operand");
    proc_output_free(&o);
    cr_assert_str_eq(OUT(NULL, 0, "--version"), "ringlog 0.1.0\n");
    const char *help = OUT(NULL, 0, "consume", "--help");
    cr_assert(strstr(help, "--exit-at-end") && strstr(help, "%k key") && strstr(help, "%o offset"),
              "%s", help);
    cr_assert(strstr(help, "a member of consumer group G"), "--group is explained: %s", help);
    cr_assert_null(strstr(help, "--partitions"), "create's flag in consume's help: %s", help);
    help = OUT(NULL, 0, "topic", "create", "--help");
    cr_assert(strstr(help, "--partitions N") && !strstr(help, "--exit-at-end"), "%s", help);
    cr_assert(strstr(help, "On a cluster the replicas are placed"), "the truth: %s", help);
    /* "--" ends the options: "--json" after it is the topic's name, not a flag. */
    cr_assert_eq(CLI(NULL, &o, "topic", "describe", "--", "--json"), 1);
    cr_assert(strstr(o.err, "topic describe --json:"), "%s", o.err);
    proc_output_free(&o);
}

Test(cli, json_outputs)
{
    OUT(NULL, 0, "topic", "create", "b", "--partitions", "1");
    OUT(NULL, 0, "topic", "create", "a");
    cr_assert_str_eq(OUT(NULL, 0, "topic", "list", "--json"), "[\"a\",\"b\"]\n");
    OUT("k:v1\nnokey\n", 0, "produce", "a", "--key-separator", ":", "--header", "h=1");
    const char *out = OUT(NULL, 0, "consume", "a", "--from-beginning", "--count", "2", "--json");
    cr_assert(strstr(out, "{\"topic\":\"a\",\"partition\":0,\"offset\":0,\"timestamp\":") == out,
              "%s", out);
    cr_assert(strstr(out, ",\"key\":\"k\",\"value\":\"v1\",\"headers\":[{\"key\":\"h\",\"value\":"
                          "\"1\"}]}\n{\"topic\":\"a\",\"partition\":0,\"offset\":1,"),
              "%s", out);
    cr_assert(strstr(out, ",\"key\":null,\"value\":\"nokey\","), "%s", out);
    OUT("\xff\xfe\n", 0, "produce", "a");
    out = OUT(NULL, 0, "consume", "a", "--offset", "2", "--count", "1", "--json");
    cr_assert(strstr(out, "\"value_base64\":\"//4=\""), "not UTF-8: base64: %s", out);
    out = OUT(NULL, 0, "topic", "describe", "a", "--json");
    cr_assert(strstr(out, "\"partitions\":[{\"partition\":0,\"leader\":1,\"replicas\":[1],"
                          "\"isr\":[1],\"start\":0,\"end\":3,\"hw\":3}]}\n"),
              "%s", out);
}

/* The topic admin commands of issue 20 item 5: output, exit codes, usage errors. */
Test(cli, topic_admin_commands)
{
    struct proc_output o;
    OUT(NULL, 0, "topic", "create", "adm", "--partitions", "1");
    const char *out = OUT(NULL, 0, "topic", "describe-config", "adm");
    cr_assert(strstr(out, "retention.ms=604800000 (default)\n"), "%s", out);
    cr_assert_str_eq(OUT(NULL, 0, "topic", "alter-config", "adm", "--set", "retention.ms=60000",
                         "--set", "cleanup.policy=compact,delete"),
                     "");
    out = OUT(NULL, 0, "topic", "describe-config", "adm", "--json");
    cr_assert(strstr(out, "{\"name\":\"retention.ms\",\"value\":\"60000\",\"default\":false}"),
              "%s", out);
    cr_assert(strstr(out, "\"value\":\"compact,delete\""), "%s", out);
    OUT(NULL, 0, "topic", "alter-config", "adm", "--delete", "retention.ms,cleanup.policy");
    out = OUT(NULL, 0, "topic", "describe-config", "adm");
    cr_assert(strstr(out, "retention.ms=604800000 (default)\n") &&
                  strstr(out, "cleanup.policy=delete (default)\n"),
              "%s", out);
    cr_assert_eq(CLI(NULL, &o, "topic", "alter-config", "adm", "--set", "segment.bytes=1"), 1);
    cr_assert(strstr(o.err, "INVALID_CONFIG: segment.bytes must be"), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "alter-config", "adm", "--set", "novalue"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "alter-config", "adm"), 2, "nothing to change");
    proc_output_free(&o);
    OUT(NULL, 0, "topic", "add-partitions", "adm", "--partitions", "2");
    cr_assert_eq(CLI(NULL, &o, "topic", "add-partitions", "adm", "--partitions", "2"), 1);
    cr_assert(strstr(o.err, "INVALID_PARTITIONS"), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "add-partitions", "adm"), 2, "--partitions is required");
    proc_output_free(&o);
    OUT("a\nb\nc\nd\n", 0, "produce", "adm", "--partition", "1");
    cr_assert_str_eq(OUT(NULL, 0, "topic", "offsets", "adm"),
                     "partition=0 offset=0 timestamp=-1\npartition=1 offset=4 timestamp=-1\n");
    cr_assert_str_eq(
        OUT(NULL, 0, "topic", "delete-records", "adm", "--partition", "1", "--before", "3"),
        "partition=1 start=3\n");
    cr_assert_str_eq(OUT(NULL, 0, "topic", "offsets", "adm", "--time", "earliest"),
                     "partition=0 offset=0 timestamp=-1\npartition=1 offset=3 timestamp=-1\n");
    out = OUT(NULL, 0, "consume", "adm", "--partition", "1", "--from-beginning", "--count", "1",
              "--format", "%o %v");
    cr_assert_str_eq(out, "3 d\n");
    cr_assert_eq(
        CLI(NULL, &o, "topic", "delete-records", "adm", "--partition", "1", "--before", "9"), 1);
    cr_assert(strstr(o.err, "OFFSET_OUT_OF_RANGE"), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "delete-records", "adm", "--before", "1"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "offsets", "adm", "--time", "yesterday"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "describe-config", "nope"), 1);
    cr_assert(strstr(o.err, "UNKNOWN_TOPIC"), "%s", o.err);
    proc_output_free(&o);
}

Test(cli, stops_at_the_end_of_what_is_there)
{
    OUT(NULL, 0, "topic", "create", "e", "--partitions", "2");
    OUT("a\nb\nc\n", 0, "produce", "e", "--partition", "0");
    OUT("x\n", 0, "produce", "e", "--partition", "1");
    /* --timeout-ms 0 (or 1) still prints what is there (it printed nothing before). */
    cr_assert_str_eq(OUT(NULL, 0, "consume", "e", "--partition", "0", "--from-beginning", "--count",
                         "2", "--timeout-ms", "0"),
                     "a\nb\n");
    cr_assert_str_eq(
        OUT(NULL, 0, "consume", "e", "--partition", "0", "--from-beginning", "--timeout-ms", "1"),
        "a\nb\nc\n");
    const char *out =
        OUT(NULL, 0, "consume", "e", "--from-beginning", "--exit-at-end", "--format", "%p:%v");
    cr_assert_eq(strlen(out), 16, "every partition to its end: %s", out);
    cr_assert(strstr(out, "1:x\n") && strstr(out, "0:c\n"), "%s", out);
    cr_assert_str_eq(OUT(NULL, 0, "consume", "e", "--exit-at-end"), "", "from the end: nothing");
    cr_assert_str_eq(
        OUT(NULL, 0, "consume", "e", "--partition", "0", "--offset", "3", "--exit-at-end"), "");
    struct proc_output o;
    cr_assert_eq(CLI(NULL, &o, "consume", "e", "--partition", "0", "--offset", "4"), 1);
    cr_assert(strstr(o.err, "--offset 4 is past the end of partition 0 (its next offset is 3)"),
              "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "e", "--partition", "2"), 1);
    cr_assert(strstr(o.err, "UNKNOWN_PARTITION"), "%s", o.err);
    proc_output_free(&o);
}

Test(cli, delimiters_and_headers)
{
    OUT(NULL, 0, "topic", "create", "d");
    static const char in[] = "k1=line one\nline two\0k2=three\0last";
    struct proc_output o;
    cr_assert_eq(
        cli(in, sizeof(in) - 1, &o,
            (const char *const[]){"produce", "d", "--delimiter", "\\0", "--key-separator", "=",
                                  "--header", "src=test", "--header", "empty=", NULL}),
        0, "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "consume", "d", "--from-beginning", "--exit-at-end", "--format",
                     "[%k|%v|%h]", "--delimiter", "\\0"),
                 0, "%s", o.err);
    static const char want[] = "[k1|line one\nline two|src=test,empty=]\0[k2|three|src=test,empty=]"
                               "\0[|last|src=test,empty=]\0";
    cr_assert_eq(o.out_len, sizeof(want) - 1, "%zu bytes: %s", o.out_len, o.out);
    cr_assert_eq(memcmp(o.out, want, sizeof(want) - 1), 0);
    proc_output_free(&o);
    cr_assert_eq(CLI("x", &o, "produce", "d", "--header", "novalue"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI("x", &o, "produce", "d", "--delimiter", "\\q"), 2);
    proc_output_free(&o);
}

/* Issue 20 item 1: -X passes library keys through, Kafka's names included. */
Test(cli, dash_x_passes_configuration_through)
{
    OUT(NULL, 0, "topic", "create", "x12", "--partitions", "12");
    /* murmur2 places "kafka" on 4, "user-1" on 8 and "order-42" on 0 of 12 (Kafka's algorithm). */
    struct proc_output o;
    cr_assert_eq(CLI("kafka=a\nuser-1=b\norder-42=c\n", &o, "produce", "x12", "--key-separator",
                     "=", "-X", "partitioner=murmur2_random", "-Xlinger.ms=0", "-X",
                     "compression.type=zstd"),
                 0, "%s", o.err);
    proc_output_free(&o);
    const char *got = OUT(NULL, 0, "consume", "x12", "--from-beginning", "--exit-at-end",
                          "--format", "%k@%p ", "-X", "auto.offset.reset=smallest");
    cr_assert(strstr(got, "kafka@4 ") && strstr(got, "user-1@8 ") && strstr(got, "order-42@0 "),
              "%s", got);
    /* Refusals are usage errors with the library's reason; nothing is sent. */
    cr_assert_eq(CLI("v\n", &o, "produce", "x12", "-X", "compression.type=gzip"), 2);
    cr_assert(strstr(o.err, "-X compression.type=gzip: compression.type=gzip is not supported") &&
                  strstr(o.err, "lz4"),
              "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "list", "-X", "transactional.id=t"), 2);
    cr_assert(strstr(o.err, "transactions are not implemented"), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "list", "-X", "linger.ms"), 2);
    cr_assert(strstr(o.err, "expected KEY=VALUE"), "%s", o.err);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "topic", "list", "-X"), 2);
    proc_output_free(&o);
    cr_assert_eq(CLI(NULL, &o, "-X", "linger.ms=1", "topic", "list"), 2);
    cr_assert(strstr(o.err, "-X goes after the command"), "%s", o.err);
    proc_output_free(&o);
    /* -X bootstrap.servers wins over $RINGLOG_BOOTSTRAP: nothing listens on port 1. */
    cr_assert_neq(CLI(NULL, &o, "topic", "list", "-X", "bootstrap.servers=127.0.0.1:1", "-X",
                      "socket.connection.setup.timeout.ms=500", "-X", "request.timeout.ms=1000"),
                  0);
    cr_assert(strstr(o.err, "127.0.0.1:1"), "%s", o.err);
    proc_output_free(&o);
    const char *help = OUT(NULL, 0, "topic", "list", "--help");
    cr_assert(strstr(help, "-X KEY=VALUE"), "%s", help);
}

static int live_cli(struct live_proc *p, const char *const *args)
{
    const char *env[] = {bootstrap_env, NULL};
    const char *argv[32] = {RL_CLI_BIN};
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    return live_start(p, argv, env);
}
#define LIVE(p, ...) live_cli(p, (const char *const[]){__VA_ARGS__, NULL})

Test(cli, output_into_a_pipe_is_flushed_per_message_and_ctrl_c_exits_130)
{
    OUT(NULL, 0, "topic", "create", "f");
    struct live_proc *c = &live;
    cr_assert_eq(LIVE(c, "consume", "f", "--from-beginning", "--group", "g"), 0);
    OUT("first\n", 0, "produce", "f");
    cr_assert(live_wait_for(c, false, "first\n", 20000), "still running and nothing in the pipe");
    OUT("second\n", 0, "produce", "f");
    cr_assert(live_wait_for(c, false, "second\n", 20000), "%s", c->outbuf);
    cr_assert_eq(live_stop(c, SIGINT, 10000), 130, "%s", c->errbuf);
    /* The group's offsets were committed on the way out: nothing is read again. */
    cr_assert_str_eq(OUT(NULL, 0, "consume", "f", "--group", "g", "--exit-at-end"), "");
}

Test(cli, ctrl_c_while_produce_waits_for_stdin)
{
    OUT(NULL, 0, "topic", "create", "w");
    struct live_proc *p = &live;
    cr_assert_eq(LIVE(p, "produce", "w"), 0);
    cr_assert_eq(write(p->in, "one\ntwo\n", 8), 8);
    /* Both are acknowledged once they can be read back. */
    cr_assert_str_eq(OUT(NULL, 0, "consume", "w", "--from-beginning", "--count", "2"),
                     "one\ntwo\n");
    cr_assert_eq(live_stop(p, SIGINT, 10000), 130, "%s", p->errbuf);
    /* Both were stored, but the acks may still be on their way to the producer. */
    const char *report = strstr(p->errbuf, "interrupted: ");
    long nread = -1, acked = -1, lost = -1;
    cr_assert(report && sscanf(report,
                               "interrupted: %ld message(s) read, %ld acknowledged, %ld not "
                               "delivered",
                               &nread, &acked, &lost) == 3,
              "%s", p->errbuf);
    cr_assert(nread == 2 && acked + lost == 2, "%s", p->errbuf);
    cr_assert_null(strstr(p->errbuf, "Interrupted system call"), "%s", p->errbuf);
}

Test(cli, no_broker_is_said_at_once_and_sigterm_stops)
{
    char addr[64], env[96];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", wire_free_port());
    snprintf(env, sizeof(env), "RINGLOG_BOOTSTRAP=%s", addr);
    const char *argv[] = {RL_CLI_BIN, "produce", "demo", NULL};
    const char *envs[] = {env, NULL};
    struct live_proc *p = &live;
    cr_assert_eq(live_start(p, argv, envs), 0);
    cr_assert_eq(write(p->in, "x\n", 2), 2);
    char want[128];
    snprintf(want, sizeof(want), "cannot connect to %s: connection refused, retrying", addr);
    cr_assert(live_wait_for(p, true, want, 5000), "within a few seconds: %s", p->errbuf);
    cr_assert_eq(live_stop(p, SIGTERM, 5000), 143, "SIGTERM stops it: %s", p->errbuf);
    cr_assert(strstr(p->errbuf, "interrupted"), "%s", p->errbuf);
}

Test(cli, the_metrics_port_is_not_the_broker)
{
    char bootstrap[96];
    snprintf(bootstrap, sizeof(bootstrap), "--bootstrap=%s", metrics_addr);
    const char *cmds[][3] = {
        {"topic", "list", NULL}, {"produce", "t", NULL}, {"consume", "t", NULL}};
    for (size_t i = 0; i < 3; i++) {
        const char *argv[] = {RL_CLI_BIN, bootstrap, cmds[i][0], cmds[i][1], NULL};
        struct proc_output o;
        /* 10 s is a bound far above the answer's milliseconds: before, the CLI waited 30 s. */
        cr_assert_eq(run_proc(argv, NULL, "x\n", 2, 10000, &o), 1, "%s: %s", cmds[i][0], o.err);
        cr_assert(strstr(o.err, "does not speak the ringlog protocol (it answered \"HTTP/1.0 400 "
                                "Bad Request\")"),
                  "%s: %s", cmds[i][0], o.err);
        proc_output_free(&o);
    }
}

/* A peer that accepts and never answers: said within connect-timeout-ms (5 s), not 30 s. */
Test(cli, a_silent_peer_is_not_the_broker)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0); /* the kernel accepts; nobody reads or answers */
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char bootstrap[64];
    snprintf(bootstrap, sizeof(bootstrap), "--bootstrap=127.0.0.1:%u", ntohs(sa.sin_port));
    const char *argv[] = {RL_CLI_BIN, bootstrap, "topic", "list", NULL};
    struct proc_output o;
    cr_assert_eq(run_proc(argv, NULL, NULL, 0, 20000, &o), 1, "%s", o.err);
    cr_assert(strstr(o.err, "accepted the connection but sent no answer in time"), "%s", o.err);
    proc_output_free(&o);
    close(fd);
}
