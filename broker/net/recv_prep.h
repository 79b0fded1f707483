/*
 * The one recv a client connection or a peer link keeps armed: into a
 * buffer of the shard's ring, or, once a frame's header is in and at
 * least NET_DIRECT_RECV_MIN of its body is still to come on a plain (not
 * TLS) socket, straight into the buffer the frame is reassembled in,
 * which its reader then keeps. Copying large frames out of the ring's
 * buffers was a leader's largest user-space cost and 6 % of a follower's
 * CPU under three-broker load (perf). One recv at a time, not multishot:
 * an armed multishot cannot be pointed elsewhere.
 */
#ifndef RINGLOG_BROKER_NET_RECV_PREP_H
#define RINGLOG_BROKER_NET_RECV_PREP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

#define NET_DIRECT_RECV_MIN (32u * 1024)

/* Fills sqe; true when it receives into the decoder's frame (rl_frame_decoder_received next). */
bool net_prep_recv(struct io_uring_sqe *sqe, int fd, struct rl_frame_decoder *d, bool plain,
                   uint16_t buf_group);

#endif
