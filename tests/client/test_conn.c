/* Connection layer: connect, call, pipelining, timeouts, bad peers, frames split anywhere. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "fake_broker.h"
#include "frame.h"
#include "ringlog.h"

static Ringlog__Request *metadata_request(Ringlog__Request *req, Ringlog__MetadataRequest *md)
{
    *req = (Ringlog__Request)RINGLOG__REQUEST__INIT;
    *md = (Ringlog__MetadataRequest)RINGLOG__METADATA_REQUEST__INIT;
    req->body_case = RINGLOG__REQUEST__BODY_METADATA;
    req->metadata = md;
    return req;
}

/* A listening socket on 127.0.0.1 that the test itself accepts from. */
static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A connection to a local listener; returns the accepted (server) side. */
static int connect_local(int *lfd, int *port, struct rl_conn **c)
{
    *lfd = listen_local(port);
    cr_assert_eq(rl_conn_open("127.0.0.1", *port, 2000, c, NULL, 0), RINGLOG_OK);
    int sfd = accept(*lfd, NULL, NULL);
    cr_assert_geq(sfd, 0);
    return sfd;
}

Test(conn, call_metadata)
{
    struct fake_broker *fb = fake_broker_start();
    fake_broker_create_topic(fb, "orders", 3);
    struct rl_conn *c;
    char err[256];
    cr_assert_eq(rl_conn_open("127.0.0.1", fake_broker_port(fb), 2000, &c, err, sizeof(err)),
                 RINGLOG_OK, "%s", err);
    Ringlog__Request req;
    Ringlog__MetadataRequest md;
    Ringlog__Response *resp;
    cr_assert_eq(rl_conn_call(c, metadata_request(&req, &md), &resp, 2000), RINGLOG_OK);
    cr_assert_eq(resp->correlation_id, req.correlation_id);
    cr_assert_eq(resp->body_case, RINGLOG__RESPONSE__BODY_METADATA);
    cr_assert_eq(resp->metadata->n_topics, 1);
    cr_assert_str_eq(resp->metadata->topics[0]->name, "orders");
    cr_assert_eq(resp->metadata->topics[0]->n_partitions, 3);
    cr_assert_eq(resp->metadata->brokers[0]->port, (uint32_t)fake_broker_port(fb));
    rl_conn_response_free(resp);
    rl_conn_close(c);
    fake_broker_stop(fb);
}

Test(conn, pipelining_answers_in_order)
{
    struct fake_broker *fb = fake_broker_start();
    struct rl_conn *c;
    cr_assert_eq(rl_conn_open("localhost", fake_broker_port(fb), 2000, &c, NULL, 0), RINGLOG_OK);
    enum { N = 300 };
    uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        Ringlog__Request req;
        Ringlog__MetadataRequest md;
        cr_assert_eq(rl_conn_enqueue(c, metadata_request(&req, &md), true, &ids[i]), RINGLOG_OK);
    }
    cr_assert_eq(rl_conn_awaiting(c), N);
    for (int i = 0; i < N; i++) {
        Ringlog__Response *resp;
        cr_assert_eq(rl_conn_recv(c, &resp, 5000), RINGLOG_OK, "response %d: %s", i,
                     rl_conn_errstr(c));
        cr_assert_eq(resp->correlation_id, ids[i]);
        rl_conn_response_free(resp);
    }
    cr_assert_eq(rl_conn_awaiting(c), 0);
    rl_conn_close(c);
    fake_broker_stop(fb);
}

Test(conn, connection_refused)
{
    int port;
    int fd = listen_local(&port);
    close(fd);
    struct rl_conn *c = NULL;
    char err[256] = "";
    int rc = rl_conn_open("127.0.0.1", port, 2000, &c, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_TRANSPORT, "rc %d", rc);
    cr_assert_null(c);
    cr_assert(strstr(err, "refused") != NULL, "%s", err);
}

Test(conn, bad_address)
{
    struct rl_conn *c = NULL;
    char err[256] = "";
    cr_assert_eq(rl_conn_open("127.0.0.1", 0, 100, &c, err, sizeof(err)), RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(rl_conn_open("no-such-host.invalid", 7171, 2000, &c, err, sizeof(err)),
                 RINGLOG_ERR_RESOLVE, "%s", err);
}

Test(conn, recv_times_out_then_split_frame_arrives)
{
    int port, lfd;
    struct rl_conn *c;
    int sfd = connect_local(&lfd, &port, &c);

    Ringlog__Request req;
    Ringlog__MetadataRequest md;
    cr_assert_eq(rl_conn_send(c, metadata_request(&req, &md), 1000), RINGLOG_OK);
    Ringlog__Response *resp;
    cr_assert_eq(rl_conn_recv(c, &resp, 50), RINGLOG_ERR_TIMED_OUT);

    /* Answer in three pieces: a split header, then the rest. */
    Ringlog__Response r = RINGLOG__RESPONSE__INIT;
    Ringlog__MetadataResponse mr = RINGLOG__METADATA_RESPONSE__INIT;
    r.correlation_id = req.correlation_id;
    r.body_case = RINGLOG__RESPONSE__BODY_METADATA;
    r.metadata = &mr;
    mr.controller_id = 7;
    uint8_t buf[256];
    size_t n = rl_frame_write(&r.base, buf);
    cr_assert_eq(write(sfd, buf, 2), 2);
    cr_assert_eq(rl_conn_recv(c, &resp, 50), RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(write(sfd, buf + 2, 3), 3);
    cr_assert_eq(rl_conn_recv(c, &resp, 50), RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(write(sfd, buf + 5, n - 5), (ssize_t)(n - 5));
    cr_assert_eq(rl_conn_recv(c, &resp, 1000), RINGLOG_OK);
    cr_assert_eq(resp->metadata->controller_id, 7);
    rl_conn_response_free(resp);

    /* A response with the wrong correlation id is a protocol error. */
    cr_assert_eq(rl_conn_send(c, metadata_request(&req, &md), 1000), RINGLOG_OK);
    r.correlation_id = req.correlation_id + 100;
    n = rl_frame_write(&r.base, buf);
    cr_assert_eq(write(sfd, buf, n), (ssize_t)n);
    cr_assert_eq(rl_conn_recv(c, &resp, 1000), RINGLOG_ERR_PROTOCOL);
    cr_assert(strstr(rl_conn_errstr(c), "correlation") != NULL);

    /* Peer closes: transport error. */
    rl_conn_close(c);
    cr_assert_eq(rl_conn_open("127.0.0.1", port, 2000, &c, NULL, 0), RINGLOG_OK);
    int sfd2 = accept(lfd, NULL, NULL);
    close(sfd2);
    cr_assert_eq(rl_conn_call(c, metadata_request(&req, &md), &resp, 1000), RINGLOG_ERR_TRANSPORT);
    rl_conn_close(c);
    close(sfd);
    close(lfd);
}

Test(conn, raw_bad_frame_closes_connection)
{
    struct fake_broker *fb = fake_broker_start();
    struct rl_conn *c;
    cr_assert_eq(rl_conn_open("127.0.0.1", fake_broker_port(fb), 2000, &c, NULL, 0), RINGLOG_OK);
    const uint8_t zero_len[4] = {0, 0, 0, 0};
    cr_assert_eq(rl_conn_send_raw(c, zero_len, sizeof(zero_len), 1000), RINGLOG_OK);
    cr_assert_eq(rl_conn_wait_closed(c, 2000), RINGLOG_OK);
    rl_conn_close(c);
    fake_broker_stop(fb);
}

static void produce_request(Ringlog__Request *req, Ringlog__ProduceRequest *pr,
                            Ringlog__TopicProduceData *td, Ringlog__TopicProduceData **tdp,
                            Ringlog__PartitionProduceData *pd, Ringlog__PartitionProduceData **pdp,
                            const uint8_t *records, size_t len)
{
    *req = (Ringlog__Request)RINGLOG__REQUEST__INIT;
    *pr = (Ringlog__ProduceRequest)RINGLOG__PRODUCE_REQUEST__INIT;
    *td = (Ringlog__TopicProduceData)RINGLOG__TOPIC_PRODUCE_DATA__INIT;
    *pd = (Ringlog__PartitionProduceData)RINGLOG__PARTITION_PRODUCE_DATA__INIT;
    pd->partition = 3;
    pd->records.data = (uint8_t *)records;
    pd->records.len = len;
    *pdp = pd;
    td->topic = "t";
    td->partitions = pdp;
    td->n_partitions = 1;
    *tdp = td;
    pr->acks = 1;
    pr->topics = tdp;
    pr->n_topics = 1;
    req->body_case = RINGLOG__REQUEST__BODY_PRODUCE;
    req->produce = pr;
}

/*
 * Borrowed bytes go out from the caller's buffer, not a copy (a change made
 * after enqueue shows on the wire), small ones are copied, and the stream is
 * the same frames as plain encoding, through partial writes.
 */
Test(conn, borrowed_bytes_are_sent_in_place)
{
    int port, lfd;
    struct rl_conn *c;
    int sfd = connect_local(&lfd, &port, &c);
    int small = 4096;
    setsockopt(rl_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

    enum { NREQ = 4 };
    size_t sizes[NREQ] = {20000, 100, 70000, RL_CONN_BORROW_MIN_BYTES};
    uint8_t *blobs[NREQ];
    Ringlog__Request req[NREQ];
    Ringlog__ProduceRequest pr[NREQ];
    Ringlog__TopicProduceData td[NREQ], *tdp[NREQ];
    Ringlog__PartitionProduceData pd[NREQ], *pdp[NREQ];
    struct rl_span spans[NREQ];
    for (int i = 0; i < NREQ; i++) {
        blobs[i] = malloc(sizes[i]);
        memset(blobs[i], 'a' + i, sizes[i]);
        spans[i] = (struct rl_span){blobs[i], sizes[i]};
        produce_request(&req[i], &pr[i], &td[i], &tdp[i], &pd[i], &pdp[i], blobs[i], sizes[i]);
    }
    Ringlog__Request mreq;
    Ringlog__MetadataRequest md;
    for (int i = 0; i < NREQ; i++) {
        cr_assert_eq(rl_conn_enqueue_borrowing(c, &req[i], true, spans, NREQ, NULL), RINGLOG_OK);
        cr_assert_eq(rl_conn_enqueue(c, metadata_request(&mreq, &md), true, NULL), RINGLOG_OK);
    }
    size_t pending = rl_conn_pending_out(c);
    /* After enqueue: borrowed blobs change on the wire, the copied (small) one does not. */
    for (int i = 0; i < NREQ; i++)
        blobs[i][0] = 'Z';

    /* What the wire must carry, encoded plainly (same correlation ids). */
    size_t want_len = 0;
    uint8_t *want = malloc(pending);
    for (int i = 0; i < NREQ; i++) {
        if (sizes[i] < RL_CONN_BORROW_MIN_BYTES)
            blobs[i][0] = 'a' + i;
        want_len += rl_frame_write(&req[i].base, want + want_len);
        mreq.correlation_id = req[i].correlation_id + 1;
        mreq.api_version = req[i].api_version;
        want_len += rl_frame_write(&mreq.base, want + want_len);
    }
    cr_assert_eq(want_len, pending);

    uint8_t *got = malloc(pending);
    size_t got_len = 0;
    while (got_len < pending) {
        cr_assert_eq(rl_conn_write_some(c), RINGLOG_OK);
        ssize_t n = recv(sfd, got + got_len, pending - got_len, MSG_DONTWAIT);
        if (n > 0)
            got_len += (size_t)n;
    }
    cr_assert_eq(rl_conn_pending_out(c), 0);
    cr_assert_eq(memcmp(got, want, pending), 0);
    free(got);
    free(want);
    for (int i = 0; i < NREQ; i++)
        free(blobs[i]);
    rl_conn_close(c);
    close(sfd);
    close(lfd);
}

/*
 * A CreateTopics the broker takes longer than connect-timeout-ms (5 s by
 * default) over, but less than request-timeout-ms, succeeds: only a
 * connection's first answer has the short "silent peer" timeout, and the
 * admin client gets that answer with a Metadata request first.
 */
Test(conn, slow_create_topics_waits_for_the_request_timeout, .timeout = 30)
{
    struct fake_broker *fb = fake_broker_start();
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", fake_broker_address(fb), NULL, 0), 0);
    char v[32];
    cr_assert_eq(ringlog_conf_get(c, "connect-timeout-ms", v, sizeof(v)), 0);
    cr_assert_str_eq(v, "5000");
    fake_broker_delay_create_topics(fb, 5600);
    char err[256] = "";
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    cr_assert_eq(ringlog_admin_create_topic(a, "slow", 3, 1, NULL, err, sizeof(err)), 0, "%s", err);
    ringlog_topic_info *ti = NULL;
    cr_assert_eq(ringlog_admin_describe_topic(a, "slow", &ti, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ti->partition_count, 3);
    ringlog_free(ti);
    ringlog_admin_destroy(a);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
}

/*
 * A bootstrap broker that accepts but never answers (stopped with SIGSTOP,
 * hung) is passed over for the next one, and the next call starts there
 * too: a cluster with one paused broker first in the list stays manageable.
 */
Test(conn, admin_passes_over_a_silent_bootstrap_broker, .timeout = 30)
{
    int port;
    int lfd = listen_local(&port);
    struct fake_broker *fb = fake_broker_start();
    char addr[128];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d,%s", port, fake_broker_address(fb));
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", addr, NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "connect-timeout-ms", "300", NULL, 0), 0);
    char err[256] = "";
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    cr_assert_eq(ringlog_admin_create_topic(a, "t", 1, 1, NULL, err, sizeof(err)), 0, "%s", err);
    ringlog_topic_info *ti = NULL;
    cr_assert_eq(ringlog_admin_describe_topic(a, "t", &ti, err, sizeof(err)), 0, "%s", err);
    ringlog_free(ti);
    ringlog_admin_destroy(a);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
    close(lfd);
}

/* A bootstrap broker that knows no controller (cut off from the cluster) is passed over too. */
Test(conn, admin_asks_another_broker_when_one_knows_no_controller, .timeout = 30)
{
    struct fake_broker *lost = fake_broker_start();
    struct fake_broker *fb = fake_broker_start();
    fake_broker_no_controller(lost);
    char addr[128];
    snprintf(addr, sizeof(addr), "%s,%s", fake_broker_address(lost), fake_broker_address(fb));
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", addr, NULL, 0), 0);
    char err[256] = "";
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    cr_assert_eq(ringlog_admin_create_topic(a, "t", 1, 1, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(fake_broker_record_count(fb, "t", 0), 0, "the topic is on the second broker");
    ringlog_admin_destroy(a);
    ringlog_conf_destroy(c);
    fake_broker_stop(fb);
    fake_broker_stop(lost);
}

/* A peer that accepts but never answers is still told apart at the first answer. */
Test(conn, admin_call_to_a_silent_peer_fails_at_connect_timeout)
{
    int port;
    int lfd = listen_local(&port);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "bootstrap", addr, NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "connect-timeout-ms", "300", NULL, 0), 0);
    char err[256] = "";
    ringlog_admin *a = ringlog_admin_new(c, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    int rc = ringlog_admin_create_topic(a, "t", 1, 1, NULL, err, sizeof(err));
    cr_assert_eq(rc, RINGLOG_ERR_TIMED_OUT, "%s", ringlog_err_name(rc));
    cr_assert_not_null(strstr(err, "sent no answer in time"), "%s", err);
    ringlog_admin_destroy(a);
    ringlog_conf_destroy(c);
    close(lfd);
}
