/*
 * A minimal blocking wire client for broker tests: connect, send a Request
 * (or raw bytes), read one Response. Deliberately separate from libringlog
 * so broker tests can send what no well-behaved client would.
 */
#ifndef RINGLOG_TESTS_WIRE_H
#define RINGLOG_TESTS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ringlog.pb-c.h"

int wire_connect(uint16_t port);
/* Connects from a given loopback source address (e.g. "127.0.0.2"). */
int wire_connect_from(const char *source, uint16_t port);
int wire_send_raw(int fd, const void *buf, size_t len);
int wire_send(int fd, Ringlog__Request *req);
/* Reads one response frame (timeout ms); NULL on timeout, EOF or garbage. Free with
 * ringlog__response__free_unpacked(resp, NULL). An error anywhere in it without a
 * message beside it (docs/PROTOCOL.md) aborts the test. */
Ringlog__Response *wire_recv(int fd, int timeout_ms);
/* The first non-zero error code in a response, the request-level one or any result's
 * inside its body (depth first); 0 when there is none. */
int wire_first_error(const Ringlog__Response *resp);
/* 1 when the peer closed the connection within timeout_ms. */
int wire_peer_closed(int fd, int timeout_ms);

/* Request builders (static storage inside is per call; send before the next). */
Ringlog__Response *wire_call(int fd, Ringlog__Request *req);
Ringlog__Response *wire_create_topic(int fd, const char *name, uint32_t partitions);
/* The same with a segment size (0: the broker's default of 1 GiB). */
Ringlog__Response *wire_create_topic_segments(int fd, const char *name, uint32_t partitions,
                                              int64_t segment_bytes);
/* The same with a retention time too (0: the default; -1: keep forever). The
 * batches of wire_build_batch carry 2023 timestamps, which the default of 7
 * days deletes within a retention check (one a second). */
Ringlog__Response *wire_create_topic_config(int fd, const char *name, uint32_t partitions,
                                            int64_t segment_bytes, int64_t retention_ms);
/* Any partition count, replication factor and segment size (0: defaults), even invalid ones. */
Ringlog__Response *wire_create_topic_with(int fd, const char *name, uint32_t partitions,
                                          uint32_t replication_factor, int64_t segment_bytes);
/* Any config (NULL: none, the broker's defaults). */
Ringlog__Response *wire_create_topic_full(int fd, const char *name, uint32_t partitions,
                                          uint32_t replication_factor,
                                          const Ringlog__TopicConfig *config);
/* A cluster topic: replication factor rf, retention unlimited (the batches' 2023 timestamps). */
Ringlog__Response *wire_create_topic_replicated(int fd, const char *name, uint32_t partitions,
                                                uint32_t rf);
/* Metadata of one topic (NULL: all). */
Ringlog__Response *wire_metadata(int fd, const char *topic);
Ringlog__Response *wire_delete_topic(int fd, const char *name);
Ringlog__Response *wire_produce(int fd, const char *topic, uint32_t partition, int32_t acks,
                                const uint8_t *records, size_t len);
/* Sends a produce request (acks 1) without reading its answer (pipelining). */
void wire_send_produce(int fd, const char *topic, uint32_t partition, const uint8_t *records,
                       size_t len);
/* The same with any acks and api_version (0: the current one); no answer is read. */
void wire_send_produce_as(int fd, const char *topic, uint32_t partition, int32_t acks,
                          uint32_t api_version, const uint8_t *records, size_t len);
Ringlog__Response *wire_fetch(int fd, const char *topic, uint32_t partition, int64_t offset,
                              uint32_t max_wait_ms, uint32_t min_bytes);

/* ListOffsets of one partition (-1 latest, -2 earliest, else a timestamp). */
Ringlog__Response *wire_list_offsets(int fd, const char *topic, uint32_t partition,
                                     int64_t timestamp);
/* InitProducerId: producer_id -1 (and epoch -1) for a new id, else a bump of (id, epoch). */
Ringlog__Response *wire_init_producer_id(int fd, int64_t producer_id, int32_t epoch);

/* Builds an uncompressed batch of n records "<prefix>-<i>" into buf; returns its size. */
/* A whole produce frame (header included, current version) into out; its length. */
size_t wire_produce_frame(uint8_t *out, const char *topic, uint32_t partition, int32_t acks,
                          int32_t correlation_id, const uint8_t *records, size_t len);
size_t wire_build_batch(uint8_t *buf, size_t cap, const char *prefix, int n, int64_t producer_id,
                        int16_t epoch, int32_t base_sequence);

/* GET path from 127.0.0.1:port (HTTP/1.0); the whole answer into out. 0 or -1. */
int wire_http_get(uint16_t port, const char *path, char *out, size_t out_len);

/* A port that was free a moment ago (bind 0, read it, close). */
uint16_t wire_free_port(void);

/* One batch of `keys` records, key k%02d for every k, value "r<round>" (compaction tests: each
 * round overwrites every key); its length, 0 when cap is too small. */
size_t wire_kv_round(uint8_t *buf, size_t cap, int keys, int round);

#endif
