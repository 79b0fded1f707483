/*
 * SCRAM (RFC 5802, RFC 7677) primitives shared by the broker's server
 * side and the client's: the key derivation, the message attributes and
 * base64. The protocol state machines live with their users
 * (broker/auth/scram_server.c, client/sasl.c). No I/O; OpenSSL for the
 * hashes, HMAC and PBKDF2.
 */
#ifndef RINGLOG_PROTO_SCRAM_H
#define RINGLOG_PROTO_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rl_scram_hash {
    RL_SCRAM_SHA256 = 0,
    RL_SCRAM_SHA512 = 1,
};

#define RL_SCRAM_HASHES 2
#define RL_SCRAM_MAX_KEY 64      /* SHA-512 */
#define RL_SCRAM_SALT_BYTES 16   /* what this code generates; any length is accepted */
#define RL_SCRAM_MAX_SALT 64     /* longest salt a credential may carry */
#define RL_SCRAM_ITERATIONS 4096 /* the RFC 7677 minimum, and the default */
#define RL_SCRAM_MAX_ITERATIONS 1000000
#define RL_SCRAM_NONCE_BYTES 18   /* random bytes each side adds (24 base64 characters) */
#define RL_SCRAM_MAX_MESSAGE 1024 /* longest SCRAM message either side accepts */
#define RL_SCRAM_MAX_USER 128     /* user names: 1..128 of [A-Za-z0-9._@+-] */

/* "SCRAM-SHA-256" / "SCRAM-SHA-512" (case-insensitive) into *out: 0, or -1. */
int rl_scram_mechanism_parse(const char *name, enum rl_scram_hash *out);
const char *rl_scram_mechanism_name(enum rl_scram_hash h);
size_t rl_scram_key_len(enum rl_scram_hash h);

/* Whether name is a valid user name (the CLI, the broker and the client agree). */
bool rl_scram_user_valid(const char *name, size_t len);

/* HMAC(key, data) into out (key_len bytes). 0, or -1 when OpenSSL failed. */
int rl_scram_hmac(enum rl_scram_hash h, const uint8_t *key, size_t key_len, const void *data,
                  size_t len, uint8_t *out);
/* H(data) into out. 0 or -1. */
int rl_scram_digest(enum rl_scram_hash h, const void *data, size_t len, uint8_t *out);

/* A user's stored credential for one mechanism (never the password). */
struct rl_scram_credential {
    uint32_t iterations;
    uint8_t salt[RL_SCRAM_MAX_SALT];
    size_t salt_len;
    uint8_t stored_key[RL_SCRAM_MAX_KEY];
    uint8_t server_key[RL_SCRAM_MAX_KEY];
};

/* The credential as the wire carries it (ScramCredential); out points into c. */
struct Ringlog__ScramCredential;
void rl_scram_credential_to_pb(enum rl_scram_hash h, const struct rl_scram_credential *c,
                               struct Ringlog__ScramCredential *out);

/* SaltedPassword = Hi(password, salt, i) (PBKDF2-HMAC). 0 or -1. */
int rl_scram_salted_password(enum rl_scram_hash h, const char *password, const uint8_t *salt,
                             size_t salt_len, uint32_t iterations, uint8_t *out);

/*
 * The credential for password: a random salt, iterations, StoredKey and
 * ServerKey. 0, or -1 (bad arguments or OpenSSL failed).
 */
int rl_scram_credential_make(enum rl_scram_hash h, const char *password, uint32_t iterations,
                             struct rl_scram_credential *out);

/*
 * ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage), and the check of
 * one: H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey.
 */
int rl_scram_client_proof(enum rl_scram_hash h, const uint8_t *salted_password,
                          const char *auth_message, size_t auth_len, uint8_t *proof);
bool rl_scram_proof_valid(enum rl_scram_hash h, const uint8_t *stored_key, const uint8_t *proof,
                          const char *auth_message, size_t auth_len);
/* ServerSignature = HMAC(ServerKey, AuthMessage). 0 or -1. */
int rl_scram_server_signature(enum rl_scram_hash h, const uint8_t *server_key,
                              const char *auth_message, size_t auth_len, uint8_t *out);

/*
 * The value of attribute `name` in a SCRAM message "a=...,b=...": its
 * first occurrence. true with
 * *value and *len set (pointing into msg), false when absent.
 */
bool rl_scram_attr(const char *msg, size_t msg_len, char name, const char **value, size_t *len);

/* Base64 of n bytes into out (NUL-terminated, 4*ceil(n/3)+1 bytes): its length. */
size_t rl_scram_b64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes base64 (exact padding) into out (cap bytes): the length, or -1. */
int rl_scram_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Random bytes (RAND_bytes): 0 or -1. */
int rl_scram_random(uint8_t *out, size_t n);

/* Whether two byte strings of length n are equal, in time independent of where they differ. */
bool rl_scram_equal(const uint8_t *a, const uint8_t *b, size_t n);

#endif
