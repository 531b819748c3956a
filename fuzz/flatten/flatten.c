/* fuzz target: parameter flattening (csrc/flatten.c).
 *
 * Input: one parameter table built by fz_params (nested maps and lists,
 * sparse lists, float/boolean/table keys, NaN/inf/huge numbers, long names,
 * shared subtables and cycles), then any number of doubles.
 *  - core.flatten(params): a success returns string keys and values;
 *  - the same table through the C API the signer uses (ecs_flat_table with
 *    defaults added, ecs_flat_finish): keys sorted, unique, each default
 *    dropped only where a caller's value of the same name exists;
 *  - every double d: core.flatten{X = d} sends a decimal that reads back as
 *    d exactly, and refuses NaN and infinities. */
#include "../common.h"
#include "flatten.h"

static int check_flatten_result(lua_State *L)
{
    /* stack 1: the result of core.flatten */
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        FZ_CHECK(lua_type(L, -2) == LUA_TSTRING, "flatten: key of type %s",
                 luaL_typename(L, -2));
        FZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "flatten: value of type %s",
                 luaL_typename(L, -1));
        size_t n;
        lua_tolstring(L, -2, &n);
        FZ_CHECK(n > 0 && n < 512, "flatten: key of length %zu", n);
        lua_pop(L, 1);
    }
    return 0;
}

/* The signer's path: the caller's pairs, then defaults (priority 0). */
static int direct_flat(lua_State *L)
{
    /* stack 1: params, 2: number of defaults */
    int defaults = (int)lua_tointeger(L, 2);
    ecs_flat *f = ecs_flat_push(L);
    ecs_flat_table(L, f, 1);
    size_t given = f->count;
    for (int i = 0; i < defaults; i++) {
        const char *k = FZ_NAMES[(unsigned)i * 7 % FZ_NNAMES];
        if (k[0])
            ecs_flat_add(L, f, k, strlen(k), "default", 7, 0);
    }
    size_t n;
    const ecs_param *p = ecs_flat_finish(L, f, &n);
    FZ_CHECK(n <= f->count, "flat: %zu pairs out of %zu", n, f->count);
    FZ_CHECK(n >= given, "flat: %zu pairs, fewer than the %zu given", n, given);
    for (size_t i = 0; i < n; i++) {
        FZ_CHECK(p[i].key[p[i].key_len] == '\0' && p[i].value[p[i].value_len] == '\0',
                 "flat: pair %zu not NUL-terminated", i);
        if (i == 0)
            continue;
        size_t m = p[i - 1].key_len < p[i].key_len ? p[i - 1].key_len : p[i].key_len;
        int c = memcmp(p[i - 1].key, p[i].key, m);
        FZ_CHECK(c < 0 || (c == 0 && p[i - 1].key_len < p[i].key_len),
                 "flat: keys out of order or repeated at %zu ('%s', '%s')", i,
                 p[i - 1].key, p[i].key);
    }
    return 0;
}

static void body(lua_State *L, fz_in *in)
{
    fz_builder b;
    unsigned flags = fz_u8(in);
    fz_builder_init(L, &b, in, 20);
    b.cycles = 1;
    fz_params(L, &b);
    int params = lua_gettop(L);

    fz_core(L, "flatten");
    lua_pushvalue(L, params);
    if (fz_pcall(L, 1, 1) == LUA_OK) {
        lua_pushcfunction(L, check_flatten_result);
        lua_insert(L, -2);
        lua_call(L, 1, 0);
    } else {
        FZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "flatten: error of type %s",
                 luaL_typename(L, -1));
        lua_pop(L, 1);
    }

    lua_pushcfunction(L, direct_flat);
    lua_pushvalue(L, params);
    lua_pushinteger(L, (lua_Integer)(flags % 12));
    if (fz_pcall(L, 2, 0) != LUA_OK)
        lua_pop(L, 1);

    /* Numbers: exact decimal round trip. */
    for (int i = 0; i < 64 && fz_left(in); i++) {
        double d = fz_double(in);
        fz_core(L, "flatten");
        lua_createtable(L, 0, 1);
        lua_pushnumber(L, d);
        lua_setfield(L, -2, "X");
        int ok = fz_pcall(L, 1, 1) == LUA_OK;
        FZ_CHECK(ok == (isfinite(d) != 0), "flatten{X=%.17g}: %s", d,
                 ok ? "accepted" : lua_tostring(L, -1));
        if (ok) {
            lua_getfield(L, -1, "X");
            const char *s = lua_tostring(L, -1);
            FZ_CHECK(s != NULL, "flatten{X=%.17g}: no X", d);
            char *end;
            double back = strtod(s, &end);
            FZ_CHECK(*end == '\0' && back == d,
                     "flatten{X=%.17g} sent '%s'", d, s);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size, body);
    return 0;
}
