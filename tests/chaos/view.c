/* Metadata and topic creation over the raw wire (tests/common/wire.h). */
#include "view.h"

#include <assert.h>
#include <stdio.h>
#include <unistd.h>

#include "wire.h"

int view_topic(const struct chaos_node *n, struct view_part *out, int count)
{
    assert(count > 0);
    if (n->proc.pid <= 0 || n->paused)
        return -1;
    int fd = wire_connect(n->port);
    if (fd < 0)
        return -1;
    Ringlog__Response *r = wire_metadata(fd, CHAOS_TOPIC);
    close(fd);
    int rc = -1;
    if (r && r->body_case == RINGLOG__RESPONSE__BODY_METADATA && r->metadata->n_topics == 1 &&
        r->metadata->topics[0]->error == 0 &&
        r->metadata->topics[0]->n_partitions == (size_t)count) {
        Ringlog__TopicMetadata *t = r->metadata->topics[0];
        for (size_t i = 0; i < t->n_partitions; i++) {
            Ringlog__PartitionMetadata *pm = t->partitions[i];
            assert(pm->partition < (uint32_t)count);
            out[pm->partition] =
                (struct view_part){pm->leader, pm->high_watermark, pm->log_end_offset};
        }
        rc = 0;
    }
    if (r)
        ringlog__response__free_unpacked(r, NULL);
    return rc;
}

int view_create_topic(const struct chaos_cluster *c, int partitions, int timeout_ms)
{
    int64_t deadline = chaos_now_ms() + timeout_ms;
    for (int attempt = 0; chaos_now_ms() < deadline; attempt++) {
        int fd = wire_connect(c->nodes[attempt % CHAOS_NODES].port);
        Ringlog__Response *r =
            fd >= 0 ? wire_create_topic_replicated(fd, CHAOS_TOPIC, (uint32_t)partitions, 3) : NULL;
        if (fd >= 0)
            close(fd);
        int err = r ? wire_first_error(r) : -1;
        if (r)
            ringlog__response__free_unpacked(r, NULL);
        if (err == RINGLOG__ERROR_CODE__NONE)
            return 0;
        if (err != RINGLOG__ERROR_CODE__NOT_CONTROLLER && err != -1) {
            chaos_fail("create topic: error %d", err);
            return -1;
        }
        usleep(100 * 1000);
    }
    chaos_fail("create topic: no controller took it within %d ms", timeout_ms);
    return -1;
}
