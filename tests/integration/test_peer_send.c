/*
 * peer_send inside one process: a broker's two shards run on threads of
 * this test (shard_attach), node 1 dials node 2, played by the test on a
 * loopback socket, and the test reads every frame the link sends.
 * - The byte bound: with no loop turn in between, nothing leaves, so
 *   exactly PEER_QUEUE_BOUND / message-size messages are taken and the
 *   next is dropped and counted; all taken ones then arrive whole, records
 *   included, in order, and the bound is free again.
 * - Order: shard 0 (the link shard) and shard 1 (through the inbox) send
 *   at once; each one's messages arrive in the order it sent them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "frame.h"
#include "net/peer.h"
#include "net/peer_internal.h"
#include "net/peer_node.h"
#include "peer_cluster.h"
#include "server.h"
#include "shard.h"
#include "shard_main.h"

TestSuite(peer_send, .timeout = 120);

static struct server *srv;
static char dir[256];
static int listen_fd, link_fd = -1;
static _Atomic bool shard1_go, shard1_done, shard1_detach;
static _Atomic bool shard1_send; /* set: shard 1 sends ORDER_COUNT messages, then clears it */

enum { ORDER_COUNT = 3000, ORDER_RECORDS = 16 };

static void fail_if(bool bad, const char *what)
{
    if (bad) {
        fprintf(stderr, "test_peer_send: %s\n", what);
        abort();
    }
}

/* Reads exactly len bytes from the link, turning shard 0's loop meanwhile. */
static void read_link(uint8_t *buf, size_t len)
{
    size_t have = 0;
    for (int spins = 0; have < len; spins++) {
        ssize_t n = recv(link_fd, buf + have, len - have, MSG_DONTWAIT);
        if (n > 0) {
            have += (size_t)n;
            continue;
        }
        fail_if(n == 0 || spins > 200000, "the link did not deliver");
        loop_turn(&srv->shards[0]->loop, 1);
    }
}

/* A message: an 8-byte head (sender shard, sequence) and records of one repeated byte. */
static struct peer_out *message(uint32_t shard, uint32_t seq, size_t records_len)
{
    uint8_t *records = NULL;
    if (records_len) {
        records = malloc(records_len);
        memset(records, (int)(seq & 0xff), records_len);
    }
    struct peer_out *m = peer_out_new(8, records, records_len);
    fail_if(m == NULL, "out of memory");
    uint32_t head[2] = {htonl(shard), htonl(seq)};
    memcpy(peer_out_head(m), head, 8);
    return m;
}

/* On shard 1's thread: ORDER_COUNT messages through node 2's inbox, turning now and then. */
static void send_from_shard1(struct shard *s)
{
    for (uint32_t i = 0; i < ORDER_COUNT; i++) {
        fail_if(!peer_send(s, 2, message(1, i, ORDER_RECORDS)), "shard 1: a message was refused");
        if (i % 64 == 0)
            loop_turn(&s->loop, 0);
    }
    atomic_store(&shard1_send, false);
}

static void *shard1_thread(void *arg)
{
    (void)arg;
    struct shard *s = srv->shards[1];
    fail_if(shard_attach(s) != 0, "attaching shard 1");
    loop_start(&s->loop);
    atomic_store(&shard1_go, false);
    while (!atomic_load(&shard1_done)) {
        if (atomic_load(&shard1_send))
            send_from_shard1(s);
        loop_turn(&s->loop, 1);
    }
    while (!atomic_load(&shard1_detach))
        usleep(1000);
    shard_detach(s);
    return NULL;
}

static pthread_t shard1;

/* What the hooks saw, in order: up, down, or a message, with the link's number. */
struct event {
    char kind; /* 'u', 'd', 'm' */
    uint64_t incarnation, number;
    char body[8];
};
static struct event events[16];
static int event_count;

static void record(char kind, uint64_t inc, const uint8_t *body, size_t len)
{
    fail_if(event_count == 16, "too many link events");
    struct event *e = &events[event_count++];
    e->kind = kind;
    e->incarnation = inc;
    e->number = peer_link_number(srv->shards[0], 2);
    snprintf(e->body, sizeof(e->body), "%.*s", (int)len, body ? (const char *)body : "");
}

static void on_message(struct shard *s, int32_t from, uint64_t inc, uint8_t *body, size_t len)
{
    fail_if(s != srv->shards[0] || from != 2, "a message on the wrong shard or node");
    record('m', inc, body, len);
    free(body);
}

static void on_link(struct shard *s, int32_t node, uint64_t inc, bool up)
{
    fail_if(s != srv->shards[0] || node != 2, "a link event on the wrong shard or node");
    record(up ? 'u' : 'd', inc, NULL, 0);
}

static const struct peer_hooks test_hooks = {.on_message = on_message, .on_link = on_link};

/* Accepts node 1's next dial, reads its hello and answers as node 2 with incarnation inc;
 * returns once the link is up. */
static void accept_link(uint64_t inc)
{
    struct shard *s0 = srv->shards[0];
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    for (int i = 0; i < 10000 && poll(&p, 1, 0) == 0; i++)
        loop_turn(&s0->loop, 1);
    link_fd = accept(listen_fd, NULL, NULL);
    cr_assert(link_fd >= 0);
    uint8_t hdr[4], body[512];
    read_link(hdr, 4);
    uint32_t len = ntohl(*(uint32_t *)hdr);
    cr_assert_leq(len, sizeof(body));
    read_link(body, len);
    int status;
    Ringlog__Request *req = rl_request_decode(body, len, NULL, &status);
    cr_assert(req && req->body_case == RINGLOG__REQUEST__BODY_PEER_HELLO);
    ringlog__request__free_unpacked(req, NULL);
    answer(link_fd, 2, inc);
    for (int i = 0; i < 10000 && !atomic_load(&srv->peer_stats[1].up); i++)
        loop_turn(&s0->loop, 1);
    cr_assert_eq(atomic_load(&srv->peer_stats[1].up), 1);
}

/* Node 1 with two shards; node 2 is a socket of this test. Returns with the link up. */
static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ringlog-peer-send-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    uint16_t port;
    listen_fd = listen_free(&port);

    srv = calloc(1, sizeof(*srv));
    broker_config_default(&srv->cfg);
    snprintf(srv->cfg.data_dir, sizeof(srv->cfg.data_dir), "%s", dir);
    srv->cfg.flush = LOG_FLUSH_NONE;
    srv->cfg.node_id = 1;
    srv->cfg.peer_count = 2;
    srv->cfg.peers[0] = (struct peer){.node_id = 1, .host = "127.0.0.1", .port = 1};
    srv->cfg.peers[1] = (struct peer){.node_id = 2, .host = "127.0.0.1"};
    srv->cfg.peers[1].port = port;
    srv->nshards = 2;
    srv->lock_fd = -1;
    char err[512];
    cr_assert_eq(daemon_open_state(srv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(peer_link_shard(srv, 2), 0);
    /* Links only: no replication driver or controller on these shards. */
    srv->cluster = false;
    event_count = 0;
    peer_set_hooks(&test_hooks);

    struct shard *s0 = srv->shards[0];
    cr_assert_eq(shard_attach(s0), 0);
    loop_start(&s0->loop);
    atomic_store(&shard1_go, true);
    pthread_create(&shard1, NULL, shard1_thread, NULL);
    while (atomic_load(&shard1_go))
        usleep(1000);
    peer_shard_start(s0);
    accept_link(42);
}

static void teardown(void)
{
    struct shard *s0 = srv->shards[0];
    atomic_store(&shard1_done, true);
    s0->stopping = true;
    peer_shard_stop(s0);
    for (int i = 0; i < 10000 && !peer_shard_drained(s0); i++)
        loop_turn(&s0->loop, 1);
    cr_assert(peer_shard_drained(s0));
    atomic_store(&shard1_detach, true);
    pthread_join(shard1, NULL);
    shard_detach(s0);
    close(link_fd);
    close(listen_fd);
    daemon_close_state(srv);
    free(srv);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Reads the next frame and checks it is (shard, seq) with records_len bytes of seq's byte. */
static void expect_frame(uint32_t *shard, uint32_t *seq, size_t records_len, uint8_t *scratch)
{
    uint8_t hdr[4];
    read_link(hdr, 4);
    uint32_t len = ntohl(*(uint32_t *)hdr);
    cr_assert_eq(len, 8 + records_len);
    read_link(scratch, len);
    uint32_t head[2];
    memcpy(head, scratch, 8);
    *shard = ntohl(head[0]);
    *seq = ntohl(head[1]);
    for (size_t i = 0; i < records_len; i++)
        if (scratch[8 + i] != (uint8_t)(*seq & 0xff))
            cr_assert_fail("message %u: record byte %zu is wrong", *seq, i);
}

Test(peer_send, the_byte_bound_drops_the_excess_and_what_was_taken_arrives_in_order)
{
    setup();
    struct shard *s0 = srv->shards[0];
    struct peer_node *n = peer_node_find(srv, 2);
    const size_t records = 1 << 20;
    const int64_t size = 4 + 8 + (int64_t)records;
    const uint32_t fits = (uint32_t)(PEER_QUEUE_BOUND / size);
    for (uint32_t i = 0; i < fits; i++)
        cr_assert(peer_send(s0, 2, message(0, i, records)), "message %u of %u refused", i, fits);
    cr_assert_eq(atomic_load(&n->queued_bytes), (int64_t)fits * size);
    cr_assert_not(peer_send(s0, 2, message(0, fits, records)), "the bound let one more in");
    cr_assert_eq(atomic_load(&srv->peer_stats[1].dropped), 1);
    cr_assert_not(peer_send(s0, 7, message(0, 0, 0)), "a node not in --peers took a message");

    uint8_t *scratch = malloc(8 + records);
    for (uint32_t i = 0; i < fits; i++) {
        uint32_t shard, seq;
        expect_frame(&shard, &seq, records, scratch);
        cr_assert_eq(seq, i);
    }
    for (int i = 0; i < 100 && atomic_load(&n->queued_bytes) != 0; i++)
        loop_turn(&s0->loop, 1);
    cr_assert_eq(atomic_load(&n->queued_bytes), 0);
    cr_assert_eq(atomic_load(&srv->peer_stats[1].messages_sent), fits);
    cr_assert(peer_send(s0, 2, message(0, 7, 0)), "the bound is not free again");
    uint32_t shard, seq;
    expect_frame(&shard, &seq, 0, scratch);
    cr_assert_eq(seq, 7);
    free(scratch);
    teardown();
}

Test(peer_send, each_shard_s_messages_arrive_in_the_order_it_sent_them)
{
    setup();
    struct shard *s0 = srv->shards[0];
    atomic_store(&shard1_send, true);
    for (uint32_t i = 0; i < ORDER_COUNT; i++) {
        cr_assert(peer_send(s0, 2, message(0, i, ORDER_RECORDS)));
        if (i % 64 == 0)
            loop_turn(&s0->loop, 0);
    }
    uint32_t next[2] = {0, 0};
    uint8_t scratch[8 + ORDER_RECORDS];
    for (int i = 0; i < 2 * ORDER_COUNT; i++) {
        uint32_t shard, seq;
        expect_frame(&shard, &seq, ORDER_RECORDS, scratch);
        cr_assert_leq(shard, 1);
        cr_assert_eq(seq, next[shard], "shard %u: message %u came when %u was due", shard, seq,
                     next[shard]);
        next[shard]++;
    }
    cr_assert_not(atomic_load(&shard1_send));
    cr_assert_eq(atomic_load(&srv->peer_stats[1].dropped), 0);
    teardown();
}

/* Waits (turning shard 0) until the hooks have seen n events. */
static void wait_events(int n)
{
    for (int i = 0; i < 10000 && event_count < n; i++)
        loop_turn(&srv->shards[0]->loop, 1);
    cr_assert_eq(event_count, n);
}

Test(peer_send, links_are_numbered_and_reported_up_messages_down_in_that_order)
{
    setup();
    uint8_t frame[7];
    rl_frame_write_header(frame, 3);
    memcpy(frame + 4, "one", 3);
    cr_assert_eq(send(link_fd, frame, 7, 0), 7);
    wait_events(2);
    close(link_fd); /* the other broker goes away; node 1 dials again */
    wait_events(3);
    accept_link(43);
    memcpy(frame + 4, "two", 3);
    cr_assert_eq(send(link_fd, frame, 7, 0), 7);
    wait_events(5);
    /* A link cut off by the network breaks within PEER_USER_TIMEOUT_MS. */
    unsigned timeout = 0;
    socklen_t len = sizeof(timeout);
    cr_assert_eq(
        getsockopt(peer_node_find(srv, 2)->link->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, &len),
        0);
    cr_assert_eq(timeout, PEER_USER_TIMEOUT_MS);
    static const struct {
        char kind;
        uint64_t incarnation, number;
        const char *body;
    } want[] = {{'u', 42, 1, ""},
                {'m', 42, 1, "one"},
                {'d', 42, 1, ""},
                {'u', 43, 2, ""},
                {'m', 43, 2, "two"}};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(events[i].kind, want[i].kind, "event %d", i);
        cr_assert_eq(events[i].incarnation, want[i].incarnation, "event %d", i);
        cr_assert_eq(events[i].number, want[i].number, "event %d", i);
        cr_assert_str_eq(events[i].body, want[i].body, "event %d", i);
    }
    teardown();
}
