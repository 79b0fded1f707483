#include "uring_probe.h"

#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>

static const struct {
    int op;
    const char *name;
} REQUIRED_OPS[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},
    {IORING_OP_RECV, "RECV"},
    {IORING_OP_SENDMSG, "SENDMSG"},
    {IORING_OP_SHUTDOWN, "SHUTDOWN"},
    {IORING_OP_WRITEV, "WRITEV"},
    {IORING_OP_READ, "READ"},
    {IORING_OP_FSYNC, "FSYNC"},
    {IORING_OP_TIMEOUT, "TIMEOUT"},
    {IORING_OP_ASYNC_CANCEL, "CANCEL"},
    {IORING_OP_MSG_RING, "MSG_RING"},
    {IORING_OP_FALLOCATE, "FALLOCATE"},
    {IORING_OP_NOP, "NOP"},
    {IORING_OP_SYNC_FILE_RANGE, "SYNC_FILE_RANGE"},
    {IORING_OP_FADVISE, "FADVISE"},
};

/* Multishot recv arrived in 6.0; the probe cannot see flags, so check the version. */
static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 0;
    return ma > major || (ma == major && mi >= minor);
}

int uring_probe_features(char *err, size_t err_len)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0) {
        snprintf(err, err_len,
                 "io_uring is not available (%s): ringlogd needs Linux 6.0+ with io_uring "
                 "enabled (check kernel.io_uring_disabled and seccomp profiles)",
                 strerror(-rc));
        return -1;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
    if (!probe) {
        io_uring_queue_exit(&ring);
        snprintf(err, err_len, "io_uring opcode probe failed: kernel too old (need 6.0+)");
        return -1;
    }
    for (size_t i = 0; i < sizeof(REQUIRED_OPS) / sizeof(REQUIRED_OPS[0]); i++) {
        if (!io_uring_opcode_supported(probe, REQUIRED_OPS[i].op)) {
            snprintf(err, err_len, "io_uring lacks IORING_OP_%s: ringlogd needs Linux 6.0+",
                     REQUIRED_OPS[i].name);
            io_uring_free_probe(probe);
            io_uring_queue_exit(&ring);
            return -1;
        }
    }
    io_uring_free_probe(probe);
    /* Provided buffer rings (IORING_REGISTER_PBUF_RING, 5.19+). */
    size_t bytes = 8 * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)mem, .ring_entries = 8, .bgid = 7};
    rc = mem == MAP_FAILED ? -1 : io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc == 0)
        io_uring_unregister_buf_ring(&ring, 7);
    if (mem != MAP_FAILED)
        munmap(mem, bytes);
    io_uring_queue_exit(&ring);
    if (rc != 0) {
        snprintf(err, err_len, "io_uring provided buffer rings are not supported: need Linux 6.0+");
        return -1;
    }
    if (!kernel_at_least(6, 0)) {
        snprintf(err, err_len, "io_uring multishot recv needs Linux 6.0+");
        return -1;
    }
    return 0;
}
