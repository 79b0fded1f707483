#include "diag.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = DIAG_LEVEL_INFO;
static _Thread_local char thread_name[24] = "main";

static const char *LEVEL_NAMES[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void diag_set_level(enum diag_level level)
{
    atomic_store(&min_level, (int)level);
}

int diag_parse_level(const char *text, enum diag_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (enum diag_level)i;
            return 0;
        }
    }
    return -1;
}

void diag_set_thread_name(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name);
}

void diag(enum diag_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&min_level))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, LEVEL_NAMES[level], thread_name);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

bool diag_limit_pass(struct diag_limit *l, int64_t now_ms, uint32_t per_second, const char *what)
{
    int64_t second = now_ms / 1000;
    if (second != l->second) {
        if (l->suppressed > 0)
            DIAG_WARN("%u more %s in the last second were not logged", l->suppressed, what);
        l->second = second;
        l->logged = l->suppressed = 0;
    }
    if (l->logged < per_second) {
        l->logged++;
        return true;
    }
    l->suppressed++;
    return false;
}
