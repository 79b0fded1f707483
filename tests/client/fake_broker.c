#include "fake_broker.h"

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
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "batch.h"
#include "frame.h"
#include "ringlog.pb-c.h"

#define NODE_ID 1
#define RECENT 5

struct fb_batch {
    int64_t base, last, max_ts;
    size_t pos, len;
};

struct fb_pid {
    int64_t pid;
    int16_t epoch;
    int32_t next_seq;
    int32_t recent_seq[RECENT];
    int64_t recent_off[RECENT];
    int recent_n;
};

struct fb_partition {
    uint8_t *log;
    size_t len, cap;
    struct fb_batch *batches;
    size_t nbatches, capbatches;
    int64_t next_offset;
    int64_t records;
    struct fb_pid *pids;
    size_t npids;
};

struct fb_topic {
    char *name;
    uint32_t npart;
    struct fb_partition *parts;
};

struct fb_offset {
    char *group, *topic;
    uint32_t partition;
    int64_t offset;
};

struct fb_conn {
    int fd;
    pthread_t thread;
    struct fake_broker *fb;
    struct fb_conn *next;
};

struct fake_broker {
    int listen_fd;
    int port;
    char address[32];
    pthread_t accept_thread;
    pthread_mutex_t mu;
    pthread_cond_t data;
    bool stopping;
    struct fb_topic *topics;
    size_t ntopics;
    struct fb_offset *offsets;
    size_t noffsets;
    int64_t next_pid;
    struct fb_conn *conns;
    uint64_t produce_requests, duplicates;
    int drop_produce, swallow_produce, fail_produce;
    int fail_code; /* the error fail_produce partitions get */
    char fail_message[256];
    int stall_large_ms;  /* once: pause before reading the body of a frame over 1 MiB */
    int delay_create_ms; /* once: pause before answering a CreateTopics */
    bool no_controller;  /* CreateTopics: NOT_CONTROLLER, and Metadata names none */
};

/* ---------------------------------------------------------------- state */

static struct fb_topic *find_topic(struct fake_broker *fb, const char *name)
{
    for (size_t i = 0; i < fb->ntopics; i++)
        if (strcmp(fb->topics[i].name, name) == 0)
            return &fb->topics[i];
    return NULL;
}

static void add_topic(struct fake_broker *fb, const char *name, uint32_t npart)
{
    fb->topics = realloc(fb->topics, (fb->ntopics + 1) * sizeof(*fb->topics));
    struct fb_topic *t = &fb->topics[fb->ntopics++];
    t->name = strdup(name);
    t->npart = npart;
    t->parts = calloc(npart, sizeof(*t->parts));
}

static void free_topic(struct fb_topic *t)
{
    for (uint32_t p = 0; p < t->npart; p++) {
        free(t->parts[p].log);
        free(t->parts[p].batches);
        free(t->parts[p].pids);
    }
    free(t->parts);
    free(t->name);
}

static void delete_topic(struct fake_broker *fb, struct fb_topic *t)
{
    free_topic(t);
    size_t i = (size_t)(t - fb->topics);
    memmove(&fb->topics[i], &fb->topics[i + 1], (fb->ntopics - i - 1) * sizeof(*t));
    fb->ntopics--;
}

static struct fb_pid *find_pid(struct fb_partition *p, int64_t pid)
{
    for (size_t i = 0; i < p->npids; i++)
        if (p->pids[i].pid == pid)
            return &p->pids[i];
    p->pids = realloc(p->pids, (p->npids + 1) * sizeof(*p->pids));
    struct fb_pid *e = &p->pids[p->npids++];
    memset(e, 0, sizeof(*e));
    e->pid = pid;
    e->epoch = -1;
    return e;
}

static void append_batch(struct fb_partition *p, const uint8_t *batch,
                         const struct rl_batch_header *h)
{
    size_t total = rl_batch_total_bytes(h);
    if (p->len + total > p->cap) {
        p->cap = (p->len + total) * 2;
        p->log = realloc(p->log, p->cap);
    }
    memcpy(p->log + p->len, batch, total);
    rl_batch_stamp(p->log + p->len, p->next_offset, 1);
    if (p->nbatches == p->capbatches) {
        p->capbatches = p->capbatches ? p->capbatches * 2 : 16;
        p->batches = realloc(p->batches, p->capbatches * sizeof(*p->batches));
    }
    p->batches[p->nbatches++] = (struct fb_batch){.base = p->next_offset,
                                                  .last = p->next_offset + h->last_offset_delta,
                                                  .max_ts = h->max_timestamp,
                                                  .pos = p->len,
                                                  .len = total};
    p->len += total;
    p->next_offset += h->last_offset_delta + 1;
    p->records += h->record_count;
}

/*
 * Idempotence check of one batch: 0 append, 1 duplicate (*dup_offset set),
 * or a wire error code.
 */
static int check_sequence(struct fb_partition *p, const struct rl_batch_header *h,
                          int64_t *dup_offset)
{
    if (h->producer_id < 0)
        return 0;
    struct fb_pid *e = find_pid(p, h->producer_id);
    if (h->producer_epoch < e->epoch)
        return RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH;
    if (h->producer_epoch > e->epoch) {
        e->epoch = h->producer_epoch;
        e->next_seq = 0;
        e->recent_n = 0;
    }
    if (h->base_sequence == e->next_seq)
        return 0;
    for (int i = 0; i < e->recent_n; i++)
        if (e->recent_seq[i] == h->base_sequence) {
            *dup_offset = e->recent_off[i];
            return 1;
        }
    return RINGLOG__ERROR_CODE__OUT_OF_ORDER_SEQUENCE;
}

static void note_sequence(struct fb_partition *p, const struct rl_batch_header *h, int64_t base)
{
    if (h->producer_id < 0)
        return;
    struct fb_pid *e = find_pid(p, h->producer_id);
    if (e->recent_n == RECENT) {
        memmove(e->recent_seq, e->recent_seq + 1, (RECENT - 1) * sizeof(int32_t));
        memmove(e->recent_off, e->recent_off + 1, (RECENT - 1) * sizeof(int64_t));
        e->recent_n--;
    }
    e->recent_seq[e->recent_n] = h->base_sequence;
    e->recent_off[e->recent_n] = base;
    e->recent_n++;
    e->next_seq = h->base_sequence + h->record_count;
}

/* ---------------------------------------------------------------- handlers */

#define NEW(arena, type, init)                                                                     \
    ({                                                                                             \
        type *_p = rl_arena_alloc(arena, sizeof(type));                                            \
        *_p = (type)init;                                                                          \
        _p;                                                                                        \
    })
#define NEWARR(arena, type, n) ((type *)rl_arena_alloc(arena, sizeof(type) * ((n) ? (n) : 1)))

static Ringlog__PartitionMetadata *partition_md(struct rl_arena *a, struct fb_partition *p,
                                                uint32_t i)
{
    Ringlog__PartitionMetadata *pm =
        NEW(a, Ringlog__PartitionMetadata, RINGLOG__PARTITION_METADATA__INIT);
    pm->partition = i;
    pm->leader = NODE_ID;
    pm->leader_epoch = 1;
    pm->n_replicas = pm->n_isr = 1;
    pm->replicas = NEWARR(a, int32_t, 1);
    pm->isr = NEWARR(a, int32_t, 1);
    pm->replicas[0] = pm->isr[0] = NODE_ID;
    pm->log_start_offset = 0;
    pm->log_end_offset = pm->high_watermark = p->next_offset;
    return pm;
}

static Ringlog__TopicMetadata *topic_md(struct rl_arena *a, struct fake_broker *fb,
                                        const char *name)
{
    Ringlog__TopicMetadata *tm = NEW(a, Ringlog__TopicMetadata, RINGLOG__TOPIC_METADATA__INIT);
    tm->name = (char *)name;
    struct fb_topic *t = find_topic(fb, name);
    if (!t) {
        tm->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
        tm->error_message = "no such topic";
        return tm;
    }
    tm->n_partitions = t->npart;
    tm->partitions = NEWARR(a, Ringlog__PartitionMetadata *, t->npart);
    for (uint32_t i = 0; i < t->npart; i++)
        tm->partitions[i] = partition_md(a, &t->parts[i], i);
    return tm;
}

static void handle_metadata(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                            Ringlog__Response *resp)
{
    Ringlog__MetadataResponse *m =
        NEW(a, Ringlog__MetadataResponse, RINGLOG__METADATA_RESPONSE__INIT);
    Ringlog__BrokerInfo *b = NEW(a, Ringlog__BrokerInfo, RINGLOG__BROKER_INFO__INIT);
    b->node_id = NODE_ID;
    b->host = "127.0.0.1";
    b->port = (uint32_t)fb->port;
    m->n_brokers = 1;
    m->brokers = NEWARR(a, Ringlog__BrokerInfo *, 1);
    m->brokers[0] = b;
    m->controller_id = fb->no_controller ? -1 : NODE_ID;
    size_t n = req->metadata->n_topics ? req->metadata->n_topics : fb->ntopics;
    m->n_topics = n;
    m->topics = NEWARR(a, Ringlog__TopicMetadata *, n);
    for (size_t i = 0; i < n; i++)
        m->topics[i] = topic_md(
            a, fb, req->metadata->n_topics ? req->metadata->topics[i] : fb->topics[i].name);
    resp->body_case = RINGLOG__RESPONSE__BODY_METADATA;
    resp->metadata = m;
}

static void handle_create(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                          Ringlog__Response *resp)
{
    Ringlog__CreateTopicsResponse *r =
        NEW(a, Ringlog__CreateTopicsResponse, RINGLOG__CREATE_TOPICS_RESPONSE__INIT);
    r->n_topics = req->create_topics->n_topics;
    r->topics = NEWARR(a, Ringlog__TopicResult *, r->n_topics);
    for (size_t i = 0; i < r->n_topics; i++) {
        Ringlog__CreatableTopic *ct = req->create_topics->topics[i];
        Ringlog__TopicResult *tr = NEW(a, Ringlog__TopicResult, RINGLOG__TOPIC_RESULT__INIT);
        tr->name = ct->name;
        if (fb->no_controller) {
            tr->error = RINGLOG__ERROR_CODE__NOT_CONTROLLER;
            tr->error_message = "this broker knows no controller";
        } else if (!ct->name[0]) {
            tr->error = RINGLOG__ERROR_CODE__INVALID_TOPIC;
            tr->error_message = "empty topic name";
        } else if (find_topic(fb, ct->name)) {
            tr->error = RINGLOG__ERROR_CODE__TOPIC_EXISTS;
            tr->error_message = "topic exists";
        } else if (ct->partitions > 1000) {
            tr->error = RINGLOG__ERROR_CODE__INVALID_PARTITIONS;
            tr->error_message = "too many partitions";
        } else if (!req->create_topics->validate_only) {
            add_topic(fb, ct->name, ct->partitions ? ct->partitions : 1);
        }
        r->topics[i] = tr;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_CREATE_TOPICS;
    resp->create_topics = r;
}

static void handle_delete(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                          Ringlog__Response *resp)
{
    Ringlog__DeleteTopicsResponse *r =
        NEW(a, Ringlog__DeleteTopicsResponse, RINGLOG__DELETE_TOPICS_RESPONSE__INIT);
    r->n_topics = req->delete_topics->n_names;
    r->topics = NEWARR(a, Ringlog__TopicResult *, r->n_topics);
    for (size_t i = 0; i < r->n_topics; i++) {
        Ringlog__TopicResult *tr = NEW(a, Ringlog__TopicResult, RINGLOG__TOPIC_RESULT__INIT);
        tr->name = req->delete_topics->names[i];
        struct fb_topic *t = find_topic(fb, tr->name);
        if (!t) {
            tr->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
            tr->error_message = "no such topic";
        } else {
            delete_topic(fb, t);
        }
        r->topics[i] = tr;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_DELETE_TOPICS;
    resp->delete_topics = r;
}

static Ringlog__PartitionProduceResult *produce_partition(struct fake_broker *fb,
                                                          struct rl_arena *a, struct fb_topic *t,
                                                          Ringlog__PartitionProduceData *pd)
{
    Ringlog__PartitionProduceResult *pr =
        NEW(a, Ringlog__PartitionProduceResult, RINGLOG__PARTITION_PRODUCE_RESULT__INIT);
    pr->partition = pd->partition;
    pr->base_offset = -1;
    pr->log_append_time = -1;
    if (!t) {
        pr->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
        return pr;
    }
    if (pd->partition >= t->npart) {
        pr->error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
        return pr;
    }
    if (fb->fail_produce > 0) {
        fb->fail_produce--;
        pr->error = fb->fail_code;
        pr->error_message = fb->fail_message;
        return pr;
    }
    struct fb_partition *p = &t->parts[pd->partition];
    struct rl_batch_iter it;
    const uint8_t *batch;
    struct rl_batch_header h;
    int st;
    rl_batch_iter_init(&it, pd->records.data, pd->records.len, 16u << 20);
    int nb = 0;
    while ((st = rl_batch_iter_next(&it, &batch, &h)) == RL_OK)
        nb++;
    if (st != RL_END || nb == 0) {
        pr->error = RINGLOG__ERROR_CODE__CORRUPT_BATCH;
        pr->error_message = "bad batch";
        return pr;
    }
    rl_batch_iter_init(&it, pd->records.data, pd->records.len, 16u << 20);
    bool first = true;
    while (rl_batch_iter_next(&it, &batch, &h) == RL_OK) {
        int64_t dup = -1;
        int r = check_sequence(p, &h, &dup);
        if (r == 1) {
            fb->duplicates++;
            if (first)
                pr->base_offset = dup;
        } else if (r != 0) {
            pr->error = (Ringlog__ErrorCode)r;
            pr->error_message = "sequence";
            return pr;
        } else {
            int64_t base = p->next_offset;
            append_batch(p, batch, &h);
            note_sequence(p, &h, base);
            if (first)
                pr->base_offset = base;
        }
        first = false;
    }
    return pr;
}

/* Returns false when the response must not be sent (acks=0 or an injected drop). */
static bool handle_produce(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                           Ringlog__Response *resp, bool *close_conn)
{
    Ringlog__ProduceRequest *pr = req->produce;
    Ringlog__ProduceResponse *r = NEW(a, Ringlog__ProduceResponse, RINGLOG__PRODUCE_RESPONSE__INIT);
    r->n_topics = pr->n_topics;
    r->topics = NEWARR(a, Ringlog__TopicProduceResult *, pr->n_topics);
    for (size_t i = 0; i < pr->n_topics; i++) {
        Ringlog__TopicProduceData *td = pr->topics[i];
        Ringlog__TopicProduceResult *tr =
            NEW(a, Ringlog__TopicProduceResult, RINGLOG__TOPIC_PRODUCE_RESULT__INIT);
        tr->topic = td->topic;
        tr->n_partitions = td->n_partitions;
        tr->partitions = NEWARR(a, Ringlog__PartitionProduceResult *, td->n_partitions);
        struct fb_topic *t = find_topic(fb, td->topic);
        for (size_t j = 0; j < td->n_partitions; j++)
            tr->partitions[j] = produce_partition(fb, a, t, td->partitions[j]);
        r->topics[i] = tr;
    }
    fb->produce_requests++;
    pthread_cond_broadcast(&fb->data);
    resp->body_case = RINGLOG__RESPONSE__BODY_PRODUCE;
    resp->produce = r;
    if (fb->drop_produce > 0) {
        fb->drop_produce--;
        *close_conn = true;
        return false;
    }
    if (fb->swallow_produce > 0) {
        fb->swallow_produce--;
        return false; /* no answer, and the connection stays open */
    }
    return pr->acks != 0;
}

/*
 * Fills one partition's fetch result; returns the bytes of records given.
 * The rule of docs/PROTOCOL.md *Fetch*: whole batches within the
 * partition's max_bytes and what is `left` of the request's total; only the
 * first partition with data (`*given` still false) gets its first batch
 * whatever its size.
 */
static size_t fetch_partition(struct fake_broker *fb, struct rl_arena *a, const char *topic,
                              Ringlog__FetchPartition *fp, Ringlog__FetchPartitionResult *r,
                              size_t left, bool *given)
{
    r->partition = fp->partition;
    struct fb_topic *t = find_topic(fb, topic);
    if (!t) {
        r->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
        return 0;
    }
    if (fp->partition >= t->npart) {
        r->error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
        return 0;
    }
    struct fb_partition *p = &t->parts[fp->partition];
    r->high_watermark = r->log_end_offset = p->next_offset;
    r->log_start_offset = 0;
    r->error = RINGLOG__ERROR_CODE__NONE;
    r->records.len = 0;
    r->records.data = NULL;
    if (fp->fetch_offset < 0 || fp->fetch_offset > p->next_offset) {
        r->error = RINGLOG__ERROR_CODE__OFFSET_OUT_OF_RANGE;
        return 0;
    }
    size_t i = 0;
    while (i < p->nbatches && p->batches[i].last < fp->fetch_offset)
        i++;
    size_t from = i, bytes = 0;
    size_t max = fp->max_bytes ? fp->max_bytes : (1u << 20);
    if (left < max)
        max = left;
    while (i < p->nbatches && ((bytes == 0 && !*given) || bytes + p->batches[i].len <= max))
        bytes += p->batches[i++].len;
    if (bytes) {
        *given = true;
        r->records.data = rl_arena_alloc(a, bytes);
        memcpy(r->records.data, p->log + p->batches[from].pos, bytes);
        r->records.len = bytes;
    }
    return bytes;
}

static void handle_fetch(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                         Ringlog__Response *resp)
{
    Ringlog__FetchRequest *fr = req->fetch;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)fr->max_wait_ms * 1000000ull;
    deadline.tv_sec += (time_t)(ns / 1000000000ull);
    deadline.tv_nsec = (long)(ns % 1000000000ull);
    Ringlog__FetchResponse *r = NEW(a, Ringlog__FetchResponse, RINGLOG__FETCH_RESPONSE__INIT);
    r->n_topics = fr->n_topics;
    r->topics = NEWARR(a, Ringlog__FetchTopicResult *, fr->n_topics);
    for (size_t i = 0; i < fr->n_topics; i++) {
        Ringlog__FetchTopicResult *tr =
            NEW(a, Ringlog__FetchTopicResult, RINGLOG__FETCH_TOPIC_RESULT__INIT);
        tr->topic = fr->topics[i]->topic;
        tr->n_partitions = fr->topics[i]->n_partitions;
        tr->partitions = NEWARR(a, Ringlog__FetchPartitionResult *, tr->n_partitions);
        for (size_t j = 0; j < tr->n_partitions; j++)
            tr->partitions[j] =
                NEW(a, Ringlog__FetchPartitionResult, RINGLOG__FETCH_PARTITION_RESULT__INIT);
        r->topics[i] = tr;
    }
    for (;;) {
        size_t total = 0, limit = fr->max_bytes ? fr->max_bytes : (64u << 20);
        bool errors = false, given = false;
        for (size_t i = 0; i < fr->n_topics; i++)
            for (size_t j = 0; j < fr->topics[i]->n_partitions; j++) {
                total += fetch_partition(fb, a, fr->topics[i]->topic, fr->topics[i]->partitions[j],
                                         r->topics[i]->partitions[j],
                                         total < limit ? limit - total : 0, &given);
                errors |= r->topics[i]->partitions[j]->error != 0;
            }
        if (total > 0 || errors || fb->stopping || fr->max_wait_ms == 0)
            break;
        if (pthread_cond_timedwait(&fb->data, &fb->mu, &deadline) == ETIMEDOUT)
            break;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_FETCH;
    resp->fetch = r;
}

static int64_t offset_for_time(struct fb_partition *p, int64_t ts)
{
    for (size_t i = 0; i < p->nbatches; i++) {
        if (p->batches[i].max_ts < ts)
            continue;
        struct rl_batch_header h;
        const uint8_t *b = p->log + p->batches[i].pos;
        rl_batch_header_read(b, p->batches[i].len, &h);
        uint8_t *raw = NULL;
        size_t rawlen = 0;
        struct rl_record_iter it;
        if (rl_batch_codec(&h) != RL_CODEC_NONE) {
            if (rl_batch_decompress_records(b, &h, &raw, &rawlen) != RL_OK)
                continue;
            rl_record_iter_init_raw(&it, raw, rawlen, &h);
        } else {
            rl_record_iter_init(&it, b, &h);
        }
        struct rl_record rec;
        int64_t found = -1;
        while (rl_record_iter_next(&it, &rec) == RL_OK)
            if (rec.timestamp >= ts) {
                found = h.base_offset + rec.offset_delta;
                break;
            }
        free(raw);
        if (found >= 0)
            return found;
    }
    return -1;
}

static void handle_list_offsets(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                                Ringlog__Response *resp)
{
    Ringlog__ListOffsetsRequest *lr = req->list_offsets;
    Ringlog__ListOffsetsResponse *r =
        NEW(a, Ringlog__ListOffsetsResponse, RINGLOG__LIST_OFFSETS_RESPONSE__INIT);
    r->n_topics = lr->n_topics;
    r->topics = NEWARR(a, Ringlog__ListOffsetsTopicResult *, lr->n_topics);
    for (size_t i = 0; i < lr->n_topics; i++) {
        Ringlog__ListOffsetsTopicResult *tr =
            NEW(a, Ringlog__ListOffsetsTopicResult, RINGLOG__LIST_OFFSETS_TOPIC_RESULT__INIT);
        tr->topic = lr->topics[i]->topic;
        tr->n_partitions = lr->topics[i]->n_partitions;
        tr->partitions = NEWARR(a, Ringlog__ListOffsetsPartitionResult *, tr->n_partitions);
        struct fb_topic *t = find_topic(fb, tr->topic);
        for (size_t j = 0; j < tr->n_partitions; j++) {
            Ringlog__ListOffsetsPartition *lp = lr->topics[i]->partitions[j];
            Ringlog__ListOffsetsPartitionResult *pr =
                NEW(a, Ringlog__ListOffsetsPartitionResult,
                    RINGLOG__LIST_OFFSETS_PARTITION_RESULT__INIT);
            pr->partition = lp->partition;
            pr->timestamp = -1;
            if (!t)
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
            else if (lp->partition >= t->npart)
                pr->error = RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
            else if (lp->timestamp == -2)
                pr->offset = 0;
            else if (lp->timestamp == -1)
                pr->offset = t->parts[lp->partition].next_offset;
            else
                pr->offset = offset_for_time(&t->parts[lp->partition], lp->timestamp);
            tr->partitions[j] = pr;
        }
        r->topics[i] = tr;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_LIST_OFFSETS;
    resp->list_offsets = r;
}

static void handle_init_pid(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                            Ringlog__Response *resp)
{
    Ringlog__InitProducerIdResponse *r =
        NEW(a, Ringlog__InitProducerIdResponse, RINGLOG__INIT_PRODUCER_ID_RESPONSE__INIT);
    if (req->init_producer_id->producer_id < 0) {
        r->producer_id = ++fb->next_pid + 1000;
        r->producer_epoch = 0;
    } else {
        r->producer_id = req->init_producer_id->producer_id;
        r->producer_epoch = req->init_producer_id->producer_epoch + 1;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_INIT_PRODUCER_ID;
    resp->init_producer_id = r;
}

static struct fb_offset *find_offset(struct fake_broker *fb, const char *g, const char *t,
                                     uint32_t p, bool create)
{
    for (size_t i = 0; i < fb->noffsets; i++)
        if (fb->offsets[i].partition == p && !strcmp(fb->offsets[i].group, g) &&
            !strcmp(fb->offsets[i].topic, t))
            return &fb->offsets[i];
    if (!create)
        return NULL;
    fb->offsets = realloc(fb->offsets, (fb->noffsets + 1) * sizeof(*fb->offsets));
    struct fb_offset *o = &fb->offsets[fb->noffsets++];
    o->group = strdup(g);
    o->topic = strdup(t);
    o->partition = p;
    o->offset = -1;
    return o;
}

static void handle_offset_commit(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                                 Ringlog__Response *resp)
{
    Ringlog__OffsetCommitRequest *cr = req->offset_commit;
    Ringlog__OffsetCommitResponse *r =
        NEW(a, Ringlog__OffsetCommitResponse, RINGLOG__OFFSET_COMMIT_RESPONSE__INIT);
    r->n_topics = cr->n_topics;
    r->topics = NEWARR(a, Ringlog__OffsetCommitTopicResult *, cr->n_topics);
    for (size_t i = 0; i < cr->n_topics; i++) {
        Ringlog__OffsetCommitTopicResult *tr =
            NEW(a, Ringlog__OffsetCommitTopicResult, RINGLOG__OFFSET_COMMIT_TOPIC_RESULT__INIT);
        tr->topic = cr->topics[i]->topic;
        tr->n_partitions = cr->topics[i]->n_partitions;
        tr->partitions = NEWARR(a, Ringlog__OffsetCommitPartitionResult *, tr->n_partitions);
        for (size_t j = 0; j < tr->n_partitions; j++) {
            Ringlog__OffsetCommitPartition *cp = cr->topics[i]->partitions[j];
            Ringlog__OffsetCommitPartitionResult *pr =
                NEW(a, Ringlog__OffsetCommitPartitionResult,
                    RINGLOG__OFFSET_COMMIT_PARTITION_RESULT__INIT);
            pr->partition = cp->partition;
            find_offset(fb, cr->group, tr->topic, cp->partition, true)->offset = cp->offset;
            tr->partitions[j] = pr;
        }
        r->topics[i] = tr;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_OFFSET_COMMIT;
    resp->offset_commit = r;
}

static void handle_offset_fetch(struct fake_broker *fb, struct rl_arena *a, Ringlog__Request *req,
                                Ringlog__Response *resp)
{
    Ringlog__OffsetFetchRequest *fr = req->offset_fetch;
    Ringlog__OffsetFetchResponse *r =
        NEW(a, Ringlog__OffsetFetchResponse, RINGLOG__OFFSET_FETCH_RESPONSE__INIT);
    r->n_topics = fr->n_topics;
    r->topics = NEWARR(a, Ringlog__OffsetFetchTopicResult *, fr->n_topics);
    for (size_t i = 0; i < fr->n_topics; i++) {
        Ringlog__OffsetFetchTopicResult *tr =
            NEW(a, Ringlog__OffsetFetchTopicResult, RINGLOG__OFFSET_FETCH_TOPIC_RESULT__INIT);
        tr->topic = fr->topics[i]->topic;
        tr->n_partitions = fr->topics[i]->n_partitions;
        tr->partitions = NEWARR(a, Ringlog__OffsetFetchPartitionResult *, tr->n_partitions);
        for (size_t j = 0; j < tr->n_partitions; j++) {
            uint32_t p = fr->topics[i]->partitions[j];
            Ringlog__OffsetFetchPartitionResult *pr =
                NEW(a, Ringlog__OffsetFetchPartitionResult,
                    RINGLOG__OFFSET_FETCH_PARTITION_RESULT__INIT);
            pr->partition = p;
            struct fb_offset *o = find_offset(fb, fr->group, tr->topic, p, false);
            pr->offset = o ? o->offset : -1;
            tr->partitions[j] = pr;
        }
        r->topics[i] = tr;
    }
    resp->body_case = RINGLOG__RESPONSE__BODY_OFFSET_FETCH;
    resp->offset_fetch = r;
}

/* ---------------------------------------------------------------- connections */

static bool read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void *conn_main(void *arg)
{
    struct fb_conn *c = arg;
    struct fake_broker *fb = c->fb;
    struct rl_arena arena;
    rl_arena_init(&arena, 64 * 1024, 0);
    for (;;) {
        uint8_t hdr[4];
        if (!read_full(c->fd, hdr, 4))
            break;
        uint32_t len =
            ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
        if (len == 0 || len > (64u << 20))
            break;
        if (len > (1u << 20)) {
            pthread_mutex_lock(&fb->mu);
            int stall = fb->stall_large_ms;
            fb->stall_large_ms = 0;
            pthread_mutex_unlock(&fb->mu);
            if (stall > 0)
                usleep((useconds_t)stall * 1000);
        }
        uint8_t *body = malloc(len);
        if (!read_full(c->fd, body, len)) {
            free(body);
            break;
        }
        int st;
        Ringlog__Request *req = rl_request_decode(body, len, NULL, &st);
        free(body);
        if (!req)
            break;
        Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
        resp.correlation_id = req->correlation_id;
        bool send_it = true, close_conn = false;
        pthread_mutex_lock(&fb->mu);
        if (req->body_case == RINGLOG__REQUEST__BODY_CREATE_TOPICS && fb->delay_create_ms > 0) {
            int ms = fb->delay_create_ms;
            fb->delay_create_ms = 0;
            pthread_mutex_unlock(&fb->mu);
            usleep((useconds_t)ms * 1000);
            pthread_mutex_lock(&fb->mu);
        }
        switch (req->body_case) {
        case RINGLOG__REQUEST__BODY_METADATA:
            handle_metadata(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_CREATE_TOPICS:
            handle_create(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_DELETE_TOPICS:
            handle_delete(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_PRODUCE:
            send_it = handle_produce(fb, &arena, req, &resp, &close_conn);
            break;
        case RINGLOG__REQUEST__BODY_FETCH:
            handle_fetch(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_LIST_OFFSETS:
            handle_list_offsets(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID:
            handle_init_pid(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_OFFSET_COMMIT:
            handle_offset_commit(fb, &arena, req, &resp);
            break;
        case RINGLOG__REQUEST__BODY_OFFSET_FETCH:
            handle_offset_fetch(fb, &arena, req, &resp);
            break;
        default:
            resp.error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
            resp.error_message = "unsupported by the fake broker";
            break;
        }
        size_t size = send_it ? rl_frame_size(&resp.base) : 0;
        uint8_t *out = send_it ? malloc(size) : NULL;
        if (out)
            rl_frame_write(&resp.base, out);
        pthread_mutex_unlock(&fb->mu);
        ringlog__request__free_unpacked(req, NULL);
        rl_arena_reset(&arena);
        bool ok = !out || write_full(c->fd, out, size);
        free(out);
        if (!ok || close_conn)
            break;
    }
    rl_arena_destroy(&arena);
    shutdown(c->fd, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct fake_broker *fb = arg;
    for (;;) {
        int fd = accept(fb->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        pthread_mutex_lock(&fb->mu);
        if (fb->stopping) {
            pthread_mutex_unlock(&fb->mu);
            close(fd);
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct fb_conn *c = calloc(1, sizeof(*c));
        c->fd = fd;
        c->fb = fb;
        c->next = fb->conns;
        fb->conns = c;
        pthread_create(&c->thread, NULL, conn_main, c);
        pthread_mutex_unlock(&fb->mu);
    }
    return NULL;
}

struct fake_broker *fake_broker_start(void)
{
    struct fake_broker *fb = calloc(1, sizeof(*fb));
    pthread_mutex_init(&fb->mu, NULL);
    pthread_cond_init(&fb->data, NULL);
    fb->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    if (bind(fb->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fb->listen_fd, 64) < 0 ||
        getsockname(fb->listen_fd, (struct sockaddr *)&sa, &slen) < 0) {
        close(fb->listen_fd);
        free(fb);
        return NULL;
    }
    fb->port = ntohs(sa.sin_port);
    snprintf(fb->address, sizeof(fb->address), "127.0.0.1:%d", fb->port);
    pthread_create(&fb->accept_thread, NULL, accept_main, fb);
    return fb;
}

int fake_broker_port(const struct fake_broker *fb)
{
    return fb->port;
}

const char *fake_broker_address(const struct fake_broker *fb)
{
    return fb->address;
}

void fake_broker_create_topic(struct fake_broker *fb, const char *name, uint32_t partitions)
{
    pthread_mutex_lock(&fb->mu);
    if (!find_topic(fb, name))
        add_topic(fb, name, partitions);
    pthread_mutex_unlock(&fb->mu);
}

int64_t fake_broker_record_count(struct fake_broker *fb, const char *topic, uint32_t partition)
{
    pthread_mutex_lock(&fb->mu);
    struct fb_topic *t = find_topic(fb, topic);
    int64_t n = t && partition < t->npart ? t->parts[partition].records : -1;
    pthread_mutex_unlock(&fb->mu);
    return n;
}

uint64_t fake_broker_produce_requests(struct fake_broker *fb)
{
    pthread_mutex_lock(&fb->mu);
    uint64_t n = fb->produce_requests;
    pthread_mutex_unlock(&fb->mu);
    return n;
}

uint64_t fake_broker_duplicates(struct fake_broker *fb)
{
    pthread_mutex_lock(&fb->mu);
    uint64_t n = fb->duplicates;
    pthread_mutex_unlock(&fb->mu);
    return n;
}

int fake_broker_first_codec(struct fake_broker *fb, const char *topic, uint32_t partition)
{
    pthread_mutex_lock(&fb->mu);
    struct fb_topic *t = find_topic(fb, topic);
    int codec = -1;
    if (t && partition < t->npart && t->parts[partition].nbatches > 0) {
        struct rl_batch_header h;
        rl_batch_header_read(t->parts[partition].log, t->parts[partition].len, &h);
        codec = (int)rl_batch_codec(&h);
    }
    pthread_mutex_unlock(&fb->mu);
    return codec;
}

void fake_broker_drop_produce_responses(struct fake_broker *fb, int n)
{
    pthread_mutex_lock(&fb->mu);
    fb->drop_produce = n;
    pthread_mutex_unlock(&fb->mu);
}

void fake_broker_swallow_produce_responses(struct fake_broker *fb, int n)
{
    pthread_mutex_lock(&fb->mu);
    fb->swallow_produce = n;
    pthread_mutex_unlock(&fb->mu);
}

void fake_broker_stall_next_large_request(struct fake_broker *fb, int ms)
{
    pthread_mutex_lock(&fb->mu);
    fb->stall_large_ms = ms;
    pthread_mutex_unlock(&fb->mu);
}

void fake_broker_no_controller(struct fake_broker *fb)
{
    pthread_mutex_lock(&fb->mu);
    fb->no_controller = true;
    pthread_mutex_unlock(&fb->mu);
}

void fake_broker_delay_create_topics(struct fake_broker *fb, int ms)
{
    pthread_mutex_lock(&fb->mu);
    fb->delay_create_ms = ms;
    pthread_mutex_unlock(&fb->mu);
}

/* Appends one batch as the broker stores it and wakes long-polling fetches. */
static int64_t append_built(struct fake_broker *fb, const char *topic, uint32_t partition,
                            const uint8_t *batch, size_t len)
{
    struct rl_batch_header h;
    if (rl_batch_validate_control(batch, len, len, &h) != RL_OK)
        abort();
    pthread_mutex_lock(&fb->mu);
    struct fb_topic *t = find_topic(fb, topic);
    int64_t base = -1;
    if (t && partition < t->npart) {
        base = t->parts[partition].next_offset;
        append_batch(&t->parts[partition], batch, &h);
        pthread_cond_broadcast(&fb->data);
    }
    pthread_mutex_unlock(&fb->mu);
    return base;
}

int64_t fake_broker_append_records(struct fake_broker *fb, const char *topic, uint32_t partition,
                                   int count, size_t value_len, char fill)
{
    size_t cap = 128 + (size_t)count * (value_len + 32);
    uint8_t *buf = malloc(cap);
    char *value = malloc(value_len ? value_len : 1);
    if (!buf || !value || count < 1)
        abort();
    memset(value, fill, value_len);
    struct rl_batch_producer prod = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    struct rl_batch_builder b;
    if (rl_batch_builder_init(&b, buf, cap, &prod) != RL_OK)
        abort();
    for (int i = 0; i < count; i++) {
        struct rl_record_in r = {.value = value, .value_len = value_len, .timestamp = 1000 + i};
        if (rl_batch_builder_add(&b, &r) != RL_OK)
            abort();
    }
    size_t n = rl_batch_builder_finish(&b);
    int64_t base = append_built(fb, topic, partition, buf, n);
    free(value);
    free(buf);
    return base;
}

int64_t fake_broker_append_control(struct fake_broker *fb, const char *topic, uint32_t partition,
                                   uint16_t type)
{
    uint8_t buf[256];
    struct rl_batch_producer prod = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    struct rl_batch_builder b;
    if (rl_batch_builder_init(&b, buf, sizeof(buf), &prod) != RL_OK)
        abort();
    uint8_t key[2] = {(uint8_t)type, (uint8_t)(type >> 8)};
    struct rl_record_in r = {.key = key, .key_len = sizeof(key), .timestamp = 1000};
    if (rl_batch_builder_add(&b, &r) != RL_OK)
        abort();
    size_t n = rl_batch_builder_finish(&b);
    rl_batch_make_control(buf, n);
    return append_built(fb, topic, partition, buf, n);
}

void fake_broker_fail_produce(struct fake_broker *fb, int n, int code, const char *message)
{
    pthread_mutex_lock(&fb->mu);
    fb->fail_produce = n;
    fb->fail_code = code;
    snprintf(fb->fail_message, sizeof(fb->fail_message), "%s", message);
    pthread_mutex_unlock(&fb->mu);
}

void fake_broker_fail_produce_not_leader(struct fake_broker *fb, int n)
{
    fake_broker_fail_produce(fb, n, RINGLOG__ERROR_CODE__NOT_LEADER, "injected");
}

void fake_broker_stop(struct fake_broker *fb)
{
    pthread_mutex_lock(&fb->mu);
    fb->stopping = true;
    pthread_cond_broadcast(&fb->data);
    for (struct fb_conn *c = fb->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&fb->mu);
    shutdown(fb->listen_fd, SHUT_RDWR);
    pthread_join(fb->accept_thread, NULL);
    close(fb->listen_fd);
    struct fb_conn *c = fb->conns;
    while (c) {
        struct fb_conn *next = c->next;
        pthread_join(c->thread, NULL);
        close(c->fd);
        free(c);
        c = next;
    }
    for (size_t i = 0; i < fb->ntopics; i++)
        free_topic(&fb->topics[i]);
    free(fb->topics);
    for (size_t i = 0; i < fb->noffsets; i++) {
        free(fb->offsets[i].group);
        free(fb->offsets[i].topic);
    }
    free(fb->offsets);
    pthread_mutex_destroy(&fb->mu);
    pthread_cond_destroy(&fb->data);
    free(fb);
}
