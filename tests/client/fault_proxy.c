#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "ringlog.pb-c.h"

struct pair {
    struct fault_proxy *p;
    int client_fd, upstream_fd;
    pthread_t up, down;
    struct pair *next;
};

struct fault_proxy {
    int listen_fd, port, upstream_port;
    char address[32];
    struct fault_plan plan;
    uint64_t rng;
    bool calm, stopping;
    unsigned drops, dups, delays;
    pthread_mutex_t mu;
    pthread_t accept_thread;
    struct pair *pairs;
};

static uint64_t next_rand(struct fault_proxy *p)
{
    uint64_t z = (p->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool read_full(int fd, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len) {
        ssize_t n = recv(fd, b, len, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static void close_pair(struct pair *pr)
{
    shutdown(pr->client_fd, SHUT_RDWR);
    shutdown(pr->upstream_fd, SHUT_RDWR);
}

/* client -> broker: bytes as they come. */
static void *up_main(void *arg)
{
    struct pair *pr = arg;
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(pr->client_fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || !write_full(pr->upstream_fd, buf, (size_t)n))
            break;
    }
    close_pair(pr);
    return NULL;
}

/* Points every broker of a metadata answer at the proxy; returns a new frame or NULL. */
static uint8_t *rewrite_metadata(struct fault_proxy *p, const uint8_t *body, uint32_t len,
                                 size_t *out_len)
{
    int st;
    Ringlog__Response *r = rl_response_decode(body, len, NULL, &st);
    if (!r)
        return NULL;
    uint8_t *out = NULL;
    if (r->body_case == RINGLOG__RESPONSE__BODY_METADATA) {
        for (size_t i = 0; i < r->metadata->n_brokers; i++)
            r->metadata->brokers[i]->port = (uint32_t)p->port;
        *out_len = rl_frame_size(&r->base);
        out = malloc(*out_len);
        rl_frame_write(&r->base, out);
    }
    ringlog__response__free_unpacked(r, NULL);
    return out;
}

/* broker -> client: frame by frame, with faults. */
static void *down_main(void *arg)
{
    struct pair *pr = arg;
    struct fault_proxy *p = pr->p;
    for (;;) {
        uint8_t hdr[4];
        if (!read_full(pr->upstream_fd, hdr, 4))
            break;
        uint32_t len =
            ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
        uint8_t *frame = malloc(4 + (size_t)len);
        memcpy(frame, hdr, 4);
        if (!read_full(pr->upstream_fd, frame + 4, len)) {
            free(frame);
            break;
        }
        size_t flen = 4 + (size_t)len;
        size_t rlen;
        uint8_t *rewritten = rewrite_metadata(p, frame + 4, len, &rlen);
        if (rewritten) {
            free(frame);
            frame = rewritten;
            flen = rlen;
        }
        pthread_mutex_lock(&p->mu);
        bool inject =
            !rewritten && !p->calm &&
            (p->plan.max_faults == 0 || p->drops + p->dups + p->delays < p->plan.max_faults);
        unsigned roll = (unsigned)(next_rand(p) % 1000);
        unsigned delay =
            p->plan.max_delay_ms ? 1 + (unsigned)(next_rand(p) % p->plan.max_delay_ms) : 1;
        int action = 0; /* 1 drop, 2 dup, 3 delay */
        if (inject) {
            if (roll < p->plan.drop_per_mille)
                action = 1, p->drops++;
            else if (roll < p->plan.drop_per_mille + p->plan.dup_per_mille)
                action = 2, p->dups++;
            else if (roll <
                     p->plan.drop_per_mille + p->plan.dup_per_mille + p->plan.delay_per_mille)
                action = 3, p->delays++;
        }
        pthread_mutex_unlock(&p->mu);
        bool ok = true;
        if (action == 1) {
            free(frame);
            break;
        }
        if (action == 3)
            usleep(delay * 1000u);
        ok = write_full(pr->client_fd, frame, flen);
        if (ok && action == 2)
            ok = write_full(pr->client_fd, frame, flen);
        free(frame);
        if (!ok)
            break;
    }
    close_pair(pr);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct fault_proxy *p = arg;
    for (;;) {
        int cfd = accept(p->listen_fd, NULL, NULL);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        int ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)p->upstream_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(ufd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            close(ufd);
            close(cfd);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_mutex_lock(&p->mu);
        if (p->stopping) {
            pthread_mutex_unlock(&p->mu);
            close(cfd);
            close(ufd);
            break;
        }
        struct pair *pr = calloc(1, sizeof(*pr));
        pr->p = p;
        pr->client_fd = cfd;
        pr->upstream_fd = ufd;
        pr->next = p->pairs;
        p->pairs = pr;
        pthread_create(&pr->up, NULL, up_main, pr);
        pthread_create(&pr->down, NULL, down_main, pr);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

struct fault_proxy *fault_proxy_start(int upstream_port, const struct fault_plan *plan)
{
    struct fault_proxy *p = calloc(1, sizeof(*p));
    p->upstream_port = upstream_port;
    p->plan = *plan;
    p->rng = plan->seed;
    pthread_mutex_init(&p->mu, NULL);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(p->listen_fd, 64) < 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &slen) < 0) {
        close(p->listen_fd);
        free(p);
        return NULL;
    }
    p->port = ntohs(sa.sin_port);
    snprintf(p->address, sizeof(p->address), "127.0.0.1:%d", p->port);
    pthread_create(&p->accept_thread, NULL, accept_main, p);
    return p;
}

const char *fault_proxy_address(const struct fault_proxy *p)
{
    return p->address;
}

void fault_proxy_counts(struct fault_proxy *p, unsigned *drops, unsigned *dups, unsigned *delays)
{
    pthread_mutex_lock(&p->mu);
    *drops = p->drops;
    *dups = p->dups;
    *delays = p->delays;
    pthread_mutex_unlock(&p->mu);
}

void fault_proxy_calm(struct fault_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->calm = true;
    pthread_mutex_unlock(&p->mu);
}

void fault_proxy_stop(struct fault_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    for (struct pair *pr = p->pairs; pr; pr = pr->next)
        close_pair(pr);
    pthread_mutex_unlock(&p->mu);
    shutdown(p->listen_fd, SHUT_RDWR);
    pthread_join(p->accept_thread, NULL);
    close(p->listen_fd);
    struct pair *pr = p->pairs;
    while (pr) {
        struct pair *next = pr->next;
        pthread_join(pr->up, NULL);
        pthread_join(pr->down, NULL);
        close(pr->client_fd);
        close(pr->upstream_fd);
        free(pr);
        pr = next;
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}
