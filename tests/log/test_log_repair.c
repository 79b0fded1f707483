/*
 * Known-bad batches (issue 15, repair): with keep_corrupt, recovery keeps a
 * batch that fails its checksum when valid data follows it (a flipped bit)
 * and records it, while a torn tail is still cut; a verifying read finds a
 * flip before the recovery point (a closed segment); readers never get the
 * bad bytes; an overwrite with a good copy puts the log back, and a later
 * recovery finds nothing wrong.
 */
#include <criterion/criterion.h>
#include <dirent.h>
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

TestSuite(log_repair, .init = setup, .fini = teardown, .timeout = 120);

#define N 10

static size_t value_base = 90; /* value bytes of batch 0 (3 records a batch) */

struct layout {
    int64_t bases[N];
    uint64_t pos[N + 1]; /* position of batch i in its segment file */
    char file[N][64];    /* the segment file of batch i */
    uint8_t *copy[N];    /* each batch as written */
    size_t len[N];
};

static struct partition_log_config repair_cfg(uint64_t segment_bytes)
{
    struct partition_log_config cfg;
    h_cfg(&cfg);
    cfg.preallocate = true;
    cfg.prealloc_bytes = 64 << 10;
    cfg.segment_bytes = segment_bytes;
    cfg.index_interval_bytes = 256;
    cfg.keep_corrupt = true;
    return cfg;
}

/* Which segment file holds offset `base`: the newest one whose name is at or below it. */
static void file_of(int64_t base, char *out, size_t cap)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/topics/t/0", H.dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    long long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long b;
        char ext[16];
        if (sscanf(e->d_name, "%20lld.%15s", &b, ext) == 2 && strcmp(ext, "log") == 0 &&
            b <= base && b > best)
            best = b;
    }
    closedir(d);
    cr_assert_geq(best, 0);
    snprintf(out, cap, "%s/%020lld.log", dir, best);
}

/*
 * N batches; the first N - after before a clean close and reopen (the
 * recovery point), the rest after it; then a crash (no close).
 */
static void build(const struct partition_log_config *cfg, int after, struct layout *L)
{
    struct partition_log *log = h_open(&H, cfg, NULL);
    uint8_t buf[16384];
    for (int i = 0; i < N; i++) {
        if (i == N - after) {
            cr_assert_eq(h_close(&H, log), LOG_OK);
            log = h_open(&H, cfg, NULL);
        }
        size_t len =
            h_batch(buf, sizeof(buf), (uint64_t)i, 3, value_base + (size_t)i * 7, 1000 + i);
        cr_assert_eq(h_append(&H, log, buf, len, &L->bases[i]), LOG_OK);
        L->copy[i] = malloc(len);
        memcpy(L->copy[i], buf, len); /* stamped in place: as on disk */
        L->len[i] = len;
    }
    partition_log_free(log);
    for (int i = 0; i < N; i++) {
        file_of(L->bases[i], L->file[i], sizeof(L->file[i]));
        L->pos[i] =
            (i > 0 && strcmp(L->file[i], L->file[i - 1]) == 0) ? L->pos[i - 1] + L->len[i - 1] : 0;
    }
}

static void layout_free(struct layout *L)
{
    for (int i = 0; i < N; i++)
        free(L->copy[i]);
}

/* Flips one bit at byte `at` of batch i in its file. */
static void flip(const struct layout *L, int i, uint64_t at)
{
    int fd = open(L->file[i], O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, (off_t)(L->pos[i] + at)), 1);
    b ^= 0x10;
    cr_assert_eq(pwrite(fd, &b, 1, (off_t)(L->pos[i] + at)), 1);
    close(fd);
}

static bool file_has_batch(const struct layout *L, int i)
{
    int fd = open(L->file[i], O_RDONLY);
    cr_assert_geq(fd, 0);
    uint8_t *b = malloc(L->len[i]);
    bool same = pread(fd, b, L->len[i], (off_t)L->pos[i]) == (ssize_t)L->len[i] &&
                memcmp(b, L->copy[i], L->len[i]) == 0;
    free(b);
    close(fd);
    return same;
}

/* Reading at the bad batch fails (retriable) and says where to go on; before it, data ends. */
static void expect_refused(struct partition_log *log, const struct layout *L, int victim)
{
    struct h_read_result rr;
    cr_assert_eq(h_read(&H, log, L->bases[victim], 1 << 20, &rr), LOG_ERR_REPAIRING);
    cr_assert_eq(rr.next_offset, L->bases[victim] + 3);
    free(rr.data);
    if (victim > 0 && strcmp(L->file[victim - 1], L->file[victim]) == 0) {
        cr_assert_eq(h_read(&H, log, L->bases[victim - 1], 1 << 20, &rr), LOG_OK);
        cr_assert_eq(rr.next_offset, L->bases[victim], "the data ends before the bad batch");
        free(rr.data);
    }
    if (victim + 1 < N) {
        cr_assert_eq(h_read(&H, log, L->bases[victim + 1], 1 << 20, &rr), LOG_OK);
        cr_assert_gt(rr.len, 0);
        free(rr.data);
    }
}

static void expect_one_bad(struct partition_log *log, const struct layout *L, int victim)
{
    const struct log_bad_batch *bad;
    cr_assert_eq(partition_log_bad_batches(log, &bad), 1);
    cr_assert_eq(bad[0].base_offset, L->bases[victim]);
    cr_assert_eq(bad[0].last_offset, L->bases[victim] + 2);
    cr_assert_eq(bad[0].len, L->len[victim]);
    cr_assert_eq(bad[0].pos, L->pos[victim]);
}

/* Overwrite with the good copy: the file holds it again and every batch reads back. */
static void repair_and_check(struct partition_log *log, const struct layout *L, int victim)
{
    cr_assert_eq(h_overwrite(&H, log, L->copy[victim], L->len[victim]), LOG_OK);
    const struct log_bad_batch *bad;
    cr_assert_eq(partition_log_bad_batches(log, &bad), 0);
    cr_assert(file_has_batch(L, victim));
    uint64_t tags[N];
    cr_assert_eq(h_read_all(&H, log, tags, NULL, N), N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tags[i], (uint64_t)i);
}

Test(log_repair, flip_in_the_active_segment_is_kept_and_repaired)
{
    struct partition_log_config cfg = repair_cfg(1 << 20);
    struct layout L;
    build(&cfg, 5, &L);
    int victim = 6; /* after the recovery point, valid batches after it */
    flip(&L, victim, L.len[victim] / 2);
    struct log_open_report rep;
    struct partition_log *log = h_open(&H, &cfg, &rep);
    cr_assert_eq(partition_log_end_offset(log), L.bases[N - 1] + 3, "nothing cut");
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(rep.corrupt_kept, 1);
    expect_one_bad(log, &L, victim);
    expect_refused(log, &L, victim);
    repair_and_check(log, &L, victim);
    partition_log_free(log); /* a crash again: recovery finds nothing wrong now */
    log = h_open(&H, &cfg, &rep);
    cr_assert_eq(rep.corrupt_kept, 0);
    cr_assert_eq(rep.truncated_bytes, 0);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), N);
    partition_log_free(log);
    layout_free(&L);
}

Test(log_repair, without_keep_corrupt_the_flip_is_cut_as_before)
{
    struct partition_log_config cfg = repair_cfg(1 << 20);
    struct layout L;
    build(&cfg, 5, &L);
    flip(&L, 6, L.len[6] / 2);
    cfg.keep_corrupt = false;
    struct log_open_report rep;
    struct partition_log *log = h_open(&H, &cfg, &rep);
    cr_assert_eq(partition_log_end_offset(log), L.bases[6]);
    cr_assert_eq(rep.corrupt_kept, 0);
    cr_assert_gt(rep.truncated_bytes, 0);
    partition_log_free(log);
    layout_free(&L);
}

Test(log_repair, torn_tail_is_still_cut)
{
    struct partition_log_config cfg = repair_cfg(1 << 20);
    struct layout L;
    build(&cfg, 5, &L);
    flip(&L, N - 1, L.len[N - 1] / 2); /* the last batch: nothing valid after it */
    struct log_open_report rep;
    struct partition_log *log = h_open(&H, &cfg, &rep);
    cr_assert_eq(partition_log_end_offset(log), L.bases[N - 1]);
    cr_assert_eq(rep.corrupt_kept, 0);
    cr_assert_eq(rep.truncated_batches, 1);
    const struct log_bad_batch *bad;
    cr_assert_eq(partition_log_bad_batches(log, &bad), 0);
    partition_log_free(log);
    layout_free(&L);
}

Test(log_repair, flip_in_a_closed_segment_found_by_a_verifying_read)
{
    /* Small segments: the first batches are in closed segments, before the recovery point. */
    struct partition_log_config cfg = repair_cfg(4096);
    value_base = 700; /* batches of ~2 KiB: two a segment */
    struct layout L;
    build(&cfg, 2, &L);
    int victim = 1;
    cr_assert_neq(strcmp(L.file[victim], L.file[N - 1]), 0, "victim in a closed segment");
    cr_assert(file_has_batch(&L, victim));
    flip(&L, victim, L.len[victim] - 1);
    struct log_open_report rep;
    struct partition_log *log = h_open(&H, &cfg, &rep);
    cr_assert_eq(rep.corrupt_kept, 0, "recovery does not read closed segments");
    const struct log_bad_batch *bad;
    cr_assert_eq(partition_log_bad_batches(log, &bad), 0);
    /* A verifying read from the segment's start stops before the bad batch and records it. */
    struct h_read_result rr;
    int64_t seg_first = L.bases[victim];
    for (int i = victim; i > 0 && strcmp(L.file[i - 1], L.file[victim]) == 0; i--)
        seg_first = L.bases[i - 1];
    int rc = h_read_verify(&H, log, seg_first, 1 << 20, &rr);
    if (seg_first == L.bases[victim]) {
        cr_assert_eq(rc, LOG_ERR_REPAIRING);
    } else {
        cr_assert_eq(rc, LOG_OK);
        cr_assert_eq(rr.next_offset, L.bases[victim]);
    }
    free(rr.data);
    expect_one_bad(log, &L, victim);
    expect_refused(log, &L, victim); /* plain reads now refuse it too */
    repair_and_check(log, &L, victim);
    cr_assert_eq(h_close(&H, log), LOG_OK);
    layout_free(&L);
    value_base = 90;
}

Test(log_repair, overwrite_checks_what_it_writes)
{
    struct partition_log_config cfg = repair_cfg(1 << 20);
    struct layout L;
    build(&cfg, 5, &L);
    flip(&L, 6, 70);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    /* Not a bad batch; another batch's bytes; a corrupt copy: all refused, nothing written. */
    cr_assert_eq(h_overwrite(&H, log, L.copy[5], L.len[5]), LOG_ERR_OUT_OF_RANGE);
    uint8_t *wrong = malloc(L.len[7]);
    memcpy(wrong, L.copy[7], L.len[7]);
    rl_batch_stamp(wrong, L.bases[6], 0);
    cr_assert_eq(h_overwrite(&H, log, wrong, L.len[7]), LOG_ERR_INVALID, "length differs");
    memcpy(wrong, L.copy[6], L.len[6]);
    wrong[70] ^= 1;
    cr_assert_eq(h_overwrite(&H, log, wrong, L.len[6]), LOG_ERR_INVALID, "corrupt copy");
    free(wrong);
    expect_one_bad(log, &L, 6);
    cr_assert(!file_has_batch(&L, 6));
    /* Truncation below it forgets it: a late repair finds nothing to overwrite. */
    int64_t end;
    cr_assert_eq(h_truncate(&H, log, L.bases[4], &end), LOG_OK);
    const struct log_bad_batch *bad;
    cr_assert_eq(partition_log_bad_batches(log, &bad), 0);
    cr_assert_eq(h_overwrite(&H, log, L.copy[6], L.len[6]), LOG_ERR_OUT_OF_RANGE);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), 4);
    partition_log_free(log);
    layout_free(&L);
}

struct held_read {
    struct log_read r;
    bool done;
    int status;
};

static void held_read_done(struct log_read *r, int status)
{
    struct held_read *hr = (struct held_read *)r;
    hr->done = true;
    hr->status = status;
}

Test(log_repair, a_read_across_an_overwrite_never_returns_the_old_bytes)
{
    struct partition_log_config cfg = repair_cfg(1 << 20);
    struct layout L;
    build(&cfg, 5, &L);
    flip(&L, 6, L.len[6] / 2);
    struct partition_log *log = h_open(&H, &cfg, NULL);
    expect_one_bad(log, &L, 6);
    /* A read from batch 5 reads the bad bytes of batch 6 from the file; its completion waits
     * until the overwrite has put the good copy in and forgotten the bad record. */
    H.fault.op_mask = 1u << LOG_IO_READ;
    log_io_fault_hold(&H.fault);
    struct held_read hr = {0};
    hr.r.offset = L.bases[5];
    hr.r.max_offset = INT64_MAX;
    hr.r.cap = 1 << 20;
    hr.r.buf = malloc(hr.r.cap);
    hr.r.on_complete = held_read_done;
    cr_assert_eq(partition_log_read(log, &hr.r), LOG_OK);
    cr_assert(h_wait_held(&H, 1));
    cr_assert_eq(h_overwrite(&H, log, L.copy[6], L.len[6]), LOG_OK);
    const struct log_bad_batch *bad;
    cr_assert_eq(partition_log_bad_batches(log, &bad), 0);
    cr_assert_eq(log_io_fault_release(&H.fault, 0), 0);
    H.fault.hold = false;
    H.fault.op_mask = 0;
    cr_assert_eq(log_engine_drive(&H.engine, &H.ring, &hr.done), 0);
    cr_assert_eq(hr.status, LOG_OK);
    cr_assert_eq(hr.r.next_offset, L.bases[6], "the stale bytes of batch 6 are not returned");
    cr_assert_eq(hr.r.len, L.len[5]);
    free(hr.r.buf);
    cr_assert_eq(h_read_all(&H, log, NULL, NULL, 0), N, "a new read gets the good copy");
    partition_log_free(log);
    layout_free(&L);
}
