/*
 * Writes the fuzz targets' seed corpora and protobuf dictionaries from the
 * real encoders: record batches from the batch builder (every codec),
 * Requests and Responses of every body type from protobuf-c's pack of
 * messages filled in by walking the schema's descriptors, so a message
 * added to ringlog.proto gets its seeds and tags with no change here.
 *
 * Usage: fuzz_make_corpus DIR (the tests/fuzz folder): writes
 * DIR/corpus/NAME/gen-* and DIR/dict/{frame,produce,fetch}.dict, the same
 * bytes on every run. It checks what it writes: every produce request and
 * fetch response parses in place, every batch validates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "batch.h"
#include "fetch_parse.h"
#include "frame.h"
#include "produce_parse.h"

enum { MAX_BATCH = 4096, MAX_MSG = 1 << 16, MAX_TAGS = 512, FILL_DEPTH = 4 };

static const char *g_dir;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_make_corpus: %s\n", what);
    exit(1);
}

static void write_file(const char *sub, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", g_dir, sub);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", g_dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die(path);
}

/* ---------------------------------------------------------------- batches */

enum { V_ONE, V_MANY, V_IDEMPOTENT, N_VARIANTS };
static const char *const variant_names[] = {"one", "many", "idempotent"};
static const char *const codec_names[] = {"none", "lz4", "zstd"};

/* The records of one variant into a builder: nulls, headers, timestamps out of order. */
static void add_records(struct rl_batch_builder *b, int variant)
{
    static const struct rl_header_in hdrs[] = {{"trace", 5, "abc", 3}, {"empty", 5, NULL, 0}};
    struct rl_record_in r = {
        .key = "k", .key_len = 1, .value = "hello", .value_len = 5, .timestamp = 1733220000000};
    if (rl_batch_builder_add(b, &r) != RL_OK)
        die("builder");
    if (variant != V_MANY)
        return;
    struct rl_record_in more[] = {
        {NULL, 0, "no key", 6, 1733220000500, hdrs, 2},
        {"null value", 10, NULL, 0, 1733219999000, NULL, 0},
        {"", 0, "", 0, 1733220000001, hdrs + 1, 1},
    };
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        if (rl_batch_builder_add(b, &more[i]) != RL_OK)
            die("builder");
}

/* One finished batch of `variant` with `codec` into out; returns its size. */
static size_t make_batch(int variant, rl_codec codec, uint8_t *out)
{
    static uint8_t plain[MAX_BATCH];
    struct rl_batch_producer idem = {.producer_id = 7, .producer_epoch = 1, .base_sequence = 0};
    struct rl_batch_builder b;
    rl_batch_builder_init(&b, plain, sizeof(plain), variant == V_IDEMPOTENT ? &idem : NULL);
    add_records(&b, variant);
    size_t n;
    int status = RL_OK;
    if (codec == RL_CODEC_NONE) {
        n = rl_batch_builder_finish(&b);
        memcpy(out, plain, n);
    } else {
        n = rl_batch_builder_finish_compressed(&b, codec, out, MAX_BATCH, &status);
    }
    struct rl_batch_header h;
    if (n == 0 || status != RL_OK || rl_batch_validate(out, n, n, &h) != RL_OK)
        die("a built batch does not validate");
    return n;
}

/* fuzz_batch: each variant and codec, and three batches back to back. fuzz_records:
 * the uncompressed records after the target's 17-byte header. */
static void write_batches(void)
{
    static uint8_t run[3 * MAX_BATCH], rec[MAX_BATCH + 17];
    size_t run_len = 0;
    for (int v = 0; v < N_VARIANTS; v++) {
        for (int c = RL_CODEC_NONE; c <= RL_CODEC_ZSTD; c++) {
            uint8_t batch[MAX_BATCH];
            size_t n = make_batch(v, (rl_codec)c, batch);
            char name[64];
            snprintf(name, sizeof(name), "gen-%s-%s", variant_names[v], codec_names[c]);
            write_file("corpus/batch", name, batch, n);
            if (v == c) {
                memcpy(run + run_len, batch, n);
                run_len += n;
            }
            if (c != RL_CODEC_NONE)
                continue;
            memcpy(rec, batch + RL_BATCH_OFF_RECORD_COUNT, 4);
            memcpy(rec + 4, batch + RL_BATCH_OFF_LAST_OFFSET_DELTA, 4);
            memcpy(rec + 8, batch + RL_BATCH_OFF_FIRST_TIMESTAMP, 8);
            rec[16] = (uint8_t)v;
            memcpy(rec + 17, batch + RL_BATCH_HEADER_BYTES, n - RL_BATCH_HEADER_BYTES);
            snprintf(name, sizeof(name), "gen-%s", variant_names[v]);
            write_file("corpus/records", name, rec, 17 + n - RL_BATCH_HEADER_BYTES);
        }
    }
    write_file("corpus/batch", "gen-run", run, run_len);
}

/* ---------------------------------------------------------------- messages */

static struct rl_arena g_arena;
static ProtobufCBinaryData g_records; /* what every `bytes` field carries */

static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4; /* 32-bit integers, enums, bool (protobuf_c_boolean), float */
    }
}

static void *fill_message(const ProtobufCMessageDescriptor *d, int depth);

/* A plausible value for one field: its number for integers, its name for strings. */
static void fill_value(const ProtobufCFieldDescriptor *f, void *at, int depth)
{
    uint64_t n = f->id;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)at = f->name;
        break;
    case PROTOBUF_C_TYPE_BYTES:
        *(ProtobufCBinaryData *)at = g_records;
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        *(void **)at = fill_message(f->descriptor, depth + 1);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)at = e->values[e->n_values > 1 ? 1 : 0].value;
        break;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)at = (float)n;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)at = (double)n;
        break;
    default:
        if (element_size(f->type) == 8)
            memcpy(at, &n, 8);
        else
            *(uint32_t *)at = (uint32_t)n;
    }
}

/*
 * A message of type d with every field set (two elements of each repeated
 * one) except members of a oneof, which the caller chooses. Below
 * FILL_DEPTH, nested messages stay empty.
 */
static void *fill_message(const ProtobufCMessageDescriptor *d, int depth)
{
    void *msg = rl_arena_alloc(&g_arena, d->sizeof_message);
    if (!msg)
        die("arena");
    d->message_init(msg);
    if (depth >= FILL_DEPTH)
        return msg;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            continue;
        void *at = (char *)msg + f->offset;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            fill_value(f, at, depth);
            continue;
        }
        size_t size = element_size(f->type);
        char *items = rl_arena_alloc(&g_arena, 2 * size);
        if (!items)
            die("arena");
        fill_value(f, items, depth);
        fill_value(f, items + size, depth);
        *(size_t *)((char *)msg + f->quantifier_offset) = 2;
        *(void **)at = items;
    }
    return msg;
}

/* The envelope d (Request or Response) with its oneof member `body` set. */
static ProtobufCMessage *envelope(const ProtobufCMessageDescriptor *d,
                                  const ProtobufCFieldDescriptor *body, int empty_body)
{
    ProtobufCMessage *msg = fill_message(d, 0);
    *(uint32_t *)((char *)msg + body->quantifier_offset) = body->id;
    void *member =
        empty_body ? fill_message(body->descriptor, FILL_DEPTH) : fill_message(body->descriptor, 1);
    *(void **)((char *)msg + body->offset) = member;
    return msg;
}

/* ---------------------------------------------------------------- writers */

struct tags {
    char items[MAX_TAGS][8];
    size_t n;
};

/*
 * Writes one envelope for its parse target (produce: requests, fetch:
 * responses) and, framed behind fuzz_frame's read-size byte, for
 * fuzz_frame; with in_place, the target's parse must take it in place.
 */
static void write_example(const char *target, const char *name, const ProtobufCMessage *msg,
                          int in_place)
{
    static uint8_t buf[MAX_MSG + 5];
    if (rl_frame_size(msg) > MAX_MSG)
        die("an example is too large");
    size_t n = rl_frame_write(msg, buf + 1);
    buf[0] = 0xff;
    char path[64], framed[160];
    snprintf(path, sizeof(path), "corpus/%s", target);
    write_file(path, name, buf + 5, n - 4);
    snprintf(framed, sizeof(framed), "gen-%s-%s", msg->descriptor->short_name, name + 4);
    write_file("corpus/frame", framed, buf, n + 1);
    /* fuzz_request reads the same shape (a write-size byte, then the stream)
     * and needs the current api_version, or every seed stops at dispatch. */
    if (msg->descriptor == &ringlog__request__descriptor) {
        static uint8_t current[MAX_MSG + 5];
        Ringlog__Request copy = *(const Ringlog__Request *)msg;
        copy.api_version = RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        current[0] = 0xff;
        size_t m = rl_frame_write(&copy.base, current + 1);
        write_file("corpus/request", framed, current, m + 1);
    }
    int rc = RL_OK;
    if (in_place && strcmp(target, "produce") == 0) {
        Ringlog__Request *req;
        rc = rl_produce_request_parse(buf + 5, n - 4, &g_arena, &req);
    } else if (in_place) {
        Ringlog__Response resp;
        rc = rl_fetch_response_parse(buf + 5, n - 4, &g_arena, &resp);
    }
    if (rc != RL_OK)
        die("an example does not parse in place");
}

/* Whether a message of type d (below FILL_DEPTH) carries a `bytes` field. */
static int has_bytes(const ProtobufCMessageDescriptor *d, int depth)
{
    for (unsigned i = 0; i < d->n_fields && depth < FILL_DEPTH; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_BYTES ||
            (f->type == PROTOBUF_C_TYPE_MESSAGE && has_bytes(f->descriptor, depth + 1)))
            return 1;
    }
    return 0;
}

/* Every body of the envelope d, filled and empty; those with records with every codec. */
static void write_envelopes(const ProtobufCMessageDescriptor *d, const char *target)
{
    static uint8_t batch[MAX_BATCH];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *body = &d->fields[i];
        if (!(body->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        int codecs = has_bytes(body->descriptor, 1) ? RL_CODEC_ZSTD : RL_CODEC_NONE;
        for (int c = RL_CODEC_NONE; c <= codecs; c++) {
            size_t n = make_batch(c == RL_CODEC_NONE ? V_MANY : V_IDEMPOTENT, (rl_codec)c, batch);
            g_records = (ProtobufCBinaryData){.len = n, .data = batch};
            ProtobufCMessage *msg = envelope(d, body, 0);
            if (d == &ringlog__request__descriptor)
                ((Ringlog__Request *)msg)->api_version =
                    RINGLOG__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
            else
                ((Ringlog__Response *)msg)->error = RINGLOG__ERROR_CODE__NONE;
            char name[128];
            snprintf(name, sizeof(name), "gen-%s-%s", body->name, codecs ? codec_names[c] : "full");
            int in_place = strcmp(body->name, target) == 0;
            write_example(target, name, msg, in_place);
            if (c == RL_CODEC_NONE) {
                snprintf(name, sizeof(name), "gen-%s-empty", body->name);
                write_example(target, name, envelope(d, body, 1), in_place);
            }
            rl_arena_reset(&g_arena);
        }
    }
}

/* The key bytes of field number `id` with wire type `wire`, once each. */
static void add_tag(struct tags *t, uint32_t id, unsigned wire)
{
    uint8_t key[8];
    size_t n = rl_varint_put(key, (uint64_t)id << 3 | wire);
    char text[8] = {0};
    memcpy(text, key, n);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->items[i], text) == 0)
            return;
    if (t->n == MAX_TAGS)
        die("too many tags");
    memcpy(t->items[t->n++], text, sizeof(text));
}

static unsigned wire_type(const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED && (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED))
        return 2;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    default:
        return 0;
    }
}

/* The tags of every field of d and of every message below it. */
static void collect_tags(struct tags *t, const ProtobufCMessageDescriptor *d, int depth)
{
    if (depth > 8)
        return;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        add_tag(t, f->id, wire_type(f));
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            collect_tags(t, f->descriptor, depth + 1);
    }
}

static void write_dict(const char *name, const struct tags *t)
{
    static char text[MAX_TAGS * 64];
    /* Varint shapes parsers disagree on: padding that makes an encoding
     * overlong, the largest 32- and 64-bit values, a 10th byte above 1. */
    size_t n = (size_t)snprintf(text, sizeof(text),
                                "# Field keys of %s and varint shapes (fuzz_make_corpus).\n"
                                "\"\\x80\\x80\\x80\\x80\"\n\"\\xff\\xff\\xff\\xff\\x0f\"\n"
                                "\"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x01\"\n"
                                "\"\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x80\\x7f\"\n",
                                name);
    for (size_t i = 0; i < t->n; i++) {
        /* Each key as written, then padded to six bytes (overlong, the same number). */
        for (int padded = 0; padded <= 1; padded++) {
            size_t len = strlen(t->items[i]);
            n += (size_t)snprintf(text + n, sizeof(text) - n, "\"");
            for (size_t k = 0; k < (padded ? 6 : len); k++) {
                uint8_t c = k < len ? (uint8_t)t->items[i][k] : 0;
                if (padded && k < 5)
                    c |= 0x80;
                n += (size_t)snprintf(text + n, sizeof(text) - n, "\\x%02x", c);
            }
            n += (size_t)snprintf(text + n, sizeof(text) - n, "\"\n");
        }
    }
    char file[64];
    snprintf(file, sizeof(file), "%s.dict", name);
    write_file("dict", file, text, n);
}

/* fuzz_config and fuzz_format: every setting, comments, and typical mistakes. */
static void write_texts(void)
{
    static const char *const configs[][2] = {
        {"gen-every-key", "data-dir = /var/lib/ringlog\nlisten = 127.0.0.1:7171\n"
                          "metrics = 127.0.0.1:7172\nnode-id = 3\n"
                          "peers = 1@127.0.0.1:7171,2@127.0.0.1:7181,3@127.0.0.1:7191\n"
                          "shards = 2\nflush = interval:50\ncache-keep-bytes = all\n"
                          "max-frame-bytes = 1048576\nmax-connections = 100\n"
                          "default-partitions = 4\nlog-level = debug\n"},
        {"gen-comments", "# ringlogd.conf\n\n   \t\n  # indented comment\nflush = none\r\n"
                         "metrics=off\ncache-keep-bytes=4096"},
        {"gen-unknown-key", "shards = 1\nbogus = 1\n"},
        {"gen-no-equals", "flush always\n"},
        {"gen-nested", "config = other.conf\n"},
        {"gen-bad-values", "listen = nohost\nshards = 65\nflush = interval:0\n"},
    };
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
        write_file("corpus/config", configs[i][0], configs[i][1], strlen(configs[i][1]));
    /* The most peers, with long host names: a line near the length limit. */
    static char peers[8192];
    size_t n = (size_t)snprintf(peers, sizeof(peers), "peers = ");
    for (int i = 1; i <= 16; i++)
        n += (size_t)snprintf(peers + n, sizeof(peers) - n, "%s%d@broker-%d.%0200d.example:%d",
                              i > 1 ? "," : "", i, i, 0, 7171 + 10 * i);
    write_file("corpus/config", "gen-long-peers", peers, n);
    static const char *const formats[][2] = {
        {"gen-default", "%v"},
        {"gen-every-directive", "%t:%p:%o %k=%v [%h] @%T %%\\n\\t\\\\\\0"},
        {"gen-bad-directive", "%v %x"},
        {"gen-bad-escape", "\\q%v"},
        {"gen-trailing", "%v\\"},
    };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        write_file("corpus/format", formats[i][0], formats[i][1], strlen(formats[i][1]));
    /* fuzz_json: flags, key length, key, value (fuzz_json.c). */
    static const struct {
        const char *name, *bytes;
        size_t len;
    } messages[] = {
        {"gen-text", "\x08\x03keyhello \"world\"\n", 19},
        {"gen-binary",
         "\x08\x04\xff\xfe\x00\x01"
         "caf\xc3\xa9\xed\xa0\x80",
         14},
        {"gen-nulls", "\x0f\x01k", 3},
    };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
        write_file("corpus/json", messages[i].name, messages[i].bytes, messages[i].len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_corpus DIR (the tests/fuzz folder)\n");
        return 2;
    }
    g_dir = argv[1];
    char path[4096];
    snprintf(path, sizeof(path), "%s/corpus", g_dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    rl_arena_init(&g_arena, 4096, 64 << 20);
    write_batches();
    write_envelopes(&ringlog__request__descriptor, "produce");
    write_envelopes(&ringlog__response__descriptor, "fetch");
    write_texts();
    static struct tags req, resp, both;
    collect_tags(&req, &ringlog__request__descriptor, 0);
    collect_tags(&resp, &ringlog__response__descriptor, 0);
    collect_tags(&both, &ringlog__request__descriptor, 0);
    collect_tags(&both, &ringlog__response__descriptor, 0);
    write_dict("produce", &req);
    write_dict("fetch", &resp);
    write_dict("frame", &both);
    write_dict("request", &req);
    rl_arena_destroy(&g_arena);
    printf("fuzz_make_corpus: wrote %s/corpus and %s/dict\n", g_dir, g_dir);
    return 0;
}
