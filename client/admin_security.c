/*
 * Users and ACLs through the admin client (ringlog.h "Users and ACLs"). A
 * user's SCRAM credentials are derived here from the password, for both
 * mechanisms: the broker gets salts and keys, never the password.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin_internal.h"
#include "conn.h"
#include "scram.h"

/* A change (to the controller on a cluster) whose answer carries nothing but its error. */
static int call_plain(ringlog_admin *a, Ringlog__Request *req, char *errbuf, size_t errlen)
{
    rl_admin_lock(a);
    int err = rl_admin_controller_call(a, NULL, req, NULL, NULL, errbuf, errlen);
    rl_admin_unlock(a);
    return err;
}

int ringlog_admin_create_user(ringlog_admin *a, const char *name, const char *password,
                              char *errbuf, size_t errlen)
{
    if (!a || !name || !password || !rl_scram_user_valid(name, strlen(name)) || !*password) {
        rl_errbuf(errbuf, errlen, "a user needs a name of 1..%d of [A-Za-z0-9._@+-] and a password",
                  RL_SCRAM_MAX_USER);
        return RINGLOG_ERR_INVALID_ARG;
    }
    struct rl_scram_credential c[RL_SCRAM_HASHES];
    Ringlog__ScramCredential creds[RL_SCRAM_HASHES], *ptrs[RL_SCRAM_HASHES];
    for (int h = 0; h < RL_SCRAM_HASHES; h++) {
        if (rl_scram_credential_make((enum rl_scram_hash)h, password, RL_SCRAM_ITERATIONS, &c[h]) !=
            0) {
            rl_errbuf(errbuf, errlen, "SCRAM key derivation failed");
            return RINGLOG_ERR_INVALID_ARG;
        }
        rl_scram_credential_to_pb((enum rl_scram_hash)h, &c[h], &creds[h]);
        ptrs[h] = &creds[h];
    }
    Ringlog__CreateUserRequest cu = RINGLOG__CREATE_USER_REQUEST__INIT;
    cu.name = (char *)name;
    cu.n_credentials = RL_SCRAM_HASHES;
    cu.credentials = ptrs;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_USER;
    req.create_user = &cu;
    int err = call_plain(a, &req, errbuf, errlen);
    OPENSSL_cleanse(c, sizeof(c));
    return err;
}

int ringlog_admin_delete_user(ringlog_admin *a, const char *name, char *errbuf, size_t errlen)
{
    if (!a || !name) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__DeleteUserRequest du = RINGLOG__DELETE_USER_REQUEST__INIT;
    du.name = (char *)name;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_USER;
    req.delete_user = &du;
    return call_plain(a, &req, errbuf, errlen);
}

int ringlog_admin_list_users(ringlog_admin *a, char ***names, size_t *count, char *errbuf,
                             size_t errlen)
{
    if (!a || !names || !count)
        return RINGLOG_ERR_INVALID_ARG;
    *names = NULL;
    *count = 0;
    Ringlog__ListUsersRequest lu = RINGLOG__LIST_USERS_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_USERS;
    req.list_users = &lu;
    Ringlog__Response *resp;
    int err = rl_admin_call(a, &req, &resp, true, errbuf, errlen);
    if (err)
        return err;
    const Ringlog__ListUsersResponse *lr =
        resp->body_case == RINGLOG__RESPONSE__BODY_LIST_USERS ? resp->list_users : NULL;
    size_t n = lr ? lr->n_users : 0, bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(lr->users[i]->name) + 1;
    char **arr = malloc(bytes);
    if (!arr) {
        rl_conn_response_free(resp);
        return RINGLOG_ERR_NOMEM;
    }
    char *s = (char *)(arr + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(lr->users[i]->name) + 1;
        memcpy(s, lr->users[i]->name, len);
        arr[i] = s;
        s += len;
    }
    arr[n] = NULL;
    rl_conn_response_free(resp);
    *names = arr;
    *count = n;
    return RINGLOG_OK;
}

static int change_acl(ringlog_admin *a, const ringlog_acl *acl, bool add, char *errbuf,
                      size_t errlen)
{
    if (!a || !acl || !acl->principal) {
        rl_errbuf(errbuf, errlen, "invalid argument");
        return RINGLOG_ERR_INVALID_ARG;
    }
    Ringlog__Acl pb = RINGLOG__ACL__INIT;
    pb.principal = (char *)acl->principal;
    pb.resource_type = (Ringlog__AclResourceType)acl->resource;
    pb.resource_name = (char *)(acl->name ? acl->name : "");
    pb.prefix = acl->prefix != 0;
    pb.operation = (Ringlog__AclOperation)acl->operation;
    pb.deny = acl->deny != 0;
    Ringlog__AclRequest ar = RINGLOG__ACL_REQUEST__INIT;
    ar.acl = &pb;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = add ? RINGLOG__REQUEST__BODY_CREATE_ACL : RINGLOG__REQUEST__BODY_DELETE_ACL;
    if (add)
        req.create_acl = &ar;
    else
        req.delete_acl = &ar;
    return call_plain(a, &req, errbuf, errlen);
}

int ringlog_admin_add_acl(ringlog_admin *a, const ringlog_acl *acl, char *errbuf, size_t errlen)
{
    return change_acl(a, acl, true, errbuf, errlen);
}

int ringlog_admin_remove_acl(ringlog_admin *a, const ringlog_acl *acl, char *errbuf, size_t errlen)
{
    return change_acl(a, acl, false, errbuf, errlen);
}

/* Copies the listed ACLs into one allocation: the array, then their strings. */
static ringlog_acl *copy_acls(const Ringlog__ListAclsResponse *lr)
{
    size_t n = lr->n_acls, bytes = (n + 1) * sizeof(ringlog_acl);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(lr->acls[i]->principal) + strlen(lr->acls[i]->resource_name) + 2;
    ringlog_acl *arr = calloc(1, bytes);
    if (!arr)
        return NULL;
    char *s = (char *)(arr + n + 1);
    for (size_t i = 0; i < n; i++) {
        const Ringlog__Acl *x = lr->acls[i];
        size_t pl = strlen(x->principal) + 1, nl = strlen(x->resource_name) + 1;
        memcpy(s, x->principal, pl);
        arr[i].principal = s;
        memcpy(s + pl, x->resource_name, nl);
        arr[i].name = s + pl;
        s += pl + nl;
        arr[i].resource = (ringlog_acl_resource)x->resource_type;
        arr[i].prefix = x->prefix;
        arr[i].operation = (ringlog_acl_operation)x->operation;
        arr[i].deny = x->deny;
    }
    assert((size_t)(s - (char *)arr) == bytes);
    return arr;
}

int ringlog_admin_list_acls(ringlog_admin *a, ringlog_acl **acls, size_t *count, char *errbuf,
                            size_t errlen)
{
    if (!a || !acls || !count)
        return RINGLOG_ERR_INVALID_ARG;
    *acls = NULL;
    *count = 0;
    Ringlog__ListAclsRequest la = RINGLOG__LIST_ACLS_REQUEST__INIT;
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    req.body_case = RINGLOG__REQUEST__BODY_LIST_ACLS;
    req.list_acls = &la;
    Ringlog__Response *resp;
    int err = rl_admin_call(a, &req, &resp, true, errbuf, errlen);
    if (err)
        return err;
    Ringlog__ListAclsResponse empty = RINGLOG__LIST_ACLS_RESPONSE__INIT;
    const Ringlog__ListAclsResponse *lr =
        resp->body_case == RINGLOG__RESPONSE__BODY_LIST_ACLS ? resp->list_acls : &empty;
    *acls = copy_acls(lr);
    *count = lr->n_acls;
    rl_conn_response_free(resp);
    if (!*acls) {
        *count = 0;
        return RINGLOG_ERR_NOMEM;
    }
    return RINGLOG_OK;
}
