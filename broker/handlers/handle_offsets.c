/*
 * OffsetCommit and OffsetFetch: a consumer group's committed offsets
 * (offset_store.h). Both judge names alike: a malformed group name fails
 * the request (INVALID_REQUEST); a topic or partition that does not exist
 * is UNKNOWN_TOPIC / UNKNOWN_PARTITION for that partition; a group that
 * never committed is no error (it exists once it commits, as in Kafka):
 * OffsetFetch answers -1.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "handlers.h"
#include "names.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

static const char GROUP_NAME_RULE[] =
    "group names are 1-200 characters of [A-Za-z0-9._-], not starting with '.'";

/* One topic's commit results; its valid commits are appended to commits. False: no memory. */
static bool commit_topic(struct request *r, const Ringlog__OffsetCommitTopic *ct,
                         const struct topic_info *ti, Ringlog__OffsetCommitTopicResult **out,
                         struct group_commit *commits, size_t *valid)
{
    Ringlog__OffsetCommitTopicResult *tr = request_alloc(r, sizeof(*tr));
    Ringlog__OffsetCommitPartitionResult **slots =
        request_alloc(r, (ct->n_partitions + 1) * sizeof(*slots));
    if (!tr || !slots)
        return false;
    ringlog__offset_commit_topic_result__init(tr);
    tr->topic = ct->topic;
    tr->n_partitions = ct->n_partitions;
    tr->partitions = slots;
    *out = tr;
    for (size_t p = 0; p < ct->n_partitions; p++) {
        const Ringlog__OffsetCommitPartition *cp = ct->partitions[p];
        Ringlog__OffsetCommitPartitionResult *pr = request_alloc(r, sizeof(*pr));
        if (!pr)
            return false;
        ringlog__offset_commit_partition_result__init(pr);
        pr->partition = cp->partition;
        pr->error = wire_error_partition_known(ti, cp->partition);
        pr->error_message = (char *)rl_error_message(pr->error);
        if (!pr->error && cp->offset < 0) {
            pr->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
            pr->error_message = "a committed offset must be >= 0";
        }
        slots[p] = pr;
        if (pr->error)
            continue;
        pr->error_message = "";
        commits[(*valid)++] = (struct group_commit){.topic = ct->topic,
                                                    .partition = cp->partition,
                                                    .offset = cp->offset,
                                                    .metadata = cp->metadata};
    }
    return true;
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
    Ringlog__OffsetCommitTopicResult **topics =
        request_alloc(r, (req->n_topics + 1) * sizeof(*topics));
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    size_t valid = 0;
    bool ok = commits && resp && topics;
    for (size_t t = 0; ok && t < req->n_topics; t++)
        ok = commit_topic(r, req->topics[t], topic_table_find(table, req->topics[t]->topic),
                          &topics[t], commits, &valid);
    if (!ok) {
        free(commits);
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    assert(valid <= n);
    ringlog__offset_commit_response__init(resp);
    resp->n_topics = req->n_topics;
    resp->topics = topics;
    int rc = valid > 0 ? offset_store_commit(&srv->offsets, req->group, commits, valid) : 0;
    free(commits);
    if (rc != 0) {
        request_fail(r, RINGLOG__ERROR_CODE__STORAGE_ERROR, "cannot store committed offsets");
        return;
    }
    r->resp.body_case = RINGLOG__RESPONSE__BODY_OFFSET_COMMIT;
    r->resp.offset_commit = resp;
    request_complete(r);
}

/* One partition's answer (NULL: no memory); error is partition_known's verdict on it. */
static Ringlog__OffsetFetchPartitionResult *
fetch_result(struct request *r, uint32_t partition, int64_t offset, const char *metadata, int error)
{
    Ringlog__OffsetFetchPartitionResult *pr = request_alloc(r, sizeof(*pr));
    char *copy = request_strdup(r, error ? "" : metadata);
    if (!pr || !copy)
        return NULL;
    ringlog__offset_fetch_partition_result__init(pr);
    pr->partition = partition;
    pr->offset = error ? -1 : offset;
    pr->metadata = copy;
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
    bool failed; /* out of memory */
};

static void collect_one(void *ctx, const struct group_offset *o)
{
    struct collect *c = ctx;
    if (c->failed)
        return;
    if (c->resp->n_topics == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        Ringlog__OffsetFetchTopicResult **grown = request_alloc(c->r, cap * sizeof(*grown));
        if (!grown) {
            c->failed = true;
            return;
        }
        if (c->cap)
            memcpy(grown, c->resp->topics, c->cap * sizeof(*grown));
        c->resp->topics = grown;
        c->cap = cap;
    }
    Ringlog__OffsetFetchTopicResult *tr = request_alloc(c->r, sizeof(*tr));
    Ringlog__OffsetFetchPartitionResult **slot = request_alloc(c->r, sizeof(*slot));
    char *topic = request_strdup(c->r, o->topic);
    int error = wire_error_partition_known(topic_table_find(c->table, o->topic), o->partition);
    if (!tr || !slot || !topic ||
        !(slot[0] = fetch_result(c->r, o->partition, o->offset, o->metadata, error))) {
        c->failed = true;
        return;
    }
    ringlog__offset_fetch_topic_result__init(tr);
    tr->topic = topic;
    tr->n_partitions = 1;
    tr->partitions = slot;
    c->resp->topics[c->resp->n_topics++] = tr;
}

/* The answers for one named topic; false when out of memory. */
static bool fetch_topic(struct request *r, const Ringlog__OffsetFetchTopic *ft,
                        const struct topic_info *ti, Ringlog__OffsetFetchTopicResult **out)
{
    const char *group = r->msg->offset_fetch->group;
    Ringlog__OffsetFetchTopicResult *tr = request_alloc(r, sizeof(*tr));
    Ringlog__OffsetFetchPartitionResult **slots =
        request_alloc(r, (ft->n_partitions + 1) * sizeof(*slots));
    if (!tr || !slots)
        return false;
    ringlog__offset_fetch_topic_result__init(tr);
    tr->topic = ft->topic;
    tr->n_partitions = ft->n_partitions;
    tr->partitions = slots;
    *out = tr;
    for (size_t p = 0; p < ft->n_partitions; p++) {
        char metadata[4097] = "";
        int error = wire_error_partition_known(ti, ft->partitions[p]);
        int64_t offset = error ? -1
                               : offset_store_fetch(&r->shard->srv->offsets, group, ft->topic,
                                                    ft->partitions[p], metadata, sizeof(metadata));
        slots[p] = fetch_result(r, ft->partitions[p], offset, metadata, error);
        if (!slots[p])
            return false;
    }
    return true;
}

static void handle_offset_fetch(struct request *r)
{
    Ringlog__OffsetFetchRequest *req = r->msg->offset_fetch;
    struct server *srv = r->shard->srv;
    if (!rl_group_name_valid(req->group)) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST, GROUP_NAME_RULE);
        return;
    }
    Ringlog__OffsetFetchResponse *resp = request_alloc(r, sizeof(*resp));
    struct topic_table *table = topic_registry_snapshot(&srv->topics);
    bool ok = resp != NULL;
    if (ok)
        ringlog__offset_fetch_response__init(resp);
    if (ok && req->n_topics == 0) {
        struct collect c = {.r = r, .resp = resp, .table = table};
        offset_store_each(&srv->offsets, req->group, collect_one, &c);
        ok = !c.failed;
    } else if (ok) {
        resp->n_topics = req->n_topics;
        resp->topics = request_alloc(r, (req->n_topics + 1) * sizeof(*resp->topics));
        ok = resp->topics != NULL;
        for (size_t t = 0; ok && t < req->n_topics; t++)
            ok = fetch_topic(r, req->topics[t], topic_table_find(table, req->topics[t]->topic),
                             &resp->topics[t]);
    }
    if (!ok) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
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
