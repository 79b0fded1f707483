/*
 * A minimal libringlog consumer: reads partition 0 of a topic from the
 * beginning and prints each message until none arrives for two seconds.
 *   usage: example_consumer HOST:PORT TOPIC
 */
#include <stdio.h>

#include <ringlog.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST:PORT TOPIC\n", argv[0]);
        return 2;
    }
    char err[256];
    ringlog_conf *conf = ringlog_conf_new();
    if (ringlog_conf_set(conf, "bootstrap", argv[1], err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ringlog_consumer *c = ringlog_consumer_new(conf, err, sizeof(err));
    ringlog_conf_destroy(conf);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ringlog_topic_partition tp = {
        .topic = argv[2], .partition = 0, .offset = RINGLOG_OFFSET_BEGINNING};
    ringlog_consumer_assign(c, &tp, 1);
    int rc = 0;
    for (;;) {
        const ringlog_message *m;
        int err_code = ringlog_consumer_poll(c, 2000, &m);
        if (err_code == RINGLOG_ERR_TIMED_OUT)
            break; /* nothing new for 2 s: done */
        if (err_code) {
            fprintf(stderr, "poll: %s\n", ringlog_consumer_errstr(c));
            rc = 1;
            break;
        }
        printf("offset %lld: key=%.*s value=%.*s\n", (long long)m->offset, (int)m->key_len,
               m->key ? (const char *)m->key : "", (int)m->value_len, (const char *)m->value);
    }
    ringlog_consumer_destroy(c);
    return rc;
}
