/*
 * ringlog-bench: one binary, one mode per benchmark.
 *
 *   log          the storage engine alone (bench/log_bench.c)
 *   log-recover  time to open (recover) a partition written by `log`
 *   disk         the raw sequential write bandwidth of a directory's disk
 *   produce | consume | e2e   through a broker (not built yet)
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ringlog-bench MODE [options]\n"
            "modes:\n"
            "  log --dir DIR --bytes N [--msg-size B] [--batch-bytes B] [--flush none|always]\n"
            "      [--segment-bytes B] [--no-close] [--json]\n"
            "                          appends through the storage engine alone\n"
            "  log-recover --dir DIR [--json]\n"
            "                          opens (recovers) the partition `log` wrote, timed\n"
            "  disk --dir DIR --bytes N [--batch-bytes B] [--sync end|each] [--json]\n"
            "                          raw write() loop: one fsync at the end, or fdatasync each\n"
            "  produce | consume | e2e  through a broker (not built yet)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "log") == 0)
        return bench_log(argc - 1, argv + 1);
    if (strcmp(mode, "log-recover") == 0)
        return bench_log_recover(argc - 1, argv + 1);
    if (strcmp(mode, "disk") == 0)
        return bench_disk(argc - 1, argv + 1);
    if (strcmp(mode, "produce") == 0 || strcmp(mode, "consume") == 0 || strcmp(mode, "e2e") == 0) {
        fprintf(stderr,
                "ringlog-bench: mode '%s' is not built yet (it needs the client library); "
                "available: log, log-recover, disk\n",
                mode);
        return 2;
    }
    fprintf(stderr, "ringlog-bench: unknown mode '%s'\n", mode);
    usage(stderr);
    return 2;
}
