/*
 * Splits a byte stream (stdin of `ringlog produce`) into records at a
 * delimiter of one or more bytes ("\n" by default, "\0" for values that
 * hold newlines). The last record needs no delimiter after it. A signal
 * (Ctrl-C) interrupts a blocked read instead of being reported as an I/O
 * error.
 */
#ifndef RINGLOG_CLI_RECORDS_H
#define RINGLOG_CLI_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

/* The longest record accepted: a broker's default largest frame. */
#define RECORDS_MAX_BYTES (16u << 20)

struct record_reader {
    int fd;
    const char *delim;
    size_t dlen;
    char *buf;
    size_t start, len, cap; /* unread bytes are buf[start, len) */
    bool eof;
};

enum record_status {
    RECORD_OK = 1,
    RECORD_END = 0,
    RECORD_ERROR = -1,       /* errno says why (EMSGSIZE: longer than RECORDS_MAX_BYTES) */
    RECORD_INTERRUPTED = -2, /* a signal arrived while reading */
};

void record_reader_init(struct record_reader *r, int fd, const char *delim, size_t dlen);
void record_reader_free(struct record_reader *r);

/* The next record in *rec (valid until the next call) and *len. */
enum record_status record_next(struct record_reader *r, const char **rec, size_t *len);

#endif
