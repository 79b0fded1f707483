/*
 * The driver's storage path, asynchronous as in the broker: log ops are
 * queued and written later, in order (a completion reports `appended`, in
 * any role), an append may fail (the driver drops it and every later
 * append, still carries out later truncates and resets, and reports
 * replica_group_write_failed), and the read of an APPEND completes later
 * (replica_group_append_read then says whether to send it).
 */
#include <stdlib.h>
#include <string.h>

#include "sim_world.h"

void sim_io_restart(struct sim_node *n)
{
    n->nwq = 0;
    n->write_scheduled = false;
    sim_log_copy(&n->planned, &n->disk.current);
}

void sim_io_free(struct sim_node *n)
{
    free(n->wq);
    n->wq = NULL;
    n->nwq = n->capwq = 0;
    sim_log_free(&n->planned);
}

static void schedule_write(struct sim_world *w, struct sim_node *n)
{
    if (n->nwq == 0 || n->write_scheduled)
        return;
    n->write_scheduled = true;
    struct sim_event ev = {.time = w->now + sim_rand_range(w, 0, 3),
                           .type = EV_WRITE_DONE,
                           .node = n->id,
                           .group = n->group,
                           .inc = n->host->inc};
    sim_schedule(w, ev);
}

void sim_io_issue(struct sim_world *w, struct sim_node *n, const struct sim_op *op)
{
    n->wq = sim_grow(n->wq, &n->capwq, n->nwq + 1, sizeof(*n->wq));
    n->wq[n->nwq++] = *op;
    sim_log_apply(&n->planned, op);
    schedule_write(w, n);
}

static void write_op(struct sim_disk *d, const struct sim_op *op)
{
    if (op->type == SIM_OP_APPEND)
        sim_disk_append(d, &op->entry);
    else if (op->type == SIM_OP_TRUNCATE)
        sim_disk_truncate(d, op->offset);
    else
        sim_disk_reset(d, &op->head);
}

/* The append at the head failed: it and every later append are dropped,
 * later truncates and resets still happen; the core learns where the log
 * ends now. */
static void write_failed(struct sim_world *w, struct sim_node *n)
{
    sim_trace(w, "  g%d n%d write of [%lld,...) FAILED", n->group, n->id,
              (long long)n->wq[0].entry.base);
    for (uint32_t i = 1; i < n->nwq; i++)
        if (n->wq[i].type != SIM_OP_APPEND)
            write_op(&n->disk, &n->wq[i]);
    n->nwq = 0;
    sim_log_copy(&n->planned, &n->disk.current);
    struct rg_output *out = sim_out_begin(w);
    int rc = replica_group_write_failed(&n->rg, sim_log_end(&n->disk.current), out);
    if (rc != RG_OK)
        sim_fail(w, "g%d node %d: write_failed(%lld): %s", n->group, n->id,
                 (long long)sim_log_end(&n->disk.current), rg_status_str(rc));
    sim_process(w, n, out);
    sim_out_end(w, out);
}

void sim_io_write_done(struct sim_world *w, struct sim_node *n)
{
    n->write_scheduled = false;
    if (n->nwq == 0)
        return;
    if (n->wq[0].type == SIM_OP_APPEND && w->faults_on && sim_chance(w, w->write_fail_pct)) {
        write_failed(w, n);
        return;
    }
    /* Some of the queue completes, in order. */
    uint32_t done = (uint32_t)sim_rand_range(w, 1, (int)n->nwq);
    for (uint32_t i = 0; i < done; i++)
        write_op(&n->disk, &n->wq[i]);
    memmove(n->wq, n->wq + done, (n->nwq - done) * sizeof(*n->wq));
    n->nwq -= done;
    const struct sim_log *log = &n->disk.current;
    int64_t end = sim_log_end(log);
    struct rg_output *out = sim_out_begin(w);
    int rc = replica_group_appended(&n->rg, end, sim_log_epoch_at(log, end - 1), out);
    if (rc != RG_OK && rc != RG_ERR_STALE)
        sim_fail(w, "g%d node %d: appended(%lld): %s", n->group, n->id, (long long)end,
                 rg_status_str(rc));
    sim_process(w, n, out);
    sim_out_end(w, out);
    schedule_write(w, n);
}

void sim_io_read(struct sim_world *w, struct sim_node *n, const struct rg_message *m)
{
    struct sim_msg *sm = calloc(1, sizeof(*sm));
    sm->m = *m;
    sm->group = n->group;
    struct sim_event ev = {.time = w->now + sim_rand_range(w, 0, 4),
                           .type = EV_READ_DONE,
                           .node = n->id,
                           .group = n->group,
                           .inc = n->host->inc,
                           .msg = sm};
    sim_schedule(w, ev);
}

void sim_io_read_done(struct sim_world *w, struct sim_node *n, struct sim_msg *sm)
{
    struct rg_output *out = sim_out_begin(w);
    struct sim_msg *filled = sim_fill_append(w, n, &sm->m, out);
    if (filled != NULL) {
        filled->group = n->group;
        sim_host_send(w, n->host, filled);
    } else {
        sim_trace(w, "  g%d n%d drops a stale APPEND to n%d", n->group, n->id, sm->m.to);
    }
    sim_process(w, n, out);
    sim_out_end(w, out);
}

/*
 * What is durable of the log as the core sees it: the synced prefix of
 * the planned log, so clamped below any truncate still queued (and, with
 * a reset queued or unsynced, nothing past the new start). The rule of
 * replica_group_durable; the driver-fault unclamped_durable reports the
 * synced prefix of the written log instead.
 */
int64_t sim_io_durable_end(const struct sim_node *n)
{
    int64_t written = sim_disk_durable_prefix(&n->disk);
    int64_t planned = sim_log_common_prefix(&n->disk.durable, &n->planned);
    if (planned < 0)
        return n->planned.head.start;
    return written < planned ? written : planned;
}
