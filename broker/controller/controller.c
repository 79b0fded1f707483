/*
 * The controller (controller.h): proposing metadata records on the
 * metadata group's leader, and applying committed records on every broker,
 * one at a time, in log order.
 */
#include "controller.h"
#include "controller_internal.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include "atomic_file.h"
#include "batch.h"
#include "diag.h"
#include "io/clock.h"
#include "io/hop.h"
#include "partition/partition_table.h"
#include "partition/replica.h"
#include "ringlog.pb-c.h"
#include "server.h"
#include "shard.h"
#include "topic_assignment.h"

/* A committed record is read in pieces of at most this (records are small). */
#define APPLY_READ_BYTES (1u << 20)

struct controller {
    struct shard *shard;
    struct topic_info *meta_topic;
    struct partition *meta;
    int64_t applied; /* every record below it is applied here */
    bool busy;       /* a read or a fan-out is out */
    struct log_read read;
    uint8_t *buf;
    /* the record being applied (its fan-out) */
    struct apply_op *ops;
    uint32_t pending;
    struct topic_info *creating;
    struct topic_info *deleting;
    int64_t record_offset;
    int64_t resume;                  /* next offset after the batch being applied */
    struct controller_call *waiting; /* written, not applied yet */
    struct rg_membership voters;     /* of the metadata group: the --peers */
    bool bootstrap_pending;          /* a fresh directory: the group is not attached yet */
    bool id_proposed;                /* this leadership proposed the cluster id */
    struct controller_call id_call;
    struct controller_moves moves;   /* controller_reassign.c */
    struct controller_acks acks;     /* controller_applied.c */
    struct controller_groups groups; /* controller_groups.c */
};

static void apply_next(struct controller *ctl);

/* ------------------------------------------------------ owner side */

static void op_deleted(struct partition_delete *pd)
{
    struct apply_op *op = rl_container_of(pd, struct apply_op, del);
    hop_return(&shard_current()->loop, &op->hop);
}

/* Opens (or deletes) this broker's replica of one partition. */
static void op_run(struct hop *hop)
{
    struct apply_op *op = (struct apply_op *)hop;
    struct shard *owner = shard_current();
    struct topic_info *t = op->topic;
    struct partition *p = partition_table_find(owner->parts, t->name, op->partition);
    if (op->create && p == NULL) {
        char err[512];
        p = partition_open(owner, t, op->partition, err, sizeof(err));
        struct rg_membership m = {.voter_count = t->replication_factor};
        for (uint32_t i = 0; i < t->replication_factor; i++)
            m.voters[i] = t->replicas[(size_t)op->partition * t->replication_factor + i];
        if (p && partition_replicate(p, t->id, &m, op->new_group, err, sizeof(err)) != 0) {
            partition_close(p);
            p = NULL;
        }
        if (p)
            partition_table_add(owner->parts, p);
        else
            DIAG_ERROR("cannot open replica of %s-%u: %s", t->name, op->partition, err);
    } else if (!op->create && p != NULL) {
        partition_table_remove(owner->parts, p);
        op->del.done = op_deleted;
        partition_delete(p, &op->del);
        return;
    }
    hop_return(&owner->loop, hop);
}

/* ------------------------------------------------- shard 0 side */

/* A replica of t's partition p is here, or is to be: a delete goes to every partition's owner. */
static bool holds_replica(const struct topic_info *t, uint32_t p, int32_t self, bool create)
{
    int32_t nodes[TOPIC_MAX_REPLICAS];
    uint32_t n = topic_replicas(t, p, nodes);
    return !create || replicas_have(nodes, n, self);
}

void controller_record_applied(struct controller *ctl)
{
    struct server *srv = ctl->shard->srv;
    char err[512];
    if (ctl->creating) {
        if (topic_registry_publish(&srv->topics, ctl->creating, NULL, err, sizeof(err)) != 0) {
            DIAG_ERROR("cannot publish topic %s: %s", ctl->creating->name, err);
            topic_info_free(ctl->creating);
        } else {
            DIAG_INFO("topic %s (id %llu, %u partitions, replication factor %u) applied",
                      ctl->creating->name, (unsigned long long)ctl->creating->id,
                      ctl->creating->partitions, ctl->creating->replication_factor);
        }
        ctl->creating = NULL;
    }
    if (ctl->deleting) {
        assert(ctl->deleting->pins > 0);
        ctl->deleting->pins--;
        topic_dir_remove(srv->cfg.data_dir, ctl->deleting->name);
        ctl->deleting = NULL;
    }
    free(ctl->ops);
    ctl->ops = NULL;
    ctl->applied = ctl->resume;
    /* Calls whose record is now applied are answered. */
    struct controller_call **pp = &ctl->waiting;
    while (*pp) {
        struct controller_call *c = *pp;
        if (c->offset < ctl->applied) {
            *pp = c->next;
            c->done(c);
        } else {
            pp = &c->next;
        }
    }
    ctl->busy = false;
    apply_next(ctl);
}

static void op_done(struct hop *hop)
{
    struct apply_op *op = (struct apply_op *)hop;
    struct controller *ctl = op->ctl;
    assert(ctl->pending > 0);
    if (--ctl->pending == 0)
        controller_record_applied(ctl);
}

void controller_ops_begin(struct controller *ctl, struct apply_op *ops)
{
    assert(ctl->ops == NULL && ctl->pending == 0);
    ctl->ops = ops;
    ctl->pending = 1; /* held until controller_ops_end: ops may come back at once */
}

void controller_op_start(struct controller *ctl, struct apply_op *op)
{
    struct shard *s = ctl->shard;
    assert(ctl->pending >= 1 && op->topic != NULL);
    if (op->create && controller_removed_supersedes(&ctl->moves, op->topic->id, op->partition,
                                                    ctl->record_offset)) {
        DIAG_DEBUG("replica of %s-%u not opened: a later move took it from this broker",
                   op->topic->name, op->partition);
        return;
    }
    op->ctl = ctl;
    op->hop.run = op_run;
    op->hop.done = op_done;
    op->hop.owner = topic_partition_owner(op->topic, op->partition, s->srv->nshards);
    ctl->pending++;
    hop_start(&s->loop, &op->hop);
}

void controller_ops_end(struct controller *ctl)
{
    assert(ctl->pending > 0);
    if (--ctl->pending == 0)
        controller_record_applied(ctl);
}

/* Sends an op to the owner of every partition of t this broker holds. */
static void fan_out(struct controller *ctl, struct topic_info *t, bool create, bool new_group)
{
    struct apply_op *ops = calloc(t->partitions, sizeof(*ops));
    controller_ops_begin(ctl, ops);
    for (uint32_t p = 0; ops && p < t->partitions; p++) {
        if (!holds_replica(t, p, ctl->shard->srv->cfg.node_id, create))
            continue;
        ops[p] =
            (struct apply_op){.topic = t, .partition = p, .create = create, .new_group = new_group};
        controller_op_start(ctl, &ops[p]);
    }
    if (!ops)
        DIAG_ERROR("out of memory applying topic %s: its replicas are not opened", t->name);
    controller_ops_end(ctl);
}

/* A TopicCreated record at `offset` (written at `ts`, ms). */
static void apply_create(struct controller *ctl, const Ringlog__ClusterTopic *ct, int64_t offset,
                         int64_t ts)
{
    struct server *srv = ctl->shard->srv;
    struct topic_config cfg = {.cleanup_policy = TOPIC_CLEANUP_DELETE};
    if (ct->config)
        controller_config_from_wire(ct->config, &cfg);
    size_t n = (size_t)ct->partitions * ct->replication_factor;
    if (topic_table_find(topic_registry_snapshot(&srv->topics), ct->name) || n == 0 ||
        ct->n_replicas != n || ct->replication_factor > RG_MAX_NODES) {
        controller_record_applied(
            ctl); /* already there (a second create of the name), or malformed */
        return;
    }
    struct topic_info *t = topic_info_new(ct->name, (uint64_t)offset + 1, ct->partitions,
                                          ct->replication_factor, &cfg);
    if (t)
        t->replicas = malloc(n * sizeof(int32_t));
    if (!t || !t->replicas) {
        topic_info_free(t);
        DIAG_ERROR("out of memory applying topic %s", ct->name);
        controller_record_applied(ctl);
        return;
    }
    memcpy(t->replicas, ct->replicas, n * sizeof(int32_t));
    ctl->creating = t;
    /* Replicas made after this disk was: new with the group, they never voted.
     * A disk made after the record (wiped since) must recover instead. */
    fan_out(ctl, t, true, ts >= srv->incarnation_birth_ms);
}

static void apply_delete(struct controller *ctl, const char *name)
{
    struct server *srv = ctl->shard->srv;
    struct topic_info *t = topic_table_find(topic_registry_snapshot(&srv->topics), name);
    char err[512];
    if (!t || topic_registry_publish(&srv->topics, NULL, name, err, sizeof(err)) != 0) {
        controller_record_applied(ctl);
        return;
    }
    DIAG_INFO("topic %s deleted", name);
    controller_removed_forget_topic(&ctl->moves, srv->cfg.data_dir, t->id);
    t->pins++;
    ctl->deleting = t;
    fan_out(ctl, t, false, false);
}

/*
 * The cluster's id: the first record of its kind wins. Kept in
 * meta/cluster_id; from then on this broker's handshakes name it, so a
 * fresh broker meeting it knows it joins an existing cluster.
 */
static void apply_cluster_id(struct controller *ctl, const char *id)
{
    struct server *srv = ctl->shard->srv;
    size_t n = strlen(id);
    if (srv->cluster_id[0] == '\0' && n > 0 && n < sizeof(srv->cluster_id)) {
        char path[4200], line[64];
        snprintf(path, sizeof(path), "%s/meta/cluster_id", srv->cfg.data_dir);
        int len = snprintf(line, sizeof(line), "%s\n", id);
        int rc = atomic_file_write(path, line, (size_t)len);
        if (rc != 0)
            DIAG_WARN("writing %s: %s (the id is kept in memory)", path, strerror(-rc));
        /* Handshakes on other shards read it: the first byte goes last, so a
         * reader sees "" or the whole id. */
        memcpy(srv->cluster_id + 1, id + 1, n);
        atomic_thread_fence(memory_order_release);
        srv->cluster_id[0] = id[0];
        DIAG_INFO("cluster id %s", id);
    } else if (strcmp(srv->cluster_id, id) != 0) {
        DIAG_DEBUG("a later cluster id record (%s) ignored: the cluster is %s", id,
                   srv->cluster_id);
    }
    controller_record_applied(ctl);
}

/* The first record of a (non-control) metadata batch, applied. */
static void apply_batch(struct controller *ctl, const uint8_t *batch,
                        const struct rl_batch_header *h)
{
    struct rl_record_iter it;
    struct rl_record rec;
    Ringlog__ClusterRecord *cr = NULL;
    if (rl_record_iter_init(&it, batch, h) == RL_OK && rl_record_iter_next(&it, &rec) == RL_OK &&
        rec.value_len > 0)
        cr = ringlog__cluster_record__unpack(NULL, (size_t)rec.value_len, rec.value);
    if (!cr) {
        DIAG_WARN("metadata record at %lld is not readable: skipped", (long long)h->base_offset);
        controller_record_applied(ctl);
        return;
    }
    if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_TOPIC_CREATED)
        apply_create(ctl, cr->topic_created, h->base_offset, h->max_timestamp);
    else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_TOPIC_DELETED)
        apply_delete(ctl, cr->topic_deleted);
    else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_CLUSTER_CREATED)
        apply_cluster_id(ctl, cr->cluster_created);
    else if (controller_security_apply(ctl->shard->srv, cr))
        controller_record_applied(ctl);
    else if (cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_PARTITIONS_REASSIGNED)
        controller_apply_reassignment(ctl, cr->partitions_reassigned);
    else if (!controller_topics_apply(ctl, cr, h->base_offset, h->max_timestamp))
        controller_record_applied(ctl); /* a record of a newer version: nothing here to do */
    ringlog__cluster_record__free_unpacked(cr, NULL);
}

static void read_done(struct log_read *r, int status)
{
    struct controller *ctl = r->user;
    struct rl_batch_header h;
    if (status != LOG_OK || r->len == 0 ||
        rl_batch_validate_control(r->data, r->len, r->len, &h) != RL_OK) {
        if (status != LOG_OK)
            DIAG_WARN("reading the metadata log at %lld: %s", (long long)ctl->applied,
                      log_status_str(status));
        ctl->busy = false; /* tried again at the next commit or tick */
        return;
    }
    /* One batch at a time: the first holding `applied` or after it. */
    ctl->resume = rl_batch_last_offset(&h) + 1;
    ctl->record_offset = h.base_offset;
    if (rl_batch_is_control(&h) || ctl->resume <= ctl->applied) {
        controller_record_applied(ctl);
        return;
    }
    apply_batch(ctl, r->data, &h);
}

/* Applies the next committed record, if any and if nothing is being applied. */
static void apply_next(struct controller *ctl)
{
    /* A leaving replica being deleted on its owner shard: a record that opens the same
     * partition again waits until its files are gone (controller_reassign.c). */
    if (ctl->busy || !ctl->meta || !ctl->meta->replica || controller_moves_out(ctl) > 0)
        return;
    int64_t commit = replica_commit(ctl->meta->replica);
    if (ctl->applied >= commit) {
        atomic_store(&ctl->shard->srv->metadata_loading, false); /* caught up with the log */
        return;
    }
    if (ctl->applied < partition_log_start_offset(ctl->meta->log))
        ctl->applied = partition_log_start_offset(ctl->meta->log);
    ctl->busy = true;
    memset(&ctl->read, 0, sizeof(ctl->read));
    ctl->read.offset = ctl->applied;
    ctl->read.max_offset = commit;
    ctl->read.buf = ctl->buf;
    ctl->read.cap = APPLY_READ_BYTES;
    ctl->read.on_complete = read_done;
    ctl->read.user = ctl;
    if (partition_log_read(ctl->meta->log, &ctl->read) != LOG_OK)
        ctl->busy = false;
}

/* The metadata group's commit or leadership changed. */
static void meta_changed(struct partition *p)
{
    struct controller *ctl = p->watcher_ctx;
    struct server *srv = ctl->shard->srv;
    atomic_store(&srv->controller_leader, replica_leader(p->replica));
    apply_next(ctl);
}

/*
 * The metadata log's members: every broker of --peers votes in a cluster
 * of up to CONTROLLER_MAX_VOTERS; a larger one takes the lowest ids as
 * voters and the others as learners, which receive and apply the log but
 * do not vote (Kafka and Redpanda advise 3 or 5 controllers too: every
 * voter more is one more in every quorum write). Every broker derives the
 * same members from the same --peers.
 */
static void metadata_members(const struct broker_config *cfg, struct rg_membership *m)
{
    _Static_assert(BROKER_MAX_PEERS <= RG_MAX_NODES, "every broker fits the metadata group");
    int32_t ids[BROKER_MAX_PEERS];
    uint32_t n = 0;
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < cfg->peer_count; i++) {
        uint32_t k = n++;
        while (k > 0 && ids[k - 1] > cfg->peers[i].node_id) {
            ids[k] = ids[k - 1];
            k--;
        }
        ids[k] = cfg->peers[i].node_id;
    }
    bool all = n <= CONTROLLER_MAX_VOTERS;
    for (uint32_t i = 0; i < n; i++) {
        int32_t id = all ? cfg->peers[i].node_id : ids[i]; /* small clusters: --peers order */
        if (all || i < CONTROLLER_MAX_VOTERS)
            m->voters[m->voter_count++] = id;
        else
            m->learners[m->learner_count++] = id;
    }
    assert(rg_membership_valid(m) && m->voter_count <= CONTROLLER_MAX_VOTERS);
}

int controller_start(struct shard *s, char *err, size_t err_len)
{
    struct server *srv = s->srv;
    assert(s->loop.id == 0 && srv->cluster);
    struct controller *ctl = calloc(1, sizeof(*ctl));
    struct topic_config cfg = {.retention_ms = -1, .retention_bytes = -1};
    struct rg_membership m;
    metadata_members(&srv->cfg, &m);
    if (ctl) {
        ctl->buf = malloc(APPLY_READ_BYTES);
        ctl->meta_topic = topic_info_new(CONTROLLER_TOPIC, 0, 1, m.voter_count, &cfg);
    }
    if (!ctl || !ctl->buf || !ctl->meta_topic) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    ctl->shard = s;
    ctl->meta = partition_open(s, ctl->meta_topic, 0, err, err_len);
    if (!ctl->meta)
        goto fail;
    ctl->meta->watcher = meta_changed;
    ctl->meta->watcher_ctx = ctl;
    ctl->voters = m;
    s->controller = ctl;
    int rc = controller_removed_load(&ctl->moves, srv->cfg.data_dir);
    if (rc != 0)
        DIAG_WARN("reading %s/meta/removed_replicas: %s (replicas moved away may open for a "
                  "moment)",
                  srv->cfg.data_dir, strerror(-rc));
    struct rg_hard_state hs;
    bool fresh = srv->fresh_data_dir && partition_log_end_offset(ctl->meta->log) == 0 &&
                 !replica_state_lookup(&srv->hard_states, 0, 0, &hs);
    if (fresh) {
        ctl->bootstrap_pending = true; /* founding or joining: controller_tick decides */
        return 0;
    }
    /* A restart replays the log from its start: until it has caught up with the commit it
     * restored, topics it has not replayed yet are not "unknown" (handle_metadata). */
    atomic_store(&srv->metadata_loading, true);
    if (partition_replicate(ctl->meta, 0, &m, false, err, err_len) != 0) {
        partition_close(ctl->meta);
        s->controller = NULL;
        goto fail;
    }
    return 0;
fail:
    if (ctl) {
        free(ctl->buf);
        topic_info_free(ctl->meta_topic);
        free(ctl);
    }
    return -1;
}

void controller_stop(struct shard *s)
{
    struct controller *ctl = s->controller;
    if (!ctl)
        return;
    while (ctl->waiting) {
        struct controller_call *c = ctl->waiting;
        ctl->waiting = c->next;
        c->error = RINGLOG__ERROR_CODE__SHUTTING_DOWN;
        c->message = "the broker is shutting down";
        c->done(c);
    }
    /* Closing detaches the replica first, and may still report the group's
     * end to the watcher: a stopping controller watches no more. */
    ctl->meta->watcher = NULL;
    controller_moves_stop(ctl);
    controller_acks_stop(ctl);
    partition_close(ctl->meta);
    /* A read still out completes into ctl->buf during close's drive; both go now. */
    free(ctl->buf);
    topic_info_free(ctl->meta_topic);
    free(ctl);
    s->controller = NULL;
}

void controller_kick(struct controller *ctl)
{
    apply_next(ctl);
}

bool controller_applying(struct controller *ctl)
{
    return ctl->busy;
}

struct shard *controller_shard(struct controller *ctl)
{
    assert(ctl != NULL && ctl->shard != NULL);
    return ctl->shard;
}

int64_t controller_record_offset(struct controller *ctl)
{
    assert(ctl != NULL && ctl->record_offset >= 0);
    return ctl->record_offset;
}

struct controller_acks *controller_acks_of(struct controller *ctl)
{
    assert(ctl != NULL);
    return &ctl->acks;
}

struct controller_moves *controller_moves_of(struct controller *ctl)
{
    assert(ctl != NULL);
    return &ctl->moves;
}

struct partition *controller_meta(struct controller *ctl)
{
    return ctl ? ctl->meta : NULL;
}

void controller_wait_applied(struct controller *ctl, struct controller_call *c)
{
    assert(c->offset >= 0);
    if (c->offset < ctl->applied) {
        c->done(c);
        return;
    }
    c->next = ctl->waiting;
    ctl->waiting = c;
    apply_next(ctl);
}

/* Attaches the metadata replica of a fresh directory: founding a new cluster's log, or joining. */
static void bootstrap(struct controller *ctl)
{
    struct server *srv = ctl->shard->srv;
    uint64_t with = atomic_load(&srv->peers_with_cluster_id);
    uint64_t without = atomic_load(&srv->peers_without_cluster_id);
    uint32_t quorum = ctl->voters.voter_count / 2 + 1;
    bool join = with != 0;
    bool found = !join && (uint32_t)__builtin_popcountll(without) + 1 >= quorum;
    if (!join && !found)
        return; /* not enough peers heard yet to know */
    char err[512];
    if (partition_replicate(ctl->meta, 0, &ctl->voters, found, err, sizeof(err)) != 0) {
        DIAG_ERROR("starting the metadata replica: %s", err);
        return; /* tried again next tick */
    }
    ctl->bootstrap_pending = false;
    DIAG_INFO("%s", found ? "a new cluster: this broker is one of the founding replicas of its "
                            "metadata log"
                          : "joining an existing cluster: the metadata replica catches up before "
                            "it votes");
}

static void id_proposed(struct controller_call *c)
{
    (void)c; /* applied or not: the next leadership tries again while the id is unknown */
}

void controller_tick(struct shard *s)
{
    struct controller *ctl = s->controller;
    if (!ctl)
        return;
    if (ctl->bootstrap_pending) {
        bootstrap(ctl);
        return;
    }
    struct partition *p = ctl->meta;
    bool leads = p->replica && replica_is_leader(p->replica);
    if (!leads)
        ctl->id_proposed = false;
    apply_next(ctl);
    bool caught_up = leads && !ctl->busy && ctl->applied >= replica_commit(p->replica);
    controller_security_tick(s, caught_up);
    controller_groups_tick(s, &ctl->groups, leads, caught_up);
    controller_moves_tick(ctl);
    controller_acks_tick(ctl, ctl->applied);
    /* The first leader names the cluster once it has applied everything committed. */
    if (!leads || ctl->id_proposed || s->srv->cluster_id[0] != '\0' || ctl->busy ||
        ctl->applied < replica_commit(p->replica))
        return;
    uint8_t raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return;
    char id[33];
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    ctl->id_proposed = true;
    ctl->id_call.done = id_proposed;
    controller_propose_cluster_id(s, &ctl->id_call, id);
}
