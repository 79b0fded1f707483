/*
 * Start-up check that the kernel's io_uring has everything the broker
 * relies on, so a missing feature is refused with a message that names it
 * instead of failing obscurely under load.
 */
#ifndef RINGLOG_BROKER_URING_PROBE_H
#define RINGLOG_BROKER_URING_PROBE_H

#include <stddef.h>

/* Returns 0, or -1 with err naming the first missing feature. */
int uring_probe_features(char *err, size_t err_len);

#endif
