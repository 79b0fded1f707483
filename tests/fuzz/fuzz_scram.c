/*
 * SCRAM, the Authenticate exchange's content (issue 17 item 2): the
 * broker's state machine (broker/auth/scram_server.c) and the client's
 * (client/sasl.c), each fed what the other side could send.
 *
 * The first input byte picks what the rest is:
 *   0: client-first then client-final from a stranger (the rest, cut at
 *      the first 0xff byte, or the middle): the server never crashes, fails
 *      with a reason, and never accepts a proof it did not check;
 *   1: server-first then server-final from a stranger: the client never
 *      crashes and never accepts a signature that is not the server's;
 *   2: a real exchange (name and password from the input) with one byte
 *      of the client-final changed: the exchange fails, unless the byte
 *      did not change; unchanged, it succeeds and the client accepts the
 *      server's signature.
 */
#include <string.h>

#include "auth/scram_server.h"
#include "fuzz_check.h"
#include "sasl.h"
#include "scram.h"

static struct rl_scram_credential cred[RL_SCRAM_HASHES];

static void make_credentials(void)
{
    static int done;
    if (done++)
        return;
    for (int h = 0; h < RL_SCRAM_HASHES; h++)
        FUZZ_CHECK(rl_scram_credential_make((enum rl_scram_hash)h, "pencil", RL_SCRAM_ITERATIONS,
                                            &cred[h]) == 0);
}

/* Cuts data in two at the first 0xff byte (or the middle). */
static void split(const uint8_t *d, size_t n, size_t *first)
{
    const uint8_t *cut = memchr(d, 0xff, n);
    *first = cut ? (size_t)(cut - d) : n / 2;
}

static void stranger_client(enum rl_scram_hash h, const uint8_t *d, size_t n)
{
    struct scram_server s;
    char out[RL_SCRAM_MAX_MESSAGE];
    size_t a;
    split(d, n, &a);
    scram_server_init(&s, h);
    if (!scram_server_start(&s, (const char *)d, a)) {
        FUZZ_CHECK(s.state == SCRAM_FAILED && s.why != NULL);
        return;
    }
    FUZZ_CHECK(rl_scram_user_valid(s.user, strlen(s.user)));
    FUZZ_CHECK(scram_server_challenge(&s, &cred[h], "c2VydmVy", out, sizeof(out)) > 0);
    const uint8_t *rest = d + a + (a < n);
    size_t rest_len = n - a - (a < n);
    size_t k = scram_server_finish(&s, (const char *)rest, rest_len, out, sizeof(out));
    /* Nobody without the password can make a proof that passes. */
    FUZZ_CHECK(k == 0 && s.state == SCRAM_FAILED && s.why != NULL);
}

static void stranger_server(enum rl_scram_hash h, const uint8_t *d, size_t n)
{
    struct rl_sasl c;
    char err[256], first[RL_SCRAM_MAX_MESSAGE], final[RL_SCRAM_MAX_MESSAGE];
    FUZZ_CHECK(rl_sasl_init(&c, rl_scram_mechanism_name(h), "user", "pencil", err, sizeof(err)) ==
               0);
    FUZZ_CHECK(rl_sasl_first(&c, first, sizeof(first)) > 0);
    size_t a;
    split(d, n, &a);
    /* Iterations are capped, so a hostile server cannot make the client spin for long: keep
     * inputs that ask for many out of the hot loop. */
    size_t k = rl_sasl_final(&c, (const char *)d, a, final, sizeof(final), err, sizeof(err));
    if (k == 0)
        return;
    const uint8_t *rest = d + a + (a < n);
    FUZZ_CHECK(!rl_sasl_verify(&c, (const char *)rest, n - a - (a < n), err, sizeof(err)));
}

static void real_exchange(enum rl_scram_hash h, const uint8_t *d, size_t n)
{
    if (n < 2)
        return;
    size_t at = d[0], flip = d[1];
    struct rl_sasl c;
    struct scram_server s;
    char err[256], m1[RL_SCRAM_MAX_MESSAGE], m2[RL_SCRAM_MAX_MESSAGE], m3[RL_SCRAM_MAX_MESSAGE],
        m4[RL_SCRAM_MAX_MESSAGE];
    FUZZ_CHECK(rl_sasl_init(&c, rl_scram_mechanism_name(h), "user", "pencil", err, sizeof(err)) ==
               0);
    size_t n1 = rl_sasl_first(&c, m1, sizeof(m1));
    scram_server_init(&s, h);
    FUZZ_CHECK(scram_server_start(&s, m1, n1));
    size_t n2 = scram_server_challenge(&s, &cred[h], "bm9uY2U=", m2, sizeof(m2));
    size_t n3 = rl_sasl_final(&c, m2, n2, m3, sizeof(m3), err, sizeof(err));
    FUZZ_CHECK(n2 > 0 && n3 > 0);
    at %= n3;
    char before = m3[at];
    m3[at] = (char)(m3[at] ^ (char)flip);
    size_t n4 = scram_server_finish(&s, m3, n3, m4, sizeof(m4));
    if (m3[at] != before) {
        FUZZ_CHECK(n4 == 0 && s.state == SCRAM_FAILED);
        return;
    }
    FUZZ_CHECK(n4 > 0 && s.state == SCRAM_DONE);
    FUZZ_CHECK(rl_sasl_verify(&c, m4, n4, err, sizeof(err)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    make_credentials();
    enum rl_scram_hash h = (data[0] & 0x10) ? RL_SCRAM_SHA512 : RL_SCRAM_SHA256;
    switch (data[0] & 0x3) {
    case 0:
        stranger_client(h, data + 1, size - 1);
        break;
    case 1:
        stranger_server(h, data + 1, size - 1);
        break;
    default:
        real_exchange(h, data + 1, size - 1);
        break;
    }
    return 0;
}
