/*
 * Owned consumed messages (issue 20 item 3): one allocation holding the
 * message, its header array and copies of the topic, key, value and
 * headers, so that an application may keep messages across polls and
 * free them when it is done, whatever the consumer does meanwhile.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ringlog.h"

/* Copies len bytes at *at (advancing it); NULL stays NULL, empty stays non-NULL. */
static const void *copy_bytes(char **at, const void *src, size_t len)
{
    if (!src)
        return NULL;
    char *dst = *at;
    if (len)
        memcpy(dst, src, len);
    *at += len;
    return dst;
}

static size_t message_bytes(const ringlog_message *m)
{
    size_t n = sizeof(*m) + m->header_count * sizeof(ringlog_header) + strlen(m->topic) + 1;
    n += m->key ? m->key_len : 0;
    n += m->value ? m->value_len : 0;
    for (size_t i = 0; i < m->header_count; i++)
        n += (m->headers[i].key ? m->headers[i].key_len : 0) +
             (m->headers[i].value ? m->headers[i].value_len : 0);
    return n;
}

ringlog_message *ringlog_message_dup(const ringlog_message *m)
{
    if (!m || !m->topic || (m->header_count && !m->headers))
        return NULL;
    size_t total = message_bytes(m);
    ringlog_message *out = malloc(total);
    if (!out)
        return NULL;
    *out = *m;
    ringlog_header *hdrs = (ringlog_header *)(out + 1);
    char *at = (char *)(hdrs + m->header_count);
    size_t tlen = strlen(m->topic) + 1;
    out->topic = copy_bytes(&at, m->topic, tlen);
    out->key = copy_bytes(&at, m->key, m->key_len);
    out->value = copy_bytes(&at, m->value, m->value_len);
    for (size_t i = 0; i < m->header_count; i++) {
        const ringlog_header *h = &m->headers[i];
        hdrs[i] = (ringlog_header){.key = copy_bytes(&at, h->key, h->key_len),
                                   .key_len = h->key ? h->key_len : 0,
                                   .value = copy_bytes(&at, h->value, h->value_len),
                                   .value_len = h->value ? h->value_len : 0};
    }
    out->headers = m->header_count ? hdrs : NULL;
    assert((size_t)(at - (char *)out) == total);
    return out;
}

void ringlog_message_destroy(ringlog_message *m)
{
    free(m);
}
