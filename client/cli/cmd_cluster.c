/*
 * ringlog cluster status: the brokers (reachable or not), the controller,
 * and every partition that is under-replicated (fewer in-sync replicas than
 * replicas, as its leader sees it) or offline (no leader).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

/* Prints "ids" as 1,2,3. */
static void print_ids(FILE *out, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%d", i ? "," : "", ids[i]);
}

/* One topic's troubled partitions; counts them into *under and *offline. */
static int topic_status(ringlog_admin *adm, const char *name, size_t *under, size_t *offline)
{
    char err[512];
    ringlog_topic_info *ti;
    int e = ringlog_admin_describe_topic(adm, name, &ti, err, sizeof(err));
    if (e)
        return cli_fail("cluster status: topic %s: %s: %s", name, ringlog_err_name(e), err);
    for (size_t i = 0; i < ti->partition_count; i++) {
        const ringlog_partition_info *p = &ti->partitions[i];
        bool off = p->leader < 0;
        if (!off && p->isr_count >= p->replica_count)
            continue;
        *(off ? offline : under) += 1;
        printf("%s %s-%d leader=%d replicas=", off ? "offline" : "under-replicated", ti->name,
               p->partition, p->leader);
        print_ids(stdout, p->replicas, p->replica_count);
        fputs(" isr=", stdout);
        print_ids(stdout, p->isr, p->isr_count);
        fputc('\n', stdout);
    }
    ringlog_free(ti);
    return 0;
}

static int cluster_status(const struct cli_args *a, ringlog_conf *conf)
{
    (void)a;
    assert(a->noperands == 0 && conf);
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    ringlog_cluster_info *ci;
    int e = ringlog_admin_describe_cluster(adm, &ci, err, sizeof(err));
    if (e) {
        ringlog_admin_destroy(adm);
        return cli_fail("cluster status: %s: %s", ringlog_err_name(e), err);
    }
    for (size_t i = 0; i < ci->broker_count; i++) {
        const ringlog_broker_info *b = &ci->brokers[i];
        printf("broker %d %s:%d %s%s\n", b->node_id, b->host, b->port, b->reachable ? "up" : "down",
               b->node_id == ci->controller ? " controller" : "");
    }
    if (ci->controller < 0)
        puts("controller none (an election is running, or no majority of brokers is up)");
    ringlog_free(ci);
    char **names;
    size_t n, under = 0, offline = 0;
    e = ringlog_admin_list_topics(adm, &names, &n, err, sizeof(err));
    int rc = e ? cli_fail("cluster status: %s: %s", ringlog_err_name(e), err) : 0;
    for (size_t i = 0; !e && i < n && rc == 0; i++)
        rc = topic_status(adm, names[i], &under, &offline);
    if (!e) {
        ringlog_free(names);
        printf("partitions: %zu under-replicated, %zu offline\n", under, offline);
    }
    ringlog_admin_destroy(adm);
    return rc;
}

static const struct cli_cmd STATUS = {
    "cluster status",
    "",
    0,
    0,
    "Prints each broker (up or down, which is the controller), then every under-replicated\n"
    "or offline partition and their counts.",
    NULL,
    0,
    "Lines: broker ID HOST:PORT up|down [controller]; under-replicated|offline TOPIC-P\n"
    "leader=ID replicas=ID,.. isr=ID,..; partitions: N under-replicated, M offline.\n"};

const struct cli_command CLI_CLUSTER_STATUS = {&STATUS, cluster_status};
