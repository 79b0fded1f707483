/* Reading a whole replica through Fetch, control batches included (consumers skip them). */
#include "check_read.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "wire.h"
#include "workload.h"

static void keep_bytes(struct replica *r, const uint8_t *b, size_t len)
{
    if (r->len + len > r->cap) {
        r->cap = (r->len + len) * 2;
        r->bytes = realloc(r->bytes, r->cap);
        assert(r->bytes);
    }
    memcpy(r->bytes + r->len, b, len);
    r->len += len;
}

/* Notes the ids of one batch's offsets; false when its records do not parse. */
static bool note_batch(struct replica *r, const uint8_t *b, const struct rl_batch_header *h)
{
    int64_t last = rl_batch_last_offset(h);
    assert(last < r->hw);
    for (int64_t o = h->base_offset; o <= last; o++) {
        r->ids[o] = rl_batch_is_control(h) ? REPLICA_CONTROL : REPLICA_UNPARSABLE;
        r->epoch[o] = h->leader_epoch;
        r->ts[o] = h->first_timestamp;
    }
    if (rl_batch_is_control(h))
        return true;
    struct rl_record_iter it;
    struct rl_record rec;
    if (rl_record_iter_init(&it, b, h) != RL_OK)
        return false;
    while (rl_record_iter_next(&it, &rec) == RL_OK) {
        struct wl_id id;
        int64_t o = h->base_offset + rec.offset_delta;
        if (o > last)
            return false;
        if (rec.value_len > 0 && wl_parse(rec.value, (size_t)rec.value_len, &id))
            r->ids[o] = wl_pack(id);
        r->ts[o] = rec.timestamp;
    }
    return true;
}

/* Takes the batches of one fetch answer; returns the next offset, or -1 on a bad batch. */
static int64_t take(struct replica *r, const struct chaos_node *n, int partition, int64_t offset,
                    const ProtobufCBinaryData *records)
{
    struct rl_batch_iter it;
    const uint8_t *b;
    struct rl_batch_header h;
    rl_batch_iter_init(&it, records->data, records->len, 1 << 24);
    it.allow_control = true;
    size_t before = 0;
    while (offset < r->hw && rl_batch_iter_next(&it, &b, &h) == RL_OK) {
        size_t end = rl_batch_iter_pos(&it);
        if (h.base_offset != offset || rl_batch_last_offset(&h) >= r->hw || !note_batch(r, b, &h)) {
            chaos_fail("node %d partition %d: batch at %" PRId64 " (last %" PRId64
                       ") where offset %" PRId64 " was due (hw %" PRId64 ")",
                       n->id, partition, h.base_offset, rl_batch_last_offset(&h), offset, r->hw);
            return -1;
        }
        keep_bytes(r, records->data + before, end - before);
        before = end;
        offset = rl_batch_last_offset(&h) + 1;
    }
    return offset;
}

int replica_read(const struct chaos_node *n, int partition, struct replica *r)
{
    memset(r, 0, sizeof(*r));
    r->hw = -1;
    int fd = wire_connect(n->port);
    int64_t offset = 0;
    for (int guard = 0; fd >= 0 && guard < 100000; guard++) {
        Ringlog__Response *resp = wire_fetch(fd, CHAOS_TOPIC, (uint32_t)partition, offset, 0, 0);
        int err = resp ? wire_first_error(resp) : -1;
        if (err == RINGLOG__ERROR_CODE__STORAGE_ERROR && guard < 150) {
            /* Retriable: a batch here waits for its repair from a replica (--flips). */
            ringlog__response__free_unpacked(resp, NULL);
            usleep(100 * 1000);
            continue;
        }
        if (err != 0) {
            chaos_fail("node %d partition %d: fetch at %" PRId64 ": error %d", n->id, partition,
                       offset, err);
            if (resp)
                ringlog__response__free_unpacked(resp, NULL);
            break;
        }
        Ringlog__FetchPartitionResult *pr = resp->fetch->topics[0]->partitions[0];
        if (r->hw < 0) {
            r->hw = pr->high_watermark;
            r->ids = calloc((size_t)r->hw + 1, sizeof(*r->ids));
            r->epoch = calloc((size_t)r->hw + 1, sizeof(*r->epoch));
            r->ts = calloc((size_t)r->hw + 1, sizeof(*r->ts));
            assert(r->ids && r->epoch && r->ts);
        }
        int64_t next = offset < r->hw ? take(r, n, partition, offset, &pr->records) : offset;
        ringlog__response__free_unpacked(resp, NULL);
        if (next < 0 || next >= r->hw) {
            close(fd);
            return next < 0 ? -1 : 0;
        }
        if (next == offset) {
            chaos_fail("node %d partition %d: fetch at %" PRId64 " below hw %" PRId64
                       " returned no batch",
                       n->id, partition, offset, r->hw);
            break;
        }
        offset = next;
    }
    if (fd < 0)
        chaos_fail("node %d: cannot connect to read partition %d", n->id, partition);
    else
        close(fd);
    return -1;
}

void replica_free(struct replica *r)
{
    free(r->bytes);
    free(r->ids);
    free(r->epoch);
    free(r->ts);
    memset(r, 0, sizeof(*r));
}

static void id_text(uint64_t id, char *out, size_t len)
{
    if (id == REPLICA_CONTROL || id == REPLICA_UNPARSABLE) {
        snprintf(out, len, "%s", id == REPLICA_CONTROL ? "a control batch" : "a foreign record");
        return;
    }
    id--;
    snprintf(out, len, "c%u.%u.%u", (unsigned)(id >> 48), (unsigned)(id >> 32) & 0xffff,
             (unsigned)id);
}

void replica_describe(const struct replica *r, int64_t offset, char *out, size_t len)
{
    if (offset < 0 || offset >= r->hw) {
        snprintf(out, len, "offset %" PRId64 " (past the hw %" PRId64 ")", offset, r->hw);
        return;
    }
    char what[48];
    id_text(r->ids[offset], what, sizeof(what));
    if (r->ids[offset] == REPLICA_CONTROL)
        snprintf(out, len, "offset %" PRId64 " (epoch %d) holds %s", offset, r->epoch[offset],
                 what);
    else
        snprintf(out, len, "offset %" PRId64 " (epoch %d, produced at %.3f s) holds %s", offset,
                 r->epoch[offset], (double)(r->ts[offset] - chaos_wall_start_ms()) / 1000.0, what);
}

void replica_find(const struct replica *r, uint64_t id, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (int64_t o = 0; o < r->hw && n + 24 < len; o++)
        if (r->ids[o] == id)
            n += (size_t)snprintf(out + n, len - n, "%s%" PRId64, n ? ", " : "offsets ", o);
    if (n == 0)
        snprintf(out, len, "nowhere");
}
