/*
 * OffsetCommit and OffsetFetch: a consumer group's committed offsets
 * (offset_store.h). Both judge names alike: a malformed group name fails
 * the request (INVALID_REQUEST); a topic or partition that does not exist
 * is UNKNOWN_TOPIC / UNKNOWN_PARTITION for that partition; a group that
 * never committed is no error (it exists once it commits, as in Kafka):
 * OffsetFetch answers -1.
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "handlers.h"
#include "names.h"
#include "request.h"
#include "server.h"
#include "shard.h"

static const char GROUP_NAME_RULE[] =
    "group names are 1-200 characters of [A-Za-z0-9._-], not starting with '.'";

/* The error for one named partition: UNKNOWN_TOPIC, UNKNOWN_PARTITION or NONE. */
static int partition_known(const struct topic_info *ti, uint32_t partition)
{
    if (!ti)
        return RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
    return partition < ti->partitions ? RINGLOG__ERROR_CODE__NONE
                                      : RINGLOG__ERROR_CODE__UNKNOWN_PARTITION;
}

static void handle_offset_commit(struct request *r)
{
    Ringlog__OffsetCommitRequest *req = r->msg->offset_commit;
    struct server *srv = r->shard->srv;
    if (!rl_group_name_valid(req->group)) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, GROUP_NAME_RULE);
        return;
    }
    size_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += req->topics[t]->n_partitions;
    struct group_commit *commits = calloc(n ? n : 1, sizeof(*commits));
    Ringlog__OffsetCommitResponse *resp = request_alloc(r, sizeof(*resp));
    if (!commits || !resp) {
        free(commits);
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__offset_commit_response__init(resp);
    resp->n_topics = req->n_topics;
    resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    size_t valid = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        Ringlog__OffsetCommitTopic *ct = req->topics[t];
        Ringlog__OffsetCommitTopicResult *tr = request_alloc(r, sizeof(*tr));
        ringlog__offset_commit_topic_result__init(tr);
        tr->topic = ct->topic;
        tr->n_partitions = ct->n_partitions;
        tr->partitions = request_alloc(r, (ct->n_partitions + 1) * sizeof(*tr->partitions));
        resp->topics[t] = tr;
        struct topic_info *ti = topic_table_find(table, ct->topic);
        for (size_t p = 0; p < ct->n_partitions; p++) {
            Ringlog__OffsetCommitPartition *cp = ct->partitions[p];
            Ringlog__OffsetCommitPartitionResult *pr = request_alloc(r, sizeof(*pr));
            ringlog__offset_commit_partition_result__init(pr);
            pr->partition = cp->partition;
            pr->error_message = "";
            tr->partitions[p] = pr;
            pr->error = partition_known(ti, cp->partition);
            pr->error_message = (char *)rl_error_message(pr->error);
            if (!pr->error && cp->offset < 0) {
                pr->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
                pr->error_message = "a committed offset must be >= 0";
            }
            if (pr->error)
                continue;
            pr->error_message = "";
            commits[valid++] = (struct group_commit){.topic = ct->topic,
                                                     .partition = cp->partition,
                                                     .offset = cp->offset,
                                                     .metadata = cp->metadata};
        }
    }
    if (valid > 0 && offset_store_commit(&srv->offsets, req->group, commits, valid) != 0) {
        free(commits);
        request_fail(r, RINGLOG__ERROR_CODE__STORAGE_ERROR, "cannot store committed offsets");
        return;
    }
    free(commits);
    r->resp.body_case = RINGLOG__RESPONSE__BODY_OFFSET_COMMIT;
    r->resp.offset_commit = resp;
    request_complete(r);
}

/* One partition's answer; error is partition_known's verdict on it. */
static Ringlog__OffsetFetchPartitionResult *
fetch_result(struct request *r, uint32_t partition, int64_t offset, const char *metadata, int error)
{
    Ringlog__OffsetFetchPartitionResult *pr = request_alloc(r, sizeof(*pr));
    ringlog__offset_fetch_partition_result__init(pr);
    pr->partition = partition;
    pr->offset = error ? -1 : offset;
    pr->metadata = request_strdup(r, error ? "" : metadata);
    pr->error = error;
    pr->error_message = error ? (char *)rl_error_message(error) : "";
    return pr;
}

/* Collects every committed offset of a group, one topic result per offset. */
struct collect {
    struct request *r;
    Ringlog__OffsetFetchResponse *resp;
    size_t cap;
    struct topic_table *table;
};

static void collect_one(void *ctx, const struct group_offset *o)
{
    struct collect *c = ctx;
    if (c->resp->n_topics == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        Ringlog__OffsetFetchTopicResult **grown = request_alloc(c->r, cap * sizeof(*grown));
        if (!grown)
            return;
        if (c->cap)
            memcpy(grown, c->resp->topics, c->cap * sizeof(*grown));
        c->resp->topics = grown;
        c->cap = cap;
    }
    Ringlog__OffsetFetchTopicResult *tr = request_alloc(c->r, sizeof(*tr));
    ringlog__offset_fetch_topic_result__init(tr);
    tr->topic = request_strdup(c->r, o->topic);
    tr->n_partitions = 1;
    tr->partitions = request_alloc(c->r, sizeof(*tr->partitions));
    tr->partitions[0] =
        fetch_result(c->r, o->partition, o->offset, o->metadata,
                     partition_known(topic_table_find(c->table, o->topic), o->partition));
    c->resp->topics[c->resp->n_topics++] = tr;
}

static void handle_offset_fetch(struct request *r)
{
    Ringlog__OffsetFetchRequest *req = r->msg->offset_fetch;
    struct server *srv = r->shard->srv;
    Ringlog__OffsetFetchResponse *resp = request_alloc(r, sizeof(*resp));
    if (!resp) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__offset_fetch_response__init(resp);
    if (!rl_group_name_valid(req->group)) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, GROUP_NAME_RULE);
        return;
    }
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    if (req->n_topics == 0) {
        struct collect c = {.r = r, .resp = resp, .table = table};
        offset_store_each(&srv->offsets, req->group, collect_one, &c);
    } else {
        resp->n_topics = req->n_topics;
        resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
        for (size_t t = 0; t < req->n_topics; t++) {
            Ringlog__OffsetFetchTopic *ft = req->topics[t];
            Ringlog__OffsetFetchTopicResult *tr = request_alloc(r, sizeof(*tr));
            ringlog__offset_fetch_topic_result__init(tr);
            tr->topic = ft->topic;
            tr->n_partitions = ft->n_partitions;
            tr->partitions = request_alloc(r, (ft->n_partitions + 1) * sizeof(*tr->partitions));
            resp->topics[t] = tr;
            struct topic_info *ti = topic_table_find(table, ft->topic);
            for (size_t p = 0; p < ft->n_partitions; p++) {
                char metadata[4097] = "";
                int error = partition_known(ti, ft->partitions[p]);
                int64_t offset =
                    error ? -1
                          : offset_store_fetch(&srv->offsets, req->group, ft->topic,
                                               ft->partitions[p], metadata, sizeof(metadata));
                tr->partitions[p] = fetch_result(r, ft->partitions[p], offset, metadata, error);
            }
        }
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_OFFSET_FETCH;
    r->resp.offset_fetch = resp;
    request_complete(r);
}

void handle_offsets(struct request *r)
{
    if (r->msg->body_case == RINGLOG__REQUEST__BODY_OFFSET_COMMIT)
        handle_offset_commit(r);
    else
        handle_offset_fetch(r);
}
