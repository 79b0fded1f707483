/*
 * A copy-free parse of a Response frame whose body is a FetchResponse, the
 * consumer's side of produce_parse.h: protobuf-c's unpack copies every
 * partition's `records`, which was the last copy of every consumed byte in
 * the client. This builds the same protobuf-c structures in an arena with
 * each `records` pointing into the frame, which the caller keeps alive.
 *
 * Only the shape the broker sends is taken: the schema's fields with their
 * wire types and `fetch` once. Anything else returns RL_FETCH_PARSE_FALLBACK
 * and the caller uses protobuf-c, so both paths mean the same frames.
 */
#ifndef RINGLOG_PROTO_FETCH_PARSE_H
#define RINGLOG_PROTO_FETCH_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ringlog.pb-c.h"

enum { RL_FETCH_PARSE_OK = 0, RL_FETCH_PARSE_FALLBACK = 1, RL_FETCH_PARSE_NOMEM = -1 };

/*
 * Parses frame[0, len) into *resp (initialised here), with everything it
 * points to allocated from `arena` except the record bytes, which stay in
 * the frame. On FALLBACK or NOMEM the arena may hold partial allocations.
 */
int rl_fetch_response_parse(const uint8_t *frame, size_t len, struct rl_arena *arena,
                            Ringlog__Response *resp);

#endif
