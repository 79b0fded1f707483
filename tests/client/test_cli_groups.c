/*
 * Consumer groups from the command line, as processes against a real
 * ringlogd: two `consume --group` members split a topic and print each
 * message once; `group list / describe` show members, committed offsets,
 * ends and lag; reset-offsets and delete are refused while a member runs
 * and work once it stopped; a member killed with SIGKILL has its
 * partitions moved after its session; a static member (group-instance-id)
 * restarted within its session gets its partitions back without a
 * rebalance (the group epoch does not move).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "run_proc.h"

static struct broker_proc broker;
static char bootstrap_env[96];
static struct live_proc live[2];

static void start(void)
{
    const char *args[] = {"--shards", "2", NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
    snprintf(bootstrap_env, sizeof(bootstrap_env), "RINGLOG_BOOTSTRAP=127.0.0.1:%u", broker.port);
}

static void stop(void)
{
    for (int i = 0; i < 2; i++)
        if (live[i].pid > 0)
            live_stop(&live[i], SIGKILL, 5000);
    broker_stop(&broker);
    broker_remove_data(&broker);
}

TestSuite(cli_groups, .init = start, .fini = stop, .timeout = 120);

/* Runs the CLI to completion; its stdout (static, overwritten by the next call). */
static const char *run(const char *in, int want, const char *const *args)
{
    static char saved[65536];
    bool any = want < 0; /* any exit status */
    const char *env[] = {bootstrap_env, NULL};
    const char *argv[32] = {RL_CLI_BIN};
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    struct proc_output o;
    int rc = run_proc(argv, env, in, in ? strlen(in) : 0, 30000, &o);
    cr_assert(any || rc == want, "ringlog %s %s: exit %d, want %d; stderr: %s", args[0], args[1],
              rc, want, o.err);
    snprintf(saved, sizeof(saved), "%s", o.out);
    proc_output_free(&o);
    return saved;
}
#define RUN(in, want, ...) run(in, want, (const char *const[]){__VA_ARGS__, NULL})

static int live_cli(struct live_proc *p, const char *const *args)
{
    const char *env[] = {bootstrap_env, NULL};
    const char *argv[32] = {RL_CLI_BIN};
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    return live_start(p, argv, env);
}
#define LIVE(p, ...) live_cli(p, (const char *const[]){__VA_ARGS__, NULL})

/* "k<i>:m<i>" lines for i in [from, from + n). */
static char *lines(int from, int n)
{
    static char buf[65536];
    size_t len = 0;
    for (int i = from; i < from + n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "k%d:m%d\n", i, i);
    return buf;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Waits (bounded) until `group describe` shows the state with that many members; its text. */
static const char *wait_state(const char *group, const char *state, int members)
{
    char want[96];
    snprintf(want, sizeof(want), "state=%s assignor=", state);
    char want_members[32];
    snprintf(want_members, sizeof(want_members), "members=%d\n", members);
    for (int i = 0; i < 300; i++) {
        const char *out = RUN(NULL, -1, "group", "describe", group); /* unknown at first */
        if (strstr(out, want) && strstr(out, want_members))
            return out;
        usleep(50000);
    }
    cr_assert_fail("group %s never became %s with %d members", group, state, members);
    return NULL;
}

Test(cli_groups, two_members_print_each_message_once_then_describe_reset_delete)
{
    RUN(NULL, 0, "topic", "create", "t", "--partitions", "4");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(
            LIVE(&live[i], "consume", "t", "--group", "g", "--from-beginning", "--format", "%v"),
            0);
    wait_state("g", "stable", 2);
    RUN(lines(0, 60), 0, "produce", "t", "--key-separator", ":");
    for (int round = 0; round < 200; round++) {
        int total = 0;
        for (int i = 0; i < 2; i++) {
            live_wait_for(&live[i], false, "\n\n\n", 50); /* reads what is there */
            total += count_of(live[i].outbuf, "\n");
        }
        if (total >= 60)
            break;
    }
    for (int m = 0; m < 60; m++) {
        char want[16];
        snprintf(want, sizeof(want), "m%d\n", m);
        int seen = 0;
        for (int i = 0; i < 2; i++)
            seen += count_of(live[i].outbuf, want);
        cr_assert_geq(seen, 1, "m%d was printed", m);
    }
    cr_assert_eq(count_of(live[0].outbuf, "\n") + count_of(live[1].outbuf, "\n"), 60,
                 "each message once: %s | %s", live[0].outbuf, live[1].outbuf);
    cr_assert_gt(count_of(live[0].outbuf, "\n"), 0, "both members read");
    cr_assert_gt(count_of(live[1].outbuf, "\n"), 0, "both members read");
    /* refused while members run */
    RUN(NULL, 1, "group", "reset-offsets", "g", "--topic", "t", "--to-earliest");
    RUN(NULL, 1, "group", "delete", "g");
    const char *listed = RUN(NULL, 0, "group", "list");
    cr_assert(strstr(listed, "g state=stable members=2\n"), "%s", listed);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(live_stop(&live[i], SIGTERM, 10000), 143);
    const char *d = wait_state("g", "empty", 0);
    cr_assert_eq(count_of(d, "topic=t partition="), 4, "%s", d);
    cr_assert(strstr(d, "total-lag=0\n"), "everything printed was committed: %s", d);
    const char *reset =
        RUN(NULL, 0, "group", "reset-offsets", "g", "--topic", "t", "--to-earliest");
    cr_assert_eq(count_of(reset, "committed=0\n"), 4, "%s", reset);
    d = RUN(NULL, 0, "group", "describe", "g");
    cr_assert(strstr(d, "total-lag=60\n"), "%s", d);
    RUN(NULL, 2, "group", "reset-offsets", "g", "--topic", "t");
    RUN(NULL, 2, "group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday");
    RUN(NULL, 0, "group", "reset-offsets", "g", "--topic", "t", "--to-datetime",
        "2001-01-01T00:00:00Z");
    RUN(NULL, 0, "group", "delete", "g");
    RUN(NULL, 1, "group", "describe", "g");
}

Test(cli_groups, a_killed_member_s_partitions_move_after_its_session)
{
    RUN(NULL, 0, "topic", "create", "k", "--partitions", "4");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(LIVE(&live[i], "consume", "k", "--group", "kg", "--from-beginning", "-X",
                          "session-timeout-ms=2000", "--format", "%p:%v"),
                     0);
    wait_state("kg", "stable", 2);
    cr_assert_eq(live_stop(&live[1], SIGKILL, 5000), 128 + SIGKILL);
    wait_state("kg", "stable", 1);
    RUN(lines(0, 40), 0, "produce", "k", "--key-separator", ":");
    for (int p = 0; p < 4; p++) {
        char want[8];
        snprintf(want, sizeof(want), "%d:", p);
        cr_assert(live_wait_for(&live[0], false, want, 20000), "partition %d reaches the survivor",
                  p);
    }
}

/* The group epoch from a describe's first line. */
static int epoch_of(const char *describe)
{
    const char *e = strstr(describe, " epoch=");
    cr_assert_not_null(e, "%s", describe);
    return atoi(e + 7);
}

Test(cli_groups, a_static_member_restarted_in_its_session_keeps_its_partitions)
{
    RUN(NULL, 0, "topic", "create", "s", "--partitions", "2");
    /* --from-beginning: the member has nothing committed, and a start at "latest"
     * resolved after the lines below are produced (a loaded machine) would skip them. */
    const char *const args[] = {"consume",
                                "s",
                                "--group",
                                "sg",
                                "--from-beginning",
                                "-X",
                                "group-instance-id=host-1",
                                "-X",
                                "session-timeout-ms=10000",
                                NULL};
    cr_assert_eq(live_cli(&live[0], args), 0);
    int epoch = epoch_of(wait_state("sg", "stable", 1));
    cr_assert_eq(live_stop(&live[0], SIGKILL, 5000), 128 + SIGKILL);
    cr_assert_eq(live_cli(&live[0], args), 0);
    const char *d = NULL;
    for (int i = 0; i < 100; i++) { /* until the new process is the member */
        d = wait_state("sg", "stable", 1);
        if (count_of(d, "partitions=s-0,s-1") == 1 && !strstr(d, "client=-"))
            break;
        usleep(50000);
    }
    cr_assert_eq(epoch_of(d), epoch, "no rebalance: %s", d);
    cr_assert(strstr(d, "instance=host-1"), "%s", d);
    RUN(lines(0, 4), 0, "produce", "s", "--key-separator", ":");
    cr_assert(live_wait_for(&live[0], false, "m3\n", 20000), "%s", live[0].outbuf);
}
