#include "scram_server.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void scram_server_init(struct scram_server *s, enum rl_scram_hash hash)
{
    memset(s, 0, sizeof(*s));
    s->state = SCRAM_START;
    s->hash = hash;
}

static bool fail(struct scram_server *s, const char *why)
{
    s->state = SCRAM_FAILED;
    s->why = why;
    return false;
}

/* A SCRAM nonce: printable ASCII but ','. */
static bool nonce_valid(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
            return false;
    return true;
}

bool scram_server_start(struct scram_server *s, const char *msg, size_t len)
{
    assert(s->state == SCRAM_START);
    if (len == 0 || len >= sizeof(s->client_first_bare) || memchr(msg, '\0', len))
        return fail(s, "client-first-message too long or not text");
    /* gs2-header: "n,," (no channel binding, no authzid). "y,," and "p=" are refused. */
    if (len < 3 || memcmp(msg, "n,,", 3) != 0)
        return fail(s, "client-first-message: only the gs2 header \"n,,\" is supported");
    const char *bare = msg + 3;
    size_t bare_len = len - 3;
    if (bare_len < 2 || memcmp(bare, "n=", 2) != 0)
        return fail(s, "client-first-message: no user name");
    /* Exactly "n=USER,r=NONCE": no extensions (RFC 5802 says to refuse unknown ones). */
    const char *user = bare + 2;
    const char *comma = memchr(user, ',', bare_len - 2);
    if (!comma || (size_t)(bare + bare_len - comma) < 4 || memcmp(comma, ",r=", 3) != 0)
        return fail(s, "client-first-message: not n=USER,r=NONCE");
    size_t user_len = (size_t)(comma - user);
    const char *nonce = comma + 3;
    size_t nonce_len = (size_t)(bare + bare_len - nonce);
    /* Names are of a set that needs no "=2C"/"=3D" escapes. */
    if (!rl_scram_user_valid(user, user_len))
        return fail(s, "client-first-message: invalid user name");
    if (!nonce_valid(nonce, nonce_len) || nonce_len > sizeof(s->nonce) / 2)
        return fail(s, "client-first-message: invalid nonce");
    memcpy(s->user, user, user_len);
    s->user[user_len] = '\0';
    memcpy(s->client_first_bare, bare, bare_len);
    s->client_first_bare_len = bare_len;
    memcpy(s->nonce, nonce, nonce_len);
    s->nonce_len = nonce_len;
    s->state = SCRAM_GOT_FIRST;
    return true;
}

size_t scram_server_challenge(struct scram_server *s, const struct rl_scram_credential *cred,
                              const char *server_nonce, char *out, size_t cap)
{
    assert(s->state == SCRAM_GOT_FIRST && cred != NULL);
    char salt_b64[2 * RL_SCRAM_MAX_SALT];
    size_t n64 = strlen(server_nonce);
    if (cred->salt_len > RL_SCRAM_MAX_SALT || !nonce_valid(server_nonce, n64) ||
        s->nonce_len + n64 >= sizeof(s->nonce)) {
        fail(s, "server nonce or salt invalid");
        return 0;
    }
    memcpy(s->nonce + s->nonce_len, server_nonce, n64);
    s->nonce_len += n64;
    rl_scram_b64_encode(cred->salt, cred->salt_len, salt_b64);
    s->cred = *cred;
    int n = snprintf(s->server_first, sizeof(s->server_first), "r=%.*s,s=%s,i=%u",
                     (int)s->nonce_len, s->nonce, salt_b64, cred->iterations);
    if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n >= cap) {
        fail(s, "server-first-message too long");
        return 0;
    }
    s->server_first_len = (size_t)n;
    memcpy(out, s->server_first, (size_t)n + 1);
    s->state = SCRAM_CHALLENGED;
    return (size_t)n;
}

/* AuthMessage = client-first-message-bare "," server-first-message "," client-final-without-proof
 */
static size_t auth_message(const struct scram_server *s, const char *final, size_t without_proof,
                           char *out, size_t cap)
{
    int n =
        snprintf(out, cap, "%.*s,%.*s,%.*s", (int)s->client_first_bare_len, s->client_first_bare,
                 (int)s->server_first_len, s->server_first, (int)without_proof, final);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t scram_server_finish(struct scram_server *s, const char *msg, size_t len, char *out,
                           size_t cap)
{
    assert(s->state == SCRAM_CHALLENGED);
    const char *cb, *nonce, *proof64;
    size_t cb_len, nonce_len, proof64_len;
    if (len == 0 || len >= RL_SCRAM_MAX_MESSAGE || memchr(msg, '\0', len) ||
        !rl_scram_attr(msg, len, 'c', &cb, &cb_len) ||
        !rl_scram_attr(msg, len, 'r', &nonce, &nonce_len) ||
        !rl_scram_attr(msg, len, 'p', &proof64, &proof64_len))
        return fail(s, "client-final-message malformed"), 0;
    /* "biws" is base64 of "n,,", the gs2 header of the first message. */
    if (cb_len != 4 || memcmp(cb, "biws", 4) != 0)
        return fail(s, "client-final-message: channel binding does not match"), 0;
    if (nonce_len != s->nonce_len || memcmp(nonce, s->nonce, nonce_len) != 0)
        return fail(s, "client-final-message: wrong nonce"), 0;
    /* The proof is the last attribute: everything before ",p=" is signed. */
    size_t without_proof = (size_t)(proof64 - msg);
    if (without_proof < 3 || proof64 + proof64_len != msg + len)
        return fail(s, "client-final-message: the proof is not last"), 0;
    without_proof -= 3;
    uint8_t proof[RL_SCRAM_MAX_KEY];
    size_t k = rl_scram_key_len(s->hash);
    if (rl_scram_b64_decode(proof64, proof64_len, proof, sizeof(proof)) != (int)k)
        return fail(s, "client-final-message: the proof is malformed"), 0;
    char am[3 * RL_SCRAM_MAX_MESSAGE];
    size_t am_len = auth_message(s, msg, without_proof, am, sizeof(am));
    if (am_len == 0)
        return fail(s, "auth message too long"), 0;
    if (!rl_scram_proof_valid(s->hash, s->cred.stored_key, proof, am, am_len))
        return fail(s, "wrong password or unknown user"), 0;
    uint8_t sig[RL_SCRAM_MAX_KEY];
    char sig64[2 * RL_SCRAM_MAX_KEY];
    if (rl_scram_server_signature(s->hash, s->cred.server_key, am, am_len, sig) != 0)
        return fail(s, "HMAC failed"), 0;
    rl_scram_b64_encode(sig, k, sig64);
    int n = snprintf(out, cap, "v=%s", sig64);
    if (n < 0 || (size_t)n >= cap)
        return fail(s, "server-final-message too long"), 0;
    s->state = SCRAM_DONE;
    return (size_t)n;
}
