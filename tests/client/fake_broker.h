/*
 * An in-process, in-memory single-node broker that speaks the wire protocol
 * (docs/PROTOCOL.md) well enough to unit-test the client without ringlogd:
 * Metadata, CreateTopics, DeleteTopics, Produce (validates and stamps
 * batches; idempotent producer sequences), Fetch (long poll), ListOffsets,
 * InitProducerId, OffsetCommit, OffsetFetch.
 *
 * One thread accepts on 127.0.0.1:0, one thread per connection; a single
 * mutex guards the state. It is a test double, not a reference: the real
 * broker's integration tests live elsewhere.
 */
#ifndef RINGLOG_TESTS_FAKE_BROKER_H
#define RINGLOG_TESTS_FAKE_BROKER_H

#include <stddef.h>
#include <stdint.h>

struct fake_broker;

/* Starts listening; NULL on failure. */
struct fake_broker *fake_broker_start(void);

int fake_broker_port(const struct fake_broker *fb);

/* "127.0.0.1:PORT" in a static-lifetime buffer of the broker. */
const char *fake_broker_address(const struct fake_broker *fb);

/* Creates a topic directly (as CreateTopics would). */
void fake_broker_create_topic(struct fake_broker *fb, const char *name, uint32_t partitions);

/* Records stored in a partition (sum of batch record counts), -1 if unknown. */
int64_t fake_broker_record_count(struct fake_broker *fb, const char *topic, uint32_t partition);

/* Number of produce requests answered so far, and of batches dropped as duplicates. */
uint64_t fake_broker_produce_requests(struct fake_broker *fb);
uint64_t fake_broker_duplicates(struct fake_broker *fb);

/* Codec (attributes & 7) of the first batch stored in the partition, -1 if none. */
int fake_broker_first_codec(struct fake_broker *fb, const char *topic, uint32_t partition);

/*
 * Fault injection: the next `n` produce requests are appended but the
 * connection is closed instead of answering (the client must retry, and
 * idempotence must drop the duplicates).
 */
void fake_broker_drop_produce_responses(struct fake_broker *fb, int n);

/* The next `n` produce requests are appended and never answered; the
 * connection stays open (a broker that hangs: only the client's request
 * timeout ends the wait). */
void fake_broker_swallow_produce_responses(struct fake_broker *fb, int n);

/* The next frame over 1 MiB is read only after `ms` milliseconds (a slow
 * reader: the client's socket fills and the rest waits for POLLOUT). */
void fake_broker_stall_next_large_request(struct fake_broker *fb, int ms);

/* Answers the next `n` partitions of produce requests with NOT_LEADER without appending. */
void fake_broker_fail_produce_not_leader(struct fake_broker *fb, int n);

/* Answers the next `n` partitions of produce requests with `code` and `message`, appending
 * nothing. */
void fake_broker_fail_produce(struct fake_broker *fb, int n, int code, const char *message);

/* The next CreateTopics is answered (and carried out) only after `ms`
 * milliseconds: a broker that takes long to create many partitions. */
void fake_broker_delay_create_topics(struct fake_broker *fb, int ms);
/* From now on: CreateTopics answers NOT_CONTROLLER and Metadata names no controller (a broker
 * cut off from the others). */
void fake_broker_no_controller(struct fake_broker *fb);

/* Appends one uncompressed batch without a producer of `count` records whose
 * values are `value_len` bytes of `fill`; returns its base offset, -1 when
 * the partition does not exist. */
int64_t fake_broker_append_records(struct fake_broker *fb, const char *topic, uint32_t partition,
                                   int count, size_t value_len, char fill);

/* Appends a control batch (docs/FORMAT.md "Control batches") of the given
 * control type, as the broker does for replication; returns its base offset. */
int64_t fake_broker_append_control(struct fake_broker *fb, const char *topic, uint32_t partition,
                                   uint16_t type);

/* Stops every thread, closes every socket, frees the state. */
void fake_broker_stop(struct fake_broker *fb);

#endif
