/*
 * The coordinator's appends: records become uncompressed, non-idempotent
 * batches appended to the group's partition of __groups with acks=1 on a
 * single broker, acks=all on a cluster; the caller answers only once they
 * are written (flushed per the broker's flush policy; committed).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "coordinator_internal.h"
#include "diag.h"

#define WRITE_BATCH_BYTES (256u << 10) /* a batch is cut past this */

struct coord_write {
    struct partition_produce pp;
    struct coord_part *cp;
    uint8_t *buf;
    void (*done)(void *ctx, bool ok);
    void *ctx;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

/* Record i of recs as the batch builder takes it. */
static struct rl_record_in record_of(const struct group_recs *recs, size_t i, int64_t now)
{
    assert(i < recs->n && recs->v[i].key != NULL);
    return (struct rl_record_in){.key = recs->v[i].key,
                                 .key_len = strlen(recs->v[i].key),
                                 .value = recs->v[i].value,
                                 .value_len = recs->v[i].value_len,
                                 .timestamp = now};
}

/* Room for the records as batches of at most WRITE_BATCH_BYTES (each record may start one). */
static size_t batches_bound(const struct group_recs *recs, int64_t now)
{
    size_t total = RL_BATCH_HEADER_BYTES;
    for (size_t i = 0; i < recs->n; i++) {
        struct rl_record_in r = {.key = recs->v[i].key,
                                 .key_len = strlen(recs->v[i].key),
                                 .value = recs->v[i].value,
                                 .value_len = recs->v[i].value_len,
                                 .timestamp = now};
        total +=
            rl_record_encoded_size(&r, now, 0) + RL_RECORD_MAX_OVERHEAD + RL_BATCH_HEADER_BYTES;
    }
    return total;
}

/* Encodes recs as batches into buf; returns the bytes used, 0 on failure. */
static size_t encode(const struct group_recs *recs, uint8_t *buf, size_t cap, int64_t now)
{
    static const struct rl_batch_producer none = {.producer_id = -1, .base_sequence = -1};
    struct rl_batch_builder b;
    size_t used = 0;
    bool open = false;
    for (size_t i = 0; i < recs->n; i++) {
        struct rl_record_in r = record_of(recs, i, now);
        if (open) {
            if (b.len < WRITE_BATCH_BYTES && rl_batch_builder_add(&b, &r) == RL_OK)
                continue;
            used += rl_batch_builder_finish(&b);
            open = false;
        }
        if (rl_batch_builder_init(&b, buf + used, cap - used, &none) != RL_OK ||
            rl_batch_builder_add(&b, &r) != RL_OK)
            return 0;
        open = true;
    }
    if (open)
        used += rl_batch_builder_finish(&b);
    assert(used <= cap);
    return used;
}

static void write_done(struct partition_produce *pp)
{
    struct coord_write *w = rl_container_of(pp, struct coord_write, pp);
    bool ok = pp->result.error == PARTITION_OK;
    if (!ok)
        DIAG_WARN("%s/%u: append failed: %s", GROUPS_TOPIC, w->cp->index,
                  pp->result.message ? pp->result.message : "error");
    assert(w->cp->writes > 0);
    w->cp->writes--;
    w->done(w->ctx, ok);
    free(w->buf);
    free(w);
}

void coord_write(struct coord_part *cp, struct group_recs *recs, void (*done)(void *ctx, bool ok),
                 void *ctx)
{
    assert(recs != NULL && done != NULL);
    struct partition *p = coord_partition(cp);
    if (recs->n == 0 || p == NULL) {
        group_recs_free(recs);
        done(ctx, p != NULL);
        return;
    }
    int64_t now = wall_ms();
    size_t cap = batches_bound(recs, now);
    struct coord_write *w = calloc(1, sizeof(*w));
    uint8_t *buf = malloc(cap);
    size_t len = w && buf ? encode(recs, buf, cap, now) : 0;
    group_recs_free(recs);
    if (len == 0) {
        free(w);
        free(buf);
        done(ctx, false);
        return;
    }
    *w = (struct coord_write){.cp = cp, .buf = buf, .done = done, .ctx = ctx};
    w->pp.data = buf;
    w->pp.len = len;
    /* On a cluster a change is answered once committed on a quorum: a failover keeps it. */
    w->pp.acks = p->replica != NULL ? -1 : 1;
    w->pp.done = write_done;
    cp->writes++;
    partition_produce(p, &w->pp);
}

void coord_write_group(struct coord_part *cp, struct group *g, void (*done)(void *ctx, bool ok),
                       void *ctx)
{
    struct group_recs recs = {0};
    /* A group with neither members nor offsets is gone (memory holds live groups only): its
     * records are deleted with it. */
    bool vacant = g->nmembers == 0 && g->noffsets == 0;
    int rc = group_records_collect(g, &recs); /* the members' tombstones among them */
    if (rc == 0 && vacant)
        rc = group_records_tombstones(g, &recs); /* "g/": after its last meta record */
    if (vacant)
        group_table_remove(&cp->groups, g);
    if (rc != 0) {
        group_recs_free(&recs);
        done(ctx, false);
        return;
    }
    coord_write(cp, &recs, done, ctx);
}
