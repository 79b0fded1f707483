/* The proxy's state, shared by its loop (proxy.c) and connections (proxy_conn.c). */
#ifndef RINGLOG_TESTS_CHAOS_PROXY_INTERNAL_H
#define RINGLOG_TESTS_CHAOS_PROXY_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"
#include "test_rng.h"

#define PROXY_MAX_CONNS 256
#define PROXY_QUEUE_MAX (1u << 20) /* bytes held per direction before reading stops */
#define PROXY_CLASSIFY_MAX 65536   /* a first frame larger than this is a client's */

struct chunk {
    struct chunk *next;
    int64_t due_ms;
    size_t len, off;
    unsigned char data[];
};

/* Bytes in flight in one direction: read from fd[d], to be written to fd[!d]. */
struct dirq {
    struct chunk *head, *tail;
    size_t bytes;
    bool eof;  /* the source closed its side */
    bool shut; /* shutdown(SHUT_WR) sent to the destination */
};

struct pconn {
    bool used;
    int fd[2];       /* 0: accepted from node `from`; 1: dialed to node `to` */
    int from, to;    /* the listener's pair */
    bool connecting; /* fd[1]'s connect is in progress */
    bool classified, peer;
    unsigned reset_seen; /* the pair's reset count when last checked */
    struct dirq q[2];
    unsigned char *first; /* the first frame's bytes while classifying */
    size_t first_len;
};

struct link_state {
    enum link_fault fault;
    int arg;
};

struct proxy {
    int listen_fd[CHAOS_NODES][CHAOS_NODES];
    uint16_t port[CHAOS_NODES][CHAOS_NODES];
    uint16_t upstream[CHAOS_NODES];
    pthread_t thread;
    pthread_mutex_t lock; /* guards links, resets (set by the nemesis) */
    struct link_state links[CHAOS_NODES][CHAOS_NODES];
    unsigned resets[CHAOS_NODES][CHAOS_NODES]; /* reset requests per unordered pair [min][max] */
    atomic_bool stop;
    atomic_uint flaky_resets;
    /* Owned by the proxy thread. */
    struct link_state now[CHAOS_NODES][CHAOS_NODES];
    unsigned resets_now[CHAOS_NODES][CHAOS_NODES];
    struct test_rng rng;
    struct pconn conns[PROXY_MAX_CONNS];
};

/* The fault of bytes travelling in direction d of c (OK for a client connection). */
struct link_state conn_fault(const struct proxy *p, const struct pconn *c, int d);

void conn_open(struct proxy *p, int accepted, int from, int to);
void conn_close(struct pconn *c);
/* Poll events wanted on c's two sockets; also the earliest due time of held bytes. */
void conn_events(const struct proxy *p, const struct pconn *c, short ev[2], int64_t *wake_ms);
/* Acts on poll's answer for c's two sockets. */
void conn_ready(struct proxy *p, struct pconn *c, const short rev[2]);

#endif
