/*
 * partition_fetch and partition_list_offsets: the read side of a
 * partition, on its owner shard.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fault_alloc.h"
#include "partition.h"
#include "shard.h"

enum { FETCH_MIN_BUF = 64 * 1024, FETCH_MAX_BUF = 64 << 20, FETCH_MAX_REREADS = 3 };

static void set_error(struct partition_result *res, enum partition_error error, int detail,
                      const char *message)
{
    assert(error != PARTITION_OK);
    res->error = error;
    res->detail = detail;
    res->message = message;
}

/* --------------------------------------------------------------- fetch */

size_t partition_batches_within(const uint8_t *data, size_t len, size_t limit, bool at_least_one)
{
    size_t used = 0;
    struct rl_batch_header h;
    while (len - used >= RL_BATCH_HEADER_BYTES &&
           rl_batch_header_read(data + used, len - used, &h) == RL_OK) {
        size_t total = rl_batch_total_bytes(&h);
        if (total < RL_BATCH_HEADER_BYTES || total > len - used)
            break; /* not a whole batch: the reader hands out whole ones only */
        if (used + total > limit && !(used == 0 && at_least_one))
            break;
        used += total;
    }
    assert(used <= len);
    assert(used <= limit || at_least_one);
    return used;
}

static void fetch_on_read(struct log_read *r, int status);

static int fetch_start_read(struct partition_fetch *pf, int64_t offset, size_t cap)
{
    struct log_read *r = &pf->read;
    uint8_t *buf = FAULT_ALLOC(realloc(pf->records, cap));
    if (!buf)
        return LOG_ERR_NOMEM;
    pf->records = buf;
    memset(r, 0, sizeof(*r));
    r->offset = offset;
    r->max_offset = pf->read_committed ? pf->result.high_watermark : INT64_MAX;
    r->buf = buf;
    r->cap = cap;
    /* Replicated: a batch failing its checksum is not sent but repaired from a replica
     * (docs/REPLICATION.md "Repair"); XXH3 costs ~50 ns per KiB. */
    r->verify = pf->part->replica != NULL;
    r->on_complete = fetch_on_read;
    r->user = pf;
    return partition_log_read(pf->part->log, r);
}

static void fetch_finish(struct partition_fetch *pf, int status)
{
    if (status != LOG_OK) {
        free(pf->records);
        pf->records = NULL;
        pf->records_len = 0;
        /* Out of range on a read again (retention retired the segment under the first one):
         * the consumer's offset is gone, not the disk. */
        if (status == LOG_ERR_OUT_OF_RANGE)
            set_error(&pf->result, PARTITION_OFFSET_OUT_OF_RANGE, 0,
                      "fetch offset is outside the log");
        else
            set_error(&pf->result, PARTITION_STORAGE, status, log_status_str(status));
    }
    pf->done(pf);
}

static void fetch_on_read(struct log_read *r, int status)
{
    struct partition_fetch *pf = r->user;
    int64_t limit = pf->read_committed ? pf->result.high_watermark : pf->result.log_end;
    if (status == LOG_ERR_BUFFER_TOO_SMALL && r->needed_bytes <= FETCH_MAX_BUF) {
        /* At least one whole batch, however large, so a consumer never sticks. */
        status = fetch_start_read(pf, r->offset, r->needed_bytes);
        if (status != LOG_OK)
            fetch_finish(pf, status);
        return;
    }
    if (status == LOG_OK && r->len == 0 && r->next_offset > r->offset && r->next_offset < limit) {
        /* The end of a segment: continue in the next one. */
        status = fetch_start_read(pf, r->next_offset, r->cap);
        if (status != LOG_OK)
            fetch_finish(pf, status);
        return;
    }
    if (status == LOG_OK && r->len == 0 && r->next_offset == r->offset && r->offset < limit &&
        pf->rereads++ < FETCH_MAX_REREADS) {
        /* The segment was retired under the read (a compaction swapped it, retention or a
         * truncate removed it): the engine asks for the same offset again, which now reads
         * the data that replaced it or is out of range. Answering nothing instead stalled
         * a consumer below the high watermark for a round trip (and failed
         * test_broker_compact's progress check under load). */
        status = fetch_start_read(pf, r->offset, r->cap);
        if (status != LOG_OK)
            fetch_finish(pf, status);
        return;
    }
    size_t keep = 0;
    if (status == LOG_OK)
        keep = partition_batches_within(r->data, r->len, pf->max_bytes, true);
    if (keep > 0 && r->data != pf->records)
        memmove(pf->records, r->data, keep);
    pf->records_len = keep;
    fetch_finish(pf, status);
}

void partition_fetch(struct partition *p, struct partition_fetch *pf)
{
    assert(p->shard == shard_current());
    assert(pf->records == NULL);
    pf->part = p;
    pf->records_len = 0;
    pf->rereads = 0;
    pf->result = (struct partition_result){.error = PARTITION_OK};
    partition_fill_offsets(&pf->result, p);
    int64_t limit = pf->read_committed ? pf->result.high_watermark : pf->result.log_end;
    if (pf->offset < pf->result.log_start || pf->offset > pf->result.log_end) {
        set_error(&pf->result, PARTITION_OFFSET_OUT_OF_RANGE, 0, "fetch offset is outside the log");
        pf->done(pf);
        return;
    }
    if (pf->offset >= limit) {
        pf->done(pf); /* nothing new yet */
        return;
    }
    size_t cap = pf->max_bytes < FETCH_MIN_BUF ? FETCH_MIN_BUF : pf->max_bytes;
    if (cap > FETCH_MAX_BUF)
        cap = FETCH_MAX_BUF;
    int rc = fetch_start_read(pf, pf->offset, cap);
    if (rc != LOG_OK)
        fetch_finish(pf, rc);
}

/* -------------------------------------------------------- list offsets */

static void list_by_time_done(struct log_read *r, int status);

static int list_start_read(struct partition_list_offsets *pl, size_t cap)
{
    uint8_t *buf = FAULT_ALLOC(realloc(pl->buf, cap));
    if (!buf)
        return LOG_ERR_NOMEM;
    pl->buf = buf;
    struct log_read *r = &pl->read;
    memset(r, 0, sizeof(*r));
    r->max_offset = INT64_MAX;
    r->buf = buf;
    r->cap = cap;
    r->on_complete = list_by_time_done;
    r->user = pl;
    return partition_log_read_by_time(pl->part->log, pl->timestamp, r);
}

/* The first record at or after ts (and at or past `from`) in one batch; false when none. */
static bool pick_in_batch(const uint8_t *batch, const struct rl_batch_header *h, int64_t ts,
                          int64_t from, int64_t *offset, int64_t *found)
{
    struct rl_record_iter rit;
    struct rl_record rec;
    uint8_t *plain = NULL;
    size_t plain_len;
    if (rl_record_iter_init(&rit, batch, h) != RL_OK) {
        if (rl_batch_decompress_records(batch, h, &plain, &plain_len) != RL_OK)
            return false;
        rl_record_iter_init_raw(&rit, plain, plain_len, h);
    }
    bool hit = false;
    while (!hit && rl_record_iter_next(&rit, &rec) == RL_OK) {
        if (rec.timestamp >= ts && h->base_offset + rec.offset_delta >= from) {
            *offset = h->base_offset + rec.offset_delta;
            *found = rec.timestamp;
            hit = true;
        }
    }
    free(plain);
    return hit;
}

/* Finds the first record at or after pl->timestamp in the batches read. */
static void list_pick_record(struct partition_list_offsets *pl, const uint8_t *data, size_t len)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        if (h.max_timestamp < pl->timestamp)
            continue;
        if (pick_in_batch(batch, &h, pl->timestamp, pl->result.log_start, &pl->offset,
                          &pl->found_timestamp))
            return;
    }
}

static void list_by_time_done(struct log_read *r, int status)
{
    struct partition_list_offsets *pl = r->user;
    if (status == LOG_ERR_BUFFER_TOO_SMALL && r->needed_bytes <= FETCH_MAX_BUF) {
        status = list_start_read(pl, r->needed_bytes);
        if (status == LOG_OK)
            return;
    }
    if (status == LOG_OK)
        list_pick_record(pl, r->data, r->len);
    free(pl->buf);
    pl->buf = NULL;
    if (status != LOG_OK)
        set_error(&pl->result, PARTITION_STORAGE, status, log_status_str(status));
    pl->done(pl);
}

void partition_list_offsets(struct partition *p, struct partition_list_offsets *pl)
{
    assert(p->shard == shard_current());
    assert(pl->buf == NULL);
    pl->part = p;
    pl->result = (struct partition_result){.error = PARTITION_OK};
    partition_fill_offsets(&pl->result, p);
    pl->offset = -1;
    pl->found_timestamp = -1;
    if (pl->timestamp == -2) {
        pl->offset = pl->result.log_start;
    } else if (pl->timestamp == -1) {
        pl->offset = pl->read_committed ? pl->result.high_watermark : pl->result.log_end;
    } else if (pl->timestamp < 0) {
        set_error(&pl->result, PARTITION_BAD_TIMESTAMP, 0, "timestamp must be >= -2");
    } else {
        int rc = list_start_read(pl, FETCH_MIN_BUF);
        if (rc != LOG_OK) {
            free(pl->buf);
            pl->buf = NULL;
            set_error(&pl->result, PARTITION_STORAGE, rc, log_status_str(rc));
            pl->done(pl);
        }
        return;
    }
    pl->done(pl);
}
