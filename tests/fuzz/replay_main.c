/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput once on each input file,
 * without libFuzzer, so the gcc ASan+UBSan build of `make test` replays
 * every seed corpus and every kept finding in seconds.
 *
 * Usage: replay_TARGET PATH...; a directory stands for the files in it
 * (sorted, one level), a missing directory for none (a target may have no
 * findings yet). Fails unless at least one input ran: a corpus that moved
 * must not pass as an empty one. A failing input aborts inside the target
 * after its name is printed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_check.h"

/* Larger than any input libFuzzer is told to make (run-fuzz.sh -max_len). */
enum { MAX_INPUT_BYTES = 1 << 20 };

/* Reads the file into an exactly-sized buffer, so ASan sees any over-read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static uint8_t buf[MAX_INPUT_BYTES];
    size_t n = fread(buf, 1, sizeof(buf), f);
    int too_big = fgetc(f) != EOF;
    fclose(f);
    if (too_big) {
        fprintf(stderr, "replay: %s: larger than %d bytes\n", path, MAX_INPUT_BYTES);
        return -1;
    }
    uint8_t *copy = malloc(n ? n : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, buf, n);
    fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays the regular files of one directory in name order; returns how many, or -1. */
static long replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return errno == ENOENT ? 0 : -1;
    long ran = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && names[i]->d_name[0] != '.') {
            if (replay_file(path) != 0)
                ran = -1;
            else if (ran >= 0)
                ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long ran;
        if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode))
            ran = replay_file(argv[i]) == 0 ? 1 : -1;
        else
            ran = replay_dir(argv[i]);
        if (ran < 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 1;
        }
        total += ran;
    }
    printf("replay: %ld inputs\n", total);
    return total > 0 ? 0 : 1;
}
