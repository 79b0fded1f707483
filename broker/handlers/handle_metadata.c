/*
 * Metadata: answered on the connection's shard from what every shard
 * shares (the topic table with its published offsets), with no hop to a
 * partition's owner.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "groups/coordinator.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "topic_assignment.h"

/*
 * A cluster topic's partition. The leader is known where a replica lives
 * (its group says); a broker without one names the preferred replica, which
 * redirects with a leader hint if it does not lead. The in-sync replicas
 * are the leader's view (published on its ticks); elsewhere, every replica.
 */
static void describe_replicas(Ringlog__PartitionMetadata *pm, const struct topic_info *t,
                              uint32_t p, int32_t self)
{
    const struct partition_stats *st = &t->stats[p];
    int32_t reps[TOPIC_MAX_REPLICAS];
    uint32_t rf = topic_replicas(t, p, reps);
    assert(rf >= 1 && rf <= TOPIC_MAX_REPLICAS);
    bool local = atomic_load(&st->online); /* a replica is open here (assigned, or leaving) */
    int32_t leader = atomic_load(&st->leader);
    if (local && leader == self) {
        /* The leader names the group's members: during a move, old and new. */
        int32_t members[TOPIC_MAX_REPLICAS];
        uint32_t n = replica_set_read(&st->members, members);
        if (n > 0) {
            memcpy(reps, members, n * sizeof(int32_t));
            rf = n;
        }
    }
    memcpy(pm->replicas, reps, rf * sizeof(int32_t));
    pm->n_replicas = rf;
    uint64_t mask = atomic_load(&st->isr);
    pm->leader = local ? leader : reps[0];
    pm->n_isr = 0;
    for (uint32_t i = 0; i < rf; i++)
        if (!local || leader != self || (reps[i] >= 0 && reps[i] < 64 && (mask >> reps[i]) & 1))
            pm->isr[pm->n_isr++] = reps[i];
    bool ok = pm->leader >= 0;
    pm->error = ok ? RINGLOG__ERROR_CODE__NONE : RINGLOG__ERROR_CODE__LEADER_NOT_AVAILABLE;
    pm->error_message = ok ? "" : "no leader yet: an election is running";
}

static Ringlog__PartitionMetadata *describe_partition(struct request *r, const struct topic_info *t,
                                                      uint32_t p)
{
    struct server *srv = r->shard->srv;
    const struct partition_stats *st = &t->stats[p];
    uint32_t rf = t->replicas ? TOPIC_MAX_REPLICAS : 1;
    Ringlog__PartitionMetadata *pm = request_alloc(r, sizeof(*pm));
    int32_t *replicas = request_alloc(r, rf * sizeof(int32_t));
    int32_t *isr = request_alloc(r, rf * sizeof(int32_t));
    if (!pm || !replicas || !isr)
        return NULL;
    ringlog__partition_metadata__init(pm);
    pm->partition = p;
    pm->replicas = replicas;
    pm->isr = isr;
    pm->n_replicas = rf;
    if (!t->replicas) {
        bool online = atomic_load(&st->online);
        pm->error = online ? RINGLOG__ERROR_CODE__NONE : RINGLOG__ERROR_CODE__LEADER_NOT_AVAILABLE;
        pm->error_message = online ? "" : "the partition is being opened";
        pm->leader = online ? srv->cfg.node_id : -1;
        pm->replicas[0] = srv->cfg.node_id;
        pm->n_isr = 1;
        pm->isr[0] = srv->cfg.node_id;
    } else {
        describe_replicas(pm, t, p, srv->cfg.node_id);
    }
    pm->leader_epoch = atomic_load(&st->leader_epoch);
    pm->log_start_offset = atomic_load_explicit(&st->log_start, memory_order_relaxed);
    pm->log_end_offset = atomic_load_explicit(&st->log_end, memory_order_relaxed);
    pm->high_watermark = atomic_load_explicit(&st->high_watermark, memory_order_relaxed);
    return pm;
}

/* One topic's metadata (t NULL: unknown); NULL when out of memory. */
static Ringlog__TopicMetadata *describe_topic(struct request *r, const char *name,
                                              const struct topic_info *t)
{
    Ringlog__TopicMetadata *tm = request_alloc(r, sizeof(*tm));
    char *copy = request_strdup(r, name);
    if (!tm || !copy)
        return NULL;
    ringlog__topic_metadata__init(tm);
    tm->name = copy;
    if (!t) {
        tm->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
        tm->error_message = (char *)rl_error_message(tm->error);
        return tm;
    }
    tm->config = request_alloc(r, sizeof(*tm->config));
    tm->partitions = request_alloc(r, (t->partitions + 1) * sizeof(*tm->partitions));
    if (!tm->config || !tm->partitions)
        return NULL;
    ringlog__topic_config__init(tm->config);
    tm->config->retention_ms = t->config.retention_ms;
    tm->config->retention_bytes = t->config.retention_bytes;
    tm->config->segment_bytes = t->config.segment_bytes;
    tm->config->segment_ms = t->config.segment_ms;
    tm->config->cleanup_policy = (char *)topic_cleanup_policy_name(t->config.cleanup_policy);
    tm->config->delete_retention_ms = t->config.delete_retention_ms;
    tm->config->min_cleanable_dirty_ratio = t->config.min_cleanable_dirty_ratio;
    tm->config->min_compaction_lag_ms = t->config.min_compaction_lag_ms;
    tm->n_partitions = t->partitions;
    for (uint32_t p = 0; p < t->partitions; p++)
        if ((tm->partitions[p] = describe_partition(r, t, p)) == NULL)
            return NULL;
    return tm;
}

/* Broker i of the answer (this one, then the other --peers); NULL when out of memory. */
static Ringlog__BrokerInfo *describe_broker(struct request *r, uint32_t i)
{
    struct server *srv = r->shard->srv;
    Ringlog__BrokerInfo *b = request_alloc(r, sizeof(*b));
    if (!b)
        return NULL;
    ringlog__broker_info__init(b);
    b->node_id = srv->cfg.node_id;
    b->host = srv->cfg.listen_host;
    b->port = srv->listen_port;
    for (uint32_t k = 0, seen = 0; i > 0 && k < (uint32_t)srv->cfg.peer_count; k++) {
        const struct peer *p = &srv->cfg.peers[k];
        if (p->node_id == srv->cfg.node_id || ++seen != i)
            continue;
        b->node_id = p->node_id;
        b->host = (char *)p->host;
        b->port = p->port;
    }
    return b;
}

void handle_metadata(struct request *r)
{
    struct server *srv = r->shard->srv;
    if (srv->cluster && atomic_load(&srv->metadata_loading)) {
        /* Its topic table is not the cluster's yet: a topic not replayed is not unknown. */
        request_fail(r, RINGLOG__ERROR_CODE__LEADER_NOT_AVAILABLE,
                     "this broker is replaying the cluster's metadata log after its start: "
                     "retry in a moment, or ask another broker");
        return;
    }
    Ringlog__MetadataRequest *req = r->msg->metadata;
    struct topic_table *t = topic_registry_snapshot(&srv->topics);
    size_t n = req->n_topics ? req->n_topics : t->count;
    Ringlog__MetadataResponse *m = request_alloc(r, sizeof(*m));
    uint32_t nb = 1;
    for (uint32_t k = 0; k < (uint32_t)srv->cfg.peer_count; k++)
        nb += srv->cfg.peers[k].node_id != srv->cfg.node_id;
    Ringlog__BrokerInfo **brokers = request_alloc(r, nb * sizeof(*brokers));
    Ringlog__TopicMetadata **topics = request_alloc(r, (n + 1) * sizeof(*topics));
    bool ok = m && brokers && topics;
    for (uint32_t i = 0; ok && i < nb; i++)
        ok = (brokers[i] = describe_broker(r, i)) != NULL;
    if (!ok) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__metadata_response__init(m);
    m->n_brokers = nb;
    m->brokers = brokers;
    m->controller_id = srv->cluster ? atomic_load(&srv->controller_leader) : srv->cfg.node_id;
    m->topics = topics;
    for (size_t i = 0; i < n; i++) {
        const char *name = req->n_topics ? req->topics[i] : t->topics[i]->name;
        const struct topic_info *ti = req->n_topics ? topic_table_find(t, name) : t->topics[i];
        if (!req->n_topics && strcmp(name, GROUPS_TOPIC) == 0)
            continue; /* internal (consumer groups): described when named only */
        /* Only what the principal may describe: the rest is left out of a
         * listing, and refused (whether it exists or not) when named. */
        bool may = auth_allowed(r, SEC_RES_TOPIC, name, SEC_OP_DESCRIBE);
        if (!may && !req->n_topics)
            continue;
        Ringlog__TopicMetadata *tm = describe_topic(r, name, may ? ti : NULL);
        if (tm == NULL) {
            request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
        if (!may) {
            tm->error = RINGLOG__ERROR_CODE__NOT_AUTHORIZED;
            tm->error_message = auth_refusal(r, SEC_RES_TOPIC, name, SEC_OP_DESCRIBE);
            if (!tm->error_message)
                tm->error_message = (char *)rl_error_message(tm->error);
        }
        topics[m->n_topics++] = tm;
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_METADATA;
    r->resp.metadata = m;
    request_complete(r);
}
