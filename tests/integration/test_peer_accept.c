/*
 * Both ends of a link against a real ringlogd, the test playing the other
 * broker: as node 1 it dials broker 2 (hellos accepted and refused, a newer
 * link superseding an older one, PeerMessages counted, an oversized frame
 * or bytes sent before the answer closing the link); as node 2 it is
 * dialed by broker 1 (the hello's fields, a wrong answer refused and
 * dialed again, a silent peer given up on).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "peer_cluster.h"
#include "wire.h"

TestSuite(peer_accept, .timeout = 120);

/* Broker node 2 whose --peers names node 1 (the test) at a port nobody listens on. */
static void start_node2(struct node *x)
{
    struct node nodes[2];
    plan(nodes, 2);
    *x = nodes[1];
    rmdir(nodes[0].dir);
    start(x);
}

static Ringlog__Response *hello(int fd, int32_t node, int32_t to, uint64_t incarnation,
                                uint32_t min_version, const char *cluster)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__PeerHello h = RINGLOG__PEER_HELLO__INIT;
    h.min_version = min_version;
    h.max_version = min_version > 1 ? min_version : 1;
    h.cluster_id = (char *)cluster;
    h.node_id = node;
    h.to_node_id = to;
    h.incarnation = incarnation;
    h.software_version = "test";
    req.body_case = RINGLOG__REQUEST__BODY_PEER_HELLO;
    req.peer_hello = &h;
    cr_assert_eq(wire_send(fd, &req), 0);
    return wire_recv(fd, 5000);
}

/* A hello that must be refused with `code` and a message holding `says`, then the close. */
static void assert_refused(uint16_t port, int32_t node, int32_t to, uint64_t incarnation,
                           uint32_t min_version, int code, const char *says)
{
    int fd = wire_connect(port);
    cr_assert(fd >= 0);
    Ringlog__Response *r = hello(fd, node, to, incarnation, min_version, "");
    cr_assert_not_null(r, "no answer to a hello from node %d", node);
    cr_assert_eq(r->error, code, "node %d: error %d, not %d (%s)", node, r->error, code,
                 r->error_message);
    cr_assert(strstr(r->error_message, says), "'%s' does not say '%s'", r->error_message, says);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert(wire_peer_closed(fd, 5000), "the refused connection stayed open");
    close(fd);
}

static void send_peer_message(int fd, const char *body)
{
    uint8_t frame[256];
    size_t len = strlen(body);
    rl_frame_write_header(frame, (uint32_t)len);
    memcpy(frame + 4, body, len);
    cr_assert_eq(wire_send_raw(fd, frame, len + 4), 0);
}

static bool wait_metric(const struct node *x, const char *name, int node, long want)
{
    int64_t deadline = now_ms() + 10000;
    while (peer_metric(x, name, node) != want && now_ms() < deadline)
        usleep(20 * 1000);
    return peer_metric(x, name, node) == want;
}

Test(peer_accept, a_hello_is_answered_and_messages_flow_until_the_peer_goes)
{
    struct node x;
    start_node2(&x);
    int fd = wire_connect(x.port);
    Ringlog__Response *r = hello(fd, 1, 2, 0xabcdef, 1, "");
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0);
    cr_assert_eq(r->body_case, RINGLOG__RESPONSE__BODY_PEER_HELLO);
    cr_assert_eq(r->peer_hello->node_id, 2);
    cr_assert_eq(r->peer_hello->version, 1);
    cr_assert_eq(r->peer_hello->incarnation, disk_incarnation(&x));
    ringlog__response__free_unpacked(r, NULL);
    cr_assert(wait_link(&x, 1, 1));
    cr_assert(wait_incarnation(&x, 0, 1, 0xabcdef));

    send_peer_message(fd, "first");
    send_peer_message(fd, "second");
    cr_assert(wait_metric(&x, "ringlog_peer_messages_received_total", 1, 2));
    cr_assert_eq(peer_metric(&x, "ringlog_peer_bytes_received_total", 1), 4 + 5 + 4 + 6);
    close(fd);
    cr_assert(wait_link(&x, 1, 0), "a closed socket was not noticed");
    cleanup(&x, 1);
}

Test(peer_accept, a_newer_link_from_a_node_supersedes_the_older)
{
    struct node x;
    start_node2(&x);
    int old = wire_connect(x.port);
    Ringlog__Response *r = hello(old, 1, 2, 111, 1, "");
    cr_assert(r && r->error == 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert(wait_link(&x, 1, 1));
    int newer = wire_connect(x.port);
    r = hello(newer, 1, 2, 222, 1, "");
    cr_assert(r && r->error == 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert(wire_peer_closed(old, 5000), "the older link stayed open");
    cr_assert_eq(peer_metric(&x, "ringlog_peer_link_up", 1), 1);
    cr_assert_eq(peer_metric(&x, "ringlog_peer_links_up_total", 1), 2);
    cr_assert(wait_log(&x, 0, "peer link to node 1 down: superseded by a newer link"));
    cr_assert(wait_incarnation(&x, 0, 1, 222));
    /* The newer one carries messages. */
    send_peer_message(newer, "hello");
    cr_assert(wait_metric(&x, "ringlog_peer_messages_received_total", 1, 1));
    close(old);
    close(newer);
    cleanup(&x, 1);
}

/* A client's Handshake on fd is answered by node `node`. */
static void assert_handshake(int fd, int32_t node)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__HandshakeRequest hs = RINGLOG__HANDSHAKE_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_HANDSHAKE;
    req.handshake = &hs;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert(r && r->error == 0 && r->handshake->node_id == node);
    ringlog__response__free_unpacked(r, NULL);
}

Test(peer_accept, bad_hellos_are_refused_and_clients_are_still_served)
{
    struct node x;
    start_node2(&x);
    assert_refused(x.port, 9, 2, 1, 1, RINGLOG__ERROR_CODE__NODE_ID_MISMATCH,
                   "node 9 is not in this broker's --peers");
    assert_refused(x.port, 2, 2, 1, 1, RINGLOG__ERROR_CODE__NODE_ID_MISMATCH,
                   "node id 2 is this broker's own");
    assert_refused(x.port, 1, 3, 1, 1, RINGLOG__ERROR_CODE__NODE_ID_MISMATCH,
                   "node 1 dialed node 3 here, but this is node 2");
    assert_refused(x.port, 1, 2, 0, 1, RINGLOG__ERROR_CODE__INVALID_REQUEST, "incarnation");
    assert_refused(x.port, 1, 2, 1, 7, RINGLOG__ERROR_CODE__UNSUPPORTED_VERSION,
                   "speaks versions 7..7");
    cr_assert(wait_log(&x, 0, "refused a peer link from node 9"));
    cr_assert_eq(peer_metric(&x, "ringlog_peer_link_up", 1), 0);
    cr_assert_eq(peer_metric(&x, "ringlog_peer_refused_total", 1), 3);

    /* A peer_hello after another request is not a link: an error, and the
     * connection goes on serving. */
    int fd = wire_connect(x.port);
    assert_handshake(fd, 2);
    Ringlog__Response *r = hello(fd, 1, 2, 1, 1, "");
    cr_assert_not_null(r);
    cr_assert_eq(r->error, RINGLOG__ERROR_CODE__INVALID_REQUEST);
    ringlog__response__free_unpacked(r, NULL);
    assert_handshake(fd, 2);
    close(fd);
    cleanup(&x, 1);
}

Test(peer_accept, bytes_before_the_answer_or_an_oversized_frame_close_the_link)
{
    struct node x;
    start_node2(&x);
    long errors = metric(&x, "ringlog_protocol_errors_total");
    /* A hello and a message in one write: the dialer did not wait for the answer. */
    int fd = wire_connect(x.port);
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__PeerHello h = RINGLOG__PEER_HELLO__INIT;
    h.min_version = h.max_version = 1;
    h.node_id = 1;
    h.to_node_id = 2;
    h.incarnation = 5;
    req.correlation_id = 1;
    req.api_version = 1;
    req.body_case = RINGLOG__REQUEST__BODY_PEER_HELLO;
    req.peer_hello = &h;
    uint8_t buf[256];
    size_t n = rl_frame_write(&req.base, buf);
    rl_frame_write_header(buf + n, 3);
    memcpy(buf + n + 4, "abc", 3);
    cr_assert_eq(wire_send_raw(fd, buf, n + 7), 0);
    cr_assert(wire_peer_closed(fd, 5000));
    close(fd);
    cr_assert_eq(metric(&x, "ringlog_protocol_errors_total"), errors + 1);
    cr_assert_eq(peer_metric(&x, "ringlog_peer_links_up_total", 1), 0);

    /* On a link that is up, a frame over the limit (16 MiB) closes it. */
    fd = wire_connect(x.port);
    Ringlog__Response *r = hello(fd, 1, 2, 5, 1, "");
    cr_assert(r && r->error == 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert(wait_link(&x, 1, 1));
    rl_frame_write_header(buf, (16u << 20) + 1);
    cr_assert_eq(wire_send_raw(fd, buf, 4), 0);
    cr_assert(wire_peer_closed(fd, 5000), "an oversized frame did not close the link");
    cr_assert(wait_link(&x, 1, 0));
    close(fd);
    cleanup(&x, 1);
}

/* Accepts the broker's next dial and reads its hello. */
static int accept_hello(int lfd, Ringlog__Request **req)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 10000), 1, "the broker did not dial");
    int fd = accept(lfd, NULL, NULL);
    cr_assert(fd >= 0);
    uint8_t hdr[4], body[1024];
    cr_assert_eq(recv(fd, hdr, 4, MSG_WAITALL), 4);
    uint32_t len = ntohl(*(uint32_t *)hdr);
    cr_assert_leq(len, sizeof(body));
    cr_assert_eq(recv(fd, body, len, MSG_WAITALL), (ssize_t)len);
    int status;
    *req = rl_request_decode(body, len, NULL, &status);
    cr_assert_not_null(*req);
    cr_assert_eq((*req)->body_case, RINGLOG__REQUEST__BODY_PEER_HELLO);
    return fd;
}

Test(peer_accept, the_lower_node_dials_and_checks_the_answer)
{
    uint16_t port;
    int lfd = listen_free(&port);
    struct node nodes[2];
    plan(nodes, 2);
    snprintf(peers_arg, sizeof(peers_arg), "1@127.0.0.1:%u,2@127.0.0.1:%u", nodes[0].port, port);
    rmdir(nodes[1].dir);
    struct node *x = &nodes[0];
    start(x);

    Ringlog__Request *req;
    int fd = accept_hello(lfd, &req);
    cr_assert_eq(req->peer_hello->node_id, 1);
    cr_assert_eq(req->peer_hello->to_node_id, 2);
    cr_assert_eq(req->peer_hello->incarnation, disk_incarnation(x));
    cr_assert_str_eq(req->peer_hello->cluster_id, ""); /* a cluster's broker learns its id */
    ringlog__request__free_unpacked(req, NULL);
    /* The wrong node answers: refused, and dialed again. */
    answer(fd, 3, 77);
    cr_assert(wire_peer_closed(fd, 5000));
    close(fd);
    cr_assert(wait_log(x, 0, "wrong node: dialed node 2, reached node 3"));

    /* A peer that never answers is given up on after the handshake timeout. */
    fd = accept_hello(lfd, &req);
    ringlog__request__free_unpacked(req, NULL);
    cr_assert(wire_peer_closed(fd, 5000), "a silent peer was waited for");
    close(fd);
    cr_assert(wait_log(x, 0, "no answer to the peer hello"));

    fd = accept_hello(lfd, &req);
    ringlog__request__free_unpacked(req, NULL);
    answer(fd, 2, 88);
    cr_assert(wait_link(x, 2, 1));
    cr_assert(wait_incarnation(x, 0, 2, 88));
    cr_assert_eq(peer_metric(x, "ringlog_peer_refused_total", 2), 1);
    /* A message from the test arrives after the answer. */
    send_peer_message(fd, "after");
    cr_assert(wait_metric(x, "ringlog_peer_messages_received_total", 2, 1));
    close(fd);
    cr_assert(wait_link(x, 2, 0));
    close(lfd);
    cleanup(x, 1);
}
