#include "sasl.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int rl_sasl_init(struct rl_sasl *s, const char *mechanism, const char *user, const char *password,
                 char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    if (rl_scram_mechanism_parse(mechanism, &s->hash) != 0) {
        snprintf(err, err_len, "sasl.mechanism '%s': use SCRAM-SHA-256 or SCRAM-SHA-512",
                 mechanism ? mechanism : "");
        return -1;
    }
    if (!user || !rl_scram_user_valid(user, strlen(user))) {
        snprintf(err, err_len, "sasl.username: 1..%d of [A-Za-z0-9._@+-]", RL_SCRAM_MAX_USER);
        return -1;
    }
    if (!password || strlen(password) >= sizeof(s->password)) {
        snprintf(err, err_len, "sasl.password: missing or longer than %zu bytes",
                 sizeof(s->password) - 1);
        return -1;
    }
    strcpy(s->user, user);
    strcpy(s->password, password);
    return 0;
}

size_t rl_sasl_first(struct rl_sasl *s, char *out, size_t cap)
{
    assert(s->step == 0);
    uint8_t raw[RL_SCRAM_NONCE_BYTES];
    char nonce[2 * RL_SCRAM_NONCE_BYTES + 4];
    if (rl_scram_random(raw, sizeof(raw)) != 0)
        return 0;
    rl_scram_b64_encode(raw, sizeof(raw), nonce);
    int n =
        snprintf(s->client_first_bare, sizeof(s->client_first_bare), "n=%s,r=%s", s->user, nonce);
    if (n < 0 || (size_t)n + 3 >= cap)
        return 0;
    s->client_first_bare_len = (size_t)n;
    snprintf(out, cap, "n,,%s", s->client_first_bare);
    s->step = 1;
    return (size_t)n + 3;
}

/* The parts of server-first-message, checked. */
static bool parse_server_first(const struct rl_sasl *s, const char *msg, size_t len,
                               const char **nonce, size_t *nonce_len, uint8_t *salt, int *salt_len,
                               unsigned long *iterations)
{
    const char *salt64, *iter;
    size_t salt64_len, iter_len;
    const char *ours = strstr(s->client_first_bare, ",r=") + 3;
    size_t ours_len = strlen(ours);
    if (len == 0 || len >= RL_SCRAM_MAX_MESSAGE || memchr(msg, '\0', len) ||
        !rl_scram_attr(msg, len, 'r', nonce, nonce_len) ||
        !rl_scram_attr(msg, len, 's', &salt64, &salt64_len) ||
        !rl_scram_attr(msg, len, 'i', &iter, &iter_len) || iter_len == 0 || iter_len > 7)
        return false;
    if (*nonce_len <= ours_len || memcmp(*nonce, ours, ours_len) != 0)
        return false; /* the server's nonce must extend ours */
    *iterations = 0;
    for (size_t i = 0; i < iter_len; i++) {
        if (iter[i] < '0' || iter[i] > '9')
            return false;
        *iterations = *iterations * 10 + (unsigned long)(iter[i] - '0');
    }
    *salt_len = rl_scram_b64_decode(salt64, salt64_len, salt, RL_SCRAM_MAX_SALT);
    return *salt_len > 0 && *iterations >= RL_SCRAM_ITERATIONS &&
           *iterations <= RL_SCRAM_MAX_ITERATIONS;
}

size_t rl_sasl_final(struct rl_sasl *s, const char *server_first, size_t len, char *out, size_t cap,
                     char *err, size_t err_len)
{
    assert(s->step == 1);
    const char *nonce;
    size_t nonce_len;
    uint8_t salt[RL_SCRAM_MAX_SALT], salted[RL_SCRAM_MAX_KEY], proof[RL_SCRAM_MAX_KEY];
    int salt_len;
    unsigned long iterations;
    if (!parse_server_first(s, server_first, len, &nonce, &nonce_len, salt, &salt_len,
                            &iterations)) {
        snprintf(err, err_len, "SASL: the broker's server-first-message is not valid SCRAM");
        return 0;
    }
    char without_proof[RL_SCRAM_MAX_MESSAGE], am[3 * RL_SCRAM_MAX_MESSAGE];
    int wn = snprintf(without_proof, sizeof(without_proof), "c=biws,r=%.*s", (int)nonce_len, nonce);
    int an = snprintf(am, sizeof(am), "%s,%.*s,%s", s->client_first_bare, (int)len, server_first,
                      without_proof);
    size_t k = rl_scram_key_len(s->hash);
    uint8_t server_key[RL_SCRAM_MAX_KEY];
    if (wn < 0 || an < 0 || (size_t)an >= sizeof(am) ||
        rl_scram_salted_password(s->hash, s->password, salt, (size_t)salt_len, (uint32_t)iterations,
                                 salted) != 0 ||
        rl_scram_client_proof(s->hash, salted, am, (size_t)an, proof) != 0 ||
        rl_scram_hmac(s->hash, salted, k, "Server Key", 10, server_key) != 0 ||
        rl_scram_server_signature(s->hash, server_key, am, (size_t)an, s->server_signature) != 0) {
        snprintf(err, err_len, "SASL: key derivation failed");
        return 0;
    }
    OPENSSL_cleanse(salted, sizeof(salted));
    char proof64[2 * RL_SCRAM_MAX_KEY];
    rl_scram_b64_encode(proof, k, proof64);
    int n = snprintf(out, cap, "%s,p=%s", without_proof, proof64);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, err_len, "SASL: message too long");
        return 0;
    }
    s->step = 2;
    return (size_t)n;
}

bool rl_sasl_verify(struct rl_sasl *s, const char *server_final, size_t len, char *err,
                    size_t err_len)
{
    assert(s->step == 2);
    const char *v;
    size_t vlen;
    uint8_t sig[RL_SCRAM_MAX_KEY];
    size_t k = rl_scram_key_len(s->hash);
    if (len == 0 || len >= RL_SCRAM_MAX_MESSAGE ||
        !rl_scram_attr(server_final, len, 'v', &v, &vlen) ||
        rl_scram_b64_decode(v, vlen, sig, sizeof(sig)) != (int)k ||
        !rl_scram_equal(sig, s->server_signature, k)) {
        snprintf(err, err_len,
                 "SASL: the broker did not prove it knows the user's key (an impostor?)");
        return false;
    }
    s->step = 3;
    return true;
}

void rl_sasl_clear(struct rl_sasl *s)
{
    OPENSSL_cleanse(s, sizeof(*s));
}
