/*
 * The store: snapshots, views, changes and their persistence. The
 * decisions over a snapshot are in authorise.c, the file format in
 * security_file.c.
 */
#include "security.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "security_internal.h"

static struct sec_snapshot *snapshot_new(uint64_t version, size_t users, size_t acls)
{
    struct sec_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->version = version;
    s->users = calloc(users ? users : 1, sizeof(*s->users));
    s->acls = calloc(acls ? acls : 1, sizeof(*s->acls));
    if (!s->users || !s->acls) {
        free(s->users);
        free(s->acls);
        free(s);
        return NULL;
    }
    return s;
}

static void snapshot_unref(struct sec_snapshot *s)
{
    assert(s == NULL || s->refs > 0);
    if (s && --s->refs == 0) {
        free(s->users);
        free(s->acls);
        free(s);
    }
}

/* Makes s current (the store's mutex held): the old one goes once no view holds it. */
static void publish(struct security *sec, struct sec_snapshot *s)
{
    assert(s->version == atomic_load(&sec->version) + 1);
    s->refs++;
    snapshot_unref(sec->current);
    sec->current = s;
    atomic_store_explicit(&sec->version, s->version, memory_order_release);
}

static int split_super_users(struct security *sec, const char *list, char *err, size_t err_len)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    sec->super_users = calloc(n, sizeof(*sec->super_users));
    if (!sec->super_users)
        return snprintf(err, err_len, "out of memory"), -1;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *name = p;
        if (len > 5 && strncmp(p, "User:", 5) == 0)
            name += 5, len -= 5;
        if (len == 0 || len > SEC_PRINCIPAL_MAX - 5 || memchr(name, ':', len)) {
            snprintf(err, err_len, "--super-users: \"%.*s\" is not a NAME or User:NAME",
                     (int)(end ? end - p : (long)strlen(p)), p);
            return -1;
        }
        snprintf(sec->super_users[sec->super_count++], SEC_PRINCIPAL_MAX + 1, "User:%.*s", (int)len,
                 name);
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

int security_open(struct security *sec, const char *data_dir, bool cluster, int nshards,
                  const char *super_users, char *err, size_t err_len)
{
    assert(nshards > 0);
    memset(sec, 0, sizeof(*sec));
    pthread_mutex_init(&sec->mu, NULL);
    sec->views = calloc((size_t)nshards, sizeof(*sec->views));
    if (!sec->views)
        return snprintf(err, err_len, "out of memory"), -1;
    sec->view_count = nshards;
    if (super_users && split_super_users(sec, super_users, err, err_len) != 0)
        return -1;
    if (!cluster)
        snprintf(sec->path, sizeof(sec->path), "%s/meta/security", data_dir);
    struct sec_snapshot *s = NULL;
    if (security_file_load(sec, &s, err, err_len) != 0)
        return -1;
    atomic_store(&sec->version, s->version - 1);
    publish(sec, s);
    return 0;
}

void security_close(struct security *sec)
{
    for (int i = 0; i < sec->view_count; i++)
        snapshot_unref((struct sec_snapshot *)sec->views[i].snap);
    snapshot_unref(sec->current);
    free(sec->views);
    free(sec->super_users);
    free(sec->bootstrap_user);
    pthread_mutex_destroy(&sec->mu);
    memset(sec, 0, sizeof(*sec));
}

const struct sec_snapshot *security_view(struct security *sec, int shard)
{
    assert(shard >= 0 && shard < sec->view_count);
    struct sec_view *v = &sec->views[shard];
    uint64_t now = atomic_load_explicit(&sec->version, memory_order_acquire);
    if (v->snap && v->snap->version == now)
        return v->snap;
    pthread_mutex_lock(&sec->mu);
    struct sec_snapshot *old = (struct sec_snapshot *)v->snap;
    sec->current->refs++;
    v->snap = sec->current;
    snapshot_unref(old);
    pthread_mutex_unlock(&sec->mu);
    return v->snap;
}

static int user_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sec_user *)a)->name, ((const struct sec_user *)b)->name);
}

const struct sec_user *security_user(const struct sec_snapshot *s, const char *name)
{
    struct sec_user key;
    if (strlen(name) > RL_SCRAM_MAX_USER)
        return NULL;
    strcpy(key.name, name);
    return bsearch(&key, s->users, s->user_count, sizeof(*s->users), user_cmp);
}

void security_fake_credential(const struct security *sec, enum rl_scram_hash h, const char *name,
                              struct rl_scram_credential *out)
{
    assert(out != NULL && name != NULL);
    uint8_t mac[RL_SCRAM_MAX_KEY];
    char label[RL_SCRAM_MAX_USER + 16];
    memset(out, 0, sizeof(*out));
    out->iterations = RL_SCRAM_ITERATIONS;
    out->salt_len = RL_SCRAM_SALT_BYTES;
    snprintf(label, sizeof(label), "salt\n%s", name);
    rl_scram_hmac(h, sec->secret, sizeof(sec->secret), label, strlen(label), mac);
    memcpy(out->salt, mac, out->salt_len);
    snprintf(label, sizeof(label), "stored\n%s", name);
    rl_scram_hmac(h, sec->secret, sizeof(sec->secret), label, strlen(label), out->stored_key);
    snprintf(label, sizeof(label), "server\n%s", name);
    rl_scram_hmac(h, sec->secret, sizeof(sec->secret), label, strlen(label), out->server_key);
}

/*
 * Applies one change to a copy of the current snapshot, persists it (a
 * single broker) and publishes it, all under the mutex so changes from
 * several shards are serialised.
 */
static enum sec_status change(struct security *sec,
                              enum sec_status (*edit)(struct sec_snapshot *, const void *),
                              const void *arg, size_t more_users, size_t more_acls)
{
    pthread_mutex_lock(&sec->mu);
    const struct sec_snapshot *cur = sec->current;
    struct sec_snapshot *s =
        snapshot_new(cur->version + 1, cur->user_count + more_users, cur->acl_count + more_acls);
    enum sec_status st = SEC_NOMEM;
    if (s) {
        s->user_count = cur->user_count;
        s->acl_count = cur->acl_count;
        memcpy(s->users, cur->users, cur->user_count * sizeof(*s->users));
        memcpy(s->acls, cur->acls, cur->acl_count * sizeof(*s->acls));
        st = edit(s, arg);
    }
    if (st == SEC_OK && sec->path[0] && security_file_save(sec, s) != 0)
        st = SEC_STORAGE;
    if (st == SEC_OK)
        publish(sec, s);
    else if (s)
        s->refs = 1, snapshot_unref(s);
    pthread_mutex_unlock(&sec->mu);
    return st;
}

static enum sec_status edit_put_user(struct sec_snapshot *s, const void *arg)
{
    const struct sec_user *u = arg;
    struct sec_user *found = (struct sec_user *)security_user(s, u->name);
    if (found) {
        *found = *u;
        return SEC_OK;
    }
    if (s->user_count >= SEC_MAX_USERS)
        return SEC_LIMIT;
    s->users[s->user_count++] = *u;
    qsort(s->users, s->user_count, sizeof(*s->users), user_cmp);
    return SEC_OK;
}

enum sec_status security_put_user(struct security *sec, const struct sec_user *u)
{
    if (!rl_scram_user_valid(u->name, strlen(u->name)) || !(u->has[0] || u->has[1]))
        return SEC_INVALID;
    return change(sec, edit_put_user, u, 1, 0);
}

static enum sec_status edit_delete_user(struct sec_snapshot *s, const void *arg)
{
    const struct sec_user *found = security_user(s, arg);
    if (!found)
        return SEC_UNKNOWN_USER;
    size_t i = (size_t)(found - s->users);
    memmove(&s->users[i], &s->users[i + 1], (s->user_count - i - 1) * sizeof(*s->users));
    s->user_count--;
    return SEC_OK;
}

enum sec_status security_delete_user(struct security *sec, const char *name)
{
    return change(sec, edit_delete_user, name, 0, 0);
}

static bool acl_equal(const struct sec_acl *a, const struct sec_acl *b)
{
    return strcmp(a->principal, b->principal) == 0 && a->resource == b->resource &&
           strcmp(a->name, b->name) == 0 && a->prefix == b->prefix && a->op == b->op &&
           a->deny == b->deny;
}

bool security_acl_exists(const struct sec_snapshot *s, const struct sec_acl *acl)
{
    for (size_t i = 0; i < s->acl_count; i++)
        if (acl_equal(&s->acls[i], acl))
            return true;
    return false;
}

static enum sec_status edit_add_acl(struct sec_snapshot *s, const void *arg)
{
    if (security_acl_exists(s, arg))
        return SEC_OK; /* already there: adding is idempotent */
    if (s->acl_count >= SEC_MAX_ACLS)
        return SEC_LIMIT;
    s->acls[s->acl_count++] = *(const struct sec_acl *)arg;
    return SEC_OK;
}

enum sec_status security_add_acl(struct security *sec, const struct sec_acl *acl)
{
    if (!security_acl_valid(acl))
        return SEC_INVALID;
    return change(sec, edit_add_acl, acl, 0, 1);
}

static enum sec_status edit_remove_acl(struct sec_snapshot *s, const void *arg)
{
    for (size_t i = 0; i < s->acl_count; i++) {
        if (acl_equal(&s->acls[i], arg)) {
            memmove(&s->acls[i], &s->acls[i + 1], (s->acl_count - i - 1) * sizeof(*s->acls));
            s->acl_count--;
            return SEC_OK;
        }
    }
    return SEC_NOT_FOUND;
}

enum sec_status security_remove_acl(struct security *sec, const struct sec_acl *acl)
{
    return change(sec, edit_remove_acl, acl, 0, 0);
}

const char *sec_status_text(enum sec_status st)
{
    switch (st) {
    case SEC_OK:
        return "ok";
    case SEC_UNKNOWN_USER:
        return "no such user";
    case SEC_NOT_FOUND:
        return "no such ACL";
    case SEC_INVALID:
        return "invalid name, credential or ACL";
    case SEC_STORAGE:
        return "could not write meta/security: nothing changed";
    case SEC_LIMIT:
        return "too many users or ACLs";
    case SEC_NOMEM:
        return "out of memory";
    }
    return "unknown";
}

int security_bootstrap_user(struct security *sec, const char *spec, bool create, char *err,
                            size_t err_len)
{
    const char *colon = strchr(spec, ':');
    struct sec_user u;
    memset(&u, 0, sizeof(u));
    if (!colon || !rl_scram_user_valid(spec, (size_t)(colon - spec)) || colon[1] == '\0')
        return snprintf(err, err_len,
                        "--sasl-bootstrap-user: expected NAME:PASSWORD (NAME of [A-Za-z0-9._@+-])"),
               -1;
    memcpy(u.name, spec, (size_t)(colon - spec));
    void *more = realloc(sec->super_users, (sec->super_count + 1) * sizeof(*sec->super_users));
    if (!more)
        return snprintf(err, err_len, "out of memory"), -1;
    sec->super_users = more;
    snprintf(sec->super_users[sec->super_count++], SEC_PRINCIPAL_MAX + 1, "User:%s", u.name);
    pthread_mutex_lock(&sec->mu);
    bool empty = sec->current->user_count == 0;
    pthread_mutex_unlock(&sec->mu);
    if (create && !empty)
        return 0;
    for (int h = 0; h < RL_SCRAM_HASHES; h++) {
        if (rl_scram_credential_make((enum rl_scram_hash)h, colon + 1, RL_SCRAM_ITERATIONS,
                                     &u.cred[h]) != 0)
            return snprintf(err, err_len, "--sasl-bootstrap-user: key derivation failed"), -1;
        u.has[h] = true;
    }
    if (!create) {
        sec->bootstrap_user = malloc(sizeof(u));
        if (!sec->bootstrap_user)
            return snprintf(err, err_len, "out of memory"), -1;
        *sec->bootstrap_user = u;
        return 0;
    }
    enum sec_status st = security_put_user(sec, &u);
    if (st != SEC_OK)
        return snprintf(err, err_len, "--sasl-bootstrap-user: %s", sec_status_text(st)), -1;
    return 0;
}
