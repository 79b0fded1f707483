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

#include "batch.h"
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

/* An APPEND whose records are real batches matching it: data of epoch 2,
 * a config batch starting epoch 3, data of epoch 3 (so the fuzzer starts
 * from records replica_wire_check_append accepts). */
static void write_real_append(const char *dir)
{
    struct rl_batch_producer none = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    struct rl_record_in rec = {.value = "v", .value_len = 1, .timestamp = 1700000000000};
    struct rl_batch_builder b;
    struct rg_membership cfg = {.voter_count = 3, .voters = {1, 2, 3}};
    size_t n = 0;
    for (int part = 0; part < 3; part++) {
        if (part == 1) {
            size_t c = replica_wire_build_config_batch(records + n, sizeof(records) - n, &cfg, 1);
            rl_batch_stamp(records + n, 14, 3);
            n += c;
            continue;
        }
        if (rl_batch_builder_init(&b, records + n, sizeof(records) - n, &none) != RL_OK)
            exit(1);
        for (int i = 0; i < (part == 0 ? 4 : 3); i++)
            if (rl_batch_builder_add(&b, &rec) != RL_OK)
                exit(1);
        size_t d = rl_batch_builder_finish(&b);
        rl_batch_stamp(records + n, part == 0 ? 10 : 15, part == 0 ? 2 : 3);
        n += d;
    }
    struct rg_message m = {.type = RG_MSG_APPEND,
                           .from = 1,
                           .to = 2,
                           .term = 3,
                           .prev_end = 10,
                           .prev_epoch = 2,
                           .end = 18,
                           .commit = 9,
                           .run_count = 2,
                           .runs = {{2, 8}, {3, 14}}};
    struct rw_group g = {42, 0};
    if (replica_wire_check_append(&m, records, n, 1 << 20) != RL_OK || m.config_count != 1) {
        fprintf(stderr, "make_replica_corpus: the real APPEND does not check\n");
        exit(1);
    }
    m.config_count = 0;
    write_seed(dir, "append-real", 0, replica_wire_encode_message(buf, BUF, &g, &m, records, n));
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
    write_real_append(dir);
    rl_arena_destroy(&arena);
    printf("fuzz_make_replica_corpus: wrote %s\n", dir);
    return 0;
}
