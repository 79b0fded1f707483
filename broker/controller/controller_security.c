/*
 * Users and ACLs on a cluster: they are records of the metadata log
 * (ClusterRecord user_upserted, user_deleted, acl_added, acl_removed),
 * applied in log order into every broker's store (auth/security.h), which
 * a cluster does not persist itself: the log is applied again at every
 * start. The leader proposes --sasl-bootstrap-user while the cluster has
 * no user.
 */
#include <stdlib.h>

#include "auth/security.h"
#include "auth/security_pb.h"
#include "controller.h"
#include "controller_internal.h"
#include "diag.h"
#include "server.h"
#include "shard.h"

bool controller_security_apply(struct server *srv, const Ringlog__ClusterRecord *cr)
{
    struct security *sec = &srv->security;
    enum sec_status st = SEC_OK;
    struct sec_user u;
    struct sec_acl acl;
    switch (cr->body_case) {
    case RINGLOG__CLUSTER_RECORD__BODY_USER_UPSERTED:
        st = sec_user_from_pb(cr->user_upserted->name, cr->user_upserted->credentials,
                              cr->user_upserted->n_credentials, &u)
                 ? security_put_user(sec, &u)
                 : SEC_INVALID;
        break;
    case RINGLOG__CLUSTER_RECORD__BODY_USER_DELETED:
        st = security_delete_user(sec, cr->user_deleted);
        break;
    case RINGLOG__CLUSTER_RECORD__BODY_ACL_ADDED:
    case RINGLOG__CLUSTER_RECORD__BODY_ACL_REMOVED: {
        bool add = cr->body_case == RINGLOG__CLUSTER_RECORD__BODY_ACL_ADDED;
        if (!sec_acl_from_pb(add ? cr->acl_added : cr->acl_removed, &acl))
            st = SEC_INVALID;
        else
            st = add ? security_add_acl(sec, &acl) : security_remove_acl(sec, &acl);
        break;
    }
    default:
        return false;
    }
    /* A delete of what a concurrent delete removed first is no news. */
    if (st != SEC_OK && st != SEC_UNKNOWN_USER && st != SEC_NOT_FOUND)
        DIAG_WARN("metadata: a user or ACL record not applied: %s", sec_status_text(st));
    return true;
}

static void bootstrap_done(struct controller_call *c)
{
    struct server *srv = shard_current()->srv;
    srv->security.bootstrap_in_flight = false;
    if (c->error == RINGLOG__ERROR_CODE__NONE)
        DIAG_INFO("SASL: bootstrap user %s created", srv->security.bootstrap_user->name);
    free(c);
}

void controller_security_tick(struct shard *s, bool caught_up)
{
    struct security *sec = &s->srv->security;
    if (!caught_up || !sec->bootstrap_user || sec->bootstrap_in_flight ||
        security_auth_required(security_view(sec, s->loop.id)))
        return;
    struct controller_call *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    Ringlog__ScramCredential creds[RL_SCRAM_HASHES], *ptrs[RL_SCRAM_HASHES];
    Ringlog__ClusterUser user;
    sec_user_to_pb(sec->bootstrap_user, &user, creds, ptrs);
    Ringlog__ClusterRecord rec = RINGLOG__CLUSTER_RECORD__INIT;
    rec.body_case = RINGLOG__CLUSTER_RECORD__BODY_USER_UPSERTED;
    rec.user_upserted = &user;
    c->done = bootstrap_done;
    sec->bootstrap_in_flight = true;
    controller_propose(s, c, &rec.base);
}
