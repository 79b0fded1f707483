/*
 * libringlog: the C client of Ringlog, a distributed log / message broker.
 *
 *   ringlog_conf       configuration (string keys and values, plus callbacks)
 *   ringlog_producer   asynchronous, batching, idempotent producer
 *   ringlog_consumer   assign / seek / poll consumer with committed offsets
 *   ringlog_admin      create, delete, list and describe topics (blocking)
 *
 * Conventions, for every function below:
 *   - Functions that can fail return an int error code: RINGLOG_OK (0), a
 *     positive code that is the broker's wire ErrorCode (same number as in
 *     proto/ringlog.proto), or a negative client-side code. ringlog_err_name()
 *     and ringlog_err_str() turn any code into text; where a call can say
 *     more, it fills an `errbuf` the caller provides (always NUL-terminated,
 *     may be NULL) or keeps a message readable with the handle's _errstr().
 *   - The library keeps no global state, never calls exit() and never prints.
 *     Diagnostics go to the log callback of the configuration, if any.
 *   - Producers and consumers run their own I/O thread (plain non-blocking
 *     sockets and poll()). Application callbacks do NOT run there by
 *     default: as with librdkafka, they run on the application's thread,
 *     inside the calls that serve them (the table below). With
 *     callbacks-on-io-thread=true they run on the I/O thread instead, as
 *     soon as their event happens (a slow callback then stalls all I/O).
 *
 *     callback            served by (default)                     io-thread mode
 *     delivery, batch     ringlog_poll, ringlog_producer_flush,   I/O thread
 *                         a produce blocked on a full buffer,
 *                         ringlog_producer_destroy
 *     error, statistics   producer: as delivery; consumer:        I/O thread
 *                         ringlog_consumer_poll (and _owned,
 *                         _batch), ringlog_consumer_close
 *     log                 any library thread, at once             any thread
 *     partitioner         the thread calling ringlog_produce      same
 *
 *     From inside a callback, the calls that would wait for callbacks
 *     (ringlog_poll, flush, consumer poll, close, destroy) return
 *     RINGLOG_ERR_IN_CALLBACK and do nothing; ringlog_produce never blocks
 *     there.
 *   - Pointers passed in are only borrowed for the duration of the call
 *     unless a function says otherwise; the library copies what it keeps.
 */
#ifndef RINGLOG_H
#define RINGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGLOG_VERSION_STRING "0.1.0"

/*
 * The same version as one number, 0xMMmmpp (major, minor, patch), for
 * compile-time checks: #if RINGLOG_VERSION_NUM >= 0x000200. Compare it with
 * ringlog_version_num() to see which library a program runs against.
 */
#define RINGLOG_VERSION_NUM 0x000100

/*
 * ABI. libringlog.so exports exactly the functions of this header, each in
 * the symbol version node RINGLOG_0.1 (tests/client/test_abi.sh checks it).
 * How structs grow without breaking built programs:
 *   - Structs the application fills and passes in (ringlog_record,
 *     ringlog_header, ringlog_topic_partition, ringlog_topic_config) keep
 *     their layout within a symbol version. A release that adds a field
 *     adds it at the end and gives every function that takes the struct a
 *     new symbol version; the old version stays exported as a
 *     compatibility entry that reads the old layout, so a program built
 *     against the old header keeps working unchanged.
 *   - Structs the library hands out (ringlog_delivery,
 *     ringlog_delivery_batch, ringlog_delivered, ringlog_message,
 *     ringlog_topic_info, ringlog_partition_info) follow the same rule:
 *     the application reads them through the library's pointers and never
 *     allocates or copies them, and arrays of them are indexed with the
 *     size the program was built with, so their layout too changes only
 *     with a new symbol version of the functions and callbacks handing
 *     them out.
 *   - Handles (ringlog_conf, ringlog_producer, ...) are opaque and grow freely.
 * The test pins every public struct's size, so a layout change fails it
 * until the symbol version moves with it.
 */

/* ------------------------------------------------------------------ errors */

typedef enum ringlog_err {
    RINGLOG_OK = 0,

    /* 1..99: the broker's ErrorCode, numbered exactly as on the wire. */
    RINGLOG_ERR_UNKNOWN = 1,
    RINGLOG_ERR_UNKNOWN_TOPIC = 2,
    RINGLOG_ERR_UNKNOWN_PARTITION = 3,
    RINGLOG_ERR_NOT_LEADER = 4,
    RINGLOG_ERR_CORRUPT_BATCH = 5,
    RINGLOG_ERR_BATCH_TOO_LARGE = 6,
    RINGLOG_ERR_OFFSET_OUT_OF_RANGE = 7,
    RINGLOG_ERR_TOPIC_EXISTS = 8,
    RINGLOG_ERR_INVALID_REQUEST = 9,
    RINGLOG_ERR_UNSUPPORTED_VERSION = 10,
    RINGLOG_ERR_DUPLICATE_SEQUENCE = 11,
    RINGLOG_ERR_OUT_OF_ORDER_SEQUENCE = 12,
    RINGLOG_ERR_NOT_ENOUGH_REPLICAS = 13,
    RINGLOG_ERR_TIMEOUT = 14, /* the broker's request timeout */
    RINGLOG_ERR_STORAGE_ERROR = 15,
    RINGLOG_ERR_INVALID_TOPIC = 16,
    RINGLOG_ERR_INVALID_PARTITIONS = 17,
    RINGLOG_ERR_INVALID_REPLICATION_FACTOR = 18,
    RINGLOG_ERR_INVALID_CONFIG = 19,
    RINGLOG_ERR_UNKNOWN_PRODUCER_ID = 20,
    RINGLOG_ERR_INVALID_PRODUCER_EPOCH = 21,
    RINGLOG_ERR_LEADER_NOT_AVAILABLE = 22,
    RINGLOG_ERR_UNKNOWN_GROUP = 23,
    RINGLOG_ERR_SHUTTING_DOWN = 24,
    RINGLOG_ERR_TOO_MANY_CONNECTIONS = 25,
    RINGLOG_ERR_FENCED_LEADER_EPOCH = 30,
    RINGLOG_ERR_UNKNOWN_LEADER_EPOCH = 31,
    RINGLOG_ERR_NOT_CONTROLLER = 32, /* topic admin goes to Metadata's controller */
    RINGLOG_ERR_INVALID_REPLICA_ASSIGNMENT = 35,
    /* consumer groups (docs/CONSUMER_GROUPS.md) */
    RINGLOG_ERR_NOT_COORDINATOR = 40,
    RINGLOG_ERR_COORDINATOR_LOAD_IN_PROGRESS = 41,
    RINGLOG_ERR_UNKNOWN_MEMBER_ID = 42,
    RINGLOG_ERR_FENCED_MEMBER_EPOCH = 43,
    RINGLOG_ERR_STALE_MEMBER_EPOCH = 44,
    RINGLOG_ERR_GROUP_NOT_EMPTY = 45,
    RINGLOG_ERR_GROUP_MAX_SIZE_REACHED = 46,
    RINGLOG_ERR_UNRELEASED_INSTANCE_ID = 47,
    RINGLOG_ERR_INVALID_GROUP_PATTERN = 48,
    RINGLOG_ERR_AUTHENTICATION_FAILED = 50,   /* SASL: wrong name or password */
    RINGLOG_ERR_AUTHENTICATION_REQUIRED = 51, /* the broker has users: set sasl.* */
    RINGLOG_ERR_NOT_AUTHORIZED = 52,          /* no ACL allows this principal the operation */
    RINGLOG_ERR_UNKNOWN_USER = 53,
    RINGLOG_ERR_UNSUPPORTED_SASL_MECHANISM = 54,

    /* Negative: detected by the client. */
    RINGLOG_ERR_INVALID_ARG = -1,    /* an argument or configuration value is wrong */
    RINGLOG_ERR_NOMEM = -2,          /* an allocation failed */
    RINGLOG_ERR_TIMED_OUT = -3,      /* the client-side timeout of the call passed */
    RINGLOG_ERR_TRANSPORT = -4,      /* connect failed or the connection was lost */
    RINGLOG_ERR_RESOLVE = -5,        /* a host name did not resolve */
    RINGLOG_ERR_PROTOCOL = -6,       /* the peer sent something that is not the protocol */
    RINGLOG_ERR_QUEUE_FULL = -7,     /* producer buffer full and configured not to block */
    RINGLOG_ERR_MSG_TOO_LARGE = -8,  /* a message cannot fit in any batch or frame */
    RINGLOG_ERR_CORRUPT = -9,        /* a fetched batch failed its checksum or is malformed */
    RINGLOG_ERR_CLOSED = -10,        /* the handle was destroyed before the work completed */
    RINGLOG_ERR_STATE = -11,         /* the call makes no sense now (e.g. not assigned) */
    RINGLOG_ERR_FATAL = -12,         /* the producer cannot continue (e.g. fenced epoch) */
    RINGLOG_ERR_NO_OFFSET = -13,     /* no committed offset and auto-offset-reset=error */
    RINGLOG_ERR_PARTITION_EOF = -14, /* not a failure: the consumer reached the partition's end
                                        (enable-partition-eof) */
    RINGLOG_ERR_IN_CALLBACK = -15,   /* called from one of the handle's own callbacks, where it
                                        would deadlock (flush, poll, close, destroy) */
} ringlog_err;

/* "UNKNOWN_TOPIC", "TIMED_OUT", ...; "UNRECOGNIZED" for any other value. Never NULL. */
const char *ringlog_err_name(int err);

/* A one-line human explanation of the code. Never NULL. */
const char *ringlog_err_str(int err);

/*
 * Whether the same operation may succeed if tried again later without any
 * change by the application: lost connections (TRANSPORT, RESOLVE),
 * timeouts, QUEUE_FULL, and the broker's transient codes (NOT_LEADER,
 * LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS, TIMEOUT, STORAGE_ERROR,
 * SHUTTING_DOWN, TOO_MANY_CONNECTIONS, ...). The library already retries
 * these where it can (produce, fetch, reconnects); the error callback
 * reports them so that an outage is visible, not so that the application
 * acts. False for RINGLOG_OK.
 */
bool ringlog_error_is_retriable(int err);

/*
 * Whether the handle that reported the error cannot go on: RINGLOG_ERR_FATAL
 * (the producer's state is lost) and UNSUPPORTED_VERSION (the broker speaks
 * another protocol version). The application should destroy the handle
 * (and may create a new one). Never true together with retriable.
 */
bool ringlog_error_is_fatal(int err);

/* The library's version, "0.1.0". */
const char *ringlog_version(void);

/* The library's version as RINGLOG_VERSION_NUM encodes it (0x000100). */
int ringlog_version_num(void);

/* ------------------------------------------------------------------ configuration */

typedef struct ringlog_conf ringlog_conf;

/* Log levels passed to the log callback (syslog numbering). */
enum {
    RINGLOG_LOG_ERROR = 3,
    RINGLOG_LOG_WARNING = 4,
    RINGLOG_LOG_INFO = 6,
    RINGLOG_LOG_DEBUG = 7
};

/* Called from any library thread; must be thread-safe and must not block for long. */
typedef void (*ringlog_log_cb)(int level, const char *message, void *opaque);

/*
 * Something went wrong that no call returned: a broker connection failed or
 * was lost (RINGLOG_ERR_TRANSPORT, once per outage of each broker: the
 * library keeps reconnecting), a broker refused a produce for a reason of
 * its own (NOT_ENOUGH_REPLICAS, STORAGE_ERROR, ...: the batch is retried),
 * or the handle cannot go on. ringlog_error_is_retriable(err) and
 * ringlog_error_is_fatal(err) classify err. Runs where the table at the top
 * of this header says; `reason` lives until it returns.
 */
typedef void (*ringlog_error_cb)(int err, const char *reason, void *opaque);

void ringlog_conf_set_error_cb(ringlog_conf *conf, ringlog_error_cb cb, void *opaque);

/*
 * Every statistics-interval-ms, a JSON object (json_len bytes, NUL
 * terminated, valid until the callback returns) about the handle: the
 * brokers ("brokers": node id, address, state, requests in flight, bytes
 * waiting to be sent, round-trip times of the last interval in
 * microseconds), and for a producer its queue ("msg_cnt", "msg_bytes",
 * "msg_bytes_max") and per partition records queued and batches in
 * flight, for a consumer per partition its position, fetch state, high
 * watermark, lag (high watermark - position), committed offset and
 * prefetched bytes. docs/CLIENT.md lists every field.
 */
typedef void (*ringlog_stats_cb)(const char *json, size_t json_len, void *opaque);

void ringlog_conf_set_stats_cb(ringlog_conf *conf, ringlog_stats_cb cb, void *opaque);

/* A new configuration with every default. NULL on allocation failure. */
ringlog_conf *ringlog_conf_new(void);

/* Frees a configuration. Handles created from it keep their own copy. */
void ringlog_conf_destroy(ringlog_conf *conf);

/* A deep copy, or NULL on allocation failure. */
ringlog_conf *ringlog_conf_dup(const ringlog_conf *conf);

/*
 * Sets `key` to `value` after checking it. Returns RINGLOG_OK, or
 * RINGLOG_ERR_INVALID_ARG with a reason in errbuf for an unknown key or a bad
 * value. Keys (defaults in brackets), shared by every handle:
 *
 *   bootstrap                HOST:PORT[,HOST:PORT...]   [127.0.0.1:7171]
 *   client-id                free text sent to brokers  [libringlog]
 *   connect-timeout-ms       per connection attempt     [5000]
 *   request-timeout-ms       a request unanswered this long fails its connection [30000]
 *   reconnect-backoff-ms     first reconnect delay, doubled per failure [50]
 *   reconnect-backoff-max-ms [2000]
 *   metadata-max-age-ms      refresh metadata at least this often [300000]
 *   security.protocol        plaintext | tls (Kafka's "ssl" too) [plaintext]; the
 *                            sasl_* ones are refused: SASL is not there yet
 *   tls.ca                   PEM CA file the broker's certificate must chain to
 *                            [the system's CAs]; its name or address is checked too
 *   tls.cert, tls.key        PEM client certificate and key, for brokers that ask
 *
 * Producer:
 *   acks                     0 | 1 | all                [all]
 *   linger-ms                wait this long for a batch to fill [5]
 *   batch-bytes              seal a partition's batch at this size [65536]
 *   buffer-bytes             bound on bytes waiting to be delivered [33554432]
 *   block-on-buffer-full     true: every produce waits for room as if it
 *                            passed RINGLOG_MSG_F_BLOCK; false: produce
 *                            returns RINGLOG_ERR_QUEUE_FULL unless the record
 *                            asks to block [false]
 *   max-block-ms             longest produce waits for room or metadata [60000]
 *   compression              none | lz4 | zstd          [none]
 *   enable-idempotence       true | false               [true]
 *   max-in-flight            produce requests in flight per connection [5]
 *   retry-backoff-ms         first retry delay, doubled per attempt [100]
 *   retry-backoff-max-ms     [1000]
 *   delivery-timeout-ms      give up on a message after this long [120000]
 *   max-request-bytes        largest produce request built [4194304]
 *
 * Consumer:
 *   group                    consumer group: committed offsets, and with
 *                            ringlog_consumer_subscribe its members [none]
 *   group-instance-id        static membership: a restart with the same id
 *                            within the session keeps the partitions [none]
 *   group-assignor           uniform | range               [uniform]
 *   session-timeout-ms       silent this long, a member is removed [10000]
 *   rebalance-timeout-ms     time to give a revoked partition up [60000]
 *   enable-auto-commit       commit positions periodically and on close [true]
 *   auto-commit-interval-ms  [5000]
 *   auto-offset-reset        earliest | latest | error: where to start when
 *                            there is no valid offset  [latest]
 *   fetch-max-wait-ms        broker long-poll time      [500]
 *   fetch-min-bytes          [1]
 *   fetch-max-bytes          per fetch request          [52428800]
 *   partition-fetch-bytes    per partition and request  [1048576]
 *   queued-max-bytes         prefetched bytes buffered per partition [4194304]
 *
 * Callbacks and events:
 *   callbacks-on-io-thread   false: callbacks run in the application's
 *                            poll and flush calls (librdkafka's model);
 *                            true: on the I/O thread (see the top) [false]
 *   statistics-interval-ms   call the statistics callback this often; 0:
 *                            never [0]
 *   enable-partition-eof     consumer poll returns RINGLOG_ERR_PARTITION_EOF
 *                            once each time a partition's end is reached [false]
 *
 * Partitioning (keyed records without an explicit partition):
 *   partitioner              xxh64 | murmur2: hash of the key modulo the
 *                            partition count. murmur2 is Kafka's default
 *                            (Java's Utils.murmur2, toPositive(h) % n) and
 *                            librdkafka's murmur2_random (accepted as an
 *                            alias): the same key lands on the same
 *                            partition as with those clients  [xxh64]
 *   Records with a null key go to a sticky partition that moves each time
 *   its batch is sealed, whatever the partitioner.
 *
 * Kafka's names (librdkafka's and the Java client's) are accepted wherever
 * the meaning is the same: bootstrap.servers, client.id, linger.ms,
 * batch.size, acks (-1 = all), enable.idempotence, compression.type,
 * delivery.timeout.ms, request.timeout.ms, retry.backoff.ms, group.id,
 * auto.offset.reset (smallest / largest too), enable.auto.commit,
 * auto.commit.interval.ms, ... (the full table is in docs/CLIENT.md,
 * "Coming from librdkafka"). A Kafka key or value libringlog does not
 * support (gzip, transactional.id, sasl.*, ...) is refused with the reason.
 * ringlog_conf_get answers to the same names.
 */
int ringlog_conf_set(ringlog_conf *conf, const char *key, const char *value, char *errbuf,
                     size_t errlen);

/* The current value of `key` as text into buf. RINGLOG_ERR_INVALID_ARG for an unknown key. */
int ringlog_conf_get(const ringlog_conf *conf, const char *key, char *buf, size_t buflen);

/*
 * Diagnostics sink. Without one, the library stays silent. While the
 * library retries (a broker down), a message repeated by every attempt is
 * passed once, then at most every 10 s with "(and N times more since it
 * was last logged)" appended; RINGLOG_LOG_DEBUG messages all pass.
 */
void ringlog_conf_set_log_cb(ringlog_conf *conf, ringlog_log_cb cb, void *opaque);

/*
 * A custom partitioner: returns the partition, in [0, partition_count), of
 * a record with a key and no explicit partition (librdkafka's
 * rd_kafka_topic_conf_set_partitioner_cb). Records with a null key keep the
 * sticky partitioner. Called from the producing thread with the producer's
 * lock held: it must be quick and must not call the producer. A return
 * outside the range is logged as an error and the `partitioner` key's hash
 * places that record.
 */
typedef int32_t (*ringlog_partitioner_cb)(const char *topic, const void *key, size_t key_len,
                                          int32_t partition_count, void *opaque);

void ringlog_conf_set_partitioner_cb(ringlog_conf *conf, ringlog_partitioner_cb cb, void *opaque);

/* ------------------------------------------------------------------ producer */

typedef struct ringlog_producer ringlog_producer;

/* A record header: binary key and value; value NULL is a null value. */
typedef struct ringlog_header {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} ringlog_header;

#define RINGLOG_PARTITION_ANY (-1)

/*
 * ringlog_record.flags. RINGLOG_MSG_F_BLOCK: when the buffer (buffer-bytes)
 * is full, wait up to max-block-ms for room instead of returning
 * RINGLOG_ERR_QUEUE_FULL (librdkafka's RD_KAFKA_MSG_F_BLOCK). Room is freed
 * as deliveries are reported, so in the default callback mode a produce
 * that waits serves the pending delivery reports itself (on its own
 * thread). Ignored inside a callback, where produce never waits.
 */
#define RINGLOG_MSG_F_BLOCK 0x1

/* What to produce. Every pointer is borrowed for the duration of ringlog_produce only. */
typedef struct ringlog_record {
    const char *topic;
    int32_t partition; /* RINGLOG_PARTITION_ANY: the partitioner picks */
    int flags;         /* RINGLOG_MSG_F_*; 0: never wait for buffer room */
    const void *key;   /* NULL: a null key (sticky partitioner) */
    size_t key_len;
    const void *value; /* NULL: a null value (tombstone) */
    size_t value_len;
    const ringlog_header *headers;
    size_t header_count;
    int64_t timestamp; /* ms since the epoch; 0: now */
    void *opaque;      /* handed back in this record's delivery report */
} ringlog_record;

/* The outcome of one record, handed to the delivery callback. */
typedef struct ringlog_delivery {
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1 on error or with acks=0 */
    int64_t timestamp;
    int err;            /* RINGLOG_OK or why the record was not delivered */
    const char *errstr; /* human text; "" on success */
    void *opaque;       /* ringlog_record.opaque */
    const void *key;    /* the record's key as produced; NULL: null key */
    size_t key_len;
    const void *value; /* the record's value as produced; NULL: null value */
    size_t value_len;
} ringlog_delivery;

/*
 * Called once per record (librdkafka's dr_msg_cb), in the order the records
 * of a partition were produced, by the calls that serve callbacks (the
 * table at the top: ringlog_poll and flush by default). It gets the
 * record's topic, partition, offset, timestamp, key, value and opaque.
 * Called from it, ringlog_poll, ringlog_producer_flush and
 * ringlog_producer_destroy return RINGLOG_ERR_IN_CALLBACK; ringlog_produce
 * works and never blocks (RINGLOG_ERR_QUEUE_FULL instead). `d` and
 * everything it points to live until it returns.
 */
typedef void (*ringlog_delivery_cb)(const ringlog_delivery *d, void *cb_opaque);

void ringlog_conf_set_delivery_cb(ringlog_conf *conf, ringlog_delivery_cb cb, void *opaque);

/* One record of a batch delivery report. */
typedef struct ringlog_delivered {
    void *opaque;      /* ringlog_record.opaque */
    int64_t timestamp; /* the record's timestamp (ms) */
} ringlog_delivered;

/*
 * The outcome of the records of one partition that went to the broker
 * together (one record batch): they share the answer, so they share one
 * report. Record i of `records` got offset base_offset + i.
 */
typedef struct ringlog_delivery_batch {
    const char *topic;
    int32_t partition;
    int64_t base_offset;              /* offset of records[0]; -1 on error or with acks=0 */
    int err;                          /* RINGLOG_OK or why none of the records was delivered */
    const char *errstr;               /* human text; "" on success */
    size_t count;                     /* >= 1 */
    const ringlog_delivered *records; /* in production order */
} ringlog_delivery_batch;

/*
 * Called once per batch instead of once per record, for applications that
 * handle many small records (the per-record callback costs a call, a
 * report and the application's bookkeeping for each; keys and values are
 * not handed back: keep what you need behind `opaque`). Same thread, order
 * and rules as ringlog_delivery_cb: batches of a partition are reported in
 * production order, every record exactly once. When it is set the
 * per-record callback is not called. `b` and everything it points to live
 * until it returns.
 */
typedef void (*ringlog_delivery_batch_cb)(const ringlog_delivery_batch *b, void *cb_opaque);

void ringlog_conf_set_delivery_batch_cb(ringlog_conf *conf, ringlog_delivery_batch_cb cb,
                                        void *opaque);

/*
 * Creates a producer and starts its I/O thread. Connects lazily; with
 * enable-idempotence it obtains a producer id from the cluster before the
 * first batch is sent. NULL on failure, with a reason in errbuf.
 */
ringlog_producer *ringlog_producer_new(const ringlog_conf *conf, char *errbuf, size_t errlen);

/*
 * Queues one record; its delivery callback reports the outcome later.
 * Thread-safe. Copies key, value and headers. Does not wait for buffer
 * room unless the record has RINGLOG_MSG_F_BLOCK (or block-on-buffer-full
 * is set): a full buffer is RINGLOG_ERR_QUEUE_FULL, and the application
 * serves delivery reports (ringlog_poll) to free room. Waits the first
 * time a topic is used, until its metadata is known, up to max-block-ms
 * (not from a callback). Returns
 * RINGLOG_OK (the callback will be called exactly once), or an error and the
 * callback will not be called: RINGLOG_ERR_UNKNOWN_TOPIC,
 * RINGLOG_ERR_UNKNOWN_PARTITION, RINGLOG_ERR_QUEUE_FULL,
 * RINGLOG_ERR_MSG_TOO_LARGE, RINGLOG_ERR_TIMED_OUT (metadata or room did not
 * come in max-block-ms), RINGLOG_ERR_INVALID_ARG, RINGLOG_ERR_FATAL.
 */
int ringlog_produce(ringlog_producer *p, const ringlog_record *rec);

/*
 * Queues count records, in order, as ringlog_produce would one by one, but
 * taking the producer's lock once per run of records rather than once per
 * record: for applications that have several records at hand (a read
 * buffer, a burst of events), where per-call overhead dominates with small
 * records. Records with timestamp 0 all get the time of the call. Stops at
 * the first record that fails: returns RINGLOG_OK when all were queued,
 * else that record's error (the codes of ringlog_produce). *queued (may be
 * NULL) is how many records, from the start of recs, were queued: each of
 * those gets exactly one delivery report; recs[*queued] is the one that
 * failed, and none after it was tried. Thread-safe; may block as
 * ringlog_produce does.
 */
int ringlog_produce_batch(ringlog_producer *p, const ringlog_record *recs, size_t count,
                          size_t *queued);

/*
 * Serves the producer's callbacks on the calling thread (librdkafka's
 * rd_kafka_poll): delivery reports, errors and statistics that are due,
 * waiting up to timeout_ms (< 0: forever, 0: not at all) for the first
 * one. Call it regularly: reports not yet served keep their records'
 * bytes in the buffer. Returns how many callbacks were made (>= 0), or
 * RINGLOG_ERR_IN_CALLBACK from a callback, RINGLOG_ERR_INVALID_ARG. With
 * callbacks-on-io-thread it only waits (the I/O thread serves) and
 * returns 0. Thread-safe; one thread serves at a time (reports stay in
 * order), another caller meanwhile waits.
 */
int ringlog_poll(ringlog_producer *p, int timeout_ms);

/*
 * ringlog_poll with a timeout in microseconds (< 0: forever, 0: not at
 * all), for an application that paces its own sends and wants each
 * delivery report the moment it arrives rather than at its next
 * millisecond: it waits for reports until its next send is due.
 */
int ringlog_poll_us(ringlog_producer *p, int64_t timeout_us);

/*
 * Sends every queued record without waiting for linger-ms and waits until
 * each has been reported to the delivery callback, serving the callbacks
 * itself (as ringlog_poll) in the default mode. timeout_ms < 0 waits
 * forever. Thread-safe. RINGLOG_OK, RINGLOG_ERR_TIMED_OUT, or
 * RINGLOG_ERR_IN_CALLBACK from a callback.
 */
int ringlog_producer_flush(ringlog_producer *p, int timeout_ms);

/* Records produced and not yet reported. Thread-safe. */
size_t ringlog_producer_outstanding(ringlog_producer *p);

/*
 * Stops the I/O thread and frees the producer. Records not yet delivered are
 * reported with RINGLOG_ERR_CLOSED (call flush first to deliver them), on
 * the calling thread. Not concurrently with other calls. Returns RINGLOG_OK,
 * or RINGLOG_ERR_IN_CALLBACK (and does nothing: the producer stays usable)
 * when called from one of its callbacks.
 */
int ringlog_producer_destroy(ringlog_producer *p);

/* ------------------------------------------------------------------ consumer */

typedef struct ringlog_consumer ringlog_consumer;

/* Special offsets for assign and seek. */
#define RINGLOG_OFFSET_BEGINNING (-2) /* the log start */
#define RINGLOG_OFFSET_END (-1)       /* the next offset to be written */
#define RINGLOG_OFFSET_STORED (-1000) /* the group's committed offset, else auto-offset-reset */

typedef struct ringlog_topic_partition {
    const char *topic;
    int32_t partition;
    int64_t offset; /* an offset >= 0 or one of RINGLOG_OFFSET_* */
} ringlog_topic_partition;

/*
 * A consumed record.
 *
 * !!! BORROWED when it comes from ringlog_consumer_poll: the message and
 * !!! everything it points to (topic, key, value, headers) are valid ONLY
 * !!! until the next call on the same consumer (poll, seek, assign, pause,
 * !!! close, destroy). Code that keeps messages across polls, or collects
 * !!! them to process in batches, must use ringlog_consumer_poll_owned or
 * !!! ringlog_consumer_poll_batch (owned, freed with ringlog_message_destroy)
 * !!! or copy them with ringlog_message_dup. Keeping a borrowed message is
 * !!! a use-after-free (under AddressSanitizer the library poisons its bytes
 * !!! when the loan ends, so the first read of a kept one faults).
 */
typedef struct ringlog_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    const void *key; /* NULL: null key */
    size_t key_len;
    const void *value; /* NULL: null value */
    size_t value_len;
    const ringlog_header *headers;
    size_t header_count;
} ringlog_message;

/*
 * Creates a consumer and starts its I/O thread. With `group` set, committed
 * offsets are read and written for that group; enable-auto-commit commits
 * the positions of polled messages every auto-commit-interval-ms and on
 * destroy. NULL on failure, with a reason in errbuf.
 *
 * Threading: poll, assign, seek, commit, position and destroy are meant for
 * one application thread at a time (they are serialized internally, but a
 * message returned by poll is invalidated by the next of these calls).
 */
ringlog_consumer *ringlog_consumer_new(const ringlog_conf *conf, char *errbuf, size_t errlen);

/*
 * Replaces the assignment with `tps` (n may be 0 to unassign). Each entry
 * starts at its offset: >= 0, RINGLOG_OFFSET_BEGINNING, RINGLOG_OFFSET_END or
 * RINGLOG_OFFSET_STORED. Non-blocking: offsets are looked up and fetching
 * starts in the background; prefetched data of dropped partitions is
 * discarded. RINGLOG_OK or RINGLOG_ERR_INVALID_ARG / RINGLOG_ERR_NOMEM.
 * For partitions you manage yourself; a subscribed consumer's assignment is
 * the group coordinator's (ringlog_consumer_subscribe).
 */
int ringlog_consumer_assign(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n);

/*
 * Adds partitions to the assignment (RINGLOG_ERR_STATE if one is assigned
 * already) or takes some out, leaving every other partition's position and
 * prefetched data alone.
 */
int ringlog_consumer_incremental_assign(ringlog_consumer *c, const ringlog_topic_partition *tps,
                                        size_t n);
int ringlog_consumer_incremental_unassign(ringlog_consumer *c, const ringlog_topic_partition *tps,
                                          size_t n);

/* ---- consumer groups (docs/CONSUMER_GROUPS.md) ---- */

typedef enum ringlog_rebalance_event {
    RINGLOG_REBALANCE_ASSIGNED = 1, /* the partitions are yours now; fetching starts after */
    RINGLOG_REBALANCE_REVOKED = 2,  /* give them up: commit what you processed (auto-commit does
                                       it right after this callback) */
    RINGLOG_REBALANCE_LOST = 3,     /* taken away (session expired, fenced): do not commit */
} ringlog_rebalance_event;

/*
 * Called from ringlog_consumer_poll (or close) on the application thread
 * whenever the group moves partitions to or from this consumer. tps lists
 * them (offsets unset). Calling poll from it is not allowed; commits are.
 */
typedef void (*ringlog_rebalance_cb)(ringlog_consumer *c, ringlog_rebalance_event event,
                                     const ringlog_topic_partition *tps, size_t n, void *opaque);
int ringlog_consumer_set_rebalance_cb(ringlog_consumer *c, ringlog_rebalance_cb cb, void *opaque);

/*
 * Joins the consumer group of the `group` config and shares the partitions
 * of these topics (or of every topic the POSIX extended regex matches,
 * checked again as topics appear) with its other members. The broker's
 * coordinator assigns them (group-assignor: uniform, the default, or
 * range); partitions move incrementally: a revoked partition is committed
 * (with enable-auto-commit) and released before its new owner starts, and
 * members keeping theirs never stop. Needs `group`, and no partitions
 * assigned by hand (RINGLOG_ERR_STATE; ringlog_consumer_assign is refused
 * the same way while subscribed). Configs: session-timeout-ms, rebalance-timeout-ms,
 * group-instance-id (static membership), group-assignor.
 */
int ringlog_consumer_subscribe(ringlog_consumer *c, const char *const *topics, size_t n);
int ringlog_consumer_subscribe_pattern(ringlog_consumer *c, const char *pattern);
/* Leaves the group (partitions revoked, committed): the consumer has no assignment after. */
int ringlog_consumer_unsubscribe(ringlog_consumer *c);
/* The member id the coordinator gave ("" before joining) and its epoch, into buf. */
int ringlog_consumer_member_id(ringlog_consumer *c, char *buf, size_t len, int32_t *epoch);

/*
 * Moves an assigned partition to `offset` (>= 0 or RINGLOG_OFFSET_*).
 * Non-blocking; prefetched data from the old position is discarded.
 * RINGLOG_ERR_STATE when the partition is not assigned.
 */
int ringlog_consumer_seek(ringlog_consumer *c, const char *topic, int32_t partition,
                          int64_t offset);

/* Moves an assigned partition to the first offset whose timestamp is >= ts_ms (or to the end). */
int ringlog_consumer_seek_timestamp(ringlog_consumer *c, const char *topic, int32_t partition,
                                    int64_t ts_ms);

/*
 * Returns the next message of any assigned partition. Waits up to timeout_ms
 * (< 0: forever, 0: never), serving the error and statistics callbacks
 * meanwhile (default callback mode). Every batch is checksum-verified and
 * decompressed before its records are returned. Returns RINGLOG_OK with
 * *msg set; RINGLOG_ERR_TIMED_OUT when nothing arrived; or an event about a
 * partition with *msg naming it (topic, partition, offset; no key, value
 * or headers) and its text in ringlog_consumer_errstr(): RINGLOG_ERR_CORRUPT,
 * RINGLOG_ERR_OFFSET_OUT_OF_RANGE with auto-offset-reset=error,
 * RINGLOG_ERR_NO_OFFSET, RINGLOG_ERR_UNKNOWN_TOPIC and
 * RINGLOG_ERR_UNKNOWN_PARTITION (the cluster does not have it: reported
 * once, and fetching starts should it appear), RINGLOG_ERR_PARTITION_EOF
 * (enable-partition-eof); consumption of the other partitions continues.
 * RINGLOG_ERR_IN_CALLBACK from a callback.
 *
 * *msg is BORROWED (see ringlog_message): valid until the next call on c.
 */
int ringlog_consumer_poll(ringlog_consumer *c, int timeout_ms, const ringlog_message **msg);

/*
 * ringlog_consumer_poll, but *msg is the application's: one allocation,
 * valid until ringlog_message_destroy(*msg), whatever the consumer does
 * meanwhile (even after its destroy). Set for events too (see poll).
 */
int ringlog_consumer_poll_owned(ringlog_consumer *c, int timeout_ms, ringlog_message **msg);

/*
 * Up to `max` owned messages at once into msgs[0, *count): waits up to
 * timeout_ms for the first, then takes what is already fetched without
 * waiting. RINGLOG_OK with *count >= 1; RINGLOG_ERR_TIMED_OUT with 0; or
 * an event as poll returns it (then *count is 1 and msgs[0] names the
 * partition). An event met after some messages is returned by the next
 * call, so no message is reordered around it. Free each message with
 * ringlog_message_destroy.
 */
int ringlog_consumer_poll_batch(ringlog_consumer *c, int timeout_ms, ringlog_message **msgs,
                                size_t max, size_t *count);

/* An owned copy of any message (borrowed or owned). NULL on allocation failure. */
ringlog_message *ringlog_message_dup(const ringlog_message *m);

/* Frees an owned message. NULL is fine. Never pass a borrowed one. */
void ringlog_message_destroy(ringlog_message *m);

/*
 * Stops fetching the listed partitions (offset ignored) until resumed;
 * prefetched messages of them are dropped, so poll returns none, and
 * resume goes on from the position (the next message poll would have
 * returned). Pausing a paused partition does nothing. RINGLOG_OK, or
 * RINGLOG_ERR_STATE (nothing changed) when one is not assigned.
 * (librdkafka's rd_kafka_pause_partitions.)
 */
int ringlog_consumer_pause(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n);

/* Fetches the listed paused partitions again, from their position. Errors as pause. */
int ringlog_consumer_resume(ringlog_consumer *c, const ringlog_topic_partition *tps, size_t n);

/*
 * The low (log start) and high (high watermark) offsets of an assigned
 * partition as of its last fetch answer, without a request (librdkafka's
 * rd_kafka_get_watermark_offsets); -1 before the first answer.
 * RINGLOG_ERR_STATE when not assigned.
 */
int ringlog_consumer_get_watermark_offsets(ringlog_consumer *c, const char *topic,
                                           int32_t partition, int64_t *low, int64_t *high);

/* Text of the last error poll or commit returned; "" when none. Valid until the next call. */
const char *ringlog_consumer_errstr(ringlog_consumer *c);

/* The next offset poll will return for the partition, or -1 if not known yet. */
int ringlog_consumer_position(ringlog_consumer *c, const char *topic, int32_t partition,
                              int64_t *offset);

/*
 * Commits the current positions of every assigned partition for the group
 * and waits for the broker's answer, up to timeout_ms (< 0: forever).
 * RINGLOG_ERR_STATE without a group.
 */
int ringlog_consumer_commit(ringlog_consumer *c, int timeout_ms);

/* Commits explicit offsets (the next offset to read) for the group, blocking like commit. */
int ringlog_consumer_commit_offsets(ringlog_consumer *c, const ringlog_topic_partition *tps,
                                    size_t n, int timeout_ms);

/* Reads the group's committed offset of one partition (-1: none), blocking up to timeout_ms. */
int ringlog_consumer_committed(ringlog_consumer *c, const char *topic, int32_t partition,
                               int64_t *offset, int timeout_ms);

/*
 * For each entry, the earliest offset whose timestamp is >= tps[i].offset
 * (a timestamp in ms, or RINGLOG_OFFSET_BEGINNING / RINGLOG_OFFSET_END for
 * the log start / end), written back into tps[i].offset; -1 when no record
 * is that recent (librdkafka's rd_kafka_offsets_for_times). The partitions
 * need not be assigned. One request per leader, waiting up to timeout_ms
 * (< 0: forever) in all. RINGLOG_OK; or the first entry's error
 * (UNKNOWN_TOPIC, UNKNOWN_PARTITION, ... with its text in
 * ringlog_consumer_errstr; that entry's offset is -1, the others are
 * filled); RINGLOG_ERR_TIMED_OUT (tps unchanged); RINGLOG_ERR_INVALID_ARG.
 */
int ringlog_consumer_offsets_for_times(ringlog_consumer *c, ringlog_topic_partition *tps, size_t n,
                                       int timeout_ms);

/*
 * Stops consuming: commits the positions with auto-commit (up to
 * request-timeout-ms), unassigns everything and serves the last error
 * and statistics callbacks. The consumer may then only be destroyed
 * (other calls return RINGLOG_ERR_STATE). RINGLOG_OK, the commit's error,
 * or RINGLOG_ERR_IN_CALLBACK (nothing done) from a callback.
 */
int ringlog_consumer_close(ringlog_consumer *c);

/*
 * Closes (if not closed yet), stops the I/O thread and frees. RINGLOG_OK,
 * or RINGLOG_ERR_IN_CALLBACK (and nothing is done) from a callback.
 */
int ringlog_consumer_destroy(ringlog_consumer *c);

/* ------------------------------------------------------------------ admin */

typedef struct ringlog_admin ringlog_admin;

/* Zero fields mean the broker default; -1 means unlimited for retention. */
typedef struct ringlog_topic_config {
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t segment_bytes;
    int64_t segment_ms;
} ringlog_topic_config;

/*
 * A topic's cleanup policy and compaction settings (docs/STORAGE.md,
 * "Compaction"); zero fields mean the broker default. Its own struct, so
 * ringlog_topic_config keeps its RINGLOG_0.1 layout.
 */
typedef struct ringlog_topic_cleanup {
    /* "delete" (retention), "compact" (keep the newest record of every key),
     * "compact,delete"; NULL or "": the default, delete. */
    const char *policy;
    int64_t delete_retention_ms;      /* compaction keeps a tombstone this long (24 h) */
    double min_cleanable_dirty_ratio; /* compact once this share is not compacted (0.5) */
    int64_t min_compaction_lag_ms;    /* a segment this young is not compacted */
} ringlog_topic_cleanup;

typedef struct ringlog_partition_info {
    int32_t partition;
    int err;        /* per-partition error, RINGLOG_OK normally */
    int32_t leader; /* node id, -1: none */
    int32_t leader_epoch;
    const int32_t *replicas;
    size_t replica_count;
    const int32_t *isr;
    size_t isr_count;
    int64_t start_offset; /* log start */
    int64_t end_offset;   /* log end: next offset to be written */
    int64_t high_watermark;
} ringlog_partition_info;

typedef struct ringlog_topic_info {
    const char *name;
    ringlog_topic_config config;
    const ringlog_partition_info *partitions; /* ordered by partition */
    size_t partition_count;
} ringlog_topic_info;

/*
 * An admin client. Every call is blocking (up to request-timeout-ms), talks
 * to the first bootstrap broker that answers, and is serialized internally:
 * thread-safe but not concurrent. No I/O thread.
 */
ringlog_admin *ringlog_admin_new(const ringlog_conf *conf, char *errbuf, size_t errlen);
void ringlog_admin_destroy(ringlog_admin *a);

/* partitions / replication_factor 0: broker default; config may be NULL. */
int ringlog_admin_create_topic(ringlog_admin *a, const char *name, int32_t partitions,
                               int32_t replication_factor, const ringlog_topic_config *config,
                               char *errbuf, size_t errlen);

/* The same with a cleanup policy (NULL: the default); INVALID_CONFIG for a bad one. */
int ringlog_admin_create_topic_cleanup(ringlog_admin *a, const char *name, int32_t partitions,
                                       int32_t replication_factor,
                                       const ringlog_topic_config *config,
                                       const ringlog_topic_cleanup *cleanup, char *errbuf,
                                       size_t errlen);

int ringlog_admin_delete_topic(ringlog_admin *a, const char *name, char *errbuf, size_t errlen);

/*
 * Users and ACLs (docs/SECURITY.md). A broker with a user requires SASL
 * (security.protocol sasl_plaintext or sasl_tls); with a user or an ACL it
 * enforces ACLs. Creating a user derives its SCRAM-SHA-256 and -512
 * credentials here (salted, 4096 iterations): the password never leaves
 * the process. Creating an existing user replaces its password. The
 * caller needs ALTER on the cluster (DESCRIBE to list), or to be a super
 * user.
 */
int ringlog_admin_create_user(ringlog_admin *a, const char *name, const char *password,
                              char *errbuf, size_t errlen);
/* RINGLOG_ERR_UNKNOWN_USER when there is none of that name. */
int ringlog_admin_delete_user(ringlog_admin *a, const char *name, char *errbuf, size_t errlen);
/* Every user's name, sorted. *names is one allocation: free it with ringlog_free(). */
int ringlog_admin_list_users(ringlog_admin *a, char ***names, size_t *count, char *errbuf,
                             size_t errlen);

typedef enum {
    RINGLOG_ACL_TOPIC = 1,
    RINGLOG_ACL_GROUP = 2,
    RINGLOG_ACL_CLUSTER = 3,
} ringlog_acl_resource;

typedef enum {
    RINGLOG_ACL_READ = 1,
    RINGLOG_ACL_WRITE = 2,
    RINGLOG_ACL_CREATE = 3,
    RINGLOG_ACL_DELETE = 4,
    RINGLOG_ACL_DESCRIBE = 5,
    RINGLOG_ACL_ALTER = 6,
} ringlog_acl_operation;

/* One rule: principal "User:NAME" ("User:*": everyone) may (or, deny, may not) do operation on
 * the resource named name (a prefix of names when prefix; "" and 0 for the cluster). */
typedef struct {
    const char *principal;
    ringlog_acl_resource resource;
    const char *name;
    int prefix;
    ringlog_acl_operation operation;
    int deny;
} ringlog_acl;

/* Adding an ACL that exists changes nothing; removing one that does not is INVALID_REQUEST. */
int ringlog_admin_add_acl(ringlog_admin *a, const ringlog_acl *acl, char *errbuf, size_t errlen);
int ringlog_admin_remove_acl(ringlog_admin *a, const ringlog_acl *acl, char *errbuf, size_t errlen);
/* Every ACL. *acls is one allocation (strings inside): free it with ringlog_free(). */
int ringlog_admin_list_acls(ringlog_admin *a, ringlog_acl **acls, size_t *count, char *errbuf,
                            size_t errlen);

/*
 * Every topic name, sorted. *names is one allocation holding the array and
 * the strings: free it with ringlog_free().
 */
int ringlog_admin_list_topics(ringlog_admin *a, char ***names, size_t *count, char *errbuf,
                              size_t errlen);

/*
 * Partitions, leader, replicas, in-sync replicas, offsets and config of one
 * topic. *info is one allocation: free it with ringlog_free().
 */
int ringlog_admin_describe_topic(ringlog_admin *a, const char *name, ringlog_topic_info **info,
                                 char *errbuf, size_t errlen);

typedef struct ringlog_broker_info {
    int32_t node_id;
    const char *host;
    int32_t port;
    bool reachable; /* it answered a Metadata request during the describe */
} ringlog_broker_info;

typedef struct ringlog_cluster_info {
    int32_t controller; /* node id of the controller (the metadata log's leader), -1: none */
    const ringlog_broker_info *brokers;
    size_t broker_count;
} ringlog_cluster_info;

/*
 * The cluster's brokers (each probed once) and its controller. *info is one
 * allocation: free it with ringlog_free(). A single broker lists itself.
 */
int ringlog_admin_describe_cluster(ringlog_admin *a, ringlog_cluster_info **info, char *errbuf,
                                   size_t errlen);

/* ---- consumer groups (docs/CONSUMER_GROUPS.md) ---- */

typedef struct ringlog_group_listing {
    const char *group;
    const char *state; /* empty, assigning, reconciling, stable */
    int32_t members;
} ringlog_group_listing;

/* Every group the brokers coordinate, sorted by name; *groups is one allocation (ringlog_free). */
int ringlog_admin_list_groups(ringlog_admin *a, ringlog_group_listing **groups, size_t *count,
                              char *errbuf, size_t errlen);

typedef struct ringlog_group_member_info {
    const char *member_id;
    const char *instance_id; /* "" unless static */
    const char *client_id;
    int32_t epoch;
    const ringlog_topic_partition *assignment; /* owned now (offsets unset) */
    size_t assignment_count;
} ringlog_group_member_info;

typedef struct ringlog_group_offset_info {
    const char *topic;
    int32_t partition;
    int64_t committed;     /* -1: nothing committed */
    int64_t log_end;       /* the partition's high watermark, -1 unknown */
    int64_t lag;           /* log_end - committed, -1 unknown */
    const char *member_id; /* its owner, "" none */
} ringlog_group_offset_info;

typedef struct ringlog_group_info {
    const char *group;
    const char *state;
    const char *assignor;
    int32_t epoch;
    const ringlog_group_member_info *members;
    size_t member_count;
    const ringlog_group_offset_info *offsets; /* committed or owned partitions, sorted */
    size_t offset_count;
    int64_t total_lag;
} ringlog_group_info;

/* Members, assignments, committed offsets, log ends and lag; RINGLOG_ERR_UNKNOWN_GROUP for none.
 * *info is one allocation (ringlog_free). */
int ringlog_admin_describe_group(ringlog_admin *a, const char *group, ringlog_group_info **info,
                                 char *errbuf, size_t errlen);

/* Deletes a group with no members (RINGLOG_ERR_GROUP_NOT_EMPTY otherwise) and its offsets. */
int ringlog_admin_delete_group(ringlog_admin *a, const char *group, char *errbuf, size_t errlen);

/*
 * Sets the committed offset of every partition of `topic` for an empty
 * group (RINGLOG_ERR_GROUP_NOT_EMPTY while it has members): `to` is
 * RINGLOG_OFFSET_BEGINNING, RINGLOG_OFFSET_END, an offset (clamped into
 * each partition's range) or, with RINGLOG_OFFSET_TIMESTAMP, the first
 * offset at or after timestamp_ms (the end where there is none).
 */
#define RINGLOG_OFFSET_TIMESTAMP (-1001)
int ringlog_admin_reset_group_offsets(ringlog_admin *a, const char *group, const char *topic,
                                      int64_t to, int64_t timestamp_ms, char *errbuf,
                                      size_t errlen);
/*
 * Moves a cluster partition to `replicas` (1 to 8 broker ids, the first its
 * preferred leader), online: the controller records the move, then the
 * partition's leader adds each new replica as a learner, promotes it once
 * it has caught up, and only then removes the replicas left out (itself
 * last, after handing leadership to a new replica). Returns once the
 * controller has recorded it; ringlog_admin_describe_topic shows the
 * partition's replicas as its leader knows them, equal to `replicas` (as a
 * set) when the move is done. RINGLOG_ERR_INVALID_REPLICA_ASSIGNMENT for
 * unknown, repeated or decommissioned brokers.
 */
int ringlog_admin_reassign_partition(ringlog_admin *a, const char *topic, int32_t partition,
                                     const int32_t *replicas, size_t count, char *errbuf,
                                     size_t errlen);

/*
 * Moves every replica off broker node_id to the brokers holding the fewest
 * (online, as a reassignment), and places no new replica there. *moved
 * (may be NULL): how many partitions it moves.
 */
int ringlog_admin_decommission_broker(ringlog_admin *a, int32_t node_id, size_t *moved,
                                      char *errbuf, size_t errlen);

/*
 * A topic config (Kafka's names: retention.ms, retention.bytes,
 * segment.bytes, segment.ms, cleanup.policy, delete.retention.ms,
 * min.cleanable.dirty.ratio, min.compaction.lag.ms) and its value as text.
 */
typedef struct ringlog_config_entry {
    const char *name;
    const char *value;
    bool is_default; /* the broker's default: never set, or deleted */
} ringlog_config_entry;

/*
 * Every config of `topic` in effect (Kafka's DescribeConfigs). *entries is
 * one allocation: free it with ringlog_free(). UNKNOWN_TOPIC.
 */
int ringlog_admin_describe_configs(ringlog_admin *a, const char *topic,
                                   ringlog_config_entry **entries, size_t *count, char *errbuf,
                                   size_t errlen);

typedef enum ringlog_config_op {
    RINGLOG_CONFIG_SET = 0,    /* name = value */
    RINGLOG_CONFIG_DELETE = 1, /* back to the broker's default */
} ringlog_config_op;

typedef struct ringlog_config_alter {
    const char *name;
    ringlog_config_op op;
    const char *value; /* RINGLOG_CONFIG_SET only */
} ringlog_config_alter;

/*
 * Changes some configs of `topic`, the others keep their values (Kafka's
 * IncrementalAlterConfigs): all of them or none, applied live to every
 * partition (on every broker of a cluster) and persisted. validate_only:
 * checked, not applied. INVALID_CONFIG (with the reason in errbuf) for an
 * unknown name or a bad value, UNKNOWN_TOPIC.
 */
int ringlog_admin_alter_configs(ringlog_admin *a, const char *topic,
                                const ringlog_config_alter *alters, size_t n, bool validate_only,
                                char *errbuf, size_t errlen);

/*
 * Grows `topic` to `total` partitions (Kafka's CreatePartitions). Only
 * increases: INVALID_PARTITIONS when total is not more than it has.
 * Producers and consumers see the new partitions at their next metadata
 * refresh (metadata-max-age-ms, or sooner on an error).
 */
int ringlog_admin_create_partitions(ringlog_admin *a, const char *topic, int32_t total,
                                    char *errbuf, size_t errlen);

/* One partition's offset in a list-offsets or delete-records call, and its own result. */
typedef struct ringlog_partition_offset {
    int32_t partition;
    int err;           /* out: this partition's result (RINGLOG_OK, UNKNOWN_PARTITION, ...) */
    int64_t offset;    /* in and out: as each call says */
    int64_t timestamp; /* list offsets: the found record's timestamp (-1: none or not by time) */
} ringlog_partition_offset;

/*
 * Kafka's ListOffsets, asked of each partition's leader: in, offset is
 * RINGLOG_OFFSET_BEGINNING (the log start), RINGLOG_OFFSET_END (the high
 * watermark) or a timestamp in ms (the first record at or after it); out,
 * the offset (-1 when no record is that recent) and its timestamp. Returns
 * RINGLOG_OK when every partition was answered (each with its own err), or
 * the error that kept the call from being made (UNKNOWN_TOPIC, transport).
 */
int ringlog_admin_list_offsets(ringlog_admin *a, const char *topic, ringlog_partition_offset *parts,
                               size_t n, char *errbuf, size_t errlen);

/*
 * Kafka's DeleteRecords: each partition's log start moves to its offset (at
 * most the high watermark; -1: the high watermark). Records below are no
 * longer readable (OFFSET_OUT_OF_RANGE), list offsets' earliest is the new
 * start, and retention deletes the segments wholly below it; it survives
 * restarts, and on a cluster every replica moves its start there. Out,
 * offset is the new log start (low watermark), err the partition's result
 * (OFFSET_OUT_OF_RANGE above the high watermark). Returns as list_offsets.
 */
int ringlog_admin_delete_records(ringlog_admin *a, const char *topic,
                                 ringlog_partition_offset *parts, size_t n, char *errbuf,
                                 size_t errlen);

/* Frees memory the library handed out (list and describe results). NULL is fine. */
void ringlog_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif
