/*
 * Kafka's configuration names and values (librdkafka's and the Java
 * client's) as aliases of ours wherever the meaning is the same, and the
 * Kafka keys libringlog does not support, each with the reason. The table
 * docs/CLIENT.md "Coming from librdkafka" shows is this one.
 */
#ifndef RINGLOG_CLIENT_CONF_KAFKA_H
#define RINGLOG_CLIENT_CONF_KAFKA_H

#include <stdint.h>

struct rl_kafka_key {
    const char *kafka; /* "bootstrap.servers" */
    const char *ours;  /* "bootstrap"; NULL: not supported (see why) */
    int64_t scale;     /* ours = kafka value * scale (kbytes -> bytes); 1 otherwise */
    const char *noop;  /* with ours NULL: the one value accepted, and ignored, since it is what
                          libringlog does anyway ("plaintext"); NULL: every value refused */
    const char *why;   /* with ours NULL: why it is refused */
};

/* The entry for a Kafka key name, or NULL when it is none we know. */
const struct rl_kafka_key *rl_kafka_key(const char *name);

/*
 * A Kafka value of one of our keys: returns 0 and sets *canonical to the
 * value ours understands (the same pointer when it needs no translation),
 * or returns -1 and sets *why to the reason the value is refused.
 */
int rl_kafka_value(const char *our_key, const char *value, const char **canonical,
                   const char **why);

#endif
