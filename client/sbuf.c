#include "sbuf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Makes room for `more` bytes plus the NUL. */
static bool reserve(struct rl_sbuf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *nb = realloc(b->buf, cap);
    if (!nb) {
        b->failed = true;
        return false;
    }
    b->buf = nb;
    b->cap = cap;
    return true;
}

void rl_sbuf_printf(struct rl_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    assert(b->len < b->cap);
}

void rl_sbuf_json_str(struct rl_sbuf *b, const char *s)
{
    rl_sbuf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            rl_sbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            rl_sbuf_printf(b, "\\u%04x", *p);
        else if (reserve(b, 1))
            b->buf[b->len++] = (char)*p;
    }
    rl_sbuf_printf(b, "\"");
}

char *rl_sbuf_take(struct rl_sbuf *b, size_t *len)
{
    if (b->failed || !reserve(b, 0)) {
        free(b->buf);
        *b = (struct rl_sbuf){0};
        return NULL;
    }
    b->buf[b->len] = '\0';
    char *out = b->buf;
    *len = b->len;
    *b = (struct rl_sbuf){0};
    return out;
}
