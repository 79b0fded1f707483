/*
 * Recovery: a torn last batch (the file cut at every byte of it), a bit flip
 * in the last segment, a missing index, an index pointing past the end, a
 * zero-filled preallocated tail. Each recovers to exactly the batches that
 * were whole, and reports what it dropped.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "log_harness.h"

static struct harness H;

static void setup(void)
{
    h_init(&H);
    H.quiet = true;
}

static void teardown(void)
{
    h_fini(&H);
}

TestSuite(log_recovery, .init = setup, .fini = teardown, .timeout = 120);

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/topics/t/0/%s", H.dir, name);
}

struct file_copy {
    char path[512];
    uint8_t *data;
    size_t len;
};

static void save(struct file_copy *f, const char *name)
{
    path_of(f->path, sizeof(f->path), name);
    int fd = open(f->path, O_RDONLY);
    cr_assert_geq(fd, 0, "%s", f->path);
    struct stat st;
    fstat(fd, &st);
    f->len = (size_t)st.st_size;
    f->data = malloc(f->len + 1);
    cr_assert_eq(pread(fd, f->data, f->len, 0), (ssize_t)f->len);
    close(fd);
}

static void restore(const struct file_copy *f, size_t len)
{
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, f->data, len, 0), (ssize_t)len);
    close(fd);
}

static const char *SEG0 = "00000000000000000000.log";
static const char *IDX0 = "00000000000000000000.index";
static const char *TIDX0 = "00000000000000000000.timeindex";

/*
 * A log of `n` batches whose recovery checkpoint sits before the last
 * `after` of them, left as after a crash (no close). Returns the bases.
 */
static struct partition_log_config crash_state(int n, int after, bool prealloc, int64_t *bases,
                                               uint64_t *pos_of_batch)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.preallocate = prealloc;
    cfg.prealloc_bytes = 64 << 10;
    cfg.segment_bytes = 1 << 20;
    cfg.index_interval_bytes = 256;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[8192];
    uint64_t pos = 0;
    for (int i = 0; i < n - after; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 3, 90 + (size_t)i * 7, 1000 + i);
        cr_assert_eq(h_append(&H, log, buf, len, &bases[i]), LOG_OK);
        pos_of_batch[i] = pos;
        pos += len;
    }
    /* Close and reopen: the checkpoint now sits at the end of these. */
    cr_assert_eq(h_close(&H, log), LOG_OK);
    log = h_open(&H, &cfg, NULL);
    for (int i = n - after; i < n; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 3, 90 + (size_t)i * 7, 1000 + i);
        cr_assert_eq(h_append(&H, log, buf, len, &bases[i]), LOG_OK);
        pos_of_batch[i] = pos;
        pos += len;
    }
    pos_of_batch[n] = pos;
    partition_log_free(log); /* a crash: no clean checkpoint */
    return cfg;
}

static void expect_log(const struct partition_log_config *cfg, int whole,
                       const struct log_open_report *rep_in)
{
    (void)rep_in;
    struct log_open_report rep;
    struct partition_log *log = h_open(&H, cfg, &rep);
    uint64_t tags[64];
    long got = h_read_all(&H, log, tags, NULL, 64);
    cr_assert_eq(got, whole, "got %ld batches, want %d", got, whole);
    for (int i = 0; i < whole; i++)
        cr_assert_eq(tags[i], (uint64_t)i);
    /* The log goes on from there. */
    uint8_t buf[4096];
    size_t len = h_batch(buf, sizeof(buf), (uint64_t)whole, 1, 50, 5000);
    int64_t base;
    cr_assert_eq(h_append(&H, log, buf, len, &base), LOG_OK);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), whole + 1);
    partition_log_free(log);
}

Test(log_recovery, torn_last_batch_at_every_byte)
{
    int64_t bases[8];
    uint64_t pos[9];
    struct partition_log_config cfg = crash_state(8, 2, false, bases, pos);
    struct file_copy seg, idx, tidx, ck;
    save(&seg, SEG0);
    save(&idx, IDX0);
    save(&tidx, TIDX0);
    save(&ck, "checkpoint");
    cr_assert_eq(seg.len, pos[8]);
    for (uint64_t cut = pos[7]; cut < pos[8]; cut++) {
        restore(&seg, cut);
        restore(&idx, idx.len);
        restore(&tidx, tidx.len);
        restore(&ck, ck.len);
        struct log_open_report rep;
        struct partition_log *log = h_open(&H, &cfg, &rep);
        cr_assert(!rep.clean);
        cr_assert_eq(partition_log_end_offset(log), bases[7], "cut at %llu",
                     (unsigned long long)cut);
        /* Dropped: the bytes of the partial batch up to its last non-zero byte. */
        uint64_t last_nonzero = pos[7];
        for (uint64_t b = pos[7]; b < cut; b++)
            if (seg.data[b] != 0)
                last_nonzero = b + 1;
        cr_assert_eq(rep.truncated_bytes, last_nonzero - pos[7], "cut %llu: reported %llu",
                     (unsigned long long)cut, (unsigned long long)rep.truncated_bytes);
        cr_assert_eq(rep.truncated_batches, last_nonzero > pos[7] ? 1u : 0u);
        cr_assert_leq(rep.scanned_bytes, pos[8] - pos[6]); /* only after the recovery point */
        uint64_t tags[16];
        cr_assert_eq(h_read_all(&H, log, tags, NULL, 16), 7);
        partition_log_free(log);
    }
    restore(&seg, seg.len);
    restore(&ck, ck.len);
    expect_log(&cfg, 8, NULL);
    free(seg.data);
    free(idx.data);
    free(tidx.data);
    free(ck.data);
}

Test(log_recovery, bit_flip_in_last_segment)
{
    int64_t bases[10];
    uint64_t pos[11];
    struct partition_log_config cfg = crash_state(10, 4, true, bases, pos);
    struct file_copy seg, ck;
    save(&seg, SEG0);
    save(&ck, "checkpoint");
    /* Flip one bit in each of the batches after the recovery point, at a few places. */
    for (int victim = 6; victim < 10; victim++) {
        uint64_t len = pos[victim + 1] - pos[victim];
        uint64_t spots[] = {0, 9, 16, 20, 30, 64, len / 2, len - 1};
        for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++) {
            uint64_t at = pos[victim] + spots[s];
            restore(&seg, seg.len);
            restore(&ck, ck.len);
            seg.data[at] ^= 0x10;
            restore(&seg, seg.len);
            seg.data[at] ^= 0x10;
            struct log_open_report rep;
            struct partition_log *log = h_open(&H, &cfg, &rep);
            cr_assert_eq(partition_log_end_offset(log), bases[victim], "flip at batch %d +%llu",
                         victim, (unsigned long long)spots[s]);
            cr_assert_geq(rep.truncated_batches, 1);
            cr_assert_geq(rep.truncated_bytes, pos[10] - pos[victim] - 1);
            cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), victim);
            partition_log_free(log);
        }
    }
    free(seg.data);
    free(ck.data);
}

Test(log_recovery, missing_index_files)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.index_interval_bytes = 256;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    int64_t bases[120];
    for (int i = 0; i < 120; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 200 + (size_t)(i % 9) * 100, i);
        cr_assert_eq(h_append(&H, log, buf, len, &bases[i]), LOG_OK);
    }
    uint32_t segs = partition_log_segment_count(log);
    cr_assert_geq(segs, 3);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    /* Remove the index of the first (closed) segment and of the active one. */
    char p[512];
    path_of(p, sizeof(p), IDX0);
    cr_assert_eq(unlink(p), 0);
    path_of(p, sizeof(p), TIDX0);
    cr_assert_eq(unlink(p), 0);
    char name[64];
    log = h_open(&H, &cfg, NULL);
    int64_t act_base = bases[0];
    for (int i = 119; i >= 0; i--) {
        struct log_file_range r;
        partition_log_locate(log, bases[i], 16, &r);
        if (r.file_offset == 0 && i > 0) {
            act_base = bases[i];
            partition_log_range_release(log, &r);
            break;
        }
        partition_log_range_release(log, &r);
    }
    partition_log_free(log);
    snprintf(name, sizeof(name), "%020lld.index", (long long)act_base);
    path_of(p, sizeof(p), name);
    unlink(p);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert_geq(rep.rebuilt_indexes, 1);
    cr_assert_eq(partition_log_end_offset(log), bases[119] + 2);
    for (int i = 0; i < 120; i++) {
        struct h_read_result rr;
        cr_assert_eq(h_read(&H, log, bases[i] + 1, 64 << 10, &rr), LOG_OK);
        struct rl_batch_header hd;
        rl_batch_header_read(rr.data, rr.len, &hd);
        cr_assert_eq(hd.base_offset, bases[i]);
        free(rr.data);
    }
    /* The rebuilt index files are whole again. */
    path_of(p, sizeof(p), IDX0);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_gt(st.st_size, 0);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

static void append_entry(const char *name, uint32_t rel, uint32_t pos)
{
    char p[512];
    path_of(p, sizeof(p), name);
    int fd = open(p, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0, "%s", p);
    uint8_t e[8];
    memcpy(e, &rel, 4);
    memcpy(e + 4, &pos, 4);
    cr_assert_eq(write(fd, e, 8), 8);
    close(fd);
}

Test(log_recovery, index_pointing_past_the_end)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.index_interval_bytes = 256;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[4096];
    int64_t bases[100];
    for (int i = 0; i < 100; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 300, i);
        cr_assert_eq(h_append(&H, log, buf, len, &bases[i]), LOG_OK);
    }
    cr_assert_geq(partition_log_segment_count(log), 2);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    /* The first (closed) segment's index gets an entry far past its end. */
    append_entry(IDX0, 5, 50u << 20);
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(rep.clean);
    cr_assert_geq(rep.rebuilt_indexes, 1);
    for (int i = 0; i < 100; i++) {
        struct h_read_result rr;
        cr_assert_eq(h_read(&H, log, bases[i], 64 << 10, &rr), LOG_OK);
        struct rl_batch_header hd;
        rl_batch_header_read(rr.data, rr.len, &hd);
        cr_assert_eq(hd.base_offset, bases[i]);
        free(rr.data);
    }
    partition_log_free(log);
    /* Now the active segment's index, after a crash. */
    int64_t bases2[12];
    uint64_t pos[13];
    h_rm_rf(H.dir);
    mkdir(H.dir, 0755);
    cfg = crash_state(12, 3, true, bases2, pos);
    append_entry(IDX0, 2, 40u << 20);
    append_entry(IDX0, 3, 41u << 20);
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(partition_log_end_offset(log), bases2[11] + 3);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 12);
    for (int i = 0; i < 12; i++) {
        struct h_read_result rr;
        cr_assert_eq(h_read(&H, log, bases2[i] + 2, 64 << 10, &rr), LOG_OK);
        struct rl_batch_header hd;
        rl_batch_header_read(rr.data, rr.len, &hd);
        cr_assert_eq(hd.base_offset, bases2[i]);
        free(rr.data);
    }
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_recovery, zero_filled_preallocated_tail)
{
    int64_t bases[10];
    uint64_t pos[11];
    struct partition_log_config cfg = crash_state(10, 5, true, bases, pos);
    char p[512];
    path_of(p, sizeof(p), SEG0);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    /* Reserved one step ahead of the data, not to the segment size. */
    cr_assert_gt((uint64_t)st.st_size, pos[10], "a preallocated tail");
    cr_assert_leq((uint64_t)st.st_size, pos[10] + cfg.prealloc_bytes + 4096, "%lld",
                  (long long)st.st_size);
    struct log_open_report rep;
    struct partition_log *log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(rep.truncated_batches, 0);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 10);
    partition_log_free(log);
    /* Without preallocation, a zero-filled tail of any length is still a clean end. */
    cfg.preallocate = false;
    cr_assert_eq(truncate(p, (off_t)(pos[10] + 12345)), 0);
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 10);
    partition_log_free(log);
    expect_log(&cfg, 10, NULL);
}

Test(log_recovery, startup_reads_only_after_the_recovery_point)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.segment_bytes = 256 << 10;
    cfg.checkpoint_bytes = 16 << 10;
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[8192];
    for (int i = 0; i < 400; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 4, 500, i);
        cr_assert_eq(h_append(&H, log, buf, len, NULL), LOG_OK);
    }
    uint64_t total = partition_log_size_bytes(log);
    partition_log_free(log); /* crash */
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert(!rep.clean);
    cr_assert_lt(rep.scanned_bytes, (64 << 10) + (1 << 20), "scanned %llu of %llu",
                 (unsigned long long)rep.scanned_bytes, (unsigned long long)total);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 400);
    cr_assert_eq(h_close(&H, log), LOG_OK);
}

Test(log_recovery, checkpoint_pointing_at_a_deleted_segment)
{
    /* A truncation that removed the checkpoint's segment, then a crash before
     * the new checkpoint: recovery falls back to scanning the last segment. */
    struct partition_log_config cfg;
    h_cfg(&cfg);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    uint8_t buf[8192];
    int64_t bases[100];
    for (int i = 0; i < 100; i++) {
        size_t len = h_batch(buf, sizeof(buf), (uint64_t)i, 2, 900, i);
        cr_assert_eq(h_append(&H, log, buf, len, &bases[i]), LOG_OK);
    }
    struct file_copy ck;
    save(&ck, "checkpoint");
    int64_t end;
    cr_assert_eq(h_truncate(&H, log, bases[10], &end), LOG_OK);
    partition_log_free(log);
    restore(&ck, ck.len); /* the old checkpoint, past the new end */
    struct log_open_report rep;
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(partition_log_end_offset(log), bases[10]);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 10);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    free(ck.data);
}
