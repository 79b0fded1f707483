/*
 * ringlog: the command-line client (contract in docs: DESIGN.md Part 2).
 *
 *   ringlog [--bootstrap HOST:PORT,...] topic create|list|describe|delete ...
 *   ringlog [--bootstrap ...] produce TOPIC [...]   one message per stdin line
 *   ringlog [--bootstrap ...] consume TOPIC [...]   one message per output line
 *
 * Exit status 0 on success, 1 on an error (one line on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "ringlog.h"

#define EXIT_USAGE 2

static const char USAGE[] =
    "usage: ringlog [--bootstrap HOST:PORT[,HOST:PORT...]] COMMAND ...\n"
    "  topic create NAME [--partitions N] [--replication-factor R] [--retention-ms MS]\n"
    "                    [--retention-bytes B] [--segment-bytes B]\n"
    "  topic list\n"
    "  topic describe NAME [--json]\n"
    "  topic delete NAME\n"
    "  produce TOPIC [--partition P] [--key-separator SEP] [--acks 0|1|all]\n"
    "                [--compression none|lz4|zstd]\n"
    "  consume TOPIC [--partition P] [--from-beginning | --offset N | --from-latest]\n"
    "                [--count N] [--timeout-ms MS] [--group G] [--format FMT]\n"
    "The bootstrap list defaults to $RINGLOG_BOOTSTRAP, else 127.0.0.1:7171.\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ringlog: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAILURE;
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("ringlog: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(USAGE, stderr);
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- options */

struct opts {
    const char *bootstrap;
    const char *positional[3];
    int npositional;
    /* topic */
    const char *partitions, *replication_factor, *retention_ms, *retention_bytes, *segment_bytes;
    bool json;
    /* produce / consume */
    const char *partition, *key_separator, *acks, *compression;
    bool from_beginning, from_latest;
    const char *offset, *count, *timeout_ms, *group, *format;
};

struct opt_def {
    const char *name;
    size_t field; /* offset of a const char * or bool in struct opts */
    bool is_flag;
};

#define O(f) offsetof(struct opts, f)
static const struct opt_def OPTS[] = {
    {"bootstrap", O(bootstrap), false},
    {"partitions", O(partitions), false},
    {"replication-factor", O(replication_factor), false},
    {"retention-ms", O(retention_ms), false},
    {"retention-bytes", O(retention_bytes), false},
    {"segment-bytes", O(segment_bytes), false},
    {"json", O(json), true},
    {"partition", O(partition), false},
    {"key-separator", O(key_separator), false},
    {"acks", O(acks), false},
    {"compression", O(compression), false},
    {"from-beginning", O(from_beginning), true},
    {"from-latest", O(from_latest), true},
    {"offset", O(offset), false},
    {"count", O(count), false},
    {"timeout-ms", O(timeout_ms), false},
    {"group", O(group), false},
    {"format", O(format), false},
};

/* Options may come anywhere; "--name value" or "--name=value". Returns 0 or an exit code. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            printf("ringlog %s\n", ringlog_version());
            exit(0);
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (o->npositional == 3)
                return usage_error("unexpected argument \"%s\"", a);
            o->positional[o->npositional++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt_def *d = NULL;
        for (size_t k = 0; k < sizeof(OPTS) / sizeof(OPTS[0]); k++)
            if (strlen(OPTS[k].name) == len && strncmp(OPTS[k].name, name, len) == 0)
                d = &OPTS[k];
        if (!d)
            return usage_error("unknown option \"%s\"", a);
        if (d->is_flag) {
            if (eq)
                return usage_error("option \"%s\" takes no value", a);
            *(bool *)((char *)o + d->field) = true;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            return usage_error("option \"%s\" needs a value", a);
        *(const char **)((char *)o + d->field) = value;
    }
    return 0;
}

/* Parses a non-negative integer option; -1 (and a message) when it is not one. */
static int64_t int_opt(const char *name, const char *v, int64_t min, int64_t max)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "ringlog: --%s: expected an integer in [%lld, %lld], got \"%s\"\n", name,
                (long long)min, (long long)max, v);
        return INT64_MIN;
    }
    return x;
}

static ringlog_conf *make_conf(const struct opts *o)
{
    ringlog_conf *conf = ringlog_conf_new();
    if (!conf) {
        fail("out of memory");
        return NULL;
    }
    const char *bootstrap = o->bootstrap;
    if (!bootstrap)
        bootstrap = getenv("RINGLOG_BOOTSTRAP");
    if (!bootstrap || !*bootstrap)
        bootstrap = "127.0.0.1:7171";
    char err[256];
    if (ringlog_conf_set(conf, "bootstrap", bootstrap, err, sizeof(err)) ||
        ringlog_conf_set(conf, "client-id", "ringlog-cli", err, sizeof(err))) {
        fail("%s", err);
        ringlog_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* ---------------------------------------------------------------- topic */

static int cmd_topic(const struct opts *o, ringlog_conf *conf)
{
    if (o->npositional < 2)
        return usage_error("topic needs a subcommand%s", "");
    const char *sub = o->positional[1];
    const char *name = o->npositional > 2 ? o->positional[2] : NULL;
    bool needs_name = strcmp(sub, "list") != 0;
    if (needs_name && !name)
        return usage_error("topic %s needs a topic name", sub);
    if (!needs_name && name)
        return usage_error("unexpected argument \"%s\"", name);
    char err[512] = "";
    ringlog_admin *a = ringlog_admin_new(conf, err, sizeof(err));
    if (!a)
        return fail("%s", err);
    int rc = EXIT_SUCCESS, e;
    if (strcmp(sub, "create") == 0) {
        int64_t parts = o->partitions ? int_opt("partitions", o->partitions, 1, 100000) : 0;
        int64_t rf = o->replication_factor
                         ? int_opt("replication-factor", o->replication_factor, 1, 100)
                         : 0;
        ringlog_topic_config cfg = {0};
        cfg.retention_ms =
            o->retention_ms ? int_opt("retention-ms", o->retention_ms, -1, INT64_MAX) : 0;
        cfg.retention_bytes =
            o->retention_bytes ? int_opt("retention-bytes", o->retention_bytes, -1, INT64_MAX) : 0;
        cfg.segment_bytes =
            o->segment_bytes ? int_opt("segment-bytes", o->segment_bytes, 1, INT64_MAX) : 0;
        if (parts == INT64_MIN || rf == INT64_MIN || cfg.retention_ms == INT64_MIN ||
            cfg.retention_bytes == INT64_MIN || cfg.segment_bytes == INT64_MIN) {
            rc = EXIT_USAGE;
        } else if ((e = ringlog_admin_create_topic(a, name, (int32_t)parts, (int32_t)rf, &cfg, err,
                                                   sizeof(err)))) {
            rc = fail("topic create %s: %s: %s", name, ringlog_err_name(e), err);
        }
    } else if (strcmp(sub, "delete") == 0) {
        if ((e = ringlog_admin_delete_topic(a, name, err, sizeof(err))))
            rc = fail("topic delete %s: %s: %s", name, ringlog_err_name(e), err);
    } else if (strcmp(sub, "list") == 0) {
        char **names;
        size_t n;
        if ((e = ringlog_admin_list_topics(a, &names, &n, err, sizeof(err)))) {
            rc = fail("topic list: %s: %s", ringlog_err_name(e), err);
        } else {
            for (size_t i = 0; i < n; i++)
                puts(names[i]);
            ringlog_free(names);
        }
    } else if (strcmp(sub, "describe") == 0) {
        ringlog_topic_info *ti;
        if ((e = ringlog_admin_describe_topic(a, name, &ti, err, sizeof(err)))) {
            rc = fail("topic describe %s: %s: %s", name, ringlog_err_name(e), err);
        } else {
            if (o->json) {
                cli_format_topic_json(stdout, ti);
            } else {
                for (size_t i = 0; i < ti->partition_count; i++) {
                    cli_format_partition(stdout, &ti->partitions[i]);
                    fputc('\n', stdout);
                }
            }
            ringlog_free(ti);
        }
    } else {
        rc = usage_error("unknown topic subcommand \"%s\"", sub);
    }
    ringlog_admin_destroy(a);
    return rc;
}

/* ---------------------------------------------------------------- produce */

struct produce_state {
    long failed;
    int first_err;
    char first_errstr[256];
};

static void on_delivery(const ringlog_delivery *d, void *opaque)
{
    struct produce_state *s = opaque;
    if (d->err == RINGLOG_OK)
        return;
    if (s->failed++ == 0) {
        s->first_err = d->err;
        snprintf(s->first_errstr, sizeof(s->first_errstr), "%s", d->errstr);
    }
}

static int cmd_produce(const struct opts *o, ringlog_conf *conf)
{
    if (o->npositional != 2)
        return usage_error("produce needs exactly one topic%s", "");
    const char *topic = o->positional[1];
    int64_t partition = RINGLOG_PARTITION_ANY;
    if (o->partition && (partition = int_opt("partition", o->partition, 0, INT32_MAX)) == INT64_MIN)
        return EXIT_USAGE;
    if (o->key_separator && !*o->key_separator)
        return usage_error("--key-separator must not be empty%s", "");
    char err[256];
    if ((o->acks && ringlog_conf_set(conf, "acks", o->acks, err, sizeof(err))) ||
        (o->compression && ringlog_conf_set(conf, "compression", o->compression, err, sizeof(err))))
        return usage_error("%s", err);
    struct produce_state st = {0};
    ringlog_conf_set_delivery_cb(conf, on_delivery, &st);
    ringlog_producer *p = ringlog_producer_new(conf, err, sizeof(err));
    if (!p)
        return fail("%s", err);

    int rc = EXIT_SUCCESS;
    size_t seplen = o->key_separator ? strlen(o->key_separator) : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        ringlog_record rec = {
            .topic = topic, .partition = (int32_t)partition, .value = line, .value_len = len};
        if (seplen) {
            /* The first separator splits key from value; a line without one has a null key. */
            char *sep = memmem(line, len, o->key_separator, seplen);
            if (sep) {
                rec.key = line;
                rec.key_len = (size_t)(sep - line);
                rec.value = sep + seplen;
                rec.value_len = len - rec.key_len - seplen;
            }
        }
        int e = ringlog_produce(p, &rec);
        if (e) {
            rc = fail("produce to %s: %s: %s", topic, ringlog_err_name(e), ringlog_err_str(e));
            break;
        }
    }
    free(line);
    if (rc == EXIT_SUCCESS && ferror(stdin))
        rc = fail("reading stdin: %s", strerror(errno));
    int e = ringlog_producer_flush(p, -1);
    ringlog_producer_destroy(p);
    if (rc == EXIT_SUCCESS && e)
        rc = fail("flush: %s", ringlog_err_name(e));
    if (rc == EXIT_SUCCESS && st.failed)
        rc = fail("%ld message(s) not delivered to %s: %s: %s", st.failed, topic,
                  ringlog_err_name(st.first_err), st.first_errstr);
    return rc;
}

/* ---------------------------------------------------------------- consume */

static int cmd_consume(const struct opts *o, ringlog_conf *conf)
{
    if (o->npositional != 2)
        return usage_error("consume needs exactly one topic%s", "");
    const char *topic = o->positional[1];
    int starts = (int)o->from_beginning + (int)o->from_latest + (o->offset != NULL);
    if (starts > 1)
        return usage_error("use only one of --from-beginning, --offset and --from-latest%s", "");
    int64_t partition = -1, offset = RINGLOG_OFFSET_END, count = -1, timeout = -1;
    if (o->partition && (partition = int_opt("partition", o->partition, 0, INT32_MAX)) == INT64_MIN)
        return EXIT_USAGE;
    if (o->offset && (offset = int_opt("offset", o->offset, 0, INT64_MAX)) == INT64_MIN)
        return EXIT_USAGE;
    if (o->count && (count = int_opt("count", o->count, 0, INT64_MAX)) == INT64_MIN)
        return EXIT_USAGE;
    if (o->timeout_ms &&
        (timeout = int_opt("timeout-ms", o->timeout_ms, 0, INT32_MAX)) == INT64_MIN)
        return EXIT_USAGE;
    if (o->from_beginning)
        offset = RINGLOG_OFFSET_BEGINNING;
    else if (!o->offset && !o->from_latest && o->group)
        offset = RINGLOG_OFFSET_STORED; /* the group's position, else the end */
    const char *fmt = o->format ? o->format : "%v";
    char err[512];
    if (cli_format_check(fmt, err, sizeof(err)))
        return usage_error("%s", err);
    if (o->group && (ringlog_conf_set(conf, "group", o->group, err, sizeof(err)) ||
                     ringlog_conf_set(conf, "enable-auto-commit", "false", err, sizeof(err))))
        return usage_error("%s", err);
    if (count == 0)
        return EXIT_SUCCESS;

    /* Which partitions: the one asked for, or all of the topic's. */
    ringlog_admin *a = ringlog_admin_new(conf, err, sizeof(err));
    if (!a)
        return fail("%s", err);
    ringlog_topic_info *ti;
    int e = ringlog_admin_describe_topic(a, topic, &ti, err, sizeof(err));
    ringlog_admin_destroy(a);
    if (e)
        return fail("consume %s: %s: %s", topic, ringlog_err_name(e), err);
    size_t n = partition >= 0 ? 1 : ti->partition_count;
    if (partition >= 0 && partition >= (int64_t)ti->partition_count) {
        ringlog_free(ti);
        return fail("consume %s: UNKNOWN_PARTITION: the topic has %zu partition(s)", topic,
                    ti->partition_count);
    }
    ringlog_topic_partition *tps = calloc(n ? n : 1, sizeof(*tps));
    for (size_t i = 0; i < n; i++)
        tps[i] = (ringlog_topic_partition){
            .topic = topic,
            .partition = partition >= 0 ? (int32_t)partition : ti->partitions[i].partition,
            .offset = offset};
    ringlog_consumer *c = ringlog_consumer_new(conf, err, sizeof(err));
    if (!c) {
        free(tps);
        ringlog_free(ti);
        return fail("%s", err);
    }
    e = ringlog_consumer_assign(c, tps, n);
    free(tps);
    ringlog_free(ti);
    if (e) {
        ringlog_consumer_destroy(c);
        return fail("assign: %s", ringlog_err_name(e));
    }
    int rc = EXIT_SUCCESS;
    int64_t got = 0;
    int64_t idle_ms = 0;
    while (!interrupted && (count < 0 || got < count)) {
        /* Short slices so Ctrl-C is noticed; --timeout-ms counts idle time only. */
        int slice = 200;
        if (timeout >= 0 && timeout - idle_ms < slice)
            slice = (int)(timeout - idle_ms);
        const ringlog_message *m;
        e = ringlog_consumer_poll(c, slice, &m);
        if (e == RINGLOG_ERR_TIMED_OUT) {
            idle_ms += slice;
            if (timeout >= 0 && idle_ms >= timeout)
                break;
            continue;
        }
        if (e) {
            rc = fail("consume %s: %s: %s", topic, ringlog_err_name(e), ringlog_consumer_errstr(c));
            break;
        }
        idle_ms = 0;
        if (cli_format_message(stdout, fmt, m) || fputc('\n', stdout) == EOF) {
            rc = fail("writing output: %s", strerror(errno));
            break;
        }
        got++;
    }
    if (fflush(stdout) != 0 && rc == EXIT_SUCCESS)
        rc = fail("writing output: %s", strerror(errno));
    if (o->group && got > 0 && (e = ringlog_consumer_commit(c, 10000)) && rc == EXIT_SUCCESS)
        rc = fail("commit for group %s: %s: %s", o->group, ringlog_err_name(e),
                  ringlog_consumer_errstr(c));
    ringlog_consumer_destroy(c);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    if (o.npositional == 0) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    ringlog_conf *conf = make_conf(&o);
    if (!conf)
        return EXIT_FAILURE;
    const char *cmd = o.positional[0];
    if (strcmp(cmd, "topic") == 0)
        rc = cmd_topic(&o, conf);
    else if (strcmp(cmd, "produce") == 0)
        rc = cmd_produce(&o, conf);
    else if (strcmp(cmd, "consume") == 0)
        rc = cmd_consume(&o, conf);
    else
        rc = usage_error("unknown command \"%s\"", cmd);
    ringlog_conf_destroy(conf);
    return rc;
}
