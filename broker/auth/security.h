/*
 * Users and ACLs (docs/SECURITY.md): the credential store, the ACL store
 * and the authoriser over them.
 *
 * Every shard reads them on every request once security is on, so readers
 * take no lock: the state is an immutable snapshot, and each shard holds a
 * reference to the one it last saw (its view). A change builds a new
 * snapshot under the store's mutex, persists it, and bumps the version;
 * a shard notices the new version at its next request (one atomic load)
 * and moves its view over, dropping its reference to the old one, which
 * is freed by whoever drops the last. Changes are rare; the mutex is
 * never taken on the request path while nothing changes.
 *
 * A single broker persists the state in <data-dir>/meta/security
 * (SecurityState in proto/ringlog.proto, written by atomic_file.c). A
 * cluster's state is the controller's metadata log instead
 * (controller/controller_security.c applies its records here).
 *
 * Status codes are this tier's own (enum sec_status); the handlers map
 * them to the wire's.
 */
#ifndef RINGLOG_BROKER_SECURITY_H
#define RINGLOG_BROKER_SECURITY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scram.h"

#define SEC_PRINCIPAL_MAX 160 /* "User:" and a name or certificate CN */
#define SEC_RESOURCE_MAX 255
#define SEC_MAX_USERS 10000
#define SEC_MAX_ACLS 100000
#define SEC_ANONYMOUS "User:ANONYMOUS" /* a connection that did not authenticate */

enum sec_status {
    SEC_OK = 0,
    SEC_UNKNOWN_USER = 1, /* no such user */
    SEC_NOT_FOUND = 2,    /* no such ACL */
    SEC_INVALID = 3,      /* a name, credential or ACL that is not valid */
    SEC_STORAGE = 4,      /* meta/security could not be written: nothing changed */
    SEC_LIMIT = 5,        /* SEC_MAX_USERS / SEC_MAX_ACLS */
    SEC_NOMEM = 6,
};

enum sec_resource { SEC_RES_TOPIC = 1, SEC_RES_GROUP = 2, SEC_RES_CLUSTER = 3 };

enum sec_op {
    SEC_OP_READ = 1,
    SEC_OP_WRITE = 2,
    SEC_OP_CREATE = 3,
    SEC_OP_DELETE = 4,
    SEC_OP_DESCRIBE = 5,
    SEC_OP_ALTER = 6,
};

struct sec_user {
    char name[RL_SCRAM_MAX_USER + 1];
    bool has[RL_SCRAM_HASHES];
    struct rl_scram_credential cred[RL_SCRAM_HASHES];
};

struct sec_acl {
    char principal[SEC_PRINCIPAL_MAX + 1]; /* "User:NAME"; "User:*" matches everyone */
    enum sec_resource resource;
    char name[SEC_RESOURCE_MAX + 1]; /* "" for the cluster */
    bool prefix;
    enum sec_op op;
    bool deny;
};

struct sec_snapshot {
    uint64_t version;
    uint32_t refs; /* under the store's mutex */
    size_t user_count;
    struct sec_user *users; /* sorted by name */
    size_t acl_count;
    struct sec_acl *acls;
};

struct sec_view {
    const struct sec_snapshot *snap;
    char pad[56]; /* one cache line per shard */
};

struct security {
    pthread_mutex_t mu;
    struct sec_snapshot *current; /* under mu */
    _Atomic uint64_t version;     /* current->version */
    struct sec_view *views;       /* [view_count], one per shard */
    int view_count;
    char path[4200]; /* meta/security; "" on a cluster (the metadata log keeps it) */
    uint8_t secret[32];
    char (*super_users)[SEC_PRINCIPAL_MAX + 1];
    size_t super_count;
    /* A cluster's --sasl-bootstrap-user, for the controller to propose while
     * the cluster has no user (controller_security.c); NULL: none. */
    struct sec_user *bootstrap_user;
    bool bootstrap_in_flight; /* shard 0 only */
};

/*
 * Loads <data_dir>/meta/security (absent: empty) unless cluster, sets up a
 * view for each of nshards, and takes the --super-users list (comma
 * separated names or "User:NAME"s; NULL: none). 0, or -1 with err.
 */
int security_open(struct security *sec, const char *data_dir, bool cluster, int nshards,
                  const char *super_users, char *err, size_t err_len);
void security_close(struct security *sec);

/*
 * --sasl-bootstrap-user NAME:PASSWORD: makes NAME a super user, and creates
 * it when no user exists yet (create: a single broker). A cluster keeps
 * the credentials in bootstrap_user for its controller to propose.
 * 0, or -1 with err.
 */
int security_bootstrap_user(struct security *sec, const char *spec, bool create, char *err,
                            size_t err_len);

/* The snapshot shard `shard` works with now: moves its view to the newest first. */
const struct sec_snapshot *security_view(struct security *sec, int shard);

/* Whether connections must authenticate (a user exists). */
static inline bool security_auth_required(const struct sec_snapshot *s)
{
    return s->user_count > 0;
}

/* Whether ACLs are enforced (a user or an ACL exists). */
static inline bool security_authoriser_on(const struct sec_snapshot *s)
{
    return s->user_count > 0 || s->acl_count > 0;
}

const struct sec_user *security_user(const struct sec_snapshot *s, const char *name);

/*
 * The credential an unknown user gets: salt and keys derived from the
 * store's secret and the name, so the same name always sees the same salt
 * and the exchange runs the same code as for a real user.
 */
void security_fake_credential(const struct security *sec, enum rl_scram_hash h, const char *name,
                              struct rl_scram_credential *out);

/* Creates or replaces a user's credentials (has[h]: cred[h] is given). */
enum sec_status security_put_user(struct security *sec, const struct sec_user *u);
enum sec_status security_delete_user(struct security *sec, const char *name);
enum sec_status security_add_acl(struct security *sec, const struct sec_acl *acl);
enum sec_status security_remove_acl(struct security *sec, const struct sec_acl *acl);

/* Whether s holds exactly this ACL. */
bool security_acl_exists(const struct sec_snapshot *s, const struct sec_acl *acl);

/* Whether an ACL's fields are valid (principal form, name for its resource). */
bool security_acl_valid(const struct sec_acl *acl);

bool security_is_super(const struct security *sec, const char *principal);

/*
 * Whether principal may do op on the resource: always when the authoriser
 * is off or principal is a super user; otherwise a matching deny refuses,
 * else a matching allow permits, else refused. An allow of read, write,
 * create, delete or alter implies describe.
 */
bool security_authorise(const struct security *sec, const struct sec_snapshot *s,
                        const char *principal, enum sec_resource res, const char *name,
                        enum sec_op op);

/*
 * Whether principal may do op on some resource of the type: an allow that
 * no deny wholly covers (InitProducerId, which names no topic, needs WRITE
 * on some topic).
 */
bool security_may_on_some(const struct security *sec, const struct sec_snapshot *s,
                          const char *principal, enum sec_resource res, enum sec_op op);

const char *sec_status_text(enum sec_status st);

#endif
