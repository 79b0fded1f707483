/*
 * Issue 20 item 1: Kafka's configuration names and values work as aliases
 * of ours where the meaning is the same; the Kafka keys and values we do
 * not support are refused with the reason; docs/CLIENT.md's table agrees
 * with the library.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlog.h"

struct alias {
    const char *kafka, *value; /* set under Kafka's name */
    const char *ours, *want;   /* read back under ours */
};

static const struct alias ALIASES[] = {
    {"bootstrap.servers", "127.0.0.1:9092,127.0.0.2:9093", "bootstrap",
     "127.0.0.1:9092,127.0.0.2:9093"},
    {"metadata.broker.list", "127.0.0.3:1", "bootstrap", "127.0.0.3:1"},
    {"client.id", "billing", "client-id", "billing"},
    {"linger.ms", "17", "linger-ms", "17"},
    {"queue.buffering.max.ms", "18", "linger-ms", "18"},
    {"batch.size", "1000000", "batch-bytes", "1000000"},
    {"acks", "all", "acks", "all"},
    {"acks", "-1", "acks", "all"},
    {"acks", "0", "acks", "0"},
    {"request.required.acks", "1", "acks", "1"},
    {"request.required.acks", "-1", "acks", "all"},
    {"enable.idempotence", "false", "enable-idempotence", "false"},
    {"compression.type", "zstd", "compression", "zstd"},
    {"compression.codec", "lz4", "compression", "lz4"},
    {"delivery.timeout.ms", "30000", "delivery-timeout-ms", "30000"},
    {"message.timeout.ms", "31000", "delivery-timeout-ms", "31000"},
    {"request.timeout.ms", "7000", "request-timeout-ms", "7000"},
    {"retry.backoff.ms", "250", "retry-backoff-ms", "250"},
    {"retry.backoff.max.ms", "2500", "retry-backoff-max-ms", "2500"},
    {"group.id", "readers", "group", "readers"},
    {"auto.offset.reset", "smallest", "auto-offset-reset", "earliest"},
    {"auto.offset.reset", "earliest", "auto-offset-reset", "earliest"},
    {"auto.offset.reset", "largest", "auto-offset-reset", "latest"},
    {"auto.offset.reset", "latest", "auto-offset-reset", "latest"},
    {"auto.offset.reset", "beginning", "auto-offset-reset", "earliest"},
    {"auto.offset.reset", "error", "auto-offset-reset", "error"},
    {"enable.auto.commit", "false", "enable-auto-commit", "false"},
    {"auto.commit.interval.ms", "1234", "auto-commit-interval-ms", "1234"},
    {"max.in.flight.requests.per.connection", "3", "max-in-flight", "3"},
    {"queue.buffering.max.kbytes", "2048", "buffer-bytes", "2097152"},
    {"buffer.memory", "4096000", "buffer-bytes", "4096000"},
    {"queued.max.messages.kbytes", "8", "queued-max-bytes", "8192"},
    {"fetch.wait.max.ms", "77", "fetch-max-wait-ms", "77"},
    {"fetch.max.wait.ms", "78", "fetch-max-wait-ms", "78"},
    {"max.partition.fetch.bytes", "65536", "partition-fetch-bytes", "65536"},
    {"reconnect.backoff.max.ms", "900", "reconnect-backoff-max-ms", "900"},
    {"socket.connection.setup.timeout.ms", "900", "connect-timeout-ms", "900"},
    {"max.request.size", "2000000", "max-request-bytes", "2000000"},
    {"message.max.bytes", "2100000", "max-request-bytes", "2100000"},
    {"topic.metadata.refresh.interval.ms", "60000", "metadata-max-age-ms", "60000"},
    {"partitioner", "murmur2_random", "partitioner", "murmur2"},
};

Test(conf_kafka, kafka_names_and_values_are_aliases)
{
    char err[512], buf[128], back[128];
    for (size_t i = 0; i < sizeof(ALIASES) / sizeof(ALIASES[0]); i++) {
        const struct alias *a = &ALIASES[i];
        ringlog_conf *c = ringlog_conf_new();
        cr_assert_eq(ringlog_conf_set(c, a->kafka, a->value, err, sizeof(err)), RINGLOG_OK,
                     "%s=%s: %s", a->kafka, a->value, err);
        cr_assert_eq(ringlog_conf_get(c, a->ours, buf, sizeof(buf)), RINGLOG_OK);
        cr_assert_str_eq(buf, a->want, "%s=%s reads back as %s=%s", a->kafka, a->value, a->ours,
                         buf);
        /* get answers to the Kafka name too, in Kafka's unit. */
        cr_assert_eq(ringlog_conf_get(c, a->kafka, back, sizeof(back)), RINGLOG_OK);
        if (strcmp(a->ours, "buffer-bytes") && strcmp(a->ours, "queued-max-bytes"))
            cr_assert_str_eq(back, buf, "%s", a->kafka);
        else if (strstr(a->kafka, "kbytes"))
            cr_assert_str_eq(back, a->value, "%s in kbytes", a->kafka);
        ringlog_conf_destroy(c);
    }
}

Test(conf_kafka, errors_name_the_key_the_user_wrote)
{
    char err[512];
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_set(c, "linger.ms", "-5", err, sizeof(err)), RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "linger.ms: expected an integer"), "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "acks", "2", err, sizeof(err)), RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "all or -1"), "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "auto.offset.reset", "newest", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "auto.offset.reset") && strstr(err, "smallest"), "%s", err);
    /* kbytes: the range is said in kbytes, and an overflow is refused, not wrapped. */
    cr_assert_eq(ringlog_conf_set(c, "queue.buffering.max.kbytes", "0", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "queue.buffering.max.kbytes: expected an integer in [1, "), "%s", err);
    cr_assert_eq(
        ringlog_conf_set(c, "queue.buffering.max.kbytes", "9223372036854775807", err, sizeof(err)),
        RINGLOG_ERR_INVALID_ARG);
    ringlog_conf_destroy(c);
}

Test(conf_kafka, unsupported_values_say_what_exists)
{
    char err[512];
    ringlog_conf *c = ringlog_conf_new();
    const char *codecs[] = {"gzip", "snappy", "GZIP"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ringlog_conf_set(c, "compression.type", codecs[i], err, sizeof(err)),
                     RINGLOG_ERR_INVALID_ARG);
        cr_assert(strstr(err, "compression.type=") && strstr(err, codecs[i]) &&
                      strstr(err, "not supported") && strstr(err, "lz4") && strstr(err, "zstd"),
                  "%s", err);
    }
    cr_assert_eq(ringlog_conf_set(c, "compression", "brotli", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "none, lz4 or zstd"), "%s", err);
    ringlog_conf_destroy(c);
}

Test(conf_kafka, unsupported_keys_say_why)
{
    static const struct {
        const char *key, *value, *reason;
    } refused[] = {
        {"transactional.id", "tx-1", "transactions are not implemented"},
        {"heartbeat.interval.ms", "3000", "the group coordinator on the broker decides"},
        {"partition.assignment.strategy", "range", "group.remote.assignor"},
        {"isolation.level", "read_committed", "no transactions"},
        {"retries", "5", "until delivery-timeout-ms"},
        {"queue.buffering.max.messages", "100000", "bounds bytes, not messages"},
        {"partitioner.class", "x.Y", "ringlog_conf_set_partitioner_cb"},
        {"enable.auto.offset.store", "false", "no separate offset store"},
    };
    char err[512];
    ringlog_conf *c = ringlog_conf_new();
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cr_assert_eq(ringlog_conf_set(c, refused[i].key, refused[i].value, err, sizeof(err)),
                     RINGLOG_ERR_INVALID_ARG, "%s", refused[i].key);
        cr_assert(strstr(err, refused[i].key) && strstr(err, "not supported") &&
                      strstr(err, refused[i].reason),
                  "%s: %s", refused[i].key, err);
        cr_assert_null(strstr(err, "unknown configuration key"), "%s", err);
    }
    /* What libringlog does anyway is accepted. */
    cr_assert_eq(ringlog_conf_set(c, "security.protocol", "PLAINTEXT", err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(ringlog_conf_set(c, "isolation.level", "read_uncommitted", err, sizeof(err)), 0);
    char buf[64];
    cr_assert_eq(ringlog_conf_get(c, "security.protocol", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "plaintext");
    /* Neither ours nor Kafka's: said so, with where the keys are listed. */
    cr_assert_eq(ringlog_conf_set(c, "bootstrap.server", "h:1", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "\"bootstrap.server\" is neither") && strstr(err, "docs/CLIENT.md"), "%s",
              err);
    cr_assert_eq(ringlog_conf_get(c, "bootstrap.server", buf, sizeof(buf)),
                 RINGLOG_ERR_INVALID_ARG);
    ringlog_conf_destroy(c);
}

/* security.protocol and the tls.* keys, under Kafka's names too. */
Test(conf_kafka, security_keys)
{
    char err[512], buf[256];
    ringlog_conf *c = ringlog_conf_new();
    cr_assert_eq(ringlog_conf_get(c, "security.protocol", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "plaintext");
    cr_assert_eq(ringlog_conf_set(c, "security.protocol", "SSL", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ringlog_conf_get(c, "security.protocol", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "tls");
    cr_assert_eq(ringlog_conf_set(c, "security.protocol", "tlsv9", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "expected plaintext, tls, sasl_plaintext or sasl_tls"), "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "security.protocol", "SASL_SSL", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_get(c, "security.protocol", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "sasl_tls");
    cr_assert_eq(ringlog_conf_set(c, "security.protocol", "sasl_plaintext", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_get(c, "security.protocol", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "sasl_plaintext");
    /* SCRAM only; Kafka's plural name is an alias. */
    cr_assert_eq(ringlog_conf_get(c, "sasl.mechanism", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "SCRAM-SHA-256");
    cr_assert_eq(ringlog_conf_set(c, "sasl.mechanisms", "PLAIN", err, sizeof(err)),
                 RINGLOG_ERR_INVALID_ARG);
    cr_assert(strstr(err, "SCRAM-SHA-256 or SCRAM-SHA-512"), "%s", err);
    cr_assert_eq(ringlog_conf_set(c, "sasl.mechanisms", "scram-sha-512", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_get(c, "sasl.mechanism", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "scram-sha-512");
    cr_assert_eq(ringlog_conf_set(c, "security.protocol", "tls", err, sizeof(err)), 0);
    cr_assert_eq(ringlog_conf_set(c, "ssl.ca.location", "/x/ca.pem", err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(ringlog_conf_get(c, "tls.ca", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "/x/ca.pem");
    cr_assert_eq(ringlog_conf_set(c, "tls.key", "/x/k.pem", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(ringlog_conf_get(c, "ssl.key.location", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "/x/k.pem");
    ringlog_conf *copy = ringlog_conf_dup(c);
    cr_assert_eq(ringlog_conf_get(copy, "ssl.ca.location", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "/x/ca.pem");
    ringlog_conf_destroy(copy);
    ringlog_conf_destroy(c);
}

/*
 * docs/CLIENT.md's "Coming from librdkafka" key table (up to "Any other
 * key"): every row "| `kafka` |
 * `ours` |" is an alias the library has (set under Kafka's name, read under
 * ours), and every row "| `kafka` | not supported: ..." is refused.
 */
Test(conf_kafka, the_documented_table_is_what_the_library_does)
{
    FILE *f = fopen(RL_CLIENT_DOC, "r");
    cr_assert_not_null(f, "%s", RL_CLIENT_DOC);
    char line[1024], err[512], a[128], b[128];
    int aliases = 0, refused = 0;
    bool in_table = false;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "## Coming from librdkafka"))
            in_table = true;
        else if (in_table && strncmp(line, "Any other key", 13) == 0)
            break; /* the end of the key table */
        if (!in_table)
            continue;
        char kafka[96], ours[96];
        int alias_end = 0, refused_end = 0;
        sscanf(line, "| `%95[^`]` | `%95[^`]` |%n", kafka, ours, &alias_end);
        sscanf(line, "| `%95[^`]` | not supported%n", kafka, &refused_end);
        if (alias_end > 0) {
            ringlog_conf *c = ringlog_conf_new();
            cr_assert_eq(ringlog_conf_get(c, kafka, a, sizeof(a)), 0, "%s", kafka);
            cr_assert_eq(ringlog_conf_get(c, ours, b, sizeof(b)), 0, "%s", ours);
            if (!strstr(kafka, "kbytes"))
                cr_assert_str_eq(a, b, "%s and %s are one setting", kafka, ours);
            cr_assert_eq(ringlog_conf_set(c, kafka, a, err, sizeof(err)), 0, "%s: %s", kafka, err);
            aliases++;
            ringlog_conf_destroy(c);
        } else if (refused_end > 0) {
            ringlog_conf *c = ringlog_conf_new();
            cr_assert_eq(ringlog_conf_set(c, kafka, "x", err, sizeof(err)), RINGLOG_ERR_INVALID_ARG,
                         "%s", kafka);
            cr_assert(strstr(err, "not supported"), "%s: %s", kafka, err);
            refused++;
            ringlog_conf_destroy(c);
        }
    }
    fclose(f);
    cr_assert_geq(aliases, 30, "%d alias rows found", aliases);
    cr_assert_geq(refused, 10, "%d refused rows found", refused);
}
