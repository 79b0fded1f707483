/*
 * ringlog-bench: one binary, one mode per benchmark.
 *
 *   log          the storage engine alone (bench/log_bench.c)
 *   log-recover  time to open (recover) a partition written by `log`
 *   log-compact  one compaction pass over a keyed log (bench/compact_bench.c)
 *   disk         the raw sequential write bandwidth of a directory's disk
 *   net          loopback TCP bandwidth and round trip (bench/net_baseline.c)
 *   produce | consume | e2e   through a broker (bench/broker_bench.c)
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
            "      [--segment-bytes B] [--group-bytes B] [--groups N] [--inflight N] [--no-close]\n"
            "      [--json]\n"
            "                          appends through the storage engine alone\n"
            "  log-recover --dir DIR [--json]\n"
            "                          opens (recovers) the partition `log` wrote, timed\n"
            "  log-compact --dir DIR [--bytes N] [--keys K] [--msg-size B] [--segment-bytes B]\n"
            "      [--json]\n"
            "                          writes a keyed log, then times one compaction pass\n"
            "  disk --dir DIR (--bytes N | --duration S) [--files N] [--batch-bytes B] [--sync "
            "end|each] [--rate N] [--json]\n"
            "                          raw write() loop: one fsync at the end, or fdatasync each;\n"
            "                          each write timed (--rate: paced, from its intended start)\n"
            "  net [--bytes N] [--chunk-bytes B] [--rtt-count N] [--json]\n"
            "                          loopback TCP: one stream's bandwidth, 1 KiB round trip\n"
            "  produce|consume|e2e --topic T [--bootstrap HOST:PORT] [--partitions N]\n"
            "      [--replication-factor R] [--msg-size BYTES] [--count N | --duration SECONDS]\n"
            "      [--rate MSGS_PER_SEC] [--warmup SECONDS] [--producers N] [--consumers N]\n"
            "      [--acks 0|1|all] [--linger-ms MS] [--batch-bytes B] [--compression C]\n"
            "      [--json] [--csv FILE] [--broker-pid PID] [--idle-timeout S] [--max-seconds S]\n"
            "      [--quiet]\n"
            "                          load through a broker (docs/BENCHMARKS.md)\n");
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
    if (strcmp(mode, "log-compact") == 0)
        return bench_log_compact(argc - 1, argv + 1);
    if (strcmp(mode, "disk") == 0)
        return bench_disk(argc - 1, argv + 1);
    if (strcmp(mode, "net") == 0)
        return bench_net(argc - 1, argv + 1);
    if (strcmp(mode, "produce") == 0 || strcmp(mode, "consume") == 0 || strcmp(mode, "e2e") == 0)
        return bench_broker(argc - 1, argv + 1);
    fprintf(stderr, "ringlog-bench: unknown mode '%s'\n", mode);
    usage(stderr);
    return 2;
}
