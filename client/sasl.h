/*
 * The client side of a SCRAM exchange (RFC 5802 / 7677), pure: messages
 * in, messages out. client/conn.c runs it over Authenticate requests
 * right after the connection (and its TLS handshake) is up; tests drive it
 * directly.
 */
#ifndef RINGLOG_CLIENT_SASL_H
#define RINGLOG_CLIENT_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "scram.h"

struct rl_sasl {
    enum rl_scram_hash hash;
    char user[RL_SCRAM_MAX_USER + 1];
    char password[1024];
    char client_first_bare[RL_SCRAM_MAX_MESSAGE];
    size_t client_first_bare_len;
    uint8_t server_signature[RL_SCRAM_MAX_KEY];
    int step; /* 0: nothing sent, 1: client-first sent, 2: client-final sent, 3: done */
};

/* mechanism "SCRAM-SHA-256"/"SCRAM-SHA-512" (any case, or scram-sha-256 as the CLI spells
 * it). 0, or -1 with err (unknown mechanism, invalid user name, password too long). */
int rl_sasl_init(struct rl_sasl *s, const char *mechanism, const char *user, const char *password,
                 char *err, size_t err_len);

/* client-first-message "n,,n=USER,r=NONCE" into out: its length, 0 on failure. */
size_t rl_sasl_first(struct rl_sasl *s, char *out, size_t cap);

/*
 * From server-first-message: client-final-message "c=biws,r=NONCE,p=PROOF"
 * into out; its length, or 0 with err (a malformed message, a nonce that
 * does not extend ours, iterations out of range).
 */
size_t rl_sasl_final(struct rl_sasl *s, const char *server_first, size_t len, char *out, size_t cap,
                     char *err, size_t err_len);

/* server-final-message "v=SIGNATURE": true when the broker proved it knows the key. */
bool rl_sasl_verify(struct rl_sasl *s, const char *server_final, size_t len, char *err,
                    size_t err_len);

/* Wipes the password and keys. */
void rl_sasl_clear(struct rl_sasl *s);

#endif
