/* The assignors (broker/groups/assign.h): coverage, balance, stickiness, range. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "assign.h"
#include "test_rng.h"

struct fixture {
    struct assign_member m[16];
    struct tp_set prev[16], out[16];
    char ids[16][8];
};

static char *ALL[] = {"a", "b", "c"};

static void setup_members(struct fixture *f, size_t n, char **topics, size_t ntopics)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        snprintf(f->ids[i], sizeof(f->ids[i]), "m%02zu", i);
        f->m[i] = (struct assign_member){.id = f->ids[i],
                                         .topics = topics,
                                         .ntopics = ntopics,
                                         .previous = &f->prev[i],
                                         .target = &f->out[i]};
    }
}

static void teardown(struct fixture *f)
{
    for (size_t i = 0; i < 16; i++) {
        tp_set_free(&f->prev[i]);
        tp_set_free(&f->out[i]);
    }
}

/* Every partition of the topics in exactly one target; returns the max-min load spread. */
static size_t check_cover(struct fixture *f, size_t n, const struct assign_topic *t, size_t nt)
{
    size_t min = SIZE_MAX, max = 0;
    for (size_t k = 0; k < nt; k++)
        for (uint32_t p = 0; p < t[k].partitions; p++) {
            int owners = 0;
            for (size_t i = 0; i < n; i++)
                owners += tp_set_contains(&f->out[i], t[k].name, p);
            cr_assert_eq(owners, 1, "%s/%u has %d owners", t[k].name, p, owners);
        }
    for (size_t i = 0; i < n; i++) {
        min = f->out[i].n < min ? f->out[i].n : min;
        max = f->out[i].n > max ? f->out[i].n : max;
    }
    return max - min;
}

Test(assign, uniform_splits_evenly_and_disjointly)
{
    struct fixture f;
    setup_members(&f, 3, ALL, 1);
    struct assign_topic t[] = {{"a", 6}};
    cr_assert_eq(assign_run(ASSIGNOR_UNIFORM, f.m, 3, t, 1), 0);
    cr_assert_eq(check_cover(&f, 3, t, 1), 0);
    cr_assert_eq(f.out[0].n, 2);
    teardown(&f);
}

Test(assign, uniform_moves_only_what_must_move)
{
    struct fixture f;
    setup_members(&f, 4, ALL, 1);
    struct assign_topic t[] = {{"a", 6}};
    /* three members held 2 each; a fourth (m03) joins with nothing */
    for (uint32_t p = 0; p < 6; p++)
        tp_set_add(&f.prev[p / 2], "a", p);
    cr_assert_eq(assign_run(ASSIGNOR_UNIFORM, f.m, 4, t, 1), 0);
    cr_assert_leq(check_cover(&f, 4, t, 1), 1);
    size_t kept = 0;
    for (size_t i = 0; i < 3; i++) {
        cr_assert_geq(f.out[i].n, 1);
        for (size_t k = 0; k < f.out[i].n; k++)
            kept += tp_set_contains(&f.prev[i], f.out[i].v[k].topic, f.out[i].v[k].partition);
    }
    cr_assert_eq(kept, 5, "exactly one partition moves to the new member (kept %zu)", kept);
    cr_assert_eq(f.out[3].n, 1);
    teardown(&f);
}

Test(assign, range_gives_contiguous_ranges)
{
    struct fixture f;
    setup_members(&f, 3, ALL, 2);
    struct assign_topic t[] = {{"a", 7}, {"b", 2}};
    cr_assert_eq(assign_run(ASSIGNOR_RANGE, f.m, 3, t, 2), 0);
    check_cover(&f, 3, t, 2);
    cr_assert(tp_set_contains(&f.out[0], "a", 0) && tp_set_contains(&f.out[0], "a", 2));
    cr_assert(tp_set_contains(&f.out[1], "a", 3) && tp_set_contains(&f.out[1], "a", 4));
    cr_assert(tp_set_contains(&f.out[2], "a", 5) && tp_set_contains(&f.out[2], "a", 6));
    cr_assert(tp_set_contains(&f.out[0], "b", 0) && tp_set_contains(&f.out[1], "b", 1));
    cr_assert_eq(f.out[2].n, 2);
    teardown(&f);
}

Test(assign, only_subscribers_get_a_topic)
{
    struct fixture f;
    setup_members(&f, 2, ALL, 2);
    static char *only_b[] = {"b"};
    f.m[1].topics = only_b;
    f.m[1].ntopics = 1;
    struct assign_topic t[] = {{"a", 3}, {"b", 3}};
    cr_assert_eq(assign_run(ASSIGNOR_UNIFORM, f.m, 2, t, 2), 0);
    check_cover(&f, 2, t, 2);
    for (size_t k = 0; k < f.out[1].n; k++)
        cr_assert_str_eq(f.out[1].v[k].topic, "b");
    teardown(&f);
}

Test(assignor, names)
{
    enum assignor a;
    cr_assert_eq(assignor_parse("", &a), 0);
    cr_assert_eq(a, ASSIGNOR_UNIFORM);
    cr_assert_eq(assignor_parse("range", &a), 0);
    cr_assert_eq(a, ASSIGNOR_RANGE);
    cr_assert_eq(assignor_parse("sticky", &a), -1);
    cr_assert_str_eq(assignor_name(ASSIGNOR_RANGE), "range");
}

/* Random homogeneous groups: coverage, a spread of at most one, and stickiness across a churn. */
Test(assign, uniform_randomized)
{
    struct test_rng rng;
    test_rng_seed(&rng, "assign.uniform_randomized", 16);
    for (int round = 0; round < 300; round++) {
        struct fixture f;
        size_t n = 1 + test_rng_below(&rng, 12);
        setup_members(&f, n, ALL, 3);
        struct assign_topic t[] = {{"a", (uint32_t)test_rng_below(&rng, 20)},
                                   {"b", (uint32_t)test_rng_below(&rng, 5)},
                                   {"c", 1}};
        cr_assert_eq(assign_run(ASSIGNOR_UNIFORM, f.m, n, t, 3), 0);
        cr_assert_leq(check_cover(&f, n, t, 3), 1);
        /* one member leaves: the others keep everything they had */
        size_t gone = test_rng_below(&rng, n);
        for (size_t i = 0; i < n; i++)
            tp_set_copy(&f.prev[i], &f.out[i]);
        if (n > 1) {
            f.m[gone] = f.m[n - 1];
            struct tp_set keep = f.prev[gone];
            f.prev[gone] = f.prev[n - 1];
            f.prev[n - 1] = keep;
            f.m[gone].previous = &f.prev[gone];
            f.m[gone].target = &f.out[gone];
            cr_assert_eq(assign_run(ASSIGNOR_UNIFORM, f.m, n - 1, t, 3), 0);
            cr_assert_leq(check_cover(&f, n - 1, t, 3), 1);
            for (size_t i = 0; i < n - 1; i++)
                for (size_t k = 0; k < f.prev[i].n; k++)
                    cr_assert(tp_set_contains(f.m[i].target, f.prev[i].v[k].topic,
                                              f.prev[i].v[k].partition),
                              "round %d: a staying member lost a partition", round);
        }
        teardown(&f);
    }
}
