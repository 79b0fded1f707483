/*
 * Ticks from a monotonic clock: the count of whole tick_ms periods since
 * the clock's epoch, so late loop turns catch up instead of stretching
 * every timeout, and all groups of a broker tick on the same boundaries.
 */
#include "rg_internal.h"

void rg_clock_init(struct rg_clock *c, uint32_t tick_ms, uint64_t now_ms)
{
    c->tick_ms = tick_ms > 0 ? tick_ms : 1;
    c->ticks = now_ms / c->tick_ms;
}

uint64_t rg_clock_advance(struct rg_clock *c, uint64_t now_ms)
{
    uint64_t ticks = now_ms / c->tick_ms;
    if (ticks <= c->ticks)
        return 0; /* same period, or a clock that went back: never untick */
    uint64_t due = ticks - c->ticks;
    c->ticks = ticks;
    return due;
}
