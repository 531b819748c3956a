/* The crypto primitives the signer is built from (OpenSSL): HMAC, digests,
 * hex and base64 output, random nonces (with a fork-safe pool) and the UTC
 * timestamps requests carry. */
#ifndef ECS_CRYPTO_H
#define ECS_CRYPTO_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "compat.h"

/* HMAC of msg[0..msg_len) with key into out (EVP_MAX_MD_SIZE bytes); raises
 * a Lua error when OpenSSL fails. */
void ecs_hmac(lua_State *L, const EVP_MD *md, const char *key, size_t key_len,
              const char *msg, size_t msg_len, unsigned char *out, unsigned int *out_len);

/* An HMAC whose algorithm and key are set up once, for many messages (no
 * algorithm lookup, no key schedule per message). */
typedef struct {
    EVP_MAC *alg;
    EVP_MAC_CTX *ctx;
} ecs_keyed_hmac;
/* Sets h up with digest ("SHA1", "SHA256") and key; NULL, or what failed
 * (for "signer: %s"); free h with ecs_keyed_hmac_free either way. */
const char *ecs_keyed_hmac_init(ecs_keyed_hmac *h, const char *digest,
                                const unsigned char *key, size_t key_len);
void ecs_keyed_hmac_free(ecs_keyed_hmac *h);
/* HMAC of msg[0..msg_len) into out (EVP_MAX_MD_SIZE bytes); raises on failure. */
void ecs_keyed_hmac_of(lua_State *L, const ecs_keyed_hmac *h, const char *msg, size_t msg_len,
                       unsigned char *out, unsigned int *out_len);

/* Digest of msg[0..msg_len) into out (EVP_MAX_MD_SIZE bytes); raises on failure. */
void ecs_digest(lua_State *L, const EVP_MD *md, const char *msg, size_t msg_len,
                unsigned char *out, unsigned int *out_len);

/* p[0..n) as lower-case hex, appended to b or pushed. */
void ecs_add_hex(luaL_Buffer *b, const unsigned char *p, size_t n);
void ecs_push_hex(lua_State *L, const unsigned char *p, size_t n);
/* p[0..n) (n at most EVP_MAX_MD_SIZE, a digest) as base64, pushed. */
void ecs_push_base64(lua_State *L, const unsigned char *p, size_t n);

/* Random bytes for nonces, drawn from OpenSSL in batches, in a page of its
 * own that a fork wipes (see crypto.c). */
typedef struct ecs_nonce_pool ecs_nonce_pool;
/* A new pool, or NULL where the page cannot be had (then every nonce comes
 * from RAND_bytes directly, which is what a NULL pool means below). */
ecs_nonce_pool *ecs_nonce_pool_new(void);
void ecs_nonce_pool_free(ecs_nonce_pool *pool);
/* Pushes a random UUID v4 string, its bytes from pool (may be NULL). */
void ecs_push_nonce(lua_State *L, ecs_nonce_pool *pool);

/* Pushes t as "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
void ecs_push_timestamp(lua_State *L, time_t t);

/* core.hmac(alg, key, msg[, "hex"|"base64"|"raw"]) with alg "sha1" or "sha256" */
int ecs_l_hmac(lua_State *L);
/* core.digest(alg, msg[, "hex"|"base64"|"raw"]) */
int ecs_l_digest(lua_State *L);
/* core.nonce() -> a random UUID v4 string */
int ecs_l_nonce(lua_State *L);
/* core.timestamp([epoch seconds]) -> "YYYY-MM-DDTHH:MM:SSZ" (UTC) */
int ecs_l_timestamp(lua_State *L);

#endif
