/* Brokers of a test cluster on 127.0.0.1 (peer_cluster.h). */
#include "peer_cluster.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "wire.h"

char peers_arg[512];

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ports and data directories for n brokers with ids 1..n; --peers names them all. */
void plan(struct node *nodes, int n)
{
    size_t len = 0;
    peers_arg[0] = '\0';
    for (int i = 0; i < n; i++) {
        struct node *x = &nodes[i];
        memset(x, 0, sizeof(*x));
        x->id = i + 1;
        x->port = wire_free_port();
        x->metrics_port = wire_free_port();
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(x->dir, sizeof(x->dir), "%s/ringlog-peer-XXXXXX", tmp);
        cr_assert_not_null(mkdtemp(x->dir));
        len += (size_t)snprintf(peers_arg + len, sizeof(peers_arg) - len, "%s%d@127.0.0.1:%u",
                                i ? "," : "", x->id, x->port);
    }
}

/* Makes the node's data directory belong to cluster `id` before it starts. */
void set_cluster_id(struct node *x, const char *id)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/meta", x->dir);
    cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/meta/cluster_id", x->dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", id);
    fclose(f);
}

void start(struct node *x)
{
    char id[16], listen[64], metrics[64];
    snprintf(id, sizeof(id), "%d", x->id);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", x->port);
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", x->metrics_port);
    const char *args[13] = {"--node-id", id,     "--peers",   peers_arg,
                            "--listen",  listen, "--metrics", metrics};
    for (int i = 0; i < 4 && x->extra[i]; i++)
        args[8 + i] = x->extra[i];
    cr_assert_eq(broker_start(&x->b, x->dir, args), 0, "node %d did not start", x->id);
}

void cleanup(struct node *nodes, int n)
{
    for (int i = 0; i < n; i++) {
        if (nodes[i].dir[0] == '\0')
            continue;
        if (nodes[i].b.pid > 0) {
            kill(nodes[i].b.pid, SIGCONT); /* a paused one must hear the TERM */
            cr_expect_eq(broker_stop(&nodes[i].b), 0, "node %d did not stop cleanly", nodes[i].id);
        }
        snprintf(nodes[i].b.data_dir, sizeof(nodes[i].b.data_dir), "%s", nodes[i].dir);
        snprintf(nodes[i].b.log_path, sizeof(nodes[i].b.log_path), "%s.log", nodes[i].dir);
        broker_remove_data(&nodes[i].b);
        nodes[i].dir[0] = '\0';
        nodes[i].b.pid = 0;
    }
}

/* The value of one series (e.g. `ringlog_peer_link_up{node="2"}`), or -1. */
long metric(const struct node *x, const char *series)
{
    static char page[1 << 17];
    if (wire_http_get(x->metrics_port, "/metrics", page, sizeof(page)) != 0)
        return -1;
    size_t n = strlen(series);
    for (char *p = strstr(page, series); p; p = strstr(p + 1, series))
        if ((p == page || p[-1] == '\n') && p[n] == ' ')
            return atol(p + n + 1);
    return -1;
}

long peer_metric(const struct node *x, const char *name, int node)
{
    char series[128];
    snprintf(series, sizeof(series), "%s{node=\"%d\"}", name, node);
    return metric(x, series);
}

/* Waits until x's link to `node` is up (1) or down (0); false after 10 s. */
bool wait_link(const struct node *x, int node, long up)
{
    int64_t deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        if (peer_metric(x, "ringlog_peer_link_up", node) == up)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

bool wait_log(const struct node *x, long from, const char *needle)
{
    int64_t deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        char *log = broker_log_since(&x->b, from);
        bool found = log && strstr(log, needle);
        free(log);
        if (found)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

/* The peer incarnation x logged for the last link up to `node` since `from`; 0 if none. */
uint64_t logged_incarnation(const struct node *x, long from, int node)
{
    char *log = broker_log_since(&x->b, from);
    cr_assert_not_null(log);
    char needle[64];
    snprintf(needle, sizeof(needle), "peer link to node %d (", node);
    uint64_t inc = 0;
    for (char *p = strstr(log, needle); p; p = strstr(p + 1, needle)) {
        char *eol = strchr(p, '\n');
        char *at = strstr(p, "peer incarnation ");
        if (at && (!eol || at < eol))
            inc = strtoull(at + strlen("peer incarnation "), NULL, 16);
    }
    free(log);
    return inc;
}

bool wait_incarnation(const struct node *x, long from, int node, uint64_t want)
{
    int64_t deadline = now_ms() + 10000;
    while (logged_incarnation(x, from, node) != want) {
        if (now_ms() > deadline)
            return false;
        usleep(20 * 1000);
    }
    return true;
}

uint64_t disk_incarnation(const struct node *x)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/meta/incarnation", x->dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    unsigned long long v = 0;
    cr_assert_eq(fscanf(f, "%16llx", &v), 1);
    fclose(f);
    return v;
}

int listen_free(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Answers a dialer's hello as node `node` with that incarnation. */
void answer(int fd, int32_t node, uint64_t incarnation)
{
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    Ringlog__PeerHelloResponse a = RINGLOG__PEER_HELLO_RESPONSE__INIT;
    a.version = 1;
    a.node_id = node;
    a.incarnation = incarnation;
    resp.correlation_id = 1;
    resp.body_case = RINGLOG__RESPONSE__BODY_PEER_HELLO;
    resp.peer_hello = &a;
    uint8_t buf[256];
    size_t n = rl_frame_write(&resp.base, buf);
    cr_assert_eq(wire_send_raw(fd, buf, n), 0);
}
