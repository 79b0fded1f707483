/*
 * SASL and security requests for broker tests, over the blocking wire
 * client (wire.h): a SCRAM login driven by the client's state machine
 * (client/sasl.h), and users and ACLs made by hand.
 */
#ifndef RINGLOG_TESTS_WIRE_SASL_H
#define RINGLOG_TESTS_WIRE_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "ringlog.pb-c.h"

/* One Authenticate request (mechanism NULL: a later step). The response, or NULL. */
Ringlog__Response *wire_authenticate(int fd, const char *mechanism, const void *bytes, size_t len);

/*
 * A whole SCRAM login. 0 when the broker accepted it (and proved itself),
 * else the error code of the answer that refused it (-1: no answer).
 */
int wire_sasl_login(int fd, const char *mechanism, const char *user, const char *password);

/* CreateUser with both SCRAM credentials of password; DeleteUser. The error code (0: done). */
int wire_create_user(int fd, const char *name, const char *password);
int wire_delete_user(int fd, const char *name);

/* CreateAcl (add) or DeleteAcl. The error code (0: done). */
int wire_acl(int fd, bool add, const char *principal, Ringlog__AclResourceType res,
             const char *name, bool prefix, Ringlog__AclOperation op, bool deny);

/* The request-level error of a response (then freed); -1 when there was none. */
int wire_error_of(Ringlog__Response *r);

#endif
