#include "topics.h"

#include "atomic_file.h"
#include "names.h"
#include "partition_log.h"
#include "topic_assignment.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int topic_dir_remove(const char *data_dir, const char *name)
{
    assert(rl_topic_name_valid(name));
    char path[4400];
    int n = snprintf(path, sizeof(path), "%s/topics/%s", data_dir, name);
    assert(n > 0 && (size_t)n < sizeof(path));
    (void)n;
    if (rmdir(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

struct topic_info *topic_info_new(const char *name, uint64_t id, uint32_t partitions,
                                  uint32_t replication_factor, const struct topic_config *cfg)
{
    struct topic_info *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->stats = calloc(partitions, sizeof(*t->stats));
    if (!t->stats) {
        free(t);
        return NULL;
    }
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->id = id;
    t->partitions = partitions;
    t->replication_factor = replication_factor;
    t->config = *cfg;
    for (uint32_t i = 0; i < partitions; i++) {
        atomic_init(&t->stats[i].log_start, 0);
        atomic_init(&t->stats[i].log_end, 0);
        atomic_init(&t->stats[i].high_watermark, 0);
        atomic_init(&t->stats[i].size_bytes, 0);
        atomic_init(&t->stats[i].leader_epoch, 0);
        atomic_init(&t->stats[i].watchers, 0);
        atomic_init(&t->stats[i].online, false);
        atomic_init(&t->stats[i].leader, -1);
        atomic_init(&t->stats[i].isr, 0);
        atomic_init(&t->stats[i].records_target, 0);
        atomic_init(&t->stats[i].assigned.seq, 0);
        atomic_init(&t->stats[i].assigned.count, 0);
        atomic_init(&t->stats[i].members.seq, 0);
        atomic_init(&t->stats[i].members.count, 0);
    }
    return t;
}

void topic_info_free(struct topic_info *t)
{
    if (!t)
        return;
    if (!t->stats_lent)
        free(t->stats);
    free(t->replicas);
    free(t);
}

/* The offsets of one partition, from the version being replaced. */
static void stats_copy(struct partition_stats *to, const struct partition_stats *from)
{
    atomic_store(&to->log_start, atomic_load(&from->log_start));
    atomic_store(&to->log_end, atomic_load(&from->log_end));
    atomic_store(&to->high_watermark, atomic_load(&from->high_watermark));
    atomic_store(&to->size_bytes, atomic_load(&from->size_bytes));
    atomic_store(&to->leader_epoch, atomic_load(&from->leader_epoch));
    atomic_store(&to->leader, atomic_load(&from->leader));
    atomic_store(&to->isr, atomic_load(&from->isr));
    atomic_store(&to->online, atomic_load(&from->online));
    atomic_store(&to->records_target, atomic_load(&from->records_target));
    int32_t nodes[TOPIC_MAX_REPLICAS];
    uint32_t n = replica_set_read(&from->assigned, nodes);
    if (n > 0)
        replica_set_write(&to->assigned, nodes, n);
    n = replica_set_read(&from->members, nodes);
    if (n > 0)
        replica_set_write(&to->members, nodes, n);
}

struct topic_info *topic_info_next(const struct topic_info *t, uint32_t partitions)
{
    assert(partitions >= t->partitions);
    struct topic_info *n =
        topic_info_new(t->name, t->id, partitions, t->replication_factor, &t->config);
    if (!n)
        return NULL;
    size_t rf = t->replication_factor;
    if (t->replicas) {
        n->replicas = calloc((size_t)partitions * rf, sizeof(int32_t));
        if (!n->replicas) {
            topic_info_free(n);
            return NULL;
        }
        memcpy(n->replicas, t->replicas, (size_t)t->partitions * rf * sizeof(int32_t));
    }
    if (partitions == t->partitions) {
        free(n->stats);
        n->stats = t->stats; /* shared: t lends it on replace */
    } else {
        for (uint32_t p = 0; p < t->partitions; p++)
            stats_copy(&n->stats[p], &t->stats[p]);
    }
    assert(n->id == t->id);
    return n;
}

int topic_registry_replace(struct topic_registry *r, struct topic_info *next, char *err,
                           size_t err_len)
{
    struct topic_info *old = topic_table_find(topic_registry_snapshot(r), next->name);
    if (!old || old == next) {
        snprintf(err, err_len, "topic %s is not in the table", next->name);
        return -1;
    }
    if (topic_registry_publish(r, next, next->name, err, err_len) != 0)
        return -1;
    if (old->stats == next->stats)
        old->stats_lent = true;
    return 0;
}

static int compare_topics(const void *a, const void *b)
{
    const struct topic_info *x = *(struct topic_info *const *)a;
    const struct topic_info *y = *(struct topic_info *const *)b;
    return strcmp(x->name, y->name);
}

struct topic_info *topic_table_find(const struct topic_table *t, const char *name)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, t->topics[mid]->name);
        if (c == 0)
            return t->topics[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static struct topic_table *table_new(uint64_t version, uint32_t count)
{
    struct topic_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->topics = calloc(count ? count : 1, sizeof(*t->topics));
    if (!t->topics) {
        free(t);
        return NULL;
    }
    t->version = version;
    t->count = count;
    return t;
}

static void table_free(struct topic_table *t)
{
    if (!t)
        return;
    free(t->topics);
    free(t);
}

int topic_cleanup_policy_parse(const char *text, uint32_t *out)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } names[] = {{"", TOPIC_CLEANUP_DELETE},
                 {"delete", TOPIC_CLEANUP_DELETE},
                 {"compact", TOPIC_CLEANUP_COMPACT},
                 {"compact,delete", TOPIC_CLEANUP_COMPACT | TOPIC_CLEANUP_DELETE},
                 {"delete,compact", TOPIC_CLEANUP_COMPACT | TOPIC_CLEANUP_DELETE}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].bits;
            return 0;
        }
    return -1;
}

const char *topic_cleanup_policy_name(uint32_t policy)
{
    if (policy == TOPIC_CLEANUP_COMPACT)
        return "compact";
    if (policy == (TOPIC_CLEANUP_COMPACT | TOPIC_CLEANUP_DELETE))
        return "compact,delete";
    return "delete";
}

_Static_assert(TOPIC_CLEANUP_DELETE == LOG_CLEANUP_DELETE &&
                   TOPIC_CLEANUP_COMPACT == LOG_CLEANUP_COMPACT,
               "the topic table stores the engine's cleanup bits");

void topic_config_apply_compaction(const struct topic_config *tc, struct partition_log_config *cfg)
{
    assert(tc->cleanup_policy <= (TOPIC_CLEANUP_DELETE | TOPIC_CLEANUP_COMPACT));
    cfg->cleanup_policy = tc->cleanup_policy ? tc->cleanup_policy : TOPIC_CLEANUP_DELETE;
    if (tc->delete_retention_ms > 0)
        cfg->delete_retention_ms = tc->delete_retention_ms;
    if (tc->min_cleanable_dirty_ratio > 0)
        cfg->min_cleanable_dirty_ratio = tc->min_cleanable_dirty_ratio;
    cfg->min_compaction_lag_ms = tc->min_compaction_lag_ms;
}

/*
 * The compaction fields that follow the v1 fields on a line
 * (" cleanup_policy=compact delete_retention_ms=... dirty_ratio=...
 * compaction_lag_ms=..."). A table written before they existed has none:
 * its topics keep the delete policy.
 */
static int parse_compaction(const char *line, struct topic_config *cfg)
{
    cfg->cleanup_policy = TOPIC_CLEANUP_DELETE;
    const char *p = strstr(line, " cleanup_policy=");
    if (p == NULL)
        return 0;
    char policy[32];
    long long drm = 0, lag = 0;
    double ratio = 0;
    if (sscanf(p,
               " cleanup_policy=%31s delete_retention_ms=%lld dirty_ratio=%lf "
               "compaction_lag_ms=%lld",
               policy, &drm, &ratio, &lag) != 4 ||
        topic_cleanup_policy_parse(policy, &cfg->cleanup_policy) != 0)
        return -1;
    cfg->delete_retention_ms = drm;
    cfg->min_cleanable_dirty_ratio = ratio;
    cfg->min_compaction_lag_ms = lag;
    return 0;
}

static int parse_topic_line(char *line, struct topic_info **out)
{
    char name[TOPIC_NAME_MAX + 2];
    unsigned long long id;
    unsigned partitions, rf;
    long long rms, rbytes, sbytes, sms;
    int n = sscanf(line,
                   "topic %250s id=%llu partitions=%u rf=%u retention_ms=%lld "
                   "retention_bytes=%lld segment_bytes=%lld segment_ms=%lld",
                   name, &id, &partitions, &rf, &rms, &rbytes, &sbytes, &sms);
    if (n != 8 || !rl_topic_name_valid(name) || partitions == 0 ||
        partitions > TOPIC_MAX_PARTITIONS)
        return -1;
    struct topic_config cfg = {
        .retention_ms = rms, .retention_bytes = rbytes, .segment_bytes = sbytes, .segment_ms = sms};
    if (parse_compaction(line, &cfg) != 0)
        return -1;
    *out = topic_info_new(name, id, partitions, rf, &cfg);
    return *out ? 0 : -1;
}

int topic_registry_load(struct topic_registry *r, const char *data_dir, bool cluster, char *err,
                        size_t err_len)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "%s/meta/topics%s", data_dir, cluster ? ".cluster" : "");
    r->next_topic_id = 1;
    struct topic_table *t = table_new(1, 0);
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    FILE *f = cluster ? NULL : fopen(r->path, "r");
    if (!f && !cluster && errno != ENOENT) {
        snprintf(err, err_len, "cannot read %s: %s", r->path, strerror(errno));
        table_free(t);
        return -1;
    }
    char line[1024];
    int lineno = 0;
    while (f && fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        struct topic_info *info;
        if (parse_topic_line(line, &info) != 0) {
            snprintf(err, err_len, "%s:%d: malformed topic line", r->path, lineno);
            fclose(f);
            for (uint32_t i = 0; i < t->count; i++)
                topic_info_free(t->topics[i]);
            table_free(t);
            return -1;
        }
        struct topic_info **grown = realloc(t->topics, (t->count + 1) * sizeof(*grown));
        if (!grown) {
            topic_info_free(info);
            break;
        }
        t->topics = grown;
        t->topics[t->count++] = info;
        if (info->id >= r->next_topic_id)
            r->next_topic_id = info->id + 1;
    }
    if (f)
        fclose(f);
    qsort(t->topics, t->count, sizeof(*t->topics), compare_topics);
    atomic_init(&r->version, 1);
    atomic_init(&r->current, t);
    return 0;
}

/* Writes the table to r->path (atomic_file.h). */
static int persist(struct topic_registry *r, const struct topic_table *t, char *err, size_t err_len)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    fprintf(f, "# ringlog topics v1\n");
    for (uint32_t i = 0; i < t->count; i++) {
        const struct topic_info *ti = t->topics[i];
        fprintf(f,
                "topic %s id=%llu partitions=%u rf=%u retention_ms=%lld retention_bytes=%lld "
                "segment_bytes=%lld segment_ms=%lld cleanup_policy=%s delete_retention_ms=%lld "
                "dirty_ratio=%.17g compaction_lag_ms=%lld\n",
                ti->name, (unsigned long long)ti->id, ti->partitions, ti->replication_factor,
                (long long)ti->config.retention_ms, (long long)ti->config.retention_bytes,
                (long long)ti->config.segment_bytes, (long long)ti->config.segment_ms,
                topic_cleanup_policy_name(ti->config.cleanup_policy),
                (long long)ti->config.delete_retention_ms, ti->config.min_cleanable_dirty_ratio,
                (long long)ti->config.min_compaction_lag_ms);
    }
    int rc = fclose(f) == 0 ? atomic_file_write(r->path, text, len) : -ENOMEM;
    free(text);
    if (rc != 0) {
        snprintf(err, err_len, "cannot write %s: %s", r->path, strerror(-rc));
        return -1;
    }
    return 0;
}

int topic_registry_publish(struct topic_registry *r, struct topic_info *add, const char *remove,
                           char *err, size_t err_len)
{
    struct topic_table *old = topic_registry_snapshot(r);
    struct topic_info *removed = remove ? topic_table_find(old, remove) : NULL;
    uint32_t count = old->count + (add ? 1 : 0) - (removed ? 1 : 0);
    uint64_t version = atomic_load(&r->version) + 1;
    struct topic_table *t = table_new(version, count);
    if (!t) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < old->count; i++)
        if (old->topics[i] != removed)
            t->topics[n++] = old->topics[i];
    if (add)
        t->topics[n++] = add;
    qsort(t->topics, t->count, sizeof(*t->topics), compare_topics);
    if (persist(r, t, err, err_len) != 0) {
        table_free(t);
        return -1;
    }
    struct retired *ret = calloc(1, sizeof(*ret));
    atomic_store_explicit(&r->current, t, memory_order_release);
    atomic_store(&r->version, version);
    if (ret) {
        ret->version = version;
        ret->table = old;
        ret->topic = removed;
        ret->next = r->retired;
        r->retired = ret;
    }
    /* Without memory for the record the old table leaks; correctness holds. */
    return 0;
}

void topic_registry_reclaim(struct topic_registry *r, uint64_t min_seen)
{
    struct retired **link = &r->retired;
    while (*link) {
        struct retired *x = *link;
        if (x->version <= min_seen && (x->topic == NULL || x->topic->pins == 0)) {
            *link = x->next;
            table_free(x->table);
            topic_info_free(x->topic);
            free(x);
        } else {
            link = &x->next;
        }
    }
}

void topic_registry_destroy(struct topic_registry *r)
{
    topic_registry_reclaim(r, UINT64_MAX);
    struct topic_table *t = topic_registry_snapshot(r);
    if (!t)
        return;
    for (uint32_t i = 0; i < t->count; i++)
        topic_info_free(t->topics[i]);
    table_free(t);
    atomic_store(&r->current, NULL);
}
