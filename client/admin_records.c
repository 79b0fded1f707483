/*
 * ringlog_admin_delete_records (ringlog.h). Only a partition's leader knows
 * its high watermark, and on a cluster the request goes to the controller:
 * so the offsets are checked (and -1 resolved) against the leaders'
 * high watermarks first (list offsets, latest), then the partitions that
 * pass are sent to the controller in one DeleteRecords, following it on
 * NOT_CONTROLLER. A single broker checks them again itself.
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_internal.h"

/* A part's err while the call runs: still to send, and answered OK. */
#define PART_TODO INT_MIN
#define PART_OK (INT_MIN + 1)

/* The high watermark of every part (err set where it cannot be had). */
static int high_watermarks(struct ringlog_admin *a, const char *topic,
                           const ringlog_partition_offset *parts, size_t n,
                           ringlog_partition_offset *hw, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        hw[i] = (ringlog_partition_offset){.partition = parts[i].partition,
                                           .offset = RINGLOG_OFFSET_END};
    return rl_admin_list_offsets_locked(a, topic, hw, n, errbuf, errlen);
}

/* Sends the parts still to do (PART_TODO) in one request; an error when it could not be made. */
static int send_once(struct ringlog_admin *a, const char *topic, ringlog_partition_offset *parts,
                     size_t n, char *errbuf, size_t errlen)
{
    Ringlog__DeleteRecordsPartition *dp = calloc(n + 1, sizeof(*dp));
    Ringlog__DeleteRecordsPartition **dpp = calloc(n + 1, sizeof(*dpp));
    size_t k = 0;
    for (size_t i = 0; dp && dpp && i < n; i++)
        if (parts[i].err == PART_TODO) {
            ringlog__delete_records_partition__init(&dp[k]);
            dp[k].partition = (uint32_t)parts[i].partition;
            dp[k].offset = parts[i].offset;
            dpp[k] = &dp[k];
            k++;
        }
    Ringlog__DeleteRecordsTopic dt = RINGLOG__DELETE_RECORDS_TOPIC__INIT, *dtp = &dt;
    dt.topic = (char *)topic;
    dt.n_partitions = k;
    dt.partitions = dpp;
    Ringlog__DeleteRecordsRequest dr = RINGLOG__DELETE_RECORDS_REQUEST__INIT;
    dr.n_topics = 1;
    dr.topics = &dtp;
    dr.timeout_ms = (uint32_t)a->conf->request_timeout_ms;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_RECORDS;
    req.delete_records = &dr;
    Ringlog__Response *resp = NULL;
    int err =
        dp && dpp ? rl_admin_call_locked(a, &req, &resp, false, errbuf, errlen) : RINGLOG_ERR_NOMEM;
    free(dp);
    free(dpp);
    if (err)
        return err;
    const Ringlog__DeleteRecordsTopicResult *tr =
        resp->body_case == RINGLOG__RESPONSE__BODY_DELETE_RECORDS &&
                resp->delete_records->n_topics == 1
            ? resp->delete_records->topics[0]
            : NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; tr && parts[i].err == PART_TODO && j < tr->n_partitions; j++)
            if (tr->partitions[j]->partition == (uint32_t)parts[i].partition) {
                /* The offset stays asked until answered: a NOT_CONTROLLER is sent again. */
                parts[i].err = tr->partitions[j]->error ? (int)tr->partitions[j]->error : PART_OK;
                if (!tr->partitions[j]->error)
                    parts[i].offset = tr->partitions[j]->low_watermark;
            }
    rl_conn_response_free(resp);
    return tr ? RINGLOG_OK : RINGLOG_ERR_PROTOCOL;
}

/* Sends to the controller, again for the parts it refused as not the controller. */
static int send_to_controller(struct ringlog_admin *a, const char *topic,
                              ringlog_partition_offset *parts, size_t n, char *errbuf,
                              size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        int err = send_once(a, topic, parts, n, errbuf, errlen);
        if (err)
            return err;
        bool again = false;
        for (size_t i = 0; i < n; i++) {
            if (parts[i].err == PART_OK)
                parts[i].err = RINGLOG_OK;
            else if (parts[i].err == RINGLOG_ERR_NOT_CONTROLLER && attempt < 20)
                again = true;
        }
        if (!again)
            return RINGLOG_OK;
        if (!rl_admin_move_to_controller(a)) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        for (size_t i = 0; i < n; i++)
            if (parts[i].err == RINGLOG_ERR_NOT_CONTROLLER)
                parts[i].err = PART_TODO;
    }
}

int ringlog_admin_delete_records(ringlog_admin *a, const char *topic,
                                 ringlog_partition_offset *parts, size_t n, char *errbuf,
                                 size_t errlen)
{
    if (!a || !topic || (n && !parts)) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    ringlog_partition_offset *hw = calloc(n + 1, sizeof(*hw));
    if (!hw)
        return RINGLOG_ERR_NOMEM;
    pthread_mutex_lock(&a->mu);
    int err = high_watermarks(a, topic, parts, n, hw, errbuf, errlen);
    size_t todo = 0;
    for (size_t i = 0; !err && i < n; i++) {
        parts[i].timestamp = -1;
        parts[i].err = hw[i].err;
        if (!parts[i].err && parts[i].offset == -1)
            parts[i].offset = hw[i].offset;
        if (!parts[i].err && (parts[i].offset < 0 || parts[i].offset > hw[i].offset))
            parts[i].err = RINGLOG_ERR_OFFSET_OUT_OF_RANGE;
        if (!parts[i].err) {
            parts[i].err = PART_TODO;
            todo++;
        }
    }
    if (!err && todo > 0)
        err = send_to_controller(a, topic, parts, n, errbuf, errlen);
    for (size_t i = 0; i < n; i++)
        if (parts[i].err == PART_TODO || parts[i].err == PART_OK)
            parts[i].err = parts[i].err == PART_OK ? RINGLOG_OK
                           : err                   ? err
                                                   : RINGLOG_ERR_PROTOCOL; /* never answered */
    pthread_mutex_unlock(&a->mu);
    free(hw);
    return err;
}
