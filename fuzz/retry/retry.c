/* fuzz target: retry arithmetic (csrc/retry.c).
 *
 * Input: up to 256 operations: core.backoff(attempt, throttled, base, cap,
 * draw), core.classify(code, status, maybe_sent, idempotent), and a retry
 * budget's life (core.retry_budget{...}, take, refund, tokens, tostring),
 * with numbers of every kind (huge attempts, NaN/inf/negative delays, draws
 * outside [0, 1), float statuses).
 *  - a backoff with finite base and cap is a number in [0, cap];
 *  - classify returns two booleans, and throttled implies retryable;
 *  - a budget's tokens stay in [0, capacity] (never NaN). */
#include "../common.h"

static const char *const CODES[] = {
    "Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable",
    "ServiceUnavailableTemporary", "InternalError", "UnknownError", "LastTokenProcessing",
    "Transport.Timeout", "Transport.ConnectFailed", "Transport.TLS", "Transport.BadURL",
    "Transport.Reset", "InvalidParameter", "SignatureDoesNotMatch", "InvalidInstanceId.NotFound",
    "Forbidden.RAM", "IncorrectInstanceStatus", "QuotaExceed.Foo", "", "Transport.",
    "Throttling.", "Invalid", "X.NotFound", "OperationConflict",
};
#define NCODES (sizeof CODES / sizeof CODES[0])

static void push_opt_number(lua_State *L, fz_in *in, unsigned choice)
{
    switch (choice % 4) {
    case 0:
        lua_pushnil(L);
        break;
    case 1:
        lua_pushnumber(L, fz_double(in));
        break;
    case 2:
        fz_push_number(L, in);
        break;
    default:
        lua_pushnumber(L, (double)fz_u8(in) / 8.0);
        break;
    }
}

static void backoff(lua_State *L, fz_in *in)
{
    unsigned c = fz_u8(in);
    fz_core(L, "backoff");
    if (c & 1)
        lua_pushinteger(L, (lua_Integer)(fz_u8(in) % 80));
    else
        fz_push_number(L, in);
    int throttled = (c >> 1) & 1;
    lua_pushboolean(L, throttled);
    int base = lua_gettop(L) + 1;
    push_opt_number(L, in, c >> 2);
    push_opt_number(L, in, c >> 4);
    switch ((c >> 6) & 3) {
    case 0:
        lua_pushnil(L);
        break;
    case 1:
        lua_pushnumber(L, fz_u16(in) / 65536.0);
        break;
    case 2:
        lua_pushnumber(L, fz_double(in));
        break;
    default:
        lua_pushnumber(L, 0.9999999999999999);
        break;
    }
    double b = lua_isnil(L, base) ? (throttled ? 1.0 : 0.1) : lua_tonumber(L, base);
    double cap = lua_isnil(L, base + 1) ? 20.0 : lua_tonumber(L, base + 1);
    if (fz_pcall(L, 5, 1) == LUA_OK) {
        FZ_CHECK(lua_type(L, -1) == LUA_TNUMBER, "backoff returned a %s", luaL_typename(L, -1));
        double d = lua_tonumber(L, -1);
        if (isfinite(b) && isfinite(cap))
            FZ_CHECK(d >= 0 && d <= cap, "backoff(base %.17g, cap %.17g) = %.17g", b, cap, d);
    }
    lua_pop(L, 1);
}

static void classify(lua_State *L, fz_in *in)
{
    unsigned c = fz_u8(in);
    fz_core(L, "classify");
    switch (c % 4) {
    case 0:
        lua_pushnil(L);
        break;
    case 1:
        fz_push_str(L, in);
        break;
    case 2:
        fz_push_number(L, in); /* taken as its string */
        break;
    default:
        lua_pushstring(L, CODES[fz_u8(in) % NCODES]);
        break;
    }
    switch ((c >> 2) & 3) {
    case 0:
        lua_pushnil(L);
        break;
    case 1:
        lua_pushinteger(L, 400 + (lua_Integer)(fz_u8(in) % 200));
        break;
    case 2:
        fz_push_number(L, in);
        break;
    default:
        lua_pushliteral(L, "503");
        break;
    }
    if ((c >> 4) & 1)
        lua_pushnil(L);
    else
        lua_pushboolean(L, (c >> 5) & 1);
    lua_pushboolean(L, (c >> 6) & 1);
    if (fz_pcall(L, 4, 2) == LUA_OK) {
        FZ_CHECK(lua_isboolean(L, -2) && lua_isboolean(L, -1), "classify returned %s, %s",
                 luaL_typename(L, -2), luaL_typename(L, -1));
        FZ_CHECK(lua_toboolean(L, -2) || !lua_toboolean(L, -1),
                 "classify: throttled but not retryable");
        lua_pop(L, 2);
    } else {
        lua_pop(L, 1);
    }
}

static const char *const FIELDS[] = { "capacity", "retry_cost", "timeout_cost", "refund" };

static void body(lua_State *L, fz_in *in)
{
    int budget = 0;
    double capacity = 0;
    for (int op = 0; op < 256 && fz_left(in); op++) {
        unsigned c = fz_u8(in);
        int top = lua_gettop(L);
        switch (c % 8) {
        case 0:
        case 1:
            backoff(L, in);
            break;
        case 2:
            classify(L, in);
            break;
        case 3: { /* a new budget */
            double cap = 500;
            fz_core(L, "retry_budget");
            if (c & 8) {
                lua_pushnil(L);
            } else {
                lua_createtable(L, 0, 4);
                for (int f = 0; f < 4; f++) {
                    if (!((c >> (4 + f)) & 1))
                        continue;
                    push_opt_number(L, in, fz_u8(in));
                    if (f == 0 && lua_type(L, -1) == LUA_TNUMBER)
                        cap = lua_tonumber(L, -1);
                    lua_setfield(L, -2, FIELDS[f]);
                }
            }
            if (fz_pcall(L, 1, 1) == LUA_OK) {
                capacity = cap;
                if (budget)
                    lua_replace(L, budget);
                else
                    budget = lua_gettop(L);
                top = lua_gettop(L);
            } else {
                lua_pop(L, 1);
            }
            break;
        }
        case 4:
        case 5:
        case 6: {
            static const char *const METHODS[] = { "take", "refund", "tokens" };
            if (!budget)
                break;
            const char *m = METHODS[c % 8 - 4];
            lua_getfield(L, budget, m);
            if (c & 8)
                lua_pushvalue(L, budget);
            else
                fz_core(L, "limiter"); /* a function, not a budget */
            int nargs = 1;
            if (c % 8 == 4) {
                static const char *const KINDS[] = { "retry", "timeout", "other", NULL };
                const char *k = KINDS[(c >> 4) % 4];
                if (k)
                    lua_pushstring(L, k);
                else
                    lua_pushnil(L);
                nargs = 2;
            }
            if (fz_pcall(L, nargs, 1) == LUA_OK && c % 8 == 6) {
                double t = lua_tonumber(L, -1);
                FZ_CHECK(t >= 0 && t <= capacity, "budget: %.17g tokens of %.17g", t,
                         capacity);
            }
            break;
        }
        default:
            if (budget) {
                luaL_tolstring(L, budget, NULL);
            }
            break;
        }
        lua_settop(L, top);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, body);
    return 0;
}
