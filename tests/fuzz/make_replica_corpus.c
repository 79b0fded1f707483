/*
 * Seed corpus of the replica decoder's fuzz target (fuzz_replica.c): every
 * single message kind a few times over, with small and extreme values, and
 * coalesced heartbeats and replies of one to many entries, all from the
 * codec's encoder with a fixed seed. Writes DIR/corpus/replica/gen-*;
 * checks that each decodes again (a stale corpus would fuzz nothing real).
 * Kept apart from make_corpus.c, which generates the protobuf-c targets'.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "replica_wire.h"
#include "replica_wire_gen.h"
#include "status.h"

enum { PER_KIND = 4, MAX_ENTRIES = 24, BUF = 1 << 16 };

static uint8_t buf[BUF], records[2048];
static struct rl_arena arena;

static void write_seed(const char *dir, const char *name, int i, size_t len)
{
    struct rw_decoded d;
    if (len == 0 || replica_wire_decode(buf, len, &arena, &d) != RL_OK) {
        fprintf(stderr, "make_replica_corpus: %s-%d does not round-trip\n", name, i);
        exit(1);
    }
    rl_arena_reset(&arena);
    char path[4096];
    snprintf(path, sizeof(path), "%s/gen-%s-%d", dir, name, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_messages(struct test_rng *rng, const char *dir)
{
    for (int t = RG_MSG_PRE_VOTE; t <= RG_MSG_INSTALL_START; t++)
        for (int i = 0; i < PER_KIND; i++) {
            struct rg_message m;
            struct rw_group g;
            gen_message(rng, (enum rg_message_type)t, &m);
            gen_group(rng, &g);
            size_t rl = t == RG_MSG_APPEND && m.run_count > 0 ? 1 + test_rng_below(rng, 300) : 0;
            test_rng_fill(rng, records, rl);
            size_t n = replica_wire_encode_message(buf, BUF, &g, &m, records, rl);
            write_seed(dir, rg_message_type_str((enum rg_message_type)t), i, n);
        }
}

static void write_heartbeats(struct test_rng *rng, const char *dir)
{
    static struct rw_group groups[MAX_ENTRIES];
    static struct rg_heartbeat hbs[MAX_ENTRIES];
    static struct rg_heartbeat_reply rs[MAX_ENTRIES];
    for (int i = 0; i < PER_KIND; i++) {
        uint32_t n = i == 0 ? 1 : 1 + (uint32_t)test_rng_below(rng, MAX_ENTRIES);
        gen_heartbeats(rng, groups, hbs, n);
        write_seed(dir, "heartbeats", i, replica_wire_encode_heartbeats(buf, BUF, groups, hbs, n));
        gen_replies(rng, groups, rs, n);
        write_seed(dir, "heartbeat_replies", i,
                   replica_wire_encode_heartbeat_replies(buf, BUF, groups, rs, n));
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_replica_corpus DIR (the tests/fuzz folder)\n");
        return 2;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/corpus", argv[1]);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return perror(dir), 1;
    snprintf(dir, sizeof(dir), "%s/corpus/replica", argv[1]);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return perror(dir), 1;
    struct test_rng rng = {15015};
    rl_arena_init(&arena, 4096, 1 << 20);
    write_messages(&rng, dir);
    write_heartbeats(&rng, dir);
    rl_arena_destroy(&arena);
    printf("fuzz_make_replica_corpus: wrote %s\n", dir);
    return 0;
}
