/* Client-side steps on a test cluster (cluster_ops.h). */
#include "cluster_ops.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "wire.h"

int ops_controller_call(struct node *nodes, int n, Ringlog__Request *req)
{
    int64_t deadline = now_ms() + 20000;
    for (int attempt = 0; now_ms() < deadline; attempt++) {
        struct node *x = &nodes[attempt % n];
        if (x->b.pid <= 0)
            continue;
        int fd = wire_connect(x->port);
        cr_assert(fd >= 0);
        req->correlation_id = 0;
        Ringlog__Response *r = wire_call(fd, req);
        close(fd);
        cr_assert_not_null(r);
        int err = wire_first_error(r);
        ringlog__response__free_unpacked(r, NULL);
        if (err != RINGLOG__ERROR_CODE__NOT_CONTROLLER)
            return err;
        usleep(50 * 1000);
    }
    cr_assert_fail("no controller answered within 20 s");
    return -1;
}

void ops_create_with(struct node *nodes, int n, const char *topic, uint32_t partitions, uint32_t rf,
                     const Ringlog__TopicConfig *cfg)
{
    Ringlog__TopicConfig defaults = RINGLOG__TOPIC_CONFIG__INIT;
    defaults.retention_ms = -1; /* as wire_create_topic_replicated asks */
    Ringlog__CreatableTopic ct = RINGLOG__CREATABLE_TOPIC__INIT;
    Ringlog__CreatableTopic *cts[1] = {&ct};
    ct.name = (char *)topic;
    ct.partitions = partitions;
    ct.replication_factor = rf;
    ct.config = (Ringlog__TopicConfig *)(cfg ? cfg : &defaults);
    Ringlog__CreateTopicsRequest c = RINGLOG__CREATE_TOPICS_REQUEST__INIT;
    c.n_topics = 1;
    c.topics = cts;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_TOPICS;
    req.create_topics = &c;
    int err = ops_controller_call(nodes, n, &req);
    /* TOPIC_EXISTS: an attempt answered NOT_CONTROLLER (its controller lost leadership while
     * the record was committing) created it. Tests create each name once on a new cluster. */
    cr_assert(err == RINGLOG__ERROR_CODE__NONE || err == RINGLOG__ERROR_CODE__TOPIC_EXISTS,
              "create %s: error %d", topic, err);
}

void ops_create(struct node *nodes, int n, const char *topic, uint32_t partitions, uint32_t rf)
{
    ops_create_with(nodes, n, topic, partitions, rf, NULL);
}

int ops_reassign_error(struct node *nodes, int n, const char *topic, uint32_t partition,
                       const int *ids, int count)
{
    int32_t reps[8];
    cr_assert(count >= 1 && count <= 8);
    for (int i = 0; i < count; i++)
        reps[i] = ids[i];
    Ringlog__PartitionMove m = RINGLOG__PARTITION_MOVE__INIT;
    Ringlog__PartitionMove *mp = &m;
    m.topic = (char *)topic;
    m.partition = partition;
    m.n_replicas = (size_t)count;
    m.replicas = reps;
    Ringlog__ReassignPartitionsRequest rr = RINGLOG__REASSIGN_PARTITIONS_REQUEST__INIT;
    rr.n_moves = 1;
    rr.moves = &mp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_REASSIGN_PARTITIONS;
    req.reassign_partitions = &rr;
    return ops_controller_call(nodes, n, &req);
}

void ops_reassign(struct node *nodes, int n, const char *topic, uint32_t partition, const int *ids,
                  int count)
{
    int err = ops_reassign_error(nodes, n, topic, partition, ids, count);
    cr_assert_eq(err, RINGLOG__ERROR_CODE__NONE, "reassign %s-%u: error %d", topic, partition, err);
}

int ops_leader_seen_by(const struct node *x, const char *topic, int64_t *end, int64_t *hw)
{
    int fd = wire_connect(x->port);
    if (fd < 0)
        return -1;
    Ringlog__Response *r = wire_metadata(fd, topic);
    close(fd);
    int leader = -1;
    if (r && r->body_case == RINGLOG__RESPONSE__BODY_METADATA && r->metadata->n_topics == 1 &&
        r->metadata->topics[0]->error == 0 && r->metadata->topics[0]->n_partitions > 0) {
        Ringlog__PartitionMetadata *pm = r->metadata->topics[0]->partitions[0];
        leader = pm->n_replicas > 0 ? pm->leader : -1;
        if (end)
            *end = pm->log_end_offset;
        if (hw)
            *hw = pm->high_watermark;
    }
    if (r)
        ringlog__response__free_unpacked(r, NULL);
    return leader;
}

/* Partition 0's first replica (its preferred leader) as node x says; -1 before it knows. */
static int preferred(const struct node *x, const char *topic)
{
    int fd = wire_connect(x->port);
    cr_assert(fd >= 0);
    Ringlog__Response *r = wire_metadata(fd, topic);
    close(fd);
    cr_assert_not_null(r);
    int first = -1;
    if (r->body_case == RINGLOG__RESPONSE__BODY_METADATA && r->metadata->n_topics == 1 &&
        r->metadata->topics[0]->n_partitions > 0 &&
        r->metadata->topics[0]->partitions[0]->n_replicas > 0)
        first = r->metadata->topics[0]->partitions[0]->replicas[0];
    ringlog__response__free_unpacked(r, NULL);
    return first;
}

/* The live node of that id, or NULL. */
static const struct node *live_node(const struct node *nodes, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (nodes[i].id == id && nodes[i].b.pid > 0)
            return &nodes[i];
    return NULL;
}

int ops_wait_leader(struct node *nodes, int n, const char *topic, int not, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        int agreed = -1;
        bool all = true;
        for (int i = 0; i < n; i++) {
            if (nodes[i].b.pid <= 0)
                continue;
            int l = ops_leader_seen_by(&nodes[i], topic, NULL, NULL);
            if (l < 0 || l == not || (agreed >= 0 && l != agreed))
                all = false;
            agreed = l;
        }
        if (all && agreed > 0 && live_node(nodes, n, agreed))
            return agreed;
        usleep(20 * 1000);
    }
    return -1;
}

int ops_wait_settled(struct node *nodes, int n, const char *topic)
{
    int want = -1;
    int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        want = want > 0 ? want : preferred(&nodes[0], topic);
        bool all = want > 0;
        for (int i = 0; i < n && all; i++)
            if (nodes[i].b.pid > 0 && ops_leader_seen_by(&nodes[i], topic, NULL, NULL) != want)
                all = false;
        if (all)
            return want;
        usleep(50 * 1000);
    }
    cr_assert_fail("leadership of %s did not settle on its preferred replica %d", topic, want);
    return -1;
}

bool ops_wait_hw(const struct node *x, const char *topic, int64_t hw)
{
    int64_t deadline = now_ms() + 15000, end = 0, got = -1;
    while (now_ms() < deadline) {
        ops_leader_seen_by(x, topic, &end, &got);
        if (got >= hw)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

int ops_produce(const struct node *x, const char *topic, int seq)
{
    return ops_produce_acks(x, topic, seq, -1);
}

int ops_produce_acks(const struct node *x, const char *topic, int seq, int32_t acks)
{
    uint8_t batch[4096];
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "m%d", seq);
    size_t len = wire_build_batch(batch, sizeof(batch), prefix, 3, -1, -1, -1);
    int fd = wire_connect(x->port);
    if (fd < 0)
        return -1;
    Ringlog__Response *r = wire_produce(fd, topic, 0, acks, batch, len);
    close(fd);
    if (!r)
        return -1;
    int err = wire_first_error(r);
    ringlog__response__free_unpacked(r, NULL);
    return err;
}

/* Counts the seq of every data batch in records; returns the offset after the last batch. */
static int64_t count_batches(const uint8_t *data, size_t len, int64_t offset, int *seen,
                             int max_seq, size_t *got)
{
    struct rl_batch_iter it;
    const uint8_t *b;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, data, len, 1 << 24);
    it.allow_control = true;
    *got = 0;
    while (rl_batch_iter_next(&it, &b, &h) == RL_OK) {
        (*got)++;
        cr_assert_eq(h.base_offset, offset, "offsets are gap-free: %lld after %lld",
                     (long long)h.base_offset, (long long)offset);
        offset = rl_batch_last_offset(&h) + 1;
        if (h.attributes & RL_BATCH_ATTR_CONTROL)
            continue;
        struct rl_record_iter ri;
        struct rl_record rec;
        cr_assert_eq(rl_record_iter_init(&ri, b, &h), RL_OK);
        cr_assert_eq(rl_record_iter_next(&ri, &rec), RL_OK);
        int seq = atoi((const char *)rec.value + 1);
        cr_assert(seq >= 0 && seq < max_seq);
        seen[seq]++;
    }
    return offset;
}

int64_t ops_read_all(const struct node *x, const char *topic, int *seen, int max_seq)
{
    int fd = wire_connect(x->port);
    cr_assert(fd >= 0);
    int64_t offset = 0, hw = -1;
    for (int guard = 0; guard < 10000; guard++) {
        Ringlog__Response *r = wire_fetch(fd, topic, 0, offset, 0, 0);
        cr_assert_not_null(r);
        cr_assert_eq(wire_first_error(r), 0, "fetch at %lld from node %d", (long long)offset,
                     x->id);
        Ringlog__FetchPartitionResult *pr = r->fetch->topics[0]->partitions[0];
        hw = pr->high_watermark;
        size_t got;
        offset = count_batches(pr->records.data, pr->records.len, offset, seen, max_seq, &got);
        ringlog__response__free_unpacked(r, NULL);
        if (got == 0 && offset >= hw)
            break;
        cr_assert_gt(got, 0, "no progress at %lld below hw %lld", (long long)offset, (long long)hw);
    }
    close(fd);
    return hw;
}

int ops_fetch_error(const struct node *x, const char *topic, int64_t offset, size_t *records_len)
{
    int fd = wire_connect(x->port);
    cr_assert(fd >= 0);
    Ringlog__Response *r = wire_fetch(fd, topic, 0, offset, 0, 0);
    close(fd);
    cr_assert_not_null(r);
    int err = wire_first_error(r);
    if (records_len)
        *records_len = err == 0 ? r->fetch->topics[0]->partitions[0]->records.len : 0;
    ringlog__response__free_unpacked(r, NULL);
    return err;
}

void ops_segment_path(const struct node *x, const char *topic, char *out, size_t cap)
{
    snprintf(out, cap, "%s/topics/%s/0/%020d.log", x->dir, topic, 0);
}

uint32_t ops_segment_batches(const char *path, struct seg_batch *out, uint32_t max)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "%s", path);
    uint64_t pos = 0;
    uint32_t n = 0;
    uint8_t hb[RL_BATCH_HEADER_BYTES];
    struct rl_batch_header h;
    while (n < max && pread(fd, hb, sizeof(hb), (off_t)pos) == (ssize_t)sizeof(hb) &&
           rl_batch_header_read(hb, sizeof(hb), &h) == RL_OK && h.magic == RL_BATCH_MAGIC) {
        out[n++] = (struct seg_batch){.base = h.base_offset,
                                      .last = rl_batch_last_offset(&h),
                                      .pos = pos,
                                      .len = (uint32_t)rl_batch_total_bytes(&h),
                                      .control = rl_batch_is_control(&h)};
        pos += rl_batch_total_bytes(&h);
    }
    close(fd);
    return n;
}

struct seg_batch ops_data_batch(const char *path, int n)
{
    static struct seg_batch all[4096];
    uint32_t count = ops_segment_batches(path, all, 4096);
    for (uint32_t i = 0; i < count; i++)
        if (!all[i].control && n-- == 0)
            return all[i];
    cr_assert_fail("no data batch %d in %s", n, path);
    return all[0];
}

uint64_t ops_data_end(const char *path, int64_t upto)
{
    static struct seg_batch all[4096];
    uint32_t count = ops_segment_batches(path, all, 4096);
    uint64_t end = 0;
    for (uint32_t i = 0; i < count && all[i].base < upto; i++)
        end = all[i].pos + all[i].len;
    return end;
}

uint8_t *ops_file_prefix(const char *path, size_t len)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "%s", path);
    uint8_t *b = malloc(len + 1);
    bool whole = pread(fd, b, len, 0) == (ssize_t)len;
    close(fd);
    if (!whole) {
        free(b);
        return NULL;
    }
    return b;
}
