#include "format.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int cli_format_check(const char *fmt, char *err, size_t errlen)
{
    for (const char *p = fmt; *p; p++) {
        if (*p == '%') {
            p++;
            if (!*p || !strchr("tpokvhT%", *p)) {
                snprintf(err, errlen,
                         "bad format directive \"%%%s\" (use %%t %%p %%o %%k %%v %%h %%T %%%%)",
                         *p ? (char[]){*p, 0} : "");
                return -1;
            }
        } else if (*p == '\\') {
            p++;
            if (!*p || !strchr("nt\\0", *p)) {
                snprintf(err, errlen, "bad escape \"\\%s\" in format (use \\n \\t \\\\ \\0)",
                         *p ? (char[]){*p, 0} : "");
                return -1;
            }
        }
    }
    return 0;
}

/* %h: "k=v,k2=v2", bytes as they are. */
static void format_headers(FILE *out, const ringlog_message *m)
{
    for (size_t i = 0; i < m->header_count; i++) {
        const ringlog_header *h = &m->headers[i];
        if (i)
            fputc(',', out);
        fwrite(h->key, 1, h->key_len, out);
        fputc('=', out);
        if (h->value)
            fwrite(h->value, 1, h->value_len, out);
    }
}

int cli_format_message(FILE *out, const char *fmt, const ringlog_message *m)
{
    for (const char *p = fmt; *p; p++) {
        if (*p == '%') {
            switch (*++p) {
            case 't':
                fputs(m->topic, out);
                break;
            case 'p':
                fprintf(out, "%" PRId32, m->partition);
                break;
            case 'o':
                fprintf(out, "%" PRId64, m->offset);
                break;
            case 'T':
                fprintf(out, "%" PRId64, m->timestamp);
                break;
            case 'k':
                if (m->key && m->key_len)
                    fwrite(m->key, 1, m->key_len, out);
                break;
            case 'v':
                if (m->value && m->value_len)
                    fwrite(m->value, 1, m->value_len, out);
                break;
            case 'h':
                format_headers(out, m);
                break;
            case '%':
                fputc('%', out);
                break;
            default:
                return -1; /* cli_format_check refuses these */
            }
        } else if (*p == '\\') {
            switch (*++p) {
            case 'n':
                fputc('\n', out);
                break;
            case 't':
                fputc('\t', out);
                break;
            case '0':
                fputc('\0', out);
                break;
            case '\\':
                fputc('\\', out);
                break;
            default:
                return -1;
            }
        } else {
            fputc(*p, out);
        }
    }
    return ferror(out) ? -1 : 0;
}

static void ids(FILE *out, const int32_t *v, size_t n, const char *sep)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%" PRId32, i ? sep : "", v[i]);
}

void cli_format_partition(FILE *out, const ringlog_partition_info *p)
{
    fprintf(out, "partition=%" PRId32 " leader=%" PRId32 " replicas=", p->partition, p->leader);
    ids(out, p->replicas, p->replica_count, ",");
    fputs(" isr=", out);
    ids(out, p->isr, p->isr_count, ",");
    fprintf(out, " start=%" PRId64 " end=%" PRId64 " hw=%" PRId64, p->start_offset, p->end_offset,
            p->high_watermark);
}

/* Length of the valid UTF-8 sequence at s[0..left), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t n = s[0] < 0x80         ? 1
               : (s[0] >> 5) == 6  ? 2
               : (s[0] >> 4) == 14 ? 3
               : (s[0] >> 3) == 30 ? 4
                                   : 0;
    if (n == 0 || n > left || (n == 2 && s[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
        (n == 4 && (s[0] > 0xf4 || (s[0] == 0xf4 && s[1] > 0x8f))) ||
        (n == 3 && s[0] == 0xed && s[1] > 0x9f))
        return 0; /* overlong, beyond U+10FFFF, or a surrogate */
    return n;
}

static bool is_utf8(const void *data, size_t len)
{
    const unsigned char *s = data;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = utf8_len(s + i, len - i)) == 0)
            return false;
    return true;
}

/* data[0..len) as a JSON string; the caller checked it is UTF-8. */
static void json_bytes(FILE *out, const void *data, size_t len)
{
    const unsigned char *s = data;
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = s[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void json_string(FILE *out, const char *s)
{
    json_bytes(out, s, strlen(s));
}

static void base64(FILE *out, const unsigned char *s, size_t len)
{
    static const char ABC[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', out);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < len ? s[i + 2] : 0);
        fputc(ABC[v >> 18 & 63], out);
        fputc(ABC[v >> 12 & 63], out);
        fputc(i + 1 < len ? ABC[v >> 6 & 63] : '=', out);
        fputc(i + 2 < len ? ABC[v & 63] : '=', out);
    }
    fputc('"', out);
}

/*
 * sep then "name":"text" for UTF-8 bytes, "name_base64":"..." for any
 * other bytes, "name":null for a null key or value.
 */
static void json_field(FILE *out, const char *sep, const char *name, const void *data, size_t len)
{
    if (!data) {
        fprintf(out, "%s\"%s\":null", sep, name);
    } else if (is_utf8(data, len)) {
        fprintf(out, "%s\"%s\":", sep, name);
        json_bytes(out, data, len);
    } else {
        fprintf(out, "%s\"%s_base64\":", sep, name);
        base64(out, data, len);
    }
}

void cli_format_message_json(FILE *out, const ringlog_message *m)
{
    fputs("{\"topic\":", out);
    json_string(out, m->topic);
    fprintf(out, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp\":%" PRId64,
            m->partition, m->offset, m->timestamp);
    json_field(out, ",", "key", m->key, m->key_len);
    json_field(out, ",", "value", m->value, m->value_len);
    fputs(",\"headers\":[", out);
    for (size_t i = 0; i < m->header_count; i++) {
        const ringlog_header *h = &m->headers[i];
        json_field(out, i ? ",{" : "{", "key", h->key ? h->key : "", h->key_len);
        json_field(out, ",", "value", h->value, h->value_len);
        fputc('}', out);
    }
    fputs("]}", out);
}

void cli_format_names_json(FILE *out, char *const *names, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', out);
        json_string(out, names[i]);
    }
    fputs("]\n", out);
}

void cli_format_topic_json(FILE *out, const ringlog_topic_info *t)
{
    fputs("{\"topic\":", out);
    json_string(out, t->name);
    fprintf(out,
            ",\"config\":{\"retention_ms\":%" PRId64 ",\"retention_bytes\":%" PRId64
            ",\"segment_bytes\":%" PRId64 ",\"segment_ms\":%" PRId64 "},\"partitions\":[",
            t->config.retention_ms, t->config.retention_bytes, t->config.segment_bytes,
            t->config.segment_ms);
    for (size_t i = 0; i < t->partition_count; i++) {
        const ringlog_partition_info *p = &t->partitions[i];
        fprintf(out, "%s{\"partition\":%" PRId32 ",\"leader\":%" PRId32 ",\"replicas\":[",
                i ? "," : "", p->partition, p->leader);
        ids(out, p->replicas, p->replica_count, ",");
        fputs("],\"isr\":[", out);
        ids(out, p->isr, p->isr_count, ",");
        fprintf(out, "],\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"hw\":%" PRId64 "}",
                p->start_offset, p->end_offset, p->high_watermark);
    }
    fputs("]}\n", out);
}

void cli_format_configs_json(FILE *out, const char *topic, const ringlog_config_entry *e, size_t n)
{
    fputs("{\"topic\":", out);
    json_string(out, topic);
    fputs(",\"configs\":[", out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        json_string(out, e[i].name);
        fputs(",\"value\":", out);
        json_string(out, e[i].value);
        fprintf(out, ",\"default\":%s}", e[i].is_default ? "true" : "false");
    }
    fputs("]}\n", out);
}
