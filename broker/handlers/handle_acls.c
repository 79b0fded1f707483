/*
 * CreateAcl, DeleteAcl, ListAcls (auth/security.h): stored like users, on
 * a single broker in meta/security, on a cluster in the metadata log.
 */
#include <assert.h>

#include "auth/security.h"
#include "auth/security_pb.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

static void change_acl(struct request *r, bool add)
{
    const Ringlog__AclRequest *req = add ? r->msg->create_acl : r->msg->delete_acl;
    struct sec_acl acl;
    if (!sec_acl_from_pb(req->acl, &acl)) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST,
                     "an ACL needs a principal User:NAME, a resource (a topic or group name or "
                     "prefix, or the cluster with no name) and an operation");
        return;
    }
    struct security *sec = &r->shard->srv->security;
    if (r->shard->srv->cluster && !add &&
        !security_acl_exists(security_view(sec, r->shard->loop.id), &acl)) {
        request_fail(r, wire_error_from_security(SEC_NOT_FOUND), sec_status_text(SEC_NOT_FOUND));
        return;
    }
    if (r->shard->srv->cluster) {
        security_cluster_propose(r);
        return;
    }
    enum sec_status st = add ? security_add_acl(sec, &acl) : security_remove_acl(sec, &acl);
    if (st == SEC_OK)
        request_complete(r);
    else
        request_fail(r, wire_error_from_security(st), sec_status_text(st));
}

static void list_acls(struct request *r)
{
    const struct sec_snapshot *s = security_view(&r->shard->srv->security, r->shard->loop.id);
    Ringlog__ListAclsResponse *lr = request_alloc(r, sizeof(*lr));
    Ringlog__Acl **acls = request_alloc(r, (s->acl_count + 1) * sizeof(*acls));
    Ringlog__Acl *each = request_alloc(r, (s->acl_count + 1) * sizeof(*each));
    if (!lr || !acls || !each) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__list_acls_response__init(lr);
    /* The snapshot stays this shard's view until its next request: the
     * response is packed before that (request_complete). */
    for (size_t i = 0; i < s->acl_count; i++) {
        sec_acl_to_pb(&s->acls[i], &each[i]);
        acls[i] = &each[i];
    }
    lr->acls = acls;
    lr->n_acls = s->acl_count;
    r->resp.body_case = RINGLOG__RESPONSE__BODY_LIST_ACLS;
    r->resp.list_acls = lr;
    request_complete(r);
}

void handle_acls(struct request *r)
{
    switch (r->msg->body_case) {
    case RINGLOG__REQUEST__BODY_CREATE_ACL:
        change_acl(r, true);
        break;
    case RINGLOG__REQUEST__BODY_DELETE_ACL:
        change_acl(r, false);
        break;
    default:
        assert(r->msg->body_case == RINGLOG__REQUEST__BODY_LIST_ACLS);
        list_acls(r);
        break;
    }
}
