#include "daemon.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "diag.h"
#include "fault_alloc.h"
#include "fd_limit.h"
#include "groups/coordinator.h"
#include "io/clock.h"
#include "io/uring_probe.h"
#include "net/tls.h"
#include "net/peer.h"
#include "producer_ids.h"
#include "server.h"
#include "shard.h"
#include "shard_main.h"

/* Makes dir and its parents. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Takes an exclusive lock on <data-dir>/.lock, so two brokers never share a directory. */
static int lock_data_dir(struct server *srv, char *err, size_t err_len)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/.lock", srv->cfg.data_dir);
    srv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (srv->lock_fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(srv->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, err_len, "data dir %s is in use by another ringlogd (%s is locked)",
                 srv->cfg.data_dir, path);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", getpid());
    if (ftruncate(srv->lock_fd, 0) != 0 || write(srv->lock_fd, pid, (size_t)n) != n)
        DIAG_WARN("cannot write the pid into %s", path);
    return 0;
}

static int random_bytes(void *out, size_t len, char *err, size_t err_len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, out, len) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    if (!ok)
        snprintf(err, err_len, "cannot read /dev/urandom");
    return ok ? 0 : -1;
}

/* Whether --peers names a broker other than this one. */
static bool has_other_peers(const struct broker_config *cfg)
{
    for (int i = 0; i < cfg->peer_count; i++)
        if (cfg->peers[i].node_id != cfg->node_id)
            return true;
    return false;
}

/*
 * Reads or creates the cluster id, <data-dir>/meta/cluster_id. A broker of
 * a cluster (--peers names others) creates none: "" is a broker that has
 * not learned its cluster yet (docs/PROTOCOL.md "Between brokers"), which
 * its peers let in; an id made up here would be refused by every peer.
 */
static int load_cluster_id(struct server *srv, char *err, size_t err_len)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/meta/cluster_id", srv->cfg.data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        int ok = fscanf(f, "%36s", srv->cluster_id) == 1;
        fclose(f);
        if (ok)
            return 0;
    }
    srv->cluster_id[0] = '\0';
    if (has_other_peers(&srv->cfg))
        return 0;
    unsigned char bytes[16];
    if (random_bytes(bytes, sizeof(bytes), err, err_len) != 0)
        return -1;
    for (int i = 0; i < 16; i++)
        snprintf(srv->cluster_id + 2 * i, 3, "%02x", bytes[i]);
    char line[40];
    int n = snprintf(line, sizeof(line), "%s\n", srv->cluster_id);
    int rc = atomic_file_write(path, line, (size_t)n);
    if (rc != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(-rc));
        return -1;
    }
    return 0;
}

/*
 * Reads or creates the disk incarnation, <data-dir>/meta/incarnation: a
 * random non-zero id made with the data directory, so a broker whose disk
 * was wiped comes back as a new incarnation (docs/REPLICATION.md).
 */
static int load_incarnation(struct server *srv, char *err, size_t err_len)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/meta/incarnation", srv->cfg.data_dir);
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (f) {
        long long birth = 0;
        int got = fscanf(f, "%16llx %lld", &v, &birth);
        fclose(f);
        if (got >= 1 && v != 0) {
            srv->incarnation = v;
            srv->incarnation_birth_ms = birth;
            return 0;
        }
    }
    while (v == 0)
        if (random_bytes(&v, sizeof(v), err, err_len) != 0)
            return -1;
    /* With its birth time: replicas of topics created before it (a wiped
     * disk rejoining) must recover rather than start as new (controller/). */
    srv->incarnation_birth_ms = clock_realtime_ms();
    srv->fresh_data_dir = true;
    char line[48];
    int n = snprintf(line, sizeof(line), "%016llx %lld\n", v, (long long)srv->incarnation_birth_ms);
    int rc = atomic_file_write(path, line, (size_t)n);
    if (rc != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(-rc));
        return -1;
    }
    srv->incarnation = v;
    return 0;
}

/* Resolves host:port for a passive socket; NULL with err set on failure. */
static struct addrinfo *resolve_passive(const char *host, uint16_t port, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", port);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "cannot resolve %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    return res;
}

/*
 * A port taken by another process must be refused, but SO_REUSEPORT would
 * let us share it with any other SO_REUSEPORT socket of the same user. So
 * the client port is first probed with a plain socket, which a conflict
 * cannot hide from.
 */
static int port_is_free(const struct addrinfo *addr, char *err, size_t err_len)
{
    int fd = socket(addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, addr->ai_addr, addr->ai_addrlen);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, err_len, "%s", strerror(saved));
        return -1;
    }
    return 0;
}

/*
 * Binds a listening socket on host:port (SO_REUSEPORT, TCP_NODELAY
 * inherited by accepted sockets so answers do not wait for Nagle). With
 * probe, a port held by anybody else is refused first (port_is_free).
 */
static int listen_on(const char *host, uint16_t port, bool probe, uint16_t *bound, char *err,
                     size_t err_len)
{
    struct addrinfo *res = resolve_passive(host, port, err, err_len);
    if (!res)
        return -1;
    char why[256];
    if (probe && port != 0 && port_is_free(res, why, sizeof(why)) != 0) {
        snprintf(err, err_len, "cannot listen on %s:%u: %s", host, port, why);
        freeaddrinfo(res);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, err_len, "cannot listen on %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int open_listeners(struct server *srv, char *err, size_t err_len)
{
    const struct broker_config *cfg = &srv->cfg;
    uint16_t port = cfg->listen_port;
    /* Every shard binds the same port; only the first bind probes it (the
     * others join it through SO_REUSEPORT), and a port 0 becomes the real one. */
    for (int i = 0; i < srv->nshards; i++) {
        int fd = listen_on(cfg->listen_host, port, i == 0, &port, err, err_len);
        if (fd < 0)
            return -1;
        srv->shards[i]->listen_fd = fd;
    }
    srv->listen_port = port;
    if (cfg->metrics_enabled) {
        int fd =
            listen_on(cfg->metrics_host, cfg->metrics_port, true, &srv->metrics_port, err, err_len);
        if (fd < 0)
            return -1;
        srv->shards[0]->metrics_fd = fd;
    }
    return 0;
}

/*
 * --peers, when given, lists the cluster's brokers with this one among
 * them, each id once (config.c checks each is below BROKER_MAX_NODE_ID).
 */
static int check_peers(const struct broker_config *cfg, char *err, size_t err_len)
{
    bool self = cfg->peer_count == 0;
    for (int i = 0; i < cfg->peer_count; i++) {
        if (cfg->peers[i].node_id == cfg->node_id)
            self = true;

        for (int j = 0; j < i; j++) {
            if (cfg->peers[j].node_id == cfg->peers[i].node_id) {
                snprintf(err, err_len, "--peers names node %d twice", cfg->peers[i].node_id);
                return -1;
            }
        }
    }
    if (!self) {
        snprintf(err, err_len, "--peers does not name this broker (--node-id %d)", cfg->node_id);
        return -1;
    }
    return 0;
}

/*
 * Refuses ports another process holds before anything is written to the
 * data directory, so a start that fails on a busy port leaves no skeleton.
 * (open_listeners probes again when it binds: a port may be taken between.)
 */
static int probe_port(const char *host, uint16_t port, char *err, size_t err_len)
{
    struct addrinfo *res = port ? resolve_passive(host, port, err, err_len) : NULL;
    if (!port)
        return 0;
    char why[256];
    int rc = res ? port_is_free(res, why, sizeof(why)) : -1;
    if (res && rc != 0)
        snprintf(err, err_len, "cannot listen on %s:%u: %s", host, port, why);
    if (res)
        freeaddrinfo(res);
    return rc;
}

/* The shards' memory and their loops' table; each shard initialised. */
static int make_shards(struct server *srv, char *err, size_t err_len)
{
    srv->shards = calloc((size_t)srv->nshards, sizeof(*srv->shards));
    srv->loops = calloc((size_t)srv->nshards, sizeof(*srv->loops));
    if (!srv->shards || !srv->loops) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (int i = 0; i < srv->nshards; i++) {
        srv->shards[i] = calloc(1, sizeof(struct shard));
        if (!srv->shards[i]) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        srv->loops[i] = &srv->shards[i]->loop;
    }
    for (int i = 0; i < srv->nshards; i++)
        if (shard_init(srv->shards[i], srv, i, err, err_len) != 0)
            return -1;
    return 0;
}

/*
 * Users and ACLs (auth/security.h), and --sasl-bootstrap-user. On a cluster
 * they are the metadata log's; its bootstrap user is proposed by the
 * controller once it leads (controller_security.c).
 */
static int open_security(struct server *srv, char *err, size_t err_len)
{
    const struct broker_config *cfg = &srv->cfg;
    if (security_open(&srv->security, cfg->data_dir, srv->cluster, srv->nshards,
                      cfg->super_users[0] ? cfg->super_users : NULL, err, err_len) != 0)
        return -1;
    srv->security_open = true;
    if (cfg->sasl_bootstrap_user[0] &&
        security_bootstrap_user(&srv->security, cfg->sasl_bootstrap_user, !srv->cluster, err,
                                err_len) != 0)
        return -1;
    const struct sec_snapshot *s = security_view(&srv->security, 0);
    if (security_auth_required(s))
        DIAG_INFO("SASL: %zu users, %zu ACLs: clients must authenticate (SCRAM-SHA-256, "
                  "SCRAM-SHA-512)",
                  s->user_count, s->acl_count);
    else if (s->acl_count > 0)
        DIAG_INFO("ACLs: %zu, enforced", s->acl_count);
    return 0;
}

int daemon_open_state(struct server *srv, char *err, size_t err_len)
{
    char meta[PATH_MAX + 8];
    assert(srv->nshards > 0 && srv->lock_fd == -1);
    snprintf(meta, sizeof(meta), "%s/meta", srv->cfg.data_dir);
    if (make_dirs(srv->cfg.data_dir) != 0 || make_dirs(meta) != 0 ||
        access(srv->cfg.data_dir, W_OK) != 0) {
        snprintf(err, err_len, "data dir %s is not usable: %s", srv->cfg.data_dir, strerror(errno));
        return -1;
    }
    if (lock_data_dir(srv, err, err_len) != 0 || load_cluster_id(srv, err, err_len) != 0 ||
        load_incarnation(srv, err, err_len) != 0)
        return -1;
    srv->cluster = has_other_peers(&srv->cfg);
    atomic_store(&srv->controller_leader, -1);
    if (topic_registry_load(&srv->topics, srv->cfg.data_dir, srv->cluster, err, err_len) != 0 ||
        replica_state_load(&srv->hard_states, srv->cfg.data_dir, err, err_len) != 0 ||
        offset_store_open(&srv->offsets, srv->cfg.data_dir, err, err_len) != 0 ||
        (!srv->cluster && groups_topic_ensure(srv, err, err_len) != 0))
        return -1;
    if (producer_registry_open(&srv->producers, srv->cfg.data_dir, err, err_len) != 0)
        return -1;
    if (open_security(srv, err, err_len) != 0)
        return -1;
    /* Never issue an id the registry knows, even if meta/producer_ids was lost. In a
     * cluster the registry holds ids with the node id above bit 44 (producer_ids.c). */
    srv->producer_id_limit = (srv->producers.max_id & ((1ll << 44) - 1)) + 1;
    if (producer_ids_reserve(srv) != 0) {
        snprintf(err, err_len, "cannot write %s/meta/producer_ids: %s", srv->cfg.data_dir,
                 strerror(errno));
        return -1;
    }
    if (make_shards(srv, err, err_len) != 0)
        return -1;
    /* Each shard counts itself out once its leaderships are handed over (shard_main.c). */
    atomic_store(&srv->shards_handing_over, srv->cluster ? srv->nshards : 0);
    return peer_net_init(srv, err, err_len);
}

static int prepare(struct server *srv, char *err, size_t err_len)
{
    const struct broker_config *cfg = &srv->cfg;
    if (check_peers(cfg, err, err_len) != 0 || uring_probe_features(err, err_len) != 0 ||
        probe_port(cfg->listen_host, cfg->listen_port, err, err_len) != 0 ||
        (cfg->metrics_enabled && probe_port(cfg->metrics_host, cfg->metrics_port, err, err_len)))
        return -1;
    if (cfg->tls_cert[0] && tls_server_open(cfg, &srv->tls, err, err_len) != 0)
        return -1;
    if (daemon_open_state(srv, err, err_len) != 0)
        return -1;
    struct fd_budget fds;
    if (fd_limit_prepare(topic_registry_snapshot(&srv->topics), cfg->data_dir, &fds, err,
                         err_len) != 0)
        return -1;
    DIAG_INFO("open files: limit %llu (soft limit was %llu, hard %llu); %llu partitions hold "
              "%llu segment files",
              (unsigned long long)fds.limit, (unsigned long long)fds.soft_before,
              (unsigned long long)fds.hard, (unsigned long long)fds.partitions,
              (unsigned long long)fds.segment_files);
    return open_listeners(srv, err, err_len);
}

void daemon_close_state(struct server *srv)
{
    for (int i = 0; srv->shards && i < srv->nshards; i++) {
        if (srv->shards[i]) {
            shard_destroy(srv->shards[i]);
            free(srv->shards[i]);
        }
    }
    free(srv->shards);
    free(srv->loops);
    peer_net_destroy(srv);
    if (atomic_load(&srv->topics.current))
        topic_registry_destroy(&srv->topics);
    offset_store_close(&srv->offsets);
    replica_state_table_free(&srv->hard_states);
    producer_registry_close(&srv->producers);
    tls_server_close(srv->tls);
    if (srv->security_open)
        security_close(&srv->security);
    if (srv->lock_fd >= 0)
        close(srv->lock_fd);
}

/* SIGHUP: new connections get the certificate and key as the files now hold them. */
static void reload(struct server *srv)
{
    char err[512];
    if (!srv->tls)
        DIAG_INFO("SIGHUP: nothing to reload (TLS is off)");
    else if (tls_server_reload(srv->tls, err, sizeof(err)) != 0)
        DIAG_ERROR("SIGHUP: TLS reload failed, still serving the previous certificate: %s", err);
    else
        DIAG_INFO("SIGHUP: TLS certificate and key reloaded; new connections use them");
}

/* Waits for SIGTERM or SIGINT, reloading on each SIGHUP meanwhile. */
static int wait_for_stop(struct server *srv, sigset_t *signals)
{
    int sig = 0;
    while (sigwait(signals, &sig) == 0 && sig == SIGHUP)
        reload(srv);
    return sig;
}

static int start_shards(struct server *srv, sigset_t *signals)
{
    int started = 0;
    for (int i = 0; i < srv->nshards; i++) {
        if (shard_start(srv->shards[i]) != 0) {
            atomic_fetch_add(&srv->shards_failed, srv->nshards - i);
            break;
        }
        started++;
    }
    /* Wait for every shard to serve (or one to fail), still answering signals. */
    struct timespec poll_interval = {0, 5 * 1000000};
    while (atomic_load(&srv->shards_serving) + atomic_load(&srv->shards_failed) < srv->nshards) {
        int sig = sigtimedwait(signals, NULL, &poll_interval);
        if (sig == SIGHUP)
            reload(srv);
        else if (sig > 0)
            atomic_store(&srv->stopping, true);
    }
    return started;
}

static const char *cache_keep_text(int64_t keep, char *buf, size_t len)
{
    if (keep < 0)
        return "all";
    snprintf(buf, len, "%lld bytes", (long long)keep);
    return buf;
}

int daemon_run(const struct broker_config *cfg)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        fprintf(stderr, "ringlogd: out of memory\n");
        return 1;
    }
    srv->cfg = *cfg;
    srv->nshards = cfg->shards;
    srv->lock_fd = -1;
    char err[1024];
    /* Signals go to the main thread only: shards inherit this mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    fault_alloc_init();
    if (prepare(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "ringlogd: %s\n", err);
        daemon_close_state(srv);
        free(srv);
        return 1;
    }
    int started = start_shards(srv, &signals);
    int status = 0;
    char keep_text[32];
    if (atomic_load(&srv->shards_failed) > 0) {
        DIAG_ERROR("start-up failed; see the errors above");
        atomic_store(&srv->stopping, true);
        status = 1;
    } else {
        DIAG_INFO("data dir %s, %d shards, flush %s, page cache kept per partition %s",
                  cfg->data_dir, srv->nshards,
                  cfg->flush == LOG_FLUSH_ALWAYS ? "always"
                  : cfg->flush == LOG_FLUSH_NONE ? "none"
                                                 : "interval",
                  cache_keep_text(cfg->cache_keep_bytes, keep_text, sizeof(keep_text)));
        if (cfg->metrics_enabled)
            DIAG_INFO("metrics on http://%s:%u/metrics", cfg->metrics_host, srv->metrics_port);
        if (cfg->metrics_enabled)
            fprintf(stderr, "ringlogd ready node=%d listen=%s:%u metrics=%s:%u\n", cfg->node_id,
                    cfg->listen_host, srv->listen_port, cfg->metrics_host, srv->metrics_port);
        else
            fprintf(stderr, "ringlogd ready node=%d listen=%s:%u\n", cfg->node_id, cfg->listen_host,
                    srv->listen_port);
        fflush(stderr);
        int sig = 0;
        if (!atomic_load(&srv->stopping))
            sig = wait_for_stop(srv, &signals);
        DIAG_INFO("signal %d: shutting down", sig);
        atomic_store(&srv->stopping, true);
    }
    for (int i = 0; i < started; i++)
        pthread_join(srv->shards[i]->thread, NULL);
    daemon_close_state(srv);
    free(srv);
    if (status == 0)
        DIAG_INFO("stopped cleanly");
    return status;
}
