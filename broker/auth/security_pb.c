#include "security_pb.h"

#include <assert.h>
#include <string.h>

static bool cred_from_pb(const Ringlog__ScramCredential *pb, struct sec_user *u)
{
    enum rl_scram_hash h;
    if (rl_scram_mechanism_parse(pb->mechanism, &h) != 0)
        return false;
    size_t k = rl_scram_key_len(h);
    if (pb->iterations < RL_SCRAM_ITERATIONS || pb->iterations > RL_SCRAM_MAX_ITERATIONS ||
        pb->salt.len == 0 || pb->salt.len > RL_SCRAM_MAX_SALT || pb->stored_key.len != k ||
        pb->server_key.len != k)
        return false;
    struct rl_scram_credential *c = &u->cred[h];
    c->iterations = pb->iterations;
    c->salt_len = pb->salt.len;
    memcpy(c->salt, pb->salt.data, pb->salt.len);
    memcpy(c->stored_key, pb->stored_key.data, k);
    memcpy(c->server_key, pb->server_key.data, k);
    u->has[h] = true;
    return true;
}

bool sec_user_from_pb(const char *name, Ringlog__ScramCredential *const *creds, size_t n,
                      struct sec_user *out)
{
    memset(out, 0, sizeof(*out));
    if (!name || !rl_scram_user_valid(name, strlen(name)) || n == 0 || n > RL_SCRAM_HASHES)
        return false;
    strcpy(out->name, name);
    for (size_t i = 0; i < n; i++)
        if (!cred_from_pb(creds[i], out))
            return false;
    return true;
}

bool sec_acl_from_pb(const Ringlog__Acl *pb, struct sec_acl *out)
{
    memset(out, 0, sizeof(*out));
    if (!pb || !pb->principal || !pb->resource_name || strlen(pb->principal) > SEC_PRINCIPAL_MAX ||
        strlen(pb->resource_name) > SEC_RESOURCE_MAX)
        return false;
    strcpy(out->principal, pb->principal);
    strcpy(out->name, pb->resource_name);
    out->resource = (enum sec_resource)pb->resource_type;
    out->op = (enum sec_op)pb->operation;
    out->prefix = pb->prefix;
    out->deny = pb->deny;
    return security_acl_valid(out);
}

void sec_user_to_pb(const struct sec_user *u, Ringlog__ClusterUser *pb,
                    Ringlog__ScramCredential *creds, Ringlog__ScramCredential **ptrs)
{
    ringlog__cluster_user__init(pb);
    pb->name = (char *)u->name;
    pb->credentials = ptrs;
    for (int h = 0; h < RL_SCRAM_HASHES; h++) {
        if (!u->has[h])
            continue;
        Ringlog__ScramCredential *pc = &creds[pb->n_credentials];
        rl_scram_credential_to_pb((enum rl_scram_hash)h, &u->cred[h], pc);
        ptrs[pb->n_credentials++] = pc;
    }
    assert(pb->n_credentials <= RL_SCRAM_HASHES);
}

void sec_acl_to_pb(const struct sec_acl *acl, Ringlog__Acl *pb)
{
    ringlog__acl__init(pb);
    pb->principal = (char *)acl->principal;
    pb->resource_type = (Ringlog__AclResourceType)acl->resource;
    pb->resource_name = (char *)acl->name;
    pb->prefix = acl->prefix;
    pb->operation = (Ringlog__AclOperation)acl->op;
    pb->deny = acl->deny;
}
