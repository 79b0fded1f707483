#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int cli_format_check(const char *fmt, char *err, size_t errlen)
{
    for (const char *p = fmt; *p; p++) {
        if (*p == '%') {
            p++;
            if (!*p || !strchr("tpokvT%", *p)) {
                snprintf(err, errlen,
                         "bad format directive \"%%%s\" (use %%t %%p %%o %%k %%v %%T %%%%)",
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

/* Topic names are limited to safe characters by the broker; escape anyway. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
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
