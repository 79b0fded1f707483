/*
 * ringlog produce TOPIC: one message per record of stdin. Checks the topic
 * first (retrying, and saying so, while no broker answers), then produces
 * every record and waits until each is acknowledged. Ctrl-C or SIGTERM
 * stops at once and reports what was not delivered (exit 130 / 143).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "records.h"

/* How long produce waits for a broker (before the first message) or for room: max-block-ms. */
#define PRODUCE_BLOCK_MS 60000
/* The slice of a blocking library call, so that a signal is seen at once. */
#define SLICE_MS 100

struct produce_state {
    long read, acked, failed; /* records read from stdin; delivery reports */
    int first_err;
    char first_errstr[256];
};

/* Delivery reports, from the producer's I/O thread; the main thread reads after flush/destroy. */
static void on_delivery(const ringlog_delivery *d, void *opaque)
{
    struct produce_state *s = opaque;
    if (d->err == RINGLOG_OK) {
        __atomic_add_fetch(&s->acked, 1, __ATOMIC_RELAXED);
        return;
    }
    if (__atomic_fetch_add(&s->failed, 1, __ATOMIC_RELAXED) == 0) {
        s->first_err = d->err;
        snprintf(s->first_errstr, sizeof(s->first_errstr), "%s", d->errstr);
    }
}

/*
 * The topic's partition count, asking until a broker answers: a broker
 * that is not up yet (or still replaying the cluster's metadata) is retried (said once at once,
 * then every 10 s) for up to PRODUCE_BLOCK_MS; any other answer (UNKNOWN_TOPIC, a peer that does
 * not speak the protocol) fails at once. Returns 0 or an exit status.
 */
static int topic_partitions(ringlog_conf *conf, const char *topic, size_t *count)
{
    char err[512];
    ringlog_admin *adm = ringlog_admin_new(conf, err, sizeof(err));
    if (!adm)
        return cli_fail("%s", err);
    int e, waited = 0, backoff = 100, said_at = -10000;
    ringlog_topic_info *ti = NULL;
    while ((e = ringlog_admin_describe_topic(adm, topic, &ti, err, sizeof(err))) ==
               RINGLOG_ERR_TRANSPORT ||
           e == RINGLOG_ERR_TIMED_OUT || e == RINGLOG_ERR_LEADER_NOT_AVAILABLE) {
        if (waited >= PRODUCE_BLOCK_MS)
            break;
        if (waited - said_at >= 10000) {
            cli_fail("%s, retrying", err);
            said_at = waited;
        }
        cli_sleep_ms(backoff); /* a signal ends the process here (die-at-once mode) */
        waited += backoff;
        backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
    }
    ringlog_admin_destroy(adm);
    if (e)
        return cli_fail("produce to %s: %s: %s", topic, ringlog_err_name(e), err);
    *count = ti->partition_count;
    ringlog_free(ti);
    return 0;
}

/* --header K=V values as record headers (pointing into the arguments). Returns 0 or 2. */
static int parse_headers(const struct cli_args *a, ringlog_header *h, size_t *n)
{
    assert(a->nrepeated <= CLI_MAX_REPEAT);
    *n = 0;
    for (int i = 0; i < a->nrepeated; i++) {
        const char *kv = a->repeated[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            return cli_usage(a->cmd, "--header: expected KEY=VALUE, got \"%s\"", kv);
        h[(*n)++] = (ringlog_header){
            .key = kv, .key_len = (size_t)(eq - kv), .value = eq + 1, .value_len = strlen(eq + 1)};
    }
    return 0;
}

/* Queues one record, waiting in short slices (a signal stops the wait) for up to
 * PRODUCE_BLOCK_MS when the producer is out of room or metadata; a wait for
 * room serves the delivery reports (RINGLOG_MSG_F_BLOCK), as does the
 * ringlog_poll after each record. */
static int produce_one(ringlog_producer *p, const ringlog_record *rec)
{
    int e;
    assert(rec->flags & RINGLOG_MSG_F_BLOCK);
    ringlog_poll(p, 0);
    for (int waited = 0; (e = ringlog_produce(p, rec)) == RINGLOG_ERR_TIMED_OUT; waited += SLICE_MS)
        if (cli_signal || waited >= PRODUCE_BLOCK_MS)
            break;
    return e;
}

/* Splits a record at the first key separator: key before, value after; none: a null key. */
static void split_key(ringlog_record *rec, const char *data, size_t len, const char *sep,
                      size_t seplen)
{
    rec->value = data;
    rec->value_len = len;
    rec->key = NULL;
    rec->key_len = 0;
    const char *at = seplen ? memmem(data, len, sep, seplen) : NULL;
    if (at) {
        rec->key = data;
        rec->key_len = (size_t)(at - data);
        rec->value = at + seplen;
        rec->value_len = len - rec->key_len - seplen;
    }
}

struct produce_opts {
    const char *topic;
    int32_t partition;
    char delim[64], keysep[64];
    size_t dlen, keylen;
    ringlog_header headers[CLI_MAX_REPEAT];
    size_t nheaders;
};

/* Reads stdin to its end (or a signal, or an error) and queues every record. Returns 0 or 1. */
static int produce_stdin(ringlog_producer *p, const struct produce_opts *po,
                         struct produce_state *st)
{
    assert(p && po->dlen > 0 && st->read == 0);
    struct record_reader rr;
    record_reader_init(&rr, STDIN_FILENO, po->delim, po->dlen);
    ringlog_record rec = {.topic = po->topic,
                          .partition = po->partition,
                          .headers = po->nheaders ? po->headers : NULL,
                          .header_count = po->nheaders,
                          .flags = RINGLOG_MSG_F_BLOCK};
    const char *data;
    size_t len;
    enum record_status rs = RECORD_END;
    int rc = 0;
    while (!cli_signal && (rs = record_next(&rr, &data, &len)) == RECORD_OK) {
        split_key(&rec, data, len, po->keysep, po->keylen);
        st->read++;
        int e = produce_one(p, &rec);
        if (e && !cli_signal) {
            rc = cli_fail("produce to %s: %s: %s", po->topic, ringlog_err_name(e),
                          ringlog_err_str(e));
            break;
        }
        if (e)
            st->read--; /* interrupted before it was queued: never sent */
    }
    if (rc == 0 && !cli_signal && rs == RECORD_ERROR)
        rc = cli_fail("reading stdin: %s", strerror(errno));
    record_reader_free(&rr);
    return rc;
}

/* Flushes in slices until everything is reported or a signal arrives. */
static int flush_all(ringlog_producer *p)
{
    int e;
    while ((e = ringlog_producer_flush(p, SLICE_MS)) == RINGLOG_ERR_TIMED_OUT && !cli_signal)
        ;
    return cli_signal ? 0 : e;
}

/* Flags into po and the producer's settings into conf. Returns 0 or 2. */
static int produce_options(const struct cli_args *a, ringlog_conf *conf, struct produce_opts *po)
{
    int64_t partition = RINGLOG_PARTITION_ANY;
    int rc = cli_int(a, "partition", 0, INT32_MAX, &partition);
    if (rc)
        return rc;
    po->topic = a->operands[0];
    po->partition = (int32_t)partition;
    const char *delim = cli_arg(a, "delimiter"), *sep = cli_arg(a, "key-separator");
    po->dlen = cli_unescape(delim ? delim : "\\n", po->delim, sizeof(po->delim));
    if (!po->dlen)
        return cli_usage(a->cmd, "--delimiter: expected bytes or \\n \\t \\r \\0 \\\\");
    po->keylen = sep ? cli_unescape(sep, po->keysep, sizeof(po->keysep)) : 0;
    if (sep && !po->keylen)
        return cli_usage(a->cmd, "--key-separator: expected bytes or \\n \\t \\r \\0 \\\\");
    if ((rc = parse_headers(a, po->headers, &po->nheaders)))
        return rc;
    char err[256], slice[16];
    snprintf(slice, sizeof(slice), "%d", SLICE_MS);
    const char *acks = cli_arg(a, "acks"), *comp = cli_arg(a, "compression");
    if ((acks && ringlog_conf_set(conf, "acks", acks, err, sizeof(err))) ||
        (comp && ringlog_conf_set(conf, "compression", comp, err, sizeof(err))))
        return cli_usage(a->cmd, "%s", err);
    rc = ringlog_conf_set(conf, "max-block-ms", slice, err, sizeof(err));
    assert(rc == 0);
    return 0;
}

static int produce(const struct cli_args *a, ringlog_conf *conf)
{
    assert(a->noperands == 1 && conf);
    struct produce_opts po;
    int rc = produce_options(a, conf, &po);
    size_t nparts = 0;
    if (rc || (rc = topic_partitions(conf, po.topic, &nparts)))
        return rc;
    assert(po.dlen > 0 && po.topic);
    if (po.partition >= 0 && (size_t)po.partition >= nparts)
        return cli_fail("produce to %s: UNKNOWN_PARTITION: partition %d; the topic has %zu",
                        po.topic, po.partition, nparts);
    struct produce_state st = {0};
    ringlog_conf_set_delivery_cb(conf, on_delivery, &st);
    char err[256];
    cli_signals_block(true); /* the I/O thread never takes our signals */
    ringlog_producer *p = ringlog_producer_new(conf, err, sizeof(err));
    cli_signals_block(false);
    if (!p)
        return cli_fail("%s", err);
    cli_signals_die_at_once(false); /* from here on, report what was not delivered */
    rc = produce_stdin(p, &po, &st);
    int e = flush_all(p);
    long unreported = (long)ringlog_producer_outstanding(p);
    ringlog_producer_destroy(p);
    if (cli_signal) {
        cli_fail("interrupted: %ld message(s) read, %ld acknowledged, %ld not delivered", st.read,
                 st.acked, st.read - st.acked);
        return cli_interrupted_status();
    }
    if (rc == 0 && e)
        rc =
            cli_fail("flush: %s: %ld message(s) not acknowledged", ringlog_err_name(e), unreported);
    if (rc == 0 && st.failed)
        rc = cli_fail("%ld message(s) not delivered to %s: %s: %s", st.failed, po.topic,
                      ringlog_err_name(st.first_err), st.first_errstr);
    return rc;
}

static const struct cli_flag FLAGS[] = {
    {"partition", "P", "send every message to partition P (default: by key; sticky without)",
     false},
    {"key-separator", "SEP", "a record is KEY SEP VALUE (first SEP); none: null key", false},
    {"delimiter", "D", "records end with D (default \\n; \\0 for values with newlines)", false},
    {"header", "KEY=VALUE", "add a header to every message", true},
    {"acks", "0|1|all", "acknowledgement wanted (default all)", false},
    {"compression", "none|lz4|zstd", "batch compression (default none)", false},
};

static const struct cli_cmd SPEC = {
    "produce",
    "TOPIC",
    1,
    1,
    "Sends one message per record of stdin and exits 0 once every one is acknowledged.",
    FLAGS,
    sizeof(FLAGS) / sizeof(FLAGS[0]),
    "D, SEP: bytes, or the escapes \\n \\t \\r \\0 \\\\. A last record without D is sent too.\n"
    "While no broker answers, produce retries for up to 60 s and says why on stderr.\n"
    "Ctrl-C or SIGTERM stops at once (exit 130 or 143) and says how many messages were read,\n"
    "acknowledged and not delivered.\n"};

const struct cli_command CLI_PRODUCE = {&SPEC, produce};
