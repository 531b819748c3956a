/* Request signing: signature v1 (HMAC-SHA1 over the canonical string) and
 * v3 (ACS3-HMAC-SHA256), plus the nonces and timestamps they carry. */
#ifndef ECS_SIGN_H
#define ECS_SIGN_H

#include "compat.h"

/* core.sign(spec) -> request { method, url, headers, body }, string_to_sign,
 * canonical request (v3) or canonical query string (v1) */
int ecs_l_sign(lua_State *L);
/* core.signer{...} -> a signer with :sign(action, params[, timestamp[, nonce]]) */
int ecs_l_signer_new(lua_State *L);
/* Registers the signer metatable; called once from luaopen_ecs_core. */
void ecs_sign_register(lua_State *L);
/* core.nonce() -> a random UUID v4 string */
int ecs_l_nonce(lua_State *L);
/* core.timestamp([epoch seconds]) -> "YYYY-MM-DDTHH:MM:SSZ" (UTC) */
int ecs_l_timestamp(lua_State *L);
/* core.hmac(alg, key, msg[, "hex"|"base64"|"raw"]), core.digest(alg, msg[, enc]) */
int ecs_l_hmac(lua_State *L);
int ecs_l_digest(lua_State *L);

#endif
