/*
 * The admin calls beyond create/list/describe/delete topics (ringlog.h):
 * topic configs, partitions, list offsets and delete records. Same rules as
 * admin.c: blocking, serialized under the admin's lock, topic changes sent
 * to the controller (followed on NOT_CONTROLLER).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_internal.h"

/* ------------------------------------------------------------- configs */

/* One allocation: the entries, then their strings. */
static ringlog_config_entry *copy_entries(const Ringlog__DescribeConfigsTopicResult *t)
{
    size_t bytes = (t->n_entries + 1) * sizeof(ringlog_config_entry);
    for (size_t i = 0; i < t->n_entries; i++)
        bytes += strlen(t->entries[i]->name) + strlen(t->entries[i]->value) + 2;
    ringlog_config_entry *out = malloc(bytes);
    if (!out)
        return NULL;
    char *text = (char *)(out + t->n_entries + 1);
    for (size_t i = 0; i < t->n_entries; i++) {
        const Ringlog__ConfigEntry *e = t->entries[i];
        out[i].name = strcpy(text, e->name);
        text += strlen(e->name) + 1;
        out[i].value = strcpy(text, e->value);
        text += strlen(e->value) + 1;
        out[i].is_default = e->is_default;
    }
    assert(text <= (char *)out + bytes);
    return out;
}

int ringlog_admin_describe_configs(ringlog_admin *a, const char *topic,
                                   ringlog_config_entry **entries, size_t *count, char *errbuf,
                                   size_t errlen)
{
    if (!a || !topic || !entries || !count) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    *entries = NULL;
    *count = 0;
    char *topics[1] = {(char *)topic};
    Ringlog__DescribeConfigsRequest dr = RINGLOG__DESCRIBE_CONFIGS_REQUEST__INIT;
    dr.n_topics = 1;
    dr.topics = topics;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DESCRIBE_CONFIGS;
    req.describe_configs = &dr;
    Ringlog__Response *resp = NULL;
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_call_locked(a, &req, &resp, true, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    if (err)
        return err;
    const Ringlog__DescribeConfigsTopicResult *t = NULL;
    if (resp->body_case == RINGLOG__RESPONSE__BODY_DESCRIBE_CONFIGS &&
        resp->describe_configs->n_topics == 1)
        t = resp->describe_configs->topics[0];
    if (!t) {
        err = RINGLOG_ERR_PROTOCOL;
        rl_errbuf(errbuf, errlen, "unexpected answer from the broker");
    } else if (t->error) {
        err = t->error;
        rl_errbuf(errbuf, errlen, "%s: %s", topic,
                  t->error_message && t->error_message[0] ? t->error_message
                                                          : ringlog_err_str(err));
    } else if (!(*entries = copy_entries(t))) {
        err = RINGLOG_ERR_NOMEM;
    } else {
        *count = t->n_entries;
    }
    rl_conn_response_free(resp);
    return err;
}

int ringlog_admin_alter_configs(ringlog_admin *a, const char *topic,
                                const ringlog_config_alter *alters, size_t n, bool validate_only,
                                char *errbuf, size_t errlen)
{
    if (!a || !topic || (n && !alters) || n > 64) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__AlterConfigEntry e[64], *ep[64];
    for (size_t i = 0; i < n; i++) {
        if (!alters[i].name || (alters[i].op == RINGLOG_CONFIG_SET && !alters[i].value) ||
            (alters[i].op != RINGLOG_CONFIG_SET && alters[i].op != RINGLOG_CONFIG_DELETE)) {
            rl_errbuf(errbuf, errlen, "config %zu: a name, an op and (to set) a value", i);
            return RINGLOG_ERR_INVALID_ARG;
        }
        ringlog__alter_config_entry__init(&e[i]);
        e[i].name = (char *)alters[i].name;
        e[i].op = alters[i].op == RINGLOG_CONFIG_DELETE
                      ? RINGLOG__ALTER_CONFIG_OP__ALTER_CONFIG_DELETE
                      : RINGLOG__ALTER_CONFIG_OP__ALTER_CONFIG_SET;
        e[i].value = (char *)(alters[i].value ? alters[i].value : "");
        ep[i] = &e[i];
    }
    Ringlog__AlterConfigsTopic at = RINGLOG__ALTER_CONFIGS_TOPIC__INIT, *atp = &at;
    at.topic = (char *)topic;
    at.n_entries = n;
    at.entries = ep;
    Ringlog__AlterConfigsRequest ar = RINGLOG__ALTER_CONFIGS_REQUEST__INIT;
    ar.n_topics = 1;
    ar.topics = &atp;
    ar.validate_only = validate_only;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_ALTER_CONFIGS;
    req.alter_configs = &ar;
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_topic_call(a, topic, &req, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    return err;
}

/* ---------------------------------------------------------- partitions */

int ringlog_admin_create_partitions(ringlog_admin *a, const char *topic, int32_t total,
                                    char *errbuf, size_t errlen)
{
    if (!a || !topic || total <= 0) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__CreatePartitionsTopic ct = RINGLOG__CREATE_PARTITIONS_TOPIC__INIT, *ctp = &ct;
    ct.topic = (char *)topic;
    ct.count = (uint32_t)total;
    Ringlog__CreatePartitionsRequest cr = RINGLOG__CREATE_PARTITIONS_REQUEST__INIT;
    cr.n_topics = 1;
    cr.topics = &ctp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_PARTITIONS;
    req.create_partitions = &cr;
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_topic_call(a, topic, &req, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    return err;
}

/* -------------------------------------------------------- list offsets */

/* The leader of each part (-1: none, -2: no such partition); false when the topic is not there. */
static int leaders_of(struct ringlog_admin *a, const char *topic, ringlog_partition_offset *parts,
                      size_t n, int32_t *leader, Ringlog__Response **md, char *errbuf,
                      size_t errlen)
{
    int err = rl_admin_metadata(a, topic, md, errbuf, errlen);
    if (err)
        return err;
    const Ringlog__MetadataResponse *m = (*md)->metadata;
    const Ringlog__TopicMetadata *t = m->n_topics == 1 ? m->topics[0] : NULL;
    if (!t || t->error) {
        err = t ? (int)t->error : RINGLOG_ERR_UNKNOWN_TOPIC;
        rl_errbuf(errbuf, errlen, "%s: %s", topic, ringlog_err_str(err));
        rl_conn_response_free(*md);
        *md = NULL;
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        leader[i] = -2;
        for (size_t k = 0; k < t->n_partitions; k++)
            if (parts[i].partition >= 0 &&
                t->partitions[k]->partition == (uint32_t)parts[i].partition)
                leader[i] = t->partitions[k]->leader;
    }
    return RINGLOG_OK;
}

/* Asks `node` for the offsets of the parts it leads; their err set either way. */
static void offsets_from(struct ringlog_admin *a, const Ringlog__MetadataResponse *m,
                         const char *topic, int32_t node, ringlog_partition_offset *parts, size_t n,
                         const int32_t *leader)
{
    Ringlog__ListOffsetsPartition *lp = calloc(n + 1, sizeof(*lp));
    Ringlog__ListOffsetsPartition **lpp = calloc(n + 1, sizeof(*lpp));
    size_t k = 0;
    if (!lp || !lpp) {
        for (size_t i = 0; i < n; i++)
            if (leader[i] == node)
                parts[i].err = RINGLOG_ERR_NOMEM;
        free(lp);
        free(lpp);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (leader[i] == node) {
            ringlog__list_offsets_partition__init(&lp[k]);
            lp[k].partition = (uint32_t)parts[i].partition;
            lp[k].timestamp = parts[i].offset;
            lpp[k] = &lp[k];
            k++;
        }
    Ringlog__ListOffsetsTopic lt = RINGLOG__LIST_OFFSETS_TOPIC__INIT, *ltp = &lt;
    lt.topic = (char *)topic;
    lt.n_partitions = k;
    lt.partitions = lpp;
    Ringlog__ListOffsetsRequest lr = RINGLOG__LIST_OFFSETS_REQUEST__INIT;
    lr.n_topics = 1;
    lr.topics = &ltp;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_OFFSETS;
    req.list_offsets = &lr;
    Ringlog__Response *resp =
        k ? rl_admin_call_node(a, m, node, &req, RINGLOG__RESPONSE__BODY_LIST_OFFSETS) : NULL;
    free(lp);
    free(lpp);
    const Ringlog__ListOffsetsTopicResult *tr =
        resp && resp->list_offsets->n_topics == 1 ? resp->list_offsets->topics[0] : NULL;
    /* Results come in request order: the j-th is the j-th part sent (a partition may be
     * asked several times, for different times). */
    for (size_t i = 0, j = 0; i < n; i++) {
        if (leader[i] != node)
            continue;
        const Ringlog__ListOffsetsPartitionResult *pr =
            tr && j < tr->n_partitions ? tr->partitions[j++] : NULL;
        parts[i].err = RINGLOG_ERR_TRANSPORT;
        if (pr && pr->partition == (uint32_t)parts[i].partition) {
            parts[i].err = pr->error;
            parts[i].offset = pr->offset;
            parts[i].timestamp = pr->timestamp;
        }
    }
    if (resp)
        rl_conn_response_free(resp);
}

int rl_admin_list_offsets_locked(struct ringlog_admin *a, const char *topic,
                                 ringlog_partition_offset *parts, size_t n, char *errbuf,
                                 size_t errlen)
{
    int32_t *leader = calloc(n + 1, sizeof(int32_t));
    if (!leader)
        return RINGLOG_ERR_NOMEM;
    Ringlog__Response *md = NULL;
    int err = leaders_of(a, topic, parts, n, leader, &md, errbuf, errlen);
    for (size_t i = 0; !err && i < n; i++)
        parts[i].timestamp = -1;
    for (size_t i = 0; !err && i < n; i++) {
        if (leader[i] < 0)
            parts[i].err =
                leader[i] == -2 ? RINGLOG_ERR_UNKNOWN_PARTITION : RINGLOG_ERR_LEADER_NOT_AVAILABLE;
        bool asked = leader[i] < 0;
        for (size_t k = 0; k < i && !asked; k++)
            asked = leader[k] == leader[i];
        if (!asked)
            offsets_from(a, md->metadata, topic, leader[i], parts, n, leader);
    }
    if (md)
        rl_conn_response_free(md);
    free(leader);
    return err;
}

int ringlog_admin_list_offsets(ringlog_admin *a, const char *topic, ringlog_partition_offset *parts,
                               size_t n, char *errbuf, size_t errlen)
{
    if (!a || !topic || (n && !parts)) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&a->mu);
    int err = rl_admin_list_offsets_locked(a, topic, parts, n, errbuf, errlen);
    pthread_mutex_unlock(&a->mu);
    return err;
}
