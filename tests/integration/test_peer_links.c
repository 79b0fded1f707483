/*
 * Links between brokers (broker/net/peer.h), with real ringlogd processes on
 * 127.0.0.1: every pair's link comes up; a broker killed with SIGKILL is
 * reported down and dialed again, and comes back with its disk incarnation
 * (a new one once its data directory was wiped); a broker of another
 * cluster is refused, with a log line on both sides, while the others keep
 * linking and serving clients. What each broker says is read from its
 * /metrics (ringlog_peer_*) and its log lines.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "broker_proc.h"
#include "peer_cluster.h"
#include "wire.h"

TestSuite(peer_links, .timeout = 120);

/*
 * A client is served by x: Metadata answered without error, naming every
 * broker of --peers. (What a cluster does with data while a broker is down
 * is test_cluster.c's.)
 */
static void serve_client(const struct node *x, int brokers)
{
    int fd = wire_connect(x->port);
    cr_assert(fd >= 0);
    Ringlog__Response *r = wire_metadata(fd, NULL);
    cr_assert_not_null(r, "node %d did not answer Metadata", x->id);
    cr_assert_eq(r->error, 0, "node %d: %s", x->id, r->error_message);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_METADATA);
    cr_assert_eq((int)r->metadata->n_brokers, brokers, "node %d", x->id);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
}

static void assert_all_linked(struct node *nodes, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                cr_assert(wait_link(&nodes[i], nodes[j].id, 1), "node %d: no link to node %d",
                          nodes[i].id, nodes[j].id);
}

Test(peer_links, every_pair_links_and_a_killed_broker_is_redialed_with_its_incarnation)
{
    struct node nodes[3];
    plan(nodes, 3);
    for (int i = 0; i < 3; i++)
        start(&nodes[i]);
    assert_all_linked(nodes, 3);
    uint64_t inc3 = disk_incarnation(&nodes[2]);
    cr_assert(wait_incarnation(&nodes[0], 0, 3, inc3));
    cr_assert(wait_incarnation(&nodes[1], 0, 3, inc3));
    cr_assert(wait_incarnation(&nodes[2], 0, 1, disk_incarnation(&nodes[0])));

    long mark[2] = {broker_log_size(&nodes[0].b), broker_log_size(&nodes[1].b)};
    broker_kill(&nodes[2].b);
    for (int i = 0; i < 2; i++) {
        cr_assert(wait_link(&nodes[i], 3, 0), "node %d still reports node 3 up", i + 1);
        cr_assert(wait_log(&nodes[i], mark[i], "peer link to node 3 down"));
    }
    /* Node 1 dials node 3 (the lower id dials) and keeps trying. */
    cr_assert(wait_log(&nodes[0], mark[0], "peer link to node 3 at"));
    /* The others serve clients meanwhile, and keep their own link. */
    serve_client(&nodes[0], 3);
    serve_client(&nodes[1], 3);
    cr_assert_eq(peer_metric(&nodes[0], "ringlog_peer_link_up", 2), 1);

    mark[0] = broker_log_size(&nodes[0].b);
    mark[1] = broker_log_size(&nodes[1].b);
    start(&nodes[2]);
    assert_all_linked(nodes, 3);
    cr_assert_eq(disk_incarnation(&nodes[2]), inc3);
    cr_assert(wait_incarnation(&nodes[0], mark[0], 3, inc3));
    cr_assert(wait_incarnation(&nodes[1], mark[1], 3, inc3));
    cr_assert_eq(peer_metric(&nodes[0], "ringlog_peer_links_up_total", 3), 2);
    cr_assert_eq(peer_metric(&nodes[1], "ringlog_peer_links_up_total", 3), 2);
    cr_assert_eq(peer_metric(&nodes[0], "ringlog_peer_links_up_total", 2), 1);
    cleanup(nodes, 3);
}

Test(peer_links, a_wiped_disk_comes_back_as_a_new_incarnation)
{
    struct node nodes[2];
    plan(nodes, 2);
    start(&nodes[0]);
    start(&nodes[1]);
    assert_all_linked(nodes, 2);
    uint64_t before = disk_incarnation(&nodes[1]);
    cr_assert(wait_incarnation(&nodes[0], 0, 2, before));

    broker_kill(&nodes[1].b);
    cr_assert(wait_link(&nodes[0], 2, 0));
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", nodes[1].dir, nodes[1].dir);
    cr_assert_eq(system(cmd), 0);
    long mark = broker_log_size(&nodes[0].b);
    start(&nodes[1]);
    assert_all_linked(nodes, 2);
    uint64_t after = disk_incarnation(&nodes[1]);
    cr_assert_neq(after, before);
    cr_assert_neq(after, 0);
    cr_assert(wait_incarnation(&nodes[0], mark, 2, after));
    cleanup(nodes, 2);
}

Test(peer_links, a_broker_of_another_cluster_is_refused_on_both_sides)
{
    struct node nodes[3];
    plan(nodes, 3);
    set_cluster_id(&nodes[0], "cluster-a");
    set_cluster_id(&nodes[1], "cluster-a");
    set_cluster_id(&nodes[2], "cluster-b");
    for (int i = 0; i < 3; i++)
        start(&nodes[i]);
    cr_assert(wait_link(&nodes[0], 2, 1));
    cr_assert(wait_link(&nodes[1], 1, 1));
    /* Node 3 accepts the dials of 1 and 2 and refuses them; both dialers say why. */
    cr_assert(wait_log(&nodes[2], 0,
                       "refused a peer link from node 1: wrong cluster id: this broker is in "
                       "cluster cluster-b, the peer in cluster cluster-a"));
    cr_assert(wait_log(&nodes[2], 0, "refused a peer link from node 2: wrong cluster id"));
    for (int i = 0; i < 2; i++)
        cr_assert(wait_log(&nodes[i], 0,
                           "node 3 refused the link: wrong cluster id: this broker is in cluster "
                           "cluster-b, the peer in cluster cluster-a"),
                  "node %d logged no refusal", i + 1);

    /* The dialers keep trying (with a back-off), but log a repeated refusal once. */
    int64_t deadline = now_ms() + 10000;
    while (peer_metric(&nodes[0], "ringlog_peer_refused_total", 3) < 4 && now_ms() < deadline)
        usleep(50 * 1000);
    cr_assert_geq(peer_metric(&nodes[0], "ringlog_peer_refused_total", 3), 4);
    char *log = broker_log_since(&nodes[0].b, 0);
    int lines = 0;
    for (char *p = strstr(log, "node 3 refused the link"); p; p = strstr(p + 1, "node 3 refused"))
        lines++;
    free(log);
    cr_assert_eq(lines, 1, "a repeated refusal was logged %d times", lines);

    cr_assert_eq(peer_metric(&nodes[0], "ringlog_peer_link_up", 3), 0);
    cr_assert_eq(peer_metric(&nodes[2], "ringlog_peer_link_up", 1), 0);
    for (int i = 0; i < 3; i++)
        serve_client(&nodes[i], 3);
    cr_assert_eq(peer_metric(&nodes[0], "ringlog_peer_link_up", 2), 1);
    cleanup(nodes, 3);
}

static void loopback(const char *state)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "ip link set lo %s", state);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/*
 * The network between two brokers goes away without a FIN or a reset (the
 * loopback device of a network namespace of this test taken down): data
 * goes unacknowledged, and the link must break (TCP_USER_TIMEOUT) rather
 * than wait out TCP's retransmissions for minutes; once the network is
 * back, the dialer links up again.
 */
Test(peer_links, a_link_cut_off_by_the_network_breaks_and_comes_back_once_it_heals)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
        cr_skip_test("needs root for a network namespace of its own");
    loopback("up");
    struct node nodes[2];
    plan(nodes, 2);
    start(&nodes[0]);
    start(&nodes[1]);
    assert_all_linked(nodes, 2);
    long mark[2] = {broker_log_size(&nodes[0].b), broker_log_size(&nodes[1].b)};
    loopback("down");
    /* Both send (the controller's group has both as voters): both notice. */
    for (int i = 0; i < 2; i++)
        cr_assert(wait_log(&nodes[i], mark[i], "down: Connection timed out"),
                  "node %d did not notice the cut", i + 1);
    loopback("up");
    for (int i = 0; i < 2; i++)
        cr_assert(wait_log(&nodes[i], mark[i], ") up: "), "node %d did not link again", i + 1);
    assert_all_linked(nodes, 2);
    cr_assert_eq(peer_metric(&nodes[0], "ringlog_peer_links_up_total", 2), 2);
    cleanup(nodes, 2);
}
