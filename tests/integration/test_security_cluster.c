/*
 * Users and ACLs on a cluster of three ringlogd: they travel as records of
 * the controller's metadata log, so the bootstrap user, a user made on the
 * controller, its ACLs and its deletion reach every broker, and a
 * restarted broker has them again from the log.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "wire.h"
#include "wire_sasl.h"

#define NODES 3

static struct broker_proc procs[NODES];
static uint16_t ports[NODES];
static char dirs[NODES][512];
static char peers_arg[512];

static void start_node(int i)
{
    char id[16], listen[64];
    snprintf(id, sizeof(id), "%d", i + 1);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ports[i]);
    const char *args[] = {"--node-id",
                          id,
                          "--peers",
                          peers_arg,
                          "--listen",
                          listen,
                          "--shards",
                          "2",
                          "--metrics",
                          "off",
                          "--sasl-bootstrap-user",
                          "admin:adminpw",
                          NULL};
    cr_assert_eq(broker_start(&procs[i], dirs[i], args), 0, "node %d", i + 1);
}

static void start_cluster(void)
{
    size_t len = 0;
    for (int i = 0; i < NODES; i++) {
        ports[i] = wire_free_port();
        snprintf(dirs[i], sizeof(dirs[i]), "/tmp/ringlog-seccluster-XXXXXX");
        cr_assert_not_null(mkdtemp(dirs[i]));
        len += (size_t)snprintf(peers_arg + len, sizeof(peers_arg) - len, "%s%d@127.0.0.1:%u",
                                i ? "," : "", i + 1, ports[i]);
    }
    for (int i = 0; i < NODES; i++)
        start_node(i);
}

static void stop_cluster(void)
{
    for (int i = 0; i < NODES; i++) {
        if (procs[i].pid > 0)
            broker_stop(&procs[i]);
        broker_remove_data(&procs[i]);
    }
}

TestSuite(security_cluster, .init = start_cluster, .fini = stop_cluster, .timeout = 180);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int try_login(int node, const char *user, const char *pw)
{
    int fd = wire_connect(ports[node]);
    if (fd < 0)
        return -1;
    int rc = wire_sasl_login(fd, "SCRAM-SHA-256", user, pw);
    close(fd);
    return rc;
}

/* Waits (up to 30 s) until logging in as user on every node gives want. */
static void wait_everywhere(const char *user, const char *pw, int want)
{
    int64_t deadline = now_ms() + 30000;
    for (int i = 0; i < NODES; i++) {
        int rc;
        while ((rc = try_login(i, user, pw)) != want && now_ms() < deadline)
            usleep(100 * 1000);
        cr_assert_eq(rc, want, "node %d: login %s gave %d, want %d", i + 1, user, rc, want);
    }
}

/* An admin connection to the controller (Metadata names it). */
static int controller_as_admin(void)
{
    int64_t deadline = now_ms() + 30000;
    while (now_ms() < deadline) {
        int fd = wire_connect(ports[0]);
        if (fd >= 0 && wire_sasl_login(fd, "SCRAM-SHA-256", "admin", "adminpw") == 0) {
            Ringlog__Response *r = wire_metadata(fd, NULL);
            int ctl = r && r->error == 0 ? r->metadata->controller_id : -1;
            if (r)
                ringlog__response__free_unpacked(r, NULL);
            close(fd);
            if (ctl >= 1 && ctl <= NODES) {
                fd = wire_connect(ports[ctl - 1]);
                cr_assert_eq(wire_sasl_login(fd, "SCRAM-SHA-256", "admin", "adminpw"), 0);
                return fd;
            }
        } else if (fd >= 0) {
            close(fd);
        }
        usleep(200 * 1000);
    }
    cr_assert_fail("no controller");
    return -1;
}

/*
 * Runs a change on the controller, again on the new one when the
 * controller moved meanwhile (an election under load): its error code.
 */
#define ON_CONTROLLER(rc, call)                                                                    \
    do {                                                                                           \
        for (int try_ = 0; try_ < 20; try_++) {                                                    \
            int ctl = controller_as_admin();                                                       \
            (rc) = (call);                                                                         \
            close(ctl);                                                                            \
            if ((rc) != RINGLOG__ERROR_CODE__NOT_CONTROLLER)                                       \
                break;                                                                             \
            usleep(200 * 1000);                                                                    \
        }                                                                                          \
    } while (0)

Test(security_cluster, users_and_acls_reach_every_broker)
{
    wait_everywhere("admin", "adminpw", 0);
    int rc;
    ON_CONTROLLER(rc, wire_create_user(ctl, "bob", "bobpw"));
    cr_assert_eq(rc, 0);
    wait_everywhere("bob", "bobpw", 0);
    /* An ACL made on the controller applies on another broker. */
    int other = wire_connect(ports[2]);
    cr_assert_eq(wire_sasl_login(other, "SCRAM-SHA-256", "bob", "bobpw"), 0);
    cr_assert_eq(wire_error_of(wire_list_offsets(other, "nosuch", 0, -1)),
                 RINGLOG__ERROR_CODE__NOT_AUTHORIZED);
    ON_CONTROLLER(rc,
                  wire_acl(ctl, true, "User:bob", RINGLOG__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC,
                           "", true, RINGLOG__ACL_OPERATION__ACL_OPERATION_DESCRIBE, false));
    cr_assert_eq(rc, 0);
    int64_t deadline = now_ms() + 30000;
    int e;
    while ((e = wire_error_of(wire_list_offsets(other, "nosuch", 0, -1))) ==
               RINGLOG__ERROR_CODE__NOT_AUTHORIZED &&
           now_ms() < deadline)
        usleep(100 * 1000);
    cr_assert_neq(e, RINGLOG__ERROR_CODE__NOT_AUTHORIZED, "the ACL reached node 3");
    close(other);
    /* A restarted broker has them again, from the log. */
    cr_assert_eq(broker_stop(&procs[1]), 0);
    start_node(1);
    wait_everywhere("bob", "bobpw", 0);
    /* Deleted on the controller: refused everywhere. */
    ON_CONTROLLER(rc, wire_delete_user(ctl, "bob"));
    cr_assert_eq(rc, 0);
    wait_everywhere("bob", "bobpw", RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
}
