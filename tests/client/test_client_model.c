/*
 * Issue 20 items 2, 3, 4 and 8 end to end against a real ringlogd: where
 * callbacks run (the application's poll by default, the I/O thread on
 * request), re-entrant calls from callbacks, delivery reports with key and
 * value, QUEUE_FULL without RINGLOG_MSG_F_BLOCK, the error callback (a dead
 * broker), statistics JSON, UNKNOWN_TOPIC / UNKNOWN_PARTITION from poll,
 * owned messages kept across polls, pause / resume, watermarks and
 * partition EOF.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "broker_proc.h"
#include "client_helpers.h"
#include "json_check.h"
#include "ringlog.h"

static struct broker_proc broker;
static bool broker_up;
static char addr[64];

static void start_broker(void)
{
    cr_assert_eq(broker_start(&broker, NULL, NULL), 0, "cannot start ringlogd");
    broker_up = true;
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", broker.port);
}

static void stop_broker(void)
{
    if (broker_up)
        broker_stop(&broker);
    broker_up = false;
    broker_remove_data(&broker);
}

TestSuite(model, .init = start_broker, .fini = stop_broker, .timeout = 90);

static void create_topic(const char *name, int partitions)
{
    create_topic_at(addr, name, partitions);
}

static ringlog_producer *new_producer(ringlog_conf *c)
{
    char err[256];
    ringlog_producer *p = ringlog_producer_new(c, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    return p;
}

static ringlog_consumer *new_consumer(ringlog_conf *c)
{
    char err[256];
    ringlog_consumer *k = ringlog_consumer_new(c, err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    return k;
}

/* Produces n records "v<i>" with keys "k<i>" (partition part) and flushes them. */
static void produce_values(const char *topic, int32_t part, int from, int n)
{
    ringlog_conf *c = conf_at(addr);
    ringlog_producer *p = new_producer(c);
    for (int i = from; i < from + n; i++) {
        char k[16], v[16];
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(v, sizeof(v), "v%d", i);
        ringlog_record r = {.topic = topic,
                            .partition = part,
                            .key = k,
                            .key_len = strlen(k),
                            .value = v,
                            .value_len = strlen(v),
                            .flags = RINGLOG_MSG_F_BLOCK};
        cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
    }
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

/* A loopback port nothing listens on: connects are refused at once. */
static void refused_address(char *out, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    snprintf(out, len, "127.0.0.1:%u", ntohs(sa.sin_port));
    close(fd);
}

/* ---------------------------------------------------------------- item 2: delivery reports */

struct reports {
    pthread_mutex_t mu;
    pthread_t app;
    int count, on_app_thread, bad;
    int64_t next_offset;
    char last_key[32], last_value[32];
    bool null_key_seen, empty_value_seen;
};

static void on_report(const ringlog_delivery *d, void *opaque)
{
    struct reports *r = opaque;
    pthread_mutex_lock(&r->mu);
    r->count++;
    r->on_app_thread += pthread_equal(pthread_self(), r->app) != 0;
    intptr_t i = (intptr_t)d->opaque;
    if (d->err || strcmp(d->topic, "dr") != 0 || d->partition != 0 || d->offset != r->next_offset)
        r->bad++;
    r->next_offset = d->offset + 1;
    if (!d->key) {
        r->null_key_seen = true;
    } else {
        char want[32];
        snprintf(want, sizeof(want), "k%ld", (long)i);
        if (d->key_len != strlen(want) || memcmp(d->key, want, d->key_len) != 0)
            r->bad++;
    }
    if (d->value && d->value_len == 0)
        r->empty_value_seen = true;
    else if (!d->value || d->value_len != 100 || ((const char *)d->value)[0] != (char)('a' + i))
        r->bad++;
    pthread_mutex_unlock(&r->mu);
}

static int reports_count(struct reports *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->count;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Ten records: key k<i> and 100 bytes of 'a'+i, then one with a null key and an empty value. */
static void produce_ten_and_one(ringlog_producer *p)
{
    char val[100];
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        memset(val, 'a' + i, sizeof(val));
        ringlog_record r = {.topic = "dr",
                            .partition = 0,
                            .key = k,
                            .key_len = strlen(k),
                            .value = val,
                            .value_len = sizeof(val),
                            .opaque = (void *)(intptr_t)i};
        cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
    }
    ringlog_record r = {.topic = "dr", .partition = 0, .value = "", .opaque = (void *)(intptr_t)10};
    cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
}

Test(model, delivery_reports_wait_for_the_applications_poll)
{
    create_topic("dr", 1);
    struct reports r = {.mu = PTHREAD_MUTEX_INITIALIZER, .app = pthread_self()};
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "linger-ms", "0", NULL, 0), 0);
    ringlog_conf_set_delivery_cb(c, on_report, &r);
    ringlog_producer *p = new_producer(c);
    produce_ten_and_one(p);
    /* Acknowledged long before this, but nobody polled: nothing was reported. */
    usleep(500 * 1000);
    cr_assert_eq(reports_count(&r), 0, "a report ran without a poll");
    cr_assert_eq(ringlog_producer_outstanding(p), 11);
    int served = 0;
    for (int i = 0; i < 100 && served < 11; i++) {
        int n = ringlog_poll(p, 100);
        cr_assert_geq(n, 0, "%s", ringlog_err_name(n));
        served += n;
    }
    cr_assert_eq(served, 11);
    cr_assert_eq(r.count, 11);
    cr_assert_eq(r.on_app_thread, 11, "reports must run on the polling thread");
    cr_assert_eq(r.bad, 0);
    cr_assert(r.null_key_seen && r.empty_value_seen);
    cr_assert_eq(ringlog_producer_outstanding(p), 0);
    cr_assert_eq(ringlog_poll(p, 0), 0);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

Test(model, io_thread_callbacks_are_opt_in)
{
    create_topic("dr", 1);
    struct reports r = {.mu = PTHREAD_MUTEX_INITIALIZER, .app = pthread_self()};
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "callbacks-on-io-thread", "true", NULL, 0), 0);
    ringlog_conf_set_delivery_cb(c, on_report, &r);
    ringlog_producer *p = new_producer(c);
    produce_ten_and_one(p);
    for (int i = 0; i < 500 && reports_count(&r) < 11; i++)
        usleep(10 * 1000);
    cr_assert_eq(reports_count(&r), 11, "the I/O thread reports without a poll");
    cr_assert_eq(r.on_app_thread, 0);
    cr_assert_eq(r.bad, 0);
    cr_assert_eq(ringlog_poll(p, 50), 0, "nothing for poll to serve in this mode");
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

/* What the calls made from inside a delivery callback returned. */
struct reentry {
    ringlog_producer *p;
    int calls;
    int flush_rc, poll_rc, destroy_rc, produce_rc;
};

static void on_report_reenter(const ringlog_delivery *d, void *opaque)
{
    struct reentry *re = opaque;
    if (re->calls++ > 0 || d->err)
        return;
    re->flush_rc = ringlog_producer_flush(re->p, 1000);
    re->poll_rc = ringlog_poll(re->p, 1000);
    re->destroy_rc = ringlog_producer_destroy(re->p);
    ringlog_record r = {
        .topic = "re", .partition = 0, .value = "x", .value_len = 1, .flags = RINGLOG_MSG_F_BLOCK};
    re->produce_rc = ringlog_produce(re->p, &r);
}

static void reentry_round(bool io_thread)
{
    struct reentry re = {0};
    ringlog_conf *c = conf_at(addr);
    if (io_thread)
        cr_assert_eq(ringlog_conf_set(c, "callbacks-on-io-thread", "true", NULL, 0), 0);
    ringlog_conf_set_delivery_cb(c, on_report_reenter, &re);
    re.p = new_producer(c);
    ringlog_record r = {.topic = "re", .partition = 0, .value = "x", .value_len = 1};
    cr_assert_eq(ringlog_produce(re.p, &r), RINGLOG_OK);
    /* Returns at all (no deadlock), and the record produced in the callback is delivered too. */
    cr_assert_eq(ringlog_producer_flush(re.p, 20000), RINGLOG_OK);
    cr_assert_eq(re.calls, 2);
    cr_assert_eq(re.flush_rc, RINGLOG_ERR_IN_CALLBACK);
    cr_assert_eq(re.poll_rc, RINGLOG_ERR_IN_CALLBACK);
    cr_assert_eq(re.destroy_rc, RINGLOG_ERR_IN_CALLBACK);
    cr_assert_eq(re.produce_rc, RINGLOG_OK, "%s", ringlog_err_name(re.produce_rc));
    cr_assert_eq(ringlog_producer_destroy(re.p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

Test(model, reentrant_calls_from_a_delivery_callback_fail_cleanly)
{
    create_topic("re", 1);
    reentry_round(false);
    reentry_round(true);
}

Test(model, queue_full_unless_the_record_asks_to_block)
{
    create_topic("qf", 1);
    struct reports r = {.mu = PTHREAD_MUTEX_INITIALIZER, .app = pthread_self()};
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "buffer-bytes", "8192", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "batch-bytes", "2048", NULL, 0), 0);
    ringlog_conf_set_delivery_cb(c, on_report, &r);
    ringlog_producer *p = new_producer(c);
    char val[500] = {0};
    ringlog_record rec = {.topic = "qf", .partition = 0, .value = val, .value_len = sizeof(val)};
    int rc = RINGLOG_OK, n = 0;
    while (n < 1000 && (rc = ringlog_produce(p, &rec)) == RINGLOG_OK)
        n++;
    cr_assert_eq(rc, RINGLOG_ERR_QUEUE_FULL, "%s after %d", ringlog_err_name(rc), n);
    cr_assert_lt(n, 20);
    /* Asking to block: waits for room, serving the reports that free it on this thread. */
    rec.flags = RINGLOG_MSG_F_BLOCK;
    for (int i = 0; i < 200; i++)
        cr_assert_eq(ringlog_produce(p, &rec), RINGLOG_OK, "record %d", i);
    cr_assert_gt(reports_count(&r), 100, "the blocked produce served reports");
    cr_assert_eq(r.on_app_thread, r.count);
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    cr_assert_eq(reports_count(&r), n + 200);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

/* ---------------------------------------------------------------- item 4: errors, statistics */

struct errors {
    pthread_mutex_t mu;
    pthread_t app;
    int count, on_app_thread, last_err;
    char last_reason[400];
};

static void on_error(int err, const char *reason, void *opaque)
{
    struct errors *e = opaque;
    pthread_mutex_lock(&e->mu);
    e->count++;
    e->on_app_thread += pthread_equal(pthread_self(), e->app) != 0;
    e->last_err = err;
    snprintf(e->last_reason, sizeof(e->last_reason), "%s", reason);
    pthread_mutex_unlock(&e->mu);
}

Test(model, error_classification)
{
    cr_assert(ringlog_error_is_retriable(RINGLOG_ERR_TRANSPORT));
    cr_assert(ringlog_error_is_retriable(RINGLOG_ERR_TIMED_OUT));
    cr_assert(ringlog_error_is_retriable(RINGLOG_ERR_QUEUE_FULL));
    cr_assert(ringlog_error_is_retriable(RINGLOG_ERR_NOT_LEADER));
    cr_assert(ringlog_error_is_retriable(RINGLOG_ERR_NOT_ENOUGH_REPLICAS));
    cr_assert_not(ringlog_error_is_retriable(RINGLOG_OK));
    cr_assert_not(ringlog_error_is_retriable(RINGLOG_ERR_INVALID_ARG));
    cr_assert_not(ringlog_error_is_retriable(RINGLOG_ERR_TOPIC_EXISTS));
    cr_assert(ringlog_error_is_fatal(RINGLOG_ERR_FATAL));
    cr_assert(ringlog_error_is_fatal(RINGLOG_ERR_UNSUPPORTED_VERSION));
    cr_assert_not(ringlog_error_is_fatal(RINGLOG_ERR_TRANSPORT));
    cr_assert_not(ringlog_error_is_fatal(RINGLOG_OK));
    cr_assert_str_eq(ringlog_err_name(RINGLOG_ERR_IN_CALLBACK), "IN_CALLBACK");
    cr_assert_str_eq(ringlog_err_name(RINGLOG_ERR_PARTITION_EOF), "PARTITION_EOF");
}

/* Polls (producer or consumer) until the error callback ran `n` times or ~timeout_ms passed. */
static void poll_for_errors(ringlog_producer *p, ringlog_consumer *k, struct errors *e, int n,
                            int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        pthread_mutex_lock(&e->mu);
        bool done = e->count >= n;
        pthread_mutex_unlock(&e->mu);
        if (done)
            return;
        if (p) {
            ringlog_poll(p, 100);
        } else {
            const ringlog_message *m;
            ringlog_consumer_poll(k, 100, &m);
        }
    }
}

Test(model, a_dead_broker_reaches_the_error_callback)
{
    create_topic("dead", 1);
    struct errors pe = {.mu = PTHREAD_MUTEX_INITIALIZER, .app = pthread_self()};
    struct errors ce = pe;
    ringlog_conf *c = conf_at(addr);
    ringlog_conf_set_error_cb(c, on_error, &pe);
    ringlog_producer *p = new_producer(c);
    ringlog_conf_set_error_cb(c, on_error, &ce);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tp = {.topic = "dead", .partition = 0, .offset = 0};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    ringlog_record r = {.topic = "dead", .partition = 0, .value = "x", .value_len = 1};
    cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
    cr_assert_eq(pe.count + ce.count, 0, "no error while the broker is up: %s", pe.last_reason);

    broker_kill(&broker);
    broker_up = false;
    poll_for_errors(p, NULL, &pe, 1, 10000);
    poll_for_errors(NULL, k, &ce, 1, 10000);
    struct errors *both[] = {&pe, &ce};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(both[i]->count, 1, "one report per outage, got %d (last: %s)", both[i]->count,
                     both[i]->last_reason);
        cr_assert_eq(both[i]->on_app_thread, 1, "served by the application's poll");
        cr_assert_eq(both[i]->last_err, RINGLOG_ERR_TRANSPORT, "%s",
                     ringlog_err_name(both[i]->last_err));
        cr_assert(ringlog_error_is_retriable(both[i]->last_err));
        cr_assert_not(ringlog_error_is_fatal(both[i]->last_err));
        cr_assert(strstr(both[i]->last_reason, addr), "%s", both[i]->last_reason);
    }
    /* Reconnect attempts keep failing: still one report per handle. */
    poll_for_errors(p, NULL, &pe, 2, 1000);
    poll_for_errors(NULL, k, &ce, 2, 1000);
    cr_assert_eq(pe.count + ce.count, 2);
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

struct stats {
    pthread_mutex_t mu;
    int count, invalid;
    long long rtt_cnt; /* round trips counted over every report */
    char *last;
};

static long long json_int(const char *json, const char *after, const char *name);

static void on_stats(const char *json, size_t len, void *opaque)
{
    struct stats *s = opaque;
    pthread_mutex_lock(&s->mu);
    s->count++;
    if (strlen(json) != len || !json_is_valid(json))
        s->invalid++;
    long long n = json_int(json, "\"rtt\"", "cnt");
    s->rtt_cnt += n > 0 ? n : 0;
    free(s->last);
    s->last = strdup(json);
    pthread_mutex_unlock(&s->mu);
}

/* The integer after "\"name\":" in json (the first one at or after `after`), or -999. */
static long long json_int(const char *json, const char *after, const char *name)
{
    const char *from = after ? strstr(json, after) : json;
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *at = from ? strstr(from, pat) : NULL;
    return at ? atoll(at + strlen(pat)) : -999;
}

Test(model, statistics_arrive_as_json_at_the_interval)
{
    create_topic("st", 1);
    struct stats ps = {.mu = PTHREAD_MUTEX_INITIALIZER}, cs = ps;
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "statistics.interval.ms", "100", NULL, 0), 0);
    ringlog_conf_set_stats_cb(c, on_stats, &ps);
    ringlog_producer *p = new_producer(c);
    for (int i = 0; i < 10; i++) {
        ringlog_record r = {.topic = "st", .partition = 0, .value = "v", .value_len = 1};
        cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
    }
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    for (int i = 0; i < 10; i++)
        ringlog_poll(p, 100);
    cr_assert_geq(ps.count, 3, "%d statistics in ~1 s at 100 ms", ps.count);
    cr_assert_eq(ps.invalid, 0, "%s", ps.last);
    cr_assert(strstr(ps.last, "\"type\":\"producer\""), "%s", ps.last);
    cr_assert(strstr(ps.last, "\"topic\":\"st\""), "%s", ps.last);
    cr_assert_eq(json_int(ps.last, NULL, "msg_cnt"), 0, "%s", ps.last);
    cr_assert_eq(json_int(ps.last, "\"partitions\"", "msgq_cnt"), 0, "%s", ps.last);
    cr_assert_eq(json_int(ps.last, "\"brokers\"", "nodeid"), 1, "%s", ps.last);
    cr_assert(strstr(ps.last, "\"state\":\"UP\""), "%s", ps.last);
    cr_assert_gt(ps.rtt_cnt, 0, "round trips were measured");
    cr_assert_gt(json_int(ps.last, "\"rtt\"", "max"), -1, "%s", ps.last);

    /* A consumer 4 records into 10, paused: its lag is 6. */
    ringlog_conf_set_stats_cb(c, on_stats, &cs);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tp = {.topic = "st", .partition = 0, .offset = 0};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    const ringlog_message *m;
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
    cr_assert_eq(ringlog_consumer_pause(k, &tp, 1), RINGLOG_OK);
    int before = cs.count;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ringlog_consumer_poll(k, 100, &m), RINGLOG_ERR_TIMED_OUT);
    cr_assert_gt(cs.count, before, "consumer poll serves statistics");
    cr_assert_eq(cs.invalid, 0, "%s", cs.last);
    cr_assert(strstr(cs.last, "\"fetch_state\":\"paused\""), "%s", cs.last);
    cr_assert_eq(json_int(cs.last, NULL, "position"), 4, "%s", cs.last);
    cr_assert_eq(json_int(cs.last, NULL, "hi_offset"), 10, "%s", cs.last);
    cr_assert_eq(json_int(cs.last, NULL, "consumer_lag"), 6, "%s", cs.last);
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    free(ps.last);
    free(cs.last);
    ringlog_conf_destroy(c);
}

/* What consumer calls made from inside its error callback returned. */
struct consumer_reentry {
    ringlog_consumer *k;
    int calls, poll_rc, close_rc, destroy_rc, committed_rc;
};

static void on_error_reenter(int err, const char *reason, void *opaque)
{
    (void)err;
    (void)reason;
    struct consumer_reentry *re = opaque;
    if (re->calls++ > 0)
        return;
    const ringlog_message *m;
    re->poll_rc = ringlog_consumer_poll(re->k, 100, &m);
    re->close_rc = ringlog_consumer_close(re->k);
    re->destroy_rc = ringlog_consumer_destroy(re->k);
    int64_t off;
    re->committed_rc = ringlog_consumer_committed(re->k, "t", 0, &off, 100);
}

static void consumer_reentry_round(bool io_thread)
{
    char refused[64];
    refused_address(refused, sizeof(refused));
    struct consumer_reentry re = {0};
    ringlog_conf *c = conf_at(refused);
    cr_assert_eq(ringlog_conf_set(c, "group", "g", NULL, 0), 0);
    cr_assert_eq(ringlog_conf_set(c, "enable-auto-commit", "false", NULL, 0), 0);
    if (io_thread)
        cr_assert_eq(ringlog_conf_set(c, "callbacks-on-io-thread", "true", NULL, 0), 0);
    ringlog_conf_set_error_cb(c, on_error_reenter, &re);
    re.k = new_consumer(c);
    ringlog_topic_partition tp = {.topic = "t", .partition = 0, .offset = 0};
    cr_assert_eq(ringlog_consumer_assign(re.k, &tp, 1), 0);
    const ringlog_message *m;
    for (int i = 0; i < 100 && re.calls == 0; i++)
        cr_assert_eq(ringlog_consumer_poll(re.k, 50, &m), RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(re.calls, 1, "the refused connect is reported");
    cr_assert_eq(re.poll_rc, RINGLOG_ERR_IN_CALLBACK);
    cr_assert_eq(re.close_rc, RINGLOG_ERR_IN_CALLBACK);
    cr_assert_eq(re.destroy_rc, RINGLOG_ERR_IN_CALLBACK);
    if (io_thread) /* its answer would have to come through the thread it blocks */
        cr_assert_eq(re.committed_rc, RINGLOG_ERR_IN_CALLBACK);
    else /* the I/O thread answers: no refusal, only the broker's absence */
        cr_assert_eq(re.committed_rc, RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(ringlog_consumer_close(re.k), RINGLOG_OK);
    cr_assert_eq(ringlog_consumer_poll(re.k, 0, &m), RINGLOG_ERR_STATE, "closed");
    cr_assert_eq(ringlog_consumer_destroy(re.k), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

Test(model, reentrant_calls_from_a_consumer_callback_fail_cleanly)
{
    consumer_reentry_round(false);
    consumer_reentry_round(true);
}

Test(model, poll_reports_unknown_topic_and_partition)
{
    create_topic("known", 1);
    produce_values("known", 0, 0, 1);
    ringlog_conf *c = conf_at(addr);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tps[] = {{.topic = "nosuch", .partition = 0, .offset = 0},
                                     {.topic = "known", .partition = 7, .offset = 0},
                                     {.topic = "known", .partition = 0, .offset = 0}};
    cr_assert_eq(ringlog_consumer_assign(k, tps, 3), 0);
    int unknown_topic = 0, unknown_part = 0, msgs = 0;
    for (int i = 0; i < 30; i++) {
        const ringlog_message *m = NULL;
        int rc = ringlog_consumer_poll(k, 100, &m);
        if (rc == RINGLOG_ERR_TIMED_OUT) {
            cr_assert_null(m);
            continue;
        }
        cr_assert_not_null(m, "%s", ringlog_err_name(rc));
        if (rc == RINGLOG_ERR_UNKNOWN_TOPIC) {
            unknown_topic++;
            cr_assert_str_eq(m->topic, "nosuch");
            cr_assert(strstr(ringlog_consumer_errstr(k), "nosuch/0"), "%s",
                      ringlog_consumer_errstr(k));
        } else if (rc == RINGLOG_ERR_UNKNOWN_PARTITION) {
            unknown_part++;
            cr_assert_str_eq(m->topic, "known");
            cr_assert_eq(m->partition, 7);
        } else {
            cr_assert_eq(rc, RINGLOG_OK, "%s", ringlog_err_name(rc));
            cr_assert_eq(m->partition, 0);
            msgs++;
        }
    }
    cr_assert_eq(unknown_topic, 1, "reported once, not timing out forever");
    cr_assert_eq(unknown_part, 1);
    cr_assert_eq(msgs, 1, "the other partitions go on");
    /* The topic appears: its partition starts. */
    create_topic("nosuch", 1);
    produce_values("nosuch", 0, 0, 1);
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
    cr_assert_str_eq(m->topic, "nosuch");
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

/* ---------------------------------------------------------------- item 3: owned messages */

Test(model, owned_messages_outlive_polls_and_the_consumer)
{
    enum { N = 60 };
    create_topic("own", 1);
    produce_values("own", 0, 0, N);
    ringlog_conf *c = conf_at(addr);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tp = {.topic = "own", .partition = 0, .offset = 0};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    ringlog_message *kept[N] = {0};
    int got = 0;
    /* One at a time, a copy of a borrowed one, then in batches. */
    for (; got < 10; got++)
        cr_assert_eq(ringlog_consumer_poll_owned(k, 10000, &kept[got]), RINGLOG_OK);
    const ringlog_message *b;
    cr_assert_eq(ringlog_consumer_poll(k, 10000, &b), RINGLOG_OK);
    kept[got++] = ringlog_message_dup(b);
    while (got < N) {
        size_t n = 0;
        int rc = ringlog_consumer_poll_batch(k, 10000, kept + got, 7, &n);
        cr_assert_eq(rc, RINGLOG_OK, "%s", ringlog_err_name(rc));
        cr_assert(n >= 1 && n <= 7);
        got += (int)n;
    }
    cr_assert_eq(got, N);
    size_t n = 5;
    ringlog_message *none[1];
    cr_assert_eq(ringlog_consumer_poll_batch(k, 100, none, 1, &n), RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(n, 0);
    /* Everything the consumer had is gone; the owned messages are not (ASan checks). */
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        cr_assert_eq(kept[i]->offset, i);
        cr_assert_str_eq(kept[i]->topic, "own");
        cr_assert_eq(kept[i]->value_len, strlen(want));
        cr_assert_eq(memcmp(kept[i]->value, want, kept[i]->value_len), 0);
        snprintf(want, sizeof(want), "k%d", i);
        cr_assert_eq(memcmp(kept[i]->key, want, kept[i]->key_len), 0);
        ringlog_message_destroy(kept[i]);
    }
    ringlog_conf_destroy(c);
}

/*
 * Misuse: a borrowed message kept past the next poll. Under ASan its bytes
 * are poisoned by then, so the first read of them faults (here: checked
 * with ASan's own query rather than by crashing the test).
 */
Test(model, a_borrowed_message_kept_past_the_next_poll_is_poisoned)
{
#if defined(__SANITIZE_ADDRESS__)
    create_topic("lent", 1);
    ringlog_conf *c = conf_at(addr);
    ringlog_producer *p = new_producer(c);
    char big[64];
    for (int i = 0; i < 3; i++) { /* one batch: both messages lie in the same fetched chunk */
        memset(big, 'a' + i, sizeof(big));
        ringlog_header h = {.key = "hk", .key_len = 2, .value = big, .value_len = sizeof(big)};
        ringlog_record r = {.topic = "lent",
                            .partition = 0,
                            .key = big,
                            .key_len = 32,
                            .value = big,
                            .value_len = sizeof(big),
                            .headers = &h,
                            .header_count = 1};
        cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
    }
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tp = {.topic = "lent", .partition = 0, .offset = 0};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    const ringlog_message *m;
    cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
    const char *kept_value = m->value, *kept_key = m->key, *kept_hdr = m->headers[0].value;
    cr_assert_not(__asan_address_is_poisoned(kept_value), "usable while lent");
    ringlog_message *own = ringlog_message_dup(m);
    cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
    cr_assert_eq(m->offset, 1);
    cr_assert(__asan_address_is_poisoned(kept_value), "the kept value must fault");
    cr_assert(__asan_address_is_poisoned(kept_key));
    cr_assert(__asan_address_is_poisoned(kept_hdr));
    cr_assert_not(__asan_address_is_poisoned(m->value), "the new one is usable");
    cr_assert_eq(((const char *)own->value)[0], 'a', "a copy stays the application's");
    ringlog_message_destroy(own);
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
#else
    cr_skip_test("poisoning needs AddressSanitizer (make test)");
#endif
}

/* ---------------------------------------------------------------- item 8: consumer control */

Test(model, pause_stops_a_partition_and_resume_goes_on_from_its_position)
{
    create_topic("pr", 2);
    produce_values("pr", 0, 0, 20);
    produce_values("pr", 1, 100, 20);
    ringlog_conf *c = conf_at(addr);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tps[] = {{.topic = "pr", .partition = 0, .offset = 0},
                                     {.topic = "pr", .partition = 1, .offset = 0}};
    cr_assert_eq(ringlog_consumer_assign(k, tps, 2), 0);
    int64_t next[2] = {0, 0};
    const ringlog_message *m;
    while (next[0] < 5) { /* some of partition 0, and whatever comes of 1 */
        cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
        cr_assert_eq(m->offset, next[m->partition]++);
    }
    ringlog_topic_partition other = {.topic = "pr", .partition = 9};
    cr_assert_eq(ringlog_consumer_pause(k, &other, 1), RINGLOG_ERR_STATE);
    cr_assert_eq(ringlog_consumer_pause(k, &tps[0], 1), RINGLOG_OK);
    cr_assert_eq(ringlog_consumer_pause(k, &tps[0], 1), RINGLOG_OK, "pausing twice is fine");
    int rc;
    while ((rc = ringlog_consumer_poll(k, 500, &m)) == RINGLOG_OK) {
        cr_assert_eq(m->partition, 1, "nothing of a paused partition");
        cr_assert_eq(m->offset, next[1]++);
    }
    cr_assert_eq(rc, RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(next[1], 20);
    int64_t low = -5, high = -5;
    cr_assert_eq(ringlog_consumer_get_watermark_offsets(k, "pr", 1, &low, &high), RINGLOG_OK);
    cr_assert_eq(low, 0);
    cr_assert_eq(high, 20);
    cr_assert_eq(ringlog_consumer_get_watermark_offsets(k, "pr", 9, &low, &high),
                 RINGLOG_ERR_STATE);
    cr_assert_eq(ringlog_consumer_resume(k, &tps[0], 1), RINGLOG_OK);
    while (next[0] < 20) {
        cr_assert_eq(ringlog_consumer_poll(k, 10000, &m), RINGLOG_OK);
        cr_assert_eq(m->partition, 0);
        cr_assert_eq(m->offset, next[0]++, "resumed at the position, nothing lost or repeated");
    }
    cr_assert_eq(ringlog_consumer_poll(k, 300, &m), RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    ringlog_conf_destroy(c);
}

Test(model, partition_eof_once_per_end_when_enabled)
{
    create_topic("eof", 1);
    produce_values("eof", 0, 0, 5);
    ringlog_conf *c = conf_at(addr);
    cr_assert_eq(ringlog_conf_set(c, "enable.partition.eof", "true", NULL, 0), 0);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition tp = {.topic = "eof", .partition = 0, .offset = 0};
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    const ringlog_message *m;
    for (int round = 0, end = 5; round < 2; round++, end += 2) {
        int msgs = 0, eofs = 0;
        for (int i = 0; i < 100 && !(eofs && i > 10); i++) {
            int rc = ringlog_consumer_poll(k, 100, &m);
            if (rc == RINGLOG_OK) {
                msgs++;
                cr_assert_eq(eofs, 0, "EOF comes after the data");
            } else if (rc == RINGLOG_ERR_PARTITION_EOF) {
                eofs++;
                cr_assert_eq(m->offset, end);
                cr_assert_str_eq(m->topic, "eof");
            } else {
                cr_assert_eq(rc, RINGLOG_ERR_TIMED_OUT, "%s", ringlog_err_name(rc));
            }
        }
        cr_assert_eq(msgs, round == 0 ? 5 : 2);
        cr_assert_eq(eofs, 1, "once per end");
        produce_values("eof", 0, end, 2);
    }
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);

    /* Off by default. */
    ringlog_conf *d = conf_at(addr);
    k = new_consumer(d);
    cr_assert_eq(ringlog_consumer_assign(k, &tp, 1), 0);
    int rc;
    while ((rc = ringlog_consumer_poll(k, 500, &m)) == RINGLOG_OK) {
    }
    cr_assert_eq(rc, RINGLOG_ERR_TIMED_OUT);
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    ringlog_conf_destroy(d);
    ringlog_conf_destroy(c);
}

/* Produces one record with the given timestamp (ms) to topic/part. */
static void produce_at(ringlog_producer *p, const char *topic, int32_t part, int64_t ts)
{
    ringlog_record r = {
        .topic = topic, .partition = part, .value = "t", .value_len = 1, .timestamp = ts};
    cr_assert_eq(ringlog_produce(p, &r), RINGLOG_OK);
}

Test(model, offsets_for_times_of_several_partitions_at_once)
{
    create_topic("times", 2);
    ringlog_conf *c = conf_at(addr);
    ringlog_producer *p = new_producer(c);
    int64_t base = 1700000000000;
    for (int i = 0; i < 3; i++) /* partition 0: base+1000, +2000, +3000 */
        produce_at(p, "times", 0, base + 1000 * (i + 1));
    for (int i = 0; i < 2; i++) /* partition 1: base+1500, +2500 */
        produce_at(p, "times", 1, base + 1500 + 1000 * i);
    cr_assert_eq(ringlog_producer_flush(p, 20000), RINGLOG_OK);
    ringlog_consumer *k = new_consumer(c);
    ringlog_topic_partition q[] = {
        {.topic = "times", .partition = 0, .offset = base + 2000},
        {.topic = "times", .partition = 1, .offset = base + 2000},
        {.topic = "times", .partition = 0, .offset = base + 9000},
        {.topic = "times", .partition = 1, .offset = base},
        {.topic = "times", .partition = 0, .offset = RINGLOG_OFFSET_END}};
    int rc = ringlog_consumer_offsets_for_times(k, q, 5, 10000);
    cr_assert_eq(rc, RINGLOG_OK, "%s %s", ringlog_err_name(rc), ringlog_consumer_errstr(k));
    cr_assert_eq(q[0].offset, 1, "the first at or after the time");
    cr_assert_eq(q[1].offset, 1);
    cr_assert_eq(q[2].offset, -1, "nothing that recent");
    cr_assert_eq(q[3].offset, 0);
    cr_assert_eq(q[4].offset, 3, "RINGLOG_OFFSET_END: the log end");
    /* A partition the cluster does not have fails alone; the others are answered. */
    ringlog_topic_partition bad[] = {{.topic = "times", .partition = 1, .offset = base + 2000},
                                     {.topic = "times", .partition = 5, .offset = base}};
    rc = ringlog_consumer_offsets_for_times(k, bad, 2, 10000);
    cr_assert_eq(rc, RINGLOG_ERR_UNKNOWN_PARTITION, "%s", ringlog_err_name(rc));
    cr_assert(strstr(ringlog_consumer_errstr(k), "times/5"), "%s", ringlog_consumer_errstr(k));
    cr_assert_eq(bad[0].offset, 1);
    cr_assert_eq(bad[1].offset, -1);
    ringlog_topic_partition neg = {.topic = "times", .partition = 0, .offset = -7};
    cr_assert_eq(ringlog_consumer_offsets_for_times(k, &neg, 1, 1000), RINGLOG_ERR_INVALID_ARG);
    cr_assert_eq(ringlog_consumer_destroy(k), RINGLOG_OK);
    cr_assert_eq(ringlog_producer_destroy(p), RINGLOG_OK);
    ringlog_conf_destroy(c);
}
