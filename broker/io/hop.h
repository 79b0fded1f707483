/*
 * A hop: run a piece of work on another loop (the owner of what it touches)
 * and come back with the result. The origin fills in owner, run and done;
 * run executes on the owner and ends with hop_return; done executes on the
 * origin. When the origin is the owner, nothing is posted: run and done are
 * plain calls. Handlers embed a hop in their own op struct and keep both
 * halves in one file.
 */
#ifndef RINGLOG_BROKER_IO_HOP_H
#define RINGLOG_BROKER_IO_HOP_H

#include <stdbool.h>

#include "loop.h"

struct hop {
    struct loop_msg msg;
    int origin;
    int owner;
    bool returning;                /* on its way back to the origin */
    void (*run)(struct hop *hop);  /* on the owner */
    void (*done)(struct hop *hop); /* on the origin */
    void *ctx;                     /* the origin's, untouched by the hop */
};

/* Starts h on h->owner (set by the caller, as are run and done). */
void hop_start(struct loop *origin, struct hop *h);

/* On the owner, when the result is in h: sends it home. */
void hop_return(struct loop *owner, struct hop *h);

#endif
