/*
 * The broker's file descriptor budget: a partition holds one fd per
 * segment file it keeps open (docs/STORAGE.md), so 10,000 partitions need
 * more than the usual soft limit of 1,024. At start-up the soft
 * RLIMIT_NOFILE is raised to the hard limit, and a data directory whose
 * topics cannot fit is refused with the numbers.
 */
#ifndef RINGLOG_BROKER_FD_LIMIT_H
#define RINGLOG_BROKER_FD_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "topics.h"

/* fds kept free beyond the partitions' own: connections, listeners, rings,
 * the index files a control operation opens for a moment, meta files. */
#define FD_LIMIT_RESERVE 256

struct fd_budget {
    uint64_t partitions;    /* partitions this broker opens */
    uint64_t segment_files; /* .log files they hold open (at least one each) */
    uint64_t need;          /* segment_files + FD_LIMIT_RESERVE */
    uint64_t soft_before;   /* the soft limit found */
    uint64_t limit;         /* the soft limit now (the hard limit when it could be raised) */
    uint64_t hard;
};

/*
 * Counts what the topics of `table` stored under data_dir need, raises the
 * soft limit to the hard one, and fills *out. Returns 0, or -1 with err
 * (the numbers) when the need exceeds the hard limit or the limit cannot
 * be read.
 */
int fd_limit_prepare(const struct topic_table *table, const char *data_dir, struct fd_budget *out,
                     char *err, size_t err_len);

#endif
