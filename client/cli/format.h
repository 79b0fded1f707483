/*
 * The `ringlog consume --format` language: %t topic, %p partition, %o
 * offset, %k key, %v value, %h headers (k=v,k=v), %T timestamp (ms), %% a
 * percent sign; \n, \t,
 * \\ and \0 escapes. Keys and values are written byte for byte (binary
 * safe); a null key or value prints nothing.
 */
#ifndef RINGLOG_CLI_FORMAT_H
#define RINGLOG_CLI_FORMAT_H

#include <stddef.h>
#include <stdio.h>

#include "ringlog.h"

/* 0 when fmt is valid; else -1 with a reason in err. */
int cli_format_check(const char *fmt, char *err, size_t errlen);

/* Writes one message as fmt says (no newline added). Returns 0, or -1 on a write error. */
int cli_format_message(FILE *out, const char *fmt, const ringlog_message *m);

/* Formats a describe line: "partition=P leader=ID replicas=ID,ID isr=ID,ID start=O end=O hw=O". */
void cli_format_partition(FILE *out, const ringlog_partition_info *p);

/*
 * One message as a JSON object (no newline): topic, partition, offset,
 * timestamp, key, value and headers ([{"key":...,"value":...}, ...]).
 * Keys and values that are UTF-8 are JSON strings; any other bytes go in
 * "key_base64" / "value_base64" instead; null is null.
 */
void cli_format_message_json(FILE *out, const ringlog_message *m);

/* ["a","b"] and a newline. */
void cli_format_names_json(FILE *out, char *const *names, size_t n);

/* The whole topic as one JSON object line. */
void cli_format_topic_json(FILE *out, const ringlog_topic_info *t);

/* A topic's configs as one JSON object line: {"topic":...,"configs":[{"name","value","default"}]}.
 */
void cli_format_configs_json(FILE *out, const char *topic, const ringlog_config_entry *e, size_t n);

#endif
