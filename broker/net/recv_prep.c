/* The armed recv of a connection or a peer link (recv_prep.h). */
#include "recv_prep.h"

#include <assert.h>

bool net_prep_recv(struct io_uring_sqe *sqe, int fd, struct rl_frame_decoder *d, bool plain,
                   uint16_t buf_group)
{
    assert(sqe != NULL && fd >= 0);
    uint8_t *dst = NULL;
    size_t room = plain ? rl_frame_decoder_body_room(d, &dst) : 0;
    if (room >= NET_DIRECT_RECV_MIN) {
        assert(dst != NULL);
        io_uring_prep_recv(sqe, fd, dst, room, 0);
        return true;
    }
    io_uring_prep_recv(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buf_group;
    return false;
}
