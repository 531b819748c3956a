#include <math.h>
#include <stdint.h>
#include <string.h>

#include <openssl/rand.h>

#include "retry.h"

#define BASE_DELAY 0.1      /* seconds, first retry of a transient fault */
#define THROTTLE_DELAY 1.0  /* seconds, first retry after throttling */
#define MAX_DELAY 20.0
#define MAX_RETRY_AFTER ECS_MAX_RETRY_AFTER

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

/* Whether a resend can fix the failure, and whether it was throttling. */
static int classify(const char *code, lua_Integer status, int maybe_sent, int idempotent,
                    int *throttled)
{
    *throttled = 0;
    if (has_prefix(code, "Transport.")) {
        if (strcmp(code, "Transport.TLS") == 0 || strcmp(code, "Transport.BadURL") == 0)
            return 0; /* configuration, not luck */
        /* Resend only what cannot have taken effect, or can safely twice. */
        return !maybe_sent || idempotent;
    }
    if (retryable_service_code(code, throttled))
        return 1;
    if (code[0] && permanent_service_code(code))
        return 0;
    *throttled = status == 429;
    return status >= 500 || status == 429;
}

int ecs_l_classify(lua_State *L)
{
    const char *code = luaL_optstring(L, 1, "");
    lua_Integer status = luaL_optinteger(L, 2, 0);
    int maybe_sent = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
    int idempotent = lua_toboolean(L, 4);
    int throttled;
    int retryable = classify(code, status, maybe_sent, idempotent, &throttled);
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

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
static double jitter(lua_Integer attempt, double base, double cap, double u)
{
    double ceiling = base * ldexp(1.0, attempt > 60 ? 60 : (int)attempt - 1);
    if (ceiling > cap)
        ceiling = cap;
    return ceiling * u;
}

int ecs_l_backoff(lua_State *L)
{
    lua_Integer attempt = luaL_checkinteger(L, 1);
    int throttled = lua_toboolean(L, 2);
    double base = luaL_optnumber(L, 3, throttled ? THROTTLE_DELAY : BASE_DELAY);
    double cap = luaL_optnumber(L, 4, MAX_DELAY);
    luaL_argcheck(L, attempt >= 1, 1, "attempt counts from 1");
    luaL_argcheck(L, base >= 0 && cap >= 0, 3, "delays must not be negative");
    /* The caller may bring its own uniform number (a cheap generator is
     * enough for jitter); otherwise OpenSSL's. */
    double u;
    if (lua_isnoneornil(L, 5)) {
        u = uniform(L);
    } else {
        u = luaL_checknumber(L, 5);
        luaL_argcheck(L, u >= 0 && u < 1, 5, "a uniform number in [0, 1) expected");
    }
    lua_pushnumber(L, jitter(attempt, base, cap, u));
    return 1;
}

/* The retry budget (the AWS SDKs' "standard" retry quota): every retry
 * spends tokens, every success refunds a few; an empty budget means the
 * service is failing and retrying would only add load. */
#define BUDGET_CAPACITY 500
#define BUDGET_RETRY_COST 5
#define BUDGET_TIMEOUT_COST 10
#define BUDGET_REFUND 1

typedef struct {
    double capacity, retry_cost, timeout_cost, refund, tokens;
} retry_budget;

static retry_budget *check_budget(lua_State *L)
{
    retry_budget *b = ecs_testudata(L, 1, ECS_RETRY_BUDGET_MT);
    if (b == NULL)
        luaL_argerror(L, 1, "retry budget expected");
    return b;
}

/* t[name] as a finite number >= 0, or def when absent. */
static double budget_field(lua_State *L, const char *name, double def)
{
    double v = def;
    lua_getfield(L, 1, name);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "retry_budget: %s must be a number", name);
        v = lua_tonumber(L, -1);
        if (!(v >= 0) || !isfinite(v))
            luaL_error(L, "retry_budget: %s must be a finite number >= 0", name);
    }
    lua_pop(L, 1);
    return v;
}

int ecs_l_retry_budget_new(lua_State *L)
{
    retry_budget cfg = { BUDGET_CAPACITY, BUDGET_RETRY_COST, BUDGET_TIMEOUT_COST, BUDGET_REFUND, 0 };
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        cfg.capacity = budget_field(L, "capacity", cfg.capacity);
        cfg.retry_cost = budget_field(L, "retry_cost", cfg.retry_cost);
        cfg.timeout_cost = budget_field(L, "timeout_cost", cfg.timeout_cost);
        cfg.refund = budget_field(L, "refund", cfg.refund);
    }
    cfg.tokens = cfg.capacity; /* starts full */
    retry_budget *b = ecs_newuserdata(L, sizeof *b);
    *b = cfg;
    ecs_setmetatable(L, ECS_RETRY_BUDGET_MT);
    return 1;
}

static int budget_spend(retry_budget *b, int timeout)
{
    double cost = timeout ? b->timeout_cost : b->retry_cost;
    if (b->tokens < cost)
        return 0;
    b->tokens -= cost;
    return 1;
}

static int retry_budget_l_take(lua_State *L)
{
    static const char *const KINDS[] = { "retry", "timeout", NULL };
    retry_budget *b = check_budget(L);
    lua_pushboolean(L, budget_spend(b, luaL_checkoption(L, 2, NULL, KINDS)));
    return 1;
}

/* ---- the retry decision ---- */

/* outcome[name] as a number, or def when absent (NaN counts as absent). */
static double outcome_number(lua_State *L, int t, const char *name, double def)
{
    lua_getfield(L, t, name);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "decide: outcome.%s must be a number", name);
        v = lua_tonumber(L, -1);
        if (isnan(v))
            v = def;
    }
    lua_pop(L, 1);
    return v;
}

static int outcome_flag(lua_State *L, int t, const char *name)
{
    lua_getfield(L, t, name);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A refusal: retryable, throttled, nil, why. */
static int refuse(lua_State *L, int retryable, int throttled, const char *why)
{
    lua_pushboolean(L, retryable);
    lua_pushboolean(L, throttled);
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 4;
}

int ecs_l_decide(lua_State *L)
{
    retry_budget *b = check_budget(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "code");
    const char *code = luaL_optstring(L, -1, "");
    lua_pop(L, 1); /* the outcome table keeps the string alive */
    lua_Integer status = (lua_Integer)outcome_number(L, 2, "status", 0);
    double attempt = outcome_number(L, 2, "attempt", 1);
    double max_attempts = outcome_number(L, 2, "max_attempts", 1);
    double hint = outcome_number(L, 2, "retry_after", 0);
    double time_left = outcome_number(L, 2, "time_left", INFINITY);
    double min_attempt = outcome_number(L, 2, "min_attempt", 0);
    double u = outcome_number(L, 2, "draw", 0);
    luaL_argcheck(L, attempt >= 1 && attempt <= 1e9, 2, "outcome.attempt counts from 1");
    luaL_argcheck(L, u >= 0 && u < 1, 2, "outcome.draw must be a uniform number in [0, 1)");

    int throttled;
    int retryable = classify(code, status, outcome_flag(L, 2, "maybe_sent"),
                             outcome_flag(L, 2, "idempotent"), &throttled);
    /* a reply over the size limits would be as large the next time */
    if (outcome_flag(L, 2, "permanent"))
        retryable = 0;
    if (!retryable)
        return refuse(L, 0, throttled, "not retryable");
    if (attempt >= max_attempts)
        return refuse(L, 1, throttled, "max_attempts reached");
    double delay = jitter((lua_Integer)attempt, throttled ? THROTTLE_DELAY : BASE_DELAY, MAX_DELAY, u);
    if (hint > MAX_RETRY_AFTER)
        hint = MAX_RETRY_AFTER; /* a server cannot park a client for long */
    if (hint > delay)
        delay = hint;
    if (delay + min_attempt > time_left)
        return refuse(L, 1, throttled, "deadline");
    if (!budget_spend(b, strcmp(code, "Transport.Timeout") == 0))
        return refuse(L, 1, throttled, "retry budget exhausted");
    lua_pushboolean(L, 1);
    lua_pushboolean(L, throttled);
    lua_pushnumber(L, delay);
    return 3;
}

static int retry_budget_l_refund(lua_State *L)
{
    retry_budget *b = check_budget(L);
    b->tokens += b->refund;
    if (b->tokens > b->capacity)
        b->tokens = b->capacity;
    return 0;
}

static int retry_budget_l_tokens(lua_State *L)
{
    lua_pushnumber(L, check_budget(L)->tokens);
    return 1;
}

static int retry_budget_l_tostring(lua_State *L)
{
    retry_budget *b = check_budget(L);
    lua_pushfstring(L, "ecs.retry_budget (%f of %f tokens)", b->tokens, b->capacity);
    return 1;
}

void ecs_retry_register(lua_State *L)
{
    static const luaL_Reg METHODS[] = {
        { "take", retry_budget_l_take }, { "refund", retry_budget_l_refund }, { "tokens", retry_budget_l_tokens },
        { NULL, NULL },
    };
    ecs_class(L, ECS_RETRY_BUDGET_MT, METHODS, NULL, retry_budget_l_tostring);
}
