/*
 * A copy-free parse of a Request frame whose body is a ProduceRequest.
 *
 * protobuf-c's unpack copies every `bytes` field, so a produced batch was
 * copied once to reassemble the frame and once more by the unpack before the
 * broker wrote it. This parser builds the same protobuf-c structures in an
 * arena, with each partition's `records` pointing into the frame itself, so
 * the frame (kept alive by the caller) is the only user-space copy.
 *
 * It takes only the plain shape every client sends: the fields the schema
 * defines, with their wire types, and `produce` once. Anything else (unknown
 * fields, other bodies, a repeated `produce` that protobuf-c would merge,
 * empty records) returns RL_PRODUCE_PARSE_FALLBACK and the caller uses
 * protobuf-c, so both paths accept and mean exactly the same frames.
 */
#ifndef RINGLOG_PROTO_PRODUCE_PARSE_H
#define RINGLOG_PROTO_PRODUCE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ringlog.pb-c.h"

enum { RL_PRODUCE_PARSE_OK = 0, RL_PRODUCE_PARSE_FALLBACK = 1, RL_PRODUCE_PARSE_NOMEM = -1 };

/*
 * Parses frame[0, len) into *out, allocated from `arena` except the record
 * bytes, which stay in the frame. On FALLBACK or NOMEM *out is NULL and the
 * arena may hold partial allocations (reset or destroy it).
 */
int rl_produce_request_parse(const uint8_t *frame, size_t len, struct rl_arena *arena,
                             Ringlog__Request **out);

/* Moves every records pointer of a parsed request from `from` to `to`, for a
 * caller that parsed the frame in place and then copied it. */
void rl_produce_request_rebase(Ringlog__Request *req, const uint8_t *from, const uint8_t *to);

#endif
