/*
 * ringlog-chaos: runs the chaos suite (see chaos.h) for one or more seeds.
 *   ringlog-chaos [--seed S] [--duration SECONDS] [--runs N] [--flush always|none]
 *                 [--partitions N] [--producers N] [--consumers N] [--rate MSGS/S] [--keep]
 *                 [--sabotage] [--flips] [--known acked,order,seen,identical]
 * Prints the seed first, each nemesis action as it happens, and one line
 * per run: "chaos: seed S, D s, N acked, M faults, F failures"; exits 1
 * when any run failed. Replay a run with the same seed and options.
 * --flips adds a fault: a broker killed, a bit flipped in a committed batch
 * on its disk, the broker restarted (it must repair it from the others).
 * --sabotage plants one fault per check after the run (check.h) and
 * succeeds only when every check caught its own: the checks can fail.
 * --known names checks whose failures are printed as known and not
 * counted (for bugs found and reported, until they are fixed).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "nemesis.h"
#include "nodes.h"
#include "ringlog.h"
#include "view.h"
#include "workload.h"

#define MAX_PRINTED_FAILURES 40

static atomic_int failures, known_failures;
static const char *known_checks = "";
static int64_t run_start_ms, run_wall_start_ms;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t chaos_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t chaos_wall_start_ms(void)
{
    return run_wall_start_ms;
}

double chaos_elapsed_s(void)
{
    return (double)(chaos_now_ms() - run_start_ms) / 1000.0;
}

static void vline(const char *tag, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&print_lock);
    printf("chaos: %8.3f %s", chaos_elapsed_s(), tag);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

void chaos_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("", fmt, ap);
    va_end(ap);
}

void chaos_fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&failures, 1) >= MAX_PRINTED_FAILURES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vline("FAIL ", fmt, ap);
    va_end(ap);
}

int chaos_failures(void)
{
    return atomic_load(&failures);
}

int chaos_reports(void)
{
    return atomic_load(&failures) + atomic_load(&known_failures);
}

/* True when `check` is one of the comma-separated names in list. */
static bool listed(const char *list, const char *check)
{
    size_t n = strlen(check);
    for (const char *at = strstr(list, check); at; at = strstr(at + 1, check))
        if ((at == list || at[-1] == ',') && (at[n] == '\0' || at[n] == ','))
            return true;
    return false;
}

static atomic_bool planting;

void chaos_set_planting(bool on)
{
    atomic_store(&planting, on);
}

static const char *const check_names[] = {"identical", "order", "acked", "seen"};
static atomic_int check_counts[4];

/* Counts a failure of the named check (its index in check_names). */
static void count_check(const char *check)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(check, check_names[i]) == 0)
            atomic_fetch_add(&check_counts[i], 1);
}

/* "acked 4, order 2" for the checks that failed this run. */
static void checks_summary(char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < 4 && n < len; i++)
        if (atomic_load(&check_counts[i]) > 0)
            n += (size_t)snprintf(out + n, len - n, "%s%s %d", n ? ", " : "", check_names[i],
                                  atomic_load(&check_counts[i]));
}

void chaos_check_failed(const char *check, const char *fmt, ...)
{
    bool known = listed(known_checks, check);
    if (!atomic_load(&planting))
        count_check(check);
    atomic_int *counter = known ? &known_failures : &failures;
    if (atomic_fetch_add(counter, 1) >= MAX_PRINTED_FAILURES)
        return;
    char tag[96];
    if (atomic_load(&planting))
        snprintf(tag, sizeof(tag), "planted fault reported (%s) ", check);
    else
        snprintf(tag, sizeof(tag),
                 known ? "KNOWN FAILURE (%s: a chaos finding, docs/TESTING.md) " : "FAIL (%s) ",
                 check);
    va_list ap;
    va_start(ap, fmt);
    vline(tag, fmt, ap);
    va_end(ap);
}

/* After healing: one fresh acks=all producer must get a record into every partition. */
static void probe_writes(const struct chaos_cluster *c, int timeout_ms)
{
    char err[256];
    ringlog_conf *conf = ringlog_conf_new();
    ringlog_conf_set(conf, "bootstrap", c->bootstrap, err, sizeof(err));
    ringlog_conf_set(conf, "acks", "all", err, sizeof(err));
    ringlog_producer *p = ringlog_producer_new(conf, err, sizeof(err));
    ringlog_conf_destroy(conf);
    if (!p) {
        chaos_fail("probe producer: %s", err);
        return;
    }
    char value[64];
    snprintf(value, sizeof(value), "c%d.0.0|probe", WL_MAX_PRODUCERS - 1);
    for (int i = 0; i < c->opts->partitions; i++) {
        snprintf(value, sizeof(value), "c%d.%d.0|probe", WL_MAX_PRODUCERS - 1, i);
        ringlog_record rec = {
            .topic = CHAOS_TOPIC, .partition = i, .value = value, .value_len = strlen(value)};
        ringlog_produce(p, &rec);
    }
    if (ringlog_producer_flush(p, timeout_ms) != RINGLOG_OK)
        chaos_fail("after healing, %zu of %d probe writes were not acknowledged within %d ms",
                   ringlog_producer_outstanding(p), c->opts->partitions, timeout_ms);
    ringlog_producer_destroy(p);
}

/* One run with one seed; returns its failure count. */
static int run(const struct chaos_opts *o)
{
    struct chaos_cluster c;
    memset(&c, 0, sizeof(c));
    atomic_store(&failures, 0);
    atomic_store(&known_failures, 0);
    for (int i = 0; i < 4; i++)
        atomic_store(&check_counts[i], 0);
    known_checks = o->known;
    run_start_ms = chaos_now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    run_wall_start_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    printf("chaos: seed %" PRIu64 ", %d s, flush %s, %d partitions, %d producers at %d msgs/s, "
           "%d consumers (replay: ringlog-chaos --seed %" PRIu64 " --duration %d --flush %s%s)\n",
           o->seed, o->duration_s, o->flush, o->partitions, o->producers, o->rate, o->consumers,
           o->seed, o->duration_s, o->flush, o->flips ? " --flips" : "");
    char started[32];
    time_t secs = (time_t)(run_wall_start_ms / 1000);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%S", gmtime(&secs));
    printf("chaos: time 0 is %s.%03dZ (the brokers' log clock)\n", started,
           (int)(run_wall_start_ms % 1000));
    struct test_rng rng = {.state = o->seed};
    unsigned faults = 0;
    uint64_t acked = 0;
    int planted = 0;
    if (nodes_start(&c, o) == 0 && view_create_topic(&c, o->partitions, 30000) == 0 &&
        check_converge(&c, "after creating the topic", 30000)) {
        struct workload *w = workload_start(&c, o);
        faults = nemesis_run(&c, &rng, chaos_now_ms() + (int64_t)o->duration_s * 1000);
        chaos_log("healing");
        nemesis_heal_all(&c);
        workload_stop(w, 30000);
        acked = wl_acked(w);
        chaos_log("%" PRIu64 " acknowledged, %" PRIu64 " not delivered", acked, wl_errors(w));
        probe_writes(&c, 30000);
        if (check_converge(&c, "after healing", 60000))
            planted = check_logs(&c, w, o->sabotage);
        workload_free(w);
    }
    /* Sabotage's planted faults are counted as failures; keep the data only for real ones. */
    nodes_stop(&c, o->keep || (o->sabotage ? planted != 4 : chaos_reports() > 0));
    int f = chaos_failures();
    if (o->sabotage) {
        printf("chaos: sabotage: %d of 4 planted faults caught\n", planted);
        f = planted == 4 ? 0 : 1;
    }
    printf("chaos: seed %" PRIu64 ", %.0f s, %" PRIu64 " acked, %u faults, %d failures\n", o->seed,
           chaos_elapsed_s(), acked, faults, f);
    char by_check[128];
    checks_summary(by_check, sizeof(by_check));
    if (by_check[0])
        printf("chaos: seed %" PRIu64 ": failed checks: %s\n", o->seed, by_check);
    if (atomic_load(&known_failures) > 0)
        printf("chaos: seed %" PRIu64 ": %d KNOWN FAILURES of checks %s (not counted; see "
               "docs/TESTING.md, \"Chaos\")\n",
               o->seed, atomic_load(&known_failures), o->known);
    fflush(stdout);
    return f;
}

static void usage(void)
{
    fprintf(stderr, "usage: ringlog-chaos [--seed S] [--duration SECONDS] [--runs N] "
                    "[--flush always|none] [--partitions N] [--producers N] [--consumers N] "
                    "[--rate MSGS/S] [--keep] [--sabotage] [--flips] [--known CHECK,...]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct chaos_opts *o, int *runs)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0 || strcmp(a, "--sabotage") == 0 || strcmp(a, "--flips") == 0) {
            *(a[2] == 'k' ? &o->keep : a[2] == 's' ? &o->sabotage : &o->flips) = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--duration") == 0)
            o->duration_s = atoi(v);
        else if (strcmp(a, "--runs") == 0)
            *runs = atoi(v);
        else if (strcmp(a, "--flush") == 0 && (!strcmp(v, "always") || !strcmp(v, "none")))
            o->flush = v;
        else if (strcmp(a, "--partitions") == 0)
            o->partitions = atoi(v);
        else if (strcmp(a, "--producers") == 0)
            o->producers = atoi(v);
        else if (strcmp(a, "--consumers") == 0)
            o->consumers = atoi(v);
        else if (strcmp(a, "--rate") == 0)
            o->rate = atoi(v);
        else if (strcmp(a, "--known") == 0)
            o->known = v;
        else
            usage();
    }
    if (o->duration_s < 1 || *runs < 1 || o->partitions < 1 || o->partitions > WL_MAX_PARTITIONS ||
        o->producers < 1 || o->producers >= WL_MAX_PRODUCERS || o->consumers < 0 ||
        o->consumers > WL_MAX_PRODUCERS || o->rate < 1 || o->rate > 10000)
        usage();
}

int main(int argc, char **argv)
{
    struct chaos_opts o = {.seed = 1,
                           .duration_s = 60,
                           .flush = "always",
                           .partitions = 3,
                           .producers = 3,
                           .consumers = 2,
                           .rate = 200,
                           .known = ""};
    int runs = 1;
    parse(argc, argv, &o, &runs);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int failed = 0;
    uint64_t first = o.seed;
    for (int i = 0; i < runs; i++) {
        o.seed = first + (uint64_t)i;
        if (run(&o) > 0) {
            failed++;
            printf("chaos: seed %" PRIu64 " FAILED\n", o.seed);
        }
    }
    if (runs > 1)
        printf("chaos: %d runs from seed %" PRIu64 ", %d failed\n", runs, first, failed);
    return failed ? 1 : 0;
}
