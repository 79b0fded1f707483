#include "conf_kafka.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define NO_GROUPS                                                                                  \
    "the group coordinator on the broker decides this (heartbeat interval, assignment): choose "   \
    "the assignor with group.remote.assignor (uniform or range)"
#define NO_TXN "transactions are not implemented (the idempotent producer is: enable.idempotence)"

/* Grouped by subject; looked up linearly (a few dozen entries, at configuration time only). */
static const struct rl_kafka_key KAFKA_KEYS[] = {
    /* same meaning: aliases */
    {"bootstrap.servers", "bootstrap", 1, NULL, NULL},
    {"metadata.broker.list", "bootstrap", 1, NULL, NULL},
    {"client.id", "client-id", 1, NULL, NULL},
    {"socket.connection.setup.timeout.ms", "connect-timeout-ms", 1, NULL, NULL},
    {"request.timeout.ms", "request-timeout-ms", 1, NULL, NULL},
    {"reconnect.backoff.ms", "reconnect-backoff-ms", 1, NULL, NULL},
    {"reconnect.backoff.max.ms", "reconnect-backoff-max-ms", 1, NULL, NULL},
    {"metadata.max.age.ms", "metadata-max-age-ms", 1, NULL, NULL},
    {"topic.metadata.refresh.interval.ms", "metadata-max-age-ms", 1, NULL, NULL},
    {"request.required.acks", "acks", 1, NULL, NULL},
    {"linger.ms", "linger-ms", 1, NULL, NULL},
    {"queue.buffering.max.ms", "linger-ms", 1, NULL, NULL},
    {"batch.size", "batch-bytes", 1, NULL, NULL},
    {"buffer.memory", "buffer-bytes", 1, NULL, NULL},
    {"queue.buffering.max.kbytes", "buffer-bytes", 1024, NULL, NULL},
    {"max.block.ms", "max-block-ms", 1, NULL, NULL},
    {"compression.type", "compression", 1, NULL, NULL},
    {"compression.codec", "compression", 1, NULL, NULL},
    {"enable.idempotence", "enable-idempotence", 1, NULL, NULL},
    {"max.in.flight.requests.per.connection", "max-in-flight", 1, NULL, NULL},
    {"max.in.flight", "max-in-flight", 1, NULL, NULL},
    {"retry.backoff.ms", "retry-backoff-ms", 1, NULL, NULL},
    {"retry.backoff.max.ms", "retry-backoff-max-ms", 1, NULL, NULL},
    {"delivery.timeout.ms", "delivery-timeout-ms", 1, NULL, NULL},
    {"message.timeout.ms", "delivery-timeout-ms", 1, NULL, NULL},
    {"max.request.size", "max-request-bytes", 1, NULL, NULL},
    {"message.max.bytes", "max-request-bytes", 1, NULL, NULL},
    {"group.id", "group", 1, NULL, NULL},
    {"group.instance.id", "group-instance-id", 1, NULL, NULL},
    {"group.remote.assignor", "group-assignor", 1, NULL, NULL},
    {"session.timeout.ms", "session-timeout-ms", 1, NULL, NULL},
    {"max.poll.interval.ms", "rebalance-timeout-ms", 1, NULL, NULL},
    {"enable.auto.commit", "enable-auto-commit", 1, NULL, NULL},
    {"auto.commit.interval.ms", "auto-commit-interval-ms", 1, NULL, NULL},
    {"auto.offset.reset", "auto-offset-reset", 1, NULL, NULL},
    {"fetch.wait.max.ms", "fetch-max-wait-ms", 1, NULL, NULL},
    {"fetch.max.wait.ms", "fetch-max-wait-ms", 1, NULL, NULL},
    {"fetch.min.bytes", "fetch-min-bytes", 1, NULL, NULL},
    {"fetch.max.bytes", "fetch-max-bytes", 1, NULL, NULL},
    {"max.partition.fetch.bytes", "partition-fetch-bytes", 1, NULL, NULL},
    {"fetch.message.max.bytes", "partition-fetch-bytes", 1, NULL, NULL},
    {"queued.max.messages.kbytes", "queued-max-bytes", 1024, NULL, NULL},
    {"statistics.interval.ms", "statistics-interval-ms", 1, NULL, NULL},
    {"enable.partition.eof", "enable-partition-eof", 1, NULL, NULL},
    {"ssl.ca.location", "tls.ca", 1, NULL, NULL},
    {"ssl.certificate.location", "tls.cert", 1, NULL, NULL},
    {"ssl.key.location", "tls.key", 1, NULL, NULL},
    {"sasl.mechanisms", "sasl.mechanism", 1, NULL, NULL},
    /* accepted when they ask for what libringlog does anyway */
    {"isolation.level", NULL, 1, "read_uncommitted",
     "there are no transactions, so there is nothing to hide: only read_uncommitted applies"},
    /* not supported, and why */
    {"transactional.id", NULL, 1, NULL, NO_TXN},
    {"transaction.timeout.ms", NULL, 1, NULL, NO_TXN},
    {"heartbeat.interval.ms", NULL, 1, NULL, NO_GROUPS},
    {"partition.assignment.strategy", NULL, 1, NULL, NO_GROUPS},
    {"enable.auto.offset.store", NULL, 1, NULL,
     "positions are stored as messages are polled; there is no separate offset store"},
    {"retries", NULL, 1, NULL,
     "the producer retries retriable errors until delivery-timeout-ms (delivery.timeout.ms); "
     "there is no retry count"},
    {"message.send.max.retries", NULL, 1, NULL,
     "the producer retries retriable errors until delivery-timeout-ms (delivery.timeout.ms); "
     "there is no retry count"},
    {"queue.buffering.max.messages", NULL, 1, NULL,
     "the producer bounds bytes, not messages: use buffer-bytes (queue.buffering.max.kbytes)"},
    {"compression.level", NULL, 1, NULL, "lz4 and zstd run at their default levels"},
    {"check.crcs", NULL, 1, NULL,
     "every fetched batch is verified (XXH3 checksum); that cannot be turned off"},
    {"statistics.interval.ms", NULL, 1, NULL,
     "libringlog has no statistics callback; the broker's /metrics has the figures"},
    {"debug", NULL, 1, NULL,
     "diagnostics go to the log callback (ringlog_conf_set_log_cb), every level included"},
    {"allow.auto.create.topics", NULL, 1, NULL,
     "topics are created explicitly (ringlog_admin_create_topic, `ringlog topic create`)"},
    {"auto.create.topics.enable", NULL, 1, NULL,
     "topics are created explicitly (ringlog_admin_create_topic, `ringlog topic create`)"},
    {"partitioner.class", NULL, 1, NULL,
     "set partitioner=murmur2 or xxh64, or a callback with ringlog_conf_set_partitioner_cb"},
    {"sticky.partitioning.linger.ms", NULL, 1, NULL,
     "the null-key sticky partition moves each time its batch is sealed"},
    {"max.poll.records", NULL, 1, NULL, "ringlog_consumer_poll returns one message at a time"},
    {"key.serializer", NULL, 1, NULL, "libringlog takes bytes: serialize before producing"},
    {"value.serializer", NULL, 1, NULL, "libringlog takes bytes: serialize before producing"},
    {"key.deserializer", NULL, 1, NULL, "libringlog hands out bytes: deserialize after polling"},
    {"value.deserializer", NULL, 1, NULL, "libringlog hands out bytes: deserialize after polling"},
    {"client.rack", NULL, 1, NULL, "there is no rack-aware fetching: consumers read from leaders"},
};

const struct rl_kafka_key *rl_kafka_key(const char *name)
{
    assert(name);
    for (size_t i = 0; i < sizeof(KAFKA_KEYS) / sizeof(KAFKA_KEYS[0]); i++)
        if (strcmp(KAFKA_KEYS[i].kafka, name) == 0) {
            assert(KAFKA_KEYS[i].ours || KAFKA_KEYS[i].why);
            return &KAFKA_KEYS[i];
        }
    return NULL;
}

struct value_alias {
    const char *key;
    const char *kafka; /* the Kafka value */
    const char *ours;  /* its equivalent; NULL: refused */
    const char *why;
};

#define NO_CODEC                                                                                   \
    "libringlog compresses with lz4 or zstd (or none); choose lz4 for speed or zstd for size"
#define NO_HASH                                                                                    \
    "libringlog's key hashes are xxh64 (its default) and murmur2 (Kafka's Java default, "          \
    "librdkafka's murmur2_random); for another, set a ringlog_conf_set_partitioner_cb callback"

static const struct value_alias VALUES[] = {
    {"auto-offset-reset", "smallest", "earliest", NULL},
    {"auto-offset-reset", "beginning", "earliest", NULL},
    {"auto-offset-reset", "largest", "latest", NULL},
    {"auto-offset-reset", "end", "latest", NULL},
    {"compression", "gzip", NULL, NO_CODEC},
    {"compression", "snappy", NULL, NO_CODEC},
    {"partitioner", "murmur2_random", "murmur2", NULL},
    {"partitioner", "consistent", NULL, NO_HASH},
    {"partitioner", "consistent_random", NULL, NO_HASH},
    {"partitioner", "random", NULL, NO_HASH},
    {"partitioner", "fnv1a", NULL, NO_HASH},
    {"partitioner", "fnv1a_random", NULL, NO_HASH},
};

int rl_kafka_value(const char *our_key, const char *value, const char **canonical, const char **why)
{
    assert(our_key && value && canonical && why);
    *canonical = value;
    *why = NULL;
    for (size_t i = 0; i < sizeof(VALUES) / sizeof(VALUES[0]); i++) {
        const struct value_alias *v = &VALUES[i];
        if (strcmp(v->key, our_key) != 0 || strcasecmp(v->kafka, value) != 0)
            continue;
        if (!v->ours) {
            *why = v->why;
            return -1;
        }
        *canonical = v->ours;
        return 0;
    }
    return 0;
}
