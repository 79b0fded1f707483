/*
 * DescribeConfigs and AlterConfigs (Kafka's IncrementalAlterConfigs) of
 * topics. Describe reads the topic table on the request's shard. Alter is
 * a topic job (topic_job.h) on shard 0: each topic's new config is its
 * current one with the entries applied in order (set, or delete back to
 * the broker's default), checked, then published and applied live to the
 * partitions (topic_change.h) on a single broker, or proposed to the
 * controller on a cluster.
 */
#include <assert.h>
#include <string.h>

#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "topic_config_text.h"
#include "topic_job.h"

/* ------------------------------------------------------------ describe */

static Ringlog__DescribeConfigsTopicResult *
describe_one(struct request *r, const struct topic_table *tt, const char *name)
{
    Ringlog__DescribeConfigsTopicResult *res = request_alloc(r, sizeof(*res));
    Ringlog__ConfigEntry **entries = request_alloc(r, TOPIC_CONFIG_KEYS * sizeof(*entries));
    Ringlog__ConfigEntry *e = request_alloc(r, TOPIC_CONFIG_KEYS * sizeof(*e));
    if (!res || !entries || !e)
        return NULL;
    ringlog__describe_configs_topic_result__init(res);
    res->topic = (char *)name;
    res->error_message = "";
    const struct topic_info *t = topic_table_find(tt, name);
    if (!t) {
        res->error = RINGLOG__ERROR_CODE__UNKNOWN_TOPIC;
        res->error_message = (char *)rl_error_message(res->error);
        return res;
    }
    struct topic_config defaults;
    struct topic_config_entry desc[TOPIC_CONFIG_KEYS];
    topic_config_defaults(&r->shard->srv->cfg, &defaults);
    size_t n = topic_config_describe(&t->config, &defaults, desc);
    for (size_t i = 0; i < n; i++) {
        ringlog__config_entry__init(&e[i]);
        e[i].name = (char *)desc[i].name;
        e[i].value = request_strdup(r, desc[i].value);
        e[i].is_default = desc[i].is_default;
        if (!e[i].value)
            return NULL;
        entries[i] = &e[i];
    }
    res->n_entries = n;
    res->entries = entries;
    return res;
}

static void handle_describe_configs(struct request *r)
{
    const Ringlog__DescribeConfigsRequest *req = r->msg->describe_configs;
    Ringlog__DescribeConfigsResponse *resp = request_alloc(r, sizeof(*resp));
    Ringlog__DescribeConfigsTopicResult **topics =
        request_alloc(r, (req->n_topics + 1) * sizeof(*topics));
    if (!resp || !topics) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__describe_configs_response__init(resp);
    const struct topic_table *tt = topic_registry_snapshot(&r->shard->srv->topics);
    for (size_t i = 0; i < req->n_topics; i++) {
        topics[i] = describe_one(r, tt, req->topics[i]);
        if (!topics[i]) {
            request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
    }
    resp->n_topics = req->n_topics;
    resp->topics = topics;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_DESCRIBE_CONFIGS;
    r->resp.describe_configs = resp;
    request_complete(r);
}

/* --------------------------------------------------------------- alter */

/* The topic's config with the request's entries applied; -1 with *why when one is refused. */
static int altered_config(const struct server *srv, const struct topic_info *t,
                          const Ringlog__AlterConfigsTopic *at, struct topic_config *out,
                          const char **why)
{
    struct topic_config defaults;
    topic_config_defaults(&srv->cfg, &defaults);
    *out = t->config;
    for (size_t i = 0; i < at->n_entries; i++) {
        const Ringlog__AlterConfigEntry *e = at->entries[i];
        int rc = e->op == RINGLOG__ALTER_CONFIG_OP__ALTER_CONFIG_DELETE
                     ? topic_config_reset(out, e->name, &defaults, why)
                     : topic_config_set(out, e->name, e->value, why);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static void alter_begin(struct topic_job *job)
{
    struct shard *s = shard_current();
    const Ringlog__AlterConfigsRequest *req = job->r->msg->alter_configs;
    const Ringlog__AlterConfigsTopic *at = req->topics[job->next];
    const struct topic_info *t =
        topic_table_find(topic_registry_snapshot(&s->srv->topics), at->topic ? at->topic : "");
    struct topic_config cfg;
    const char *why = NULL;
    if (topic_job_not_controller(job))
        return;
    if (!t)
        topic_job_answer(job, RINGLOG__ERROR_CODE__UNKNOWN_TOPIC, NULL);
    else if (altered_config(s->srv, t, at, &cfg, &why) != 0)
        topic_job_answer(job, RINGLOG__ERROR_CODE__INVALID_CONFIG, why);
    else if (req->validate_only)
        topic_job_answer(job, RINGLOG__ERROR_CODE__NONE, "");
    else if (s->srv->cluster)
        controller_alter_config(s, topic_job_call(job), t, &cfg);
    else
        topic_change_config(topic_job_change(job), t, &cfg);
}

static void handle_alter_configs(struct request *r)
{
    const Ringlog__AlterConfigsRequest *req = r->msg->alter_configs;
    Ringlog__AlterConfigsResponse *resp = request_alloc(r, sizeof(*resp));
    struct topic_job *job = resp ? topic_job_new(r, req->n_topics) : NULL;
    if (!job) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__alter_configs_response__init(resp);
    for (size_t i = 0; i < req->n_topics; i++)
        job->results[i]->name = req->topics[i]->topic;
    resp->n_topics = req->n_topics;
    resp->topics = job->results;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_ALTER_CONFIGS;
    r->resp.alter_configs = resp;
    job->begin = alter_begin;
    topic_job_run(job);
}

void handle_configs(struct request *r)
{
    assert(r->msg->body_case == RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS ||
           r->msg->body_case == RINGLOG__REQUEST__BODY_ALTER_CONFIGS);
    if (r->msg->body_case == RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS)
        handle_describe_configs(r);
    else
        handle_alter_configs(r);
}
