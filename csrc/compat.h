/* Lua 5.1/LuaJIT vs 5.4 differences, in one place. */
#ifndef ECS_COMPAT_H
#define ECS_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define ecs_newuserdata(L, sz) lua_newuserdata((L), (sz))
static inline void ecs_setfuncs(lua_State *L, const luaL_Reg *l)
{
    for (; l->name != NULL; l++) {
        lua_pushcfunction(L, l->func);
        lua_setfield(L, -2, l->name);
    }
}
static inline void *ecs_testudata(lua_State *L, int ud, const char *tname)
{
    void *p = lua_touserdata(L, ud);
    if (p == NULL || !lua_getmetatable(L, ud))
        return NULL;
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2))
        p = NULL;
    lua_pop(L, 2);
    return p;
}
#define ecs_setmetatable(L, tname) \
    (luaL_getmetatable((L), (tname)), lua_setmetatable((L), -2))
#else
#define ecs_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 0)
#define ecs_setfuncs(L, l) luaL_setfuncs((L), (l), 0)
#define ecs_testudata(L, ud, tname) luaL_testudata((L), (ud), (tname))
#define ecs_setmetatable(L, tname) luaL_setmetatable((L), (tname))
#endif

/* Registers the metatable of a userdata type once: methods (may be NULL)
 * under __index, and the __gc and __tostring functions when given. */
static inline void ecs_class(lua_State *L, const char *tname, const luaL_Reg *methods,
                             lua_CFunction gc, lua_CFunction tostring)
{
    if (luaL_newmetatable(L, tname)) {
        if (methods) {
            lua_newtable(L);
            ecs_setfuncs(L, methods);
            lua_setfield(L, -2, "__index");
        }
        if (gc) {
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__gc");
        }
        if (tostring) {
            lua_pushcfunction(L, tostring);
            lua_setfield(L, -2, "__tostring");
        }
    }
    lua_pop(L, 1);
}

/* An integer-valued Lua number as an integer, or 0 when it is not one.
 * Lua 5.4 has a distinct integer subtype; LuaJIT only has doubles, so a
 * double with no fraction that fits exactly is taken as an integer. */
static inline int ecs_tointeger(lua_State *L, int idx, long long *out)
{
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
        *out = (long long)lua_tointeger(L, idx);
        return 1;
    }
    return 0;
#else
    lua_Number n = lua_tonumber(L, idx);
    if (n >= -9007199254740992.0 && n <= 9007199254740992.0 &&
        (lua_Number)(long long)n == n) {
        *out = (long long)n;
        return 1;
    }
    return 0;
#endif
}

#endif
