/*
 * Users and ACLs between the store's structs and their protobuf form
 * (ClusterUser, ScramCredential, Acl): the file, the metadata log's
 * records and the requests all use the same messages.
 */
#ifndef RINGLOG_BROKER_SECURITY_PB_H
#define RINGLOG_BROKER_SECURITY_PB_H

#include <stdbool.h>

#include "ringlog.pb-c.h"
#include "security.h"

/* false when a field is out of range (unknown mechanism, key of the wrong size, ...). */
bool sec_user_from_pb(const char *name, Ringlog__ScramCredential *const *creds, size_t n,
                      struct sec_user *out);
bool sec_acl_from_pb(const Ringlog__Acl *pb, struct sec_acl *out);

/*
 * Protobuf views of u / acl: they point into u and acl and into the
 * storage given (creds: RL_SCRAM_HASHES of them, ptrs the same count).
 */
void sec_user_to_pb(const struct sec_user *u, Ringlog__ClusterUser *pb,
                    Ringlog__ScramCredential *creds, Ringlog__ScramCredential **ptrs);
void sec_acl_to_pb(const struct sec_acl *acl, Ringlog__Acl *pb);

#endif
