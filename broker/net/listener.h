/*
 * The client listener of one shard: a multishot accept on the shard's
 * SO_REUSEPORT socket, each accepted socket becoming a connection (conn.h).
 */
#ifndef RINGLOG_BROKER_LISTENER_H
#define RINGLOG_BROKER_LISTENER_H

struct shard;

/* Arms the multishot accept on s->listen_fd. */
void listener_arm(struct shard *s);

/*
 * Stops accepting on the client and metrics sockets. A socket is closed
 * once its accept reports the cancel, not before: the accept holds a
 * reference to it, and a socket closed while one is armed stays bound
 * until the ring is torn down, after the process has exited, so a broker
 * restarted at once would find its port taken.
 */
void listener_stop(struct shard *s);

/* Closes a listening socket whose accept has ended (-1 afterwards). */
void listener_close_fd(int *fd);

#endif
