/*
 * The broker's TLS session (broker/net/tls.c): its BIOs that read from the
 * received buffer and write into its own flight buffers, fed the way
 * io_uring feeds it, in chunks of any size.
 *
 * The first input byte picks what the rest is, the second how it is cut:
 *   0: raw bytes from a peer that never handshook (a ClientHello or
 *      garbage): the session may answer or fail, never deliver plaintext;
 *   1: application data a real client (OpenSSL, in memory) writes after a
 *      real handshake: the session delivers exactly those bytes;
 *   2: the same, with one ciphertext byte flipped on the way: the session
 *      fails, or delivers only bytes the client wrote (never altered ones);
 *   3: replies the session seals, cut into iovecs: the client reads
 *      exactly those bytes.
 * After every feed the session's output is drained the way conn_tls.c
 * does (a flight at a time, sent in pieces).
 */
#include <string.h>
#include <sys/uio.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fuzz_check.h"
#include "net/tls.h"

enum { MAX_PAYLOAD = 1 << 18 };

static SSL_CTX *server_ctx, *client_ctx;

/* A server context with a self-signed P-256 certificate made here, and a client that trusts all. */
static void make_contexts(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    FUZZ_CHECK(key && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    FUZZ_CHECK(X509_sign(x, key, EVP_sha256()) > 0);
    server_ctx = SSL_CTX_new(TLS_server_method());
    FUZZ_CHECK(server_ctx && SSL_CTX_use_certificate(server_ctx, x) == 1 &&
               SSL_CTX_use_PrivateKey(server_ctx, key) == 1);
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(server_ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(server_ctx, SSL_MODE_RELEASE_BUFFERS);
    client_ctx = SSL_CTX_new(TLS_client_method());
    FUZZ_CHECK(client_ctx != NULL);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* Chunk sizes from a seed: small ones often, up to 4 KiB, and now and then up to 128 KiB. */
static size_t next_chunk(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    uint32_t r = *seed >> 8;
    return 1 + (r % 16 == 0 ? r % (128 * 1024) : r % 8 == 0 ? r % 4096 : r % 64);
}

/* What the session delivered: appended here. */
struct sink {
    uint8_t *data;
    size_t len;
    bool established_each_time;
    const struct tls_session *s;
};

static bool deliver(void *arg, const uint8_t *data, size_t len)
{
    struct sink *k = arg;
    k->established_each_time &= tls_session_established(k->s);
    FUZZ_CHECK(k->len + len <= MAX_PAYLOAD * 2);
    memcpy(k->data + k->len, data, len);
    k->len += len;
    return true;
}

/* Drains the session's ciphertext into `to` (a client's read BIO; NULL: dropped), in pieces. */
static void drain(struct tls_session *s, BIO *to, uint32_t *seed)
{
    const uint8_t *data;
    size_t len;
    while ((len = tls_session_flight(s, &data)) > 0) {
        size_t n = next_chunk(seed);
        n = n < len ? n : len;
        if (to)
            FUZZ_CHECK(BIO_write(to, data, (int)n) == (int)n);
        tls_session_sent(s, n);
    }
}

/* Feeds bytes to the session in chunks; returns the last status. */
static enum tls_status feed(struct tls_session *s, const uint8_t *data, size_t len, struct sink *k,
                            BIO *client_in, uint32_t *seed)
{
    enum tls_status st = TLS_OK;
    while (len > 0 && st == TLS_OK) {
        size_t n = next_chunk(seed);
        n = n < len ? n : len;
        st = tls_session_receive(s, data, n, deliver, k);
        drain(s, client_in, seed);
        data += n;
        len -= n;
    }
    return st;
}

/* Runs the handshake between an in-memory client and the session; false if it fails. */
static bool handshake(SSL *client, BIO *c_in, BIO *c_out, struct tls_session *s, struct sink *k,
                      uint32_t *seed)
{
    for (int round = 0; round < 20; round++) {
        int r = SSL_do_handshake(client);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(client, r); /* before c_in is written */
        uint8_t buf[16384];
        int n;
        while ((n = BIO_read(c_out, buf, sizeof(buf))) > 0)
            if (feed(s, buf, (size_t)n, k, c_in, seed) != TLS_OK)
                return false;
        if (r == 1 && tls_session_established(s))
            return true;
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
            return false;
    }
    return false;
}

/* Everything the client wrote, as ciphertext, into out (grown); returns its length. */
static size_t client_records(SSL *client, BIO *c_out, const uint8_t *p, size_t len, uint8_t *out)
{
    FUZZ_CHECK(SSL_write(client, p, (int)len) == (int)len);
    size_t n = 0;
    int got;
    while ((got = BIO_read(c_out, out + n, (int)(MAX_PAYLOAD * 2 - n))) > 0)
        n += (size_t)got;
    return n;
}

/* Mode 3: the session seals p cut into iovecs; the client reads exactly p. */
static void check_seal(struct tls_session *s, SSL *client, BIO *c_in, const uint8_t *p, size_t len,
                       uint32_t *seed, uint8_t *back)
{
    struct iovec iov[64] = {{0}}; /* Release builds cannot see that n >= 1 covers them */
    int n = 0;
    for (size_t off = 0; off < len && n < 64; n++) {
        size_t k = n == 63 ? len - off : next_chunk(seed) * 4;
        k = k < len - off ? k : len - off;
        iov[n] = (struct iovec){.iov_base = (void *)(p + off), .iov_len = k};
        off += k;
    }
    FUZZ_CHECK(tls_session_seal(s, iov, n) == TLS_OK);
    drain(s, c_in, seed);
    size_t got = 0;
    int r;
    while (got < len && (r = SSL_read(client, back + got, (int)(len - got))) > 0)
        got += (size_t)r;
    FUZZ_CHECK(got == len && memcmp(back, p, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t delivered[MAX_PAYLOAD * 2], cipher[MAX_PAYLOAD * 2];
    if (!server_ctx)
        make_contexts();
    if (size < 2 || size - 2 > MAX_PAYLOAD)
        return 0;
    int mode = data[0] % 4;
    uint32_t seed = data[1];
    const uint8_t *p = data + 2;
    size_t len = size - 2;
    struct tls_session *s = tls_session_new(server_ctx, true, NULL);
    FUZZ_CHECK(s != NULL);
    struct sink k = {.data = delivered, .established_each_time = true, .s = s};
    if (mode == 0) {
        feed(s, p, len, &k, NULL, &seed);
        FUZZ_CHECK(k.len == 0 || k.established_each_time);
        tls_session_free(s);
        return 0;
    }
    SSL *client = SSL_new(client_ctx);
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    FUZZ_CHECK(client && c_in && c_out);
    SSL_set_bio(client, c_in, c_out);
    SSL_set_connect_state(client);
    FUZZ_CHECK(handshake(client, c_in, c_out, s, &k, &seed));
    if (mode == 3 && len > 0) {
        check_seal(s, client, c_in, p, len, &seed, cipher);
    } else if (len > 0) {
        size_t n = client_records(client, c_out, p, len, cipher);
        if (mode == 2)
            cipher[seed % n] ^= (uint8_t)(1u << (seed % 8));
        enum tls_status st = feed(s, cipher, n, &k, c_in, &seed);
        FUZZ_CHECK(k.len <= len && memcmp(k.data, p, k.len) == 0); /* never altered bytes */
        if (mode == 1)
            FUZZ_CHECK(st == TLS_OK && k.len == len); /* every byte, exactly */
    }
    SSL_free(client);
    tls_session_free(s);
    ERR_clear_error();
    return 0;
}
