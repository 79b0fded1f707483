/*
 * ringlog-bench produce | consume | e2e: load through a broker with the
 * public client library (ringlog.h).
 *
 *   produce  --producers N threads, each its own ringlog_producer (own
 *            connection and I/O thread). Latency = acknowledgement time -
 *            the message's intended send time.
 *   consume  --consumers N threads, each its own ringlog_consumer with a
 *            share of the partitions (p % N), from the beginning.
 *   e2e      both at once; consumers start at the current end of each
 *            partition; latency = consume time - intended send time, read
 *            from the first 16 bytes of the value.
 *
 * With --rate R the producers follow a fixed schedule (R msgs/s in total,
 * evenly spaced) and latency counts from each message's place in the
 * schedule, so a stall is charged to every message it delayed. Without
 * --rate they send as fast as the library accepts and the intended time is
 * the moment ringlog_produce() is called.
 *
 * Messages whose intended time (produce, e2e) or arrival (consume) falls in
 * the first --warmup seconds are counted in the progress lines but not in
 * the figures. Every loop is bounded by count and time.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "load.h"
#include "ringlog.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define BUMP(x, v) STORE(x, LOAD(x) + (v)) /* single writer */

enum mode { M_PRODUCE, M_CONSUME, M_E2E };

struct opts {
    enum mode mode;
    const char *mode_name;
    const char *topic, *bootstrap;
    int partitions, rf, producers, consumers;
    int produce_batch; /* records per ringlog_produce_batch call; 1: ringlog_produce */
    int64_t msg_size, count;
    double duration, rate, warmup, max_seconds, idle_timeout;
    const char *acks, *linger_ms, *batch_bytes, *compression;
    bool io_callbacks; /* --callbacks io-thread: reports on the library's I/O thread */
    const char *csv;
    bool json, quiet;
    int broker_pid;
};

/* Per-thread counters: one writer each, read by the reporter. */
struct counters {
    uint64_t msgs, bytes, errors;    /* everything, warmup included */
    uint64_t meas_msgs, meas_bytes;  /* after warmup */
    uint64_t first_meas_ns, last_ns; /* measured window */
    struct hist all, meas;           /* latency: everything / after warmup */
};

struct worker {
    struct bench *b;
    int idx;
    pthread_t th;
    ringlog_producer *p;
    ringlog_consumer *c;
    struct counters k;
    uint64_t quota;
    bool done;
};

struct bench {
    struct opts o;
    int npart;
    int64_t *start_offsets; /* e2e: where consumers begin */
    struct worker *prod, *cons;
    uint64_t start_ns, warm_end_ns, stop_ns; /* stop_ns: producers stop sending */
    uint64_t consume_target;                 /* consume/e2e count mode: measured messages */
    uint64_t consumed_meas;                  /* shared by consumers (atomic) */
    int producers_done;
    uint64_t produced_ok_total; /* e2e: set once producers are done */
    pthread_barrier_t go;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of every thread of a process, from /proc/PID/stat; < 0 when unreadable. */
double bench_proc_cpu_s(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- producers */

/*
 * One report per batch (ringlog_conf_set_delivery_batch_cb), as an
 * application with many small messages would take them: the records of a
 * batch were acknowledged by the same answer, so one clock read times them
 * all, and a run of records with the same start time (unpaced runs read the
 * clock every 16 messages) is one histogram update.
 */
static void on_delivery_batch(const ringlog_delivery_batch *db, void *opaque)
{
    struct worker *w = opaque;
    struct bench *b = w->b;
    if (db->err) {
        BUMP(w->k.errors, db->count);
        return;
    }
    uint64_t now = bench_mono_ns();
    uint64_t sz = (uint64_t)b->o.msg_size;
    uint64_t measured = 0;
    BUMP(w->k.msgs, db->count);
    BUMP(w->k.bytes, sz * db->count);
    for (size_t i = 0, j; i < db->count; i = j) {
        uint64_t intended = (uint64_t)(uintptr_t)db->records[i].opaque;
        for (j = i + 1; j < db->count && db->records[j].opaque == db->records[i].opaque; j++) {
        }
        uint64_t n = j - i;
        uint64_t lat = bench_latency_ns(intended, now);
        if (intended < b->warm_end_ns) {
            hist_record_n(&w->k.all, lat, n);
            continue;
        }
        if (LOAD(w->k.meas_msgs) + measured == 0)
            STORE(w->k.first_meas_ns, intended);
        hist_record_n(&w->k.meas, lat, n);
        measured += n;
    }
    if (measured) {
        BUMP(w->k.meas_msgs, measured);
        BUMP(w->k.meas_bytes, sz * measured);
        STORE(w->k.last_ns, now);
    }
}

/*
 * Waits for a paced producer's next slot. With reports served on this
 * thread it waits in ringlog_poll_us, so each report is timed when its
 * answer arrives, as an application blocked in poll would see it; a plain
 * sleep would time every report at the next slot instead (up to 1/rate
 * late: +100 us at p50 for 5,000 msgs/s).
 */
static void wait_slot(struct worker *w, uint64_t t)
{
    if (w->b->o.io_callbacks) {
        bench_sleep_until_ns(t, &g_stop);
        return;
    }
    for (uint64_t now = bench_mono_ns(); now < t && !g_stop; now = bench_mono_ns())
        ringlog_poll_us(w->p, (int64_t)((t - now + 999) / 1000));
}

/*
 * Hands recs[0, n) to the library: one ringlog_produce_batch call, or one
 * ringlog_produce per record with --produce-batch 1. A record the library
 * refuses is counted as an error and skipped, as with single produces.
 * Returns false once the producer cannot continue (RINGLOG_ERR_FATAL).
 */
static bool send_records(struct worker *w, const ringlog_record *recs, const uint64_t *due,
                         size_t n, uint64_t *meas_sent)
{
    const struct bench *b = w->b;
    size_t off = 0;
    while (off < n) {
        size_t q = 0;
        int rc;
        if (b->o.produce_batch == 1) {
            rc = ringlog_produce(w->p, &recs[off]);
            q = rc == RINGLOG_OK;
        } else {
            rc = ringlog_produce_batch(w->p, recs + off, n - off, &q);
        }
        for (size_t i = off; i < off + q; i++)
            *meas_sent += due[i] >= b->warm_end_ns;
        off += q;
        if (rc != RINGLOG_OK) {
            BUMP(w->k.errors, 1);
            if (rc == RINGLOG_ERR_FATAL)
                return false;
            off++;
        }
    }
    return true;
}

static void *producer_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    const struct opts *o = &b->o;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* paced sleeps wake on time */
    size_t nb = (size_t)o->produce_batch, sz = (size_t)o->msg_size;
    char *values = malloc(sz * nb + 1); /* a value per record of a call */
    ringlog_record *recs = calloc(nb, sizeof(*recs));
    uint64_t *due = calloc(nb, sizeof(*due)); /* each record's intended time */
    for (size_t i = 0; i < sz * nb; i++)
        values[i] = (char)('a' + ((i % sz) * 7 + (size_t)w->idx) % 26);
    pthread_barrier_wait(&b->go);
    struct bench_schedule sch = {
        .start_ns = b->start_ns, .rate = o->rate, .producers = o->producers, .producer = w->idx};
    bool stamp = o->mode == M_E2E;
    uint64_t stop = b->stop_ns;
    uint64_t meas_sent = 0;
    uint64_t clock_now = 0;
    int64_t wall_ms = 0; /* unpaced: the record timestamp, taken with clock_now */
    /*
     * The wall clock as an offset from the monotonic one: the record
     * timestamp then costs no second clock read. Slewing can move them apart
     * by at most 0.05 % of the run, which a benchmark's timestamps can bear.
     */
    int64_t wall_base_ms = bench_wall_ms() - (int64_t)(bench_mono_ns() / 1000000);
    /*
     * A sleep costs two context switches. Above 100k msgs/s the schedule is
     * followed at 100 us granularity (messages due within 100 us go at
     * once, each timed from when it really went), below it to the
     * microsecond.
     */
    uint64_t early_ns = o->rate >= 100000 ? 100000 : 2000;
    bool done = false;
    for (uint64_t seq = 0; !done && !g_stop;) {
        /* Gather up to --produce-batch messages that are due, then send them in one call. */
        size_t n = 0;
        uint64_t meas_pending = 0;
        while (n < nb) {
            uint64_t intended, start;
            if (o->rate > 0) {
                intended = bench_intended_ns(&sch, seq);
                if (intended >= stop) {
                    done = true;
                    break;
                }
                uint64_t now = bench_mono_ns();
                if (intended > now + early_ns) {
                    if (n > 0)
                        break; /* send what is due first */
                    wait_slot(w, intended);
                    now = bench_mono_ns();
                }
                /* Late: from the intended time (no coordinated omission). Early: from now,
                 * but a message whose slot is measured is timed from within the
                 * measured window (never from before its start), so the sender,
                 * its delivery report and an e2e consumer agree it counts. */
                start = bench_start_ns(intended, now);
                if (start < b->warm_end_ns && intended >= b->warm_end_ns)
                    start = b->warm_end_ns;
            } else {
                /*
                 * As fast as possible: the clock is read every 16 messages (a
                 * read costs ~35 ns here, a third of the client's CPU at 100 B
                 * when done per message). The messages in between are timed
                 * from that earlier read: up to 15 produce calls (~3 us) of
                 * latency too much, never too little.
                 */
                if ((seq & 15) == 0) {
                    clock_now = bench_mono_ns();
                    wall_ms = wall_base_ms + (int64_t)(clock_now / 1000000);
                }
                intended = start = clock_now;
                if (intended >= stop) {
                    done = true;
                    break;
                }
            }
            /* Measured by its start time, as the delivery report and an e2e
             * consumer judge it (an early send can start before its slot). */
            bool measured = start >= b->warm_end_ns;
            if (o->count > 0 && measured && meas_sent + meas_pending >= w->quota) {
                done = true;
                break;
            }
            char *value = values + n * sz;
            if (stamp)
                bench_stamp_write(value, start, seq);
            recs[n] = (ringlog_record){.topic = o->topic,
                                       .partition = RINGLOG_PARTITION_ANY,
                                       .value = value,
                                       .value_len = sz,
                                       .timestamp = wall_ms, /* 0 (paced): the library reads it */
                                       .opaque = (void *)(uintptr_t)start,
                                       .flags = RINGLOG_MSG_F_BLOCK};
            due[n++] = start;
            meas_pending += measured;
            seq++;
        }
        if (n > 0 && !send_records(w, recs, due, n, &meas_sent))
            break;
        /* The delivery reports, on this thread (a produce waiting for room serves them too). */
        if (!o->io_callbacks)
            ringlog_poll(w->p, 0);
    }
    if (ringlog_producer_flush(w->p, 60000) != RINGLOG_OK)
        fprintf(stderr, "ringlog-bench: producer %d: flush timed out with %zu outstanding\n",
                w->idx, ringlog_producer_outstanding(w->p));
    free(values);
    free(recs);
    free(due);
    __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* ---------------------------------------------------------------- consumers */

static bool producers_finished(struct bench *b)
{
    return __atomic_load_n(&b->producers_done, __ATOMIC_ACQUIRE) != 0;
}

static void *consumer_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    const struct opts *o = &b->o;
    pthread_barrier_wait(&b->go);
    bool e2e = o->mode == M_E2E;
    uint64_t last_msg = bench_mono_ns(), now = last_msg;
    uint64_t hard_stop = b->stop_ns + (uint64_t)(o->idle_timeout * 1e9);
    unsigned unclocked = 0;
    while (!g_stop) {
        const ringlog_message *m;
        int rc = ringlog_consumer_poll(w->c, 100, &m);
        /* consume reads the clock every 16 messages (a read per message was
         * 5 % of the client's CPU): the measured window's end moves by at
         * most 15 messages, early, which can only understate the rate. e2e
         * times every message, and so does the warm-up, so that no message
         * after it is taken for a warm-up one (a --count run must measure
         * exactly that many). */
        if (e2e || rc != RINGLOG_OK || ++unclocked == 16 || now < b->warm_end_ns) {
            now = bench_mono_ns();
            unclocked = 0;
        }
        if (rc == RINGLOG_OK) {
            last_msg = now;
            BUMP(w->k.msgs, 1);
            BUMP(w->k.bytes, m->value_len);
            uint64_t t0 = now, seq;
            bool measured = now >= b->warm_end_ns;
            if (e2e && bench_stamp_read(m->value, m->value_len, &t0, &seq)) {
                uint64_t lat = bench_latency_ns(t0, now);
                measured = t0 >= b->warm_end_ns;
                hist_record(measured ? &w->k.meas : &w->k.all, lat);
            }
            if (measured) {
                if (LOAD(w->k.meas_msgs) == 0)
                    STORE(w->k.first_meas_ns, e2e ? t0 : now);
                BUMP(w->k.meas_msgs, 1);
                BUMP(w->k.meas_bytes, m->value_len);
                STORE(w->k.last_ns, now);
                uint64_t tot = __atomic_add_fetch(&b->consumed_meas, 1, __ATOMIC_RELAXED);
                if (b->consume_target && tot >= b->consume_target)
                    break;
            }
        } else if (rc != RINGLOG_ERR_TIMED_OUT) {
            BUMP(w->k.errors, 1);
            fprintf(stderr, "ringlog-bench: consumer %d: %s: %s\n", w->idx, ringlog_err_name(rc),
                    ringlog_consumer_errstr(w->c));
        }
        if (b->consume_target && LOAD(b->consumed_meas) >= b->consume_target)
            break;
        if (e2e && producers_finished(b)) {
            /* Everything acknowledged has been read by someone: done. */
            uint64_t got = 0;
            for (int i = 0; i < o->consumers; i++)
                got += LOAD(b->cons[i].k.msgs);
            if (got >= LOAD(b->produced_ok_total))
                break;
        }
        if (o->mode == M_CONSUME && o->count <= 0 && now >= b->stop_ns)
            break;
        if (now - last_msg > (uint64_t)(o->idle_timeout * 1e9) || now > hard_stop)
            break;
    }
    __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* ---------------------------------------------------------------- setup */

static int conf_set(ringlog_conf *c, const char *k, const char *v);

/* TLS and SASL as the ringlog CLI takes them from the environment ($RINGLOG_SECURITY_PROTOCOL,
 * ...). */
static int conf_security_from_env(ringlog_conf *c)
{
    static const char *const KEYS[][2] = {{"RINGLOG_SECURITY_PROTOCOL", "security.protocol"},
                                          {"RINGLOG_TLS_CA", "tls.ca"},
                                          {"RINGLOG_TLS_CERT", "tls.cert"},
                                          {"RINGLOG_TLS_KEY", "tls.key"},
                                          {"RINGLOG_SASL_MECHANISM", "sasl.mechanism"},
                                          {"RINGLOG_SASL_USERNAME", "sasl.username"},
                                          {"RINGLOG_SASL_PASSWORD", "sasl.password"}};
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
        const char *v = getenv(KEYS[i][0]);
        if (v && *v && conf_set(c, KEYS[i][1], v) != 0)
            return -1;
    }
    return 0;
}

static void usage_broker(void)
{
    fprintf(
        stderr,
        "usage: ringlog-bench produce|consume|e2e --topic T [--bootstrap HOST:PORT]\n"
        "  [--partitions N] [--replication-factor R] [--msg-size BYTES]\n"
        "  [--count N | --duration SECONDS] [--rate MSGS_PER_SEC] [--warmup SECONDS]\n"
        "  [--producers N] [--consumers N] [--produce-batch N] [--acks 0|1|all] [--linger-ms MS]\n"
        "  [--batch-bytes B] [--compression none|lz4|zstd] [--callbacks poll|io-thread]\n"
        "  [--json] [--csv FILE]\n"
        "  [--broker-pid PID] [--idle-timeout SECONDS] [--max-seconds SECONDS] [--quiet]\n"
        "TLS and SASL from the environment, as for ringlog: RINGLOG_SECURITY_PROTOCOL=tls|sasl_*,\n"
        "  RINGLOG_TLS_CA, RINGLOG_TLS_CERT, RINGLOG_TLS_KEY, RINGLOG_SASL_MECHANISM,\n"
        "  RINGLOG_SASL_USERNAME, RINGLOG_SASL_PASSWORD\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode_name = argv[0];
    o->mode = strcmp(argv[0], "produce") == 0   ? M_PRODUCE
              : strcmp(argv[0], "consume") == 0 ? M_CONSUME
                                                : M_E2E;
    o->bootstrap = getenv("RINGLOG_BOOTSTRAP") ? getenv("RINGLOG_BOOTSTRAP") : "127.0.0.1:7171";
    o->partitions = 1;
    o->rf = 1;
    o->producers = 1;
    o->consumers = 1;
    o->produce_batch = 16;
    o->msg_size = 100;
    o->count = -1;
    o->duration = -1;
    o->idle_timeout = 10;
    o->max_seconds = 600;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            takes = false;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
            takes = false;
        } else if (!v) {
            fprintf(stderr, "ringlog-bench: unknown or incomplete option '%s'\n", a);
            return -1;
        } else if (strcmp(a, "--topic") == 0) {
            o->topic = v;
        } else if (strcmp(a, "--bootstrap") == 0) {
            o->bootstrap = v;
        } else if (strcmp(a, "--partitions") == 0) {
            o->partitions = atoi(v);
        } else if (strcmp(a, "--replication-factor") == 0) {
            o->rf = atoi(v);
        } else if (strcmp(a, "--msg-size") == 0) {
            o->msg_size = bench_parse_size(v);
        } else if (strcmp(a, "--count") == 0) {
            o->count = strtoll(v, NULL, 10);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration = strtod(v, NULL);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = strtod(v, NULL);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = strtod(v, NULL);
        } else if (strcmp(a, "--producers") == 0) {
            o->producers = atoi(v);
        } else if (strcmp(a, "--consumers") == 0) {
            o->consumers = atoi(v);
        } else if (strcmp(a, "--acks") == 0) {
            o->acks = v;
        } else if (strcmp(a, "--produce-batch") == 0) {
            o->produce_batch = atoi(v);
        } else if (strcmp(a, "--linger-ms") == 0) {
            o->linger_ms = v;
        } else if (strcmp(a, "--batch-bytes") == 0) {
            o->batch_bytes = v;
        } else if (strcmp(a, "--compression") == 0) {
            o->compression = v;
        } else if (strcmp(a, "--callbacks") == 0) {
            if (strcmp(v, "poll") != 0 && strcmp(v, "io-thread") != 0) {
                fprintf(stderr, "ringlog-bench: --callbacks is poll or io-thread\n");
                return -1;
            }
            o->io_callbacks = strcmp(v, "io-thread") == 0;
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = v;
        } else if (strcmp(a, "--broker-pid") == 0) {
            o->broker_pid = atoi(v);
        } else if (strcmp(a, "--idle-timeout") == 0) {
            o->idle_timeout = strtod(v, NULL);
        } else if (strcmp(a, "--max-seconds") == 0) {
            o->max_seconds = strtod(v, NULL);
        } else {
            fprintf(stderr, "ringlog-bench: unknown option '%s'\n", a);
            return -1;
        }
        if (takes)
            i++;
    }
    if (!o->topic || !o->topic[0]) {
        fprintf(stderr, "ringlog-bench: --topic is required\n");
        return -1;
    }
    if (o->partitions < 1 || o->rf < 1 || o->producers < 1 || o->producers > 256 ||
        o->consumers < 1 || o->consumers > 256 || o->msg_size < 0 || o->rate < 0 || o->warmup < 0 ||
        o->idle_timeout <= 0 || o->max_seconds <= 0 || o->produce_batch < 1 ||
        o->produce_batch > 4096) {
        fprintf(stderr, "ringlog-bench: a numeric option is out of range\n");
        return -1;
    }
    if (o->count > 0 && o->duration > 0) {
        fprintf(stderr, "ringlog-bench: --count and --duration exclude each other\n");
        return -1;
    }
    if (o->count <= 0 && o->duration <= 0)
        o->duration = 10;
    if (o->mode == M_E2E && o->msg_size < BENCH_STAMP_BYTES) {
        fprintf(stderr, "ringlog-bench: e2e needs --msg-size >= %d (the timestamp rides inside)\n",
                BENCH_STAMP_BYTES);
        return -1;
    }
    return 0;
}

static int conf_set(ringlog_conf *c, const char *k, const char *v)
{
    char err[256];
    if (!v)
        return 0;
    if (ringlog_conf_set(c, k, v, err, sizeof(err)) != RINGLOG_OK) {
        fprintf(stderr, "ringlog-bench: %s\n", err);
        return -1;
    }
    return 0;
}

/* Creates the topic when missing; learns its partition count and (e2e) end offsets. */
static int prepare_topic(struct bench *b, const ringlog_conf *conf)
{
    char err[256];
    ringlog_admin *a = ringlog_admin_new(conf, err, sizeof(err));
    if (!a) {
        fprintf(stderr, "ringlog-bench: admin: %s\n", err);
        return -1;
    }
    int rc = RINGLOG_OK;
    if (b->o.mode != M_CONSUME) {
        rc = ringlog_admin_create_topic(a, b->o.topic, b->o.partitions, b->o.rf, NULL, err,
                                        sizeof(err));
        if (rc == RINGLOG_ERR_TOPIC_EXISTS)
            rc = RINGLOG_OK;
        if (rc != RINGLOG_OK) {
            fprintf(stderr, "ringlog-bench: create topic %s: %s\n", b->o.topic, err);
            ringlog_admin_destroy(a);
            return -1;
        }
    }
    ringlog_topic_info *ti = NULL;
    /* A new topic's leaders may take a moment: retry describe briefly. */
    for (int attempt = 0; attempt < 50; attempt++) {
        rc = ringlog_admin_describe_topic(a, b->o.topic, &ti, err, sizeof(err));
        if (rc == RINGLOG_OK) {
            bool ready = ti->partition_count > 0;
            for (size_t i = 0; i < ti->partition_count; i++)
                if (ti->partitions[i].err || ti->partitions[i].leader < 0)
                    ready = false;
            if (ready)
                break;
            ringlog_free(ti);
            ti = NULL;
        }
        usleep(100000);
    }
    ringlog_admin_destroy(a);
    if (!ti) {
        fprintf(stderr, "ringlog-bench: describe topic %s: %s\n", b->o.topic,
                rc ? err : "partitions have no leader");
        return -1;
    }
    b->npart = (int)ti->partition_count;
    if (b->npart != b->o.partitions && b->o.mode != M_CONSUME)
        fprintf(stderr, "ringlog-bench: topic %s exists with %d partitions (asked %d)\n",
                b->o.topic, b->npart, b->o.partitions);
    b->start_offsets = calloc((size_t)b->npart, sizeof(int64_t));
    for (int i = 0; i < b->npart; i++)
        b->start_offsets[i] =
            b->o.mode == M_E2E ? ti->partitions[i].end_offset : RINGLOG_OFFSET_BEGINNING;
    ringlog_free(ti);
    return 0;
}

static void sum_counters(struct worker *ws, int n, struct counters *tot, bool with_hist)
{
    for (int i = 0; i < n; i++) {
        struct counters *k = &ws[i].k;
        tot->msgs += LOAD(k->msgs);
        tot->bytes += LOAD(k->bytes);
        tot->errors += LOAD(k->errors);
        tot->meas_msgs += LOAD(k->meas_msgs);
        tot->meas_bytes += LOAD(k->meas_bytes);
        uint64_t f = LOAD(k->first_meas_ns), l = LOAD(k->last_ns);
        if (f && (tot->first_meas_ns == 0 || f < tot->first_meas_ns))
            tot->first_meas_ns = f;
        if (l > tot->last_ns)
            tot->last_ns = l;
        if (with_hist) {
            hist_merge(&tot->all, &k->all);
            hist_merge(&tot->meas, &k->meas);
        }
    }
}

/* The workers whose latency and throughput are the run's figures. */
static struct worker *measured_workers(struct bench *b, int *n)
{
    if (b->o.mode == M_PRODUCE) {
        *n = b->o.producers;
        return b->prod;
    }
    *n = b->o.consumers;
    return b->cons;
}

static bool all_done(struct worker *ws, int n)
{
    for (int i = 0; i < n; i++)
        if (!__atomic_load_n(&ws[i].done, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

int bench_broker(int argc, char **argv)
{
    static struct bench B; /* histograms are large: not on the stack */
    struct bench *b = &B;
    if (parse_opts(argc, argv, &b->o) != 0) {
        usage_broker();
        return 2;
    }
    struct opts *o = &b->o;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    ringlog_conf *base = ringlog_conf_new();
    if (conf_set(base, "bootstrap", o->bootstrap) || conf_set(base, "acks", o->acks) ||
        conf_set(base, "linger-ms", o->linger_ms) ||
        conf_set(base, "batch-bytes", o->batch_bytes) ||
        conf_set(base, "compression", o->compression) ||
        conf_set(base, "enable-auto-commit", "false") ||
        conf_set(base, "callbacks-on-io-thread", o->io_callbacks ? "true" : "false") ||
        conf_set(base, "delivery-timeout-ms", "60000") || conf_security_from_env(base)) {
        ringlog_conf_destroy(base);
        return 2;
    }
    if (prepare_topic(b, base) != 0) {
        ringlog_conf_destroy(base);
        return 1;
    }
    bool have_prod = o->mode != M_CONSUME, have_cons = o->mode != M_PRODUCE;
    int np = have_prod ? o->producers : 0, nc = have_cons ? o->consumers : 0;
    if (!have_prod)
        o->producers = 0;
    if (!have_cons)
        o->consumers = 0;
    b->prod = calloc((size_t)(np ? np : 1), sizeof(struct worker));
    b->cons = calloc((size_t)(nc ? nc : 1), sizeof(struct worker));
    char err[256];
    int status = 0;
    /* Clients first (connections, producer ids, assignments), then the clock starts. */
    for (int i = 0; i < np; i++) {
        struct worker *w = &b->prod[i];
        w->b = b;
        w->idx = i;
        hist_init(&w->k.all);
        hist_init(&w->k.meas);
        if (o->count > 0)
            w->quota = (uint64_t)o->count / (uint64_t)np +
                       ((uint64_t)i < (uint64_t)o->count % (uint64_t)np);
        ringlog_conf *c = ringlog_conf_dup(base);
        ringlog_conf_set_delivery_batch_cb(c, on_delivery_batch, w);
        w->p = ringlog_producer_new(c, err, sizeof(err));
        ringlog_conf_destroy(c);
        if (!w->p) {
            fprintf(stderr, "ringlog-bench: producer: %s\n", err);
            return 1;
        }
    }
    for (int i = 0; i < nc; i++) {
        struct worker *w = &b->cons[i];
        w->b = b;
        w->idx = i;
        hist_init(&w->k.all);
        hist_init(&w->k.meas);
        w->c = ringlog_consumer_new(base, err, sizeof(err));
        if (!w->c) {
            fprintf(stderr, "ringlog-bench: consumer: %s\n", err);
            return 1;
        }
        ringlog_topic_partition *tps = calloc((size_t)b->npart, sizeof(*tps));
        size_t n = 0;
        for (int p = i; p < b->npart; p += nc)
            tps[n++] = (ringlog_topic_partition){o->topic, p, b->start_offsets[p]};
        if (n && ringlog_consumer_assign(w->c, tps, n) != RINGLOG_OK) {
            fprintf(stderr, "ringlog-bench: consumer %d: assign failed\n", i);
            return 1;
        }
        free(tps);
        if (n == 0)
            w->done = true; /* more consumers than partitions: nothing to do */
    }
    if (o->mode == M_CONSUME && o->count > 0)
        b->consume_target = (uint64_t)o->count;

    FILE *csv = NULL;
    if (o->csv) {
        csv = fopen(o->csv, "w");
        if (!csv)
            fprintf(stderr, "ringlog-bench: %s: %s\n", o->csv, strerror(errno));
        else
            fprintf(csv, "second,msgs,msgs_per_sec,mb_per_sec,p50_us,p99_us,p999_us,max_us,"
                         "errors,warmup\n");
    }

    pthread_barrier_init(&b->go, NULL, (unsigned)(np + nc + 1));
    for (int i = 0; i < np; i++)
        pthread_create(&b->prod[i].th, NULL, producer_main, &b->prod[i]);
    for (int i = 0; i < nc; i++)
        pthread_create(&b->cons[i].th, NULL, consumer_main, &b->cons[i]);
    b->start_ns = bench_mono_ns() + 1000000; /* 1 ms for the threads to get going */
    b->warm_end_ns = b->start_ns + (uint64_t)(o->warmup * 1e9);
    double run_s = o->warmup + (o->duration > 0 ? o->duration : o->max_seconds);
    if (run_s > o->max_seconds + o->warmup)
        run_s = o->max_seconds + o->warmup;
    b->stop_ns = b->start_ns + (uint64_t)(run_s * 1e9);
    pthread_barrier_wait(&b->go);

    /* Reporter: once a second, and the CPU meters at the end of the warmup. */
    int nm;
    struct worker *mw = measured_workers(b, &nm);
    static struct hist prev, cur; /* cumulative "all" snapshots */
    hist_init(&prev);
    double cpu0 = -1, bcpu0 = -1;
    if (o->warmup <= 0) {
        cpu0 = cpu_self_s();
        bcpu0 = o->broker_pid ? bench_proc_cpu_s(o->broker_pid) : -1;
    }
    uint64_t prev_msgs = 0, prev_bytes = 0, prev_err = 0;
    bool prod_joined = !have_prod;
    for (int sec = 1;; sec++) {
        uint64_t tick = b->start_ns + (uint64_t)sec * 1000000000ull;
        /* Sleep to the next tick in slices, to notice the end promptly. */
        bool finished = false;
        while (bench_mono_ns() < tick) {
            if (cpu0 < 0 && bench_mono_ns() >= b->warm_end_ns) {
                cpu0 = cpu_self_s();
                bcpu0 = o->broker_pid ? bench_proc_cpu_s(o->broker_pid) : -1;
            }
            if (!prod_joined && all_done(b->prod, np)) {
                for (int i = 0; i < np; i++)
                    pthread_join(b->prod[i].th, NULL);
                struct counters t = {0};
                sum_counters(b->prod, np, &t, false);
                STORE(b->produced_ok_total, t.msgs);
                __atomic_store_n(&b->producers_done, 1, __ATOMIC_RELEASE);
                prod_joined = true;
            }
            if (prod_joined && all_done(b->cons, nc)) {
                finished = true;
                break;
            }
            uint64_t now = bench_mono_ns();
            uint64_t next = tick < now + 20000000 ? tick : now + 20000000;
            if (cpu0 < 0 && b->warm_end_ns < next && b->warm_end_ns > now)
                next = b->warm_end_ns;
            if (next > now)
                bench_sleep_until_ns(next, &g_stop);
        }
        if (finished)
            break;
        struct counters t;
        memset(&t, 0, sizeof(t));
        sum_counters(mw, nm, &t, false);
        hist_init(&cur);
        for (int i = 0; i < nm; i++) {
            hist_merge(&cur, &mw[i].k.all);
            hist_merge(&cur, &mw[i].k.meas);
        }
        static struct hist delta;
        delta = cur;
        hist_subtract(&delta, &prev);
        prev = cur;
        uint64_t dm = t.msgs - prev_msgs, db = t.bytes - prev_bytes;
        uint64_t de = 0;
        struct counters pe = {0};
        sum_counters(b->prod, np, &pe, false);
        struct counters ce = {0};
        sum_counters(b->cons, nc, &ce, false);
        de = pe.errors + ce.errors - prev_err;
        prev_err = pe.errors + ce.errors;
        prev_msgs = t.msgs;
        prev_bytes = t.bytes;
        bool warm = tick <= b->warm_end_ns;
        bool lat = o->mode != M_CONSUME;
        if (!o->quiet) {
            if (lat)
                fprintf(stderr,
                        "[%4ds]%s %10" PRIu64 " msgs/s %9.1f MB/s  p99 %9.1f us (so far %9.1f us)"
                        "  errors %" PRIu64 "\n",
                        sec, warm ? " warmup" : "", dm, (double)db / 1e6,
                        hist_quantile(&delta, 0.99) / 1e3, hist_quantile(&cur, 0.99) / 1e3, de);
            else
                fprintf(stderr, "[%4ds]%s %10" PRIu64 " msgs/s %9.1f MB/s  errors %" PRIu64 "\n",
                        sec, warm ? " warmup" : "", dm, (double)db / 1e6, de);
        }
        if (csv) {
            fprintf(csv, "%d,%" PRIu64 ",%" PRIu64 ",%.3f,%.1f,%.1f,%.1f,%.1f,%" PRIu64 ",%d\n",
                    sec, t.msgs, dm, (double)db / 1e6, hist_quantile(&delta, 0.5) / 1e3,
                    hist_quantile(&delta, 0.99) / 1e3, hist_quantile(&delta, 0.999) / 1e3,
                    hist_quantile(&delta, 1) / 1e3, de, warm ? 1 : 0);
            fflush(csv);
        }
        /* A safety net on top of every thread's own bounds. */
        if (bench_mono_ns() > b->stop_ns + (uint64_t)(o->idle_timeout * 1e9) + 70000000000ull) {
            fprintf(stderr, "ringlog-bench: workers did not finish in time; stopping\n");
            g_stop = 1;
        }
    }
    for (int i = 0; i < nc; i++)
        pthread_join(b->cons[i].th, NULL);
    double cpu1 = cpu_self_s();
    double bcpu1 = o->broker_pid ? bench_proc_cpu_s(o->broker_pid) : -1;
    if (cpu0 < 0) { /* ended within the warmup */
        cpu0 = cpu1;
        bcpu0 = bcpu1;
    }

    struct counters tot;
    memset(&tot, 0, sizeof(tot));
    hist_init(&tot.all);
    hist_init(&tot.meas);
    sum_counters(mw, nm, &tot, true);
    struct counters perr = {0}, cerr = {0};
    sum_counters(b->prod, np, &perr, false);
    sum_counters(b->cons, nc, &cerr, false);
    uint64_t errors = perr.errors + cerr.errors;
    uint64_t produced = perr.msgs;
    if (o->mode == M_E2E && cerr.msgs < produced)
        errors += produced - cerr.msgs; /* acknowledged but never consumed */

    uint64_t meas_start = b->warm_end_ns;
    if (o->mode == M_CONSUME && tot.first_meas_ns > meas_start)
        meas_start = tot.first_meas_ns; /* consume: from the first message read */
    double secs = tot.last_ns > meas_start ? (double)(tot.last_ns - meas_start) / 1e9 : 0;
    struct bench_result r = {.mode = o->mode_name,
                             .messages = tot.meas_msgs,
                             .bytes = tot.meas_bytes,
                             .errors = errors,
                             .seconds = secs,
                             .latency = o->mode == M_CONSUME ? NULL : &tot.meas,
                             .msg_size = o->msg_size,
                             .producers = o->producers,
                             .consumers = o->consumers,
                             .partitions = b->npart,
                             .acks = o->acks ? o->acks : "all",
                             .rate = o->rate,
                             .warmup = o->warmup,
                             .client_cpu_s = cpu1 - cpu0,
                             .broker_cpu_s = bcpu0 >= 0 && bcpu1 >= 0 ? bcpu1 - bcpu0 : -1,
                             .produced = produced};
    if (o->json) {
        char line[2048];
        bench_format_json(line, sizeof(line), &r);
        printf("%s\n", line);
    } else {
        double mps = secs > 0 ? (double)r.messages / secs : 0;
        printf("%s: %" PRIu64 " messages of %lld B in %.3f s: %.0f msgs/s, %.1f MB/s, %" PRIu64
               " errors\n",
               o->mode_name, r.messages, (long long)o->msg_size, secs, mps,
               secs > 0 ? (double)r.bytes / 1e6 / secs : 0, errors);
        if (r.latency)
            printf("latency (%s, us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f  "
                   "max %.1f  mean %.1f\n",
                   o->mode == M_E2E ? "produce -> consume" : "produce -> ack",
                   hist_quantile(&tot.meas, 0.5) / 1e3, hist_quantile(&tot.meas, 0.9) / 1e3,
                   hist_quantile(&tot.meas, 0.99) / 1e3, hist_quantile(&tot.meas, 0.999) / 1e3,
                   hist_quantile(&tot.meas, 0.9999) / 1e3, hist_quantile(&tot.meas, 1) / 1e3,
                   hist_mean(&tot.meas) / 1e3);
        double per_m = r.messages ? 1e6 / (double)r.messages : 0;
        printf("cpu: client %.3f s (%.3f s per million messages)", r.client_cpu_s,
               r.client_cpu_s * per_m);
        if (r.broker_cpu_s >= 0)
            printf(", broker %.3f s (%.3f s per million messages)", r.broker_cpu_s,
                   r.broker_cpu_s * per_m);
        printf("\n");
    }
    fflush(stdout);
    if (csv)
        fclose(csv);
    for (int i = 0; i < np; i++)
        ringlog_producer_destroy(b->prod[i].p);
    for (int i = 0; i < nc; i++)
        ringlog_consumer_destroy(b->cons[i].c);
    pthread_barrier_destroy(&b->go);
    free(b->prod);
    free(b->cons);
    free(b->start_offsets);
    ringlog_conf_destroy(base);
    if (errors && status == 0)
        status = 1;
    return status;
}
