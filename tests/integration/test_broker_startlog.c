/*
 * What ringlogd says at start-up about its partitions: nothing for a
 * partition created empty, one line for each that really recovered data
 * after a crash (a 10,000-partition create used to log 10,000 lines).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_proc.h"
#include "wire.h"

TestSuite(startlog, .timeout = 120);

enum { NPART = 12 };

/* Lines of text that contain both a and b. */
static int count_lines_with(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), line);
        if (strstr(buf, a) && (!b || strstr(buf, b)))
            n++;
        line += len + (nl ? 1 : 0);
    }
    return n;
}

Test(startlog, create_logs_no_recovery_and_crash_restart_one_line_per_partition_with_data)
{
    struct broker_proc b;
    cr_assert_eq(broker_start(&b, NULL, NULL), 0);
    int c = wire_connect(b.port);
    cr_assert_geq(c, 0);
    Ringlog__Response *r = wire_create_topic(c, "quiet", NPART);
    cr_assert_not_null(r);
    cr_assert_eq(wire_first_error(r), 0);
    ringlog__response__free_unpacked(r, NULL);
    /* Data in partitions 1, 4 and 7 only. */
    const uint32_t with_data[] = {1, 4, 7};
    uint8_t batch[4096];
    size_t len = wire_build_batch(batch, sizeof(batch), "d", 5, -1, -1, -1);
    for (size_t i = 0; i < sizeof(with_data) / sizeof(with_data[0]); i++) {
        r = wire_produce(c, "quiet", with_data[i], 1, batch, len);
        cr_assert_not_null(r);
        cr_assert_eq(wire_first_error(r), 0);
        ringlog__response__free_unpacked(r, NULL);
    }
    close(c);
    char *log = broker_log_since(&b, 0);
    cr_assert_not_null(log, "%s", b.log_path);
    cr_assert_eq(count_lines_with(log, "recovered", NULL), 0, "create logged recovery: %s", log);
    free(log);

    /* A crash: every partition is recovered, those with data say so. */
    broker_kill(&b);
    long before = broker_log_size(&b);
    char dir[sizeof(b.data_dir)];
    memcpy(dir, b.data_dir, sizeof(dir));
    cr_assert_eq(broker_start(&b, dir, NULL), 0);
    log = broker_log_since(&b, before);
    cr_assert_not_null(log, "%s", b.log_path);
    for (size_t i = 0; i < sizeof(with_data) / sizeof(with_data[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "partition quiet-%u ", with_data[i]);
        cr_assert_eq(count_lines_with(log, name, "recovered"), 1, "%s in: %s", name, log);
    }
    cr_assert_eq(count_lines_with(log, "partition quiet-", "recovered"), 3, "log: %s", log);
    free(log);

    /* A clean restart has nothing to recover, so nothing to say. */
    cr_assert_eq(broker_stop(&b), 0);
    before = broker_log_size(&b);
    cr_assert_eq(broker_start(&b, dir, NULL), 0);
    log = broker_log_since(&b, before);
    cr_assert_not_null(log, "%s", b.log_path);
    cr_assert_eq(count_lines_with(log, "recovered", NULL), 0, "clean restart: %s", log);
    free(log);
    cr_assert_eq(broker_stop(&b), 0);
    broker_remove_data(&b);
}
