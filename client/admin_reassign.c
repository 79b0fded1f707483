/*
 * Moving partitions between a cluster's brokers (ringlog.h): the request
 * goes to the controller (admin_internal.h follows it), which records the
 * move; each partition's leader then carries it out online.
 */
#include <assert.h>
#include <stdlib.h>

#include "admin_internal.h"
#include "conn.h"
#include "conf.h"
#include "ringlog.h"

/* The first failed move's code (and text), or OK. */
static int moves_code(const Ringlog__Response *resp, char *errbuf, size_t errlen)
{
    if (resp->body_case != RINGLOG__RESPONSE__BODY_REASSIGN_PARTITIONS) {
        rl_errbuf(errbuf, errlen, "unexpected answer from the broker");
        return RINGLOG_ERR_PROTOCOL;
    }
    const Ringlog__ReassignPartitionsResponse *r = resp->reassign_partitions;
    for (size_t i = 0; i < r->n_results; i++) {
        const Ringlog__PartitionMoveResult *x = r->results[i];
        if (x->error == 0)
            continue;
        rl_errbuf(errbuf, errlen, "%s-%u: %s", x->topic, x->partition,
                  x->error_message && x->error_message[0] ? x->error_message
                                                          : ringlog_err_str(x->error));
        return x->error;
    }
    return RINGLOG_OK;
}

int ringlog_admin_reassign_partition(ringlog_admin *a, const char *topic, int32_t partition,
                                     const int32_t *replicas, size_t count, char *errbuf,
                                     size_t errlen)
{
    if (!a || !topic || partition < 0 || !replicas || count == 0 || count > 8) {
        rl_errbuf(errbuf, errlen, "invalid argument: a topic, a partition and 1 to 8 replicas");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__PartitionMove m = RINGLOG__PARTITION_MOVE__INIT;
    Ringlog__PartitionMove *mp = &m;
    m.topic = (char *)topic;
    m.partition = (uint32_t)partition;
    m.n_replicas = count;
    m.replicas = (int32_t *)replicas;
    Ringlog__ReassignPartitionsRequest rr = RINGLOG__REASSIGN_PARTITIONS_REQUEST__INIT;
    rr.n_moves = 1;
    rr.moves = &mp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_REASSIGN_PARTITIONS;
    req.reassign_partitions = &rr;
    rl_admin_lock(a);
    int err = rl_admin_controller_call(a, topic, &req, NULL, moves_code, errbuf, errlen);
    rl_admin_unlock(a);
    return err;
}

static int decommission_code(const Ringlog__Response *resp, char *errbuf, size_t errlen)
{
    if (resp->body_case != RINGLOG__RESPONSE__BODY_DECOMMISSION_BROKER) {
        rl_errbuf(errbuf, errlen, "unexpected answer from the broker");
        return RINGLOG_ERR_PROTOCOL;
    }
    const Ringlog__DecommissionBrokerResponse *r = resp->decommission_broker;
    if (r->error)
        rl_errbuf(errbuf, errlen, "%s",
                  r->error_message && r->error_message[0] ? r->error_message
                                                          : ringlog_err_str(r->error));
    return r->error;
}

int ringlog_admin_decommission_broker(ringlog_admin *a, int32_t node_id, size_t *moved,
                                      char *errbuf, size_t errlen)
{
    if (!a || node_id < 0) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__DecommissionBrokerRequest dr = RINGLOG__DECOMMISSION_BROKER_REQUEST__INIT;
    dr.node_id = node_id;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DECOMMISSION_BROKER;
    req.decommission_broker = &dr;
    Ringlog__Response *resp = NULL;
    rl_admin_lock(a);
    int err = rl_admin_controller_call(a, NULL, &req, &resp, decommission_code, errbuf, errlen);
    rl_admin_unlock(a);
    if (moved)
        *moved = err == RINGLOG_OK && resp ? resp->decommission_broker->n_moves : 0;
    if (resp)
        rl_conn_response_free(resp);
    return err;
}
