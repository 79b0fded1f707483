/* The leader's in-memory tail (broker/partition/replica_tail.h). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "partition/replica_tail.h"

static struct replica_tail t;
static int64_t budget;

static void setup(void)
{
    memset(&t, 0, sizeof(t));
    budget = REPLICA_TAIL_SHARD_BYTES;
}

static void teardown(void)
{
    replica_tail_clear(&t, &budget);
    cr_assert_eq(budget, REPLICA_TAIL_SHARD_BYTES, "every chunk byte is given back");
}

TestSuite(replica_tail, .init = setup, .fini = teardown);

/* len bytes, each (seed + i) & 0xff: a slice's content tells which entries it holds. */
static uint8_t *bytes_of(size_t len, int seed)
{
    uint8_t *b = malloc(len);
    cr_assert_not_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(seed + (int)i);
    return b;
}

static void add(int64_t base, int64_t end, size_t len, int seed)
{
    uint8_t *b = bytes_of(len, seed);
    cr_assert(replica_tail_add(&t, base, end, b, len, &budget), "add [%ld, %ld)", (long)base,
              (long)end);
    free(b);
}

Test(replica_tail, a_run_of_entries_comes_back_whole_and_byte_exact)
{
    add(10, 12, 100, 1);
    add(12, 15, 200, 2);
    add(15, 16, 50, 3);
    struct tail_slice s;
    cr_assert(replica_tail_find(&t, 10, 16, 1 << 20, &s));
    cr_assert_eq(s.len, 350);
    cr_assert_eq(s.end, 16);
    uint8_t *a = bytes_of(100, 1), *b = bytes_of(200, 2), *c = bytes_of(50, 3);
    cr_assert_arr_eq(s.data, a, 100);
    cr_assert_arr_eq(s.data + 100, b, 200);
    cr_assert_arr_eq(s.data + 300, c, 50);
    free(a), free(b), free(c);
    tail_chunk_release(s.chunk);
    cr_assert(replica_tail_find(&t, 12, 16, 1 << 20, &s), "from a later entry too");
    cr_assert_eq(s.len, 250);
    tail_chunk_release(s.chunk);
}

Test(replica_tail, a_range_not_starting_at_an_entry_or_ending_inside_one_is_not_served)
{
    add(10, 12, 100, 1);
    add(12, 15, 200, 2);
    struct tail_slice s;
    cr_assert_not(replica_tail_find(&t, 11, 15, 1 << 20, &s), "11 is inside an entry");
    cr_assert_not(replica_tail_find(&t, 9, 15, 1 << 20, &s), "9 is before the tail");
    cr_assert_not(replica_tail_find(&t, 15, 20, 1 << 20, &s), "15 is past it");
    cr_assert_not(replica_tail_find(&t, 10, 11, 1 << 20, &s), "the first entry ends past 11");
    cr_assert(replica_tail_find(&t, 10, 14, 1 << 20, &s), "whole entries up to 14");
    cr_assert_eq(s.end, 12, "stops before the entry that would pass `to`");
    tail_chunk_release(s.chunk);
}

Test(replica_tail, max_bytes_cuts_at_an_entry_but_gives_at_least_one)
{
    add(0, 1, 3000, 1);
    add(1, 2, 3000, 2);
    struct tail_slice s;
    cr_assert(replica_tail_find(&t, 0, 2, 1000, &s));
    cr_assert_eq(s.len, 3000, "one entry larger than max_bytes still goes");
    cr_assert_eq(s.end, 1);
    tail_chunk_release(s.chunk);
    cr_assert(replica_tail_find(&t, 0, 2, 6000, &s));
    cr_assert_eq(s.end, 2);
    tail_chunk_release(s.chunk);
}

Test(replica_tail, a_gap_empties_the_tail)
{
    add(0, 5, 100, 1);
    add(7, 9, 100, 2); /* 5..7 never came: what is here no longer leads up to 7 */
    struct tail_slice s;
    cr_assert_not(replica_tail_find(&t, 0, 9, 1 << 20, &s));
    cr_assert_eq(replica_tail_start(&t), 7);
}

Test(replica_tail, trim_drops_what_every_follower_has)
{
    add(0, 5, 100, 1);
    add(5, 9, 100, 2);
    add(9, 10, 100, 3);
    replica_tail_trim(&t, 8, &budget);
    cr_assert_eq(replica_tail_start(&t), 5,
                 "the entry ending at 9 is still needed by a follower at 8");
    replica_tail_trim(&t, 9, &budget);
    cr_assert_eq(replica_tail_start(&t), 9);
    replica_tail_trim(&t, 10, &budget);
    cr_assert_eq(replica_tail_start(&t), INT64_MAX);
}

Test(replica_tail, entries_in_two_chunks_come_back_one_chunk_at_a_time)
{
    size_t big = REPLICA_TAIL_CHUNK_BYTES / 2 + 1;
    add(0, 1, big, 1);
    add(1, 2, big, 2); /* does not fit in the first chunk */
    struct tail_slice s;
    cr_assert(replica_tail_find(&t, 0, 2, 8u << 20, &s));
    cr_assert_eq(s.end, 1, "one chunk per slice");
    tail_chunk_release(s.chunk);
    cr_assert(replica_tail_find(&t, 1, 2, 8u << 20, &s));
    cr_assert_eq(s.end, 2);
    uint8_t *want = bytes_of(big, 2);
    cr_assert_arr_eq(s.data, want, big);
    free(want);
    tail_chunk_release(s.chunk);
}

Test(replica_tail, the_per_replica_bounds_evict_the_oldest)
{
    for (int64_t i = 0; i < REPLICA_TAIL_SLOTS + 10; i++)
        add(i, i + 1, 10, (int)i);
    cr_assert_eq(replica_tail_start(&t), 10, "slots: the 10 oldest went");
    replica_tail_clear(&t, &budget);
    size_t mib = 1u << 20;
    for (int64_t i = 0; i < 12; i++)
        add(i, i + 1, mib, (int)i);
    cr_assert_geq(replica_tail_start(&t), 12 - (int64_t)(REPLICA_TAIL_MAX_BYTES / mib),
                  "bytes: at most REPLICA_TAIL_MAX_BYTES kept");
    cr_assert(t.bytes <= REPLICA_TAIL_MAX_BYTES + REPLICA_TAIL_CHUNK_BYTES);
}

Test(replica_tail, an_entry_past_the_bound_or_the_budget_is_not_kept)
{
    uint8_t *huge = bytes_of(REPLICA_TAIL_MAX_BYTES + 1, 0);
    cr_assert_not(replica_tail_add(&t, 0, 1, huge, REPLICA_TAIL_MAX_BYTES + 1, &budget));
    free(huge);
    cr_assert_eq(replica_tail_start(&t), INT64_MAX);
    budget = REPLICA_TAIL_FIRST_CHUNK_BYTES - 1; /* the shard has no room for a chunk */
    uint8_t one = 7;
    cr_assert_not(replica_tail_add(&t, 0, 1, &one, 1, &budget));
    cr_assert_eq(budget, REPLICA_TAIL_FIRST_CHUNK_BYTES - 1, "nothing taken");
    budget = REPLICA_TAIL_SHARD_BYTES; /* teardown's check */
}

Test(replica_tail, a_slice_outlives_the_tail_that_lent_it)
{
    add(0, 1, 1000, 5);
    struct tail_slice s;
    cr_assert(replica_tail_find(&t, 0, 1, 1 << 20, &s));
    replica_tail_clear(&t, &budget); /* leadership lost while the message is queued */
    uint8_t *want = bytes_of(1000, 5);
    cr_assert_arr_eq(s.data, want, 1000, "still readable (ASan would see a use after free)");
    free(want);
    tail_chunk_release(s.chunk);
}

Test(replica_tail, chunks_start_small_and_double_while_they_fill)
{
    size_t piece = REPLICA_TAIL_FIRST_CHUNK_BYTES / 4;
    for (int64_t i = 0; i < 4; i++)
        add(i, i + 1, piece, (int)i);
    cr_assert_eq(t.bytes, REPLICA_TAIL_FIRST_CHUNK_BYTES,
                 "a partition written now and then holds little");
    add(4, 5, piece, 4);
    cr_assert_eq(t.bytes, 3 * REPLICA_TAIL_FIRST_CHUNK_BYTES, "then one twice as large");
    replica_tail_clear(&t, &budget);
    for (int64_t i = 0; i < 200; i++)
        add(i, i + 1, 8192, (int)i);
    struct tail_slice s;
    size_t most = 0;
    for (int64_t from = replica_tail_start(&t); replica_tail_find(&t, from, 200, 8u << 20, &s);
         from = s.end) {
        most = s.len > most ? s.len : most; /* a slice is one chunk's entries */
        tail_chunk_release(s.chunk);
    }
    cr_assert_eq(most, REPLICA_TAIL_CHUNK_BYTES, "the largest chunk is reached, never passed");
}
