/*
 * SCRAM against a real ringlogd: right and wrong passwords, unknown users,
 * replayed, truncated and out-of-turn exchanges, the gate for requests
 * before authentication, the deadline, a user deleted while connected, and
 * users kept across a restart.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "sasl.h"
#include "wire.h"
#include "wire_sasl.h"

#define DELAY_MS 800
#define DEADLINE_MS 1500

static struct broker_proc broker;

static void start(void)
{
    const char *args[] = {"--sasl-bootstrap-user",
                          "admin:adminpw",
                          "--auth-failure-delay-ms",
                          "800",
                          "--auth-timeout-ms",
                          "1500",
                          "--shards",
                          "2",
                          NULL};
    cr_assert_eq(broker_start(&broker, NULL, args), 0);
}

static void stop(void)
{
    cr_expect_eq(broker_stop(&broker), 0, "graceful shutdown exits 0 (log: %s)", broker.log_path);
    broker_remove_data(&broker);
}

TestSuite(auth, .init = start, .fini = stop, .timeout = 60);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int login(const char *mech, const char *user, const char *pw)
{
    int fd = wire_connect(broker.port);
    cr_assert_geq(fd, 0);
    int rc = wire_sasl_login(fd, mech, user, pw);
    close(fd);
    return rc;
}

Test(auth, right_password_both_mechanisms)
{
    for (int i = 0; i < 2; i++) {
        const char *mech = i ? "SCRAM-SHA-512" : "SCRAM-SHA-256";
        int fd = wire_connect(broker.port);
        cr_assert_eq(wire_sasl_login(fd, mech, "admin", "adminpw"), 0, "%s", mech);
        Ringlog__Response *r = wire_metadata(fd, NULL);
        cr_assert_not_null(r);
        cr_assert_eq(r->error, 0, "%s", r->error_message);
        ringlog__response__free_unpacked(r, NULL);
        close(fd);
    }
}

/* A wrong password and an unknown user: the same error, both only after the delay,
 * then the connection closes. */
Test(auth, wrong_password_and_unknown_user_look_alike)
{
    const char *users[] = {"admin", "nosuchuser"};
    for (int i = 0; i < 2; i++) {
        int fd = wire_connect(broker.port);
        int64_t t0 = now_ms();
        int rc = wire_sasl_login(fd, "SCRAM-SHA-256", users[i], "wrong");
        int64_t took = now_ms() - t0;
        cr_assert_eq(rc, RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, "%s: %d", users[i], rc);
        cr_assert_geq(took, DELAY_MS - 50, "%s: answered after %lld ms", users[i], (long long)took);
        cr_assert_eq(wire_peer_closed(fd, 3000), 1, "%s: the connection closes", users[i]);
        close(fd);
    }
}

/* The salt and iterations an unknown user is shown do not change between tries
 * (a changing salt would tell the name is not real). */
Test(auth, unknown_user_salt_is_stable)
{
    char first[2][512];
    for (int i = 0; i < 2; i++) {
        int fd = wire_connect(broker.port);
        const char *msg = i ? "n,,n=ghost,r=nonceB" : "n,,n=ghost,r=nonceA";
        Ringlog__Response *r = wire_authenticate(fd, "SCRAM-SHA-256", msg, strlen(msg));
        cr_assert_not_null(r);
        cr_assert_eq(r->error, 0);
        snprintf(first[i], sizeof(first[i]), "%.*s", (int)r->authenticate->auth_bytes.len,
                 (const char *)r->authenticate->auth_bytes.data);
        ringlog__response__free_unpacked(r, NULL);
        close(fd);
    }
    const char *s0 = strstr(first[0], ",s="), *s1 = strstr(first[1], ",s=");
    cr_assert(s0 && s1);
    cr_assert_str_eq(s0, s1, "same salt and iterations: %s / %s", first[0], first[1]);
    cr_assert(strstr(s0, ",i=4096"));
}

/* A client-final message recorded from a good exchange, sent on a new one. */
Test(auth, replayed_final_message_refused)
{
    struct rl_sasl s;
    char err[256], msg[1024], final[1024];
    int fd = wire_connect(broker.port);
    cr_assert_eq(rl_sasl_init(&s, "SCRAM-SHA-256", "admin", "adminpw", err, sizeof(err)), 0);
    size_t n = rl_sasl_first(&s, msg, sizeof(msg));
    char first[1024];
    memcpy(first, msg, n);
    size_t first_len = n;
    Ringlog__Response *r = wire_authenticate(fd, "SCRAM-SHA-256", msg, n);
    size_t fn =
        rl_sasl_final(&s, (const char *)r->authenticate->auth_bytes.data,
                      r->authenticate->auth_bytes.len, final, sizeof(final), err, sizeof(err));
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(wire_error_of(wire_authenticate(fd, NULL, final, fn)), 0, "the original works");
    close(fd);
    /* The same two messages again: the broker's nonce differs, the proof no longer fits. */
    fd = wire_connect(broker.port);
    r = wire_authenticate(fd, "SCRAM-SHA-256", first, first_len);
    cr_assert_eq(r->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(wire_error_of(wire_authenticate(fd, NULL, final, fn)),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    cr_assert_eq(wire_peer_closed(fd, 3000), 1);
    close(fd);
}

static void expect_first_refused(const char *mech, const char *msg, int code)
{
    int fd = wire_connect(broker.port);
    int got = wire_error_of(wire_authenticate(fd, mech, msg, strlen(msg)));
    cr_assert_eq(got, code, "%s: %d", msg, got);
    cr_assert_eq(wire_peer_closed(fd, 3000), 1);
    close(fd);
}

Test(auth, truncated_and_out_of_turn_exchanges)
{
    expect_first_refused("SCRAM-SHA-256", "n,,n=adm", RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    expect_first_refused("SCRAM-SHA-256", "", RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    expect_first_refused("PLAIN", "\0admin\0adminpw",
                         RINGLOG__ERROR_CODE__UNSUPPORTED_SASL_MECHANISM);
    /* A final message first. */
    expect_first_refused(NULL, "c=biws,r=x,p=AAAA", RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    /* A truncated final message, and one with another nonce. */
    for (int i = 0; i < 2; i++) {
        struct rl_sasl s;
        char err[256], msg[1024], final[1024];
        int fd = wire_connect(broker.port);
        rl_sasl_init(&s, "SCRAM-SHA-512", "admin", "adminpw", err, sizeof(err));
        size_t n = rl_sasl_first(&s, msg, sizeof(msg));
        Ringlog__Response *r = wire_authenticate(fd, "SCRAM-SHA-512", msg, n);
        size_t fn =
            rl_sasl_final(&s, (const char *)r->authenticate->auth_bytes.data,
                          r->authenticate->auth_bytes.len, final, sizeof(final), err, sizeof(err));
        ringlog__response__free_unpacked(r, NULL);
        if (i == 0)
            fn -= 10;
        else
            final[12] = final[12] == 'A' ? 'B' : 'A'; /* inside the nonce: "c=biws,r=..." */
        cr_assert_eq(wire_error_of(wire_authenticate(fd, NULL, final, fn)),
                     RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED, "case %d", i);
        cr_assert_eq(wire_peer_closed(fd, 3000), 1);
        close(fd);
    }
}

Test(auth, requests_before_authentication_refused)
{
    int fd = wire_connect(broker.port);
    /* Handshake is served, and says authentication is needed. */
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__HandshakeRequest hs = RINGLOG__HANDSHAKE_REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_HANDSHAKE;
    req.handshake = &hs;
    Ringlog__Response *r = wire_call(fd, &req);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0);
    cr_assert(r->handshake->authentication_required);
    cr_assert_eq(r->handshake->n_sasl_mechanisms, 2);
    ringlog__response__free_unpacked(r, NULL);
    /* Anything else is refused, and the connection closes. */
    cr_assert_eq(wire_error_of(wire_metadata(fd, NULL)),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_REQUIRED);
    cr_assert_eq(wire_peer_closed(fd, 3000), 1);
    close(fd);
    fd = wire_connect(broker.port);
    cr_assert_eq(wire_error_of(wire_create_topic(fd, "sneaky", 1)),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_REQUIRED);
    close(fd);
}

Test(auth, unauthenticated_connection_closed_at_deadline)
{
    int fd = wire_connect(broker.port);
    int64_t t0 = now_ms();
    cr_assert_eq(wire_peer_closed(fd, DEADLINE_MS + 3000), 1);
    int64_t took = now_ms() - t0;
    cr_assert_geq(took, DEADLINE_MS - 100, "closed after %lld ms", (long long)took);
    close(fd);
    /* An authenticated one outlives it. */
    fd = wire_connect(broker.port);
    cr_assert_eq(wire_sasl_login(fd, "SCRAM-SHA-256", "admin", "adminpw"), 0);
    cr_assert_eq(wire_peer_closed(fd, DEADLINE_MS + 500), 0);
    Ringlog__Response *r = wire_metadata(fd, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(r->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
}

Test(auth, user_deleted_while_connected)
{
    int admin = wire_connect(broker.port);
    cr_assert_eq(wire_sasl_login(admin, "SCRAM-SHA-256", "admin", "adminpw"), 0);
    cr_assert_eq(wire_create_user(admin, "bob", "bobpw"), 0);
    int bob = wire_connect(broker.port);
    cr_assert_eq(wire_sasl_login(bob, "SCRAM-SHA-512", "bob", "bobpw"), 0);
    cr_assert_eq(wire_acl(admin, true, "User:bob", RINGLOG__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC,
                          "", true, RINGLOG__ACL_OPERATION__ACL_OPERATION_DESCRIBE, false),
                 0);
    Ringlog__Response *r = wire_metadata(bob, NULL);
    cr_assert_eq(r->error, 0);
    ringlog__response__free_unpacked(r, NULL);
    cr_assert_eq(wire_delete_user(admin, "bob"), 0);
    cr_assert_eq(wire_delete_user(admin, "bob"), RINGLOG__ERROR_CODE__UNKNOWN_USER);
    cr_assert_eq(wire_error_of(wire_metadata(bob, NULL)),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    cr_assert_eq(wire_peer_closed(bob, 3000), 1);
    close(bob);
    cr_assert_eq(login("SCRAM-SHA-512", "bob", "bobpw"),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
    close(admin);
}

/* Users live in meta/security: a restart keeps them, and the bootstrap user
 * does not come back once deleted while others exist. */
Test(auth, users_survive_restart)
{
    int fd = wire_connect(broker.port);
    cr_assert_eq(wire_sasl_login(fd, "SCRAM-SHA-256", "admin", "adminpw"), 0);
    cr_assert_eq(wire_create_user(fd, "carol", "carolpw"), 0);
    cr_assert_eq(wire_create_user(fd, "admin", "newpw"), 0, "replacing a password");
    close(fd);
    cr_assert_eq(broker_stop(&broker), 0);
    const char *args[] = {"--sasl-bootstrap-user", "admin:adminpw", NULL};
    char dir[sizeof(broker.data_dir)];
    snprintf(dir, sizeof(dir), "%s", broker.data_dir);
    cr_assert_eq(broker_start(&broker, dir, args), 0);
    cr_assert_eq(login("SCRAM-SHA-256", "carol", "carolpw"), 0);
    cr_assert_eq(login("SCRAM-SHA-256", "admin", "newpw"), 0);
    cr_assert_eq(login("SCRAM-SHA-256", "admin", "adminpw"),
                 RINGLOG__ERROR_CODE__AUTHENTICATION_FAILED);
}

/* Without users the broker is open as before: no authentication asked. */
TestSuite(open_broker, .fini = stop, .timeout = 60);

Test(open_broker, no_users_no_authentication)
{
    cr_assert_eq(broker_start(&broker, NULL, NULL), 0);
    int fd = wire_connect(broker.port);
    Ringlog__Response *r = wire_create_topic(fd, "open", 1);
    cr_assert_not_null(r);
    cr_assert_eq(wire_first_error(r), 0);
    ringlog__response__free_unpacked(r, NULL);
    close(fd);
}
