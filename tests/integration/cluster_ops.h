/*
 * Client-side steps on a test cluster of peer_cluster.h nodes: create a
 * replicated topic through the controller, find partition 0's leader (as
 * every live replica agrees), produce numbered acks=all batches, read a
 * replica's committed data back, and find a batch in a segment file.
 */
#ifndef RINGLOG_TESTS_CLUSTER_OPS_H
#define RINGLOG_TESTS_CLUSTER_OPS_H

#include <stdint.h>

#include "peer_cluster.h"
#include "ringlog.pb-c.h"

/* Sends req to the live nodes in turn until one is the controller (the others answer
 * NOT_CONTROLLER), 20 s at most; the first error code of its answer. */
int ops_controller_call(struct node *nodes, int n, Ringlog__Request *req);
/* Creates the topic through whichever node is the controller (20 s at most), retention
 * unlimited (the test batches' 2023 timestamps). */
void ops_create(struct node *nodes, int n, const char *topic, uint32_t partitions, uint32_t rf);
/* The same with cfg (NULL: the broker's defaults). */
void ops_create_with(struct node *nodes, int n, const char *topic, uint32_t partitions, uint32_t rf,
                     const Ringlog__TopicConfig *cfg);
/* Asks the controller to move the partition's replicas to ids (the first is the preferred
 * leader); the answer's error code. */
int ops_reassign_error(struct node *nodes, int n, const char *topic, uint32_t partition,
                       const int *ids, int count);
/* The same, asserting success. */
void ops_reassign(struct node *nodes, int n, const char *topic, uint32_t partition, const int *ids,
                  int count);
/* Partition 0 as node x sees it: its leader (-1: none), log end and high watermark. */
int ops_leader_seen_by(const struct node *x, const char *topic, int64_t *end, int64_t *hw);
/* The leader of partition 0 every live node agrees on, not `not` and itself live, within
 * timeout_ms; -1 when none. */
int ops_wait_leader(struct node *nodes, int n, const char *topic, int not, int timeout_ms);
/* The leader every live node agrees on, once it is partition 0's preferred replica. */
int ops_wait_settled(struct node *nodes, int n, const char *topic);
/* Waits until node x's high watermark of partition 0 reaches hw; false after 15 s. */
bool ops_wait_hw(const struct node *x, const char *topic, int64_t hw);
/* Batch `seq` (3 records "m<seq>...") to node `x` with acks=all; the error code. */
int ops_produce(const struct node *x, const char *topic, int seq);
/* The same with acks 1 or -1 (all). */
int ops_produce_acks(const struct node *x, const char *topic, int seq, int32_t acks);
/* Reads partition 0 from x up to its high watermark, counting each batch's seq in seen[];
 * returns the high watermark. Asserts offsets without gaps and no fetch error. */
int64_t ops_read_all(const struct node *x, const char *topic, int *seen, int max_seq);
/* A fetch of partition 0 at offset: its error code, and the batches' bytes (NULL ok). */
int ops_fetch_error(const struct node *x, const char *topic, int64_t offset, size_t *records_len);
/* The first segment file of partition 0 of topic on node x. */
void ops_segment_path(const struct node *x, const char *topic, char *out, size_t cap);
/* A batch of a segment file: where it is, its offsets, whether it is a control batch. */
struct seg_batch {
    int64_t base, last;
    uint64_t pos;
    uint32_t len;
    bool control;
};

/* The batches of a segment file, in order (up to max); returns how many. */
uint32_t ops_segment_batches(const char *path, struct seg_batch *out, uint32_t max);
/* The data (non-control) batch number `n` of a segment file (asserts there is one). */
struct seg_batch ops_data_batch(const char *path, int n);
/* The end position of the batches below offset `upto` in a segment file. */
uint64_t ops_data_end(const char *path, int64_t upto);
/* Bytes [0, len) of a file (malloc'd); NULL when shorter. */
uint8_t *ops_file_prefix(const char *path, size_t len);

#endif
