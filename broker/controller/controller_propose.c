/*
 * Proposing metadata records (controller.h): on the metadata group's
 * leader, a CreateTopics or DeleteTopics topic becomes one ClusterRecord
 * in a batch of its own, produced to the metadata partition with acks=all
 * through the partition tier like any produce; the call is answered once
 * the record is committed and applied on this broker.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "controller.h"
#include "controller_internal.h"
#include "io/clock.h"
#include "partition/replica.h"
#include "ringlog.pb-c.h"
#include "server.h"
#include "shard.h"

static void call_end(struct controller_call *c, int error, const char *message)
{
    free(c->batch);
    c->batch = NULL;
    c->error = error;
    c->message = message;
    c->done(c);
}

static void proposed(struct partition_produce *pp)
{
    struct controller_call *c = rl_container_of(pp, struct controller_call, pp);
    if (pp->result.error != PARTITION_OK) {
        call_end(c, RINGLOG__ERROR_CODE__NOT_CONTROLLER,
                 "leadership of the metadata log moved while proposing: ask the controller "
                 "Metadata names");
        return;
    }
    free(c->batch);
    c->batch = NULL;
    c->offset = pp->base_offset;
    controller_wait_applied(c->ctl, c);
}

void controller_propose(struct shard *s, struct controller_call *c, const ProtobufCMessage *rec)
{
    struct controller *ctl = s->controller;
    c->ctl = ctl;
    c->batch = NULL;
    c->error = RINGLOG__ERROR_CODE__NONE;
    c->message = NULL;
    struct partition *meta = controller_meta(ctl);
    if (!meta || !meta->replica || !replica_is_leader(meta->replica)) {
        call_end(c, RINGLOG__ERROR_CODE__NOT_CONTROLLER,
                 "this broker is not the controller: send it to Metadata's controller_id");
        return;
    }
    size_t vlen = protobuf_c_message_get_packed_size(rec);
    size_t cap = vlen + 256;
    uint8_t *value = malloc(vlen ? vlen : 1);
    c->batch = malloc(cap);
    if (!value || !c->batch) {
        free(value);
        call_end(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    protobuf_c_message_pack(rec, value);
    struct rl_batch_producer none = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    struct rl_batch_builder b;
    struct rl_record_in r = {.value = value, .value_len = vlen, .timestamp = clock_realtime_ms()};
    size_t n = 0;
    if (rl_batch_builder_init(&b, c->batch, cap, &none) == RL_OK &&
        rl_batch_builder_add(&b, &r) == RL_OK)
        n = rl_batch_builder_finish(&b);
    free(value);
    assert(n > 0);
    memset(&c->pp, 0, sizeof(c->pp));
    c->pp.data = c->batch;
    c->pp.len = n;
    c->pp.acks = -1;
    c->pp.done = proposed;
    partition_produce(meta, &c->pp);
}

/* This broker, or a peer whose link to this broker (the controller) is up now. */
static bool broker_up(const struct server *srv, uint32_t i)
{
    return srv->cfg.peers[i].node_id == srv->cfg.node_id ||
           atomic_load_explicit(&srv->peer_stats[i].up, memory_order_relaxed) != 0;
}

/*
 * Partition p's replicas: rf brokers in node-id order from a start spread by
 * name, among the brokers up now when at least rf are (a replica placed on
 * a broker that is down leaves an RF 2 partition without a quorum until it
 * returns), else among every broker not decommissioned.
 */
void controller_place(struct controller *ctl, const struct server *srv, const char *name,
                      uint32_t first, uint32_t end, uint32_t rf, int32_t *out)
{
    uint32_t up = 0;
    for (uint32_t i = 0; i < (uint32_t)srv->cfg.peer_count; i++)
        up += broker_up(srv, i) && !controller_is_decommissioned(ctl, srv->cfg.peers[i].node_id);
    bool only_up = up >= rf;
    int32_t nodes[BROKER_MAX_PEERS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < (uint32_t)srv->cfg.peer_count; i++) {
        int32_t id = srv->cfg.peers[i].node_id;
        if (controller_is_decommissioned(ctl, id) || (only_up && !broker_up(srv, i)))
            continue;
        uint32_t k = n++;
        while (k > 0 && nodes[k - 1] > id) {
            nodes[k] = nodes[k - 1];
            k--;
        }
        nodes[k] = id;
    }
    assert(rf >= 1 && rf <= n);
    uint32_t start = 0;
    for (const char *p = name; *p; p++)
        start = start * 31 + (uint8_t)*p;
    assert(first <= end);
    for (uint32_t p = first; p < end; p++)
        for (uint32_t i = 0; i < rf; i++)
            out[(size_t)(p - first) * rf + i] = nodes[(start + p + i) % n];
}

void controller_create_topic(struct shard *s, struct controller_call *c, const char *name,
                             uint32_t partitions, uint32_t rf, const struct topic_config *cfg)
{
    size_t n = (size_t)partitions * rf;
    int32_t *replicas = malloc(n * sizeof(int32_t));
    if (!replicas) {
        c->ctl = s->controller;
        call_end(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    if (rf > controller_placeable(s->controller)) {
        free(replicas);
        c->ctl = s->controller;
        call_end(c, RINGLOG__ERROR_CODE__INVALID_REPLICATION_FACTOR,
                 "the replication factor is larger than the brokers not decommissioned");
        return;
    }
    controller_place(s->controller, s->srv, name, 0, partitions, rf, replicas);
    Ringlog__TopicConfig tc = RINGLOG__TOPIC_CONFIG__INIT;
    controller_config_to_wire(cfg, &tc); /* compaction settings too */
    Ringlog__ClusterTopic ct = RINGLOG__CLUSTER_TOPIC__INIT;
    ct.name = (char *)name;
    ct.partitions = partitions;
    ct.replication_factor = rf;
    ct.config = &tc;
    ct.n_replicas = n;
    ct.replicas = replicas;
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_TOPIC_CREATED;
    rec.topic_created = &ct;
    controller_propose(s, c, &rec.base);
    free(replicas);
}

void controller_propose_cluster_id(struct shard *s, struct controller_call *c, const char *id)
{
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_CLUSTER_CREATED;
    rec.cluster_created = (char *)id;
    controller_propose(s, c, &rec.base);
}

void controller_delete_topic(struct shard *s, struct controller_call *c, const char *name)
{
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_TOPIC_DELETED;
    rec.topic_deleted = (char *)name;
    controller_propose(s, c, &rec.base);
}
