/* SCRAM: RFC 7677's SHA-256 example through both state machines, then their refusals. */
#include <criterion/criterion.h>
#include <string.h>

#include "auth/scram_server.h"
#include "sasl.h"
#include "scram.h"

/* RFC 7677 section 3: user "user", password "pencil". */
#define C_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define S_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define S_FIRST "r=rOprNGfwEbeRWgbNEkqO" S_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define C_FINAL                                                                                    \
    "c=biws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define S_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* The RFC's credential: salt W22ZaJ0SNY7soEsUEjb6gQ==, keys derived from "pencil". */
static struct rl_scram_credential rfc_credential(const char *password)
{
    struct rl_scram_credential c;
    memset(&c, 0, sizeof(c));
    c.iterations = 4096;
    int n = rl_scram_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, c.salt, sizeof(c.salt));
    cr_assert_eq(n, 16);
    c.salt_len = 16;
    uint8_t salted[64], client_key[64];
    cr_assert_eq(rl_scram_salted_password(RL_SCRAM_SHA256, password, c.salt, 16, 4096, salted), 0);
    cr_assert_eq(rl_scram_hmac(RL_SCRAM_SHA256, salted, 32, "Client Key", 10, client_key), 0);
    cr_assert_eq(rl_scram_digest(RL_SCRAM_SHA256, client_key, 32, c.stored_key), 0);
    cr_assert_eq(rl_scram_hmac(RL_SCRAM_SHA256, salted, 32, "Server Key", 10, c.server_key), 0);
    return c;
}

static void challenge(struct scram_server *s, const char *first, const char *password)
{
    char out[1024];
    scram_server_init(s, RL_SCRAM_SHA256);
    cr_assert(scram_server_start(s, first, strlen(first)), "%s", s->why);
    struct rl_scram_credential c = rfc_credential(password);
    cr_assert_gt(scram_server_challenge(s, &c, S_NONCE, out, sizeof(out)), 0);
}

Test(scram, rfc7677_server_side)
{
    struct scram_server s;
    char out[1024];
    challenge(&s, C_FIRST, "pencil");
    cr_assert_str_eq(s.user, "user");
    cr_assert_str_eq(s.server_first, S_FIRST);
    size_t n = scram_server_finish(&s, C_FINAL, strlen(C_FINAL), out, sizeof(out));
    cr_assert_gt(n, 0, "%s", s.why);
    cr_assert_str_eq(out, S_FINAL);
    cr_assert_eq(s.state, SCRAM_DONE);
}

Test(scram, rfc7677_client_side)
{
    struct rl_sasl c;
    char err[200], out[1024];
    cr_assert_eq(rl_sasl_init(&c, "scram-sha-256", "user", "pencil", err, sizeof(err)), 0, "%s",
                 err);
    /* The RFC's client nonce instead of a random one. */
    strcpy(c.client_first_bare, "n=user,r=rOprNGfwEbeRWgbNEkqO");
    c.client_first_bare_len = strlen(c.client_first_bare);
    c.step = 1;
    size_t n = rl_sasl_final(&c, S_FIRST, strlen(S_FIRST), out, sizeof(out), err, sizeof(err));
    cr_assert_gt(n, 0, "%s", err);
    cr_assert_str_eq(out, C_FINAL);
    cr_assert(rl_sasl_verify(&c, S_FINAL, strlen(S_FINAL), err, sizeof(err)), "%s", err);
    /* A server that does not know the key cannot forge the signature. */
    c.step = 2;
    cr_assert_not(
        rl_sasl_verify(&c, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 46, err, sizeof(err)));
}

/* The client against the server, both hashes, fresh nonces and salts. */
Test(scram, client_meets_server)
{
    for (int h = 0; h < RL_SCRAM_HASHES; h++) {
        struct rl_scram_credential cred;
        cr_assert_eq(rl_scram_credential_make((enum rl_scram_hash)h, "s3cret", 4096, &cred), 0);
        struct rl_sasl c;
        struct scram_server s;
        char err[200], m1[1024], m2[1024], m3[1024], m4[1024];
        cr_assert_eq(rl_sasl_init(&c, rl_scram_mechanism_name((enum rl_scram_hash)h), "alice",
                                  "s3cret", err, sizeof(err)),
                     0);
        size_t n1 = rl_sasl_first(&c, m1, sizeof(m1));
        scram_server_init(&s, (enum rl_scram_hash)h);
        cr_assert(scram_server_start(&s, m1, n1));
        size_t n2 = scram_server_challenge(&s, &cred, "c2VydmVybm9uY2U=", m2, sizeof(m2));
        size_t n3 = rl_sasl_final(&c, m2, n2, m3, sizeof(m3), err, sizeof(err));
        cr_assert_gt(n3, 0, "%s", err);
        size_t n4 = scram_server_finish(&s, m3, n3, m4, sizeof(m4));
        cr_assert_gt(n4, 0, "hash %d: %s", h, s.why);
        cr_assert(rl_sasl_verify(&c, m4, n4, err, sizeof(err)), "%s", err);
    }
}

static void expect_final_refused(const char *final, const char *password, const char *why)
{
    struct scram_server s;
    char out[1024];
    challenge(&s, C_FIRST, password);
    cr_assert_eq(scram_server_finish(&s, final, strlen(final), out, sizeof(out)), 0, "%s", final);
    cr_assert_eq(s.state, SCRAM_FAILED);
    cr_assert(strstr(s.why, why), "why: %s (expected %s)", s.why, why);
}

Test(scram, wrong_password_wrong_nonce_truncated_reordered)
{
    expect_final_refused(C_FINAL, "pencils", "wrong password");
    /* The nonce of another exchange (a replayed final message). */
    expect_final_refused("c=biws,r=rOprNGfwEbeRWgbNEkqOotherservernonce,p="
                         "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                         "pencil", "wrong nonce");
    /* Truncated anywhere: the proof shortened, the proof gone, the nonce cut. */
    char cut[256];
    strcpy(cut, C_FINAL);
    cut[strlen(cut) - 5] = '\0';
    expect_final_refused(cut, "pencil", "malformed");
    expect_final_refused("c=biws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE, "pencil", "malformed");
    expect_final_refused("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And"
                         "VQ=",
                         "pencil", "wrong nonce");
    /* Channel binding other than the first message's header. */
    expect_final_refused("c=eSws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE
                         ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                         "pencil", "channel binding");
    /* An attribute after the proof: the proof must be last. */
    expect_final_refused(C_FINAL ",x=1", "pencil", "not last");
}

Test(scram, malformed_first_messages)
{
    const char *bad[] = {"",
                         "n,,",
                         "n,,n=user",
                         "n,,r=abc,n=user",
                         "y,,n=user,r=abc",
                         "p=tls-unique,,n=user,r=abc",
                         "n,a=admin,n=user,r=abc",
                         "n,,n=us,er,r=abc",
                         "n,,n=user,r=",
                         "n,,n=bad name,r=abc",
                         "n,,n=u=2Cser,r=abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct scram_server s;
        scram_server_init(&s, RL_SCRAM_SHA512);
        cr_assert_not(scram_server_start(&s, bad[i], strlen(bad[i])), "accepted '%s'", bad[i]);
        cr_assert_eq(s.state, SCRAM_FAILED);
    }
    struct scram_server s;
    scram_server_init(&s, RL_SCRAM_SHA512);
    char nul[] = "n,,n=user,r=ab\0cd";
    cr_assert_not(scram_server_start(&s, nul, sizeof(nul) - 1));
}

Test(scram, base64_and_attrs)
{
    uint8_t out[8];
    cr_assert_eq(rl_scram_b64_decode("YWJj", 4, out, sizeof(out)), 3);
    cr_assert_eq(rl_scram_b64_decode("YWI=", 4, out, sizeof(out)), 2);
    cr_assert_eq(rl_scram_b64_decode("YQ==", 4, out, sizeof(out)), 1);
    cr_assert_eq(rl_scram_b64_decode("YQ=", 3, out, sizeof(out)), -1);
    cr_assert_eq(rl_scram_b64_decode("Y=Q=", 4, out, sizeof(out)), -1);
    cr_assert_eq(rl_scram_b64_decode("YWJjZGVmZ2hp", 12, out, sizeof(out)), -1);
    /* Non-canonical: "YR==" and "YWJ=" carry bits past the data. */
    cr_assert_eq(rl_scram_b64_decode("YR==", 4, out, sizeof(out)), -1);
    cr_assert_eq(rl_scram_b64_decode("YWJ=", 4, out, sizeof(out)), -1);
    const char *v;
    size_t n;
    cr_assert(rl_scram_attr("a=1,bb=2,b=3", 12, 'b', &v, &n));
    cr_assert_eq(n, 1);
    cr_assert_eq(*v, '3');
    cr_assert_not(rl_scram_attr("a=1", 3, 'c', &v, &n));
    cr_assert(rl_scram_user_valid("a.b_c@d+e-f", 11));
    cr_assert_not(rl_scram_user_valid("a,b", 3));
    cr_assert_not(rl_scram_user_valid("", 0));
}
