/*
 * ringlogd as a process: flags and config file, refusals at start-up,
 * the metrics endpoint, graceful shutdown and SIGKILL under load.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "broker_proc.h"
#include "wire.h"

TestSuite(lifecycle, .timeout = 120);

Test(lifecycle, bad_flags_are_refused_clearly)
{
    char out[4096];
    const char *a1[] = {"--shards", "zero", NULL};
    cr_assert_eq(broker_run_once(a1, out, sizeof(out)), 2);
    cr_assert(strstr(out, "invalid value for --shards"), "got: %s", out);
    const char *a2[] = {"--no-such-flag", "1", NULL};
    cr_assert_eq(broker_run_once(a2, out, sizeof(out)), 2);
    cr_assert(strstr(out, "unknown option '--no-such-flag'"), "got: %s", out);
    const char *a3[] = {"--flush", "sometimes", NULL};
    cr_assert_eq(broker_run_once(a3, out, sizeof(out)), 2);
    const char *a3b[] = {"--cache-keep-bytes", "10", NULL};
    cr_assert_eq(broker_run_once(a3b, out, sizeof(out)), 2);
    cr_assert(strstr(out, "invalid value for --cache-keep-bytes: '10'"), "got: %s", out);
    const char *a4[] = {"--help", NULL};
    cr_assert_eq(broker_run_once(a4, out, sizeof(out)), 0);
    cr_assert(strstr(out, "--data-dir"));
    const char *a5[] = {
        "--data-dir", "/proc/no-such-dir/x", "--listen", "127.0.0.1:0", "--metrics", "off", NULL};
    cr_assert_eq(broker_run_once(a5, out, sizeof(out)), 1);
    cr_assert(strstr(out, "not usable"), "got: %s", out);
}

Test(lifecycle, second_broker_on_same_dir_or_port_is_refused)
{
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, NULL), 0);
    char out[4096];
    const char *same_dir[] = {"--data-dir", b.data_dir, "--listen", "127.0.0.1:0",
                              "--metrics",  "off",      NULL};
    cr_assert_eq(broker_run_once(same_dir, out, sizeof(out)), 1);
    cr_assert(strstr(out, "in use by another ringlogd"), "got: %s", out);

    char listen[64], dir[520];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", b.port);
    snprintf(dir, sizeof(dir), "%.500s-other", b.data_dir);
    const char *same_port[] = {"--data-dir", dir, "--listen", listen, "--metrics", "off", NULL};
    cr_assert_eq(broker_run_once(same_port, out, sizeof(out)), 1);
    cr_assert(strstr(out, "cannot listen on"), "got: %s", out);
    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
    struct broker_proc other = {0};
    snprintf(other.data_dir, sizeof(other.data_dir), "%.500s", dir);
    broker_remove_data(&other);
}

static void read_text(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    fclose(f);
}

Test(lifecycle, config_file_and_flags_win)
{
    char path[] = "/tmp/ringlogd-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text =
        "# test config\nshards = 1\nnode-id = 7\nflush = none\ncache-keep-bytes = all\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    const char *args[] = {"--config",           path,      "--node-id", "9",
                          "--cache-keep-bytes", "1048576", NULL};
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, args), 0);
    int c = wire_connect(b.port);
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__HandshakeRequest hs = RINGLOG__HANDSHAKE_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_HANDSHAKE;
    req.handshake = &hs;
    Ringlog__Response *r = wire_call(c, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->handshake->node_id, 9, "the flag wins over the file");
    ringlog__response__free_unpacked(r, NULL);
    close(c);
    cr_assert_eq(broker_stop(&b), 0);
    char log[8192];
    read_text(b.log_path, log, sizeof(log));
    cr_assert(strstr(log, "flush none, page cache kept per partition 1048576 bytes"),
              "the file's flush, the flag's cache-keep-bytes: %s", log);
    broker_remove_data(&b);
    unlink(path);

    char out[4096];
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const char *bad = "shards = 1\nthis line is wrong\n";
    cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    const char *args2[] = {"--config", path, NULL};
    cr_assert_eq(broker_run_once(args2, out, sizeof(out)), 2);
    cr_assert(strstr(out, ":2: expected 'key = value'"), "got: %s", out);
    unlink(path);
}

Test(lifecycle, metrics_endpoint)
{
    char metrics[64];
    uint16_t mport = wire_free_port();
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", mport);
    const char *args[] = {"--metrics", metrics, NULL};
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, args), 0);
    int c = wire_connect(b.port);
    Ringlog__Response *r = wire_create_topic(c, "m", 2);
    ringlog__response__free_unpacked(r, NULL);
    uint8_t buf[4096];
    size_t len = wire_build_batch(buf, sizeof(buf), "metric", 3, -1, -1, -1);
    r = wire_produce(c, "m", 1, 1, buf, len);
    ringlog__response__free_unpacked(r, NULL);
    close(c);
    static char out[1 << 20];
    cr_assert_eq(wire_http_get(mport, "/metrics", out, sizeof(out)), 0);
    cr_assert(strstr(out, "HTTP/1.0 200 OK"), "got: %.200s", out);
    cr_assert(strstr(out, "ringlog_requests_total{api=\"produce\"} 1"));
    cr_assert(strstr(out, "ringlog_requests_total{api=\"create_topics\"} 1"));
    cr_assert(strstr(out, "ringlog_records_appended_total 3"));
    cr_assert(strstr(out, "ringlog_log_end_offset{topic=\"m\",partition=\"1\"} 3"));
    cr_assert(strstr(out, "ringlog_produce_latency_seconds_count 1"));
    /* One small batch under flush=always: one group, written inline, one fdatasync of it. */
    cr_assert(strstr(out, "ringlog_log_write_groups_total 1\n"), "%s", strstr(out, "ringlog_log_"));
    cr_assert(strstr(out, "ringlog_log_inline_writes_total 1\n"));
    cr_assert(strstr(out, "ringlog_log_fdatasyncs_total 1\n"));
    char synced[80];
    snprintf(synced, sizeof(synced), "ringlog_log_fdatasync_bytes_total %zu\n", len);
    cr_assert(strstr(out, synced), "%s", strstr(out, "ringlog_log_fdatasync_bytes"));
    cr_assert(strstr(out, "ringlog_partitions 10"), "2 of m and 8 of __groups (consumer groups)");
    cr_assert_eq(wire_http_get(mport, "/other", out, sizeof(out)), 0);
    cr_assert(strstr(out, "404"));
    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
}

/*
 * Sends one request of every kind the Request oneof carries (an empty body:
 * answered with an error or not, it is received and answered) on a
 * connection of its own, replica traffic (fields 100 and up) aside.
 */
static void send_every_request_kind(uint16_t port)
{
    const ProtobufCMessageDescriptor *d = &ringlog__request__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->id >= 100)
            continue;
        const ProtobufCMessageDescriptor *body = f->descriptor;
        ProtobufCMessage *m = calloc(1, body->sizeof_message);
        cr_assert_not_null(m);
        body->message_init(m);
        if (f->id == RINGLOG__REQUEST__BODY_PRODUCE)
            ((Ringlog__ProduceRequest *)m)->acks = 1; /* acks=0 is not answered */
        Ringlog__Request req = RINGLOG__REQUEST__INIT;
        req.body_case = (Ringlog__Request__BodyCase)f->id;
        *(ProtobufCMessage **)((char *)&req + f->offset) = m;
        int c = wire_connect(port);
        cr_assert_geq(c, 0);
        Ringlog__Response *r = wire_call(c, &req);
        close(c);
        free(m);
        cr_assert_not_null(r, "no answer to an empty %s", f->name);
        ringlog__response__free_unpacked(r, NULL);
    }
}

/* The count of `ringlog_requests_total{api="NAME"}` in a scrape; -1 when absent. */
static long requests_counted(const char *scrape, const char *name)
{
    char series[128];
    snprintf(series, sizeof(series), "ringlog_requests_total{api=\"%s\"} ", name);
    const char *at = strstr(scrape, series);
    return at ? atol(at + strlen(series)) : -1;
}

/*
 * Every ApiKey is counted on /metrics (they were only for ApiKeys 0-10:
 * groups, security, admin and reassignment requests went uncounted). The
 * series names are the ApiKey names, lower case, without API_KEY_.
 */
Test(lifecycle, metrics_count_every_api)
{
    uint16_t mport = wire_free_port();
    char metrics[64];
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", mport);
    const char *args[] = {"--metrics", metrics, NULL};
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, args), 0);
    send_every_request_kind(b.port);
    static char out[1 << 20];
    cr_assert_eq(wire_http_get(mport, "/metrics", out, sizeof(out)), 0);
    const ProtobufCEnumDescriptor *keys = &ringlog__api_key__descriptor;
    for (unsigned i = 0; i < keys->n_values; i++) {
        const char *full = keys->values[i].name;
        if (keys->values[i].value == RINGLOG__API_KEY__API_KEY_UNSPECIFIED)
            continue;
        cr_assert(strncmp(full, "API_KEY_", 8) == 0, "%s", full);
        char name[64];
        size_t n = 0;
        for (const char *p = full + 8; *p && n + 1 < sizeof(name); p++)
            name[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        name[n] = '\0';
        long count = requests_counted(out, name);
        /* A handshake opens each connection too. */
        cr_assert(count >= 1, "%s: %ld (want >= 1) in:\n%.3000s", name, count, out);
    }
    cr_assert_eq(requests_counted(out, "produce"), 1);
    cr_assert_eq(requests_counted(out, "delete_records"), 1);
    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
}

/*
 * A broker stopped and started again at once gets its ports back: its
 * listeners are closed before it exits, not when the kernel tears its
 * rings down afterwards (which made an immediate restart fail with
 * "Address already in use").
 */
Test(lifecycle, restart_at_once_on_the_same_ports)
{
    char listen[64], metrics[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", wire_free_port());
    snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", wire_free_port());
    const char *args[] = {"--listen", listen, "--metrics", metrics, NULL};
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, args), 0);
    char dir[sizeof(b.data_dir)];
    memcpy(dir, b.data_dir, sizeof(dir));
    for (int round = 0; round < 3; round++) {
        int c = wire_connect(b.port);
        cr_assert_geq(c, 0);
        Ringlog__Response *r = wire_create_topic(c, "again", 1);
        cr_assert_not_null(r);
        ringlog__response__free_unpacked(r, NULL);
        static char out[1 << 16];
        cr_assert_eq(
            wire_http_get((uint16_t)atoi(strchr(metrics, ':') + 1), "/metrics", out, sizeof(out)),
            0);
        close(c);
        cr_assert_eq(broker_stop(&b), 0, "log: %s", b.log_path);
        cr_assert_eq(broker_start(&b, dir, args), 0, "round %d: restart on %s and %s", round,
                     listen, metrics);
    }
    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
}

/* ---------------------------------------------------------------- load */

struct loader {
    uint16_t port;
    uint32_t partition;
    volatile int stop;
    int64_t acked_batches;     /* batches acknowledged */
    int64_t last_acked_offset; /* base offset of the last acknowledged batch */
    char prefix[32];
};

/* Produces batches of 10 records with acks=1 until told to stop or the broker goes. */
static void *load(void *arg)
{
    struct loader *l = arg;
    int fd = wire_connect(l->port);
    uint8_t buf[8192];
    size_t len = wire_build_batch(buf, sizeof(buf), l->prefix, 10, -1, -1, -1);
    l->last_acked_offset = -1;
    for (int i = 0; i < 100000 && !l->stop; i++) {
        Ringlog__Response *r = wire_produce(fd, "load", l->partition, 1, buf, len);
        if (!r)
            break;
        Ringlog__PartitionProduceResult *pr =
            r->produce ? r->produce->topics[0]->partitions[0] : NULL;
        int ok = pr && pr->error == 0;
        if (ok) {
            l->acked_batches++;
            l->last_acked_offset = pr->base_offset;
        }
        ringlog__response__free_unpacked(r, NULL);
        if (!ok)
            break;
    }
    close(fd);
    return NULL;
}

/* Every acknowledged batch must be there after a restart: log end >= acked. */
static void check_survived(struct broker_proc *b, struct loader *loaders, int n)
{
    int fd = wire_connect(b->port);
    for (int i = 0; i < n; i++) {
        Ringlog__Response *r =
            wire_fetch(fd, "load", loaders[i].partition,
                       loaders[i].last_acked_offset < 0 ? 0 : loaders[i].last_acked_offset, 0, 1);
        cr_assert_not_null(r);
        Ringlog__FetchPartitionResult *fr = r->fetch->topics[0]->partitions[0];
        cr_assert_eq(fr->error, 0, "%s", fr->error_message);
        cr_assert_geq(fr->high_watermark, loaders[i].acked_batches * 10,
                      "partition %u: %lld batches acknowledged, hw %lld", loaders[i].partition,
                      (long long)loaders[i].acked_batches, (long long)fr->high_watermark);
        if (loaders[i].last_acked_offset >= 0) {
            struct rl_batch_header h;
            cr_assert_eq(rl_batch_validate(fr->records.data, fr->records.len, 1 << 20, &h), RL_OK,
                         "the last acknowledged batch is intact");
            cr_assert_eq(h.base_offset, loaders[i].last_acked_offset);
        }
        ringlog__response__free_unpacked(r, NULL);
    }
    close(fd);
}

static void under_load_then(int sig)
{
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, NULL), 0);
    int fd = wire_connect(b.port);
    Ringlog__Response *r = wire_create_topic(fd, "load", 4);
    cr_assert_eq(r->create_topics->topics[0]->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
    enum { LOADERS = 4 };
    struct loader loaders[LOADERS];
    pthread_t threads[LOADERS];
    for (int i = 0; i < LOADERS; i++) {
        memset(&loaders[i], 0, sizeof(loaders[i]));
        loaders[i].port = b.port;
        loaders[i].partition = (uint32_t)i;
        snprintf(loaders[i].prefix, sizeof(loaders[i].prefix), "load-%d", i);
        pthread_create(&threads[i], NULL, load, &loaders[i]);
    }
    usleep(500 * 1000);
    if (sig == SIGKILL) {
        broker_kill(&b);
    } else {
        kill(b.pid, SIGTERM);
        int status;
        waitpid(b.pid, &status, 0);
        b.pid = 0;
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "SIGTERM under load exits 0 (log: %s)", b.log_path);
    }
    for (int i = 0; i < LOADERS; i++) {
        loaders[i].stop = 1;
        pthread_join(threads[i], NULL);
    }
    int64_t total = 0;
    for (int i = 0; i < LOADERS; i++)
        total += loaders[i].acked_batches;
    cr_assert_gt(total, 0, "the load got some batches acknowledged");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", b.data_dir);
    cr_assert_eq(broker_start(&b, dir, NULL), 0);
    check_survived(&b, loaders, LOADERS);
    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
}

Test(lifecycle, graceful_shutdown_under_load_loses_nothing_acknowledged)
{
    under_load_then(SIGTERM);
}

Test(lifecycle, sigkill_under_load_loses_nothing_acknowledged)
{
    under_load_then(SIGKILL);
}
