/*
 * A full disk, for real: ringlogd on an 8 MiB tmpfs the test mounts (tests
 * run as root; elsewhere the test is skipped). Produce until the disk is
 * full: the answer is STORAGE_ERROR at once with the broker's own words
 * ("no space left ..."), counted in ringlog_partition_errors_total; what
 * was acknowledged still reads back; once space is freed, writes resume.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "broker_proc.h"
#include "wire.h"

enum { BATCH_RECORDS = 60, MAX_BATCHES = 20000 };

static char mnt[64];
static bool mounted;
static struct broker_proc broker;

/* Runs even when an assertion failed: the broker died with the test
 * (PDEATHSIG), so the disk can be unmounted. */
static void unmount_small_disk(void)
{
    if (!mounted)
        return;
    if (broker.pid > 0)
        broker_kill(&broker);
    for (int i = 0; i < 50 && umount(mnt) != 0; i++)
        usleep(100 * 1000);
    rmdir(mnt);
    mounted = false;
}

TestSuite(disk_full, .timeout = 120, .fini = unmount_small_disk);

static bool mount_small_disk(void)
{
    snprintf(mnt, sizeof(mnt), "/tmp/ringlog-full-XXXXXX");
    cr_assert_not_null(mkdtemp(mnt));
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m") != 0) {
        rmdir(mnt);
        return false;
    }
    mounted = true;
    return true;
}

/* Produces one batch; returns its error code (message copied into why). */
static int produce_once(int fd, const uint8_t *batch, size_t len, char *why, size_t why_len)
{
    Ringlog__Response *r = wire_produce(fd, "full", 0, 1, batch, len);
    cr_assert_not_null(r, "every produce is answered");
    int error = r->error ? r->error : r->produce->topics[0]->partitions[0]->error;
    const char *m = r->produce ? r->produce->topics[0]->partitions[0]->error_message : "";
    snprintf(why, why_len, "%s", m ? m : "");
    ringlog__response__free_unpacked(r, NULL);
    return error;
}

static long metric(uint16_t port, const char *line_start)
{
    char page[65536];
    cr_assert_eq(wire_http_get(port, "/metrics", page, sizeof(page)), 0);
    const char *at = strstr(page, line_start);
    cr_assert_not_null(at, "metrics have %s", line_start);
    return atol(at + strlen(line_start));
}

Test(disk_full, refused_with_a_reason_reads_go_on_and_writes_resume)
{
    if (!mount_small_disk())
        cr_skip("cannot mount a tmpfs here (not root?)");
    char ballast[128], data[128], port_arg[32];
    snprintf(ballast, sizeof(ballast), "%s/ballast", mnt);
    snprintf(data, sizeof(data), "%s/data", mnt);
    FILE *f = fopen(ballast, "w");
    static char mib[1 << 20];
    memset(mib, 'x', sizeof(mib));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(fwrite(mib, 1, sizeof(mib), f), sizeof(mib));
    fclose(f);
    uint16_t mport = wire_free_port();
    snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%u", mport);
    struct broker_proc *bp = &broker, b;
    const char *args[] = {"--metrics", port_arg, NULL};
    cr_assert_eq(broker_start(bp, data, args), 0);
    b = *bp;
    int fd = wire_connect(b.port);
    Ringlog__Response *cr = wire_create_topic_config(fd, "full", 1, 1 << 20, -1);
    cr_assert_eq(cr->create_topics->topics[0]->error, 0);
    ringlog__response__free_unpacked(cr, NULL);

    static uint8_t batch[16384];
    size_t len = wire_build_batch(batch, sizeof(batch), "fill-the-disk-with-records-of-some-length",
                                  BATCH_RECORDS, -1, -1, -1);
    char why[512] = "";
    int error = 0, acked = 0;
    while (acked < MAX_BATCHES && (error = produce_once(fd, batch, len, why, sizeof(why))) == 0)
        acked++;
    cr_assert_lt(acked, MAX_BATCHES, "the 8 MiB disk fills up");
    cr_assert_gt(acked, 0);
    cr_assert_eq(error, RINGLOG__ERROR_CODE__STORAGE_ERROR, "a full disk is STORAGE_ERROR");
    cr_assert(strstr(why, "no space left") != NULL, "the broker says why: '%s'", why);
    cr_assert_geq(metric(mport, "ringlog_partition_errors_total{api=\"produce\"} "), 1);

    Ringlog__Response *fr = wire_fetch(fd, "full", 0, 0, 0, 1);
    cr_assert_not_null(fr);
    Ringlog__FetchPartitionResult *fp = fr->fetch->topics[0]->partitions[0];
    if (fp->error) {
        char cmd[800];
        snprintf(cmd, sizeof(cmd), "tail -30 %s >&2", b.log_path);
        cr_expect_eq(system(cmd), 0);
    }
    cr_assert_eq(fp->error, 0, "reads go on (%s; log [%lld, %lld), hw %lld, %d acked; log: %s)",
                 fp->error_message, (long long)fp->log_start_offset, (long long)fp->log_end_offset,
                 (long long)fp->high_watermark, acked, b.log_path);
    cr_assert_geq(fr->fetch->topics[0]->partitions[0]->high_watermark,
                  (int64_t)acked * BATCH_RECORDS, "everything acknowledged is there");
    ringlog__response__free_unpacked(fr, NULL);

    cr_assert_eq(unlink(ballast), 0);
    int resumed = 0;
    for (int i = 0; i < 50 && !resumed; i++) {
        resumed = produce_once(fd, batch, len, why, sizeof(why)) == 0;
        if (!resumed)
            usleep(100 * 1000);
    }
    cr_assert(resumed, "writes resume once space is freed (last: '%s')", why);
    close(fd);
    cr_expect_eq(broker_stop(bp), 0, "clean exit (log: %s)", b.log_path);
    bp->pid = 0;
    broker_remove_data(&b);
}
