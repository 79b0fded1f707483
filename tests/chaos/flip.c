/* A bit flipped in a committed batch on a stopped broker's disk (flip.h). */
#include "flip.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "batch.h"
#include "view.h"
#include "workload.h"

/* The high watermark of partition p as any running node says; -1 when none answers. */
static int64_t committed_end(struct chaos_cluster *c, int p)
{
    struct view_part parts[WL_MAX_PARTITIONS];
    for (int i = 0; i < CHAOS_NODES; i++)
        if (c->nodes[i].proc.pid > 0 && !c->nodes[i].paused &&
            view_topic(&c->nodes[i], parts, c->opts->partitions) == 0)
            return parts[p].hw;
    return -1;
}

/* Position and length of data batch number k below hw in a segment file; false if none. */
static bool nth_batch(int fd, int64_t hw, uint64_t k, uint64_t *pos, uint32_t *len, uint64_t *n)
{
    uint8_t hb[RL_BATCH_HEADER_BYTES];
    struct rl_batch_header h;
    uint64_t at = 0;
    *n = 0;
    while (pread(fd, hb, sizeof(hb), (off_t)at) == (ssize_t)sizeof(hb) &&
           rl_batch_header_read(hb, sizeof(hb), &h) == RL_OK && h.magic == RL_BATCH_MAGIC &&
           rl_batch_last_offset(&h) < hw) {
        if (!rl_batch_is_control(&h) && (*n)++ == k) {
            *pos = at;
            *len = (uint32_t)rl_batch_total_bytes(&h);
            return true;
        }
        at += rl_batch_total_bytes(&h);
    }
    return false;
}

void flip_committed_batch(struct chaos_cluster *c, int i, struct test_rng *rng)
{
    int p = (int)test_rng_below(rng, (uint64_t)c->opts->partitions);
    int64_t hw = committed_end(c, p);
    char path[700];
    snprintf(path, sizeof(path), "%s/topics/%s/%d/%020d.log", c->nodes[i].dir, CHAOS_TOPIC, p, 0);
    int fd = hw > 0 ? open(path, O_RDWR) : -1;
    uint64_t n = 0, pos = 0;
    uint32_t len = 0;
    if (fd < 0 || (nth_batch(fd, hw, UINT64_MAX, &pos, &len, &n), n == 0) ||
        !nth_batch(fd, hw, test_rng_below(rng, n), &pos, &len, &n)) {
        chaos_log("nemesis: no committed batch to flip on node %d partition %d", i + 1, p);
        if (fd >= 0)
            close(fd);
        return;
    }
    /* A byte of the records: the header's unchecksummed fields would look like a torn log. */
    off_t at =
        (off_t)(pos + RL_BATCH_HEADER_BYTES + test_rng_below(rng, len - RL_BATCH_HEADER_BYTES));
    uint8_t b = 0;
    if (pread(fd, &b, 1, at) == 1) {
        b ^= (uint8_t)(1u << test_rng_below(rng, 8));
        if (pwrite(fd, &b, 1, at) == 1)
            chaos_log("nemesis: flipped a bit at byte %lld of node %d partition %d's segment "
                      "(batch at position %" PRIu64 ", below hw %" PRId64 ")",
                      (long long)at, i + 1, p, pos, hw);
    }
    close(fd);
}
