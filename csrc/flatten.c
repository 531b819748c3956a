#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flatten.h"

#define MAX_DEPTH 16
#define MAX_PATH 512

typedef struct {
    lua_State *L;
    int holder;
    char path[MAX_PATH];
    size_t path_len;
    const void *ancestors[MAX_DEPTH];
    int depth;
} walker;

int ecs_flat_begin(lua_State *L)
{
    lua_newtable(L);
    return lua_gettop(L);
}

static void push_pair(lua_State *L, int holder, int priority)
{
    /* Stack: ... key value. Stored as consecutive triples. */
    int n = (int)ecs_rawlen(L, holder);
    lua_rawseti(L, holder, n + 2);
    lua_rawseti(L, holder, n + 1);
    lua_pushinteger(L, priority);
    lua_rawseti(L, holder, n + 3);
}

void ecs_flat_add(lua_State *L, int holder, const char *key, const char *value,
                  size_t value_len, int priority)
{
    lua_pushstring(L, key);
    lua_pushlstring(L, value, value_len);
    push_pair(L, holder, priority);
}

static void path_error(walker *w, const char *what)
{
    luaL_error(w->L, "%s: %s", w->path_len ? w->path : "(params)", what);
}

/* Appends ".part" (or "part" at the top) to the path; returns the old length
 * so the caller can restore it. */
static size_t path_push(walker *w, const char *part, size_t len)
{
    size_t old = w->path_len;
    size_t need = old + (old ? 1 : 0) + len;
    if (need >= MAX_PATH)
        path_error(w, "parameter name too long");
    if (old)
        w->path[w->path_len++] = '.';
    memcpy(w->path + w->path_len, part, len);
    w->path_len += len;
    w->path[w->path_len] = '\0';
    return old;
}

static void path_pop(walker *w, size_t old)
{
    w->path_len = old;
    w->path[old] = '\0';
}

/* Shortest decimal form that reads back as the same double. */
static void push_float(walker *w, double d)
{
    char tmp[32];
    if (isnan(d) || isinf(d))
        path_error(w, "number is not finite (NaN or infinity cannot be sent)");
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    lua_pushstring(w->L, tmp);
}

static void walk_value(walker *w, int idx);

static void emit_leaf(walker *w)
{
    /* Stack: ... value-string */
    lua_pushlstring(w->L, w->path, w->path_len);
    lua_insert(w->L, -2);
    push_pair(w->L, w->holder, 1);
}

static void walk_table(walker *w, int idx)
{
    lua_State *L = w->L;
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < w->depth; i++)
        if (w->ancestors[i] == self)
            path_error(w, "cyclic table (a table contains itself)");
    if (w->depth >= MAX_DEPTH)
        path_error(w, "nested too deeply");
    w->ancestors[w->depth++] = self;

    /* Classify: a list has exactly the keys 1..n, a map only string keys. */
    size_t count = 0, strings = 0, positives = 0;
    long long max_index = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        long long k;
        count++;
        if (lua_type(L, -2) == LUA_TSTRING) {
            strings++;
        } else if (lua_type(L, -2) == LUA_TNUMBER && ecs_tointeger(L, -2, &k) &&
                   k >= 1) {
            positives++;
            if (k > max_index)
                max_index = k;
        } else {
            lua_pop(L, 2);
            path_error(w, "table keys must be strings (a map) or 1..n (a list)");
        }
        lua_pop(L, 1);
    }
    luaL_checkstack(L, 4, "parameter nesting");
    if (strings && positives) {
        path_error(w, "table mixes list items and named fields");
    } else if (positives) {
        if ((size_t)max_index != count)
            path_error(w, "sparse list (holes between 1 and its largest index)");
        for (long long i = 1; i <= max_index; i++) {
            char num[24];
            int len = snprintf(num, sizeof num, "%lld", i);
            size_t old = path_push(w, num, (size_t)len);
            lua_rawgeti(L, idx, (int)i);
            walk_value(w, lua_gettop(L));
            lua_pop(L, 1);
            path_pop(w, old);
        }
    } else {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            size_t klen;
            const char *k = lua_tolstring(L, -2, &klen);
            if (klen == 0)
                path_error(w, "empty parameter name");
            size_t old = path_push(w, k, klen);
            walk_value(w, lua_gettop(L));
            path_pop(w, old);
            lua_pop(L, 1);
        }
    }
    w->depth--;
}

static void walk_value(walker *w, int idx)
{
    lua_State *L = w->L;
    long long i;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        lua_pushvalue(L, idx);
        emit_leaf(w);
        break;
    case LUA_TNUMBER:
        if (ecs_tointeger(L, idx, &i)) {
            char num[24];
            snprintf(num, sizeof num, "%lld", i);
            lua_pushstring(L, num);
        } else {
            push_float(w, (double)lua_tonumber(L, idx));
        }
        emit_leaf(w);
        break;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        emit_leaf(w);
        break;
    case LUA_TTABLE:
        walk_table(w, idx);
        break;
    default: {
        char what[80];
        snprintf(what, sizeof what, "cannot send a value of type %s",
                 luaL_typename(L, idx));
        path_error(w, what);
    }
    }
}

void ecs_flat_table(lua_State *L, int holder, int params_idx)
{
    walker w;
    w.L = L;
    w.holder = holder;
    w.path[0] = '\0';
    w.path_len = 0;
    w.depth = 0;
    params_idx = params_idx < 0 ? lua_gettop(L) + params_idx + 1 : params_idx;
    /* The top level must be a map of names, even when empty. */
    lua_pushnil(L);
    while (lua_next(L, params_idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            luaL_error(L, "params: parameter names must be strings");
        }
        lua_pop(L, 1);
    }
    walk_table(&w, params_idx);
}

static int compare_params(const void *a, const void *b)
{
    const ecs_param *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return y->priority - x->priority; /* caller's first */
}

const ecs_param *ecs_flat_finish(lua_State *L, int holder, size_t *count)
{
    size_t triples = ecs_rawlen(L, holder) / 3;
    ecs_param *p = ecs_newuserdata(L, (triples ? triples : 1) * sizeof *p);
    /* Keep the array alive with the strings it points into. */
    lua_setfield(L, holder, "pairs");
    lua_getfield(L, holder, "pairs");
    p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    for (size_t i = 0; i < triples; i++) {
        lua_rawgeti(L, holder, (int)(3 * i + 1));
        p[i].key = lua_tolstring(L, -1, &p[i].key_len);
        lua_rawgeti(L, holder, (int)(3 * i + 2));
        p[i].value = lua_tolstring(L, -1, &p[i].value_len);
        lua_rawgeti(L, holder, (int)(3 * i + 3));
        p[i].priority = (int)lua_tointeger(L, -1);
        lua_pop(L, 3);
    }
    if (triples > 1)
        qsort(p, triples, sizeof *p, compare_params);
    size_t out = 0;
    for (size_t i = 0; i < triples; i++) {
        if (out > 0 && p[out - 1].key_len == p[i].key_len &&
            memcmp(p[out - 1].key, p[i].key, p[i].key_len) == 0) {
            if (p[i].priority == p[out - 1].priority)
                luaL_error(L, "%s: parameter given twice (e.g. as a list and "
                              "as a flat name)", p[i].key);
            continue; /* a default the caller overrode */
        }
        p[out++] = p[i];
    }
    *count = out;
    return p;
}

/* core.flatten(params) -> { [wire name] = string value } */
int ecs_l_flatten(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int holder = ecs_flat_begin(L);
    ecs_flat_table(L, holder, 1);
    size_t n;
    const ecs_param *p = ecs_flat_finish(L, holder, &n);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_pushlstring(L, p[i].key, p[i].key_len);
        lua_pushlstring(L, p[i].value, p[i].value_len);
        lua_rawset(L, -3);
    }
    return 1;
}
