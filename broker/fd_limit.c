#include "fd_limit.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* A partition directory's .log files; 1 when it has none yet (created at open). */
static uint64_t count_segment_files(const char *data_dir, const char *topic, uint32_t partition)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/topics/%s/%u", data_dir, topic, partition);
    assert(n > 0);
    if ((size_t)n >= sizeof(path))
        return 1;
    DIR *d = opendir(path);
    if (!d)
        return 1;
    uint64_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0)
            count++;
    }
    closedir(d);
    return count > 0 ? count : 1;
}

/* Partitions and segment files of every topic in the table. */
static void count_need(const struct topic_table *table, const char *data_dir, struct fd_budget *out)
{
    assert(out->partitions == 0 && out->segment_files == 0);
    for (uint32_t i = 0; table && i < table->count; i++) {
        const struct topic_info *t = table->topics[i];
        assert(t);
        out->partitions += t->partitions;
        for (uint32_t p = 0; p < t->partitions; p++)
            out->segment_files += count_segment_files(data_dir, t->name, p);
    }
    out->need = out->segment_files + FD_LIMIT_RESERVE;
}

int fd_limit_prepare(const struct topic_table *table, const char *data_dir, struct fd_budget *out,
                     char *err, size_t err_len)
{
    assert(data_dir && out);
    memset(out, 0, sizeof(*out));
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(err, err_len, "cannot read RLIMIT_NOFILE: %s", strerror(errno));
        return -1;
    }
    out->soft_before = rl.rlim_cur;
    out->hard = rl.rlim_max;
    /* An unlimited hard limit cannot be the soft one (the kernel caps it at
     * fs.nr_open): ask for 2^20, the usual nr_open, then. */
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? ((rlim_t)1 << 20) : rl.rlim_max;
    if (rl.rlim_cur < want) {
        struct rlimit raised = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = want;
    }
    out->limit = rl.rlim_cur;
    count_need(table, data_dir, out);
    if (out->need > out->limit) {
        snprintf(err, err_len,
                 "too many files for the open-files limit: %llu partitions hold %llu segment "
                 "files, which with %d for connections need %llu file descriptors, but "
                 "RLIMIT_NOFILE is %llu (hard limit %llu); raise the hard limit (ulimit -Hn, "
                 "systemd LimitNOFILE=) or move topics to another broker",
                 (unsigned long long)out->partitions, (unsigned long long)out->segment_files,
                 FD_LIMIT_RESERVE, (unsigned long long)out->need, (unsigned long long)out->limit,
                 (unsigned long long)out->hard);
        return -1;
    }
    return 0;
}
