/*
 * One outgoing PeerMessage frame (net/peer.h): a head the sender writes
 * and optional record bytes it hands over, which go to the socket as their
 * own iovec, never copied.
 */
#ifndef RINGLOG_BROKER_PEER_OUT_H
#define RINGLOG_BROKER_PEER_OUT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct peer_out {
    struct peer_out *next;
    uint8_t *records;
    size_t records_len;
    /* NULL: records is malloc'd and freed with the message; else records
     * lies in a buffer shared with others, released by this call (from
     * whichever thread frees the message). */
    void (*release)(void *arg);
    void *release_arg;
    size_t head_len;
    bool counted;      /* a message (its node's queued_bytes holds it), not a handshake frame */
    uint8_t header[4]; /* the frame's length, written when queued */
    uint8_t head[];
};

/*
 * A message whose body is head_len bytes (the caller writes them at
 * peer_out_head) followed by records (malloc'd, owned by the message from
 * here on, may be NULL). NULL when out of memory (records are freed then).
 */
struct peer_out *peer_out_new(size_t head_len, uint8_t *records, size_t records_len);
/*
 * The same with records borrowed from a shared buffer: release(arg) is
 * called once when the message is freed (or at once when out of memory).
 */
struct peer_out *peer_out_new_shared(size_t head_len, const uint8_t *records, size_t records_len,
                                     void (*release)(void *arg), void *arg);
uint8_t *peer_out_head(struct peer_out *m);
void peer_out_free(struct peer_out *m);

/* Bytes a message takes on the wire (frame header included). */
static inline size_t peer_out_bytes(const struct peer_out *m)
{
    return sizeof(m->header) + m->head_len + m->records_len;
}

/* Frees a chain of messages; returns the bytes they took. */
int64_t peer_out_free_chain(struct peer_out *m);

/* msg packed as one frame's body, in a new uncounted message; NULL when out of memory. */
struct peer_out *peer_out_pack(const ProtobufCMessage *msg);

#endif
