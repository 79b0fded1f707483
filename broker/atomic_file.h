/*
 * Small metadata files (topic table, group offsets, producer-id block,
 * cluster id) are replaced whole and atomically: the new content goes to
 * PATH.tmp, is fsynced, renamed over PATH, and the directory is fsynced, so
 * after a crash PATH holds either the old or the new content, never a mix.
 */
#ifndef RINGLOG_BROKER_ATOMIC_FILE_H
#define RINGLOG_BROKER_ATOMIC_FILE_H

#include <stddef.h>

/* Returns 0, or -errno (the old file is then untouched). */
int atomic_file_write(const char *path, const void *data, size_t len);

#endif
