/*
 * The server side of one SCRAM exchange (RFC 5802), pure: messages in,
 * messages out, no I/O, no clock, no store. The caller (handle_auth.c)
 * looks the user up between scram_server_start and scram_server_challenge,
 * and hands in a fake credential for an unknown user (security.h) so that
 * both take the same path: the exchange then fails at the proof, exactly
 * as with a wrong password.
 *
 *   START --client-first--> GOT_FIRST --challenge--> CHALLENGED
 *         --client-final--> DONE (or FAILED at any step)
 */
#ifndef RINGLOG_BROKER_SCRAM_SERVER_H
#define RINGLOG_BROKER_SCRAM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "scram.h"

enum scram_server_state {
    SCRAM_START,
    SCRAM_GOT_FIRST,
    SCRAM_CHALLENGED,
    SCRAM_DONE,
    SCRAM_FAILED,
};

struct scram_server {
    enum scram_server_state state;
    enum rl_scram_hash hash;
    char user[RL_SCRAM_MAX_USER + 1];
    struct rl_scram_credential cred;
    char client_first_bare[RL_SCRAM_MAX_MESSAGE];
    size_t client_first_bare_len;
    char server_first[RL_SCRAM_MAX_MESSAGE];
    size_t server_first_len;
    char nonce[2 * RL_SCRAM_MAX_MESSAGE / 3]; /* client nonce + server nonce */
    size_t nonce_len;
    const char *why; /* FAILED: what went wrong, for the log (static) */
};

void scram_server_init(struct scram_server *s, enum rl_scram_hash hash);

/*
 * client-first-message "n,,n=USER,r=NONCE" (no channel binding, no
 * authzid other than empty): true with s->user set; false (FAILED) when it
 * is malformed.
 */
bool scram_server_start(struct scram_server *s, const char *msg, size_t len);

/*
 * With the user's credential (or the fake one) and the server's nonce
 * (printable, no ','; base64 of random bytes): the server-first-message
 * "r=NONCE,s=SALT,i=N" into out
 * (cap bytes, NUL-terminated). Its length, or 0 (FAILED).
 */
size_t scram_server_challenge(struct scram_server *s, const struct rl_scram_credential *cred,
                              const char *server_nonce, char *out, size_t cap);

/*
 * client-final-message "c=biws,r=NONCE,p=PROOF": when the nonce, the
 * channel binding and the proof check out, the server-final-message
 * "v=SIGNATURE" into out and its length (DONE); else 0 (FAILED, s->why).
 */
size_t scram_server_finish(struct scram_server *s, const char *msg, size_t len, char *out,
                           size_t cap);

#endif
