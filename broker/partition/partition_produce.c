/*
 * partition_produce: validate the batches, apply the idempotent-producer
 * rules, append, and call done once the acks are met (written, or durable
 * under flush=always). Runs on the partition's owner shard.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "io/clock.h"
#include "partition.h"
#include "producer_state.h"
#include "server.h"
#include "shard.h"

static void produce_end(struct partition_produce *pp, enum partition_error error, int detail,
                        const char *message)
{
    assert(pp->part != NULL);
    pp->result.error = error;
    pp->result.detail = detail;
    pp->result.message = message;
    partition_fill_offsets(&pp->result, pp->part);
    pp->done(pp);
}

static void produce_finish(struct partition_produce *pp, int status)
{
    struct partition *p = pp->part;
    struct shard *s = p->shard;
    if (status != LOG_OK) {
        /* The batches may or may not be on disk: forget producer state so a
         * retry is judged afresh rather than as a duplicate of a lost batch. */
        partition_forget_producers(p);
        metrics_add(&s->metrics.storage_errors, 1);
        produce_end(pp, PARTITION_STORAGE, status, log_status_str(status));
        return;
    }
    metrics_observe(&s->metrics.flush_latency, (clock_monotonic_ns() - pp->started_ns) / 1000);
    produce_end(pp, PARTITION_OK, 0, NULL);
}

static void produce_on_durable(struct log_append *a, int status)
{
    produce_finish(rl_container_of(a, struct partition_produce, append), status);
}

static void produce_on_written(struct log_append *a, int status)
{
    struct partition_produce *pp = rl_container_of(a, struct partition_produce, append);
    struct partition *p = pp->part;
    if (status == LOG_OK) {
        pp->base_offset = a->base_offset;
        /* The batches now carry their offsets: note them for duplicate answers.
         * produce_admit validated them already: only the headers are read. */
        struct rl_batch_iter it;
        const uint8_t *batch;
        struct rl_batch_header h;
        rl_batch_iter_init(&it, pp->data, pp->len, RL_BATCH_ABSOLUTE_MAX_BYTES);
        while (rl_batch_iter_next_validated(&it, &batch, &h) == RL_OK) {
            if (h.producer_id >= 0)
                producer_state_set_offset(p, h.producer_id, h.base_sequence, h.base_offset);
            metrics_add(&p->shard->metrics.records_appended, (uint64_t)h.record_count);
        }
        metrics_add(&p->shard->metrics.batches_appended, a->batch_count);
        partition_publish(p);
    }
    if (!a->on_durable)
        produce_finish(pp, status);
}

/* What produce_admit decided. */
struct admission {
    enum partition_error error;
    int detail;
    const char *message;
    int64_t dup_offset; /* every batch a retry of batches written at this offset */
};

/* Judges one batch of a producer against its state; false ends the walk. */
static bool admit_batch(struct partition *p, const struct rl_batch_header *h, struct admission *ad,
                        uint32_t *duplicates)
{
    int64_t dup = -1;
    switch (producer_state_check(p, h, &dup)) {
    case PRODUCER_ACCEPT:
        if (producer_state_record(p, h) != 0)
            partition_forget_producers(p);
        return true;
    case PRODUCER_DUPLICATE:
        if ((*duplicates)++ == 0)
            ad->dup_offset = dup;
        return true;
    case PRODUCER_OUT_OF_ORDER:
        ad->error = PARTITION_OUT_OF_ORDER;
        ad->message = "sequence number gap for this producer";
        return false;
    case PRODUCER_BAD_EPOCH:
        ad->error = PARTITION_BAD_EPOCH;
        ad->message = "the producer is fenced: a newer epoch of its id exists";
        return false;
    case PRODUCER_EPOCH_AHEAD:
        ad->error = PARTITION_BAD_EPOCH;
        ad->message = "the producer epoch is newer than any this broker issued";
        return false;
    case PRODUCER_UNKNOWN_ID:
        ad->error = PARTITION_UNKNOWN_PRODUCER;
        ad->message = "the producer id was not issued by this broker (or has expired): "
                      "get one with InitProducerId";
        return false;
    }
    assert(!"unknown producer check");
    return false;
}

/* Validates every batch and applies the idempotence rules. */
static void produce_admit(struct partition *p, struct partition_produce *pp, struct admission *ad)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    int status;
    uint32_t batches = 0, duplicates = 0;
    *ad = (struct admission){.error = PARTITION_OK, .dup_offset = -1};
    rl_batch_iter_init(&it, pp->data, pp->len, p->shard->srv->cfg.max_frame_bytes);
    while ((status = rl_batch_iter_next(&it, &batch, &h)) == RL_OK) {
        batches++;
        if (h.producer_id >= 0 && !admit_batch(p, &h, ad, &duplicates))
            return;
    }
    if (status != RL_END)
        *ad = (struct admission){PARTITION_BAD_BATCH, status, rl_status_str(status), -1};
    else if (batches == 0)
        *ad = (struct admission){PARTITION_NO_BATCH, 0, "no record batch in the request", -1};
    else if (duplicates == batches && ad->dup_offset < 0)
        *ad = (struct admission){PARTITION_DUPLICATE_IN_FLIGHT, 0,
                                 "a retry of batches whose first append is still in flight", -1};
    else if (duplicates > 0 && duplicates < batches)
        *ad = (struct admission){PARTITION_MIXED_RETRY, 0, "request mixes retried and new batches",
                                 -1};
}

void partition_produce(struct partition *p, struct partition_produce *pp)
{
    assert(p->shard == shard_current());
    assert(pp->acks == 1 || pp->acks == -1 || pp->acks == 0);
    pp->part = p;
    pp->base_offset = -1;
    struct admission ad;
    produce_admit(p, pp, &ad);
    if (ad.error == PARTITION_OK && ad.dup_offset >= 0) {
        /* A retry of batches already appended: answer as the first time. */
        pp->base_offset = ad.dup_offset;
        produce_end(pp, PARTITION_OK, 0, NULL);
        return;
    }
    if (ad.error != PARTITION_OK) {
        produce_end(pp, ad.error, ad.detail, ad.message);
        return;
    }
    pp->started_ns = clock_monotonic_ns();
    struct log_append *a = &pp->append;
    memset(a, 0, sizeof(*a));
    a->data = pp->data;
    a->len = pp->len;
    a->leader_epoch = atomic_load(&p->stats->leader_epoch);
    a->on_written = produce_on_written;
    a->on_durable = p->flush == LOG_FLUSH_ALWAYS ? produce_on_durable : NULL;
    int rc = partition_log_append(p->log, a);
    if (rc != LOG_OK) {
        partition_forget_producers(p);
        produce_end(pp, PARTITION_STORAGE, rc, log_status_str(rc));
    }
}
