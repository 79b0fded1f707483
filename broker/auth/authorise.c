/* The authoriser's decisions over a snapshot (security.h). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "security.h"

bool security_acl_valid(const struct sec_acl *acl)
{
    if (strncmp(acl->principal, "User:", 5) != 0 || acl->principal[5] == '\0' ||
        strchr(acl->principal + 5, ','))
        return false;
    if (acl->op < SEC_OP_READ || acl->op > SEC_OP_ALTER)
        return false;
    switch (acl->resource) {
    case SEC_RES_CLUSTER:
        return acl->name[0] == '\0' && !acl->prefix;
    case SEC_RES_TOPIC:
    case SEC_RES_GROUP:
        /* A prefix may be empty (every name); a literal may not. */
        return acl->prefix || acl->name[0] != '\0';
    }
    return false;
}

bool security_is_super(const struct security *sec, const char *principal)
{
    for (size_t i = 0; i < sec->super_count; i++)
        if (strcmp(sec->super_users[i], principal) == 0)
            return true;
    return false;
}

static bool principal_matches(const struct sec_acl *acl, const char *principal);

/* Whether acl speaks of this principal, resource and operation. */
static bool matches(const struct sec_acl *acl, const char *principal, enum sec_resource res,
                    const char *name, enum sec_op op)
{
    if (acl->resource != res || !principal_matches(acl, principal))
        return false;
    if (acl->op != op) {
        /* Allowing anything on a resource lets one see it (describe). */
        bool implied = op == SEC_OP_DESCRIBE && !acl->deny;
        if (!implied)
            return false;
    }
    if (res == SEC_RES_CLUSTER)
        return true;
    return acl->prefix ? strncmp(name, acl->name, strlen(acl->name)) == 0
                       : strcmp(name, acl->name) == 0;
}

bool security_authorise(const struct security *sec, const struct sec_snapshot *s,
                        const char *principal, enum sec_resource res, const char *name,
                        enum sec_op op)
{
    assert(s != NULL && principal != NULL);
    if (!security_authoriser_on(s) || security_is_super(sec, principal))
        return true;
    if (name == NULL)
        name = "";
    bool allowed = false;
    for (size_t i = 0; i < s->acl_count; i++) {
        const struct sec_acl *acl = &s->acls[i];
        if (!matches(acl, principal, res, name, op))
            continue;
        if (acl->deny)
            return false; /* deny wins */
        allowed = true;
    }
    return allowed;
}

static bool principal_matches(const struct sec_acl *acl, const char *principal)
{
    return strcmp(acl->principal, principal) == 0 || strcmp(acl->principal, "User:*") == 0;
}

/* Whether deny refuses everything allow permits (same principal and op assumed). */
static bool covers(const struct sec_acl *deny, const struct sec_acl *allow)
{
    if (deny->prefix)
        return strncmp(allow->name, deny->name, strlen(deny->name)) == 0;
    return !allow->prefix && strcmp(allow->name, deny->name) == 0;
}

bool security_may_on_some(const struct security *sec, const struct sec_snapshot *s,
                          const char *principal, enum sec_resource res, enum sec_op op)
{
    assert(res != SEC_RES_CLUSTER);
    if (!security_authoriser_on(s) || security_is_super(sec, principal))
        return true;
    for (size_t i = 0; i < s->acl_count; i++) {
        const struct sec_acl *allow = &s->acls[i];
        if (allow->deny || allow->resource != res || allow->op != op ||
            !principal_matches(allow, principal))
            continue;
        bool denied = false;
        for (size_t k = 0; k < s->acl_count && !denied; k++) {
            const struct sec_acl *deny = &s->acls[k];
            denied = deny->deny && deny->resource == res && deny->op == op &&
                     principal_matches(deny, principal) && covers(deny, allow);
        }
        if (!denied)
            return true;
    }
    return false;
}
