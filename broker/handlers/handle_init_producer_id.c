/*
 * InitProducerId, answered on the connection's shard: a new id (epoch 0)
 * from the allocator, or the bump of an id this broker issued, fenced as
 * Kafka does (producer_registry.h): only from its current epoch. Both are
 * durable before they are answered.
 */
#include <assert.h>
#include <stdio.h>

#include "handlers.h"
#include "producer_ids.h"
#include "producer_registry.h"
#include "request.h"
#include "server.h"
#include "shard.h"

/* A fresh id at epoch 0; the answer's error says why there is none. */
static void issue_new(struct request *r, Ringlog__InitProducerIdResponse *p)
{
    struct server *srv = r->shard->srv;
    int64_t id = producer_ids_next(srv);
    if (id < 0 || producer_registry_issue(&srv->producers, id) != PRODUCER_ID_OK) {
        p->error = RINGLOG__ERROR_CODE__STORAGE_ERROR;
        p->error_message = "cannot record a new producer id on the broker's disk";
        return;
    }
    assert(id > 0);
    p->producer_id = id;
    p->producer_epoch = 0;
}

/* The error of a refused bump: the wire code and its message. */
static void bump_refused(struct request *r, Ringlog__InitProducerIdResponse *p,
                         enum producer_verdict v)
{
    const Ringlog__InitProducerIdRequest *req = r->msg->init_producer_id;
    char text[200];
    switch (v) {
    case PRODUCER_ID_UNKNOWN:
        p->error = RINGLOG__ERROR_CODE__UNKNOWN_PRODUCER_ID;
        snprintf(text, sizeof(text),
                 "producer id %lld was not issued by this cluster (or has expired): ask for a "
                 "new one with producer_id -1",
                 (long long)req->producer_id);
        break;
    case PRODUCER_ID_STALE_EPOCH:
        p->error = RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH;
        snprintf(text, sizeof(text),
                 "producer %lld is fenced: epoch %d is older than its current epoch",
                 (long long)req->producer_id, req->producer_epoch);
        break;
    case PRODUCER_ID_EPOCH_AHEAD:
        p->error = RINGLOG__ERROR_CODE__INVALID_PRODUCER_EPOCH;
        snprintf(text, sizeof(text), "epoch %d of producer %lld was never issued",
                 req->producer_epoch, (long long)req->producer_id);
        break;
    default:
        p->error = RINGLOG__ERROR_CODE__STORAGE_ERROR;
        snprintf(text, sizeof(text), "cannot record the new epoch on the broker's disk");
        break;
    }
    p->error_message = request_strdup(r, text);
    if (!p->error_message)
        p->error_message = "producer id refused";
}

void handle_init_producer_id(struct request *r)
{
    Ringlog__InitProducerIdRequest *req = r->msg->init_producer_id;
    Ringlog__InitProducerIdResponse *p = request_alloc(r, sizeof(*p));
    if (!p) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__init_producer_id_response__init(p);
    p->producer_id = -1;
    p->producer_epoch = -1;
    p->error_message = "";
    if (req->producer_id < 0) {
        issue_new(r, p);
    } else if (req->producer_epoch < 0 || req->producer_epoch > INT16_MAX) {
        p->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
        p->error_message = "producer_epoch must be 0-32767 to bump an id (-1 with producer_id -1)";
    } else {
        int16_t epoch;
        enum producer_verdict v = producer_registry_bump(
            &r->shard->srv->producers, req->producer_id, (int16_t)req->producer_epoch, &epoch);
        if (v != PRODUCER_ID_OK)
            bump_refused(r, p, v);
        else if (epoch < 0)
            issue_new(r, p); /* the epoch space is used up: a new id, as Kafka does */
        else {
            p->producer_id = req->producer_id;
            p->producer_epoch = epoch;
        }
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_INIT_PRODUCER_ID;
    r->resp.init_producer_id = p;
    request_complete(r);
}
