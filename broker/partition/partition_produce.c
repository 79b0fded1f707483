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
#include "replica.h"
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

static void produce_not_leader(struct partition_produce *pp)
{
    produce_end(pp, PARTITION_NOT_LEADER, 0,
                "this broker does not lead the partition: see the leader hint");
}

/* The batches now carry their offsets: note them for duplicate answers. */
static void produce_note_written(struct partition_produce *pp, const struct log_append *a)
{
    struct partition *p = pp->part;
    pp->base_offset = a->base_offset;
    /* produce_admit validated the batches already: only the headers are read. */
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

/* A replicated acks=all call waits for the commit to pass its last offset. */
static void park_for_commit(struct partition *p, struct partition_produce *pp)
{
    assert(pp->commit_end > 0);
    /* Only the leader of the epoch that wrote it may answer it: a write that
     * completes after leadership moved on may be truncated by the next leader,
     * and the commit this replica learns later covers that leader's records,
     * not these (the chaos suite saw acknowledged offsets holding others'). */
    if (!p->replica || !replica_is_leader(p->replica) || replica_term(p->replica) != pp->epoch) {
        produce_not_leader(pp);
        return;
    }
    if (replica_commit(p->replica) >= pp->commit_end) {
        produce_finish(pp, LOG_OK);
        return;
    }
    pp->commit_next = NULL;
    if (p->commit_tail)
        p->commit_tail->commit_next = pp;
    else
        p->commit_head = pp;
    p->commit_tail = pp;
}

void partition_on_commit(struct partition *p, int64_t commit)
{
    assert(p->shard == shard_current());
    (void)commit; /* published through replica_commit; checkpointed by the driver */
    partition_publish(p);
    partition_records_start_on_commit(p);
    while (p->commit_head && p->commit_head->commit_end <= commit) {
        struct partition_produce *pp = p->commit_head;
        p->commit_head = pp->commit_next;
        if (!p->commit_head)
            p->commit_tail = NULL;
        produce_finish(pp, LOG_OK);
    }
    if (p->watcher)
        p->watcher(p);
}

void partition_on_leadership(struct partition *p, bool leader, int32_t leader_id, int32_t epoch)
{
    assert(p->shard == shard_current());
    atomic_store(&p->stats->leader, leader_id);
    if (epoch > 0)
        atomic_store(&p->stats->leader_epoch, epoch);
    if (p->watcher)
        p->watcher(p);
    if (leader)
        return;
    /* Waiting calls may still commit under the next leader; the client's
     * idempotent retry there is answered with the original offset. */
    while (p->commit_head) {
        struct partition_produce *pp = p->commit_head;
        p->commit_head = pp->commit_next;
        if (!p->commit_head)
            p->commit_tail = NULL;
        produce_not_leader(pp);
    }
}

static void produce_on_written(struct log_append *a, int status)
{
    struct partition_produce *pp = rl_container_of(a, struct partition_produce, append);
    struct partition *p = pp->part;
    if (p->replica) /* a no-op for the group when replica_proposed reported it already */
        replica_written(p->replica, a->last_offset + 1, pp->epoch, pp->write_gen, status);
    if (status == LOG_OK && pp->commit_end > 0) {
        produce_note_written(pp, a);
        park_for_commit(p, pp);
        return;
    }
    if (status == LOG_OK)
        produce_note_written(pp, a);
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

/* Offsets the batches take ([base, base + n)), or -1 when they do not tile. */
static int64_t offsets_needed(const uint8_t *data, size_t len)
{
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    int64_t n = 0;
    rl_batch_iter_init(&it, data, len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    while (rl_batch_iter_next_validated(&it, &batch, &h) == RL_OK)
        n += (int64_t)h.last_offset_delta + 1;
    return n > 0 && n <= INT32_MAX ? n : -1;
}

/*
 * A replicated partition's leader: the group gives the batches their
 * offsets and epoch (stamped here, appended with exact offsets); acks=all
 * is then answered at the commit, acks=1 when written (and flushed per the
 * policy). False when the call has already ended.
 */
static bool produce_propose(struct partition *p, struct partition_produce *pp)
{
    struct log_append *a = &pp->append;
    int64_t n = offsets_needed(pp->data, pp->len), base = -1;
    int32_t epoch = 0;
    if (n < 0 || replica_propose(p->replica, (int32_t)n, &base, &epoch, &pp->write_gen) != 0) {
        partition_forget_producers(p);
        produce_not_leader(pp);
        return false;
    }
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    int64_t next = base;
    rl_batch_iter_init(&it, pp->data, pp->len, RL_BATCH_ABSOLUTE_MAX_BYTES);
    while (rl_batch_iter_next_validated(&it, &batch, &h) == RL_OK) {
        rl_batch_stamp((uint8_t *)batch, next, epoch);
        next += (int64_t)h.last_offset_delta + 1;
    }
    assert(next == base + n);
    pp->proposed_base = base;
    pp->proposed_end = next;
    pp->epoch = epoch;
    a->flags = LOG_APPEND_EXACT_OFFSETS;
    if (pp->acks == -1) {
        pp->commit_end = next;
        a->on_durable = NULL; /* the commit is what answers */
    }
    return true;
}

/* Leadership and in-sync replicas, checked before anything is admitted. */
static bool produce_replica_ready(struct partition *p, struct partition_produce *pp)
{
    /* Not leading, or handing leadership over (proposals are refused then):
     * refused before admission, which records producer state. */
    if (!replica_is_leader(p->replica) ||
        replica_leader_hint(p->replica) != replica_leader(p->replica)) {
        produce_not_leader(pp);
        return false;
    }
    /* min.insync.replicas is a majority of the voters now (a reassignment changes them). */
    int32_t isr[RG_MAX_NODES];
    uint32_t need = replica_members(p->replica)->voter_count / 2 + 1;
    assert(need >= 1 && need <= RG_MAX_NODES);
    if (pp->acks == -1 && replica_in_sync(p->replica, isr, RG_MAX_NODES) < need) {
        produce_end(pp, PARTITION_NOT_ENOUGH_REPLICAS, 0,
                    "fewer in-sync replicas than min.insync.replicas: the write is refused, "
                    "not accepted unsafely");
        return false;
    }
    return true;
}

void partition_produce(struct partition *p, struct partition_produce *pp)
{
    assert(p->shard == shard_current());
    assert(pp->acks == 1 || pp->acks == -1 || pp->acks == 0);
    pp->part = p;
    pp->base_offset = -1;
    pp->commit_end = 0;
    if (p->replica && !produce_replica_ready(p, pp))
        return;
    struct admission ad;
    produce_admit(p, pp, &ad);
    if (ad.error == PARTITION_OK && ad.dup_offset >= 0) {
        /* A retry of batches already appended: answer as the first time
         * (acks=all: once committed; the commit moves by whole batches). */
        pp->base_offset = ad.dup_offset;
        if (p->replica && pp->acks == -1) {
            pp->epoch = replica_term(p->replica); /* this leader's commit answers it */
            pp->commit_end = ad.dup_offset + 1;
            park_for_commit(p, pp);
            return;
        }
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
    if (p->replica && !produce_propose(p, pp))
        return;
    int rc = partition_log_append(p->log, a);
    if (rc == LOG_OK && p->replica) {
        replica_proposed(p->replica, pp->data, pp->len, pp->proposed_base, pp->proposed_end,
                         pp->epoch, pp->write_gen);
    } else if (rc != LOG_OK) {
        /* The group gave these offsets out: it hears of the failed write (it steps down). */
        if (p->replica)
            replica_written(p->replica, pp->proposed_end, pp->epoch, pp->write_gen, rc);
        partition_forget_producers(p);
        produce_end(pp, PARTITION_STORAGE, rc, log_status_str(rc));
    }
}
