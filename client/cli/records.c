#include "records.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void record_reader_init(struct record_reader *r, int fd, const char *delim, size_t dlen)
{
    assert(delim && dlen > 0);
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->delim = delim;
    r->dlen = dlen;
}

void record_reader_free(struct record_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Moves the unread bytes to the front and makes room to read more. 0, or -1 with errno. */
static int make_room(struct record_reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->len < r->cap)
        return 0;
    if (r->cap >= RECORDS_MAX_BYTES + r->dlen) {
        errno = EMSGSIZE;
        return -1;
    }
    size_t cap = r->cap ? r->cap * 2 : 64 * 1024;
    char *buf = realloc(r->buf, cap);
    if (!buf)
        return -1;
    r->buf = buf;
    r->cap = cap;
    return 0;
}

enum record_status record_next(struct record_reader *r, const char **rec, size_t *len)
{
    size_t from = r->start; /* no delimiter starts before this */
    for (;;) {
        const char *hit = r->len - from >= r->dlen
                              ? memmem(r->buf + from, r->len - from, r->delim, r->dlen)
                              : NULL;
        if (hit || (r->eof && r->start < r->len)) {
            size_t end = hit ? (size_t)(hit - r->buf) : r->len;
            *rec = r->buf + r->start;
            *len = end - r->start;
            r->start = hit ? end + r->dlen : r->len;
            assert(r->start <= r->len);
            return RECORD_OK;
        }
        if (r->eof)
            return RECORD_END;
        /* A delimiter may straddle what we have and what comes next. */
        size_t keep = r->len - r->start < r->dlen ? r->len - r->start : r->dlen - 1;
        size_t scanned = r->len - r->start - keep;
        if (make_room(r) != 0)
            return RECORD_ERROR;
        from = scanned;
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n > 0)
            r->len += (size_t)n;
        else if (n == 0)
            r->eof = true;
        else if (errno == EINTR && cli_signal)
            return RECORD_INTERRUPTED;
        else if (errno != EINTR)
            return RECORD_ERROR;
    }
}
