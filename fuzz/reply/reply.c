/* fuzz target: reply decoding helpers (csrc/reply.c).
 *
 * Input: a mode byte, then
 *  - mode text (bit 0 clear): the rest is a JSON text for
 *    core.quote_big_integers(s): it only ever adds double quotes (deleting
 *    every '"' of input and output gives the same bytes), and returns s itself
 *    when no run of 16 digits occurs;
 *  - mode table (bit 0 set): a value built by fz_value, for core.integers(t):
 *    either what lua-cjson decodes to (bit 1 clear: a tree of maps, lists,
 *    strings, numbers, booleans and cjson.null, deeper than MAX_DEPTH at
 *    times) or any table graph (bit 1 set: shared subtables, cycles, odd
 *    keys). Every value it changes was an integral float in the integer range
 *    and becomes the equal integer; in a tree, every such float at a depth of
 *    at most 64 is changed. */
#include "../common.h"

#define REPLY_MAX_DEPTH 64

static int is_convertible(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TNUMBER || lua_isinteger(L, idx))
        return 0;
    lua_Number n = lua_tonumber(L, idx);
    return n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0;
}

/* Records { table, key, value, depth } for every entry under the table at
 * idx into the list at snap; seen (a table) keeps graphs finite. */
static void snapshot(lua_State *L, int idx, int depth, int snap, int seen)
{
    luaL_checkstack(L, 8, "snapshot");
    lua_pushvalue(L, idx);
    if (lua_rawget(L, seen) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_createtable(L, 4, 0);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, 1);
        lua_pushvalue(L, -3);
        lua_rawseti(L, -2, 2);
        lua_pushvalue(L, -2);
        lua_rawseti(L, -2, 3);
        lua_pushinteger(L, depth);
        lua_rawseti(L, -2, 4);
        lua_rawseti(L, snap, (lua_Integer)lua_rawlen(L, snap) + 1);
        if (lua_type(L, -1) == LUA_TTABLE)
            snapshot(L, lua_gettop(L), depth + 1, snap, seen);
        lua_pop(L, 1);
    }
}

static void compare(lua_State *L, int snap, int tree)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, snap);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, snap, i);
        int e = lua_gettop(L);
        lua_rawgeti(L, e, 1); /* table */
        lua_rawgeti(L, e, 2); /* key */
        lua_rawget(L, -2);    /* now */
        lua_rawgeti(L, e, 3); /* before */
        lua_rawgeti(L, e, 4);
        lua_Integer depth = lua_tointeger(L, -1);
        lua_pop(L, 1);
        int now = e + 2, before = e + 3;
        if (is_convertible(L, before)) {
            lua_Number v = lua_tonumber(L, before);
            if (lua_isinteger(L, now)) {
                FZ_CHECK((lua_Number)lua_tointeger(L, now) == v,
                         "integers: %.17g became %lld", v, (long long)lua_tointeger(L, now));
            } else {
                FZ_CHECK(!tree || depth > REPLY_MAX_DEPTH,
                         "integers: %.17g at depth %lld left a float", v, (long long)depth);
                FZ_CHECK(lua_type(L, now) == LUA_TNUMBER && lua_tonumber(L, now) == v,
                         "integers: %.17g changed into a %s", v, luaL_typename(L, now));
            }
        } else if (lua_type(L, before) == LUA_TNUMBER && lua_tonumber(L, before) != lua_tonumber(L, before)) {
            FZ_CHECK(lua_type(L, now) == LUA_TNUMBER && !lua_isinteger(L, now) &&
                         lua_tonumber(L, now) != lua_tonumber(L, now),
                     "integers: NaN changed");
        } else {
            FZ_CHECK(lua_rawequal(L, now, before) &&
                         lua_isinteger(L, now) == lua_isinteger(L, before),
                     "integers: a %s value changed", luaL_typename(L, before));
        }
        lua_settop(L, e - 1);
    }
}

static void text_mode(lua_State *L, fz_in *in)
{
    size_t n;
    const char *s = fz_take(in, in->n, &n);
    lua_pushlstring(L, s, n);
    int arg = lua_gettop(L);
    fz_core(L, "quote_big_integers");
    if (lua_isnil(L, -1)) { /* a build without it */
        lua_settop(L, arg - 1);
        return;
    }
    lua_pushvalue(L, arg);
    FZ_CHECK(fz_pcall(L, 1, 1) == LUA_OK, "quote_big_integers raised: %s", lua_tostring(L, -1));
    size_t m;
    const char *out = lua_tolstring(L, -1, &m);
    FZ_CHECK(out != NULL, "quote_big_integers returned a %s", luaL_typename(L, -1));
    if (m == n && memcmp(out, s, n) == 0)
        FZ_CHECK(lua_rawequal(L, -1, arg), "same text, other string"); /* trivially true in 5.4 */
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < n; i++) {
        run = s[i] >= '0' && s[i] <= '9' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    if (longest < 16)
        FZ_CHECK(m == n && memcmp(out, s, n) == 0, "quote_big_integers changed a text "
                 "without big integers");
    FZ_CHECK(m >= n && (m - n) % 2 == 0, "quote_big_integers: %zu bytes from %zu", m, n);
    size_t i = 0, j = 0;
    for (;;) {
        while (i < n && s[i] == '"')
            i++;
        while (j < m && out[j] == '"')
            j++;
        if (i == n || j == m)
            break;
        FZ_CHECK(s[i] == out[j], "quote_big_integers changed byte %zu (0x%02x to 0x%02x)", i,
                 (unsigned char)s[i], (unsigned char)out[j]);
        i++;
        j++;
    }
    FZ_CHECK(i == n && j == m, "quote_big_integers dropped or added bytes besides quotes");
    lua_settop(L, arg - 1);
}

static void body(lua_State *L, fz_in *in)
{
    unsigned mode = fz_u8(in);
    if (!(mode & 1)) {
        text_mode(L, in);
        return;
    }
    int tree = !(mode & 2);
    fz_builder b;
    fz_builder_init(L, &b, in, tree ? 72 : 24);
    b.json = tree;
    b.cycles = !tree;
    if (mode & 4)
        fz_params(L, &b);
    else
        fz_value(L, &b, 0);
    int value = lua_gettop(L);
    lua_newtable(L);
    int snap = lua_gettop(L);
    lua_newtable(L);
    int seen = lua_gettop(L);
    if (lua_istable(L, value))
        snapshot(L, value, 0, snap, seen);

    fz_core(L, "integers");
    lua_pushvalue(L, value);
    int ok = fz_pcall(L, 1, 1) == LUA_OK;
    FZ_CHECK(ok == lua_istable(L, value), "integers on a %s: %s", luaL_typename(L, value),
             ok ? "accepted" : lua_tostring(L, -1));
    if (ok) {
        FZ_CHECK(lua_rawequal(L, -1, value), "integers returned another value");
        compare(L, snap, tree);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, body);
    return 0;
}
