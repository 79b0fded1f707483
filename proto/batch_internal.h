/* Shared between batch.c and batch_compress.c; not part of the API. */
#ifndef RINGLOG_PROTO_BATCH_INTERNAL_H
#define RINGLOG_PROTO_BATCH_INTERNAL_H

#include "batch.h"

/* Writes every header field of a batch of total size `total` into out, then the checksum. */
void rl_batch_write_header(const struct rl_batch_builder *b, uint8_t *out, size_t total,
                           uint16_t attributes);

#endif
