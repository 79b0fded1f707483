/*
 * The consumer groups' internal topic on a cluster (docs/CONSUMER_GROUPS.md,
 * "On a cluster"): the metadata log's leader creates __groups once it has
 * applied everything committed and finds the topic absent — 8 partitions,
 * compacted, replication factor min(3, brokers that may hold replicas),
 * placed and leader-spread like any topic. A second leader proposing it
 * again before it saw the first record is harmless: applying a create of a
 * name that exists does nothing. At the controller's start rather than at
 * the first FindCoordinator: a broker that is not the controller cannot
 * create a topic (CreateTopics answers NOT_CONTROLLER), and every broker
 * can then answer FindCoordinator from its topic table at once.
 */
#include <assert.h>

#include "controller.h"
#include "controller_internal.h"
#include "diag.h"
#include "groups/coordinator.h"
#include "server.h"
#include "shard.h"

#define GROUPS_RF_MAX 3
#define GROUPS_RETRY_MS 1000

static void created(struct controller_call *c)
{
    struct controller_groups *g = rl_container_of(c, struct controller_groups, call);
    assert(g->inflight);
    g->inflight = false;
    if (c->error == RINGLOG__ERROR_CODE__NONE)
        DIAG_INFO("created the internal topic %s (%d partitions, compacted)", GROUPS_TOPIC,
                  GROUPS_PARTITIONS);
    else /* tried again by this leader after GROUPS_RETRY_MS, or by the next one */
        DIAG_WARN("creating the internal topic %s: %s", GROUPS_TOPIC,
                  c->message ? c->message : "failed");
}

void controller_groups_tick(struct shard *s, struct controller_groups *g, bool leads,
                            bool caught_up)
{
    assert(s->controller != NULL);
    if (!leads)
        g->seen = false; /* the next leadership looks again */
    if (!leads || !caught_up || g->inflight || g->seen || s->loop.now_ms < g->retry_ms)
        return;
    struct server *srv = s->srv;
    if (topic_table_find(topic_registry_snapshot(&srv->topics), GROUPS_TOPIC) != NULL) {
        g->seen = true;
        return;
    }
    uint32_t rf = controller_placeable(s->controller);
    rf = rf < GROUPS_RF_MAX ? rf : GROUPS_RF_MAX;
    if (rf == 0)
        return;
    struct topic_config cfg;
    groups_topic_config(srv, &cfg);
    g->inflight = true;
    g->retry_ms = s->loop.now_ms + GROUPS_RETRY_MS;
    g->call.done = created;
    controller_create_topic(s, &g->call, GROUPS_TOPIC, GROUPS_PARTITIONS, rf, &cfg);
}
