/*
 * A cluster's user and ACL changes. They belong in the controller's
 * metadata log (ClusterRecord user_upserted .. acl_removed) so that every
 * broker applies them in the same order; until that path exists, a
 * cluster refuses them rather than keep them on one broker only.
 */
#include "handlers.h"
#include "request.h"

void security_cluster_propose(struct request *r)
{
    request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST,
                 "users and ACLs are not replicated between brokers yet (issue 17): on a cluster "
                 "they cannot be changed");
}
