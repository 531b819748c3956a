/* luaopen_ecs_core: registration only; each concern lives in its own file. */
#include "compat.h"
#include "encode.h"
#include "flatten.h"
#include "clock.h"
#include "reply.h"
#include "retry.h"
#include "sign.h"
#include "throttle.h"

#ifndef ECS_VERSION
#define ECS_VERSION "0.1.0"
#endif

/* core.now() -> monotonic seconds */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, ecs_monotonic());
    return 1;
}

static const luaL_Reg FUNCTIONS[] = {
    { "percent_encode", ecs_l_percent_encode },
    { "flatten", ecs_l_flatten },
    { "sign", ecs_l_sign },
    { "signer", ecs_l_signer_new },
    { "nonce", ecs_l_nonce },
    { "timestamp", ecs_l_timestamp },
    { "hmac", ecs_l_hmac },
    { "digest", ecs_l_digest },
    { "now", l_now },
    { "classify", ecs_l_classify },
    { "backoff", ecs_l_backoff },
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
    ecs_flat_register(L);
    ecs_throttle_register(L);
    lua_newtable(L);
    ecs_setfuncs(L, FUNCTIONS);
    lua_pushliteral(L, ECS_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
