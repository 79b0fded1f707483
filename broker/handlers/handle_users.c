/*
 * CreateUser, DeleteUser, ListUsers. A user's credentials arrive derived
 * (ScramCredential: salt, iterations, StoredKey, ServerKey): the password
 * never reaches the broker. On a single broker the store persists the
 * change before the answer (auth/security.h); a cluster's changes go
 * through the controller's metadata log (handle_security_cluster.c).
 */
#include <assert.h>
#include <string.h>

#include "auth/security.h"
#include "auth/security_pb.h"
#include "handlers.h"
#include "request.h"
#include "server.h"
#include "shard.h"
#include "wire_errors.h"

static void answer_status(struct request *r, enum sec_status st)
{
    if (st == SEC_OK)
        request_complete(r);
    else
        request_fail(r, wire_error_from_security(st), sec_status_text(st));
}

static void create_user(struct request *r)
{
    const Ringlog__CreateUserRequest *req = r->msg->create_user;
    struct sec_user u;
    if (!sec_user_from_pb(req->name, req->credentials, req->n_credentials, &u)) {
        request_fail(r, RINGLOG__ERROR_CODE__INVALID_REQUEST,
                     "a user needs a name of 1..128 of [A-Za-z0-9._@+-] and SCRAM-SHA-256 or "
                     "-512 credentials (iterations 4096..1000000, keys of the hash's size)");
        return;
    }
    if (r->shard->srv->cluster) {
        security_cluster_propose(r);
        return;
    }
    answer_status(r, security_put_user(&r->shard->srv->security, &u));
}

static void delete_user(struct request *r)
{
    const char *name = r->msg->delete_user->name;
    const struct sec_snapshot *s = security_view(&r->shard->srv->security, r->shard->loop.id);
    if (r->shard->srv->cluster && !security_user(s, name ? name : "")) {
        answer_status(r, SEC_UNKNOWN_USER);
        return;
    }
    if (r->shard->srv->cluster) {
        security_cluster_propose(r);
        return;
    }
    answer_status(r, security_delete_user(&r->shard->srv->security, name ? name : ""));
}

static void list_users(struct request *r)
{
    const struct sec_snapshot *s = security_view(&r->shard->srv->security, r->shard->loop.id);
    Ringlog__ListUsersResponse *lr = request_alloc(r, sizeof(*lr));
    Ringlog__UserListing **users = request_alloc(r, (s->user_count + 1) * sizeof(*users));
    if (!lr || !users) {
        request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
        return;
    }
    ringlog__list_users_response__init(lr);
    lr->users = users;
    for (size_t i = 0; i < s->user_count; i++) {
        const struct sec_user *u = &s->users[i];
        Ringlog__UserListing *ul = request_alloc(r, sizeof(*ul));
        char **mechs = request_alloc(r, RL_SCRAM_HASHES * sizeof(*mechs));
        if (!ul || !mechs || !(ul->name = request_strdup(r, u->name))) {
            request_fail(r, RINGLOG__ERROR_CODE__UNKNOWN, "out of memory");
            return;
        }
        char *name = ul->name;
        ringlog__user_listing__init(ul);
        ul->name = name;
        ul->mechanisms = mechs;
        for (int h = 0; h < RL_SCRAM_HASHES; h++)
            if (u->has[h])
                mechs[ul->n_mechanisms++] = (char *)rl_scram_mechanism_name((enum rl_scram_hash)h);
        users[lr->n_users++] = ul;
    }
    assert(lr->n_users == s->user_count);
    r->resp.body_case = RINGLOG__RESPONSE__BODY_LIST_USERS;
    r->resp.list_users = lr;
    request_complete(r);
}

void handle_users(struct request *r)
{
    switch (r->msg->body_case) {
    case RINGLOG__REQUEST__BODY_CREATE_USER:
        create_user(r);
        break;
    case RINGLOG__REQUEST__BODY_DELETE_USER:
        delete_user(r);
        break;
    default:
        assert(r->msg->body_case == RINGLOG__REQUEST__BODY_LIST_USERS);
        list_users(r);
        break;
    }
}
