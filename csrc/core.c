/* luaopen_ecs_core: registration only; each concern lives in its own file.
 *
 * Names and argument checks, the same in every file of csrc/:
 *  - A function of a module table (ecs.core, ecs.loop) is ecs_l_<name>, with
 *    <name> as registered (core.percent_encode: ecs_l_percent_encode),
 *    declared in the header of the file that defines it. One that makes a
 *    userdata is ecs_l_<type>_new (core.signer: ecs_l_signer_new, ecs.loop's
 *    new: ecs_l_loop_new).
 *  - <type> is the last part of the type's metatable name "ecs.core.<type>",
 *    which is ECS_<TYPE>_MT in the type's header. Its methods and
 *    metamethods are static <type>_l_<method> (signer_l_sign,
 *    loop_l_run_once, limiter_l_acquire, retry_budget_l_take, signer_l_gc,
 *    loop_l_tostring), registered by ecs_<file>_register(L) from here (the
 *    loop's by luaopen_ecs_loop).
 *  - What other files use is ecs_<name> (ecs_flat_add, ecs_push_nonce,
 *    ecs_timers_push), declared in the header; everything else is static,
 *    with neither ecs_ nor l_ (one_line, transport_code).
 *  - A Lua-facing function checks its arguments at its top, before it does
 *    any work: positional arguments with luaL_check*, luaL_opt* and
 *    luaL_argcheck (luaL_argerror for a message of its own), so that a bad
 *    one reads "bad argument #n to 'f' (...)"; fields of a table argument,
 *    which have no position, with luaL_error as "<function>: <field> must
 *    be ..." (sign: field 'host' must be a string (got nil)). The checks
 *    whose wording the specs pin keep it (signer:sign's "sign: params must be
 *    a table (got string)", the "<name>: must not contain CR, LF or NUL"
 *    of strings that become headers).
 */
#include "clock.h"
#include "compat.h"
#include "crypto.h"
#include "encode.h"
#include "flatten.h"
#include "reply.h"
#include "retry.h"
#include "sign.h"
#include "throttle.h"

#ifndef ECS_VERSION
#define ECS_VERSION "0.1.0"
#endif

static const luaL_Reg FUNCTIONS[] = {
    { "percent_encode", ecs_l_percent_encode },
    { "flatten", ecs_l_flatten },
    { "sign", ecs_l_sign },
    { "signer", ecs_l_signer_new },
    { "nonce", ecs_l_nonce },
    { "timestamp", ecs_l_timestamp },
    { "hmac", ecs_l_hmac },
    { "digest", ecs_l_digest },
    { "now", ecs_l_now },
    { "classify", ecs_l_classify },
    { "backoff", ecs_l_backoff },
    { "decide", ecs_l_decide },
    { "integers", ecs_l_integers },
    { "quote_big_integers", ecs_l_quote_big_integers },
    { "retry_budget", ecs_l_retry_budget_new },
    { "limiter", ecs_l_limiter_new },
    { NULL, NULL },
};

#if defined(_WIN32)
#define ECS_EXPORT __declspec(dllexport)
#else
#define ECS_EXPORT __attribute__((visibility("default")))
#endif

ECS_EXPORT int luaopen_ecs_core(lua_State *L)
{
    ecs_retry_register(L);
    ecs_sign_register(L);
    ecs_flatten_register(L);
    ecs_throttle_register(L);
    lua_newtable(L);
    ecs_setfuncs(L, FUNCTIONS);
    lua_pushliteral(L, ECS_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushnumber(L, ECS_MAX_RETRY_AFTER);
    lua_setfield(L, -2, "MAX_RETRY_AFTER");
    return 1;
}
