#include "producer_ids.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>

#include "atomic_file.h"
#include "server.h"

enum { PRODUCER_ID_BLOCK = 1000000 };

static pthread_mutex_t producer_id_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reserves the next block of producer ids on disk before any id of it is handed out. */
int producer_ids_reserve(struct server *srv)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/meta/producer_ids", srv->cfg.data_dir);
    long long next = 1;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lld", &next) != 1 || next < 1)
            next = 1;
        fclose(f);
    }
    if (next < srv->producer_id_limit)
        next = srv->producer_id_limit;
    long long limit = next + PRODUCER_ID_BLOCK;
    char line[32];
    int n = snprintf(line, sizeof(line), "%lld\n", limit);
    int rc = atomic_file_write(path, line, (size_t)n);
    if (rc != 0) {
        errno = -rc;
        return -1;
    }
    atomic_store(&srv->next_producer_id, next);
    srv->producer_id_limit = limit;
    return 0;
}

/*
 * In a cluster every broker issues ids from its own range, the node id in
 * the high bits, so two brokers never hand out the same id (ids agreed
 * through the controller's records are issue 15's next step).
 */
static int64_t cluster_id_of(const struct server *srv, int64_t id)
{
    if (!srv->cluster)
        return id;
    assert(id < (1ll << 44) && srv->cfg.node_id >= 0 && srv->cfg.node_id < (1 << 18));
    return ((int64_t)srv->cfg.node_id << 44) | id;
}

int64_t producer_ids_next(struct server *srv)
{
    int64_t id = atomic_fetch_add(&srv->next_producer_id, 1);
    if (id < srv->producer_id_limit)
        return cluster_id_of(srv, id);
    /* A block is used up (a million producers since start): rare, so a lock. */
    pthread_mutex_lock(&producer_id_lock);
    if (atomic_load(&srv->next_producer_id) > srv->producer_id_limit &&
        producer_ids_reserve(srv) != 0) {
        pthread_mutex_unlock(&producer_id_lock);
        return -1;
    }
    pthread_mutex_unlock(&producer_id_lock);
    return producer_ids_next(srv);
}
