/* Broker processes of a chaos run: start, restart, signals, crash detection. */
#include "nodes.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy.h"
#include "wire.h"

/*
 * Forks ringlogd with its stderr appended straight to its log. Not
 * broker_start(): its stderr-copying child is a fork of this process and
 * would hold the proxy's sockets open, so a connection the proxy closes
 * would never close for the broker at the other end.
 */
static pid_t spawn(const char *log_path, const char *const *args)
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        /* This thread (the main one: nemesis.c) dying takes the broker with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(log_fd, STDERR_FILENO);
        dup2(log_fd, STDOUT_FILENO);
        close_range(3, ~0u, 0);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    close(log_fd);
    return pid;
}

/* Waits for the ready line written after byte `from` of the log; 0, or -1 if the broker died. */
static int wait_ready(struct chaos_node *n, long from)
{
    char buf[4096];
    int64_t deadline = chaos_now_ms() + 20000;
    while (chaos_now_ms() < deadline) {
        int status;
        if (waitpid(n->proc.pid, &status, WNOHANG) == n->proc.pid) {
            n->proc.pid = 0;
            return -1;
        }
        FILE *f = fopen(n->proc.log_path, "r");
        bool ready = false;
        if (f && fseek(f, from, SEEK_SET) == 0)
            while (!ready && fgets(buf, sizeof(buf), f))
                ready = strstr(buf, "ringlogd ready node=") != NULL;
        if (f)
            fclose(f);
        if (ready)
            return 0;
        usleep(20 * 1000);
    }
    return -1;
}

int node_start(struct chaos_cluster *c, int i)
{
    struct chaos_node *n = &c->nodes[i];
    assert(n->proc.pid == 0);
    char id[16], listen[64], peers[512], bin[PATH_MAX];
    size_t len = 0;
    snprintf(id, sizeof(id), "%d", n->id);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", n->port);
    for (int j = 0; j < CHAOS_NODES; j++) {
        uint16_t port = j == i ? n->port : proxy_port(c->proxy, i, j);
        len += (size_t)snprintf(peers + len, sizeof(peers) - len, "%s%d@127.0.0.1:%u", j ? "," : "",
                                c->nodes[j].id, port);
    }
    test_bin_path("ringlogd", bin, sizeof(bin));
    const char *args[] = {
        bin,    "--data-dir", n->dir,         "--node-id", id,  "--peers",   peers, "--listen",
        listen, "--flush",    c->opts->flush, "--shards",  "2", "--metrics", "off", NULL};
    char log_path[sizeof(n->proc.log_path)];
    snprintf(log_path, sizeof(log_path), "%s.log", n->dir);
    memcpy(n->proc.log_path, log_path, sizeof(log_path));
    /* A port freed a moment ago by a killed broker may still be taken briefly. */
    for (int attempt = 0; attempt < 5; attempt++) {
        struct stat st;
        long from = stat(n->proc.log_path, &st) == 0 ? (long)st.st_size : 0;
        n->proc.pid = spawn(n->proc.log_path, args);
        if (n->proc.pid > 0 && wait_ready(n, from) == 0) {
            n->paused = false;
            return 0;
        }
        node_kill(c, i);
        usleep(200 * 1000);
    }
    chaos_fail("node %d did not start (log %s)", n->id, n->proc.log_path);
    return -1;
}

int nodes_start(struct chaos_cluster *c, const struct chaos_opts *o)
{
    c->opts = o;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(c->base_dir, sizeof(c->base_dir), "%s/ringlog-chaos-XXXXXX", tmp);
    if (!mkdtemp(c->base_dir))
        return -1;
    uint16_t ports[CHAOS_NODES];
    size_t len = 0;
    for (int i = 0; i < CHAOS_NODES; i++) {
        struct chaos_node *n = &c->nodes[i];
        n->id = i + 1;
        n->port = ports[i] = wire_free_port();
        snprintf(n->dir, sizeof(n->dir), "%s/node%d", c->base_dir, n->id);
        if (mkdir(n->dir, 0755) != 0)
            return -1;
        len += (size_t)snprintf(c->bootstrap + len, sizeof(c->bootstrap) - len, "%s127.0.0.1:%u",
                                i ? "," : "", n->port);
    }
    c->proxy = proxy_start(ports, o->seed);
    for (int i = 0; i < CHAOS_NODES; i++)
        if (node_start(c, i) != 0)
            return -1;
    return 0;
}

void node_kill(struct chaos_cluster *c, int i)
{
    struct chaos_node *n = &c->nodes[i];
    if (n->proc.pid > 0)
        broker_kill(&n->proc);
    n->proc.pid = 0;
    n->paused = false;
}

void node_term(struct chaos_cluster *c, int i)
{
    struct chaos_node *n = &c->nodes[i];
    if (n->proc.pid <= 0)
        return;
    if (n->paused)
        node_resume(c, i);
    int status = broker_stop(&n->proc);
    if (status != 0)
        chaos_fail("node %d: SIGTERM ended with status %d, not 0 (log %s.log)", n->id, status,
                   n->dir);
    n->proc.pid = 0;
}

void node_pause(struct chaos_cluster *c, int i)
{
    struct chaos_node *n = &c->nodes[i];
    if (n->proc.pid > 0 && !n->paused && kill(n->proc.pid, SIGSTOP) == 0)
        n->paused = true;
}

void node_resume(struct chaos_cluster *c, int i)
{
    struct chaos_node *n = &c->nodes[i];
    if (n->proc.pid > 0 && n->paused && kill(n->proc.pid, SIGCONT) == 0)
        n->paused = false;
}

bool nodes_check_alive(struct chaos_cluster *c)
{
    bool crashed = false;
    for (int i = 0; i < CHAOS_NODES; i++) {
        struct chaos_node *n = &c->nodes[i];
        int status;
        if (n->proc.pid <= 0 || waitpid(n->proc.pid, &status, WNOHANG) != n->proc.pid)
            continue;
        chaos_fail("node %d exited on its own (%s %d); log %s.log", n->id,
                   WIFSIGNALED(status) ? "signal" : "status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), n->dir);
        n->proc.pid = 0;
        crashed = true;
    }
    return crashed;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void nodes_stop(struct chaos_cluster *c, bool keep)
{
    nodes_check_alive(c);
    for (int i = 0; i < CHAOS_NODES; i++)
        node_term(c, i);
    if (c->proxy)
        proxy_stop(c->proxy);
    c->proxy = NULL;
    if (keep)
        printf("chaos: data and broker logs kept in %s\n", c->base_dir);
    else
        nftw(c->base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
