/*
 * <data-dir>/meta/security: a SecurityState (proto/ringlog.proto), written
 * whole and atomically (atomic_file.c) at every change. It holds salted
 * keys, never a password; still, it is written with mode 0600.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "ringlog.pb-c.h"
#include "security_internal.h"
#include "security_pb.h"

enum { FILE_MAX = 64 << 20 };

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 1 : -1;
    uint8_t *buf = malloc(FILE_MAX);
    size_t n = buf ? fread(buf, 1, FILE_MAX, f) : 0;
    int bad = !buf || ferror(f) || n == FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The state in buf into s (allocated for it) and sec->secret. 0 or -1. */
static int decode(struct security *sec, const uint8_t *buf, size_t len, struct sec_snapshot **out)
{
    Ringlog__SecurityState *st = ringlog__security_state__unpack(NULL, len, buf);
    if (!st || st->secret.len != sizeof(sec->secret)) {
        if (st)
            ringlog__security_state__free_unpacked(st, NULL);
        return -1;
    }
    memcpy(sec->secret, st->secret.data, sizeof(sec->secret));
    struct sec_snapshot *s = calloc(1, sizeof(*s));
    if (s) {
        s->users = calloc(st->n_users + 1, sizeof(*s->users));
        s->acls = calloc(st->n_acls + 1, sizeof(*s->acls));
    }
    int rc = s && s->users && s->acls ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < st->n_users; i++, s->user_count++)
        if (!sec_user_from_pb(st->users[i]->name, st->users[i]->credentials,
                              st->users[i]->n_credentials, &s->users[i]) ||
            (i > 0 && strcmp(s->users[i - 1].name, s->users[i].name) >= 0))
            rc = -1;
    for (size_t i = 0; rc == 0 && i < st->n_acls; i++, s->acl_count++)
        if (!sec_acl_from_pb(st->acls[i], &s->acls[i]))
            rc = -1;
    ringlog__security_state__free_unpacked(st, NULL);
    if (rc != 0 && s) {
        free(s->users);
        free(s->acls);
        free(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

int security_file_load(struct security *sec, struct sec_snapshot **out, char *err, size_t err_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = sec->path[0] ? read_whole(sec->path, &buf, &len) : 1;
    if (r < 0)
        return snprintf(err, err_len, "%s: cannot read: %s", sec->path, strerror(errno)), -1;
    if (r == 1) {
        *out = calloc(1, sizeof(**out));
        if (*out) {
            (*out)->users = calloc(1, sizeof(*(*out)->users));
            (*out)->acls = calloc(1, sizeof(*(*out)->acls));
        }
        if (!*out || !(*out)->users || !(*out)->acls ||
            rl_scram_random(sec->secret, sizeof(sec->secret)) != 0)
            return snprintf(err, err_len, "out of memory or no randomness"), -1;
        (*out)->version = 1;
        return 0;
    }
    int rc = decode(sec, buf, len, out);
    free(buf);
    if (rc != 0)
        return snprintf(err, err_len, "%s: not a valid security state (damaged?)", sec->path), -1;
    (*out)->version = 1;
    return 0;
}

int security_file_save(const struct security *sec, const struct sec_snapshot *s)
{
    assert(sec->path[0] != '\0');
    Ringlog__SecurityState st = RINGLOG__SECURITY_STATE__INIT;
    Ringlog__ClusterUser *users = calloc(s->user_count + 1, sizeof(*users));
    Ringlog__ClusterUser **uptr = calloc(s->user_count + 1, sizeof(*uptr));
    Ringlog__ScramCredential *creds = calloc(s->user_count * RL_SCRAM_HASHES + 1, sizeof(*creds));
    Ringlog__ScramCredential **cptr = calloc(s->user_count * RL_SCRAM_HASHES + 1, sizeof(*cptr));
    Ringlog__Acl *acls = calloc(s->acl_count + 1, sizeof(*acls));
    Ringlog__Acl **aptr = calloc(s->acl_count + 1, sizeof(*aptr));
    uint8_t *buf = NULL;
    int rc = -1;
    if (users && uptr && creds && cptr && acls && aptr) {
        for (size_t i = 0; i < s->user_count; i++) {
            sec_user_to_pb(&s->users[i], &users[i], &creds[i * RL_SCRAM_HASHES],
                           &cptr[i * RL_SCRAM_HASHES]);
            uptr[i] = &users[i];
        }
        for (size_t i = 0; i < s->acl_count; i++) {
            sec_acl_to_pb(&s->acls[i], &acls[i]);
            aptr[i] = &acls[i];
        }
        st.n_users = s->user_count;
        st.users = uptr;
        st.n_acls = s->acl_count;
        st.acls = aptr;
        st.secret.data = (uint8_t *)sec->secret;
        st.secret.len = sizeof(sec->secret);
        size_t n = ringlog__security_state__get_packed_size(&st);
        if ((buf = malloc(n ? n : 1)) != NULL) {
            ringlog__security_state__pack(&st, buf);
            mode_t old = umask(077);
            rc = atomic_file_write(sec->path, buf, n) == 0 ? 0 : -1;
            umask(old);
        }
    }
    free(buf);
    free(users);
    free(uptr);
    free(creds);
    free(cptr);
    free(acls);
    free(aptr);
    return rc;
}
