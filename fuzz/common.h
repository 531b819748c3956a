/* Shared by the libFuzzer targets of fuzz/: a reader over the fuzz input,
 * a builder of Lua values from it, and the harness that runs one input in a
 * fresh lua_State with ecs.core opened (the csrc files are compiled into each
 * target, see fuzz/run).
 *
 * Every call into ecs.core goes through lua_pcall: a Lua error (an argument
 * check, a cyclic table, ...) is an expected outcome, not a finding. Crashes,
 * sanitizer reports (ASan, UBSan, LeakSanitizer), timeouts and the FZ_CHECK
 * assertions of the targets are the findings. */
#ifndef ECS_FUZZ_COMMON_H
#define ECS_FUZZ_COMMON_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

int luaopen_ecs_core(lua_State *L);

/* An invariant of the code under test: a failure aborts, so libFuzzer keeps
 * the input as a crash. */
#define FZ_CHECK(cond, ...)                                                      \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "FZ_CHECK failed at %s:%d: %s\n  ", __FILE__,       \
                    __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* ---- the input -------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline int fz_left(const fz_in *in)
{
    return in->n > 0;
}

static inline unsigned fz_u8(fz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline unsigned fz_u16(fz_in *in)
{
    unsigned lo = fz_u8(in);
    return lo | (fz_u8(in) << 8);
}

/* Up to n bytes (fewer at the end of the input). */
static inline const char *fz_take(fz_in *in, size_t n, size_t *got)
{
    if (n > in->n)
        n = in->n;
    const char *s = (const char *)in->p;
    in->p += n;
    in->n -= n;
    *got = n;
    return s;
}

/* Eight bytes, little-endian, zero-padded at the end of the input. */
static inline uint64_t fz_u64(fz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fz_u8(in) << (8 * i);
    return v;
}

static inline double fz_raw_double(fz_in *in)
{
    uint64_t v = fz_u64(in);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* A string: length byte (255: a 16-bit length follows), then the bytes. */
static inline const char *fz_str(fz_in *in, size_t *len)
{
    size_t n = fz_u8(in);
    if (n == 255)
        n = fz_u16(in);
    return fz_take(in, n, len);
}

/* The doubles most likely to break arithmetic and conversions. */
static const double FZ_SPECIAL[] = {
    NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e308, -1e308, DBL_MAX, -DBL_MAX,
    DBL_MIN, 4.9406564584124654e-324, -4.9406564584124654e-324,
    9223372036854775808.0,   /* 2^63: just outside int64 */
    -9223372036854775808.0,  /* -2^63: INT64_MIN exactly */
    -9223372036854777856.0,  /* the double just below -2^63 */
    9223372036854774784.0,   /* the largest double below 2^63 */
    18446744073709551616.0,  /* 2^64 */
    9007199254740992.0, 9007199254740993.0, -9007199254740992.0,
    1e19, -1e19, 1e300, -1e300, 1e-300, 0.5, -0.5, 0.1, 0.999999999999, 1.0,
    2147483648.0, -2147483649.0, 4294967296.0, 67108864.0, 1e15, 253402300800.0,
    -62135596800.0, 67768036191676800.0, 1.5, 2.5, 1e-9, 3.0, 60.0, 61.0,
};
#define FZ_NSPECIAL (sizeof FZ_SPECIAL / sizeof FZ_SPECIAL[0])

static const long long FZ_SPECIAL_INT[] = {
    0, 1, -1, 2, 60, 61, 62, 63, 64, 1000, INT32_MAX, INT32_MIN, (long long)INT32_MAX + 1,
    INT64_MAX, INT64_MIN, INT64_MIN + 1, 9007199254740993LL, 253402300800LL,
    -62135596800LL, 67768036191676800LL,
};
#define FZ_NSPECIAL_INT (sizeof FZ_SPECIAL_INT / sizeof FZ_SPECIAL_INT[0])

/* A double drawn through one of several shapes. */
static inline double fz_double(fz_in *in)
{
    switch (fz_u8(in) % 6) {
    case 0:
        return fz_raw_double(in);
    case 1:
        return FZ_SPECIAL[fz_u8(in) % FZ_NSPECIAL];
    case 2:
        return (double)(int16_t)fz_u16(in);
    case 3:
        return ldexp(fz_u8(in) & 1 ? -1.0 : 1.0, (int)(int8_t)fz_u8(in) * 9);
    case 4:
        return fz_u16(in) / 65536.0;
    default:
        return (double)(int16_t)fz_u16(in) / 16.0;
    }
}

/* Pushes a Lua number: integers (Lua 5.4's subtype) and floats. */
static inline void fz_push_number(lua_State *L, fz_in *in)
{
    switch (fz_u8(in) % 4) {
    case 0:
        lua_pushinteger(L, (lua_Integer)(int8_t)fz_u8(in));
        break;
    case 1:
        lua_pushinteger(L, (lua_Integer)fz_u64(in));
        break;
    case 2:
        lua_pushinteger(L, (lua_Integer)FZ_SPECIAL_INT[fz_u8(in) % FZ_NSPECIAL_INT]);
        break;
    default:
        lua_pushnumber(L, fz_double(in));
        break;
    }
}

/* Names that mean something to ECS or to the signer. */
static const char *const FZ_NAMES[] = {
    "RegionId", "InstanceId", "InstanceIds", "Tag", "Key", "Value", "PageSize",
    "PageNumber", "Action", "Format", "Version", "AccessKeyId", "Signature",
    "SignatureMethod", "SignatureNonce", "SignatureVersion", "SecurityToken",
    "Timestamp", "ClientToken", "DryRun", "1", "2", "", "a b", "*", "%", "~",
    "\xe4\xb8\xad", "Tag.1.Key", "x=y&z", "\n",
};
#define FZ_NNAMES (sizeof FZ_NAMES / sizeof FZ_NAMES[0])

static inline void fz_push_name(lua_State *L, fz_in *in)
{
    lua_pushstring(L, FZ_NAMES[fz_u8(in) % FZ_NNAMES]);
}

static inline void fz_push_str(lua_State *L, fz_in *in)
{
    size_t n;
    const char *s = fz_str(in, &n);
    lua_pushlstring(L, s, n);
}

/* ---- Lua values from the input ---------------------------------------- */

#define FZ_MAX_TABLES 256
#define FZ_MAX_NODES 4096
#define FZ_MAX_WEIGHT 20000.0 /* leaves a walk of the value may visit */

typedef struct {
    fz_in *in;
    int pool;      /* stack index of a table holding every table made, 1..ntables */
    int ntables;
    double weight[FZ_MAX_TABLES + 1]; /* a finished table's leaves; 0 while being built */
    int nodes;     /* values made so far */
    int max_depth;
    int json;      /* only what lua-cjson decodes to: maps, lists, no odd types, no sharing */
    int cycles;    /* a table may refer to one of its ancestors */
} fz_builder;

static inline void fz_builder_init(lua_State *L, fz_builder *b, fz_in *in, int max_depth)
{
    memset(b, 0, sizeof *b);
    b->in = in;
    lua_newtable(L);
    b->pool = lua_gettop(L);
    b->max_depth = max_depth;
}

static double fz_value(lua_State *L, fz_builder *b, int depth);

/* A table key other than nil and NaN (which lua_rawset refuses). */
static double fz_key(lua_State *L, fz_builder *b, int depth)
{
    fz_in *in = b->in;
    switch (fz_u8(in) % 6) {
    case 0:
        fz_push_name(L, in);
        return 1;
    case 1:
        fz_push_str(L, in);
        return 1;
    case 2:
        lua_pushinteger(L, (lua_Integer)(fz_u8(in) % 20));
        return 1;
    case 3:
        fz_push_number(L, in);
        if (lua_tonumber(L, -1) != lua_tonumber(L, -1)) {
            lua_pop(L, 1);
            lua_pushliteral(L, "nan");
        }
        return 1;
    case 4:
        lua_pushboolean(L, fz_u8(in) & 1);
        return 1;
    default: {
        double w = fz_value(L, b, depth + 1) + 1;
        if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER &&
                                 lua_tonumber(L, -1) != lua_tonumber(L, -1))) {
            lua_pop(L, 1);
            lua_pushliteral(L, "key");
        }
        return w;
    }
    }
}

/* Starts a table, registered in the pool; returns its pool number. */
static int fz_table_begin(lua_State *L, fz_builder *b)
{
    lua_newtable(L);
    if (b->ntables >= FZ_MAX_TABLES)
        return 0;
    b->ntables++;
    lua_pushvalue(L, -1);
    lua_rawseti(L, b->pool, b->ntables);
    b->weight[b->ntables] = 0;
    return b->ntables;
}

static double fz_table_end(fz_builder *b, int id, double w)
{
    if (id)
        b->weight[id] = w > 0 ? w : 1;
    return w > 0 ? w : 1;
}

/* Pushes one value made from the input; returns how many leaves a full walk
 * of it visits (so shared subtables cannot blow a walk up exponentially). */
static double fz_value(lua_State *L, fz_builder *b, int depth)
{
    fz_in *in = b->in;
    luaL_checkstack(L, 8, "fuzz value");
    unsigned op = fz_u8(in) % 12;
    if (++b->nodes > FZ_MAX_NODES || depth > b->max_depth || !fz_left(in))
        op = 2; /* a leaf */
    if (b->json && (op == 6 || op == 7 || op == 9))
        op = op == 6 ? 4 : 2;
    switch (op) {
    case 0:
        fz_push_str(L, in);
        return 1;
    case 1:
        fz_push_name(L, in);
        return 1;
    case 2:
        fz_push_number(L, in);
        return 1;
    case 3:
        lua_pushboolean(L, fz_u8(in) & 1);
        return 1;
    case 4: { /* a map */
        int id = fz_table_begin(L, b);
        unsigned n = fz_u8(in) % 16;
        double w = 0;
        for (unsigned i = 0; i < n && fz_left(in); i++) {
            if (fz_u8(in) & 1)
                fz_push_name(L, in);
            else
                fz_push_str(L, in);
            w += fz_value(L, b, depth + 1);
            lua_rawset(L, -3);
        }
        return fz_table_end(b, id, w);
    }
    case 5: { /* a list 1..n (a nil item makes a hole) */
        int id = fz_table_begin(L, b);
        unsigned n = fz_u8(in) % 16;
        double w = 0;
        for (unsigned i = 1; i <= n && fz_left(in); i++) {
            w += fz_value(L, b, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i);
        }
        return fz_table_end(b, id, w);
    }
    case 6: { /* any keys: sparse lists, float keys, boolean keys, table keys */
        int id = fz_table_begin(L, b);
        unsigned n = fz_u8(in) % 8;
        double w = 0;
        for (unsigned i = 0; i < n && fz_left(in); i++) {
            w += fz_key(L, b, depth);
            w += fz_value(L, b, depth + 1);
            lua_rawset(L, -3);
        }
        return fz_table_end(b, id, w);
    }
    case 7: { /* a table made before: shared, or an ancestor (a cycle) */
        if (b->ntables == 0) {
            lua_pushliteral(L, "no table yet");
            return 1;
        }
        int id = 1 + (int)(fz_u8(in) % (unsigned)b->ntables);
        double w = b->weight[id];
        if ((w == 0 && !b->cycles) || w > FZ_MAX_WEIGHT / 4) {
            lua_pushliteral(L, "not shared");
            return 1;
        }
        lua_rawgeti(L, b->pool, id);
        return w > 0 ? w : 1;
    }
    case 8:
        if (b->json) { /* cjson.null */
            lua_pushlightuserdata(L, NULL);
        } else {
            lua_pushnil(L);
        }
        return 1;
    case 9: /* values no request can carry */
        switch (fz_u8(in) % 3) {
        case 0:
            lua_pushlightuserdata(L, NULL);
            break;
        case 1:
            lua_pushcfunction(L, luaopen_ecs_core);
            break;
        default:
            lua_newuserdatauv(L, 8, 0);
            break;
        }
        return 1;
    case 10: { /* a chain of one-field tables, to reach the depth limits */
        unsigned n = fz_u8(in) % 80;
        unsigned char list[80];
        luaL_checkstack(L, (int)n + 4, "fuzz chain");
        for (unsigned i = 0; i < n; i++) {
            list[i] = fz_u8(in) & 1;
            lua_createtable(L, list[i], !list[i]);
        }
        fz_push_number(L, in); /* the innermost value */
        for (unsigned i = n; i-- > 0;) {
            /* the table below the top gets the value on top */
            if (list[i])
                lua_rawseti(L, -2, 1);
            else
                lua_setfield(L, -2, "A");
        }
        return 1;
    }
    default: { /* a long string, for the 512-byte parameter path limit */
        unsigned n = (fz_u8(in) % 80) * 8;
        luaL_Buffer buf;
        luaL_buffinit(L, &buf);
        char c = (char)('A' + fz_u8(in) % 26);
        for (unsigned i = 0; i < n; i++)
            luaL_addchar(&buf, c);
        luaL_pushresult(&buf);
        return 1;
    }
    }
}

/* A top-level parameter table: names to values (sign and flatten want a map). */
static inline double fz_params(lua_State *L, fz_builder *b)
{
    int id = fz_table_begin(L, b);
    unsigned n = fz_u8(b->in) % 24;
    double w = 0;
    for (unsigned i = 0; i < n && fz_left(b->in); i++) {
        if (fz_u8(b->in) % 4 == 0)
            fz_key(L, b, 0);
        else if (fz_u8(b->in) & 1)
            fz_push_name(L, b->in);
        else
            fz_push_str(L, b->in);
        w += fz_value(L, b, 1);
        lua_rawset(L, -3);
    }
    return fz_table_end(b, id, w);
}

/* ---- the harness ------------------------------------------------------ */

/* Calls f with the nargs values on top of the stack, protected; leaves
 * nresults values (or the error message when it returns non-zero). */
static int fz_trace = -1;

static inline int fz_pcall(lua_State *L, int nargs, int nresults)
{
    int rc = lua_pcall(L, nargs, nresults, 0);
    if (fz_trace < 0)
        fz_trace = getenv("FUZZ_TRACE") != NULL;
    if (fz_trace) /* FUZZ_TRACE=1: what each call did, to check a seed */
        fprintf(stderr, "  %s%s\n", rc == LUA_OK ? "ok" : "error: ",
                rc == LUA_OK ? "" : (lua_tostring(L, -1) ? lua_tostring(L, -1) : "?"));
    return rc;
}

/* Pushes core[name]. The module table sits at stack index 1. */
static inline void fz_core(lua_State *L, const char *name)
{
    lua_getfield(L, 1, name);
}

typedef void (*fz_body)(lua_State *L, fz_in *in);

static fz_body fz_current_body;

static int fz_main(lua_State *L)
{
    fz_in *in = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_pushcfunction(L, luaopen_ecs_core);
    lua_call(L, 0, 1); /* stack 1: the module */
    fz_current_body(L, in);
    return 0;
}

/* Runs body over the input in a new lua_State, closed afterwards (so the
 * leak checker sees whatever the module failed to free). */
static inline void fz_run(const uint8_t *data, size_t size, fz_body body)
{
    fz_in in = { data, size };
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    fz_current_body = body;
    lua_pushcfunction(L, fz_main);
    lua_pushlightuserdata(L, &in);
    (void)lua_pcall(L, 1, 0, 0); /* an error out of the body is not a finding */
    lua_close(L);
}

#endif
