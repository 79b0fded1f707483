/*
 * The owner shard's side of partition operations: produce, fetch, list
 * offsets, open, delete. Each ends in part_op_finish, which sends the
 * result back to the shard that asked.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "errors.h"
#include "handlers/wire_errors.h"
#include "diag.h"
#include "partition.h"
#include "producer_state.h"
#include "request.h"
#include "server.h"

static void fail_op(struct shard *s, struct part_op *op, int error, const char *message)
{
    op->error = error;
    op->error_message = message;
    part_op_finish(s, op);
}

static void fill_offsets(struct part_op *op, struct partition *p)
{
    op->log_start = partition_log_start_offset(p->log);
    op->log_end = partition_log_end_offset(p->log);
    op->high_watermark = atomic_load(&p->stats->high_watermark);
}

/* ------------------------------------------------------------- produce */

static void produce_finish(struct part_op *op, int status)
{
    struct partition *p = op->part;
    struct shard *s = p->shard;
    if (status != LOG_OK) {
        /* The batches may or may not be on disk: forget producer state so a
         * retry is judged afresh rather than as a duplicate of a lost batch. */
        partition_forget_producers(p);
        metrics_add(&s->metrics.storage_errors, 1);
        fill_offsets(op, p);
        fail_op(s, op, wire_error_from_log_status(status), log_status_str(status));
        return;
    }
    metrics_observe(&s->metrics.flush_latency, (clock_monotonic_ns() - op->started_ns) / 1000);
    fill_offsets(op, p);
    part_op_finish(s, op);
}

static void produce_on_durable(struct log_append *a, int status)
{
    produce_finish(rl_container_of(a, struct part_op, append), status);
}

static void produce_on_written(struct log_append *a, int status)
{
    struct part_op *op = rl_container_of(a, struct part_op, append);
    struct partition *p = op->part;
    if (status == LOG_OK) {
        op->base_offset = a->base_offset;
        /* The batches now carry their offsets: note them for duplicate answers.
         * produce_admit validated them already: only the headers are read. */
        struct rl_batch_iter it;
        const uint8_t *batch;
        struct rl_batch_header h;
        rl_batch_iter_init(&it, op->data, op->len, RL_BATCH_ABSOLUTE_MAX_BYTES);
        while (rl_batch_iter_next_validated(&it, &batch, &h) == RL_OK) {
            if (h.producer_id >= 0)
                producer_state_set_offset(p, h.producer_id, h.base_sequence, h.base_offset);
            metrics_add(&p->shard->metrics.records_appended, (uint64_t)h.record_count);
        }
        metrics_add(&p->shard->metrics.batches_appended, a->batch_count);
        partition_publish(p);
    }
    if (!a->on_durable)
        produce_finish(op, status);
}

/* Validates every batch and applies the idempotence rules. Returns an ErrorCode. */
static int produce_admit(struct partition *p, struct part_op *op, const char **message,
                         int64_t *dup_offset)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    int status;
    uint32_t batches = 0, duplicates = 0;
    rl_batch_iter_init(&it, op->data, op->len, p->shard->srv->cfg.max_frame_bytes);
    while ((status = rl_batch_iter_next(&it, &batch, &h)) == RL_OK) {
        batches++;
        if (h.producer_id < 0)
            continue;
        int64_t dup = -1;
        switch (producer_state_check(p, &h, &dup)) {
        case PRODUCER_ACCEPT:
            if (producer_state_record(p, &h) != 0)
                partition_forget_producers(p);
            break;
        case PRODUCER_DUPLICATE:
            if (duplicates++ == 0)
                *dup_offset = dup;
            break;
        case PRODUCER_OUT_OF_ORDER:
            *message = "sequence number gap for this producer";
            return RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE;
        case PRODUCER_BAD_EPOCH:
            *message = "producer epoch is older than the partition's";
            return RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH;
        }
    }
    if (status != RL_END) {
        *message = rl_status_str(status);
        return rl_error_from_batch_status(status);
    }
    if (batches == 0) {
        *message = "no record batch in the request";
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    }
    if (duplicates == batches) {
        *message = "";
        return RINGLOG__ERROR_CODE__DUPLICATE_SEQUENCE;
    }
    if (duplicates > 0) {
        *message = "request mixes retried and new batches";
        return RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE;
    }
    return RINGLOG__ERROR_CODE__NONE;
}

static void run_produce(struct shard *s, struct part_op *op, struct partition *p)
{
    const char *message = NULL;
    int64_t dup_offset = -1;
    int error = produce_admit(p, op, &message, &dup_offset);
    if (error == RINGLOG__ERROR_CODE__DUPLICATE_SEQUENCE && dup_offset >= 0) {
        /* A retry of batches already appended: answer as the first time. */
        op->base_offset = dup_offset;
        fill_offsets(op, p);
        part_op_finish(s, op);
        return;
    }
    if (error != RINGLOG__ERROR_CODE__NONE) {
        fill_offsets(op, p);
        fail_op(s, op, error, message);
        return;
    }
    op->started_ns = clock_monotonic_ns();
    struct log_append *a = &op->append;
    memset(a, 0, sizeof(*a));
    a->data = op->data;
    a->len = op->len;
    a->leader_epoch = atomic_load(&p->stats->leader_epoch);
    a->on_written = produce_on_written;
    a->on_durable = p->flush == LOG_FLUSH_ALWAYS ? produce_on_durable : NULL;
    int rc = partition_log_append(p->log, a);
    if (rc != LOG_OK) {
        partition_forget_producers(p);
        fill_offsets(op, p);
        fail_op(s, op, wire_error_from_log_status(rc), log_status_str(rc));
    }
}

/* --------------------------------------------------------------- fetch */

enum { FETCH_MIN_BUF = 64 * 1024, FETCH_MAX_BUF = 64 << 20 };

static void fetch_on_read(struct log_read *r, int status);

static int fetch_start_read(struct part_op *op, int64_t offset, size_t cap)
{
    struct log_read *r = &op->read;
    uint8_t *buf = realloc(op->records, cap);
    if (!buf)
        return LOG_ERR_NOMEM;
    op->records = buf;
    memset(r, 0, sizeof(*r));
    r->offset = offset;
    r->max_offset = op->read_committed ? op->high_watermark : INT64_MAX;
    r->buf = buf;
    r->cap = cap;
    r->on_complete = fetch_on_read;
    r->user = op;
    return partition_log_read(op->part->log, r);
}

static void fetch_finish(struct part_op *op, int status)
{
    struct shard *s = op->part->shard;
    if (status != LOG_OK) {
        free(op->records);
        op->records = NULL;
        op->records_len = 0;
        fail_op(s, op, wire_error_from_log_status(status), log_status_str(status));
        return;
    }
    part_op_finish(s, op);
}

static void fetch_on_read(struct log_read *r, int status)
{
    struct part_op *op = r->user;
    if (status == LOG_ERR_BUFFER_TOO_SMALL && r->needed_bytes <= FETCH_MAX_BUF) {
        /* At least one whole batch, however large, so a consumer never sticks. */
        status = fetch_start_read(op, r->offset, r->needed_bytes);
        if (status != LOG_OK)
            fetch_finish(op, status);
        return;
    }
    if (status == LOG_OK && r->len == 0 && r->next_offset > r->offset &&
        r->next_offset < (op->read_committed ? op->high_watermark : op->log_end)) {
        /* The end of a segment: continue in the next one. */
        status = fetch_start_read(op, r->next_offset, r->cap);
        if (status != LOG_OK)
            fetch_finish(op, status);
        return;
    }
    if (status == LOG_OK && r->len > 0 && r->data != op->records)
        memmove(op->records, r->data, r->len);
    op->records_len = status == LOG_OK ? r->len : 0;
    fetch_finish(op, status);
}

static void run_fetch(struct shard *s, struct part_op *op, struct partition *p)
{
    fill_offsets(op, p);
    int64_t limit = op->read_committed ? op->high_watermark : op->log_end;
    if (op->fetch_offset < op->log_start || op->fetch_offset > op->log_end) {
        fail_op(s, op, RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE, "fetch offset is outside the log");
        return;
    }
    if (op->fetch_offset >= limit) {
        part_op_finish(s, op); /* nothing new yet */
        return;
    }
    size_t cap = op->max_bytes < FETCH_MIN_BUF ? FETCH_MIN_BUF : op->max_bytes;
    if (cap > FETCH_MAX_BUF)
        cap = FETCH_MAX_BUF;
    int rc = fetch_start_read(op, op->fetch_offset, cap);
    if (rc != LOG_OK)
        fetch_finish(op, rc);
}

/* -------------------------------------------------------- list offsets */

static void list_by_time_done(struct log_read *r, int status);

static int list_start_read(struct part_op *op, size_t cap)
{
    uint8_t *buf = realloc(op->records, cap);
    if (!buf)
        return LOG_ERR_NOMEM;
    op->records = buf;
    struct log_read *r = &op->read;
    memset(r, 0, sizeof(*r));
    r->max_offset = INT64_MAX;
    r->buf = buf;
    r->cap = cap;
    r->on_complete = list_by_time_done;
    r->user = op;
    return partition_log_read_by_time(op->part->log, op->timestamp, r);
}

/* Finds the first record at or after op->timestamp in the batches read. */
static void list_pick_record(struct part_op *op, const uint8_t *data, size_t len)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        if (h.max_timestamp < op->timestamp)
            continue;
        struct rl_record_iter rit;
        struct rl_record rec;
        uint8_t *plain = NULL;
        size_t plain_len;
        if (rl_record_iter_init(&rit, batch, &h) != RL_OK) {
            if (rl_batch_decompress_records(batch, &h, &plain, &plain_len) != RL_OK)
                continue;
            rl_record_iter_init_raw(&rit, plain, plain_len, &h);
        }
        while (rl_record_iter_next(&rit, &rec) == RL_OK) {
            if (rec.timestamp >= op->timestamp) {
                op->offset = h.base_offset + rec.offset_delta;
                op->found_timestamp = rec.timestamp;
                free(plain);
                return;
            }
        }
        free(plain);
    }
}

static void list_by_time_done(struct log_read *r, int status)
{
    struct part_op *op = r->user;
    struct shard *s = op->part->shard;
    if (status == LOG_ERR_BUFFER_TOO_SMALL && r->needed_bytes <= FETCH_MAX_BUF) {
        status = list_start_read(op, r->needed_bytes);
        if (status == LOG_OK)
            return;
    }
    if (status == LOG_OK)
        list_pick_record(op, r->data, r->len);
    free(op->records);
    op->records = NULL;
    if (status != LOG_OK) {
        fail_op(s, op, wire_error_from_log_status(status), log_status_str(status));
        return;
    }
    part_op_finish(s, op);
}

static void run_list_offsets(struct shard *s, struct part_op *op, struct partition *p)
{
    fill_offsets(op, p);
    op->offset = -1;
    op->found_timestamp = -1;
    if (op->timestamp == -2) {
        op->offset = op->log_start;
    } else if (op->timestamp == -1) {
        op->offset = op->read_committed ? op->high_watermark : op->log_end;
    } else if (op->timestamp < 0) {
        fail_op(s, op, RINGLOG__ERROR_CODE__INVALID_REQUEST, "timestamp must be >= -2");
        return;
    } else {
        int rc = list_start_read(op, FETCH_MIN_BUF);
        if (rc != LOG_OK) {
            free(op->records);
            op->records = NULL;
            fail_op(s, op, wire_error_from_log_status(rc), log_status_str(rc));
        }
        return;
    }
    part_op_finish(s, op);
}

/* ------------------------------------------------------ open and delete */

static void run_open(struct shard *s, struct part_op *op)
{
    char err[512];
    if (shard_find_partition(s, op->topic, op->partition)) {
        part_op_finish(s, op);
        return;
    }
    struct partition *p = partition_open(s, op->topic_info, op->partition, err, sizeof(err));
    if (!p) {
        DIAG_ERROR("cannot create partition: %s", err);
        fail_op(s, op, RINGLOG__ERROR_CODE__STORAGE_ERROR, "cannot create the partition's files");
        return;
    }
    shard_add_partition(s, p);
    part_op_finish(s, op);
}

static void delete_done(struct log_ctl *ctl, int status)
{
    struct part_op *op = rl_container_of(ctl, struct part_op, ctl);
    struct partition *p = op->part;
    struct shard *s = p->shard;
    if (status != LOG_OK)
        DIAG_WARN("deleting partition %s-%u: %s", p->topic, p->index, log_status_str(status));
    partition_free(p);
    op->part = NULL;
    part_op_finish(s, op);
}

static void run_delete(struct shard *s, struct part_op *op, struct partition *p)
{
    shard_remove_partition(s, p);
    p->deleting = true;
    atomic_store(&p->stats->online, false);
    memset(&op->ctl, 0, sizeof(op->ctl));
    op->ctl.on_complete = delete_done;
    int rc = partition_log_delete(p->log, &op->ctl);
    if (rc != LOG_OK) {
        DIAG_WARN("deleting partition %s-%u: %s", p->topic, p->index, log_status_str(rc));
        partition_free(p);
        op->part = NULL;
        part_op_finish(s, op);
    }
}

void partition_run_op(struct shard *s, struct part_op *op)
{
    op->error = RINGLOG__ERROR_CODE__NONE;
    op->error_message = NULL;
    if (op->kind == PART_OP_OPEN) {
        run_open(s, op);
        return;
    }
    struct partition *p = shard_find_partition(s, op->topic, op->partition);
    op->part = p;
    if (!p) {
        if (op->kind == PART_OP_DELETE)
            part_op_finish(s, op);
        else
            fail_op(s, op, RINGLOG__ERROR_CODE__UNKNOWN_PARTITION,
                    "the partition is not open on this broker");
        return;
    }
    switch (op->kind) {
    case PART_OP_PRODUCE:
        run_produce(s, op, p);
        break;
    case PART_OP_FETCH:
        run_fetch(s, op, p);
        break;
    case PART_OP_LIST_OFFSETS:
        run_list_offsets(s, op, p);
        break;
    case PART_OP_DELETE:
        run_delete(s, op, p);
        break;
    case PART_OP_OPEN:
        break;
    }
}
