/* Request signing: signature v1 (HMAC-SHA1 over the canonical query string)
 * and v3 (ACS3-HMAC-SHA256 over the canonical request), one-shot or through
 * a signer object that keeps a client's key, keyed HMAC, parameter arena
 * and nonce pool between requests. The primitives are in crypto.h. */
#ifndef ECS_SIGN_H
#define ECS_SIGN_H

#include "compat.h"

#define ECS_SIGNER_MT "ecs.core.signer"

/* core.sign(spec) -> request { method, url, headers, body }, string_to_sign,
 * canonical request (v3) or canonical query string (v1) */
int ecs_l_sign(lua_State *L);
/* core.signer{ version, method, endpoint, host, api_version, access_key_id,
 *              access_key_secret, security_token, user_agent }
 *   -> a signer with :sign(action, params[, timestamp[, nonce]]), which
 *      returns what core.sign does */
int ecs_l_signer_new(lua_State *L);
/* Registers the signer metatable; called once from luaopen_ecs_core. */
void ecs_sign_register(lua_State *L);

#endif
