/*
 * Names that cross the wire and become directory or file names: topics and
 * consumer groups. One rule for every process, so the client, the handlers
 * and the storage engine can never disagree about what a name may be (they
 * once did: the wire allowed 249 characters, storage 200, and a 201-character
 * topic crashed the broker while unwinding the failed create).
 */
#ifndef RINGLOG_PROTO_NAMES_H
#define RINGLOG_PROTO_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* Kafka's limit; a directory name of 249 bytes leaves room under NAME_MAX (255). */
#define RL_TOPIC_NAME_MAX 249
/* Group names become file names with a suffix, hence shorter. */
#define RL_GROUP_NAME_MAX 200

/* 1..RL_TOPIC_NAME_MAX characters of [A-Za-z0-9._-], not "." or "..". */
bool rl_topic_name_valid(const char *name);

/* 1..RL_GROUP_NAME_MAX characters of [A-Za-z0-9._-], not starting with '.'. */
bool rl_group_name_valid(const char *name);

#endif
