#include "hop.h"

#include <assert.h>

static void hop_arrived(struct rl_completion *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct hop *h = rl_container_of(c, struct hop, msg.arrive);
    struct loop *l = loop_current();
    assert(l != NULL);
    (void)l;
    if (h->returning) {
        assert(l->id == h->origin);
        h->done(h);
    } else {
        assert(l->id == h->owner);
        h->run(h);
    }
}

void hop_start(struct loop *origin, struct hop *h)
{
    assert(h->owner >= 0 && h->owner < origin->count);
    assert(h->run != NULL && h->done != NULL);
    h->origin = origin->id;
    h->returning = false;
    h->msg.arrive.on_complete = hop_arrived;
    if (h->owner == origin->id)
        h->run(h);
    else
        loop_send(origin, h->owner, &h->msg);
}

void hop_return(struct loop *owner, struct hop *h)
{
    assert(owner->id == h->owner);
    assert(!h->returning);
    h->returning = true;
    if (h->origin == owner->id)
        h->done(h);
    else
        loop_send(owner, h->origin, &h->msg);
}
