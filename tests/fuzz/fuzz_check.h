/*
 * What every fuzz target shares: the entry point's prototype and a check
 * that stops the process loudly. A failed check is a finding to libFuzzer
 * (it aborts) and fails the replay tests `make test` runs; plain assert()
 * would vanish in a build with NDEBUG.
 */
#ifndef RINGLOG_TESTS_FUZZ_CHECK_H
#define RINGLOG_TESTS_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline _Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz check failed: %s:%d: %s\n", file, line, what);
    abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

#endif
