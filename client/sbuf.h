/*
 * A growable text buffer for the statistics JSON: appends never fail
 * visibly; an allocation failure marks the buffer failed and the caller
 * drops the result (rl_sbuf_take returns NULL).
 */
#ifndef RINGLOG_CLIENT_SBUF_H
#define RINGLOG_CLIENT_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct rl_sbuf {
    char *buf;
    size_t len, cap;
    bool failed;
};

void rl_sbuf_printf(struct rl_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal (quotes and escapes). */
void rl_sbuf_json_str(struct rl_sbuf *b, const char *s);

/* The text (malloc'ed, NUL-terminated; *len without the NUL), or NULL if anything failed. */
char *rl_sbuf_take(struct rl_sbuf *b, size_t *len);

#endif
