#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flatten.h"

#define MAX_DEPTH 16
#define MAX_PATH 512

typedef struct {
    lua_State *L;
    ecs_flat *flat;
    char path[MAX_PATH];
    size_t path_len;
    const void *ancestors[MAX_DEPTH];
    int depth;
} walker;

static void *grow(lua_State *L, void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (q == NULL)
        luaL_error(L, "out of memory flattening parameters");
    *cap = n;
    return q;
}

static size_t put_bytes(lua_State *L, ecs_flat *f, const char *p, size_t n)
{
    f->bytes = grow(L, f->bytes, &f->cap, f->len + n + 1, 1);
    size_t off = f->len;
    memcpy(f->bytes + off, p, n);
    f->len += n;
    f->bytes[f->len++] = '\0';
    return off;
}

void ecs_flat_add(lua_State *L, ecs_flat *f, const char *key, size_t key_len,
                  const char *value, size_t value_len, int priority)
{
    f->items = grow(L, f->items, &f->items_cap, f->count + 1, sizeof *f->items);
    ecs_flat_item *it = &f->items[f->count];
    it->key_off = put_bytes(L, f, key, key_len);
    it->key_len = key_len;
    it->value_off = put_bytes(L, f, value, value_len);
    it->value_len = value_len;
    it->priority = priority;
    f->count++;
}

void ecs_flat_reset(ecs_flat *f)
{
    f->len = 0;
    f->count = 0;
}

void ecs_flat_release(ecs_flat *f)
{
    free(f->bytes);
    free(f->items);
    free(f->sorted);
    memset(f, 0, sizeof *f);
}

static int flat_l_gc(lua_State *L)
{
    ecs_flat_release(luaL_checkudata(L, 1, ECS_FLAT_MT));
    return 0;
}

ecs_flat *ecs_flat_push(lua_State *L)
{
    ecs_flat *f = ecs_newuserdata(L, sizeof *f);
    memset(f, 0, sizeof *f);
    ecs_setmetatable(L, ECS_FLAT_MT);
    return f;
}

void ecs_flatten_register(lua_State *L)
{
    ecs_class(L, ECS_FLAT_MT, NULL, flat_l_gc, NULL);
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

static void emit_text(walker *w, const char *v)
{
    ecs_flat_add(w->L, w->flat, w->path, w->path_len, v, strlen(v), 1);
}

/* Shortest decimal form that reads back as the same double. */
static void emit_float(walker *w, double d)
{
    char tmp[32];
    if (isnan(d) || isinf(d))
        path_error(w, "number is not finite (NaN or infinity cannot be sent)");
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    emit_text(w, tmp);
}

static void walk_value(walker *w, int idx);

/* Adds the current path with the string on top of the stack, and pops it. */
static void emit_leaf(walker *w)
{
    size_t n;
    const char *v = lua_tolstring(w->L, -1, &n);
    ecs_flat_add(w->L, w->flat, w->path, w->path_len, v, n, 1);
    lua_pop(w->L, 1);
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
            emit_text(w, num);
        } else {
            emit_float(w, (double)lua_tonumber(L, idx));
        }
        break;
    case LUA_TBOOLEAN:
        emit_text(w, lua_toboolean(L, idx) ? "true" : "false");
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

void ecs_flat_table(lua_State *L, ecs_flat *f, int params_idx)
{
    walker w;
    w.L = L;
    w.flat = f;
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

const ecs_param *ecs_flat_finish(lua_State *L, ecs_flat *f, size_t *count)
{
    size_t n = f->count;
    f->sorted = grow(L, f->sorted, &f->sorted_cap, n ? n : 1, sizeof *f->sorted);
    ecs_param *p = f->sorted;
    /* The bytes no longer move: point into them. */
    for (size_t i = 0; i < n; i++) {
        const ecs_flat_item *it = &f->items[i];
        p[i].key = f->bytes + it->key_off;
        p[i].key_len = it->key_len;
        p[i].value = f->bytes + it->value_off;
        p[i].value_len = it->value_len;
        p[i].priority = it->priority;
    }
    if (n > 1)
        qsort(p, n, sizeof *p, compare_params);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
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
    ecs_flat *f = ecs_flat_push(L);
    ecs_flat_table(L, f, 1);
    size_t n;
    const ecs_param *p = ecs_flat_finish(L, f, &n);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_pushlstring(L, p[i].key, p[i].key_len);
        lua_pushlstring(L, p[i].value, p[i].value_len);
        lua_rawset(L, -3);
    }
    return 1;
}
