/*
 * The CLI's pure pieces: splitting stdin into records at a delimiter of one
 * or more bytes (also when a read ends inside the delimiter), delimiter
 * escapes, per-subcommand option parsing, and the JSON form of a message
 * (UTF-8 as text, other bytes as base64).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "format.h"
#include "records.h"

struct trickle {
    int fd;
    const char *data;
    size_t len, step;
};

/* Writes the data a few bytes per write, so reads end anywhere, even inside a delimiter. */
static void *trickle_writer(void *arg)
{
    struct trickle *t = arg;
    for (size_t off = 0; off < t->len; off += t->step) {
        size_t n = t->len - off < t->step ? t->len - off : t->step;
        cr_assert_eq(write(t->fd, t->data + off, n), (ssize_t)n);
        usleep(200);
    }
    close(t->fd);
    return NULL;
}

/* Splits data (written step bytes at a time) at delim; returns the records joined by '|'. */
static char *split(const char *data, size_t len, const char *delim, size_t step)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct trickle t = {fds[1], data, len, step};
    pthread_t th;
    pthread_create(&th, NULL, trickle_writer, &t);
    struct record_reader r;
    record_reader_init(&r, fds[0], delim, strlen(delim) ? strlen(delim) : 1);
    static char joined[4096];
    size_t n = 0;
    const char *rec;
    size_t rlen;
    enum record_status st;
    while ((st = record_next(&r, &rec, &rlen)) == RECORD_OK) {
        cr_assert_lt(n + rlen + 1, sizeof(joined));
        memcpy(joined + n, rec, rlen);
        n += rlen;
        joined[n++] = '|';
    }
    cr_assert_eq(st, RECORD_END);
    joined[n] = '\0';
    record_reader_free(&r);
    pthread_join(th, NULL);
    close(fds[0]);
    return joined;
}

Test(cli_units, records_split_at_any_delimiter)
{
    for (size_t step = 1; step <= 7; step += 3) {
        cr_assert_str_eq(split("a\nbb\n\nlast", 10, "\n", step), "a|bb||last|");
        cr_assert_str_eq(split("a\nb\n", 4, "\n", step), "a|b|", "no empty record at the end");
        cr_assert_str_eq(split("one--two---three--", 18, "--", step), "one|two|-three|");
        cr_assert_str_eq(split("x<END>y<EN<END>", 15, "<END>", step), "x|y<EN|");
        cr_assert_str_eq(split("", 0, "\n", step), "");
    }
    static const char zero[] = "k=v\nw\0second\0";
    cr_assert_str_eq(split(zero, sizeof(zero) - 1, "", 2), "k=v\nw|second|", "\\0 delimits");
}

Test(cli_units, a_record_longer_than_the_buffer_grows_it)
{
    size_t len = 300 * 1024;
    char *big = malloc(len);
    memset(big, 'x', len);
    big[len - 1] = '\n';
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct trickle t = {fds[1], big, len, 8192};
    pthread_t th;
    pthread_create(&th, NULL, trickle_writer, &t);
    struct record_reader r;
    record_reader_init(&r, fds[0], "\n", 1);
    const char *rec;
    size_t rlen;
    cr_assert_eq(record_next(&r, &rec, &rlen), RECORD_OK);
    cr_assert_eq(rlen, len - 1);
    cr_assert_eq(record_next(&r, &rec, &rlen), RECORD_END);
    record_reader_free(&r);
    pthread_join(th, NULL);
    close(fds[0]);
    free(big);
}

Test(cli_units, delimiter_escapes)
{
    char out[8];
    cr_assert_eq(cli_unescape("\\n", out, sizeof(out)), 1);
    cr_assert_eq(out[0], '\n');
    cr_assert_eq(cli_unescape("\\0", out, sizeof(out)), 1);
    cr_assert_eq(out[0], '\0');
    cr_assert_eq(cli_unescape("a\\tb\\\\", out, sizeof(out)), 4);
    cr_assert_eq(memcmp(out, "a\tb\\", 4), 0);
    cr_assert_eq(cli_unescape("", out, sizeof(out)), 0, "empty");
    cr_assert_eq(cli_unescape("\\q", out, sizeof(out)), 0, "unknown escape");
    cr_assert_eq(cli_unescape("x\\", out, sizeof(out)), 0, "lone backslash");
    cr_assert_eq(cli_unescape("123456789", out, sizeof(out)), 0, "too long");
}

static const struct cli_flag FLAGS[] = {
    {"count", "N", "", false}, {"json", NULL, "", false}, {"header", "K=V", "", true}};
static const struct cli_cmd CMD = {"test", "TOPIC", 1, 1, "", FLAGS, 3, NULL};

static int parse(struct cli_args *a, const char *const *words)
{
    int n = 0;
    while (words[n])
        n++;
    return cli_args_parse(&CMD, n, (char **)words, NULL, a);
}
#define PARSE(a, ...) parse(a, (const char *const[]){__VA_ARGS__, NULL})

Test(cli_units, options_per_subcommand)
{
    struct cli_args a;
    cr_assert_eq(PARSE(&a, "--count=3", "t", "--json", "--header", "a=1", "--header=b=2"), 0);
    cr_assert_str_eq(cli_arg(&a, "count"), "3");
    cr_assert(cli_has(&a, "json"));
    cr_assert_eq(a.nrepeated, 2);
    cr_assert_str_eq(a.repeated[1], "b=2");
    cr_assert_str_eq(a.operands[0], "t");
    cr_assert_eq(PARSE(&a, "t", "--", "--json"), 2, "a second operand");
    cr_assert_eq(PARSE(&a, "--", "--json"), 0);
    cr_assert_str_eq(a.operands[0], "--json");
    cr_assert(!cli_has(&a, "json"));
    cr_assert_eq(PARSE(&a, "t", "--partition", "1"), 2, "not this command's flag");
    cr_assert_eq(PARSE(&a, "t", "--json=yes"), 2, "a switch takes no value");
    cr_assert_eq(PARSE(&a, "t", "--count"), 2, "a missing value");
    cr_assert_eq(PARSE(&a, "--count", "1"), 2, "a missing operand");
    cr_assert_eq(PARSE(&a, "t", "-c"), 2);
    cr_assert_eq(PARSE(&a, "t", "--bootstrap", ""), 2);
    cr_assert_eq(PARSE(&a, "t", "--bootstrap", "h:1"), 0);
    cr_assert_str_eq(a.bootstrap, "h:1");
}

Test(cli_units, dash_x_configuration_pairs)
{
    struct cli_args a;
    cr_assert_eq(PARSE(&a, "-X", "linger.ms=5", "t", "-Xacks=all", "--json", "-X", "a=b=c"), 0);
    cr_assert_eq(a.nconf, 3);
    cr_assert_str_eq(a.conf[0], "linger.ms=5");
    cr_assert_str_eq(a.conf[1], "acks=all");
    cr_assert_str_eq(a.conf[2], "a=b=c", "the value may hold '='");
    cr_assert(cli_has(&a, "json"));
    cr_assert_eq(PARSE(&a, "t", "-X"), 2, "a missing pair");
    cr_assert_eq(PARSE(&a, "t", "-X", "novalue"), 2);
    cr_assert_eq(PARSE(&a, "t", "-X", "=v"), 2, "an empty key");
    cr_assert_eq(PARSE(&a, "t", "--", "-X"), 2, "after --, -X is an operand (a second one here)");
    /* Applied in order over the configuration; the library's refusal is a usage error. */
    ringlog_conf *c = ringlog_conf_new();
    char buf[64];
    cr_assert_eq(PARSE(&a, "t", "-X", "linger.ms=7", "-X", "linger-ms=9", "-X", "acks=-1"), 0);
    cr_assert_eq(cli_conf_apply(c, &a), 0);
    cr_assert_eq(ringlog_conf_get(c, "linger-ms", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "9");
    cr_assert_eq(ringlog_conf_get(c, "acks", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "all");
    cr_assert_eq(PARSE(&a, "t", "-X", "compression.type=snappy"), 0);
    cr_assert_eq(cli_conf_apply(c, &a), 2);
    ringlog_conf_destroy(c);
}

/* The JSON form of a message, as a string (static). */
static const char *json_of(const ringlog_message *m)
{
    static char buf[1024];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    cli_format_message_json(f, m);
    fclose(f);
    return buf;
}

Test(cli_units, message_json_text_binary_and_null)
{
    ringlog_header h[] = {{"h", 1, "\x80", 1}, {"n", 1, NULL, 0}};
    ringlog_message m = {.topic = "t",
                         .partition = 1,
                         .offset = 2,
                         .timestamp = 3,
                         .key = "k\"\n",
                         .key_len = 3,
                         .value = "h\xc3\xa9llo",
                         .value_len = 6,
                         .headers = h,
                         .header_count = 2};
    cr_assert_str_eq(json_of(&m), "{\"topic\":\"t\",\"partition\":1,\"offset\":2,\"timestamp\":3,"
                                  "\"key\":\"k\\\"\\n\",\"value\":\"h\xc3\xa9llo\",\"headers\":["
                                  "{\"key\":\"h\",\"value_base64\":\"gA==\"},"
                                  "{\"key\":\"n\",\"value\":null}]}");
    m.key = NULL;
    m.value = "\xed\xa0\x80z"; /* a UTF-16 surrogate is not UTF-8 */
    m.value_len = 4;
    m.header_count = 0;
    cr_assert_str_eq(json_of(&m), "{\"topic\":\"t\",\"partition\":1,\"offset\":2,\"timestamp\":3,"
                                  "\"key\":null,\"value_base64\":\"7aCAeg==\",\"headers\":[]}");
}
