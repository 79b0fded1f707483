#include "wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "frame.h"

static uint64_t next_correlation = 1;

int wire_connect(uint16_t port)
{
    return wire_connect_from(NULL, port);
}

int wire_connect_from(const char *source, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && source) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        inet_pton(AF_INET, source, &src.sin_addr);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int wire_send_raw(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int wire_send(int fd, Ringlog__Request *req)
{
    if (req->correlation_id == 0)
        req->correlation_id = next_correlation++;
    if (req->api_version == 0)
        req->api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    size_t size = rl_frame_size(&req->base);
    uint8_t *buf = malloc(size);
    rl_frame_write(&req->base, buf);
    int rc = wire_send_raw(fd, buf, size);
    free(buf);
    return rc;
}

static int read_exact(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
    while (len > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        ssize_t n = recv(fd, buf, len, 0);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Called for each (error, error_message) pair found; false stops the walk. */
typedef bool (*error_visit)(int code, const char *text, const char *where, void *ctx);

/*
 * Visits every message inside m that carries an `error` and an
 * `error_message`, depth first, through protobuf-c's descriptors, so that
 * every response type, present and future, is covered. False when a
 * visit stopped the walk.
 */
static bool walk_errors(const ProtobufCMessage *m, error_visit visit, void *ctx)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const ProtobufCFieldDescriptor *ef =
        protobuf_c_message_descriptor_get_field_by_name(d, "error");
    const ProtobufCFieldDescriptor *mf =
        protobuf_c_message_descriptor_get_field_by_name(d, "error_message");
    if (ef && mf && ef->type == PROTOBUF_C_TYPE_ENUM && mf->type == PROTOBUF_C_TYPE_STRING &&
        !visit(*(const int *)((const char *)m + ef->offset),
               *(char *const *)((const char *)m + mf->offset), d->name, ctx))
        return false;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *field = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)field;
            for (size_t k = 0; k < n; k++)
                if (!walk_errors(items[k], visit, ctx))
                    return false;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)field;
        if (sub && !walk_errors(sub, visit, ctx))
            return false;
    }
    return true;
}

/* Stops at an error without a message, naming where it is. */
static bool explained(int code, const char *text, const char *where, void *ctx)
{
    if (code != 0 && (text == NULL || text[0] == '\0')) {
        *(const char **)ctx = where;
        return false;
    }
    return true;
}

/* Stops at the first error, keeping its code. */
static bool first_error(int code, const char *text, const char *where, void *ctx)
{
    (void)text;
    (void)where;
    *(int *)ctx = code;
    return code == 0;
}

int wire_first_error(const Ringlog__Response *resp)
{
    int code = 0;
    walk_errors(&resp->base, first_error, &code);
    return code;
}

Ringlog__Response *wire_recv(int fd, int timeout_ms)
{
    uint8_t hdr[4];
    if (read_exact(fd, hdr, 4, timeout_ms) != 0)
        return NULL;
    uint32_t len =
        ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
    uint8_t *body = malloc(len ? len : 1);
    if (read_exact(fd, body, len, timeout_ms) != 0) {
        free(body);
        return NULL;
    }
    int status;
    Ringlog__Response *resp = rl_response_decode(body, len, NULL, &status);
    free(body);
    const char *where = NULL;
    if (resp && !walk_errors(&resp->base, explained, &where)) {
        /* Every test that reaches an error path checks this promise. */
        fprintf(stderr, "wire: an error in %s came without a message\n", where);
        abort();
    }
    return resp;
}

int wire_peer_closed(int fd, int timeout_ms)
{
    uint8_t buf[4096];
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        clock_gettime(CLOCK_MONOTONIC, &now);
        int elapsed =
            (int)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (elapsed >= timeout_ms || poll(&p, 1, timeout_ms - elapsed) <= 0)
            return 0;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return 1;
    }
}

Ringlog__Response *wire_call(int fd, Ringlog__Request *req)
{
    if (wire_send(fd, req) != 0)
        return NULL;
    return wire_recv(fd, 10000);
}

Ringlog__Response *wire_create_topic(int fd, const char *name, uint32_t partitions)
{
    return wire_create_topic_segments(fd, name, partitions, 0);
}

Ringlog__Response *wire_create_topic_segments(int fd, const char *name, uint32_t partitions,
                                              int64_t segment_bytes)
{
    return wire_create_topic_with(fd, name, partitions, 0, segment_bytes);
}

static Ringlog__Response *create_topic_request(int fd, const char *name, uint32_t partitions,
                                               uint32_t replication_factor, int64_t segment_bytes,
                                               int64_t retention_ms)
{
    Ringlog__TopicConfig config = RINGLOG__TOPIC_CONFIG__INIT;
    config.segment_bytes = segment_bytes;
    config.retention_ms = retention_ms;
    bool any = segment_bytes != 0 || retention_ms != 0;
    return wire_create_topic_full(fd, name, partitions, replication_factor, any ? &config : NULL);
}

Ringlog__Response *wire_create_topic_with(int fd, const char *name, uint32_t partitions,
                                          uint32_t replication_factor, int64_t segment_bytes)
{
    return create_topic_request(fd, name, partitions, replication_factor, segment_bytes, 0);
}

Ringlog__Response *wire_create_topic_config(int fd, const char *name, uint32_t partitions,
                                            int64_t segment_bytes, int64_t retention_ms)
{
    return create_topic_request(fd, name, partitions, 0, segment_bytes, retention_ms);
}

Ringlog__Response *wire_create_topic_replicated(int fd, const char *name, uint32_t partitions,
                                                uint32_t rf)
{
    return create_topic_request(fd, name, partitions, rf, 0, -1);
}

Ringlog__Response *wire_metadata(int fd, const char *topic)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__MetadataRequest md = RINGLOG__METADATA_REQUEST__INIT;
    char *topics[1] = {(char *)topic};
    if (topic) {
        md.n_topics = 1;
        md.topics = topics;
    }
    req.body_case = RINGLOG__REQUEST__BODY_METADATA;
    req.metadata = &md;
    return wire_call(fd, &req);
}

Ringlog__Response *wire_create_topic_full(int fd, const char *name, uint32_t partitions,
                                          uint32_t replication_factor,
                                          const Ringlog__TopicConfig *config)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__CreateTopicsRequest ct = RINGLOG__CREATE_TOPICS_REQUEST__INIT;
    Ringlog__CreatableTopic topic = RINGLOG__CREATABLE_TOPIC__INIT;
    Ringlog__CreatableTopic *topics[1] = {&topic};
    topic.name = (char *)name;
    topic.partitions = partitions;
    topic.replication_factor = replication_factor;
    topic.config = (Ringlog__TopicConfig *)config;
    ct.n_topics = 1;
    ct.topics = topics;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_TOPICS;
    req.create_topics = &ct;
    return wire_call(fd, &req);
}

Ringlog__Response *wire_delete_topic(int fd, const char *name)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__DeleteTopicsRequest dt = RINGLOG__DELETE_TOPICS_REQUEST__INIT;
    char *names[1] = {(char *)name};
    dt.n_names = 1;
    dt.names = names;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_TOPICS;
    req.delete_topics = &dt;
    return wire_call(fd, &req);
}

/* Sends a produce request of one batch at `version` (0: the current one); with wait, reads
 * its response. */
/* A produce request of one partition's records, in caller storage (valid while they are). */
struct produce_req {
    Ringlog__Request req;
    Ringlog__ProduceRequest pr;
    Ringlog__TopicProduceData td;
    Ringlog__PartitionProduceData pd;
    Ringlog__PartitionProduceData *pds[1];
    Ringlog__TopicProduceData *tds[1];
};

static void produce_req_fill(struct produce_req *q, const char *topic, uint32_t partition,
                             int32_t acks, uint32_t version, const uint8_t *records, size_t len)
{
    ringlog__request__init(&q->req);
    ringlog__produce_request__init(&q->pr);
    ringlog__topic_produce_data__init(&q->td);
    ringlog__partition_produce_data__init(&q->pd);
    q->pds[0] = &q->pd;
    q->tds[0] = &q->td;
    q->pd.partition = partition;
    q->pd.records.data = (uint8_t *)records;
    q->pd.records.len = len;
    q->td.topic = (char *)topic;
    q->td.n_partitions = 1;
    q->td.partitions = q->pds;
    q->pr.acks = acks;
    q->pr.timeout_ms = 10000;
    q->pr.n_topics = 1;
    q->pr.topics = q->tds;
    q->req.api_version = version;
    q->req.body_case = RINGLOG__REQUEST__BODY_PRODUCE;
    q->req.produce = &q->pr;
}

size_t wire_produce_frame(uint8_t *out, const char *topic, uint32_t partition, int32_t acks,
                          int32_t correlation_id, const uint8_t *records, size_t len)
{
    struct produce_req q;
    produce_req_fill(&q, topic, partition, acks, 1, records, len);
    q.req.correlation_id = correlation_id;
    return rl_frame_write(&q.req.base, out);
}

static Ringlog__Response *produce_request_version(int fd, const char *topic, uint32_t partition,
                                                  int32_t acks, uint32_t version,
                                                  const uint8_t *records, size_t len, bool wait)
{
    struct produce_req q;
    produce_req_fill(&q, topic, partition, acks, version, records, len);
    if (!wait) {
        wire_send(fd, &q.req);
        return NULL;
    }
    return wire_call(fd, &q.req);
}

/* The same at the current version. */
static Ringlog__Response *produce_request(int fd, const char *topic, uint32_t partition,
                                          int32_t acks, const uint8_t *records, size_t len,
                                          bool wait)
{
    return produce_request_version(fd, topic, partition, acks, 0, records, len, wait);
}

Ringlog__Response *wire_produce(int fd, const char *topic, uint32_t partition, int32_t acks,
                                const uint8_t *records, size_t len)
{
    /* acks=0: no answer comes */
    return produce_request(fd, topic, partition, acks, records, len, acks != 0);
}

void wire_send_produce(int fd, const char *topic, uint32_t partition, const uint8_t *records,
                       size_t len)
{
    produce_request(fd, topic, partition, 1, records, len, false);
}

void wire_send_produce_as(int fd, const char *topic, uint32_t partition, int32_t acks,
                          uint32_t api_version, const uint8_t *records, size_t len)
{
    produce_request_version(fd, topic, partition, acks, api_version, records, len, false);
}

int wire_http_get(uint16_t port, const char *path, char *out, size_t out_len)
{
    int fd = wire_connect(port);
    if (fd < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0;
    ssize_t r;
    while (len < out_len - 1 && (r = read(fd, out + len, out_len - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    return 0;
}

uint16_t wire_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

Ringlog__Response *wire_fetch(int fd, const char *topic, uint32_t partition, int64_t offset,
                              uint32_t max_wait_ms, uint32_t min_bytes)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__FetchRequest fr = RINGLOG__FETCH_REQUEST__INIT;
    Ringlog__FetchTopic ft = RINGLOG__FETCH_TOPIC__INIT;
    Ringlog__FetchPartition fp = RINGLOG__FETCH_PARTITION__INIT;
    Ringlog__FetchPartition *fps[1] = {&fp};
    Ringlog__FetchTopic *fts[1] = {&ft};
    fp.partition = partition;
    fp.fetch_offset = offset;
    fp.max_bytes = 1 << 20;
    ft.topic = (char *)topic;
    ft.n_partitions = 1;
    ft.partitions = fps;
    fr.max_wait_ms = max_wait_ms;
    fr.min_bytes = min_bytes;
    fr.max_bytes = 4 << 20;
    fr.n_topics = 1;
    fr.topics = fts;
    req.body_case = RINGLOG__REQUEST__BODY_FETCH;
    req.fetch = &fr;
    return wire_call(fd, &req);
}

size_t wire_build_batch(uint8_t *buf, size_t cap, const char *prefix, int n, int64_t producer_id,
                        int16_t epoch, int32_t base_sequence)
{
    struct rl_batch_producer p = {producer_id, epoch, base_sequence};
    struct rl_batch_builder b;
    rl_batch_builder_init(&b, buf, cap, producer_id >= 0 ? &p : NULL);
    for (int i = 0; i < n; i++) {
        char value[128];
        int len = snprintf(value, sizeof(value), "%s-%d", prefix, i);
        struct rl_record_in r = {.key = NULL,
                                 .value = value,
                                 .value_len = (size_t)len,
                                 .timestamp = 1700000000000LL + i};
        if (rl_batch_builder_add(&b, &r) != RL_OK)
            break;
    }
    return rl_batch_builder_finish(&b);
}

Ringlog__Response *wire_init_producer_id(int fd, int64_t producer_id, int32_t epoch)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__InitProducerIdRequest ip = RINGLOG__INIT_PRODUCER_ID_REQUEST__INIT;
    ip.producer_id = producer_id;
    ip.producer_epoch = epoch;
    req.body_case = RINGLOG__REQUEST__BODY_INIT_PRODUCER_ID;
    req.init_producer_id = &ip;
    return wire_call(fd, &req);
}

Ringlog__Response *wire_list_offsets(int fd, const char *topic, uint32_t partition,
                                     int64_t timestamp)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__ListOffsetsRequest lo = RINGLOG__LIST_OFFSETS_REQUEST__INIT;
    Ringlog__ListOffsetsTopic lt = RINGLOG__LIST_OFFSETS_TOPIC__INIT;
    Ringlog__ListOffsetsPartition lp = RINGLOG__LIST_OFFSETS_PARTITION__INIT;
    Ringlog__ListOffsetsPartition *lps[1] = {&lp};
    Ringlog__ListOffsetsTopic *lts[1] = {&lt};
    lp.partition = partition;
    lp.timestamp = timestamp;
    lt.topic = (char *)topic;
    lt.n_partitions = 1;
    lt.partitions = lps;
    lo.n_topics = 1;
    lo.topics = lts;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_OFFSETS;
    req.list_offsets = &lo;
    return wire_call(fd, &req);
}

size_t wire_kv_round(uint8_t *buf, size_t cap, int keys, int round)
{
    struct rl_batch_builder b;
    if (rl_batch_builder_init(&b, buf, cap, NULL) != RL_OK)
        return 0;
    for (int k = 0; k < keys; k++) {
        char key[8], value[16];
        snprintf(key, sizeof(key), "k%02d", k);
        snprintf(value, sizeof(value), "r%d", round);
        struct rl_record_in rec = {.key = key,
                                   .key_len = strlen(key),
                                   .value = value,
                                   .value_len = strlen(value),
                                   .timestamp = (int64_t)time(NULL) * 1000};
        if (rl_batch_builder_add(&b, &rec) != RL_OK)
            return 0;
    }
    return rl_batch_builder_finish(&b);
}
