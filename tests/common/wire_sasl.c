#include "wire_sasl.h"

#include <stdio.h>
#include <string.h>

#include "sasl.h"
#include "scram.h"
#include "wire.h"

int wire_error_of(Ringlog__Response *r)
{
    if (!r)
        return -1;
    int e = r->error;
    ringlog__response__free_unpacked(r, NULL);
    return e;
}

Ringlog__Response *wire_authenticate(int fd, const char *mechanism, const void *bytes, size_t len)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__AuthenticateRequest ar = RINGLOG__AUTHENTICATE_REQUEST__INIT;
    ar.mechanism = (char *)(mechanism ? mechanism : "");
    ar.auth_bytes.data = (uint8_t *)bytes;
    ar.auth_bytes.len = len;
    req.body_case = RINGLOG__REQUEST__BODY_AUTHENTICATE;
    req.authenticate = &ar;
    return wire_call(fd, &req);
}

int wire_sasl_login(int fd, const char *mechanism, const char *user, const char *password)
{
    struct rl_sasl s;
    char err[256], msg[1024];
    if (rl_sasl_init(&s, mechanism, user, password, err, sizeof(err)) != 0)
        return -1;
    size_t n = rl_sasl_first(&s, msg, sizeof(msg));
    Ringlog__Response *r = wire_authenticate(fd, mechanism, msg, n);
    if (!r || r->error || r->body_case != RINGLOG__RESPONSE__BODY_AUTHENTICATE)
        return r ? wire_error_of(r) : -1;
    n = rl_sasl_final(&s, (const char *)r->authenticate->auth_bytes.data,
                      r->authenticate->auth_bytes.len, msg, sizeof(msg), err, sizeof(err));
    ringlog__response__free_unpacked(r, NULL);
    if (n == 0)
        return -1;
    r = wire_authenticate(fd, NULL, msg, n);
    if (!r || r->error || r->body_case != RINGLOG__RESPONSE__BODY_AUTHENTICATE)
        return r ? wire_error_of(r) : -1;
    bool ok = r->authenticate->complete &&
              rl_sasl_verify(&s, (const char *)r->authenticate->auth_bytes.data,
                             r->authenticate->auth_bytes.len, err, sizeof(err));
    ringlog__response__free_unpacked(r, NULL);
    return ok ? 0 : -1;
}

int wire_create_user(int fd, const char *name, const char *password)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__CreateUserRequest cu = RINGLOG__CREATE_USER_REQUEST__INIT;
    Ringlog__ScramCredential creds[RL_SCRAM_HASHES], *ptrs[RL_SCRAM_HASHES];
    struct rl_scram_credential c[RL_SCRAM_HASHES];
    for (int h = 0; h < RL_SCRAM_HASHES; h++) {
        if (rl_scram_credential_make((enum rl_scram_hash)h, password, RL_SCRAM_ITERATIONS, &c[h]) !=
            0)
            return -1;
        rl_scram_credential_to_pb((enum rl_scram_hash)h, &c[h], &creds[h]);
        ptrs[h] = &creds[h];
    }
    cu.name = (char *)name;
    cu.n_credentials = RL_SCRAM_HASHES;
    cu.credentials = ptrs;
    req.body_case = RINGLOG__REQUEST__BODY_CREATE_USER;
    req.create_user = &cu;
    return wire_error_of(wire_call(fd, &req));
}

int wire_delete_user(int fd, const char *name)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__DeleteUserRequest du = RINGLOG__DELETE_USER_REQUEST__INIT;
    du.name = (char *)name;
    req.body_case = RINGLOG__REQUEST__BODY_DELETE_USER;
    req.delete_user = &du;
    return wire_error_of(wire_call(fd, &req));
}

int wire_acl(int fd, bool add, const char *principal, Ringlog__AclResourceType res,
             const char *name, bool prefix, Ringlog__AclOperation op, bool deny)
{
    Ringlog__Request req = RINGLOG__REQUEST__INIT;
    Ringlog__AclRequest ar = RINGLOG__ACL_REQUEST__INIT;
    Ringlog__Acl acl = RINGLOG__ACL__INIT;
    acl.principal = (char *)principal;
    acl.resource_type = res;
    acl.resource_name = (char *)(name ? name : "");
    acl.prefix = prefix;
    acl.operation = op;
    acl.deny = deny;
    ar.acl = &acl;
    req.body_case = add ? RINGLOG__REQUEST__BODY_CREATE_ACL : RINGLOG__REQUEST__BODY_DELETE_ACL;
    if (add)
        req.create_acl = &ar;
    else
        req.delete_acl = &ar;
    return wire_error_of(wire_call(fd, &req));
}
