/*
 * The coordinator's member-facing calls (coordinator.h): heartbeats,
 * offset commits and fetches. Each answers once what it changed is
 * written to __groups.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator_internal.h"
#include "errors.h"
#include "group_wire.h"
#include "handlers/wire_errors.h"
#include "names.h"
#include "server.h"
#include "shard.h"

static const char GROUP_NAME_RULE[] =
    "group names are 1-200 characters of [A-Za-z0-9._-], not starting with '.'";

int coord_wire_error(enum group_error e)
{
    switch (e) {
    case GROUP_OK:
        return RINGLOG__ERROR_CODE__NONE;
    case GROUP_UNKNOWN_MEMBER:
        return RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID;
    case GROUP_FENCED_EPOCH:
        return RINGLOG__ERROR_CODE__FENCED_MEMBER_EPOCH;
    case GROUP_STALE_EPOCH:
        return RINGLOG__ERROR_CODE__STALE_MEMBER_EPOCH;
    case GROUP_NOT_EMPTY:
        return RINGLOG__ERROR_CODE__GROUP_NOT_EMPTY;
    case GROUP_FULL:
        return RINGLOG__ERROR_CODE__GROUP_MAX_SIZE_REACHED;
    case GROUP_BAD_PATTERN:
        return RINGLOG__ERROR_CODE__INVALID_GROUP_PATTERN;
    case GROUP_BAD_REQUEST:
        return RINGLOG__ERROR_CODE__INVALID_REQUEST;
    case GROUP_NO_MEMORY:
        break;
    }
    return RINGLOG__ERROR_CODE__UNKNOWN;
}

static void pack_into(struct coord_call *c, Ringlog__Response *resp)
{
    size_t len = ringlog__response__get_packed_size(resp);
    c->resp = malloc(len ? len : 1);
    c->resp_len = c->resp ? len : 0;
    if (c->resp != NULL)
        ringlog__response__pack(resp, c->resp);
}

void coord_answer(struct coord_call *c, Ringlog__Response *resp)
{
    pack_into(c, resp);
    c->done(c);
}

void coord_fail(struct coord_call *c, int error, const char *message)
{
    assert(error != RINGLOG__ERROR_CODE__NONE);
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.error = error;
    resp.error_message = (char *)(message ? message : rl_error_message(error));
    coord_answer(c, &resp);
}

/*
 * The answer packed before the write goes out once the write is in (on a
 * cluster: committed). A write that failed because this broker stopped
 * leading the partition is NOT_COORDINATOR: the client finds the new
 * coordinator, which has the group as far as it was committed.
 */
static void answer_written(void *ctx, bool ok)
{
    struct coord_call *c = ctx;
    if (!ok) {
        free(c->resp);
        c->resp = NULL;
        struct coord_part *cp = &c->shard->groups->parts[c->partition];
        if (!coord_part_leads(cp))
            coord_fail(c, RINGLOG__ERROR_CODE__NOT_COORDINATOR,
                       "this broker stopped leading the group's partition of __groups");
        else
            coord_fail(c, RINGLOG__ERROR_CODE__STORAGE_ERROR,
                       "the group's change could not be written to __groups");
        return;
    }
    c->done(c);
}

/* ----------------------------------------------------------- heartbeat */

static uint32_t heartbeat_interval(const struct group_member *m)
{
    uint32_t ms = m->session_timeout_ms / 5;
    return ms < 100 ? 100 : ms > 3000 ? 3000 : ms;
}

static void heartbeat_answer(struct coord_call *c, struct group_heartbeat *hb, enum group_error e)
{
    Ringlog__ConsumerGroupHeartbeatResponse body = RINGLOG__CONSUMER_GROUP_HEARTBEAT_RESPONSE__INIT;
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_GROUP_HEARTBEAT;
    resp.group_heartbeat = &body;
    body.error = coord_wire_error(e);
    body.error_message = (char *)(hb->message ? hb->message
                                  : e         ? rl_error_message(body.error)
                                              : "");
    body.member_id = (char *)(hb->member ? hb->member->id : hb->member_id ? hb->member_id : "");
    body.member_epoch = hb->member             ? hb->member->epoch
                        : hb->member_epoch < 0 ? hb->member_epoch
                                               : 0;
    if (hb->member) {
        body.heartbeat_interval_ms = heartbeat_interval(hb->member);
        if (tp_set_to_wire(&hb->member->assigned, &body.assignment, &body.n_assignment) != 0) {
            coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
    }
    pack_into(c, &resp);
    tp_wire_free(body.assignment, body.n_assignment);
}

void coord_serve_heartbeat(struct coord_part *cp, struct coord_call *c)
{
    const Ringlog__ConsumerGroupHeartbeatRequest *req = c->msg->group_heartbeat;
    if (!rl_group_name_valid(req->group)) {
        coord_fail(c, RINGLOG__ERROR_CODE__INVALID_REQUEST, GROUP_NAME_RULE);
        return;
    }
    struct group *g = group_table_get(&cp->groups, req->group, COORD_MAX_GROUPS);
    if (g == NULL) {
        coord_fail(c, RINGLOG__ERROR_CODE__GROUP_MAX_SIZE_REACHED,
                   "the coordinator holds its maximum number of groups");
        return;
    }
    char new_id[64];
    coord_member_id(cp->co, new_id, sizeof(new_id));
    struct tp_set owned = {0};
    struct group_topics view;
    coord_topics(&view);
    struct group_heartbeat hb = {.member_id = req->member_id,
                                 .member_epoch = req->member_epoch,
                                 .instance_id = req->instance_id,
                                 .client_id = c->msg->client_id,
                                 .topics = req->subscribed_topics,
                                 .ntopics = req->n_subscribed_topics,
                                 .pattern = req->subscribed_pattern,
                                 .owned = &owned,
                                 .rebalance_timeout_ms = req->rebalance_timeout_ms,
                                 .session_timeout_ms = req->session_timeout_ms,
                                 .assignor = req->assignor,
                                 .new_member_id = new_id,
                                 .now_ms = c->shard->loop.now_ms};
    enum group_error e = tp_set_from_wire(&owned, req->owned, req->n_owned) == 0
                             ? group_heartbeat(g, &hb, &view)
                             : GROUP_NO_MEMORY;
    tp_set_free(&owned);
    heartbeat_answer(c, &hb, e);
    if (c->resp == NULL) {
        coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    coord_write_group(cp, g, answer_written, c);
}

/* -------------------------------------------------------------- commit */

/* One topic's commits into g (those the member may make); results into tr. */
static void commit_topic(struct group *g, const Ringlog__OffsetCommitTopic *ct,
                         const struct topic_info *ti, int fence,
                         Ringlog__OffsetCommitTopicResult *tr)
{
    for (size_t p = 0; p < ct->n_partitions; p++) {
        const Ringlog__OffsetCommitPartition *cp = ct->partitions[p];
        Ringlog__OffsetCommitPartitionResult *pr = tr->partitions[p];
        pr->partition = cp->partition;
        pr->error = fence ? fence : wire_error_partition_known(ti, cp->partition);
        if (!pr->error && cp->offset < 0)
            pr->error = RINGLOG__ERROR_CODE__INVALID_REQUEST;
        if (!pr->error) {
            int rc = group_offset_set(g, ct->topic, cp->partition, cp->offset, cp->metadata);
            pr->error = rc == -2  ? RINGLOG__ERROR_CODE__GROUP_MAX_SIZE_REACHED
                        : rc != 0 ? RINGLOG__ERROR_CODE__UNKNOWN
                                  : RINGLOG__ERROR_CODE__NONE;
        }
        pr->error_message = pr->error == RINGLOG__ERROR_CODE__INVALID_REQUEST && !fence
                                ? "a committed offset must be >= 0"
                                : (char *)(pr->error ? rl_error_message(pr->error) : "");
    }
}

/* The response skeleton for a commit: a result per partition asked (calloc'd, freed by caller). */
struct commit_space {
    Ringlog__OffsetCommitTopicResult *topics;
    Ringlog__OffsetCommitTopicResult **topic_ptrs;
    Ringlog__OffsetCommitPartitionResult *parts;
    Ringlog__OffsetCommitPartitionResult **part_ptrs;
};

static int commit_space(struct commit_space *s, const Ringlog__OffsetCommitRequest *req)
{
    size_t n = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        n += req->topics[t]->n_partitions;
    s->topics = calloc(req->n_topics + 1, sizeof(*s->topics));
    s->topic_ptrs = calloc(req->n_topics + 1, sizeof(*s->topic_ptrs));
    s->parts = calloc(n + 1, sizeof(*s->parts));
    s->part_ptrs = calloc(n + 1, sizeof(*s->part_ptrs));
    if (!s->topics || !s->topic_ptrs || !s->parts || !s->part_ptrs)
        return -1;
    size_t k = 0;
    for (size_t t = 0; t < req->n_topics; t++) {
        ringlog__offset_commit_topic_result__init(&s->topics[t]);
        s->topics[t].topic = req->topics[t]->topic;
        s->topics[t].n_partitions = req->topics[t]->n_partitions;
        s->topics[t].partitions = &s->part_ptrs[k];
        s->topic_ptrs[t] = &s->topics[t];
        for (size_t p = 0; p < req->topics[t]->n_partitions; p++, k++) {
            ringlog__offset_commit_partition_result__init(&s->parts[k]);
            s->part_ptrs[k] = &s->parts[k];
        }
    }
    assert(k == n);
    return 0;
}

static void commit_space_free(struct commit_space *s)
{
    free(s->topics);
    free(s->topic_ptrs);
    free(s->parts);
    free(s->part_ptrs);
}

void coord_serve_commit(struct coord_part *cp, struct coord_call *c)
{
    const Ringlog__OffsetCommitRequest *req = c->msg->offset_commit;
    if (!rl_group_name_valid(req->group)) {
        coord_fail(c, RINGLOG__ERROR_CODE__INVALID_REQUEST, GROUP_NAME_RULE);
        return;
    }
    bool member = req->member_id[0] != '\0';
    struct group *g = member ? group_table_find(&cp->groups, req->group)
                             : group_table_get(&cp->groups, req->group, COORD_MAX_GROUPS);
    if (g == NULL && !member) {
        coord_fail(c, RINGLOG__ERROR_CODE__GROUP_MAX_SIZE_REACHED,
                   "the coordinator holds its maximum number of groups");
        return;
    }
    int fence = g ? coord_wire_error(group_commit_check(g, req->member_id, req->member_epoch))
                  : RINGLOG__ERROR_CODE__UNKNOWN_MEMBER_ID;
    struct commit_space s = {0};
    if (commit_space(&s, req) != 0) {
        commit_space_free(&s);
        coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    struct topic_table *table = topic_registry_snapshot(&c->shard->srv->topics);
    for (size_t t = 0; t < req->n_topics; t++)
        commit_topic(g, req->topics[t], topic_table_find(table, req->topics[t]->topic), fence,
                     &s.topics[t]);
    Ringlog__OffsetCommitResponse body = RINGLOG__OFFSET_COMMIT_RESPONSE__INIT;
    body.n_topics = req->n_topics;
    body.topics = s.topic_ptrs;
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_OFFSET_COMMIT;
    resp.offset_commit = &body;
    pack_into(c, &resp);
    commit_space_free(&s);
    if (c->resp == NULL) {
        coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    if (g == NULL) {
        c->done(c);
        return;
    }
    coord_write_group(cp, g, answer_written, c);
}

/* --------------------------------------------------------------- fetch */

struct fetch_space {
    Ringlog__OffsetFetchTopicResult *topics;
    Ringlog__OffsetFetchTopicResult **topic_ptrs;
    Ringlog__OffsetFetchPartitionResult *parts;
    Ringlog__OffsetFetchPartitionResult **part_ptrs;
    size_t nt, np;
};

static int fetch_space(struct fetch_space *s, size_t topics, size_t parts)
{
    s->topics = calloc(topics + 1, sizeof(*s->topics));
    s->topic_ptrs = calloc(topics + 1, sizeof(*s->topic_ptrs));
    s->parts = calloc(parts + 1, sizeof(*s->parts));
    s->part_ptrs = calloc(parts + 1, sizeof(*s->part_ptrs));
    return s->topics && s->topic_ptrs && s->parts && s->part_ptrs ? 0 : -1;
}

static Ringlog__OffsetFetchTopicResult *fetch_topic(struct fetch_space *s, const char *topic)
{
    Ringlog__OffsetFetchTopicResult *tr = &s->topics[s->nt];
    ringlog__offset_fetch_topic_result__init(tr);
    tr->topic = (char *)topic;
    tr->partitions = &s->part_ptrs[s->np];
    s->topic_ptrs[s->nt++] = tr;
    return tr;
}

static void fetch_partition(struct fetch_space *s, Ringlog__OffsetFetchTopicResult *tr,
                            uint32_t partition, int error, const struct group_offset *o)
{
    Ringlog__OffsetFetchPartitionResult *pr = &s->parts[s->np];
    ringlog__offset_fetch_partition_result__init(pr);
    pr->partition = partition;
    pr->error = error;
    pr->error_message = (char *)(error ? rl_error_message(error) : "");
    pr->offset = o && !error ? o->offset : -1;
    pr->metadata = o && !error ? o->metadata : "";
    s->part_ptrs[s->np++] = pr;
    tr->n_partitions++;
}

static void fetch_space_free(struct fetch_space *s)
{
    free(s->topics);
    free(s->topic_ptrs);
    free(s->parts);
    free(s->part_ptrs);
}

/* Fills s with the offsets asked for (every committed one when no topic is named). */
static int fetch_fill(struct fetch_space *s, const struct group *g,
                      const Ringlog__OffsetFetchRequest *req, const struct topic_table *table)
{
    size_t nt = req->n_topics, np = 0;
    for (size_t t = 0; t < req->n_topics; t++)
        np += req->topics[t]->n_partitions;
    if (req->n_topics == 0)
        nt = np = g ? g->noffsets : 0;
    if (fetch_space(s, nt, np) != 0)
        return -1;
    for (size_t i = 0; req->n_topics == 0 && g && i < g->noffsets; i++) {
        const struct group_offset *o = &g->offsets[i];
        fetch_partition(s, fetch_topic(s, o->topic), o->partition,
                        wire_error_partition_known(topic_table_find(table, o->topic), o->partition),
                        o);
    }
    for (size_t t = 0; t < req->n_topics; t++) {
        const Ringlog__OffsetFetchTopic *ft = req->topics[t];
        const struct topic_info *ti = topic_table_find(table, ft->topic);
        Ringlog__OffsetFetchTopicResult *tr = fetch_topic(s, ft->topic);
        for (size_t p = 0; p < ft->n_partitions; p++)
            fetch_partition(s, tr, ft->partitions[p],
                            wire_error_partition_known(ti, ft->partitions[p]),
                            g ? group_offset_get(g, ft->topic, ft->partitions[p]) : NULL);
    }
    assert(s->nt == nt && s->np == np);
    return 0;
}

void coord_serve_fetch(struct coord_part *cp, struct coord_call *c)
{
    const Ringlog__OffsetFetchRequest *req = c->msg->offset_fetch;
    if (!rl_group_name_valid(req->group)) {
        coord_fail(c, RINGLOG__ERROR_CODE__INVALID_REQUEST, GROUP_NAME_RULE);
        return;
    }
    const struct group *g = group_table_find(&cp->groups, req->group);
    struct fetch_space s = {0};
    if (fetch_fill(&s, g, req, topic_registry_snapshot(&c->shard->srv->topics)) != 0) {
        fetch_space_free(&s);
        coord_fail(c, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    Ringlog__OffsetFetchResponse body = RINGLOG__OFFSET_FETCH_RESPONSE__INIT;
    body.n_topics = s.nt;
    body.topics = s.topic_ptrs;
    Ringlog__Response resp = RINGLOG__RESPONSE__INIT;
    resp.body_case = RINGLOG__RESPONSE__BODY_OFFSET_FETCH;
    resp.offset_fetch = &body;
    coord_answer(c, &resp);
    fetch_space_free(&s);
}
