#include "scram.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#include "ringlog.pb-c.h"

static const EVP_MD *md_of(enum rl_scram_hash h)
{
    return h == RL_SCRAM_SHA512 ? EVP_sha512() : EVP_sha256();
}

int rl_scram_mechanism_parse(const char *name, enum rl_scram_hash *out)
{
    if (name && strcasecmp(name, "SCRAM-SHA-256") == 0)
        *out = RL_SCRAM_SHA256;
    else if (name && strcasecmp(name, "SCRAM-SHA-512") == 0)
        *out = RL_SCRAM_SHA512;
    else
        return -1;
    return 0;
}

const char *rl_scram_mechanism_name(enum rl_scram_hash h)
{
    return h == RL_SCRAM_SHA512 ? "SCRAM-SHA-512" : "SCRAM-SHA-256";
}

size_t rl_scram_key_len(enum rl_scram_hash h)
{
    return h == RL_SCRAM_SHA512 ? 64 : 32;
}

bool rl_scram_user_valid(const char *name, size_t len)
{
    if (len == 0 || len > RL_SCRAM_MAX_USER)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '@' || ch == '+' ||
                  ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

int rl_scram_hmac(enum rl_scram_hash h, const uint8_t *key, size_t key_len, const void *data,
                  size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (!HMAC(md_of(h), key, (int)key_len, data, len, out, &n))
        return -1;
    assert(n == rl_scram_key_len(h));
    return 0;
}

int rl_scram_digest(enum rl_scram_hash h, const void *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, md_of(h), NULL) != 1)
        return -1;
    assert(n == rl_scram_key_len(h));
    return 0;
}

int rl_scram_salted_password(enum rl_scram_hash h, const char *password, const uint8_t *salt,
                             size_t salt_len, uint32_t iterations, uint8_t *out)
{
    assert(password != NULL);
    if (iterations == 0 || iterations > RL_SCRAM_MAX_ITERATIONS)
        return -1;
    int ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
                               (int)iterations, md_of(h), (int)rl_scram_key_len(h), out);
    return ok == 1 ? 0 : -1;
}

/* StoredKey and ServerKey from SaltedPassword (RFC 5802 section 3). */
static int keys_of(enum rl_scram_hash h, const uint8_t *salted, uint8_t *stored, uint8_t *server)
{
    size_t k = rl_scram_key_len(h);
    uint8_t client_key[RL_SCRAM_MAX_KEY];
    if (rl_scram_hmac(h, salted, k, "Client Key", 10, client_key) != 0 ||
        rl_scram_digest(h, client_key, k, stored) != 0 ||
        rl_scram_hmac(h, salted, k, "Server Key", 10, server) != 0)
        return -1;
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return 0;
}

int rl_scram_credential_make(enum rl_scram_hash h, const char *password, uint32_t iterations,
                             struct rl_scram_credential *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof(*out));
    uint8_t salted[RL_SCRAM_MAX_KEY];
    out->iterations = iterations;
    out->salt_len = RL_SCRAM_SALT_BYTES;
    int rc = -1;
    if (password && rl_scram_random(out->salt, out->salt_len) == 0 &&
        rl_scram_salted_password(h, password, out->salt, out->salt_len, iterations, salted) == 0)
        rc = keys_of(h, salted, out->stored_key, out->server_key);
    OPENSSL_cleanse(salted, sizeof(salted));
    return rc;
}

int rl_scram_client_proof(enum rl_scram_hash h, const uint8_t *salted_password,
                          const char *auth_message, size_t auth_len, uint8_t *proof)
{
    size_t k = rl_scram_key_len(h);
    uint8_t client_key[RL_SCRAM_MAX_KEY], stored[RL_SCRAM_MAX_KEY], sig[RL_SCRAM_MAX_KEY];
    if (rl_scram_hmac(h, salted_password, k, "Client Key", 10, client_key) != 0 ||
        rl_scram_digest(h, client_key, k, stored) != 0 ||
        rl_scram_hmac(h, stored, k, auth_message, auth_len, sig) != 0)
        return -1;
    for (size_t i = 0; i < k; i++)
        proof[i] = client_key[i] ^ sig[i];
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return 0;
}

bool rl_scram_proof_valid(enum rl_scram_hash h, const uint8_t *stored_key, const uint8_t *proof,
                          const char *auth_message, size_t auth_len)
{
    size_t k = rl_scram_key_len(h);
    uint8_t sig[RL_SCRAM_MAX_KEY], client_key[RL_SCRAM_MAX_KEY], check[RL_SCRAM_MAX_KEY];
    if (rl_scram_hmac(h, stored_key, k, auth_message, auth_len, sig) != 0)
        return false;
    for (size_t i = 0; i < k; i++)
        client_key[i] = proof[i] ^ sig[i];
    if (rl_scram_digest(h, client_key, k, check) != 0)
        return false;
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return rl_scram_equal(check, stored_key, k);
}

int rl_scram_server_signature(enum rl_scram_hash h, const uint8_t *server_key,
                              const char *auth_message, size_t auth_len, uint8_t *out)
{
    return rl_scram_hmac(h, server_key, rl_scram_key_len(h), auth_message, auth_len, out);
}

bool rl_scram_attr(const char *msg, size_t msg_len, char name, const char **value, size_t *len)
{
    size_t i = 0;
    while (i < msg_len) {
        size_t end = i;
        while (end < msg_len && msg[end] != ',')
            end++;
        if (end - i >= 2 && msg[i] == name && msg[i + 1] == '=') {
            *value = msg + i + 2;
            *len = end - i - 2;
            return true;
        }
        i = end + 1;
    }
    return false;
}

size_t rl_scram_b64_encode(const uint8_t *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int rl_scram_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0 || n / 4 * 3 > cap + 2)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || (ch == '=' && i + 2 >= n);
        if (!ok)
            return -1;
    }
    if (n == 0)
        return 0;
    uint8_t buf[RL_SCRAM_MAX_MESSAGE];
    if (n / 4 * 3 > sizeof(buf))
        return -1;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
    if (got < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
    if (in[n - 1] == '=')
        got--;
    if (in[n - 2] == '=')
        got--;
    if ((size_t)got > cap)
        return -1;
    /* Canonical only: bits past the data in the last character must be zero, so one
     * value has one spelling (a proof cannot be altered and still pass). */
    char again[RL_SCRAM_MAX_MESSAGE * 2];
    if (rl_scram_b64_encode(buf, (size_t)got, again) != n || memcmp(again, in, n) != 0)
        return -1;
    memcpy(out, buf, (size_t)got);
    return got;
}

int rl_scram_random(uint8_t *out, size_t n)
{
    return RAND_bytes(out, (int)n) == 1 ? 0 : -1;
}

bool rl_scram_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void rl_scram_credential_to_pb(enum rl_scram_hash h, const struct rl_scram_credential *c,
                               struct Ringlog__ScramCredential *out)
{
    size_t k = rl_scram_key_len(h);
    assert(c->salt_len <= RL_SCRAM_MAX_SALT);
    ringlog__scram_credential__init(out);
    out->mechanism = (char *)rl_scram_mechanism_name(h);
    out->iterations = c->iterations;
    out->salt = (ProtobufCBinaryData){c->salt_len, (uint8_t *)c->salt};
    out->stored_key = (ProtobufCBinaryData){k, (uint8_t *)c->stored_key};
    out->server_key = (ProtobufCBinaryData){k, (uint8_t *)c->server_key};
}
