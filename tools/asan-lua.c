/* A minimal Lua 5.4 interpreter built with the sanitizers, so that `make asan`
 * instruments the process that loads ecs.core without LD_PRELOAD (which
 * every child process, from curl to nginx, would inherit).
 * Usage: asan-lua [-e chunk] script [args...]   (the subset the specs use) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* C modules stay mapped at exit, so that LeakSanitizer can name the
 * functions of a leak in them (lua_close would dlclose them first). This
 * definition takes the place of libc's for the whole process. */
int dlclose(void *handle);
int dlclose(void *handle)
{
    (void)handle;
    return 0;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        fprintf(stderr, "asan-lua: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return status;
}

static int run(lua_State *L, int nargs)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, 0, base);
    lua_remove(L, base);
    return report(L, status);
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return 1;
    luaL_openlibs(L);
    int script = 1;
    int status = LUA_OK;
    if (argc > 2 && strcmp(argv[1], "-e") == 0) {
        script = 3;
        lua_newtable(L);
        lua_pushstring(L, argv[0]);
        lua_rawseti(L, -2, -1);
        lua_setglobal(L, "arg");
        status = report(L, luaL_loadstring(L, argv[2]));
        if (status == LUA_OK)
            status = run(L, 0);
    }
    if (status == LUA_OK && script < argc) {
        lua_createtable(L, argc - script, script + 1);
        for (int i = 0; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i - script);
        }
        lua_setglobal(L, "arg");
        status = report(L, luaL_loadfile(L, argv[script]));
        if (status == LUA_OK) {
            int n = argc - script - 1;
            luaL_checkstack(L, n, "too many arguments");
            for (int i = script + 1; i < argc; i++)
                lua_pushstring(L, argv[i]);
            status = run(L, n);
        }
    }
    lua_close(L);
    return status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
