/* Outgoing frames of the peer links (peer_out.h). */
#include "peer_out.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fault_alloc.h"

struct peer_out *peer_out_new(size_t head_len, uint8_t *records, size_t records_len)
{
    assert(records != NULL || records_len == 0);
    struct peer_out *m = FAULT_ALLOC(malloc(sizeof(*m) + head_len));
    if (!m) {
        free(records);
        return NULL;
    }
    memset(m, 0, sizeof(*m));
    m->records = records;
    m->records_len = records_len;
    m->head_len = head_len;
    return m;
}

struct peer_out *peer_out_new_shared(size_t head_len, const uint8_t *records, size_t records_len,
                                     void (*release)(void *arg), void *arg)
{
    assert(release != NULL && records != NULL && records_len > 0);
    struct peer_out *m = FAULT_ALLOC(malloc(sizeof(*m) + head_len));
    if (!m) {
        release(arg);
        return NULL;
    }
    memset(m, 0, sizeof(*m));
    m->records = (uint8_t *)records; /* only read: it goes to the socket */
    m->records_len = records_len;
    m->head_len = head_len;
    m->release = release;
    m->release_arg = arg;
    return m;
}

uint8_t *peer_out_head(struct peer_out *m)
{
    assert(m != NULL);
    return m->head;
}

void peer_out_free(struct peer_out *m)
{
    if (!m)
        return;
    if (m->release)
        m->release(m->release_arg);
    else
        free(m->records);
    free(m);
}

int64_t peer_out_free_chain(struct peer_out *m)
{
    int64_t bytes = 0;
    while (m) {
        struct peer_out *next = m->next;
        bytes += (int64_t)peer_out_bytes(m);
        peer_out_free(m);
        m = next;
    }
    assert(bytes >= 0);
    return bytes;
}

struct peer_out *peer_out_pack(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    struct peer_out *m = peer_out_new(len, NULL, 0);
    if (m) {
        size_t packed = protobuf_c_message_pack(msg, m->head);
        assert(packed == len);
        (void)packed;
    }
    return m;
}
