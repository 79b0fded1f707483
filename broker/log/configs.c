/*
 * The configuration table of a partition's log: the newest few
 * configuration control batches (RL_CONTROL_CONFIG, docs/FORMAT.md) with
 * their offsets and values, which the replication core restores its
 * membership from (replica_group_restore.configs). The engine does not read
 * the values: they are the replication layer's encoding, kept as bytes.
 *
 * Like the epoch table (epochs.c): appends note them when their group
 * retires, truncation cuts them with the log, a reset replaces them with the
 * config in effect at the new start, the checkpoint keeps those below its
 * offset and recovery's scan adds the ones after it. Retention keeps them:
 * the newest config below the log start is still the one in effect there.
 * Only the newest LOG_MAX_CONFIGS are kept: a group changes its membership
 * one committed step at a time, so only the newest can ever be cut.
 */
#include <string.h>

#include "batch.h"
#include "log_internal.h"

/* Keeps (offset, value) as the newest entry, dropping the oldest when full. */
void configs_note(struct partition_log *log, int64_t offset, const uint8_t *value, size_t len)
{
    assert(len <= LOG_CONFIG_VALUE_MAX);
    assert(log->nconfigs <= LOG_MAX_CONFIGS);
    if (log->nconfigs > 0 && log->configs[log->nconfigs - 1].offset >= offset)
        return; /* a batch noted twice (recovery over a checkpointed range) */
    if (log->nconfigs == LOG_MAX_CONFIGS) {
        memmove(log->configs, log->configs + 1, (LOG_MAX_CONFIGS - 1) * sizeof(*log->configs));
        log->nconfigs--;
    }
    struct log_config *c = &log->configs[log->nconfigs++];
    c->offset = offset;
    c->len = (uint16_t)len;
    memcpy(c->value, value, len);
}

/* A control batch's config record, if it is one (anything else passes). */
void configs_note_batch(struct partition_log *log, const uint8_t *batch,
                        const struct rl_batch_header *h)
{
    if (!rl_batch_is_control(h))
        return;
    struct rl_record_iter it;
    struct rl_record r;
    if (rl_record_iter_init(&it, batch, h) != RL_OK || rl_record_iter_next(&it, &r) != RL_OK ||
        r.key_len != 2 || r.value_len < 0)
        return;
    uint16_t type = (uint16_t)(r.key[0] | r.key[1] << 8);
    if (type != RL_CONTROL_CONFIG)
        return;
    if ((size_t)r.value_len > LOG_CONFIG_VALUE_MAX) {
        log_msg(log, LOG_LEVEL_WARN, "config batch at %lld has a %d-byte value: not kept",
                (long long)h->base_offset, (int)r.value_len);
        return;
    }
    configs_note(log, h->base_offset, r.value, (size_t)r.value_len);
}

/* The log now ends at `end`: configs at or past it go. */
void configs_truncate(struct partition_log *log, int64_t end)
{
    while (log->nconfigs > 0 && log->configs[log->nconfigs - 1].offset >= end)
        log->nconfigs--;
}

uint32_t partition_log_configs(const struct partition_log *log, const struct log_config **out)
{
    assert(log != NULL && out != NULL);
    assert(log->nconfigs <= LOG_MAX_CONFIGS);
    *out = log->configs;
    return log->nconfigs;
}
