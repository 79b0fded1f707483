/* The admin queue (admin_queue.h). */
#include "admin_queue.h"

#include <assert.h>
#include <stddef.h>

#include "server.h"
#include "shard.h"

void admin_queue_enter(struct server *srv, struct admin_slot *slot)
{
    assert(shard_current()->loop.id == ADMIN_SHARD);
    assert(slot->start != NULL);
    slot->next = NULL;
    if (srv->admin.running) {
        if (srv->admin.tail)
            srv->admin.tail->next = slot;
        else
            srv->admin.head = slot;
        srv->admin.tail = slot;
        return;
    }
    srv->admin.running = true;
    slot->start(slot);
}

void admin_queue_leave(struct server *srv)
{
    assert(shard_current()->loop.id == ADMIN_SHARD);
    assert(srv->admin.running);
    srv->admin.running = false;
    struct admin_slot *next = srv->admin.head;
    if (!next)
        return;
    srv->admin.head = next->next;
    if (!srv->admin.head)
        srv->admin.tail = NULL;
    srv->admin.running = true;
    next->start(next);
}
