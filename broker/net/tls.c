#include "tls.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

enum {
    PLAIN_CHUNK = 64 * 1024, /* plaintext handed up at a time */
    STAGE_BYTES = 16 * 1024, /* one full TLS record of plaintext */
    RECORD_OVERHEAD = 32,    /* per record at most: header, explicit nonce or type, tag */
    PEND_LIMIT = 64u << 20,  /* a session never buffers more output than this */
};

/* A byte buffer: [off, len) is what is left of it. */
struct tls_buf {
    uint8_t *data;
    size_t off, len, cap;
};

struct tls_session {
    SSL *ssl;
    bool established;
    bool links_only; /* tls_session_cert_for_links_only */
    /* Ciphertext the BIO hands OpenSSL: the received buffer being fed. */
    const uint8_t *win;
    size_t win_len;
    struct tls_buf pend;   /* ciphertext written since the flight left */
    struct tls_buf flight; /* ciphertext being sent */
    char error[256];
    char peer[64]; /* who is at the other end, for log lines */
};

/* Scratch of the calling thread: plaintext out of records, plaintext into records. */
static _Thread_local uint8_t plain[PLAIN_CHUNK];
static _Thread_local uint8_t stage[STAGE_BYTES];

/* ---- the BIO: reads from the window, writes to pend ---- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *out, size_t len, size_t *got)
{
    struct tls_session *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->win_len == 0) {
        BIO_set_retry_read(b); /* all fed bytes taken: OpenSSL says WANT_READ */
        return 0;
    }
    size_t n = len < t->win_len ? len : t->win_len;
    memcpy(out, t->win, n);
    t->win += n;
    t->win_len -= n;
    *got = n;
    return 1;
}

/* Room for `more` bytes after b's data; 0 or -1 (out of memory, or past PEND_LIMIT). */
static int buf_reserve(struct tls_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    if (cap > PEND_LIMIT)
        return -1;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_append(struct tls_buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    struct tls_session *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (buf_append(&t->pend, data, len) != 0)
        return 0; /* no retry flag: OpenSSL fails the call */
    *written = len;
    return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringlog io_uring");
    if (m && BIO_meth_set_read_ex(m, bio_read) && BIO_meth_set_write_ex(m, bio_write) &&
        BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
        bio_method = m;
    else if (m)
        BIO_meth_free(m);
}

/* ---- sessions ---- */

/* A client session's check: OpenSSL's verdict stands. */
static int verify_strict(int preverify_ok, X509_STORE_CTX *store)
{
    assert(store != NULL);
    return preverify_ok;
}

struct tls_session *tls_session_new(SSL_CTX *ctx, bool server, const char *verify_host)
{
    assert(ctx != NULL && (server || verify_host != NULL));
    pthread_once(&bio_once, bio_method_make);
    struct tls_session *t = calloc(1, sizeof(*t));
    /* Two BIOs, so that a write (a reply sealed while records are read)
     * never clears the retry flags a read left for SSL_get_error. */
    BIO *rbio = bio_method ? BIO_new(bio_method) : NULL;
    BIO *wbio = bio_method ? BIO_new(bio_method) : NULL;
    SSL *ssl = SSL_new(ctx);
    if (!t || !rbio || !wbio || !ssl) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        free(t);
        return NULL;
    }
    BIO_set_data(rbio, t);
    BIO_set_data(wbio, t);
    SSL_set_bio(ssl, rbio, wbio); /* ssl owns both */
    t->ssl = ssl;
    if (server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        /* Whatever the context asks of clients; a callback of our own, as
         * NULL would keep the context's (which may let failures through). */
        SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_strict);
        if (!SSL_set_tlsext_host_name(ssl, verify_host) || !SSL_set1_host(ssl, verify_host)) {
            tls_session_free(t);
            return NULL;
        }
    }
    return t;
}

void tls_session_free(struct tls_session *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->pend.data);
    free(t->flight.data);
    free(t);
}

bool tls_session_established(const struct tls_session *t)
{
    return t->established;
}

void tls_session_cert_for_links_only(struct tls_session *t)
{
    assert(t != NULL && !t->established);
    t->links_only = true;
}

const char *tls_session_error(const struct tls_session *t)
{
    return t->error;
}

void tls_session_set_peer(struct tls_session *t, const char *peer)
{
    snprintf(t->peer, sizeof(t->peer), "%s", peer);
}

const char *tls_session_peer(const struct tls_session *t)
{
    return t->peer;
}

/*
 * Says why a handshake or record failed: a certificate the verification
 * refused (with X509's reason), an alert from the peer (it refused ours),
 * or OpenSSL's reason. Clears the thread's error queue.
 */
static enum tls_status fail(struct tls_session *t, int ssl_error)
{

    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    long verify = SSL_get_verify_result(t->ssl);
    if (verify != X509_V_OK)
        snprintf(t->error, sizeof(t->error), "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    else if (reason && strstr(reason, "alert"))
        snprintf(t->error, sizeof(t->error), "the peer refused the handshake (%s)", reason);
    else if (reason && SSL_is_server(t->ssl) && !t->established &&
             (strstr(reason, "wrong version") || strstr(reason, "http request") ||
              strstr(reason, "packet length") || strstr(reason, "unknown protocol")))
        snprintf(t->error, sizeof(t->error), "%s: not a TLS client (a plaintext one?)", reason);
    else if (reason)
        snprintf(t->error, sizeof(t->error), "%s", reason);
    else
        snprintf(t->error, sizeof(t->error), "TLS error %d", ssl_error);
    ERR_clear_error();
    t->win_len = 0;
    return TLS_FAILED;
}

/* Decrypts every whole record in the window, handing plaintext up in chunks. */
static enum tls_status read_records(struct tls_session *t, tls_deliver_fn deliver, void *arg)
{
    size_t used = 0;
    for (;;) {
        size_t got = 0;
        int r = SSL_read_ex(t->ssl, plain + used, sizeof(plain) - used, &got);
        /* Asked before deliver runs: a reply it seals writes through the session. */
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
        used += got;
        if (r == 1 && used < sizeof(plain))
            continue;
        if (used > 0 && !deliver(arg, plain, used)) {
            t->win_len = 0;
            return TLS_OK;
        }
        used = 0;
        if (e == SSL_ERROR_NONE)
            continue;
        if (e == SSL_ERROR_WANT_READ) {
            assert(t->win_len == 0);
            return TLS_OK;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->win_len = 0;
            return TLS_CLOSED;
        }
        return fail(t, e);
    }
}

enum tls_status tls_session_receive(struct tls_session *t, const uint8_t *cipher, size_t len,
                                    tls_deliver_fn deliver, void *arg)
{
    assert(t->win_len == 0 && deliver != NULL);
    t->win = cipher;
    t->win_len = len;
    ERR_clear_error();
    if (!t->established) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e != SSL_ERROR_WANT_READ)
                return fail(t, e);
            assert(t->win_len == 0); /* WANT_READ: the BIO ran dry */
            return TLS_OK;
        }
        t->established = true;
    }
    return read_records(t, deliver, arg);
}

static enum tls_status seal_stage(struct tls_session *t, size_t n)
{
    size_t written = 0;
    if (SSL_write_ex(t->ssl, stage, n, &written) != 1)
        return fail(t, SSL_get_error(t->ssl, 0));
    assert(written == n); /* the BIO takes everything or fails */
    return TLS_OK;
}

/* Copies the iovecs into full-record chunks: one record per 16 KiB, not one per iovec. */
enum tls_status tls_session_seal(struct tls_session *t, const struct iovec *iov, int n)
{
    assert(t->established && n >= 0);
    ERR_clear_error();
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    /* The records' room at once: no doubling reallocs under a large flight. */
    if (buf_reserve(&t->pend, total + (total / STAGE_BYTES + 1) * RECORD_OVERHEAD) != 0) {
        snprintf(t->error, sizeof(t->error), "out of memory for %zu bytes of records", total);
        return TLS_FAILED;
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            size_t k = STAGE_BYTES - used < left ? STAGE_BYTES - used : left;
            memcpy(stage + used, p, k);
            used += k;
            p += k;
            left -= k;
            if (used == STAGE_BYTES) {
                if (seal_stage(t, used) != TLS_OK)
                    return TLS_FAILED;
                used = 0;
            }
        }
    }
    return used > 0 ? seal_stage(t, used) : TLS_OK;
}

size_t tls_session_flight(struct tls_session *t, const uint8_t **data)
{
    if (t->flight.off == t->flight.len) {
        if (t->pend.len == 0)
            return 0;
        struct tls_buf empty = t->flight;
        empty.off = empty.len = 0;
        t->flight = t->pend;
        t->pend = empty;
    }
    assert(t->flight.off < t->flight.len);
    *data = t->flight.data + t->flight.off;
    return t->flight.len - t->flight.off;
}

bool tls_session_sent(struct tls_session *t, size_t n)
{
    assert(t->flight.off + n <= t->flight.len);
    t->flight.off += n;
    if (t->flight.off < t->flight.len)
        return false;
    /* Freed once sent: an idle connection keeps no output buffer (the next
     * seal reserves what it needs in one allocation). */
    free(t->flight.data);
    t->flight = (struct tls_buf){0};
    return true;
}

void tls_session_describe(const struct tls_session *t, char *buf, size_t len)
{
    char subject[256] = "no client certificate";
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (peer)
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
    snprintf(buf, len, "%s %s, %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl), subject);
}

bool tls_looks_like_client_hello(const uint8_t *data, size_t len)
{
    /* A handshake record (22) of TLS 1.x (3, 1..4). */
    return len >= 3 && data[0] == 0x16 && data[1] == 0x03 && data[2] <= 0x04;
}

int tls_session_peer_cn(const struct tls_session *t, char *buf, size_t len)
{
    assert(t != NULL && len > 0);
    buf[0] = '\0';
    if (!t->established || t->links_only || SSL_get_verify_result(t->ssl) != X509_V_OK)
        return -1;
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (!peer)
        return -1;
    X509_NAME *name = X509_get_subject_name(peer);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        return -1; /* none, or several: no principal */
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, cn);
    int rc = -1;
    if (n > 0 && (size_t)n < len && !memchr(utf8, '\0', (size_t)n)) {
        memcpy(buf, utf8, (size_t)n);
        buf[n] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
    return rc;
}

int tls_session_check_peer(const struct tls_session *t, const char *host, char *why, size_t len)
{
    assert(t != NULL && host != NULL && len > 0);
    X509 *peer = t->established ? SSL_get0_peer_certificate(t->ssl) : NULL;
    long verify = SSL_get_verify_result(t->ssl);
    if (!peer) {
        snprintf(why, len, "no certificate was presented");
        return -1;
    }
    if (verify != X509_V_OK) {
        snprintf(why, len, "its certificate failed the check against --tls-ca: %s",
                 X509_verify_cert_error_string(verify));
        return -1;
    }
    int named = X509_check_ip_asc(peer, host, 0);
    if (named < 0) /* not an address: a DNS name */
        named = X509_check_host(peer, host, 0, 0, NULL);
    if (named != 1) {
        char subject[160];
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
        snprintf(why, len, "its certificate (%s) does not name %s, its host in --peers", subject,
                 host);
        return -1;
    }
    return 0;
}

int tls_iov_trim(struct iovec *iov, int n, size_t max, size_t *total)
{
    assert(n >= 0 && max > 0);
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (sum + iov[i].iov_len >= max) {
            iov[i].iov_len = max - sum;
            *total = max;
            return i + 1;
        }
        sum += iov[i].iov_len;
    }
    *total = sum;
    return n;
}
