#include <math.h>
#include <stdint.h>
#include <string.h>

#include <openssl/rand.h>

#include "retry.h"

#define BASE_DELAY 0.1      /* seconds, first retry of a transient fault */
#define THROTTLE_DELAY 1.0  /* seconds, first retry after throttling */
#define MAX_DELAY 20.0

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Service codes that a resend can fix. */
static int retryable_service_code(const char *code, int *throttled)
{
    if (strcmp(code, "Throttling") == 0 || has_prefix(code, "Throttling.")) {
        *throttled = 1;
        return 1;
    }
    return has_prefix(code, "ServiceUnavailable") || strcmp(code, "InternalError") == 0 ||
           strcmp(code, "UnknownError") == 0 || strcmp(code, "LastTokenProcessing") == 0;
}

/* Families a resend can never fix, whatever the HTTP status says. */
static int permanent_service_code(const char *code)
{
    static const char *const PREFIXES[] = {
        "Signature", "IncompleteSignature", "InvalidAccessKeyId", "InvalidSecurityToken",
        "InvalidTimeStamp", "IllegalTimestamp", "MissingParameter", "InvalidParameter",
        "InvalidParamater", "InvalidAction", "Forbidden", "NoPermission",
        "InvalidApi", "IncorrectInstanceStatus", "IncorrectDiskStatus", "IdempotentParameterMismatch",
        "DryRunOperation", "OperationDenied", "QuotaExceed", "Invalid", "NotFound", NULL,
    };
    for (const char *const *p = PREFIXES; *p; p++)
        if (has_prefix(code, *p))
            return 1;
    return strstr(code, ".NotFound") != NULL;
}

int ecs_l_classify(lua_State *L)
{
    const char *code = luaL_optstring(L, 1, "");
    lua_Integer status = luaL_optinteger(L, 2, 0);
    int maybe_sent = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    int idempotent = lua_toboolean(L, 4);
    int throttled = 0, retryable;

    if (has_prefix(code, "Transport.")) {
        if (strcmp(code, "Transport.TLS") == 0 || strcmp(code, "Transport.BadURL") == 0)
            retryable = 0; /* configuration, not luck */
        else
            /* Resend only what cannot have taken effect, or can safely twice. */
            retryable = !maybe_sent || idempotent;
    } else if (retryable_service_code(code, &throttled)) {
        retryable = 1;
    } else if (code[0] && permanent_service_code(code)) {
        retryable = 0;
    } else {
        retryable = status >= 500 || status == 429;
        throttled = status == 429;
    }
    lua_pushboolean(L, retryable);
    lua_pushboolean(L, throttled);
    return 2;
}

/* A uniform double in [0, 1) from OpenSSL's generator. */
static double uniform(lua_State *L)
{
    uint64_t r;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        luaL_error(L, "backoff: OpenSSL RAND_bytes failed");
    return (double)(r >> 11) / 9007199254740992.0;
}

int ecs_l_backoff(lua_State *L)
{
    lua_Integer attempt = luaL_checkinteger(L, 1);
    int throttled = lua_toboolean(L, 2);
    double base = luaL_optnumber(L, 3, throttled ? THROTTLE_DELAY : BASE_DELAY);
    double cap = luaL_optnumber(L, 4, MAX_DELAY);
    luaL_argcheck(L, attempt >= 1, 1, "attempt counts from 1");
    luaL_argcheck(L, base >= 0 && cap >= 0, 3, "delays must not be negative");
    /* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
    double ceiling = base * ldexp(1.0, attempt > 60 ? 60 : (int)attempt - 1);
    if (ceiling > cap)
        ceiling = cap;
    lua_pushnumber(L, ceiling * uniform(L));
    return 1;
}
