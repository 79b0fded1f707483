/*
 * Whole requests through a real broker shard (issue 19 item 2). The first
 * input byte picks how many bytes each write carries; the rest is written
 * into one connection of a shard that runs on the fuzzer's own thread
 * (shard_attach, loop_turn): frame decoder -> dispatch -> handler -> hop ->
 * partition -> storage (real segment files in a tmpfs directory) ->
 * response encoding. Topic "topic" with 4 partitions exists, as the seeds
 * (make_corpus.c fills string fields with their field names) name it.
 *
 * After each input: every answer read back decodes as a Response; the
 * connection is gone and nothing of it is left parked or pending; topics an
 * input created are deleted again once there are more than a few. The
 * broker's own assertions (always on) check the tiers' invariants on the
 * way, and LeakSanitizer the memory at exit.
 */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "frame.h"
#include "fuzz_check.h"
#include "net/conn.h"
#include "daemon.h"
#include "server.h"
#include "shard.h"
#include "shard_main.h"

enum { SETTLE_TURNS = 10, MAX_TURNS = 4000, KEEP_TOPICS = 8 };

static struct server *srv;
static struct shard *shard;
static char dir[64];
static uint64_t answers; /* Responses read back, over the whole run */

/* Reads what the broker answered; each frame must decode as a Response. */
static void read_answers(int fd, struct rl_frame_decoder *d, bool *eof)
{
    uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        const uint8_t *in = buf, *frame;
        size_t in_len = (size_t)n, frame_len;
        while (rl_frame_decoder_next(d, &in, &in_len, &frame, &frame_len) == RL_OK) {
            int status;
            Ringlog__Response *r = rl_response_decode(frame, frame_len, NULL, &status);
            FUZZ_CHECK(r != NULL);
            answers++;
            ringlog__response__free_unpacked(r, NULL);
        }
    }
    if (n == 0)
        *eof = true;
    else
        FUZZ_CHECK(errno == EAGAIN);
}

/* Writes the stream in pieces into a new connection, then closes it and
 * turns the loop until the broker has let it go. */
static void run_stream(const uint8_t *data, size_t size, size_t piece)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    conn_open(shard, sv[0]);
    struct rl_frame_decoder d;
    rl_frame_decoder_init(&d, 64u << 20);
    bool eof = false;
    size_t pos = 0;
    for (int turn = 0; pos < size && turn < MAX_TURNS; turn++) {
        size_t len = size - pos < piece ? size - pos : piece;
        /* The broker may close the connection on a bad frame: no SIGPIPE. */
        ssize_t n = send(sv[1], data + pos, len, MSG_NOSIGNAL);
        if (n > 0)
            pos += (size_t)n;
        else if (n < 0 && errno != EAGAIN)
            break; /* closed by the broker: what was sent is all it gets */
        FUZZ_CHECK(loop_turn(&shard->loop, 0) >= 0);
        read_answers(sv[1], &d, &eof);
    }
    for (int turn = 0; turn < SETTLE_TURNS; turn++) {
        FUZZ_CHECK(loop_turn(&shard->loop, 1) >= 0);
        read_answers(sv[1], &d, &eof);
    }
    shutdown(sv[1], SHUT_WR);
    for (int turn = 0; (!eof || shard->conn_count > 0) && turn < MAX_TURNS; turn++) {
        FUZZ_CHECK(loop_turn(&shard->loop, 1) >= 0);
        read_answers(sv[1], &d, &eof);
    }
    FUZZ_CHECK(eof && shard->conn_count == 0);
    FUZZ_CHECK(shard->parked == NULL);
    rl_frame_decoder_destroy(&d);
    close(sv[1]);
}

/* Sends one request message as its own connection. */
static void send_request(Ringlog__Request *req)
{
    req->api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    static uint8_t buf[1 << 16];
    size_t n = rl_frame_write(&req->base, buf);
    run_stream(buf, n, n);
}

static void create_topic(const char *name, uint32_t partitions)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__CreateTopicsRequest ct = RINGLOG__CREATE_TOPICS_REQUEST__INIT;
    Ringlog__CreatableTopic topic = RINGLOG__CREATABLE_TOPIC__INIT;
    Ringlog__CreatableTopic *topics[1] = {&topic};
    topic.name = (char *)name;
    topic.partitions = partitions;
    ct.n_topics = 1;
    ct.topics = topics;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_TOPICS;
    req.create_topics = &ct;
    send_request(&req);
}

/* Deletes what inputs created beyond the first few topics (bounded disk). */
static void trim_topics(void)
{
    struct topic_table *t = topic_registry_snapshot(&srv->topics);
    if (t->count <= KEEP_TOPICS)
        return;
    char *names[64];
    size_t n = 0;
    for (uint32_t i = 0; i < t->count && n < 64; i++)
        if (strcmp(t->topics[i]->name, "topic") != 0)
            names[n++] = t->topics[i]->name;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__DeleteTopicsRequest dt = RINGLOG__DELETE_TOPICS_REQUEST__INIT;
    dt.n_names = n;
    dt.names = names;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_TOPICS;
    req.delete_topics = &dt;
    send_request(&req);
    FUZZ_CHECK(topic_registry_snapshot(&srv->topics)->count <= 1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The data directory goes with the process (the shard is never stopped). */
static void remove_dir(void)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    diag_set_level(DIAG_LEVEL_ERROR);
    snprintf(dir, sizeof(dir), "/dev/shm/ringlog-fuzz-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        snprintf(dir, sizeof(dir), "/tmp/ringlog-fuzz-XXXXXX");
        FUZZ_CHECK(mkdtemp(dir) != NULL);
    }
    atexit(remove_dir);
    char err[512];
    srv = calloc(1, sizeof(*srv));
    broker_config_default(&srv->cfg);
    snprintf(srv->cfg.data_dir, sizeof(srv->cfg.data_dir), "%s", dir);
    srv->cfg.flush = LOG_FLUSH_NONE;
    srv->nshards = 1;
    srv->lock_fd = -1;
    FUZZ_CHECK(daemon_open_state(srv, err, sizeof(err)) == 0);
    shard = srv->shards[0];
    FUZZ_CHECK(shard_attach(shard) == 0);
    loop_start(&shard->loop);
    create_topic("topic", 4);
    /* The set-up went through the whole path: answered, and the topic is there. */
    FUZZ_CHECK(answers == 1);
    FUZZ_CHECK(topic_table_find(topic_registry_snapshot(&srv->topics), "topic") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL)
        setup();
    if (size < 1)
        return 0;
    run_stream(data + 1, size - 1, 1 + (size_t)data[0] * 16);
    trim_topics();
    return 0;
}
