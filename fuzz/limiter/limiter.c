/* fuzz target: the client-side rate limiter (csrc/throttle.c).
 *
 * Input: a configuration byte and its numbers (rate, burst, adaptive, some
 * of the wrong type), then up to 256 operations on the limiter: acquire,
 * observe ok/throttled with retry_after and acquired_at, epoch, rate, state,
 * tostring, at times that mostly move forward by small steps but also jump
 * back, or to raw doubles (NaN, infinities, 1e308, subnormals).
 *  - a wait from acquire is a number >= 0 (never NaN);
 *  - the rate is nil (unlimited) or a number > 0 (never NaN);
 *  - epoch never decreases. */
#include "../common.h"

/* The time of the next call: the running clock moved, or a raw double. */
static double next_time(fz_in *in, double *clock)
{
    switch (fz_u8(in) % 6) {
    case 0:
        *clock += fz_u8(in) * 0.01;
        return *clock;
    case 1:
        *clock += fz_u16(in) * 0.001;
        return *clock;
    case 2:
        *clock -= fz_u8(in) * 0.01;
        return *clock;
    case 3: {
        double t = fz_double(in);
        if (isfinite(t))
            *clock = t;
        return t;
    }
    case 4:
        return *clock;
    default:
        *clock += 0.5;
        return *clock;
    }
}

static void push_config_number(lua_State *L, fz_in *in)
{
    switch (fz_u8(in) % 4) {
    case 0:
        lua_pushnumber(L, fz_double(in));
        break;
    case 1:
        lua_pushinteger(L, (lua_Integer)(fz_u8(in) % 100));
        break;
    case 2:
        fz_push_number(L, in);
        break;
    default:
        lua_pushliteral(L, "10"); /* a string: refused */
        break;
    }
}

static void body(lua_State *L, fz_in *in)
{
    unsigned cfg = fz_u8(in);
    fz_core(L, "limiter");
    if (cfg & 64) {
        lua_pushnil(L);
    } else {
        lua_createtable(L, 0, 3);
        if (cfg & 1) {
            push_config_number(L, in);
            lua_setfield(L, -2, "rate");
        }
        if (cfg & 2) {
            push_config_number(L, in);
            lua_setfield(L, -2, "burst");
        }
        switch ((cfg >> 2) & 3) {
        case 0:
            break;
        case 1:
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "adaptive");
            break;
        case 2:
            lua_pushboolean(L, 0);
            lua_setfield(L, -2, "adaptive");
            break;
        default:
            lua_pushinteger(L, 1); /* refused */
            lua_setfield(L, -2, "adaptive");
            break;
        }
    }
    if (fz_pcall(L, 1, 1) != LUA_OK)
        return;
    int lim = lua_gettop(L);
    double clock = (cfg & 128) ? 1e9 : 0;
    lua_Integer epoch = 0;

    static const char *const METHODS[] = { "acquire", "observe", "observe", "observe",
                                           "epoch", "rate", "state", NULL };
    for (int op = 0; op < 256 && fz_left(in); op++) {
        unsigned c = fz_u8(in);
        unsigned which = c % 8;
        int base = lua_gettop(L);
        if (which == 7) {
            luaL_tolstring(L, lim, NULL);
            lua_settop(L, base);
            continue;
        }
        lua_getfield(L, lim, METHODS[which]);
        lua_pushvalue(L, lim);
        int nargs = 1;
        switch (which) {
        case 0:
            lua_pushnumber(L, next_time(in, &clock));
            nargs = 2;
            break;
        case 1:
        case 2:
            lua_pushnumber(L, next_time(in, &clock));
            lua_pushstring(L, which == 1 ? "ok" : "throttled");
            nargs = 3;
            if (c & 8) {
                lua_pushnumber(L, fz_double(in)); /* retry_after */
                nargs = 4;
            }
            if (c & 16) {
                if (nargs == 3) {
                    lua_pushnil(L);
                    nargs = 4;
                }
                lua_pushnumber(L, next_time(in, &clock)); /* acquired_at */
                nargs = 5;
            }
            break;
        case 3: /* odd arguments */
            fz_push_number(L, in);
            if (c & 8)
                fz_push_str(L, in);
            else
                lua_pushliteral(L, "throttled");
            if (c & 16)
                lua_pushliteral(L, "5");
            else
                fz_push_number(L, in);
            nargs = 4;
            break;
        case 6:
            if (c & 8) {
                lua_pushnumber(L, next_time(in, &clock));
                nargs = 2;
            }
            break;
        default:
            break;
        }
        if (fz_pcall(L, nargs, 1) != LUA_OK) {
            FZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "limiter: error of type %s",
                     luaL_typename(L, -1));
            lua_settop(L, base);
            continue;
        }
        switch (which) {
        case 0: {
            FZ_CHECK(lua_type(L, -1) == LUA_TNUMBER, "acquire returned a %s",
                     luaL_typename(L, -1));
            double w = lua_tonumber(L, -1);
            FZ_CHECK(w >= 0, "acquire returned a wait of %.17g", w);
            break;
        }
        case 4: {
            lua_Integer e = lua_tointeger(L, -1);
            FZ_CHECK(e >= epoch, "epoch went from %lld to %lld", (long long)epoch,
                     (long long)e);
            epoch = e;
            break;
        }
        case 5:
            if (!lua_isnil(L, -1)) {
                double r = lua_tonumber(L, -1);
                FZ_CHECK(r > 0, "rate() returned %.17g", r);
            }
            break;
        default:
            break;
        }
        lua_settop(L, base);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, body);
    return 0;
}
