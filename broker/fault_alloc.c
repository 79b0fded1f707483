#include "fault_alloc.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "diag.h"

static int64_t fail_at; /* 0: off; written once before the shards start */
static _Atomic int64_t counted;

void fault_alloc_init(void)
{
    const char *text = getenv("RINGLOG_FAULT_ALLOC");
    fail_at = text ? strtoll(text, NULL, 10) : 0;
    if (fail_at < 0)
        fail_at = 0;
    atomic_store(&counted, 0);
    if (fail_at > 0)
        DIAG_WARN("RINGLOG_FAULT_ALLOC: allocation %lld on a request path will fail",
                  (long long)fail_at);
}

bool fault_alloc_fail(void)
{
    if (__builtin_expect(fail_at == 0, 1))
        return false;
    int64_t n = atomic_fetch_add(&counted, 1) + 1;
    assert(n > 0);
    if (n != fail_at)
        return false;
    DIAG_WARN("RINGLOG_FAULT_ALLOC: failing allocation %lld", (long long)n);
    return true;
}
