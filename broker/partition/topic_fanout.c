/* topic_fanout.h */
#include "topic_fanout.h"

#include <assert.h>
#include <stdlib.h>

#include "fault_alloc.h"
#include "server.h"
#include "shard.h"
#include "topics.h"

static void fanout_run(struct hop *hop)
{
    struct fanout_op *op = (struct fanout_op *)hop;
    struct shard *owner = shard_current();
    assert(owner->loop.id == hop->owner);
    op->failed = !op->f->run(op->f, owner, op->partition);
    hop_return(&owner->loop, hop);
}

static void fanout_finish(struct topic_fanout *f)
{
    free(f->ops);
    f->ops = NULL;
    f->done(f);
}

static void fanout_back(struct hop *hop)
{
    struct fanout_op *op = (struct fanout_op *)hop;
    struct topic_fanout *f = op->f;
    assert(f->pending > 0);
    if (op->failed)
        f->failed++;
    if (--f->pending == 0)
        fanout_finish(f);
}

/*
 * The extra count in `pending` keeps ops that finish at once (this
 * shard's own) from calling done before every op has been sent.
 */
void topic_fanout_start(struct topic_fanout *f, uint32_t first, uint32_t end)
{
    struct shard *s = shard_current();
    assert(first <= end && end <= f->topic->partitions);
    assert(f->run != NULL && f->done != NULL);
    f->failed = 0;
    f->ops = FAULT_ALLOC(calloc(end - first + 1, sizeof(*f->ops)));
    if (!f->ops) {
        f->failed = end - first;
        f->done(f);
        return;
    }
    f->pending = 1;
    for (uint32_t p = first; p < end; p++) {
        struct fanout_op *op = &f->ops[p - first];
        op->f = f;
        op->partition = p;
        op->hop.run = fanout_run;
        op->hop.done = fanout_back;
        op->hop.owner = topic_partition_owner(f->topic, p, s->srv->nshards);
        f->pending++;
        hop_start(&s->loop, &op->hop);
    }
    if (--f->pending == 0)
        fanout_finish(f);
}
