/* What security.c and security_file.c share. */
#ifndef RINGLOG_BROKER_SECURITY_INTERNAL_H
#define RINGLOG_BROKER_SECURITY_INTERNAL_H

#include <stddef.h>

#include "security.h"

/*
 * Reads sec->path (none, or "" for a cluster: an empty state and a fresh
 * secret) into a new snapshot of version 1, and sets sec->secret.
 * 0, or -1 with err.
 */
int security_file_load(struct security *sec, struct sec_snapshot **out, char *err, size_t err_len);

/* Writes s and the secret to sec->path atomically. 0 or -1. */
int security_file_save(const struct security *sec, const struct sec_snapshot *s);

#endif
