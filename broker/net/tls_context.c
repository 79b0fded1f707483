/*
 * The broker's TLS context: certificate, key, CA and client-certificate
 * policy from the flags, swapped whole on SIGHUP. Shards take a reference
 * for each new connection under a mutex (once per accept, never per
 * request); a session keeps its context alive, so a reload never touches
 * connections already open.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "config.h"
#include "diag.h"
#include "tls.h"

struct tls_server {
    pthread_mutex_t lock;
    SSL_CTX *ctx; /* under lock */
    char cert[PATH_MAX];
    char key[PATH_MAX];
    char ca[PATH_MAX];
    enum tls_client_auth auth;
    bool links; /* other brokers dial in: their certificates are always asked for */
    const char *mode;
};

/* OpenSSL's reasons for the last failure, root cause first; the thread's error queue cleared. */
static const char *ssl_reason(char *buf, size_t len)
{
    size_t n = 0;
    unsigned long e;
    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0 && n + 1 < len) {
        const char *r = ERR_reason_error_string(e);
        if (r && !strstr(buf, r))
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ": " : "", r);
    }
    if (!buf[0])
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
    return buf;
}

/* Logs whose certificate is served and until when; warns when it has expired. */
static void log_certificate(SSL_CTX *ctx, const char *path)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    assert(cert != NULL);
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
    char until[64] = "?";
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem && ASN1_TIME_print(mem, X509_get0_notAfter(cert))) {
        int n = BIO_read(mem, until, sizeof(until) - 1);
        until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(mem);
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        DIAG_WARN("TLS certificate %s (%s) expired on %s", path, subject, until);
    else
        DIAG_INFO("TLS certificate %s: %s, valid until %s", path, subject, until);
}

static int load_ca(SSL_CTX *ctx, const struct tls_server *t, char *err, size_t err_len)
{
    char why[160];
    if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
        snprintf(err, err_len, "--tls-ca %s: %s", t->ca, ssl_reason(why, sizeof(why)));
        return -1;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
    return 0;
}

/* Whether each file can be read; else says which, and why, in the words of the OS. */
static bool files_readable(const struct tls_server *t, char *err, size_t err_len)
{
    const char *const FLAGS[] = {"--tls-cert", "--tls-key", "--tls-ca"};
    const char *const PATHS[] = {t->cert, t->key, t->ca};
    for (int i = 0; i < 3; i++) {
        if (PATHS[i][0] && access(PATHS[i], R_OK) != 0) {
            snprintf(err, err_len, "%s %s: %s", FLAGS[i], PATHS[i], strerror(errno));
            return false;
        }
    }
    return true;
}

/*
 * Under --tls-client-auth none on a cluster, clients keep what "none"
 * gave them: a certificate is asked for (a link must show one) but a
 * failed check does not end the handshake; the result stays in the
 * session, and peer_accept.c refuses a link whose check failed.
 */
static int verify_later(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    assert(store != NULL);
    return 1;
}

/* The certificate check of sessions on this context. */
static void set_verify(SSL_CTX *ctx, const struct tls_server *t)
{
    assert(ctx != NULL && t != NULL);
    if (t->auth == TLS_CLIENT_AUTH_REQUIRE)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (t->auth == TLS_CLIENT_AUTH_REQUEST)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    else if (t->links)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_later);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
}

/*
 * A context from the files: TLS 1.2 and 1.3 only, no renegotiation. Both
 * roles (TLS_method): a broker dialing another is a client on it.
 */
static SSL_CTX *build_ctx(const struct tls_server *t, char *err, size_t err_len)
{
    char why[160];
    if (!files_readable(t, err, err_len))
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        snprintf(err, err_len, "TLS: %s", ssl_reason(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ringlogd", 8);
    set_verify(ctx, t);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
        snprintf(err, err_len, "--tls-cert %s: %s", t->cert, ssl_reason(why, sizeof(why)));
    else if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1)
        snprintf(err, err_len, "--tls-key %s: %s", t->key, ssl_reason(why, sizeof(why)));
    else if (SSL_CTX_check_private_key(ctx) != 1)
        snprintf(err, err_len, "--tls-key %s does not belong to the certificate in %s", t->key,
                 t->cert);
    else if (!t->ca[0] || load_ca(ctx, t, err, err_len) == 0) {
        log_certificate(ctx, t->cert);
        return ctx;
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/*
 * Whether this kernel has kernel TLS: TCP_ULP "tls" on a connected
 * loopback socket (the option needs an established connection).
 */
static bool kernel_tls_present(char *why, size_t len)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    bool ok = false;
    if (l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&a, &alen) == 0 &&
        connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
        ok = setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
        snprintf(why, len, "%s", ok ? "present" : strerror(errno));
    } else {
        snprintf(why, len, "probe failed: %s", strerror(errno));
    }
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    return ok;
}

int tls_server_open(const struct broker_config *cfg, struct tls_server **out, char *err,
                    size_t err_len)
{
    assert(cfg->tls_cert[0] && cfg->tls_key[0]);
    struct tls_server *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    snprintf(t->cert, sizeof(t->cert), "%s", cfg->tls_cert);
    snprintf(t->key, sizeof(t->key), "%s", cfg->tls_key);
    snprintf(t->ca, sizeof(t->ca), "%s", cfg->tls_ca);
    t->auth = cfg->tls_client_auth;
    t->links = config_has_other_brokers(cfg);
    assert(!t->links || t->ca[0]); /* config.c: a cluster's TLS needs its CA */
    t->ctx = build_ctx(t, err, err_len);
    if (!t->ctx) {
        free(t);
        return -1;
    }
    pthread_mutex_init(&t->lock, NULL);
    /* The record layer stays in user space: handing the keys to the
     * kernel is not done yet, so the probe only tells the operator. */
    char why[128];
    bool ktls = kernel_tls_present(why, sizeof(why));
    t->mode = "user-space";
    DIAG_INFO("TLS on --listen%s, client certificates %s; record layer in %s (kernel TLS %s%s)",
              t->links ? " and between brokers (mutual, against --tls-ca)" : "",
              t->auth == TLS_CLIENT_AUTH_REQUIRE   ? "required"
              : t->auth == TLS_CLIENT_AUTH_REQUEST ? "requested"
                                                   : "not asked for",
              t->mode, ktls ? "is present but not used yet" : "not available: TCP_ULP tls: ",
              ktls ? "" : why);
    *out = t;
    return 0;
}

int tls_server_reload(struct tls_server *t, char *err, size_t err_len)
{
    SSL_CTX *fresh = build_ctx(t, err, err_len);
    if (!fresh)
        return -1;
    pthread_mutex_lock(&t->lock);
    SSL_CTX *old = t->ctx;
    t->ctx = fresh;
    pthread_mutex_unlock(&t->lock);
    SSL_CTX_free(old); /* open sessions hold their own references */
    return 0;
}

SSL_CTX *tls_server_ctx(struct tls_server *t)
{
    pthread_mutex_lock(&t->lock);
    SSL_CTX *ctx = t->ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&t->lock);
    return ctx;
}

bool tls_server_client_certs(const struct tls_server *t)
{
    assert(t != NULL);
    return t->auth != TLS_CLIENT_AUTH_NONE;
}

const char *tls_server_mode(const struct tls_server *t)
{
    return t->mode;
}

void tls_server_close(struct tls_server *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
