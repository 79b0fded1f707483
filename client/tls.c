#include "tls.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conf.h"

struct rl_tls {
    SSL_CTX *ctx;
};

/*
 * The socket BIO, ours rather than OpenSSL's: its writes are send() with
 * MSG_NOSIGNAL, so a broker that hangs up cannot kill an application that
 * did not ignore SIGPIPE.
 */
static BIO_METHOD *sock_method;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;

static int sock_read(BIO *b, char *out, size_t len, size_t *got)
{
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = recv(BIO_get_fd(b, NULL), out, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return 0; /* n == 0: end of stream; else an error in errno */
}

static int sock_write(BIO *b, const char *data, size_t len, size_t *written)
{
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = send(BIO_get_fd(b, NULL), data, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
        *written = (size_t)n;
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write(b);
    return 0;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_C_SET_FD:
        BIO_set_data(b, (void *)(intptr_t) * (int *)ptr);
        BIO_set_init(b, 1);
        (void)num;
        return 1;
    case BIO_C_GET_FD:
        if (ptr)
            *(int *)ptr = (int)(intptr_t)BIO_get_data(b);
        return (long)(intptr_t)BIO_get_data(b);
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static void sock_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "ringlog socket");
    if (m && BIO_meth_set_read_ex(m, sock_read) && BIO_meth_set_write_ex(m, sock_write) &&
        BIO_meth_set_ctrl(m, sock_ctrl))
        sock_method = m;
    else if (m)
        BIO_meth_free(m);
}

/* OpenSSL's reason for the last failure, the error queue cleared. */
static const char *last_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown error";
}

/* A file key's value: NULL when unset or empty. */
static const char *file_key(const char *value)
{
    return value && *value ? value : NULL;
}

/* Loads CA, certificate and key into ctx; 0, or -1 with the reason in errbuf. */
static int load_files(SSL_CTX *ctx, const struct ringlog_conf *conf, char *errbuf, size_t errlen)
{
    const char *ca = file_key(conf->tls_ca), *cert = file_key(conf->tls_cert),
               *key = file_key(conf->tls_key);
    const char *const NAMES[] = {"tls.ca", "tls.cert", "tls.key"};
    const char *const PATHS[] = {ca, cert, key};
    for (int i = 0; i < 3; i++) {
        if (PATHS[i] && access(PATHS[i], R_OK) != 0) {
            rl_errbuf(errbuf, errlen, "%s %s: %s", NAMES[i], PATHS[i], strerror(errno));
            return -1;
        }
    }
    if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
           : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        rl_errbuf(errbuf, errlen, "tls.ca %s: %s", ca ? ca : "(system)", last_reason());
        return -1;
    }
    if (!cert != !key) {
        rl_errbuf(errbuf, errlen, "tls.cert and tls.key go together: give both or neither");
        return -1;
    }
    if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        rl_errbuf(errbuf, errlen, "tls.cert %s: %s", cert, last_reason());
        return -1;
    }
    if (key && (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
                SSL_CTX_check_private_key(ctx) != 1)) {
        rl_errbuf(errbuf, errlen, "tls.key %s: %s", key, last_reason());
        return -1;
    }
    return 0;
}

int rl_tls_attach(struct ringlog_conf *conf, char *errbuf, size_t errlen)
{
    assert(conf && conf->tls == NULL);
    if (!conf->security_tls) {
        if (!file_key(conf->tls_ca) && !file_key(conf->tls_cert) && !file_key(conf->tls_key))
            return RINGLOG_OK;
        rl_errbuf(errbuf, errlen, "tls.ca, tls.cert and tls.key need security.protocol=tls");
        return RINGLOG_ERR_INVALID_ARG;
    }
    pthread_once(&sock_once, sock_method_make);
    struct rl_tls *t = calloc(1, sizeof(*t));
    SSL_CTX *ctx = sock_method ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (!t || !ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        rl_errbuf(errbuf, errlen, "TLS: %s", last_reason());
        SSL_CTX_free(ctx);
        free(t);
        return RINGLOG_ERR_NOMEM;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (load_files(ctx, conf, errbuf, errlen) != 0) {
        SSL_CTX_free(ctx);
        free(t);
        return RINGLOG_ERR_INVALID_ARG;
    }
    t->ctx = ctx;
    conf->tls = t;
    return RINGLOG_OK;
}

void rl_tls_free(struct rl_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

SSL *rl_tls_session(const struct rl_tls *t, int fd, const char *host)
{
    assert(t && fd >= 0 && host);
    SSL *ssl = SSL_new(t->ctx);
    BIO *bio = ssl ? BIO_new(sock_method) : NULL;
    if (!bio) {
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_connect_state(ssl);
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    /* An address is checked against the certificate's IP names, and is sent as no SNI. */
    bool ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
                    : SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void rl_tls_describe(SSL *ssl, int ssl_error, char *buf, size_t len)
{
    int saved_errno = errno;
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    else if (reason && strstr(reason, "alert"))
        snprintf(buf, len, "the broker refused the handshake (%s)", reason);
    else if (reason && (strstr(reason, "wrong version") || strstr(reason, "unexpected eof") ||
                        strstr(reason, "packet length")))
        snprintf(buf, len, "%s (is the broker serving TLS? it does with --tls-cert)", reason);
    else if (reason)
        snprintf(buf, len, "%s", reason);
    else if (ssl_error == SSL_ERROR_SYSCALL && saved_errno != 0)
        snprintf(buf, len, "%s", strerror(saved_errno));
    else if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN)
        snprintf(buf, len,
                 "the connection was closed (is the broker serving TLS? it does with "
                 "--tls-cert)");
    else
        snprintf(buf, len, "TLS error %d", ssl_error);
    ERR_clear_error();
}
