/*
 * `ringlog consume --json` (cli_format_message_json, client/cli/format.c):
 * a message's key, value and header bytes are whatever some producer sent,
 * and the CLI writes them as JSON for scripts to read.
 *
 * Input: byte 0 picks what is null (bit 0 the key, bit 1 the value, bit 2
 * the header's value) and whether there is a header (bit 3); byte 1 is the
 * key's length (cut to what is there); the key, then the value, follow. The
 * header is the value as its key and the key as its value.
 *
 * Checked, with a small strict JSON reader of its own: the output is one
 * JSON object of UTF-8 text; each key and value comes back byte for byte,
 * as a string when the bytes are UTF-8 (judged here by decoding code
 * points: no overlong forms, surrogates or values past U+10FFFF), as
 * NAME_base64 otherwise, as null when null.
 */
#include <stdbool.h>
#include <string.h>

#include "format.h"
#include "fuzz_check.h"

enum { MAX_FIELD = 1 << 16, MAX_DEPTH = 4 };

/* One key or value as read back: how it was written and its bytes. */
struct field {
    enum { ABSENT, TEXT, BASE64, JNULL } how;
    uint8_t *bytes;
    size_t len;
};

struct reader {
    const uint8_t *p, *end;
    struct field top[2], header[2]; /* [0] key, [1] value */
    int headers;
};

/* Length of the UTF-8 sequence at s, or 0, by decoding the code point. */
static size_t utf8_seq(const uint8_t *s, size_t left)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = s[0] < 0x80                   ? 1
               : s[0] >= 0xc0 && s[0] < 0xe0 ? 2
               : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
               : s[0] >= 0xf0 && s[0] < 0xf8 ? 4
                                             : 0;
    if (n == 0 || n > left)
        return 0;
    uint32_t cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static bool utf8(const uint8_t *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = utf8_seq(s + i, len - i)) == 0)
            return false;
    return true;
}

static int hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Appends code point cp as UTF-8. */
static void put_cp(uint8_t *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (uint8_t)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (uint8_t)(0xc0 | cp >> 6);
        out[(*n)++] = (uint8_t)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (uint8_t)(0xe0 | cp >> 12);
        out[(*n)++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        out[(*n)++] = (uint8_t)(0x80 | (cp & 0x3f));
    }
}

/* A JSON string at r->p into out (malloc'd, *len bytes); no raw control bytes. */
static uint8_t *read_string(struct reader *r, size_t *len)
{
    FUZZ_CHECK(r->p < r->end && *r->p++ == '"');
    uint8_t *out = malloc((size_t)(r->end - r->p) + 1);
    FUZZ_CHECK(out != NULL);
    size_t n = 0;
    for (;;) {
        FUZZ_CHECK(r->p < r->end);
        uint8_t c = *r->p++;
        if (c == '"')
            break;
        FUZZ_CHECK(c >= 0x20);
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        FUZZ_CHECK(r->p < r->end);
        c = *r->p++;
        const char *plain = strchr("\"\\/bfnrt", c);
        FUZZ_CHECK(c != 0 && (plain || c == 'u'));
        if (plain) {
            out[n++] = (uint8_t) "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
            continue;
        }
        FUZZ_CHECK(r->end - r->p >= 4);
        uint32_t cp = 0;
        for (int i = 0; i < 4; i++) {
            int h = hex(*r->p++);
            FUZZ_CHECK(h >= 0);
            cp = cp << 4 | (uint32_t)h;
        }
        FUZZ_CHECK(cp < 0xd800 || cp > 0xdfff); /* the writer escapes only control bytes */
        put_cp(out, &n, cp);
    }
    FUZZ_CHECK(utf8(out, n));
    *len = n;
    return out;
}

/* Standard base64 with padding into out; returns the length, or dies. */
static size_t unbase64(const uint8_t *s, size_t len, uint8_t *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    FUZZ_CHECK(len % 4 == 0);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *at = s[i + k] ? strchr(abc, s[i + k]) : NULL;
            FUZZ_CHECK(at || (s[i + k] == '=' && k >= 2 && i + 4 == len));
            FUZZ_CHECK(!pad || !at); /* nothing after padding */
            pad += !at;
            v = v << 6 | (uint32_t)(at ? at - abc : 0);
        }
        out[n++] = (uint8_t)(v >> 16);
        if (pad < 2)
            out[n++] = (uint8_t)(v >> 8);
        if (pad < 1)
            out[n++] = (uint8_t)v;
    }
    return n;
}

static void skip_number(struct reader *r)
{
    if (r->p < r->end && *r->p == '-')
        r->p++;
    const uint8_t *start = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++;
    FUZZ_CHECK(r->p > start && (*start != '0' || r->p == start + 1));
}

static void read_value(struct reader *r, int depth, struct field *slots);

/* Records member `name` of a message or header object into slots[0] (key) or [1] (value). */
static void record(struct reader *r, int depth, const uint8_t *name, size_t name_len,
                   struct field *slots)
{
    static const char *const names[] = {"key", "key_base64", "value", "value_base64"};
    for (int i = 0; i < 4; i++) {
        if (name_len != strlen(names[i]) || memcmp(name, names[i], name_len) != 0)
            continue;
        struct field *f = &slots[i / 2];
        FUZZ_CHECK(f->how == ABSENT); /* each once */
        if (r->p < r->end && *r->p == 'n') {
            FUZZ_CHECK(i % 2 == 0 && r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0);
            r->p += 4;
            f->how = JNULL;
            return;
        }
        uint8_t *text = read_string(r, &f->len);
        f->how = i % 2 ? BASE64 : TEXT;
        f->bytes = text;
        if (f->how == BASE64) {
            f->bytes = malloc(f->len + 1);
            FUZZ_CHECK(f->bytes != NULL);
            f->len = unbase64(text, f->len, f->bytes);
            free(text);
        }
        return;
    }
    read_value(r, depth + 1, NULL);
}

/* An object; its key and value members go to slots (a header), or to r->top
 * for the message itself (depth 0). */
static void read_object(struct reader *r, int depth, struct field *slots)
{
    FUZZ_CHECK(depth < MAX_DEPTH && *r->p++ == '{');
    for (int first = 1; r->p < r->end && *r->p != '}'; first = 0) {
        FUZZ_CHECK(first || *r->p++ == ',');
        size_t name_len;
        uint8_t *name = read_string(r, &name_len);
        FUZZ_CHECK(r->p < r->end && *r->p++ == ':');
        struct field *into = slots ? slots : depth == 0 ? r->top : NULL;
        if (depth == 0 && name_len == 7 && memcmp(name, "headers", 7) == 0) {
            FUZZ_CHECK(r->p < r->end && *r->p++ == '[');
            for (; r->p < r->end && *r->p != ']'; r->headers++) {
                FUZZ_CHECK(r->headers == 0 || *r->p++ == ',');
                FUZZ_CHECK(r->headers < 1);
                read_object(r, depth + 1, r->header);
            }
            FUZZ_CHECK(r->p < r->end && *r->p++ == ']');
        } else if (into) {
            record(r, depth, name, name_len, into);
        } else {
            read_value(r, depth + 1, NULL);
        }
        free(name);
    }
    FUZZ_CHECK(r->p < r->end && *r->p++ == '}');
}

static void read_value(struct reader *r, int depth, struct field *slots)
{
    FUZZ_CHECK(r->p < r->end);
    if (*r->p == '{') {
        read_object(r, depth, slots);
    } else if (*r->p == '"') {
        size_t len;
        free(read_string(r, &len));
    } else {
        skip_number(r);
    }
}

/* The field as written must be the bytes given: null, text iff UTF-8, else base64. */
static void check_field(struct field *f, const uint8_t *bytes, size_t len)
{
    if (!bytes) {
        FUZZ_CHECK(f->how == JNULL);
        return;
    }
    FUZZ_CHECK(f->how == (utf8(bytes, len) ? TEXT : BASE64));
    FUZZ_CHECK(f->len == len && (len == 0 || memcmp(f->bytes, bytes, len) == 0));
    free(f->bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > MAX_FIELD)
        return 0;
    uint8_t flags = data[0];
    size_t key_len = data[1] < size - 2 ? data[1] : size - 2;
    const uint8_t *key = data + 2, *value = key + key_len;
    size_t value_len = size - 2 - key_len;
    ringlog_header h = {value, value_len, (flags & 4) ? NULL : key, key_len};
    ringlog_message m = {.topic = "t\"\\\x01\x7f\xc3\xa9",
                         .partition = -1,
                         .offset = INT64_MAX,
                         .timestamp = INT64_MIN,
                         .key = (flags & 1) ? NULL : key,
                         .key_len = key_len,
                         .value = (flags & 2) ? NULL : value,
                         .value_len = value_len,
                         .headers = &h,
                         .header_count = (flags & 8) ? 1 : 0};
    char *text;
    size_t text_len;
    FILE *out = open_memstream(&text, &text_len);
    FUZZ_CHECK(out != NULL);
    cli_format_message_json(out, &m);
    FUZZ_CHECK(fclose(out) == 0);
    struct reader r = {.p = (const uint8_t *)text, .end = (const uint8_t *)text + text_len};
    FUZZ_CHECK(utf8(r.p, text_len));
    read_object(&r, 0, NULL);
    FUZZ_CHECK(r.p == r.end);
    check_field(&r.top[0], m.key, m.key_len);
    check_field(&r.top[1], m.value, m.value_len);
    FUZZ_CHECK(r.headers == (int)m.header_count);
    if (m.header_count) {
        check_field(&r.header[0], h.key, h.key_len);
        check_field(&r.header[1], h.value, h.value_len);
    }
    free(text);
    return 0;
}
