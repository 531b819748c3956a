#include <math.h>

#include "reply.h"

#define MAX_DEPTH 64

#if LUA_VERSION_NUM >= 503
static void fix_integers(lua_State *L, int t, int depth)
{
    if (depth > MAX_DEPTH)
        return;
    luaL_checkstack(L, 4, "reply nesting");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int type = lua_type(L, -1);
        if (type == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            lua_Integer i;
            /* Exactly integral and inside the integer range. */
            if (n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0) {
                i = (lua_Integer)n;
                lua_pushvalue(L, -2);
                lua_pushinteger(L, i);
                lua_rawset(L, t); /* replacing an existing key's value is safe during lua_next */
            }
        } else if (type == LUA_TTABLE) {
            fix_integers(L, lua_gettop(L), depth + 1);
        }
        lua_pop(L, 1);
    }
}
#endif

int ecs_l_integers(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
#if LUA_VERSION_NUM >= 503
    fix_integers(L, 1, 0);
#endif
    return 1;
}
