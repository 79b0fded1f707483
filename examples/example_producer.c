/*
 * A minimal libringlog producer: sends ten keyed messages and waits until
 * each is acknowledged.   usage: example_producer HOST:PORT TOPIC
 *
 * As with librdkafka, delivery reports run on this thread, inside
 * ringlog_poll and ringlog_producer_flush.
 */
#include <stdio.h>
#include <string.h>

#include <ringlog.h>

static void on_delivery(const ringlog_delivery *d, void *opaque)
{
    int *failed = opaque;
    if (d->err) {
        fprintf(stderr, "not delivered: %s\n", d->errstr);
        (*failed)++;
    } else {
        printf("delivered %.*s to %s/%d at offset %lld\n", (int)d->key_len, (const char *)d->key,
               d->topic, d->partition, (long long)d->offset);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST:PORT TOPIC\n", argv[0]);
        return 2;
    }
    char err[256];
    int failed = 0;
    ringlog_conf *conf = ringlog_conf_new();
    if (ringlog_conf_set(conf, "bootstrap", argv[1], err, sizeof(err)) ||
        ringlog_conf_set(conf, "compression", "lz4", err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ringlog_conf_set_delivery_cb(conf, on_delivery, &failed);
    ringlog_producer *p = ringlog_producer_new(conf, err, sizeof(err));
    ringlog_conf_destroy(conf); /* the producer keeps its own copy */
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int i = 0; i < 10; i++) {
        char key[32], value[64];
        snprintf(key, sizeof(key), "greeting-%d", i);
        snprintf(value, sizeof(value), "hello, ringlog %d", i);
        ringlog_record rec = {
            .topic = argv[2],
            .partition = RINGLOG_PARTITION_ANY, /* xxh64(key) % partitions */
            .key = key,
            .key_len = strlen(key),
            .value = value,
            .value_len = strlen(value),
            .flags = RINGLOG_MSG_F_BLOCK, /* wait for room rather than RINGLOG_ERR_QUEUE_FULL */
        };
        int rc = ringlog_produce(p, &rec);
        if (rc) {
            fprintf(stderr, "produce: %s\n", ringlog_err_str(rc));
            failed++;
            break;
        }
        ringlog_poll(p, 0); /* serve the delivery reports that are due */
    }
    if (ringlog_producer_flush(p, 30000) != RINGLOG_OK)
        failed++;
    ringlog_producer_destroy(p);
    return failed ? 1 : 0;
}
