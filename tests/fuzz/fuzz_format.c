/*
 * The `ringlog consume --format` language (client/cli/format.c): the input,
 * up to its first NUL, is the format string as argv would carry it.
 *
 * cli_format_check must accept exactly the formats cli_format_message can
 * write, and the output must be what docs/CLIENT.md's directives say, byte
 * for byte: a small independent reading of the language computes it here.
 * A refused format gets a NUL-terminated reason.
 */
#include <inttypes.h>
#include <string.h>

#include "format.h"
#include "fuzz_check.h"

/* What fmt should print for m, or -1 when fmt is not in the language. */
static long expected(const char *fmt, const ringlog_message *m, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = fmt; *p; p++) {
        char piece[32];
        const void *bytes = piece;
        size_t len = 1;
        if (*p == '%' || *p == '\\') {
            char kind = *p++;
            const char *tab = kind == '%' ? "tpokvhT%" : "nt\\0";
            if (!*p || !strchr(tab, *p))
                return -1;
            if (kind == '\\') {
                piece[0] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == '0' ? '\0' : '\\';
            } else if (*p == 't' || *p == 'k' || *p == 'v') {
                bytes = *p == 't' ? (const void *)m->topic : *p == 'k' ? m->key : m->value;
                len = *p == 't' ? strlen(m->topic) : *p == 'k' ? m->key_len : m->value_len;
                len = bytes ? len : 0;
            } else if (*p == 'h') {
                /* The test message's headers, "k=v" joined by ',' (a null value: nothing). */
                static const char headers[] = "trace=\x01\x00x,empty=,=";
                bytes = headers;
                len = sizeof(headers) - 1;
            } else if (*p == '%') {
                piece[0] = '%';
            } else {
                int64_t v = *p == 'p' ? m->partition : *p == 'o' ? m->offset : m->timestamp;
                len = (size_t)snprintf(piece, sizeof(piece), "%" PRId64, v);
            }
        } else {
            piece[0] = *p;
        }
        FUZZ_CHECK(n + len <= cap);
        if (len)
            memcpy(out + n, bytes, len);
        n += len;
    }
    return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char fmt[4097];
    memcpy(fmt, data, size);
    fmt[size] = '\0';
    static const ringlog_header headers[] = {
        {"trace", 5, "\x01\x00x", 3}, {"empty", 5, NULL, 0}, {"", 0, "", 0}};
    /* Binary key and value; the value is null when the format is odd-sized. */
    ringlog_message m = {.topic = "orders-eu",
                         .partition = 2147483647,
                         .offset = INT64_MIN,
                         .timestamp = 1733220000123,
                         .key = "k\0\xff",
                         .key_len = 3,
                         .value = (size & 1) ? NULL : "v%\\n",
                         .value_len = 4,
                         .headers = headers,
                         .header_count = 3};
    static char want[4096 * 32], got[4096 * 32];
    long want_len = expected(fmt, &m, want, sizeof(want));
    char err[256];
    memset(err, 'x', sizeof(err));
    int check = cli_format_check(fmt, err, sizeof(err));
    FUZZ_CHECK((check == 0) == (want_len >= 0));
    if (check != 0) {
        FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL && err[0] != '\0');
        return 0;
    }
    FILE *out = fmemopen(got, sizeof(got), "w");
    FUZZ_CHECK(out != NULL);
    setvbuf(out, NULL, _IONBF, 0);
    FUZZ_CHECK(cli_format_message(out, fmt, &m) == 0);
    long got_len = ftell(out);
    fclose(out);
    FUZZ_CHECK(got_len == want_len && memcmp(got, want, (size_t)want_len) == 0);
    return 0;
}
